/**
 * A run page: one self-contained HTML file (no CDN, no network) with a run's curves and facts.
 * Plots use uPlot, inlined from its npm package: ~50 KB minified, canvas-based and fast with long
 * series, MIT, no dependencies and actively maintained (Chart.js is ~4x larger, Vega-Lite with
 * Vega ~15x). The page carries its data as JSON in a <script type="application/json"> element,
 * and every chart's plotted arrays are exposed as `window.seqtrainCharts` (id, title, series
 * labels, uPlot's own `data`) so a browser test can compare what is drawn with the run's history.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { EpochMetrics, TrainerStats } from '@seqtrain/contracts';

const require = createRequire(import.meta.url);

export interface RunPageSegment {
  segment: number;
  workerId: string;
  /** when the segment's record was written (ISO), if known */
  endedAt?: string;
  rounds: number;
  samples: number;
  busyMs: number;
  setupMs: number;
  reason: string;
}

export interface RunPageData {
  run: {
    workflowId: string;
    status: string;
    startTime: string;
    closeTime?: string;
    error?: string;
  };
  history: EpochMetrics[];
  segments: RunPageSegment[];
  trainers: Record<string, TrainerStats>;
  summary: {
    steps?: number;
    rounds?: number;
    epochs?: number;
    segments?: number;
    generations?: number;
    samplesPerSec?: number;
    overheadFraction?: number;
    faults?: string[];
  };
  lineage: {
    dataset?: { name: string; digest: string };
    codeVersion?: string;
    model?: { name: string; version: number };
    weightsSha256?: string;
  };
  spec?: unknown;
}

function asset(file: string): string {
  return readFileSync(require.resolve(`uplot/dist/${file}`), 'utf8');
}

function escapeHtml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c,
  );
}

