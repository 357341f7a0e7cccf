import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BadInputError,
  LOCAL_ACCESS_KEY,
  LOCAL_SECRET_KEY,
  NotFoundError,
  PermissionError,
  TransientError,
} from '@seqtrain/contracts';
import { startLocalS3, type LocalS3 } from '@seqtrain/local-stack';
import { BlobExistsError, FsBlobStore, S3BlobStore, type BlobStore } from '@seqtrain/storage';

const creds = { accessKeyId: LOCAL_ACCESS_KEY, secretAccessKey: LOCAL_SECRET_KEY, region: 'us-east-1' };
function failIfResolved(): never {
  throw new Error('expected the call to fail');
}

const fastRetry = { attempts: 4, baseDelayMs: 10, maxDelayMs: 50 };

let s3: LocalS3;
let tmp: string;
beforeAll(async () => {
  tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'storage-test-'));
  s3 = await startLocalS3({ dir: path.join(tmp, 's3'), bucket: 'test-bucket' });
});
afterAll(async () => {
  await s3.stop();
  await fsp.rm(tmp, { recursive: true, force: true });
});

// The same behavioural contract for both adapters.
const adapters: [string, () => BlobStore][] = [
  [
    's3',
    () =>
      new S3BlobStore({
        ...creds,
        bucket: 'test-bucket',
        endpoint: s3.endpoint,
        listPageSize: 7,
        retry: fastRetry,
      }),
  ],
  ['fs', () => new FsBlobStore(path.join(tmp, 'fs'))],
];

