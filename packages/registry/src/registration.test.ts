import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BlobExistsError, FsBlobStore, S3BlobStore, sha256Hex, type BlobStore } from '@seqtrain/storage';
import { CorruptDataError, LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY, NotFoundError } from '@seqtrain/contracts';
import { startLocalS3, type LocalS3 } from '@seqtrain/local-stack';
import {
  InProcessCoordinator,
  ModelRegistry,
  publishVersion,
  writeAliasEvent,
  writeModelFiles,
} from './index';
import { buildTinyLstm, modelFiles, testCard } from '../test/test-model';

let dir: string;
let s3: LocalS3;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'registry-'));
  s3 = await startLocalS3({ dir: path.join(dir, 's3'), bucket: 'registry-guard' });
});
afterAll(async () => {
  await s3.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('registration (in-process coordinator)', () => {
  it('numbers 20 concurrent registrations 1..20 without gaps or duplicates; a retry keeps its version', async () => {
    const store = new FsBlobStore(path.join(dir, 'concurrent'));
    const registry = new ModelRegistry(store, new InProcessCoordinator(store));
    const files = await modelFiles(buildTinyLstm(1));
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        registry.registerModel({
          name: 'tiny',
          runKey: `run-${i}`,
          artifacts: files,
          card: testCard({ workflowId: `run-${i}` }),
        }),
      ),
    );
    expect(results.map((r) => r.version).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
    expect(results.every((r) => r.created)).toBe(true);
    expect(await registry.listVersions('tiny')).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));

    const weights = (files.weightFiles as Map<string, Uint8Array>).get('weights.bin');
    for (const r of results) {
      const card = await registry.getCard('tiny', r.version);
      const runIndex = results.indexOf(r);
      expect(card).toMatchObject({
        name: 'tiny',
        version: r.version,
        runKey: `run-${runIndex}`,
        workflowId: `run-${runIndex}`,
      });
      expect(card.files.find((f) => f.name === 'weights.bin')?.sha256).toBe(
        sha256Hex(weights ?? new Uint8Array()),
      );
      expect((await registry.readFile('tiny', r.version, 'weights.bin')).bytes).toEqual(weights);
    }

    const retried = await registry.registerModel({
      name: 'tiny',
      runKey: 'run-7',
      artifacts: files,
      card: testCard(),
    });
    expect(retried).toEqual({ name: 'tiny', version: results[7]?.version, created: false });
    expect(await registry.listVersions('tiny')).toHaveLength(20);
    // Staging objects are cleaned up after registration.
    expect((await store.list('registry/tiny/staging/')).length).toBe(0);
  });

  it('a fresh coordinator over the same store continues the numbering and remembers runs', async () => {
    const store = new FsBlobStore(path.join(dir, 'restart'));
    const files = await modelFiles(buildTinyLstm(2));
    const first = new ModelRegistry(store, new InProcessCoordinator(store));
    await first.registerModel({ name: 'm', runKey: 'a', artifacts: files, card: testCard() });
    await first.registerModel({ name: 'm', runKey: 'b', artifacts: files, card: testCard() });
    const second = new ModelRegistry(store, new InProcessCoordinator(store));
    expect(
      await second.registerModel({ name: 'm', runKey: 'a', artifacts: files, card: testCard() }),
    ).toMatchObject({ version: 1, created: false });
    expect(
      await second.registerModel({ name: 'm', runKey: 'c', artifacts: files, card: testCard() }),
    ).toMatchObject({ version: 3, created: true });
  });

  it('rejects bad names and cards with messages naming the field', async () => {
    const store = new FsBlobStore(path.join(dir, 'bad'));
    const registry = new ModelRegistry(store, new InProcessCoordinator(store));
    const files = await modelFiles(buildTinyLstm(3));
    await expect(
      registry.registerModel({ name: '../etc', runKey: 'x', artifacts: files, card: testCard() }),
    ).rejects.toThrow(/model name "..\/etc"/);
    await expect(
      registry.registerModel({
        name: 'ok',
        runKey: 'x',
        artifacts: files,
        card: { ...testCard(), codeVersion: '' },
      }),
    ).rejects.toThrow(/codeVersion/);
  });

  it('a half-written version is invisible and is replaced by the next registration', async () => {
    const store = new FsBlobStore(path.join(dir, 'crash'));
    const files = await modelFiles(buildTinyLstm(4));
    const registry = new ModelRegistry(store, new InProcessCoordinator(store));
    await registry.registerModel({ name: 'm', runKey: 'a', artifacts: files, card: testCard() });
    // A writer died after copying weights for version 2 but before its card.
    await writeModelFiles(store, 'registry/m/versions/2/', files);
    await store.put('registry/m/versions/2/leftover.bin', new Uint8Array([1, 2, 3]));
    expect(await registry.listVersions('m')).toEqual([1]);
    expect((await registry.resolve('m')).version).toBe(1);

    const fresh = new ModelRegistry(store, new InProcessCoordinator(store));
    expect(
      await fresh.registerModel({ name: 'm', runKey: 'b', artifacts: files, card: testCard() }),
    ).toMatchObject({ version: 2 });
    expect((await store.list('registry/m/versions/2/')).map((b) => b.key.split('/').pop())).toEqual([
      'card.json',
      'model.json',
      'weights.bin',
    ]);
  });

  it('never overwrites a published version: a conflicting publish fails, the same run is idempotent', async () => {
    const store = new FsBlobStore(path.join(dir, 'guard'));
    const files = await modelFiles(buildTinyLstm(5));
    await writeModelFiles(store, 'src/', files);
    const input = {
      name: 'g',
      version: 1,
      runKey: 'run-1',
      sourcePrefix: 'src/',
      card: testCard(),
      createdAt: '2026-01-01T00:00:00.000Z',
    };
    const card = await publishVersion(store, input);
    expect(await publishVersion(store, input)).toEqual(card);
    await expect(publishVersion(store, { ...input, runKey: 'run-2' })).rejects.toBeInstanceOf(
      CorruptDataError,
    );
    expect(
      JSON.parse(new TextDecoder().decode(await store.get('registry/g/versions/1/card.json'))),
    ).toMatchObject({ runKey: 'run-1' });
  });
});

