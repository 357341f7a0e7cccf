import { randomUUID } from 'node:crypto';
import { getEventListeners } from 'node:events';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ORCHESTRATOR_QUEUE } from '@seqtrain/contracts';
import { startTestStack, type TestStack } from '@seqtrain/local-stack';
import { createBlobStore } from '@seqtrain/storage';
import { createSeqtrainWorker, type SeqtrainWorker } from '@seqtrain/worker';
import type { smokeWorkflow } from '@seqtrain/workflows';
import { trackClientCalls } from './client-calls';

// Tier 3: the real Temporal dev server, a real worker, the real local S3 server.
describe('smoke workflow on the embedded stack', () => {
  let stack: TestStack;
  let worker: SeqtrainWorker;
  let running: Promise<void>;
  beforeAll(async () => {
    stack = await startTestStack({ temporal: true });
    worker = await createSeqtrainWorker({
      role: 'orchestrator',
      config: stack.config,
      store: createBlobStore(stack.config),
    });
    running = worker.run();
  });
  afterAll(async () => {
    worker?.shutdown();
    await running;
    await stack?.stop();
  });

  it('a workflow calls an activity that writes and reads an object through S3', async () => {
    const connection = await Connection.connect({ address: stack.config.temporal.address });
    try {
      const client = new Client({ connection });
      const key = `smoke/${randomUUID()}.txt`;
      const text = 'seqtrain smoke: héllo';
      const result = await client.workflow.execute<typeof smokeWorkflow>('smokeWorkflow', {
        taskQueue: ORCHESTRATOR_QUEUE,
        workflowId: `smoke-${randomUUID()}`,
        args: [{ key, text }],
      });
      expect(result).toMatchObject({ key, readBack: text, bytes: Buffer.byteLength(text) });
      // The object really is in the S3 server, read back by an independent client.
      const store = createBlobStore(stack.config);
      expect(new TextDecoder().decode(await store.get(key))).toBe(text);
      const { createHash } = await import('node:crypto');
      expect(result).toMatchObject({ sha256: createHash('sha256').update(text).digest('hex') });
    } finally {
      await connection.close();
    }
  });

  it("a worker's own client calls leave no listener behind, and end() aborts the ones in flight", async () => {
    const connection = await Connection.connect({ address: stack.config.temporal.address });
    try {
      const calls = trackClientCalls(connection);
      // The SDK adds an abort listener to a call's signal and never removes it: with one signal
      // for every call (as before), 40 calls left 40 listeners and the calls they hold.
      for (let i = 0; i < 40; i++) await calls.call(() => connection.workflowService.getSystemInfo({}));
      expect(getEventListeners(calls.signal, 'abort')).toHaveLength(0);
      // A call in flight (a long poll the server would hold for a minute) ends with end().
      const polling = calls.call(() =>
        connection.workflowService.pollActivityTaskQueue({
          namespace: 'default',
          taskQueue: { name: `nobody-${randomUUID()}` },
        }),
      );
      expect(getEventListeners(calls.signal, 'abort')).toHaveLength(1);
      await calls.end(10_000);
      // Aborted, not answered: a poll nobody serves would otherwise come back empty after a minute.
      await expect(polling).rejects.toThrow();
    } finally {
      await connection.close();
    }
  });
});
