/**
 * The registry HTTP API (docs/cli-contract.md): node:http, no framework. Every path segment is validated against
 * the name / version / file patterns before it reaches the store, so no request can address a key
 * outside `registry/<model>/versions/<n>/`.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import {
  assertAliasName,
  assertModelName,
  BAD_INPUT_ERROR,
  BadInputError,
  firstIssue,
  MoveAliasRequestSchema,
  parseIsoTime,
  parseModelJson,
  parseVersionNumber,
  NotFoundError,
  SeqtrainError,
  type ModelCard,
} from '@seqtrain/contracts';
import { assertFileName, CARD_FILE, MODEL_JSON } from '../layout';
import type { ModelRegistry } from '../model-registry';
import { authorize, type Scope, type TokenTable } from './auth';
import { openApiDocument } from './openapi';
import {
  cookieValue,
  escapeHtml,
  loginPage,
  modelPage,
  modelsPage,
  page,
  UI_COOKIE,
  UI_CSP,
  versionPage,
} from './ui';
import {
  aliasCacheControl,
  etagOf,
  HttpError,
  IMMUTABLE,
  readJsonBody,
  sendBytes,
  sendError,
  sendJson,
  sendStream,
  statusOf,
  readFormBody,
} from './respond';

export interface RegistryServerOptions {
  registry: ModelRegistry;
  tokens: TokenTable;
  /** Largest accepted request body (default 16 KiB; alias moves are tiny). */
  maxBodyBytes?: number;
  /** Access-Control-Allow-Origin: '*' (default) or an allow-list of origins. */
  corsOrigins?: '*' | readonly string[];
  /** max-age of alias resolutions (default 10 s): short, because aliases move. */
  aliasMaxAgeSeconds?: number;
  /** Unexpected (5xx) errors are reported here. */
  onError?: (err: unknown, req: IncomingMessage) => void;
  /**
   * The run page (self-contained HTML) of the run that registered a version, for the web UI's
   * `/ui/models/NAME/versions/N/run`. Reached only through a version the reader can see; without
   * it the UI shows run ids without links.
   */
  runPage?: (card: ModelCard) => Promise<string>;
}

const MAX_URL_LENGTH = 2048;

type Handler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