/**
 * The second guard behind the serialisation point: card.json and alias events are written with
 * If-None-Match: *, so a writer that lost a race cannot overwrite. Proven on the embedded stack's
 * real S3 server as on the filesystem store.
 */
describe.each([
  ['filesystem', (sub: string): BlobStore => new FsBlobStore(path.join(dir, sub))],
  [
    'local S3 server',
    // One bucket for both tests: they use different model names.
    (): BlobStore =>
      new S3BlobStore({
        endpoint: s3.endpoint,
        bucket: 'registry-guard',
        region: 'us-east-1',
        accessKeyId: LOCAL_ACCESS_KEY,
        secretAccessKey: LOCAL_SECRET_KEY,
      }),
  ],
])('overwrite guards on the %s store', (_name, make) => {
  it('a publish that missed the existing card (a race) is refused by the store, not written over it', async () => {
    const store = make('race');
    const files = await modelFiles(buildTinyLstm(6));
    await writeModelFiles(store, 'src/', files);
    const input = {
      name: 'r',
      version: 1,
      runKey: 'run-1',
      sourcePrefix: 'src/',
      card: testCard(),
      createdAt: '2026-01-01T00:00:00.000Z',
    };
    await publishVersion(store, input);
    // The loser's check for an existing card ran before the winner wrote it.
    let hidden = false;
    const racing: BlobStore = Object.create(store, {
      get: {
        value: async (key: string) => {
          if (!hidden && key.endsWith('versions/1/card.json')) {
            hidden = true;
            throw new NotFoundError(`${key}: no such object`);
          }
          return store.get(key);
        },
      },
    }) as BlobStore;
    const err = await publishVersion(racing, { ...input, runKey: 'run-2' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(hidden).toBe(true);
    expect(err).toBeInstanceOf(CorruptDataError);
    expect((err as Error).message).toContain('already belongs to run "run-1"');
    expect(
      JSON.parse(new TextDecoder().decode(await store.get('registry/r/versions/1/card.json'))),
    ).toMatchObject({ runKey: 'run-1' });
    // The raw guard: the card key itself cannot be written twice.
    await expect(
      store.put('registry/r/versions/1/card.json', '{}', { ifNoneMatch: true }),
    ).rejects.toBeInstanceOf(BlobExistsError);
  });

  it('an alias event number holds one event: a different event under it is refused, a retry is fine', async () => {
    const store = make('alias');
    const files = await modelFiles(buildTinyLstm(7));
    const registry = new ModelRegistry(store, new InProcessCoordinator(store));
    for (const runKey of ['a', 'b'])
      await registry.registerModel({ name: 'al', runKey, artifacts: files, card: testCard() });
    const event = {
      model: 'al',
      alias: 'production',
      seq: 1,
      kind: 'promote' as const,
      from: null,
      to: 1,
      actor: 'ci',
      reason: 'first',
      at: '2026-01-01T00:00:00.000Z',
    };
    await writeAliasEvent(store, event);
    await expect(writeAliasEvent(store, event)).resolves.toEqual(event);
    await expect(writeAliasEvent(store, { ...event, to: 2, reason: 'second writer' })).rejects.toBeInstanceOf(
      CorruptDataError,
    );
    const keys = (await store.list('registry/al/aliases/')).map((b) => b.key);
    expect(keys).toHaveLength(1);
    expect(JSON.parse(new TextDecoder().decode(await store.get(keys[0] ?? '')))).toMatchObject({
      to: 1,
      reason: 'first',
    });
  });
});
