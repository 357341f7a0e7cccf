/**
 * The HTTP API over real local S3: auth scopes, strict path validation (no traversal), body
 * limits, caching headers, CORS, and alias history answered at points in time.
 */
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack } from '@seqtrain/local-stack';
import { createBlobStore, sha256Hex, type S3BlobStore } from '@seqtrain/storage';
import {
  InProcessCoordinator,
  ModelRegistry,
  parseRegistryTokens,
  startRegistryServer,
  type RunningRegistryServer,
} from './index';
import { buildTinyLstm, modelFiles, testCard } from '../test/test-model';

const READ = 'reader-token-123';
const WRITE = 'writer-token-456';
const WRITE_ONLY = 'writeonly-token-789';

let stack: TestStack;
let store: S3BlobStore;
let server: RunningRegistryServer;
let registry: ModelRegistry;
let now = Date.parse('2026-01-01T00:00:00.000Z');

interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** node:http, not fetch: fetch would normalise '..' segments before they reach the server. */
function raw(
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: string | Buffer,
): Promise<RawResponse> {
  const url = new URL(server.url);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        }),
      );
    });
    req.on('error', reject);
    req.end(body);
  });
}

const auth = (token: string): Record<string, string> => ({ Authorization: `Bearer ${token}` });

beforeAll(async () => {
  stack = await startTestStack({});
  store = createBlobStore(stack.config);
  registry = new ModelRegistry(store, new InProcessCoordinator(store, { clock: () => now }));
  const files = await modelFiles(buildTinyLstm(11));
  for (const runKey of ['run-a', 'run-b', 'run-c']) {
    await registry.registerModel({
      name: 'weather',
      runKey,
      artifacts: files,
      card: testCard({ workflowId: runKey }),
    });
  }
  server = await startRegistryServer({
    registry,
    tokens: parseRegistryTokens(`${READ}:read,${WRITE}:read+write,${WRITE_ONLY}:write`),
    maxBodyBytes: 4096,
  });
});

afterAll(async () => {
  await server?.close();
  store?.destroy();
  await stack?.stop();
});

describe('auth', () => {
  it('401 without a token or with an unknown one, 403 with the wrong scope', async () => {
    const none = await raw('GET', '/v1/models');
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toMatch(/^Bearer/);
    expect((await raw('GET', '/v1/models', auth('not-a-real-token'))).status).toBe(401);
    expect((await raw('GET', '/v1/models', { Authorization: `Basic ${READ}` })).status).toBe(401);

    const body = JSON.stringify({ version: 1, reason: 'try' });
    const readWrite = await raw(
      'POST',
      '/v1/models/weather/aliases/production',
      { ...auth(READ), 'Content-Type': 'application/json' },
      body,
    );
    expect(readWrite.status).toBe(403);
    expect((await raw('GET', '/v1/models', auth(WRITE_ONLY))).status).toBe(403);
    // Nothing moved.
    expect(await registry.aliasHistory('weather', 'production')).toEqual([]);
  });

  it('lists models and versions with a read token', async () => {
    const list = await raw('GET', '/v1/models', auth(READ));
    expect(list.status).toBe(200);
    expect(JSON.parse(list.body)).toEqual({ models: [{ name: 'weather', versions: 3, latest: 3 }] });
    const model = JSON.parse((await raw('GET', '/v1/models/weather', auth(READ))).body) as {
      versions: { version: number }[];
    };
    expect(model.versions.map((v) => v.version)).toEqual([1, 2, 3]);
  });
});

describe('input validation', () => {
  it.each([
    '/v1/models/..%2F..%2Fetc/versions/1/model.json',
    '/v1/models/../../etc/passwd',
    '/v1/models/weather/versions/1/..%2Fcard.json',
    '/v1/models/weather/versions/1/../../../../x',
    '/v1/models/weather/versions/1/.hidden',
    '/v1/models/Weather',
    '/v1/models/weather/versions/0',
    '/v1/models/weather/versions/01',
    '/v1/models/weather/versions/-1',
    '/v1/models/weather/versions/1.5',
    '/v1/models/weather/versions/1e3',
    '/v1/models/weather/aliases/..',
    '/v1/models/weather/aliases/9lives',
    '/v1/models/weather//versions/1',
  ])('rejects %s with 400', async (path) => {
    const res = await raw('GET', path, auth(READ));
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body)).toMatchObject({ error: { type: 'BadInputError' } });
  });

  it('404 for a well-formed name that does not exist, and for a file not in the card', async () => {
    expect((await raw('GET', '/v1/models/nope/versions/1', auth(READ))).status).toBe(404);
    expect((await raw('GET', '/v1/models/weather/versions/9/model.json', auth(READ))).status).toBe(404);
    expect((await raw('GET', '/v1/models/weather/versions/1/other.bin', auth(READ))).status).toBe(404);
  });

  it('413 for a body over the limit, declared or streamed', async () => {
    const big = JSON.stringify({ version: 1, reason: 'x'.repeat(10_000) });
    const declared = await raw(
      'POST',
      '/v1/models/weather/aliases/production',
      { ...auth(WRITE), 'Content-Type': 'application/json' },
      big,
    );
    expect(declared.status).toBe(413);
    const chunked = await raw(
      'POST',
      '/v1/models/weather/aliases/production',
      { ...auth(WRITE), 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' },
      big,
    );
    expect(chunked.status).toBe(413);
  });

  it('400 for a body that is not a valid alias move, naming the field', async () => {
    const res = await raw(
      'POST',
      '/v1/models/weather/aliases/production',
      { ...auth(WRITE), 'Content-Type': 'application/json' },
      JSON.stringify({ version: 'two', reason: 'x' }),
    );
    expect(res.status).toBe(400);
    expect(res.body).toMatch(/version/);
  });
});