export function createRegistryHandler(
  o: RegistryServerOptions,
): (req: IncomingMessage, res: ServerResponse) => void {
  const maxBody = o.maxBodyBytes ?? 16 * 1024;
  const aliasCache = aliasCacheControl(o.aliasMaxAgeSeconds ?? 10);
  const registry = o.registry;

  const cors = (req: IncomingMessage, res: ServerResponse): void => {
    const origin = req.headers.origin;
    if (o.corsOrigins === undefined || o.corsOrigins === '*')
      res.setHeader('Access-Control-Allow-Origin', '*');
    else if (origin && o.corsOrigins.includes(origin)) {
      res.setHeader('Access-Control-Allow-Origin', origin);
      res.setHeader('Vary', 'Origin');
    }
    res.setHeader('Access-Control-Expose-Headers', 'ETag, X-Seqtrain-Version, Content-Length');
  };

  const need = (req: IncomingMessage, scope: Scope): string => {
    const r = authorize(o.tokens, req.headers.authorization, scope);
    if (!r.ok) {
      throw new HttpError(
        r.status,
        r.message,
        r.status === 401 ? { 'WWW-Authenticate': 'Bearer realm="seqtrain-registry"' } : {},
      );
    }
    return r.entry.id;
  };

  /** Serves one file of a complete version; `viaAlias` rewrites model.json so weights stay on that version. */
  const serveFile = async (
    req: IncomingMessage,
    res: ServerResponse,
    name: string,
    version: number,
    file: string,
    viaAlias: boolean,
  ): Promise<void> => {
    const headers = { 'X-Seqtrain-Version': String(version) };
    const contentType = file.endsWith('.json') ? 'application/json' : 'application/octet-stream';
    if (viaAlias && file === MODEL_JSON) {
      // tf.loadLayersModel fetches weights relative to model.json. Pointing them at the immutable
      // version (not the alias) means a promotion between the two fetches cannot mix two models.
      const { bytes } = await registry.readFile(name, version, file);
      const json = parseModelJson(bytes, `${name} version ${version} ${MODEL_JSON}`);
      for (const group of json.weightsManifest)
        group.paths = group.paths.map((p) => `../../versions/${version}/${p}`);
      const body = new TextEncoder().encode(JSON.stringify(json));
      sendBytes(req, res, body, { contentType, cacheControl: aliasCache, etag: etagOf(body), headers });
      return;
    }
    // Weights are streamed in chunks after a one-time sha256 check: a request holds one chunk.
    const stream = await registry.openFile(name, version, file);
    await sendStream(req, res, stream, {
      contentType,
      cacheControl: viaAlias ? aliasCache : IMMUTABLE,
      etag: `"${stream.sha256}"`,
      headers,
    });
  };

  const html = (
    req: IncomingMessage,
    res: ServerResponse,
    status: number,
    body: string,
    headers: Record<string, string> = {},
    csp = UI_CSP,
  ): void =>
    sendBytes(req, res, new TextEncoder().encode(body), {
      status,
      contentType: 'text/html; charset=utf-8',
      cacheControl: 'no-store',
      headers: {
        'Content-Security-Policy': csp,
        'X-Content-Type-Options': 'nosniff',
        'Referrer-Policy': 'no-referrer',
        'X-Frame-Options': 'DENY',
        ...headers,
      },
    });

  /** The UI's reader: a read-scope token from the Authorization header or the UI's cookie. */
  const uiAuth = (req: IncomingMessage): ReturnType<typeof authorize> => {
    const header = req.headers.authorization;
    const cookie = cookieValue(req.headers.cookie, UI_COOKIE);
    return authorize(o.tokens, header ?? (cookie ? `Bearer ${cookie}` : undefined), 'read');
  };

  const cookie = (req: IncomingMessage, value: string, maxAge: number): string =>
    `${UI_COOKIE}=${encodeURIComponent(value)}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=${maxAge}${
      (req.socket as { encrypted?: boolean }).encrypted ? '; Secure' : ''
    }`;

  const routeUi = async (req: IncomingMessage, res: ServerResponse, pathname: string): Promise<void> => {
    const method = req.method ?? 'GET';
    const read = method === 'GET' || method === 'HEAD';
    const rest = pathname.split('/').slice(2);
    if (rest.at(-1) === '') rest.pop();
    if (rest.some((s) => s === '' || s === '.' || s === '..' || /%2e|%2f|%5c/i.test(s)))
      throw new BadInputError(`malformed path ${JSON.stringify(pathname)}`);
    if (rest[0] === 'login' && rest.length === 1) {
      if (read) return html(req, res, 200, loginPage());
      if (method !== 'POST')
        throw new HttpError(405, `${method} is not allowed on ${pathname}`, { Allow: 'GET, POST' });
      const token = (await readFormBody(req, 4096)).get('token')?.trim() ?? '';
      const r = authorize(o.tokens, `Bearer ${token}`, 'read');
      if (!r.ok) return html(req, res, r.status, loginPage(`That token was refused: ${r.message}.`));
      res.setHeader('Set-Cookie', cookie(req, token, 12 * 3600));
      res.setHeader('Location', '/ui/');
      res.writeHead(303).end();
      return;
    }
    if (rest[0] === 'logout' && rest.length === 1) {
      if (method !== 'POST')
        throw new HttpError(405, `${method} is not allowed on ${pathname}`, { Allow: 'POST' });
      res.setHeader('Set-Cookie', cookie(req, '', 0));
      res.setHeader('Location', '/ui/login');
      res.writeHead(303).end();
      return;
    }
    if (!read) throw new HttpError(405, `${method} is not allowed on ${pathname}`, { Allow: 'GET, HEAD' });
    const auth = uiAuth(req);
    if (!auth.ok) {
      if (auth.status === 403)
        return html(
          req,
          res,
          403,
          page('Forbidden', `<h1>Forbidden</h1><p>${escapeHtml(auth.message)}.</p>`, { signedIn: true }),
        );
      return html(req, res, 401, loginPage());
    }
    const runPages = o.runPage !== undefined;
    if (rest.length === 0) {
      const models = await registry.listModels();
      const aliases = new Map<string, { alias: string; version: number }[]>();
      for (const m of models) aliases.set(m.name, await registry.aliases(m.name));
      return html(req, res, 200, modelsPage(models, aliases));
    }
    if (rest[0] !== 'models' || rest.length < 2) throw new NotFoundError(`no page ${pathname}`);
    const name = assertModelName(rest[1]);
    if (rest.length === 2) {
      const d = await registry.describeModel(name);
      const cards = [];
      for (const v of d.versions) cards.push(await registry.getCard(name, v.version));
      const histories = [];
      for (const a of d.aliases)
        histories.push({ alias: a.alias, events: await registry.aliasHistory(name, a.alias) });
      return html(req, res, 200, modelPage(d, cards, histories, { runPages }));
    }
    if (rest[2] !== 'versions' || rest.length < 4 || rest.length > 5)
      throw new NotFoundError(`no page ${pathname}`);
    const card = await registry.getCard(name, parseVersionNumber(rest[3] ?? ''));
    if (rest.length === 4) return html(req, res, 200, versionPage(card, { runPages }));
    if (rest[4] !== 'run' || !o.runPage) throw new NotFoundError(`no page ${pathname}`);
    // The run page draws with inline scripts (uPlot, inlined): allowed there, and nothing else.
    return html(
      req,
      res,
      200,
      await o.runPage(card),
      {},
      "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'; base-uri 'none'",
    );
  };

  const uiError = (req: IncomingMessage, res: ServerResponse, err: unknown): void => {
    const status = statusOf(err);
    const message = err instanceof SeqtrainError ? err.message : 'internal error';
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const headers = err instanceof HttpError ? err.headers : {};
    html(
      req,
      res,
      status,
      page(
        `Error ${status}`,
        `<h1>Error ${status}</h1><p class="error">${escapeHtml(message)}</p><p><a href="/ui/">All models</a></p>`,
        { signedIn: false },
      ),
      headers,
    );
  };

  const route: Handler = async (req, res) => {
    const url = req.url ?? '/';
    if (url.length > MAX_URL_LENGTH)
      throw new HttpError(414, `request URL longer than ${MAX_URL_LENGTH} characters`);
    const pathname = url.split('?')[0] ?? '/';
    const query = new URLSearchParams(url.includes('?') ? url.slice(url.indexOf('?') + 1) : '');
    const method = req.method ?? 'GET';
    const read = method === 'GET' || method === 'HEAD';

    if (pathname === '/openapi.json' && read)
      return sendJson(req, res, openApiDocument(), { cacheControl: 'public, max-age=300' });
    if (pathname === '/healthz' && read) return sendJson(req, res, { ok: true });
    if (pathname === '/' && read) {
      res.setHeader('Location', '/ui/');
      res.writeHead(302).end();
      return;
    }
    if (pathname === '/ui' || pathname.startsWith('/ui/')) {
      try {
        return await routeUi(req, res, pathname);
      } catch (err) {
        if (!(err instanceof SeqtrainError)) o.onError?.(err, req);
        return uiError(req, res, err);
      }
    }

    const seg = pathname.split('/').slice(1);
    if (seg[0] !== 'v1' || seg[1] !== 'models')
      throw new HttpError(404, `no route for ${method} ${pathname}`);
    const rest = seg.slice(2);
    if (rest.at(-1) === '') rest.pop();
    // Dot segments are refused outright, whatever route they would fall into.
    if (rest.some((s) => s === '' || s === '.' || s === '..' || /%2e|%2f|%5c/i.test(s))) {
      throw new BadInputError(`malformed path ${JSON.stringify(pathname)}`);
    }

    const allow = (methods: string): never => {
      throw new HttpError(405, `${method} is not allowed on ${pathname}`, { Allow: methods });
    };

    if (rest.length === 0) {
      if (!read) return allow('GET, HEAD');
      need(req, 'read');
      return sendJson(req, res, { models: await registry.listModels() });
    }
    const name = assertModelName(rest[0]);
    if (rest.length === 1) {
      if (!read) return allow('GET, HEAD');
      need(req, 'read');
      return sendJson(req, res, await registry.describeModel(name));
    }
    if (rest[1] === 'versions') {
      if (!read) return allow('GET, HEAD');
      if (rest.length === 2) {
        need(req, 'read');
        return sendJson(req, res, { name, versions: await registry.listVersions(name) });
      }
      const version = parseVersionNumber(rest[2] ?? '');
      if (rest.length === 3) {
        need(req, 'read');
        const { bytes, sha256 } = await registry.readFile(name, version, CARD_FILE);
        return sendBytes(req, res, bytes, {
          contentType: 'application/json',
          cacheControl: IMMUTABLE,
          etag: `"${sha256}"`,
        });
      }
      if (rest.length === 4) {
        const file = assertFileName(rest[3] ?? '');
        need(req, 'read');
        return serveFile(req, res, name, version, file, false);
      }
    }
    if (rest[1] === 'aliases' && rest.length >= 3) {
      const alias = assertAliasName(rest[2]);
      if (rest.length === 3) {
        if (method === 'POST') {
          const actorId = need(req, 'write');
          const body = await readJsonBody(req, maxBody);
          const parsed = MoveAliasRequestSchema.safeParse(body);
          if (!parsed.success) {
            throw new BadInputError(`request body: ${firstIssue(parsed.error)}`);
          }
          const request = { ...parsed.data, actor: parsed.data.actor ?? `token:${actorId}` };
          const event = await registry.coordinator.moveAlias({ name, alias, request });
          return sendJson(req, res, event);
        }
        if (!read) return allow('GET, HEAD, POST');
        need(req, 'read');
        const r = await registry.resolve({ name, target: { kind: 'alias', alias } });
        return sendJson(req, res, r.card, {
          cacheControl: aliasCache,
          headers: { 'X-Seqtrain-Version': String(r.version) },
        });
      }
      if (rest.length === 4) {
        if (!read) return allow('GET, HEAD');
        if (rest[3] === 'history') {
          need(req, 'read');
          const at = query.get('at');
          if (at !== null) {
            const t = parseIsoTime(at, 'query parameter at');
            return sendJson(req, res, {
              name,
              alias,
              at: t.toISOString(),
              version: await registry.aliasAt(name, alias, t),
            });
          }
          return sendJson(req, res, { name, alias, events: await registry.aliasHistory(name, alias) });
        }
        const file = assertFileName(rest[3] ?? '');
        need(req, 'read');
        const r = await registry.resolve({ name, target: { kind: 'alias', alias } });
        return serveFile(req, res, name, r.version, file, true);
      }
    }
    throw new HttpError(404, `no route for ${method} ${pathname}`);
  };

  return (req, res) => {
    cors(req, res);
    if (req.method === 'OPTIONS') {
      res.setHeader('Access-Control-Allow-Methods', 'GET, HEAD, POST, OPTIONS');
      res.setHeader('Access-Control-Allow-Headers', 'Authorization, Content-Type, If-None-Match');
      res.setHeader('Access-Control-Max-Age', '600');
      res.writeHead(204).end();
      return;
    }
    route(req, res).catch((err: unknown) => {
      if (!(err instanceof SeqtrainError) || (err instanceof HttpError && err.status >= 500))
        o.onError?.(err, req);
      sendError(req, res, err);
      // An oversized body is not read: close the connection once the 413 is out.
      if (err instanceof HttpError && err.status === 413) res.once('finish', () => req.destroy());
    });
  };
}

export interface RunningRegistryServer {
  url: string;
  port: number;
  server: Server;
  close(): Promise<void>;
}

export async function startRegistryServer(
  o: RegistryServerOptions & { port?: number; host?: string },
): Promise<RunningRegistryServer> {
  const server = createServer(
    { requestTimeout: 30_000, headersTimeout: 10_000, maxHeaderSize: 16 * 1024 },
    createRegistryHandler(o),
  );
  // Requests Node's parser refuses (bad framing, oversized headers, timeouts) get the same JSON
  // error body as every other refusal, not Node's bare default.
  server.on('clientError', (err: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket: Duplex) => {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const [status, reason] =
      err.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'Request Header Fields Too Large']
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? [408, 'Request Timeout']
          : [400, 'Bad Request'];
    const body = `${JSON.stringify({
      error: {
        type: BAD_INPUT_ERROR,
        status,
        message: `malformed HTTP request (${err.code ?? 'parse error'})`,
      },
    })}\n`;
    // A HEAD request gets the headers only (its response has no body, whatever Content-Length says).
    const head = err.rawPacket?.subarray(0, 5).toString('latin1') === 'HEAD ';
    socket.end(
      `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${head ? '' : body}`,
    );
  });
  const host = o.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port ?? 0, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    server,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
