/**
 * The registry's web UI: server-rendered HTML pages over the same reader and the same tokens as
 * the API (read scope). No JavaScript, no external resources: every value is HTML-escaped, and
 * the pages are sent with a Content-Security-Policy that allows nothing but inline styles.
 *
 *   /ui/                                 models: versions, latest, aliases
 *   /ui/models/NAME                      versions with metrics and lineage, aliases with their history
 *   /ui/models/NAME/versions/N           one version's card and files
 *   /ui/models/NAME/versions/N/run       the run page of the run that registered it (when configured)
 *   /ui/login (GET form, POST token)     sets an HttpOnly, SameSite=Strict cookie; tokens never travel in URLs
 *   /ui/logout (POST)                    clears it
 */
import type { AliasEvent, ModelCard } from '@seqtrain/contracts';
import type { ModelDetails, ModelSummary } from '../reader';

export const UI_COOKIE = 'seqtrain_registry_token';

/** Pages that show registry data: nothing else may load, nothing may frame them. */
export const UI_CSP =
  "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

export function escapeHtml(value: unknown): string {
  return String(value)
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

const STYLE = `
  body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #1d2430; background: #f6f7f9; }
  header { background: #1d2430; color: #fff; padding: 10px 24px; display: flex; align-items: center; gap: 16px; }
  header a { color: #fff; text-decoration: none; font-weight: 600; }
  header form { margin-left: auto; }
  header button { background: transparent; color: #cfd6e4; border: 1px solid #55607a; border-radius: 4px; padding: 3px 10px; cursor: pointer; }
  main { padding: 20px 24px; max-width: 1200px; }
  h1 { font-size: 20px; margin: 4px 0 16px; } h2 { font-size: 16px; margin: 24px 0 8px; }
  table { border-collapse: collapse; background: #fff; width: 100%; box-shadow: 0 1px 2px rgba(0,0,0,.08); }
  th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid #e6e9ef; vertical-align: top; }
  th { background: #eef1f6; font-weight: 600; font-size: 12px; text-transform: uppercase; letter-spacing: .03em; }
  td.num, th.num { font-variant-numeric: tabular-nums; text-align: right; }
  .scroll { overflow-x: auto; box-shadow: 0 1px 2px rgba(0,0,0,.08); } .scroll table { box-shadow: none; }
  time { white-space: nowrap; }
  code, pre { font: 12px/1.4 ui-monospace, SFMono-Regular, Menlo, monospace; }
  pre { background: #fff; padding: 12px; overflow: auto; box-shadow: 0 1px 2px rgba(0,0,0,.08); }
  .pill { display: inline-block; background: #e3ecff; color: #1f4fbf; border-radius: 10px; padding: 0 8px; margin: 0 4px 2px 0; font-size: 12px; }
  .muted { color: #6b7485; } .error { color: #b42318; }
  .login { max-width: 420px; background: #fff; padding: 20px; box-shadow: 0 1px 2px rgba(0,0,0,.08); }
  .login input { width: 100%; box-sizing: border-box; padding: 6px 8px; margin: 8px 0 12px; font: inherit; }
  .login button { padding: 6px 14px; font: inherit; }
`;

export function page(title: string, body: string, o: { signedIn: boolean }): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} · seqtrain registry</title><style>${STYLE}</style></head>
<body><header><a href="/ui/">seqtrain registry</a>${
    o.signedIn ? '<form method="post" action="/ui/logout"><button type="submit">Sign out</button></form>' : ''
  }</header>
<main>${body}</main></body></html>
`;
}

export function loginPage(message?: string): string {
  return page(
    'Sign in',
    `<h1>Sign in</h1>
<form class="login" method="post" action="/ui/login">
  ${message ? `<p class="error" id="login-error">${escapeHtml(message)}</p>` : ''}
  <label for="token">Registry token (read scope)</label>
  <input id="token" name="token" type="password" autocomplete="current-password" required>
  <button type="submit">Sign in</button>
  <p class="muted">The token is kept in an HttpOnly cookie for this site; it never appears in a URL.</p>
