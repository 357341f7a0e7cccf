/**
 * The two worker roles (docs/architecture.md). Orchestrators run workflows and light activities on the
 * shared `seqtrain` queue; trainers run the training activities, one computation at a time per
 * process, on the shared `seqtrain-train` queue and on their own queue (group joins and
 * segments); their engine process (engine/) computes and binds the data-plane listener for the
 * gradient exchange with their peers.
 */
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Runtime, Worker } from '@temporalio/worker';
import {
  createLightTrainingActivities,
  createRegisterActivities,
  createSmokeActivities,
  createSweepActivities,
  currentActivity,
  withBoundary,
} from '@seqtrain/activities';
import type { BackendInfo } from '@seqtrain/backend';
import {
  CONTROL_QUERY,
  ORCHESTRATOR_QUEUE,
  TRAINER_QUEUE,
  trainerQueueFor,
  type Config,
  type RunControl,
} from '@seqtrain/contracts';
import { createRegistryActivities, ModelRegistry, TemporalCoordinator } from '@seqtrain/registry';
import type { BlobStore } from '@seqtrain/storage';
import { trackClientCalls } from './client-calls';
import { readRunProgress } from './run-progress';
import { MetricsServer, type ProbeState } from './metrics-server';
import { installRuntime, WorkerMetrics } from './telemetry';
import { getWorkflowBundle } from './workflow-bundle';
import { temporalConnectOptions } from './temporal-connection';
import { TrainerEngine } from './engine/engine';

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
  /** The trainer's data-plane address (host:port); undefined for orchestrators. */
  dataPlane: string | undefined;
  /** host:port of /metrics, /healthz and /readyz */
  metricsAddress: string;
  /** Resolves when the worker has stopped (after shutdown() or a fatal error). */
  run(): Promise<void>;
  shutdown(): void;
}

