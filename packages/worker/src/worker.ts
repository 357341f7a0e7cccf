/**
 * The two worker roles of DESIGN.md. Orchestrators run workflows and light activities on the
 * shared `seqtrain` queue; trainers run the training activities, one at a time per process.
 */
import { NativeConnection, Worker } from '@temporalio/worker';
import { createSmokeActivities } from '@seqtrain/activities';
import { ORCHESTRATOR_QUEUE, TRAINER_QUEUE, type Config } from '@seqtrain/contracts';
import type { BlobStore } from '@seqtrain/storage';
import { getWorkflowBundle } from './workflow-bundle';

export type WorkerRole = 'orchestrator' | 'trainer';

export interface SeqtrainWorkerOptions {
  role: WorkerRole;
  config: Config;
  store: BlobStore;
  connection?: NativeConnection;
  /** Stable id of this worker process (per-worker task queue, telemetry). */
  workerId?: string;
  /** Concurrent activities (orchestrator only; trainers always run one). */
  concurrency?: number;
  /** Grace time for in-flight activities on shutdown. */
  shutdownGraceTime?: string;
  log?: (msg: string) => void;
}

export interface SeqtrainWorker {
  role: WorkerRole;
  workerId: string;
  taskQueues: string[];
  /** Resolves when the worker has stopped (after shutdown() or a fatal error). */
  run(): Promise<void>;
  shutdown(): void;
}

export async function createSeqtrainWorker(opts: SeqtrainWorkerOptions): Promise<SeqtrainWorker> {
  const connection = opts.connection ?? (await NativeConnection.connect({ address: opts.config.temporal.address }));
  const ownsConnection = !opts.connection;
  const workerId = opts.workerId ?? `${opts.role}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const namespace = opts.config.temporal.namespace;
  const workers: Worker[] = [];
  if (opts.role === 'orchestrator') {
    workers.push(
      await Worker.create({
        connection,
        namespace,
        taskQueue: ORCHESTRATOR_QUEUE,
        workflowBundle: await getWorkflowBundle(),
        activities: { ...createSmokeActivities({ store: opts.store }) },
        maxConcurrentActivityTaskExecutions: opts.concurrency ?? 8,
        shutdownGraceTime: opts.shutdownGraceTime ?? '10s',
        identity: workerId,
      }),
    );
  } else {
    workers.push(
      await Worker.create({
        connection,
        namespace,
        taskQueue: TRAINER_QUEUE,
        activities: { ...createSmokeActivities({ store: opts.store }) },
        maxConcurrentActivityTaskExecutions: 1,
        shutdownGraceTime: opts.shutdownGraceTime ?? '30s',
        identity: workerId,
      }),
    );
  }
  return {
    role: opts.role,
    workerId,
    taskQueues: workers.map((w) => w.options.taskQueue),
    async run() {
      try {
        await Promise.all(workers.map((w) => w.run()));
      } finally {
        if (ownsConnection) await connection.close();
      }
    },
    shutdown() {
      for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
    },
  };
}
