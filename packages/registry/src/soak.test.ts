/**
 * The registry server as a long-lived process, over real local S3: thousands of requests across
 * many models leave memory flat and every cache within its bound; concurrent downloads of large
 * weights hold a chunk per request, not the file; alias history reads are bounded in fan-out and
 * an alias lookup lists only the events it has not seen.
 */
import { createHash } from 'node:crypto';
import { request } from 'node:http';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack } from '@seqtrain/local-stack';
import { createBlobStore, type BlobStore, type ListOptions, type S3BlobStore } from '@seqtrain/storage';
import {
  InProcessCoordinator,
  ModelRegistry,
  parseRegistryTokens,
  startRegistryServer,
  type RunningRegistryServer,
} from './index';
import { buildTinyLstm, modelFiles, testCard } from '../test/test-model';

const TOKEN = 'soak-reader-token';
const MODELS = 60;
const VERSIONS = 2;
const BIG = 24 * 1024 * 1024;
const LIMITS = { cards: 32, events: 64, aliasHeads: 16, verifiedFiles: 8, concurrency: 8 };

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

let stack: TestStack;
let store: S3BlobStore;
let registry: ModelRegistry;
let server: RunningRegistryServer;
let bigSha = '';

/** GET with the body hashed as it arrives (the client keeps nothing): status and sha256. */
function get(path: string): Promise<{ status: number; sha256: string; bytes: number }> {
  const url = new URL(server.url);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: url.hostname, port: url.port, path, headers: { Authorization: `Bearer ${TOKEN}` } },
      (res) => {
        const hash = createHash('sha256');
        let bytes = 0;
        res.on('data', (c: Buffer) => {
          hash.update(c);
          bytes += c.byteLength;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, sha256: hash.digest('hex'), bytes }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

function heapAfterGc(): number {
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/** Deterministic request mix over every model, version and alias. */
function* requestMix(count: number): Generator<string> {
  let s = 12345;
  const rnd = (n: number): number => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return s % n;
  };
  for (let i = 0; i < count; i++) {
    const m = `soak-${String(rnd(MODELS)).padStart(3, '0')}`;
    const v = 1 + rnd(VERSIONS);
    const routes = [
      `/v1/models`,
      `/v1/models/${m}`,
      `/v1/models/${m}/versions`,
      `/v1/models/${m}/versions/${v}`,
      `/v1/models/${m}/versions/${v}/model.json`,
      `/v1/models/${m}/versions/${v}/weights.bin`,
      `/v1/models/${m}/aliases/production`,
      `/v1/models/${m}/aliases/production/history`,
      `/v1/models/${m}/aliases/production/model.json`,
      `/v1/models/${m}/aliases/production/weights.bin`,
    ];
    yield routes[rnd(routes.length)] as string;
  }
}

async function runRequests(paths: Iterable<string>, concurrency: number): Promise<number> {
  const it = paths[Symbol.iterator]();
  let failures = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let n = it.next(); !n.done; n = it.next()) {
        const r = await get(n.value);
        if (r.status !== 200) failures++;
      }
    }),
  );
  return failures;
}

beforeAll(async () => {
  stack = await startTestStack({});
  store = createBlobStore(stack.config);
  const coordinator = new InProcessCoordinator(store);
  registry = new ModelRegistry(store, coordinator, LIMITS);
  const files = await modelFiles(buildTinyLstm(3));
  for (let m = 0; m < MODELS; m++) {
    const name = `soak-${String(m).padStart(3, '0')}`;
    for (let v = 1; v <= VERSIONS; v++)
      await registry.registerModel({ name, runKey: `${name}-${v}`, artifacts: files, card: testCard() });
    await registry.promote(name, 'production', 1, { reason: 'first' });
    await registry.promote(name, 'production', 2, { reason: 'second' });
  }
  // One model with large weights (the bytes need not be a trained model to be served).
  const big = new Uint8Array(BIG);
  for (let i = 0; i < BIG; i += 4096) big[i] = (i / 4096) % 251;
  bigSha = createHash('sha256').update(big).digest('hex');
  const modelJson = JSON.stringify({
    modelTopology: { class_name: 'Sequential', config: { layers: [] } },
    format: 'layers-model',
    weightsManifest: [{ paths: ['weights.bin'], weights: [] }],
  });
  await registry.registerModel({
    name: 'soak-big',
    runKey: 'soak-big-1',
    artifacts: { modelJson, weightFiles: new Map([['weights.bin', big]]) },
    card: testCard(),
  });
  server = await startRegistryServer({ registry, tokens: parseRegistryTokens(`${TOKEN}:read`) });
}, 300_000);

afterAll(async () => {
  await server?.close();
  await stack?.stop();
});

