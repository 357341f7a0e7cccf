/**
 * Bad-input suite (property-based) for the registry HTTP API over real local S3: random methods,
 * paths (dot segments, encodings, odd names), queries, tokens, content types and bodies get a 2xx,
 * a 304 or a 4xx with a JSON error naming its type, never a 5xx or a hung connection; random alias
 * moves leave only whole, valid alias events behind.
 */
import { request } from 'node:http';
import { connect } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack } from '@seqtrain/local-stack';
import { createBlobStore, type S3BlobStore } from '@seqtrain/storage';
import {
  InProcessCoordinator,
  ModelRegistry,
  parseRegistryTokens,
  startRegistryServer,
  type RunningRegistryServer,
} from './index';
import { buildTinyLstm, modelFiles, testCard } from '../test/test-model';

const READ = 'prop-reader-token';
const WRITE = 'prop-writer-token';

let stack: TestStack;
let store: S3BlobStore;
let registry: ModelRegistry;
let server: RunningRegistryServer;
const unexpected: unknown[] = [];

interface Reply {
  status: number;
  type: string | undefined;
  body: string;
}

function send(method: string, path: string, headers: Record<string, string>, body?: string): Promise<Reply> {
  const url = new URL(server.url);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: url.hostname, port: url.port, method, path, headers, timeout: 10_000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            type: res.headers['content-type'],
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within 10 s`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** Path segments: the API's own words, valid names, and what a confused or hostile client sends. */
const segment = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.constantFrom('weather', 'versions', 'aliases', 'production', 'history', '1', '2'),
  },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      'model.json',
      'weights.bin',
      'card.json',
      'canary',
      'latest',
      'nope',
      'staging',
    ),
  },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      '',
      '.',
      '..',
      '%2e%2e',
      '%2E',
      '%2f',
      '%5C',
      '%00',
      '%ff',
      '%',
      '%zz',
      '0',
      '-1',
      '01',
      '1e3',
      '9007199254740993',
      'A',
      'Weather',
      '_x',
      'a'.repeat(70),
      '~',
      "'",
      '"',
      '<script>',
      '\u00e9',
      '?',
      '#',
    ),
  },
  {
    weight: 1,
    arbitrary: fc
      .string({ maxLength: 12 })
      .map((s) => [...s].filter((c) => c >= '\u0021' && c <= '\u00ff' && c !== '/').join('')),
  },
);

const odd = (weight: number, valid: fc.Arbitrary<string>): fc.Arbitrary<string> =>
  fc.oneof({ weight, arbitrary: valid }, { weight: 1, arbitrary: segment });

/** Mostly the API's own shape with one or two odd parts, sometimes anything at all. */
const structuredPath = fc
  .tuple(
    odd(6, fc.constant('weather')),
    odd(5, fc.constantFrom('versions', 'aliases')),
    odd(5, fc.constantFrom('1', '2', '3', 'production', 'canary')),
    odd(4, fc.constantFrom('model.json', 'weights.bin', 'card.json', 'history')),
    fc.integer({ min: 0, max: 4 }),
  )
  .map(([name, kind, x, y, depth]) => ['/v1/models', name, kind, x, y].slice(0, depth + 1).join('/'));

const pathArb = fc
  .tuple(
    fc.oneof(
      { weight: 8, arbitrary: structuredPath },
      {
        weight: 2,
        arbitrary: fc
          .tuple(
            fc.constantFrom(
              '/v1/models',
              '/v1/models/',
              '/v1',
              '/',
              '/openapi.json',
              '/healthz',
              '/v2/models',
            ),
            fc.array(segment, { maxLength: 5 }),
          )
          .map(([base, segs]) => `${base}${segs.length ? `/${segs.join('/')}` : ''}`),
      },
      { weight: 1, arbitrary: fc.constant(`/v1/models/${'a'.repeat(2100)}`) },
    ),
    fc.option(
      fc.oneof(
        fc.constantFrom(
          'at=1',
          'at=2026-01-01T00:00:00Z',
          'at=',
          'at=abc',
          'at=2026-13-40',
          'at=%ff',
          'x=1&at=0',
          '&&',
        ),
        fc.string({ maxLength: 10 }).map((s) => encodeURIComponent(s)),
      ),
      { nil: undefined, freq: 3 },
    ),
  )
  .map(([p, q]) => `${p}${q === undefined ? '' : `?${q}`}`.replace(/^\/\/+/, '/'));

const bodyArb = fc.oneof(
  fc
    .record(
      {
        kind: fc.constantFrom('promote', 'rollback', 'delete', '', 1),
        version: fc.oneof(fc.constantFrom(1, 2, 3, 0, -1, 1.5, '1', null), fc.integer()),
        reason: fc.oneof(fc.constantFrom('fuzz', '', 'x'.repeat(3000)), fc.string({ maxLength: 20 })),
        actor: fc.oneof(fc.string({ maxLength: 10 }), fc.constant(null)),
        expectedFrom: fc.oneof(fc.constantFrom(null, 1, 2, 0, 'x'), fc.integer()),
        extra: fc.jsonValue({ maxDepth: 1 }),
      },
      { requiredKeys: [] },
    )
    .map((o) => JSON.stringify(o)),
  fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v)),
  fc.string({ maxLength: 40 }),
  fc.constantFrom(
    '',
    '{',
    'null',
    '[]',
    '{"reason":"ok","version":1}',
    '{"reason":"ok","version":2}',
    '{"kind":"rollback","reason":"back"}',
    '{"__proto__":{"x":1},"reason":"p"}',
    `{"reason":"${'x'.repeat(20_000)}"}`,
  ),
);

const anyRequest = fc.record({
  method: fc.constantFrom('GET', 'GET', 'GET', 'HEAD', 'POST', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'),
  path: pathArb,
  auth: fc.constantFrom(
    `Bearer ${READ}`,
    `Bearer ${WRITE}`,
    `Bearer ${WRITE}`,
    undefined,
    'Bearer',
    'Bearer ',
    `bearer ${READ}`,
    `Basic ${READ}`,
    'Bearer wrong-token',
    `Bearer ${READ} extra`,
  ),
  contentType: fc.constantFrom(
    'application/json',
    'application/json; charset=utf-8',
    'text/plain',
    undefined,
    '',
  ),
  ifNoneMatch: fc.option(fc.constantFrom('*', '"abc"', 'W/"x"', ''), { nil: undefined }),
  body: fc.option(bodyArb, { nil: undefined }),
});

/** Alias moves, the one write: every token, content type and body against the alias routes. */
const aliasMove = fc.record({
  method: fc.constant('POST'),
  path: fc
    .tuple(
      fc.constantFrom('production', 'canary', 'Prod', '..', 'x'.repeat(70)),
      fc.constantFrom('', '/history'),
    )
    .map(([a, tail]) => `/v1/models/weather/aliases/${a}${tail}`),
  auth: fc.constantFrom(`Bearer ${WRITE}`, `Bearer ${WRITE}`, `Bearer ${READ}`, undefined, 'Bearer nope'),
  contentType: fc.constantFrom('application/json', 'application/json', 'text/plain', undefined),
  ifNoneMatch: fc.constant(undefined),
  body: fc.option(
    fc.oneof(
      { weight: 6, arbitrary: bodyArb },
      { weight: 1, arbitrary: fc.constant(`{"reason":"${'y'.repeat(17_000)}"}`) },
    ),
    { nil: undefined, freq: 8 },
  ),
});

interface FuzzRequest {
  method: string;
  path: string;
  auth: string | undefined;
  contentType: string | undefined;
  ifNoneMatch: string | undefined;
  body: string | undefined;
}

const requestArb: fc.Arbitrary<FuzzRequest> = fc.oneof(
  { weight: 3, arbitrary: anyRequest },
  { weight: 1, arbitrary: aliasMove },
);

beforeAll(async () => {
  stack = await startTestStack({});
  store = createBlobStore(stack.config);
  registry = new ModelRegistry(store, new InProcessCoordinator(store));
  const files = await modelFiles(buildTinyLstm(5));
  for (const runKey of ['prop-1', 'prop-2'])
    await registry.registerModel({ name: 'weather', runKey, artifacts: files, card: testCard() });
  await registry.promote('weather', 'production', 1, { reason: 'start' });
  server = await startRegistryServer({
    registry,
    tokens: parseRegistryTokens(`${READ}:read,${WRITE}:read+write`),
    onError: (err) => unexpected.push(err),
  });
}, 180_000);

afterAll(async () => {
  await server?.close();
  await stack?.stop();
});

describe('registry HTTP API under random requests', () => {
  it('answers every request with 2xx, 304 or a JSON 4xx, never a 5xx', async () => {
    const ex: FuzzRequest = {
      method: 'GET',
      path: '/v1/models/weather',
      auth: `Bearer ${WRITE}`,
      contentType: 'application/json',
      ifNoneMatch: undefined,
      body: '{"reason":"example","version":2}',
    };
    const big = `{"reason":"${'z'.repeat(17_000)}"}`;
    const seen = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(requestArb, async (r) => {
        const headers: Record<string, string> = {};
        if (r.auth !== undefined) headers.Authorization = r.auth;
        if (r.contentType !== undefined) headers['Content-Type'] = r.contentType;
        if (r.ifNoneMatch !== undefined) headers['If-None-Match'] = r.ifNoneMatch;
        if (r.body !== undefined) headers['Content-Length'] = String(Buffer.byteLength(r.body));
        const reply = await send(r.method, r.path, headers, r.body);
        seen.set(reply.status, (seen.get(reply.status) ?? 0) + 1);
        expect(reply.status, `${r.method} ${r.path}: ${reply.body}`).toBeLessThan(500);
        if (reply.status >= 400 && r.method !== 'HEAD') {
          expect(reply.type, `${r.method} ${r.path} -> ${reply.status} ${reply.body}`).toMatch(
            /^application\/json/,
          );
          const e = (
            JSON.parse(reply.body) as { error?: { type?: string; status?: number; message?: string } }
          ).error;
          expect(e?.status).toBe(reply.status);
          expect(typeof e?.type).toBe('string');
          expect(e?.message?.length ?? 0).toBeGreaterThan(0);
        }
      }),
      {
        numRuns: 2000,
        // One known request per refusal, so every status below is reached whatever the seed.
        examples: [
          [{ ...ex, method: 'POST', path: '/v1/models/weather/aliases/production', body: big }],
          [{ ...ex, method: 'POST', path: '/v1/models/weather/aliases/production', auth: `Bearer ${READ}` }],
          [
            {
              ...ex,
              method: 'POST',
              path: '/v1/models/weather/aliases/production',
              contentType: 'text/plain',
            },
          ],
          [{ ...ex, path: `/v1/models/${'a'.repeat(2100)}` }],
          [{ ...ex, auth: undefined }],
          [{ ...ex, path: '/v1/models/weather/versions/7' }],
          [{ ...ex, method: 'DELETE' }],
          [{ ...ex, path: '/v1/models/weather/aliases/production/history?at=abc' }],
        ],
      },
    );
    console.log(
      `[http-fuzz] statuses ${JSON.stringify(Object.fromEntries([...seen].sort((a, b) => a[0] - b[0])))}`,
    );
    expect(unexpected).toEqual([]);
    // The mix reached the handlers, not only the router's refusals.
    expect(seen.get(200) ?? 0).toBeGreaterThan(50);
    for (const status of [400, 401, 403, 404, 405, 413, 414, 415])
      expect(seen.get(status) ?? 0).toBeGreaterThan(0);
  }, 600_000);

  it('answers malformed HTTP with a JSON 400 too', async () => {
    const url = new URL(server.url);
    const garbage = fc.oneof(
      fc.constantFrom(
        'GET /v1/models HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n',
        'GET /v1/models HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
        'GET /v1/models HTTP/9.9\r\n\r\n',
        'BREW /v1/models HTTP/1.1\r\n\r\n',
        'GET /v1/models HTTP/1.1\r\nBad Header\r\n\r\n',
        '\u0000\u0001\u0002\r\n\r\n',
      ),
      fc.string({ minLength: 1, maxLength: 60 }).map((s) => `${s}\r\n\r\n`),
    );
    await fc.assert(
      fc.asyncProperty(garbage, async (text) => {
        const answer = await new Promise<string>((resolve, reject) => {
          const sock = connect(Number(url.port), url.hostname, () => sock.end(text));
          const chunks: Buffer[] = [];
          sock.setTimeout(10_000, () => sock.destroy(new Error('no answer within 10 s')));
          sock.on('data', (c: Buffer) => chunks.push(c));
          sock.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
          sock.on('error', reject);
        });
        const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0);
        expect(status, JSON.stringify(answer)).toBeGreaterThanOrEqual(200);
        expect(status, JSON.stringify(answer)).toBeLessThan(500);
        if (status >= 400) expect(answer).toMatch(/Content-Type: application\/json[^]*"error":\{"type":"/i);
      }),
      { numRuns: 200 },
    );
  }, 120_000);

  it('leaves only whole, numbered, valid alias events and intact versions behind', async () => {
    const keys = (await store.list('registry/weather/aliases/')).map((b) => b.key);
    const aliases = [...new Set(keys.map((k) => k.split('/')[3] as string))];
    expect(aliases).toContain('production');
    for (const alias of aliases) {
      const events = await registry.aliasHistory('weather', alias);
      expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
      for (const e of events) expect([1, 2]).toContain(e.to);
    }
    expect(await registry.listVersions('weather')).toEqual([1, 2]);
    for (const v of [1, 2])
      for (const f of (await registry.getCard('weather', v)).files)
        await expect(registry.readFile('weather', v, f.name)).resolves.toBeDefined();
  });
});