export async function createSeqtrainWorker(opts: SeqtrainWorkerOptions): Promise<SeqtrainWorker> {
  const log = opts.log ?? (() => undefined);
  const runtime = await installRuntime(opts.config.logLevel);
  // SEQTRAIN_SHUTDOWN_GRACE_SECONDS; Kubernetes' terminationGracePeriodSeconds must exceed it.
  const grace = opts.config.shutdownGraceSeconds;
  const graceFromConfig = grace === undefined ? undefined : `${grace}s`;
  const connectOptions = await temporalConnectOptions(opts.config);
  const connection = opts.connection ?? (await NativeConnection.connect(connectOptions));
  const ownsConnection = !opts.connection;
  const workerId = opts.workerId ?? `${opts.role}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const namespace = opts.config.temporal.namespace;
  const workers: Worker[] = [];
  let backend: BackendInfo | undefined;
  let dataPlane: string | undefined;
  let engine: TrainerEngine | undefined;
  let fatal: Error | undefined;
  const clientConnection = await Connection.connect(connectOptions);
  const client = new Client({ connection: clientConnection, namespace });
  // The activities' own calls to Temporal, ended before the connection closes (client-calls.ts).
  const calls = trackClientCalls(clientConnection);
  const store = opts.store;
  let metrics: WorkerMetrics | undefined;
  let stopped = false;
  // Queues Temporal has listed this worker as a poller of (readiness, checked once per queue).
  const polled = new Set<string>();
  const server = await MetricsServer.listen({
    ...opts.config.metrics,
    prometheus: runtime.prometheus,
    health: (): ProbeState => {
      if (fatal) return { ok: false, reason: fatal.message };
      if (stopped) return { ok: false, reason: 'the worker has stopped' };
      return { ok: true, reason: workers.length ? 'running' : 'starting' };
    },
    ready: async (): Promise<ProbeState> => {
      if (workers.length === 0) return { ok: false, reason: 'starting' };
      const notRunning = workers.find((w) => w.getState() !== 'RUNNING');
      if (notRunning)
        return { ok: false, reason: `task queue ${notRunning.options.taskQueue}: ${notRunning.getState()}` };
      for (const w of workers) {
        const queue = w.options.taskQueue;
        if (polled.has(queue)) continue;
        let seen: boolean;
        try {
          seen = await isPolling(client, namespace, queue, workerId, opts.role);
        } catch (err) {
          return { ok: false, reason: `cannot ask Temporal about ${queue}: ${(err as Error).message}` };
        }
        if (!seen) return { ok: false, reason: `task queue ${queue}: not yet polled` };
        polled.add(queue);
      }
      return { ok: true, reason: `polling ${workers.map((w) => w.options.taskQueue).join(', ')}` };
    },
  });
  // Activity heartbeats reach the server at least every second: cancellation (a re-formed group,
  // a cancelled sweep trial) and live progress are never more than about a second behind.
  const heartbeats = {
    maxHeartbeatThrottleInterval: '1 second',
    defaultHeartbeatThrottleInterval: '1 second',
  };

  try {
    if (opts.role === 'orchestrator') {
      // Registration goes through the registry's entity workflow (update-with-start).
      const coordinator = new TemporalCoordinator(client);
      const registry = new ModelRegistry(store, coordinator);
      const activities = withBoundary({
        ...createSmokeActivities({ store }),
        ...createLightTrainingActivities({
          store,
          listTrainers: () => calls.call(() => recentTrainers(client, namespace)),
        }),
        ...createRegisterActivities({ store, registry }),
        ...createRegistryActivities({ store, coordinator }),
        ...createSweepActivities({
          store,
          registry,
          // A run that has not started its first workflow task cannot answer yet: no epochs.
          probeTrial: (id) =>
            calls
              .call(() => readRunProgress(client, id))
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
          shutdownGraceTime: opts.shutdownGraceTime ?? graceFromConfig ?? '10s',
          identity: workerId,
          ...heartbeats,
        }),
      );
    } else {
      const control = (runId: string): Promise<RunControl> =>
        calls.call(() => client.workflow.getHandle(runId).query<RunControl>(CONTROL_QUERY));
      // The first query of a process spends ~10 ms compiling the client's call path: here, not at
      // the start of the first segment (a workflow that does not exist answers "not found").
      void control(`seqtrain-warm-up-${workerId}`).catch(() => undefined);
      // Everything that computes runs in the engine process (engine/engine-main.ts), away from the
      // Temporal client and worker; this process polls, heartbeats and relays.
      engine = await TrainerEngine.start({
        config: opts.config,
        workerId,
        log,
        control,
        onTelemetry: (batch) => metrics?.record(batch),
        onFatal: (err) => {
          log(`${err.message}: stopping this worker`);
          fatal = err;
          for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
        },
      });
      backend = engine.ready.backend as BackendInfo;
      dataPlane = engine.ready.dataPlane.address;

      log(
        `backend ${backend.name} (tfjs ${backend.tfjsVersion}${backend.nativeTfVersion ? `, TensorFlow ${backend.nativeTfVersion}` : ''}, threads ${backend.threads.intraOp}/${backend.threads.interOp})`,
      );
      log(`data plane listening on ${engine.ready.dataPlane.bound} (advertised as ${dataPlane})`);
      // Both queues share the one engine: one cache, one compute slot, one lease.
      const activities = withBoundary({
        ...createSmokeActivities({ store }),
        ...engine.activities(currentActivity),
      });
      // The own queue takes a join probe while a segment runs (the join answers "busy" at once).
      for (const [taskQueue, slots] of [
        [trainerQueueFor(workerId), 2],
        [TRAINER_QUEUE, 1],
      ] as const) {
        workers.push(
          await Worker.create({
            connection,
            namespace,
            taskQueue,
            activities,
            maxConcurrentActivityTaskExecutions: slots,
            shutdownGraceTime: opts.shutdownGraceTime ?? graceFromConfig ?? '30s',
            identity: workerId,
            ...heartbeats,
          }),
        );
      }
    }
  } catch (err) {
    // Nothing half-started stays behind: the listener, the engine, the connections.
    await server.close();
    await engine?.close();
    await clientConnection.close();
    if (ownsConnection) await connection.close();
    throw err;
  }
  if (runtime.prometheus)
    metrics = new WorkerMetrics(Runtime.instance().metricMeter, {
      worker: workerId,
      role: opts.role,
      ...(backend ? { backend: backend.name } : {}),
    });
  return {
    role: opts.role,
    workerId,
    taskQueues: workers.map((w) => w.options.taskQueue),
    backend,
    dataPlane,
    metricsAddress: server.address,
    async run() {
      try {
        await Promise.all(workers.map((w) => w.run()));
        if (fatal) throw fatal;
      } finally {
        stopped = true;
        await server.close();
        await engine?.close();
        if (ownsConnection) await connection.close();
        // Bounded: longer than the SDK's longest retry delay.
        await calls.end(12_000);
        await clientConnection.close();
      }
    },
    shutdown() {
      for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
    },
  };
}

/** Whether Temporal lists this worker among the pollers of its queue (workflow and/or activity). */
async function isPolling(
  client: Client,
  namespace: string,
  queue: string,
  identity: string,
  role: WorkerRole,
): Promise<boolean> {
  // Orchestrators poll workflow tasks (1) and activity tasks (2); trainers activity tasks only.
  const types = role === 'orchestrator' ? [1, 2] : [2];
  for (const taskQueueType of types) {
    const res = await client.workflowService.describeTaskQueue({
      namespace,
      taskQueue: { name: queue },
      taskQueueType,
    });
    if (!(res.pollers ?? []).some((p) => p.identity === identity)) return false;
  }
  return true;
}

/** Trainers seen polling the shared trainer queue in the last two minutes (Temporal's poller list). */
async function recentTrainers(client: Client, namespace: string): Promise<string[]> {
  const res = await client.workflowService.describeTaskQueue({
    namespace,
    taskQueue: { name: TRAINER_QUEUE },
    taskQueueType: 2, // TASK_QUEUE_TYPE_ACTIVITY
  });
  const horizon = Date.now() - 120_000;
  return (res.pollers ?? [])
    .filter((p) => {
      const seconds = Number(p.lastAccessTime?.seconds ?? 0);
      return p.identity && seconds * 1000 >= horizon;
    })
    .map((p) => p.identity!);
}
