/**
 * The two worker roles of DESIGN.md. Orchestrators run workflows and light activities on the
 * shared `seqtrain` queue; trainers run the training activities, one at a time per process, on
 * the shared `seqtrain-train` queue and on their own queue (so a shard returns to the trainer
 * that caches it).
 */
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import {
  createLightTrainingActivities,
  createRegisterActivities,
  createSmokeActivities,
  createSweepActivities,
  createTrainerActivities,
  withBoundary,
} from '@seqtrain/activities';
import { initBackend, type BackendInfo } from '@seqtrain/backend';
import {
  ORCHESTRATOR_QUEUE,
  PROGRESS_QUERY,
  TRAINER_QUEUE,
  trainerQueueFor,
  type Config,
  type TrainProgress,
} from '@seqtrain/contracts';
import { createRegistryActivities, ModelRegistry, TemporalCoordinator } from '@seqtrain/registry';
import type { BlobStore } from '@seqtrain/storage';
import { installRuntimeLogging } from './runtime-logging';
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
  /** What the trainer computes on (name, versions, threads); undefined for orchestrators. */
  backend: BackendInfo | undefined;
  /** Resolves when the worker has stopped (after shutdown() or a fatal error). */
  run(): Promise<void>;
  shutdown(): void;
}

export async function createSeqtrainWorker(opts: SeqtrainWorkerOptions): Promise<SeqtrainWorker> {
  const log = opts.log ?? (() => undefined);
  installRuntimeLogging(opts.config.logLevel);
  const address = opts.config.temporal.address;
  const connection = opts.connection ?? (await NativeConnection.connect({ address }));
  const ownsConnection = !opts.connection;
  const workerId = opts.workerId ?? `${opts.role}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const namespace = opts.config.temporal.namespace;
  const workers: Worker[] = [];
  let backend: BackendInfo | undefined;
  let clientConnection: Connection | undefined;
  const store = opts.store;

  if (opts.role === 'orchestrator') {
    // Registration goes through the registry's entity workflow (update-with-start).
    clientConnection = await Connection.connect({ address });
    const client = new Client({ connection: clientConnection, namespace });
    const coordinator = new TemporalCoordinator(client);
    const registry = new ModelRegistry(store, coordinator);
    const activities = withBoundary({
      ...createSmokeActivities({ store }),
      ...createLightTrainingActivities({ store }),
      ...createRegisterActivities({ store, registry }),
      ...createRegistryActivities({ store, coordinator }),
      ...createSweepActivities({
        store,
        registry,
        // A run that has not started its first workflow task cannot answer yet: no epochs.
        probeTrial: (id) =>
          client.workflow
            .getHandle(id)
            .query<TrainProgress>(PROGRESS_QUERY)
            .then((p) => p.history)
            .catch(() => null),
      }),
    });
    workers.push(
      await Worker.create({
        connection,
        namespace,
        taskQueue: ORCHESTRATOR_QUEUE,
        workflowBundle: await getWorkflowBundle(),
        activities,
        maxConcurrentActivityTaskExecutions: opts.concurrency ?? 8,
        shutdownGraceTime: opts.shutdownGraceTime ?? '10s',
        identity: workerId,
      }),
    );
  } else {
    backend = await initBackend({
      backend: opts.config.backend,
      ...(opts.config.threads ? { threads: opts.config.threads } : {}),
      log,
    });
    log(
      `backend ${backend.name} (tfjs ${backend.tfjsVersion}${backend.nativeTfVersion ? `, TensorFlow ${backend.nativeTfVersion}` : ''}, threads ${backend.threads.intraOp}/${backend.threads.interOp})`,
    );
    // Both queues share one activity object: one cache, one compute slot.
    const activities = withBoundary({
      ...createSmokeActivities({ store }),
      ...createTrainerActivities({ store, workerId, backend }),
    });
    for (const taskQueue of [trainerQueueFor(workerId), TRAINER_QUEUE]) {
      workers.push(
        await Worker.create({
          connection,
          namespace,
          taskQueue,
          activities,
          maxConcurrentActivityTaskExecutions: 1,
          shutdownGraceTime: opts.shutdownGraceTime ?? '30s',
          identity: workerId,
        }),
      );
    }
  }
  return {
    role: opts.role,
    workerId,
    taskQueues: workers.map((w) => w.options.taskQueue),
    backend,
    async run() {
      try {
        await Promise.all(workers.map((w) => w.run()));
      } finally {
        if (ownsConnection) await connection.close();
        await clientConnection?.close();
      }
    },
    shutdown() {
      for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
    },
  };
}
