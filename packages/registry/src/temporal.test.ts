/**
 * Workflow tier: the real Temporal dev server, a real worker running the registry entity workflow,
 * real local S3. Proves that Temporal is a sound serialisation point for concurrent registrations.
 */
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack } from '@seqtrain/local-stack';
import {
  BadInputError,
  REGISTRY_WORKFLOW_TYPE,
  registryWorkflowId,
  TransientError,
} from '@seqtrain/contracts';
import { createBlobStore, sha256Hex, type BlobStore, type S3BlobStore } from '@seqtrain/storage';
import { createRegistryActivities, ModelRegistry, TemporalCoordinator } from './index';
import { buildTinyLstm, modelFiles, testCard } from '../test/test-model';

// The bundler needs the workflow source file; it is the worker's bundle entry in production too.
const WORKFLOWS = fileURLToPath(new URL('../../../workflows/src/registry.ts', import.meta.url));
const TASK_QUEUE = 'registry-test';

let stack: TestStack;
let store: S3BlobStore;
let worker: Worker;
let running: Promise<void>;
let connection: Connection;
let registry: ModelRegistry;
let client: Client;

beforeAll(async () => {
  stack = await startTestStack({ temporal: true });
  store = createBlobStore(stack.config);
  const address = stack.config.temporal.address;
  worker = await Worker.create({
    connection: await NativeConnection.connect({ address }),
    taskQueue: TASK_QUEUE,
    workflowsPath: WORKFLOWS,
    activities: createRegistryActivities({ store }),
  });
  running = worker.run();
  connection = await Connection.connect({ address });
  client = new Client({ connection });
  registry = new ModelRegistry(store, new TemporalCoordinator(client, { taskQueue: TASK_QUEUE }));
});

afterAll(async () => {
  worker?.shutdown();
  await running;
  await connection?.close();
  store?.destroy();
  await stack?.stop();
});

describe('registry entity workflow on Temporal + local S3', () => {
  it('numbers 20 concurrent registrations 1..20 with intact cards; retries keep their versions', async () => {
    const models = await Promise.all(
      Array.from({ length: 20 }, (_, i) => modelFiles(buildTinyLstm(100 + i))),
    );
    const results = await Promise.all(
      models.map((artifacts, i) =>
        registry.registerModel({
          name: 'concurrent',
          runKey: `wf-${i}`,
          artifacts,
          card: testCard({ workflowId: `wf-${i}` }),
        }),
      ),
    );
    const versions = results.map((r) => r.version);
    expect([...versions].sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(await registry.listVersions('concurrent')).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));

    for (const [i, r] of results.entries()) {
      const card = await registry.getCard('concurrent', r.version);
      expect(card).toMatchObject({
        name: 'concurrent',
        version: r.version,
        runKey: `wf-${i}`,
        workflowId: `wf-${i}`,
      });
      // Each version holds exactly the weights its own run registered.
      const weights =
        (models[i]?.weightFiles as Map<string, Uint8Array>).get('weights.bin') ?? new Uint8Array();
      expect(card.files.find((f) => f.name === 'weights.bin')?.sha256).toBe(sha256Hex(weights));
      expect((await registry.readFile('concurrent', r.version, 'weights.bin')).bytes).toEqual(weights);
    }

    // Retried / replayed registrations of the same runs, concurrently: same versions, nothing new.
    const retried = await Promise.all(
      [3, 11, 3].map((i) =>
        registry.registerModel({
          name: 'concurrent',
          runKey: `wf-${i}`,
          artifacts: models[i]!,
          card: testCard(),
        }),
      ),
    );
    expect(retried.map((r) => r.version)).toEqual([versions[3], versions[11], versions[3]]);
    expect(retried.every((r) => !r.created)).toBe(true);
    expect(await registry.listVersions('concurrent')).toHaveLength(20);
  });

  it('moves aliases through the entity and reports failures with the error taxonomy', async () => {
    const files = await modelFiles(buildTinyLstm(7));
    await registry.registerModel({ name: 'aliased', runKey: 'a', artifacts: files, card: testCard() });
    await registry.registerModel({ name: 'aliased', runKey: 'b', artifacts: files, card: testCard() });
    const e1 = await registry.promote('aliased', 'production', 1, { reason: 'first', actor: 'ci' });
    const e2 = await registry.promote('aliased', 'production', 2, { reason: 'better', actor: 'ci' });
    const e3 = await registry.rollback('aliased', 'production', { reason: 'regression', actor: 'oncall' });
    expect([e1, e2, e3].map((e) => [e.seq, e.from, e.to])).toEqual([
      [1, null, 1],
      [2, 1, 2],
      [3, 2, 1],
    ]);
    expect((await registry.resolve('aliased@production')).version).toBe(1);
    await expect(
      registry.promote('aliased', 'production', 9, { reason: 'no such version' }),
    ).rejects.toBeInstanceOf(BadInputError);
    // The failed request left the entity healthy.
    expect((await registry.promote('aliased', 'staging', 2, { reason: 'try' })).seq).toBe(1);
  });

  it('continues as new to bound history, keeping numbering and idempotency across runs', async () => {
    // Start the entity with a tiny history budget; the coordinator's update-with-start joins it.
    const handle = await client.workflow.start(REGISTRY_WORKFLOW_TYPE, {
      workflowId: registryWorkflowId('rolling'),
      taskQueue: TASK_QUEUE,
      args: [{ name: 'rolling', maxHistoryEvents: 20 }],
    });
    const files = await modelFiles(buildTinyLstm(3));
    for (let i = 0; i < 6; i++) {
      expect(
        await registry.registerModel({
          name: 'rolling',
          runKey: `r${i}`,
          artifacts: files,
          card: testCard(),
        }),
      ).toMatchObject({
        version: i + 1,
        created: true,
      });
    }
    const { runId } = await client.workflow.getHandle(registryWorkflowId('rolling')).describe();
    expect(runId).not.toBe(handle.firstExecutionRunId);
    expect(
      await registry.registerModel({ name: 'rolling', runKey: 'r0', artifacts: files, card: testCard() }),
    ).toMatchObject({
      version: 1,
      created: false,
    });
    expect(await registry.listVersions('rolling')).toEqual([1, 2, 3, 4, 5, 6]);
  });
});