describe('registry server under sustained load', () => {
  it('answers 3000 requests over 60 models with flat memory and bounded caches', async () => {
    expect(await runRequests(requestMix(600), 16)).toBe(0);
    const warm = heapAfterGc();
    const samples: number[] = [];
    for (let round = 0; round < 4; round++) {
      expect(await runRequests(requestMix(600), 16)).toBe(0);
      samples.push(heapAfterGc());
    }
    const growth = Math.max(...samples) - warm;
    console.log(
      `[soak] heap+arrayBuffers after warm-up ${(warm / 2 ** 20).toFixed(1)} MiB, rounds ${samples
        .map((b) => (b / 2 ** 20).toFixed(1))
        .join(', ')} MiB; caches ${JSON.stringify(registry.cacheSizes())}`,
    );
    expect(growth).toBeLessThan(8 * 2 ** 20);
    const sizes = registry.cacheSizes();
    expect(sizes.cards).toBeLessThanOrEqual(LIMITS.cards);
    expect(sizes.events).toBeLessThanOrEqual(LIMITS.events);
    expect(sizes.aliasHeads).toBeLessThanOrEqual(LIMITS.aliasHeads);
    expect(sizes.verifiedFiles).toBeLessThanOrEqual(LIMITS.verifiedFiles);
    // The bounds were reached: the mix touches more than each cache may hold.
    expect(sizes.cards).toBe(LIMITS.cards);
  }, 300_000);

  it('serves 12 concurrent downloads of 24 MiB weights holding chunks, not files', async () => {
    const path = '/v1/models/soak-big/versions/1/weights.bin';
    expect((await get(path)).sha256).toBe(bigSha); // the one-time sha256 check
    const base = heapAfterGc();
    let peak = base;
    const timer = setInterval(() => {
      const m = process.memoryUsage();
      peak = Math.max(peak, m.heapUsed + m.arrayBuffers);
    }, 2);
    const results = await Promise.all(Array.from({ length: 12 }, () => get(path)));
    clearInterval(timer);
    for (const r of results) {
      expect(r.status).toBe(200);
      expect(r.bytes).toBe(BIG);
      expect(r.sha256).toBe(bigSha);
    }
    console.log(`[soak] 12 x 24 MiB downloads: peak above base ${((peak - base) / 2 ** 20).toFixed(1)} MiB`);
    // Buffering each response whole would hold 12 x 24 MiB (and the S3 read twice that).
    expect(peak - base).toBeLessThan(4 * BIG);

    // Replaced bytes (same size, new ETag) are checked again and refused before anything is sent.
    const key = 'registry/soak-big/versions/1/weights.bin';
    const tampered = await store.get(key);
    tampered[7] = (tampered[7] ?? 0) ^ 0xff;
    await store.put(key, tampered);
    const refused = await get(path);
    expect(refused.status).toBe(500);
    expect(refused.bytes).toBeLessThan(1024);
  }, 120_000);

  it('reads alias history at most `concurrency` events at a time and lists only new events', async () => {
    for (let i = 0; i < 40; i++)
      await registry.promote('soak-000', 'canary', 1 + (i % 2), { reason: `move ${i}` });
    let inFlight = 0;
    let maxInFlight = 0;
    const listed: (ListOptions | undefined)[] = [];
    const watched: BlobStore = Object.create(store, {
      get: {
        value: async (key: string) => {
          inFlight++;
          maxInFlight = Math.max(maxInFlight, inFlight);
          try {
            return await store.get(key);
          } finally {
            inFlight--;
          }
        },
      },
      listPages: {
        value: (prefix: string, options?: ListOptions) => {
          if (prefix.includes('/aliases/canary/')) listed.push(options);
          return store.listPages(prefix, options);
        },
      },
    }) as BlobStore;
    const reader = new ModelRegistry(watched, new InProcessCoordinator(watched), LIMITS);
    const history = await reader.aliasHistory('soak-000', 'canary');
    expect(history.map((e) => e.seq)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect(maxInFlight).toBeGreaterThan(1);
    expect(maxInFlight).toBeLessThanOrEqual(LIMITS.concurrency);

    listed.length = 0;
    expect((await reader.currentAlias('soak-000', 'canary'))?.seq).toBe(40);
    expect((await reader.currentAlias('soak-000', 'canary'))?.seq).toBe(40);
    await registry.promote('soak-000', 'canary', 1, { reason: 'one more' });
    expect((await reader.currentAlias('soak-000', 'canary'))?.seq).toBe(41);
    // The first lookup lists everything; later ones start after the newest event already seen.
    expect(listed[0]?.startAfter).toBeUndefined();
    expect(listed[1]?.startAfter).toMatch(/canary\/events\/0+40\.json$/);
    expect(listed[2]?.startAfter).toMatch(/canary\/events\/0+40\.json$/);
  }, 120_000);
});