describe('files and caching', () => {
  it('serves version files with immutable caching and a sha256 ETag; If-None-Match gives 304', async () => {
    const card = await registry.getCard('weather', 2);
    const weights = card.files.find((f) => f.name === 'weights.bin');
    const res = await fetch(`${server.url}/v1/models/weather/versions/2/weights.bin`, {
      headers: auth(READ),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toMatch(/immutable/);
    expect(res.headers.get('etag')).toBe(`"${weights?.sha256}"`);
    expect(sha256Hex(new Uint8Array(await res.arrayBuffer()))).toBe(weights?.sha256);
    const again = await raw('GET', '/v1/models/weather/versions/2/weights.bin', {
      ...auth(READ),
      'If-None-Match': `"${weights?.sha256}"`,
    });
    expect(again.status).toBe(304);
    expect(again.body).toBe('');
  });

  it('answers CORS preflight without a token and exposes ETag', async () => {
    const pre = await raw('OPTIONS', '/v1/models/weather/aliases/production/model.json', {
      Origin: 'https://app.example',
      'Access-Control-Request-Method': 'GET',
      'Access-Control-Request-Headers': 'authorization',
    });
    expect(pre.status).toBe(204);
    expect(pre.headers['access-control-allow-origin']).toBe('*');
    expect(String(pre.headers['access-control-allow-headers'])).toMatch(/Authorization/);
    const get = await raw('GET', '/v1/models', { ...auth(READ), Origin: 'https://app.example' });
    expect(String(get.headers['access-control-expose-headers'])).toMatch(/ETag/);
  });

  it('serves an OpenAPI document', async () => {
    const doc = JSON.parse((await raw('GET', '/openapi.json')).body) as {
      openapi: string;
      paths: Record<string, unknown>;
    };
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toContain('/v1/models/{name}/aliases/{alias}/history');
  });
});

describe('aliases', () => {
  it('promote, promote, rollback; history ?at= answers the version in force at each time', async () => {
    const post = async (body: object, at: string): Promise<RawResponse> => {
      now = Date.parse(at);
      return raw(
        'POST',
        '/v1/models/weather/aliases/production',
        { ...auth(WRITE), 'Content-Type': 'application/json' },
        JSON.stringify(body),
      );
    };
    const p1 = await post(
      { version: 1, reason: 'first release', workflowId: 'train-1' },
      '2026-02-01T10:00:00.000Z',
    );
    const p2 = await post({ version: 3, reason: 'better val_loss' }, '2026-02-02T10:00:00.000Z');
    const rb = await post(
      { kind: 'rollback', reason: 'latency regression', actor: 'oncall' },
      '2026-02-03T10:00:00.000Z',
    );
    expect([p1.status, p2.status, rb.status]).toEqual([200, 200, 200]);
    expect(JSON.parse(rb.body)).toMatchObject({ kind: 'rollback', from: 3, to: 1, actor: 'oncall', seq: 3 });
    // The actor defaults to a non-secret id of the token.
    const first = JSON.parse(p1.body) as { actor: string; workflowId: string };
    expect(first.actor).toMatch(/^token:[0-9a-f]{8}$/);
    expect(first.workflowId).toBe('train-1');

    const at = async (t: string): Promise<number | null> =>
      (
        JSON.parse(
          (await raw('GET', `/v1/models/weather/aliases/production/history?at=${t}`, auth(READ))).body,
        ) as { version: number | null }
      ).version;
    expect(await at('2026-01-31T00:00:00Z')).toBeNull();
    expect(await at('2026-02-01T10:00:00.000Z')).toBe(1);
    expect(await at('2026-02-01T23:00:00Z')).toBe(1);
    expect(await at('2026-02-02T12:00:00Z')).toBe(3);
    expect(await at('2026-02-03T09:59:59.999Z')).toBe(3);
    expect(await at('2026-02-04T00:00:00Z')).toBe(1);
    for (const bad of ['yesterday', '1', '2026']) {
      // `new Date('1')` is a date in 2001: only ISO 8601 times are accepted.
      const r = await raw('GET', `/v1/models/weather/aliases/production/history?at=${bad}`, auth(READ));
      expect(r.status, bad).toBe(400);
      expect(r.body).toMatch(/query parameter at=.*is not an ISO 8601 time/);
    }

    const history = JSON.parse(
      (await raw('GET', '/v1/models/weather/aliases/production/history', auth(READ))).body,
    ) as {
      events: { seq: number; from: number | null; to: number; reason: string }[];
    };
    expect(history.events.map((e) => [e.seq, e.from, e.to, e.reason])).toEqual([
      [1, null, 1, 'first release'],
      [2, 1, 3, 'better val_loss'],
      [3, 3, 1, 'latency regression'],
    ]);

    const card = await raw('GET', '/v1/models/weather/aliases/production', auth(READ));
    expect(JSON.parse(card.body)).toMatchObject({ version: 1, runKey: 'run-a' });
    expect(card.headers['cache-control']).toMatch(/max-age=10$/);
  });

  it('refuses to point an alias at a version that does not exist', async () => {
    const res = await raw(
      'POST',
      '/v1/models/weather/aliases/staging',
      { ...auth(WRITE), 'Content-Type': 'application/json' },
      JSON.stringify({ version: 4, reason: 'x' }),
    );
    expect(res.status).toBe(400);
    expect(res.body).toMatch(/version 4/);
  });
});

describe('web UI', () => {
  const form = (token: string): [Record<string, string>, string] => [
    { 'Content-Type': 'application/x-www-form-urlencoded' },
    new URLSearchParams({ token }).toString(),
  ];

  it('shows the sign-in form, never data, without a read token', async () => {
    const page = await raw('GET', '/ui/');
    expect(page.status).toBe(401);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.body).toContain('name="token"');
    expect(page.body).not.toContain('weather');
    expect(page.headers['content-security-policy']).toMatch(/default-src 'none'/);
    expect((await raw('GET', '/ui/models/weather', auth(WRITE_ONLY))).status).toBe(403);
    // A refused token is named as refused and sets no cookie.
    const refused = await raw('POST', '/ui/login', ...form('not-a-real-token'));
    expect(refused.status).toBe(401);
    expect(refused.headers['set-cookie']).toBeUndefined();
  });

  it('signs in with a read token into an HttpOnly, SameSite=Strict cookie that reads pages, not the API', async () => {
    const login = await raw('POST', '/ui/login', ...form(READ));
    expect(login.status).toBe(303);
    expect(login.headers.location).toBe('/ui/');
    const setCookie = String(login.headers['set-cookie']);
    expect(setCookie).toMatch(
      /^seqtrain_registry_token=reader-token-123; Path=\/ui; HttpOnly; SameSite=Strict/,
    );
    const cookie = { Cookie: setCookie.split(';')[0]! };
    const models = await raw('GET', '/ui/', cookie);
    expect(models.status).toBe(200);
    expect(models.body).toContain('href="/ui/models/weather"');
    // The cookie is for pages only: the API still wants the bearer header, and writes never take it.
    expect((await raw('GET', '/v1/models', cookie)).status).toBe(401);
    expect((await raw('POST', '/ui/models/weather', cookie)).status).toBe(405);
    const out = await raw('POST', '/ui/logout', cookie);
    expect(out.status).toBe(303);
    expect(String(out.headers['set-cookie'])).toMatch(/Max-Age=0/);
  });

  it('renders versions, metrics and alias history, escaping what it shows', async () => {
    now += 60_000;
    await registry.promote('weather', 'canary', 2, {
      reason: '<script>alert(1)</script> & "quoted"',
      actor: 'ci <bot>',
    });
    const page = await raw('GET', '/ui/models/weather', auth(READ));
    expect(page.status).toBe(200);
    for (const v of [1, 2, 3]) expect(page.body).toContain(`data-version="${v}"`);
    expect(page.body).toContain('data-metric="val_loss">0.2500<');
    expect(page.body).toContain('&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quoted&quot;');
    expect(page.body).toContain('ci &lt;bot&gt;');
    expect(page.body).not.toContain('<script>');
    const events = await registry.aliasHistory('weather', 'canary');
    expect(page.body).toContain(`data-alias="canary"`);
    expect(page.body).toContain(`data-seq="${events.at(-1)!.seq}"`);
    const version = await raw('GET', '/ui/models/weather/versions/2', auth(READ));
    expect(version.body).toContain('<pre id="card">');
    // No run pages configured here: run ids are shown without links, and the route is not there.
    expect(version.body).not.toContain('/versions/2/run');
    expect((await raw('GET', '/ui/models/weather/versions/2/run', auth(READ))).status).toBe(404);
    const missing = await raw('GET', '/ui/models/weather/versions/9', auth(READ));
    expect(missing.status).toBe(404);
    expect(missing.headers['content-type']).toMatch(/^text\/html/);
    expect((await raw('GET', '/ui/models/..%2f/versions', auth(READ))).status).toBe(400);
  });
});