describe('a stuck publish', () => {
  it('fails its own request after publishTimeoutMs; the next registration of the model goes ahead', async () => {
    const queue = 'registry-stuck';
    const real = createRegistryActivities({ store });
    let release: (() => void) | undefined;
    const released = new Promise<void>((r) => (release = r));
    let stuckInput: string | undefined;
    let lateAttempt: Promise<unknown> | undefined;
    // A store connection that wedges while the stuck publish reads its staged model.json, then
    // wakes up long after the publish's time is up.
    const wedged: BlobStore = Object.create(store, {
      get: {
        value: async (key: string) => {
          if (stuckInput && key === `${stuckInput}model.json`) await released;
          return store.get(key);
        },
      },
    }) as BlobStore;
    const slow = createRegistryActivities({ store: wedged });
    const stuckWorker = await Worker.create({
      connection: await NativeConnection.connect({ address: stack.config.temporal.address }),
      taskQueue: queue,
      workflowsPath: WORKFLOWS,
      activities: {
        ...real,
        registryPublishVersion: (input: Parameters<typeof real.registryPublishVersion>[0]) => {
          if (input.runKey !== 'stuck') return real.registryPublishVersion(input);
          stuckInput = input.sourcePrefix;
          lateAttempt = slow.registryPublishVersion(input).catch((e: unknown) => e);
          return lateAttempt as ReturnType<typeof real.registryPublishVersion>;
        },
      },
    });
    const stuckRun = stuckWorker.run();
    try {
      const reg = new ModelRegistry(
        store,
        new TemporalCoordinator(client, { taskQueue: queue, entity: { publishTimeoutMs: 3000 } }),
      );
      const artifacts = await modelFiles(buildTinyLstm(300));
      const stuck = reg.registerModel({ name: 'stuck', runKey: 'stuck', artifacts, card: testCard() }).then(
        () => undefined,
        (e: unknown) => e as Error,
      );
      // Queued behind the stuck one.
      await new Promise((r) => setTimeout(r, 300));
      const next = reg.registerModel({ name: 'stuck', runKey: 'next', artifacts, card: testCard() });
      const failure = await stuck;
      expect(failure).toBeInstanceOf(Error);
      expect(failure?.message).toMatch(/publishing version 1 of model stuck did not finish within 3 s/);
      expect(failure?.message).toMatch(/later requests for the model go ahead/);
      expect(await next).toMatchObject({ version: 1, created: true });
      // The late attempt wakes up past its deadline: it writes nothing into the version that took
      // its number (without the deadline it would copy its files over version 1's).
      release?.();
      const late = (await lateAttempt) as Error;
      expect(late).toBeInstanceOf(TransientError);
      expect(late.message).toMatch(/out of time, stopped before writing weights\.bin/);
      const card = await reg.getCard('stuck', 1);
      expect(card.runKey).toBe('next');
      const weights = (artifacts.weightFiles as Map<string, Uint8Array>).get('weights.bin');
      expect(sha256Hex((await reg.readFile('stuck', 1, 'weights.bin')).bytes)).toBe(
        sha256Hex(weights ?? new Uint8Array()),
      );
      expect(await reg.listVersions('stuck')).toEqual([1]);
    } finally {
      stuckWorker.shutdown();
      await stuckRun;
    }
  });
});