/** JSON inside <script>: `</script>` and `<!--` must not end or confuse the element. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

function row(label: string, value: string | undefined): string {
  return value === undefined ? '' : `<tr><th>${escapeHtml(label)}</th><td>${escapeHtml(value)}</td></tr>`;
}

export function renderRunPage(data: RunPageData): string {
  const s = data.summary;
  const l = data.lineage;
  const facts = [
    row('status', data.run.status),
    row('started', data.run.startTime),
    row('closed', data.run.closeTime),
    row('error', data.run.error),
    row('model', l.model ? `${l.model.name}@${l.model.version}` : undefined),
    row('dataset', l.dataset ? `${l.dataset.name}@${l.dataset.digest}` : undefined),
    row('code version', l.codeVersion),
    row('weights sha256', l.weightsSha256),
    row(
      'steps / rounds / epochs',
      s.steps !== undefined ? `${s.steps} / ${s.rounds} / ${s.epochs}` : undefined,
    ),
    row(
      'segments / groups formed',
      s.segments !== undefined ? `${s.segments} / ${s.generations}` : undefined,
    ),
    row('samples/s', s.samplesPerSec?.toFixed(1)),
    row(
      'orchestration overhead',
      s.overheadFraction !== undefined ? `${(s.overheadFraction * 100).toFixed(1)} %` : undefined,
    ),
  ].join('');
  const trainers = Object.entries(data.trainers)
    .map(
      ([id, t]) =>
        `<tr><td>${escapeHtml(id)}</td><td>${t.segments}</td><td>${t.rounds}</td><td>${t.busyMs}</td><td>${t.samples}</td><td>${t.busyMs > 0 ? ((t.samples * 1000) / t.busyMs).toFixed(1) : '-'}</td></tr>`,
    )
    .join('');
  const segments = data.segments
    .map(
      (g) =>
        `<tr><td>${g.segment}</td><td>${escapeHtml(g.workerId)}</td><td>${escapeHtml(g.endedAt ?? '-')}</td><td>${g.rounds}</td><td>${g.samples}</td><td>${g.setupMs}</td><td>${g.busyMs}</td><td>${escapeHtml(g.reason)}</td></tr>`,
    )
    .join('');
  const faults = (s.faults ?? []).map((f) => `<li>${escapeHtml(f)}</li>`).join('');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${escapeHtml(`seqtrain run ${data.run.workflowId}`)}</title>
<style>${asset('uPlot.min.css')}</style>
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px; color: #1d232b; background: #fff; }
h1 { font-size: 20px; margin: 0 0 12px; } h2 { font-size: 16px; margin: 28px 0 8px; }
table { border-collapse: collapse; margin: 4px 0; } th, td { padding: 3px 10px; border-bottom: 1px solid #e3e6ea; text-align: left; }
th { color: #57606a; font-weight: 600; } .charts { display: flex; flex-wrap: wrap; gap: 18px; }
.chart { border: 1px solid #e3e6ea; border-radius: 6px; padding: 8px; } .chart h3 { font-size: 13px; margin: 0 0 4px; }
pre { background: #f6f8fa; padding: 10px; border-radius: 6px; overflow: auto; max-height: 420px; }
.empty { color: #57606a; font-style: italic; }
</style>
</head>
<body>
<h1>Training run <code>${escapeHtml(data.run.workflowId)}</code></h1>
<table id="facts">${facts}</table>
<h2>Curves</h2>
<div class="charts" id="charts"></div>
<h2>Trainers</h2>
${trainers ? `<table id="trainers"><tr><th>worker</th><th>segments</th><th>rounds</th><th>busy ms</th><th>samples</th><th>samples/s</th></tr>${trainers}</table>` : '<p class="empty">no trainer statistics recorded</p>'}
<h2>Segments</h2>
${segments ? `<table id="segments"><tr><th>segment</th><th>leader</th><th>ended</th><th>rounds</th><th>samples</th><th>setup ms</th><th>busy ms</th><th>ended because</th></tr>${segments}</table>` : '<p class="empty">no segment records</p>'}
${faults ? `<h2>Faults</h2><ul id="faults">${faults}</ul>` : ''}
<h2>Spec</h2>
<pre id="spec">${escapeHtml(data.spec === undefined ? '(not recorded)' : JSON.stringify(data.spec, null, 2))}</pre>
<script type="application/json" id="run-data">${scriptJson(data)}</script>
<script>${asset('uPlot.iife.min.js')}</script>
<script>${PAGE_SCRIPT}</script>
</body>
</html>
`;
}

/** Builds the charts from the embedded JSON (runs in the browser; plain ES2019, no imports). */
const PAGE_SCRIPT = String.raw`
(function () {
  var data = JSON.parse(document.getElementById('run-data').textContent);
  var root = document.getElementById('charts');
  var colors = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf'];
  window.seqtrainCharts = [];
  function chart(id, title, xLabel, x, series, opts) {
    var box = document.createElement('div');
    box.className = 'chart';
    box.id = 'chart-' + id;
    var h = document.createElement('h3');
    h.textContent = title;
    box.appendChild(h);
    root.appendChild(box);
    if (x.length === 0) {
      var p = document.createElement('p');
      p.className = 'empty';
      p.textContent = 'nothing recorded yet';
      box.appendChild(p);
      window.seqtrainCharts.push({ id: id, title: title, labels: [], data: [] });
      return;
    }
    var plotted = [x].concat(series.map(function (s) { return s.values; }));
    var u = new uPlot({
      width: 520,
      height: 260,
      scales: opts && opts.bars
        ? {
            x: { time: false, range: function (_u, min, max) { return [min - 0.6, max + 0.6]; } },
            y: { range: function (_u, _min, max) { return [0, max > 0 ? max * 1.1 : 1]; } },
          }
        : { x: { time: !!(opts && opts.time) } },
      axes: [{ label: xLabel }, { label: (opts && opts.yLabel) || '' }],
      series: [{ label: xLabel }].concat(series.map(function (s, i) {
        var o = { label: s.label, stroke: colors[i % colors.length], width: 2, points: { show: x.length < 60 } };
        if (opts && opts.bars) {
          // Several series side by side, not drawn over each other.
          var n = series.length;
          o.paths = uPlot.paths.bars({ size: [0.7 / n, 40], align: n === 1 ? 0 : i === 0 ? -1 : 1 });
          o.fill = colors[i % colors.length] + '88';
          o.points = { show: false };
        }
        return o;
      })),
    }, plotted, box);
    window.seqtrainCharts.push({ id: id, title: title, labels: series.map(function (s) { return s.label; }), data: u.data });
  }
  var h = data.history;
  var epochs = h.map(function (e) { return e.epoch + 1; });
  chart('loss', 'Loss per epoch', 'epoch', epochs, [
    { label: 'train_loss', values: h.map(function (e) { return e.trainLoss; }) },
    { label: 'val_loss', values: h.map(function (e) { return e.valLoss; }) },
  ]);
  var names = [];
  h.forEach(function (e) {
    Object.keys(e.metrics).forEach(function (k) {
      if (k !== 'val_loss' && k !== 'train_loss' && names.indexOf(k) < 0) names.push(k);
    });
  });
  names.slice(0, 8).forEach(function (k) {
    chart('metric-' + k, k + ' per epoch', 'epoch', epochs, [
      { label: k, values: h.map(function (e) { return k in e.metrics ? e.metrics[k] : null; }) },
    ]);
  });
  var segs = data.segments;
  var timed = segs.length > 0 && segs.every(function (g) { return !!g.endedAt; });
  chart('throughput', 'Samples/s per segment (leader, time in the loop)', timed ? 'segment end' : 'segment',
    segs.map(function (g) { return timed ? Date.parse(g.endedAt) / 1000 : g.segment; }),
    [{ label: 'samples/s', values: segs.map(function (g) { return g.busyMs > 0 ? (g.samples * 1000) / g.busyMs : null; }) }],
    { time: timed, yLabel: 'samples/s' });
  chart('timeline', 'Segment timeline: set-up and training time', 'segment',
    segs.map(function (g) { return g.segment; }),
    [
      { label: 'setup ms', values: segs.map(function (g) { return g.setupMs; }) },
      { label: 'busy ms', values: segs.map(function (g) { return g.busyMs; }) },
    ],
    { bars: true, yLabel: 'ms' });
  var ids = Object.keys(data.trainers);
  chart('trainers', 'Samples/s per trainer', 'trainer #', ids.map(function (_, i) { return i + 1; }),
    [{ label: 'samples/s', values: ids.map(function (k) { var t = data.trainers[k]; return t.busyMs > 0 ? (t.samples * 1000) / t.busyMs : null; }) }],
    { bars: true, yLabel: 'samples/s' });
  document.body.setAttribute('data-ready', 'true');
})();
`;
