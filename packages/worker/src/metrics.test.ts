import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ORCHESTRATOR_QUEUE, parseTrainSpec, type TrainResult } from '@seqtrain/contracts';
import { importDataset } from '@seqtrain/dataset';
import { startTestStack, waitFor, type TestStack, seattleWeatherImport } from '@seqtrain/local-stack';
import { createBlobStore } from '@seqtrain/storage';
import { createSeqtrainWorker, type SeqtrainWorker } from '@seqtrain/worker';
import type { trainModel } from '@seqtrain/workflows';

// A worker's monitoring listener on the real dev server: /readyz before and after its queues
// are polled, and /metrics after a two-trainer run (this file's process installs the runtime, so
// the Prometheus exporter is this file's own).
const repoRoot = path.resolve(import.meta.dirname, '../../..');

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Prometheus text format, the lines this test reads (no escapes in seqtrain's label values). */
function parseMetrics(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

const sum = (samples: Sample[], name: string, labels: Record<string, string> = {}): number =>
  samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((a, s) => a + s.value, 0);

async function get(address: string, route: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://${address}${route}`, { signal: AbortSignal.timeout(10_000) });
  return { status: res.status, body: await res.text() };
}

describe('worker metrics and probes', () => {
  let stack: TestStack;
  const workers: SeqtrainWorker[] = [];
  const running: Promise<void>[] = [];
  let connection: Connection;
  let client: Client;

  beforeAll(async () => {
    stack = await startTestStack({ temporal: true });
    const store = createBlobStore(stack.config);
    await importDataset(store, seattleWeatherImport(repoRoot, { rowsPerBatch: 64 }));
    connection = await Connection.connect({ address: stack.config.temporal.address });
    client = new Client({ connection });
  });

  afterAll(async () => {
    for (const w of workers) w.shutdown();
    await Promise.allSettled(running);
    await connection?.close();
    await stack?.stop();
  });

  it('/readyz is 503 until Temporal lists the worker as a poller of its queues, then 200', async () => {
    const config = { ...stack.config, backend: 'tensorflow' as const, threads: 1 };
    const store = createBlobStore(stack.config);
    for (const [i, role] of (['orchestrator', 'trainer', 'trainer'] as const).entries()) {
      const w = await createSeqtrainWorker({ role, config, store, workerId: `${role}-${i}` });
      workers.push(w);
      // Created, not yet run: alive, not ready.
      expect((await get(w.metricsAddress, '/healthz')).status).toBe(200);
      const before = await get(w.metricsAddress, '/readyz');
      expect(before.status).toBe(503);
      expect(JSON.parse(before.body)).toMatchObject({ ok: false });
    }
    for (const w of workers) running.push(w.run());
    for (const w of workers) {
      await waitFor(
        `${w.workerId} ready`,
        async () => (await get(w.metricsAddress, '/readyz')).status === 200,
        60_000,
      );
      const ready = JSON.parse((await get(w.metricsAddress, '/readyz')).body) as { reason: string };
      for (const q of w.taskQueues) expect(ready.reason).toContain(q);
    }
    expect((await get(workers[0]!.metricsAddress, '/nope')).status).toBe(404);
  });

  it('after a run, /metrics holds Temporal metrics and seqtrain counts that add up to the run', async () => {
    const spec = parseTrainSpec({
      name: 'weather-metrics',
      dataset: 'weather',
      task: 'regression',
      model: { cell: 'lstm', units: [8] },
      workers: 2,
      training: { optimizer: { name: 'adam', learningRate: 0.01 }, batchSize: 32, epochs: 2, seed: 3 },
    });
    const result: TrainResult = await client.workflow.execute<typeof trainModel>('trainModel', {
      taskQueue: ORCHESTRATOR_QUEUE,
      workflowId: `metrics-${randomUUID()}`,
      args: [{ spec }],
    });
    expect(result.status).toBe('completed');
    expect(result.steps).toBeGreaterThan(0);
    const trainers = workers.filter((w) => w.role === 'trainer');
    const scraped = await Promise.all(
      trainers.map(async (w) => {
        const res = await get(w.metricsAddress, '/metrics');
        expect(res.status).toBe(200);
        return { id: w.workerId, samples: parseMetrics(res.body) };
      }),
    );
    // One runtime per process: both trainers' listeners serve the same exporter; labels tell them apart.
    const all = scraped[0]!.samples;
    // Temporal's own runtime metrics: this process's workers ran segments.
    expect(all.some((s) => s.name.startsWith('temporal_'))).toBe(true);
    expect(
      sum(all, 'temporal_activity_execution_latency_count', { activity_type: 'runSegment' }),
    ).toBeGreaterThan(0);
    let samples = 0;
    for (const { id } of scraped) {
      const w = { worker: id };
      // Every member takes part in every step of the run (a 2-member group, one rank each).
      expect(sum(all, 'seqtrain_train_steps_total', w)).toBe(result.steps);
      expect(sum(all, 'seqtrain_reduce_seconds_count', w)).toBe(result.rounds);
      expect(sum(all, 'seqtrain_reduce_seconds_sum', w)).toBeGreaterThan(0);
      expect(sum(all, 'seqtrain_dataplane_sent_bytes_total', w)).toBeGreaterThan(0);
      expect(sum(all, 'seqtrain_dataplane_received_bytes_total', w)).toBeGreaterThan(0);
      expect(sum(all, 'seqtrain_segments_total', w)).toBe(result.segments);
      expect(sum(all, 'seqtrain_segment_restarts_total', w)).toBe(0);
      expect(sum(all, 'seqtrain_worker_info', { ...w, role: 'trainer', backend: 'tensorflow' })).toBe(1);
      samples += sum(all, 'seqtrain_train_samples_total', w);
    }
    // The two members' examples are the run's: one global batch per step.
    expect(samples).toBe(result.steps * 2 * 32);
    // Every seqtrain series the example Grafana dashboard charts is one a trainer really serves.
    const dashboard = JSON.parse(
      await fsp.readFile(path.join(repoRoot, 'infra/k8s/grafana/seqtrain-dashboard.json'), 'utf8'),
    ) as { panels: { targets?: { expr: string }[] }[] };
    const charted = new Set(
      dashboard.panels.flatMap((p) => (p.targets ?? []).flatMap((t) => t.expr.match(/seqtrain_\w+/g) ?? [])),
    );
    expect(charted.size).toBeGreaterThanOrEqual(8);
    const served = new Set(all.map((s) => s.name));
    for (const name of charted) expect(served, name).toContain(name);
    // The leader of each segment alone writes its checkpoints.
    expect(sum(all, 'seqtrain_checkpoint_seconds_count')).toBe(result.segments);
  });
});