describe.each(adapters)('%s adapter', (_name, make) => {
  it('puts, gets, heads and deletes', async () => {
    const store = make();
    const body = randomBytes(1000);
    await store.put('a/b/c.bin', body);
    expect(Buffer.from(await store.get('a/b/c.bin')).equals(body)).toBe(true);
    expect((await store.head('a/b/c.bin'))?.size).toBe(1000);
    await store.delete('a/b/c.bin');
    expect(await store.head('a/b/c.bin')).toBeUndefined();
    await expect(store.get('a/b/c.bin')).rejects.toBeInstanceOf(NotFoundError);
    await store.delete('a/b/c.bin'); // deleting a missing key is fine
  });

  // The guard behind registry versions and alias events: on S3 the server itself must refuse.
  it('refuses a second conditional write of a key and keeps the first bytes', async () => {
    const store = make();
    const key = `guard/${randomBytes(4).toString('hex')}/v1.json`;
    await store.put(key, 'first', { ifNoneMatch: true });
    const err = await store.put(key, 'second', { ifNoneMatch: true }).then(failIfResolved, (e: unknown) => e);
    expect(err).toBeInstanceOf(BlobExistsError);
    expect(new TextDecoder().decode(await store.get(key))).toBe('first');
    // Two writers racing for the same new key: exactly one wins.
    const race = `guard/${randomBytes(4).toString('hex')}/v2.json`;
    const results = await Promise.allSettled(
      Array.from({ length: 6 }, (_, i) => store.put(race, `writer ${i}`, { ifNoneMatch: true })),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(BlobExistsError);
    const winner = results.findIndex((r) => r.status === 'fulfilled');
    expect(new TextDecoder().decode(await store.get(race))).toBe(`writer ${winner}`);
  });

  it('reads byte ranges inclusively', async () => {
    const store = make();
    const body = randomBytes(4096);
    await store.put('range/obj', body);
    const part = await store.getRange('range/obj', { start: 100, end: 199 });
    expect(part.byteLength).toBe(100);
    expect(Buffer.from(part).equals(body.subarray(100, 200))).toBe(true);
    await expect(store.getRange('range/obj', { start: 10, end: 5 })).rejects.toBeInstanceOf(BadInputError);
  });

  it('lists every key under a prefix across pages, sorted', async () => {
    const store = make();
    const keys = Array.from({ length: 23 }, (_, i) => `list/p/${String(i).padStart(3, '0')}`);
    await Promise.all(keys.map((k) => store.put(k, k)));
    await store.put('list/other', 'x');
    const listed = await store.list('list/p/');
    expect(listed.map((b) => b.key)).toEqual(keys);
    await store.deleteMany(keys);
    expect(await store.list('list/p/')).toEqual([]);
  });

  it('hands a listing out page by page, resuming after a key', async () => {
    const store = make();
    const keys = Array.from({ length: 11 }, (_, i) => `pages/p/${String(i).padStart(3, '0')}`);
    await Promise.all(keys.map((k) => store.put(k, k)));
    await store.put('pages/q', 'x');
    const pages: string[][] = [];
    for await (const page of store.listPages('pages/p/', { pageSize: 4 })) pages.push(page.map((b) => b.key));
    expect(pages.map((p) => p.length)).toEqual([4, 4, 3]);
    expect(pages.flat()).toEqual(keys);
    const after: string[] = [];
    for await (const page of store.listPages('pages/p/', { startAfter: keys[7] }))
      after.push(...page.map((b) => b.key));
    expect(after).toEqual(keys.slice(8));
    const none: string[] = [];
    for await (const page of store.listPages('pages/p/', { startAfter: keys[10] }))
      none.push(...page.map((b) => b.key));
    expect(none).toEqual([]);
    await store.deleteMany([...keys, 'pages/q']);
  });

  it('rejects keys that could escape their prefix', async () => {
    const store = make();
    for (const key of ['../x', 'a/../../b', '/abs', 'a//b', 'a\\b', '']) {
      await expect(store.put(key, 'x')).rejects.toThrow(/blob key/);
    }
  });
});

describe('S3 adapter', () => {
  it('uploads large objects in parts and reads them back', async () => {
    const store = new S3BlobStore({
      ...creds,
      bucket: 'test-bucket',
      endpoint: s3.endpoint,
      multipartThreshold: 5 * 1024 * 1024,
      partSize: 5 * 1024 * 1024,
    });
    const body = randomBytes(11 * 1024 * 1024 + 3);
    await store.put('big/object.bin', body);
    expect(Buffer.from(await store.get('big/object.bin')).equals(body)).toBe(true);
    expect((await store.head('big/object.bin'))?.size).toBe(body.byteLength);
  });

  it('names bucket and key in errors and never the credentials', async () => {
    const missing = new S3BlobStore({
      ...creds,
      bucket: 'no-such-bucket',
      endpoint: s3.endpoint,
      retry: fastRetry,
    });
    const notFound = await missing.get('some/key').then(failIfResolved, (e: unknown) => e as Error);
    expect(notFound).toBeInstanceOf(NotFoundError);
    expect(notFound.message).toContain('s3://no-such-bucket/some/key');
    expect(notFound.message).toContain('bucket no-such-bucket does not exist');

    const wrongKey = new S3BlobStore({
      region: 'us-east-1',
      accessKeyId: 'AKIDSECRETISH',
      secretAccessKey: 'sUpErSeCrEt',
      bucket: 'test-bucket',
      endpoint: s3.endpoint,
      retry: fastRetry,
    });
    const denied = await wrongKey.get('some/key').then(failIfResolved, (e: unknown) => e as Error);
    expect(denied.message).toContain('s3://test-bucket/some/key');
    expect(denied.message).toMatch(/access denied \((403|InvalidAccessKeyId|XAdminUserNotFound)/);
    // Refused credentials are final: Temporal must not retry them.
    expect(denied).toBeInstanceOf(PermissionError);
    expect(denied.message).not.toContain('sUpErSeCrEt');
  });

  it('retries 5xx and throttling, but not 4xx', async () => {
    // A proxy in front of the real server that fails the first requests it sees.
    let failuresLeft = 0;
    let failStatus = 503;
    let requests = 0;
    const proxy = http.createServer((req, res) => {
      requests++;
      if (failuresLeft > 0) {
        failuresLeft--;
        res.writeHead(failStatus, { 'content-type': 'application/xml' });
        res.end(
          `<?xml version="1.0"?><Error><Code>${failStatus === 503 ? 'SlowDown' : 'AccessDenied'}</Code><Message>injected</Message></Error>`,
        );
        return;
      }
      const upstream = http.request(
        { host: '127.0.0.1', port: s3.port, path: req.url, method: req.method, headers: req.headers },
        (u) => {
          res.writeHead(u.statusCode ?? 500, u.headers);
          u.pipe(res);
        },
      );
      req.pipe(upstream);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const endpoint = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    const store = new S3BlobStore({ ...creds, bucket: 'test-bucket', endpoint, retry: fastRetry });
    try {
      failuresLeft = 2;
      requests = 0;
      await store.put('retry/ok', 'payload');
      expect(requests).toBe(3);

      failuresLeft = 10;
      requests = 0;
      await expect(store.get('retry/ok')).rejects.toBeInstanceOf(TransientError);
      expect(requests).toBe(fastRetry.attempts);

      failStatus = 403;
      failuresLeft = 1;
      requests = 0;
      const err = await store.get('retry/ok').then(failIfResolved, (e: unknown) => e as Error);
      expect(err.message).toMatch(/s3:\/\/test-bucket\/retry\/ok.*(403|AccessDenied)/);
      expect(err).toBeInstanceOf(PermissionError);
      expect(requests).toBe(1);
    } finally {
      proxy.close();
    }
  });

  it('rides out a short S3 outage', async () => {
    const dir = path.join(tmp, 'outage');
    const local = await startLocalS3({ dir, bucket: 'outage' });
    const store = new S3BlobStore({
      ...creds,
      bucket: 'outage',
      endpoint: local.endpoint,
      retry: { attempts: 10, baseDelayMs: 100, maxDelayMs: 500 },
    });
    await store.put('k', 'v1');
    await local.stop();
    const pending = store.get('k');
    setTimeout(() => void local.restart(), 800);
    expect(new TextDecoder().decode(await pending)).toBe('v1');
    await local.stop();
  });
});