</form>`,
    { signedIn: false },
  );
}

const modelLink = (name: string): string =>
  `<a href="/ui/models/${encodeURIComponent(name)}">${escapeHtml(name)}</a>`;

function fmtMetric(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toPrecision(4);
}

function when(iso: string): string {
  return `<time datetime="${escapeHtml(iso)}">${escapeHtml(iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z'))}</time>`;
}

export function modelsPage(
  models: ModelSummary[],
  aliases: Map<string, { alias: string; version: number }[]>,
): string {
  const rows = models
    .map(
      (
        m,
      ) => `<tr data-model="${escapeHtml(m.name)}"><td>${modelLink(m.name)}</td><td class="num">${m.versions}</td>
<td class="num">${m.latest}</td><td>${(aliases.get(m.name) ?? [])
        .map((a) => `<span class="pill">${escapeHtml(a.alias)} → ${a.version}</span>`)
        .join('')}</td></tr>`,
    )
    .join('\n');
  return page(
    'Models',
    `<h1>Models</h1>
${
  models.length === 0
    ? '<p class="muted">No model is registered yet.</p>'
    : `<div class="scroll"><table id="models"><thead><tr><th>Model</th><th class="num">Versions</th><th class="num">Latest</th><th>Aliases</th></tr></thead>
<tbody>${rows}</tbody></table></div>`
}`,
    { signedIn: true },
  );
}

export function modelPage(
  d: ModelDetails,
  cards: ModelCard[],
  histories: { alias: string; events: AliasEvent[] }[],
  o: { runPages: boolean },
): string {
  const metricNames = [...new Set(cards.flatMap((c) => Object.keys(c.metrics)))].sort();
  const aliasesOf = (v: number): string =>
    d.aliases
      .filter((a) => a.version === v)
      .map((a) => `<span class="pill">${escapeHtml(a.alias)}</span>`)
      .join('');
  const weights = (c: ModelCard): string =>
    c.files
      .filter((f) => f.name !== 'model.json')
      .map((f) => `<code title="${escapeHtml(f.sha256)}">${escapeHtml(f.sha256.slice(0, 12))}</code>`)
      .join(' ');
  const versionRows = [...cards]
    .sort((a, b) => b.version - a.version)
    .map((c) => {
      const base = `/ui/models/${encodeURIComponent(d.name)}/versions/${c.version}`;
      return `<tr data-version="${c.version}"><td><a href="${base}">${c.version}</a> ${aliasesOf(c.version)}</td>
<td>${when(c.createdAt)}</td>${metricNames
        .map(
          (m) =>
            `<td class="num" data-metric="${escapeHtml(m)}">${c.metrics[m] === undefined ? '' : fmtMetric(c.metrics[m])}</td>`,
        )
        .join('')}
<td>${escapeHtml(c.dataset.name)} <code title="${escapeHtml(c.dataset.digest)}">${escapeHtml(c.dataset.digest.slice(0, 19))}</code></td>
<td><code>${escapeHtml(c.codeVersion.slice(0, 12))}</code></td>
<td>${o.runPages ? `<a class="run-link" href="${base}/run">${escapeHtml(c.workflowId)}</a>` : escapeHtml(c.workflowId)}</td>
<td>${weights(c)}</td></tr>`;
    })
    .join('\n');
  const aliasSections = histories
    .map(
      (
        h,
      ) => `<h2 id="alias-${escapeHtml(h.alias)}">Alias <span class="pill">${escapeHtml(h.alias)}</span> → ${
        h.events.at(-1)?.to ?? '?'
      }</h2>
<div class="scroll"><table class="alias-history" data-alias="${escapeHtml(h.alias)}"><thead><tr><th>#</th><th>When</th><th>Move</th><th>From</th><th>To</th><th>Who</th><th>Why</th></tr></thead>
<tbody>${[...h.events]
        .reverse()
        .map(
          (
            e,
          ) => `<tr data-seq="${e.seq}"><td class="num">${e.seq}</td><td>${when(e.at)}</td><td>${escapeHtml(e.kind)}</td>
<td class="num">${e.from ?? '—'}</td><td class="num">${e.to}</td><td>${escapeHtml(e.actor)}</td><td>${escapeHtml(e.reason)}</td></tr>`,
        )
        .join('\n')}</tbody></table></div>`,
    )
    .join('\n');
  return page(
    d.name,
    `<h1>${escapeHtml(d.name)}</h1>
<h2>Versions</h2>
<div class="scroll"><table id="versions"><thead><tr><th>Version</th><th>Created</th>${metricNames
      .map((m) => `<th class="num">${escapeHtml(m)}</th>`)
      .join('')}<th>Dataset</th><th>Code</th><th>Run</th><th>Weights sha256</th></tr></thead>
<tbody>${versionRows}</tbody></table></div>
${aliasSections || '<p class="muted">No alias points at a version of this model.</p>'}`,
    { signedIn: true },
  );
}

export function versionPage(card: ModelCard, o: { runPages: boolean }): string {
  const base = `/ui/models/${encodeURIComponent(card.name)}/versions/${card.version}`;
  const files = card.files
    .map(
      (f) =>
        `<tr><td><code>${escapeHtml(f.name)}</code></td><td class="num">${f.size}</td><td><code>${escapeHtml(f.sha256)}</code></td></tr>`,
    )
    .join('');
  return page(
    `${card.name} version ${card.version}`,
    `<h1>${modelLink(card.name)} · version ${card.version}</h1>
<p>Registered ${when(card.createdAt)} by run ${
      o.runPages
        ? `<a class="run-link" href="${base}/run">${escapeHtml(card.workflowId)}</a>`
        : escapeHtml(card.workflowId)
    }${card.parentVersion ? `, from version ${card.parentVersion}` : ''}.</p>
<h2>Files</h2>
<table id="files"><thead><tr><th>File</th><th>Bytes</th><th>sha256</th></tr></thead><tbody>${files}</tbody></table>
<h2>Card</h2>
<pre id="card">${escapeHtml(JSON.stringify(card, null, 2))}</pre>`,
    { signedIn: true },
  );
}

/** The value of one cookie in a Cookie header, or undefined. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() !== name) continue;
    const raw = part.slice(eq + 1).trim();
    try {
      return decodeURIComponent(raw);
    } catch {
      return undefined;
    }
  }
  return undefined;
}
