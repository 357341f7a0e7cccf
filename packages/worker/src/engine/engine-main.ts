/**
 * A trainer's engine process: the backend, the data-plane listener and the trainer activities
 * (model cache, compute slot, lease, segments), with no Temporal client or worker loaded. The
 * worker process that forked it polls Temporal and relays each activity here (engine.ts).
 *
 * Why a process of its own: the Temporal client and worker (their protobuf roots, the core
 * bridge, ~14 MB of heap) made the same training loop ~7 % slower in the process that holds them
 * (more time in GC and inside the native kernels); a segment here runs as fast as a bare loop.
 *
 * Ends when the worker asks, or at once when the IPC channel closes (the worker died).
 */
import {
  createTrainerActivities,
  runRelayed,
  type ActivityIo,
  type TrainerActivities,
  type TrainingTelemetry,
} from '@seqtrain/activities';
import { initBackend } from '@seqtrain/backend';
import type { RunControl } from '@seqtrain/contracts';
import { DataPlaneServer } from '@seqtrain/dataplane';
import { createBlobStore } from '@seqtrain/storage';
import type { FromEngine, TelemetryBatch, ToEngine } from './protocol';
import { fromWire, toWire } from './wire';

if (!process.send) {
  process.stderr.write('engine-main runs only as a child of a trainer worker (an IPC channel)\n');
  process.exit(2);
}

function send(msg: FromEngine): void {
  if (process.connected) process.send!(msg);
}

// The worker is gone (killed, crashed): so is this process, and with it its data-plane sockets.
process.on('disconnect', () => process.exit(0));
// Signals to the process group (`seqtrain down`, Ctrl-C) are the worker's to act on: it finishes
// or hands back the current activity, then ends this process.
for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => undefined);

let activities: TrainerActivities | undefined;
let dataPlane: DataPlaneServer | undefined;
const calls = new Map<number, AbortController>();
const controls = new Map<number, { resolve: (v: RunControl) => void; reject: (e: Error) => void }>();
let nextControl = 0;

function control(runId: string): Promise<RunControl> {
  const id = nextControl++;
  return new Promise<RunControl>((resolve, reject) => {
    controls.set(id, { resolve, reject });
    send({ type: 'control', id, runId });
  });
}

/** Telemetry gathered between batches: one IPC message a second at most, not one per step. */
const TELEMETRY_FLUSH_MS = 1_000;
const emptyBatch = (): TelemetryBatch => ({
  steps: 0,
  samples: 0,
  bytesSent: 0,
  bytesReceived: 0,
  reduceMs: [],
  checkpointMs: [],
  segments: 0,
  restarts: 0,
});
let batch = emptyBatch();
let flushTimer: NodeJS.Timeout | undefined;
function flushTelemetry(): void {
  flushTimer = undefined;
  const report = batch;
  batch = emptyBatch();
  send({ type: 'telemetry', report });
}
function soonFlush(): void {
  flushTimer ??= setTimeout(flushTelemetry, TELEMETRY_FLUSH_MS);
}
const telemetry: TrainingTelemetry = {
  round(r) {
    batch.steps += r.steps;
    batch.samples += r.samples;
    batch.bytesSent += r.bytesSent;
    batch.bytesReceived += r.bytesReceived;
    batch.reduceMs.push(r.reduceMs);
    soonFlush();
  },
  checkpoint(ms) {
    batch.checkpointMs.push(ms);
    soonFlush();
  },
  segment(s) {
    batch.segments++;
    if (s.restart) batch.restarts++;
    soonFlush();
  },
};

async function init(msg: Extract<ToEngine, { type: 'init' }>): Promise<void> {
  const { config, workerId } = msg;
  const log = (message: string): void => send({ type: 'log', message });
  try {
    const backend = await initBackend({
      backend: config.backend,
      ...(config.threads ? { threads: config.threads } : {}),
      log,
    });
    dataPlane = await DataPlaneServer.listen({ ...config.dataPlane, log });
    activities = createTrainerActivities({
      store: createBlobStore(config),
      workerId,
      backend,
      dataPlane,
      control,
      telemetry,
    });
    send({ type: 'ready', backend, dataPlane: { address: dataPlane.address, bound: dataPlane.bound } });
  } catch (err) {
    send({ type: 'init-failed', error: toWire(err) });
  }
}

function call(msg: Extract<ToEngine, { type: 'call' }>): void {
  const abort = new AbortController();
  calls.set(msg.id, abort);
  const io: ActivityIo = {
    heartbeat: (details) => send({ type: 'heartbeat', id: msg.id, details }),
    cancellationSignal: abort.signal,
  };
  const acts = activities! as unknown as Record<string, (input: unknown) => Promise<unknown>>;
  runRelayed(io, async () => acts[msg.name]!(msg.input))
    .then(
      (value) => {
        // What the activity did is counted before the activity is reported done.
        if (flushTimer) {
          clearTimeout(flushTimer);
          flushTelemetry();
        }
        send({ type: 'result', id: msg.id, value });
      },
      (err: unknown) => send({ type: 'error', id: msg.id, error: toWire(err) }),
    )
    .finally(() => calls.delete(msg.id));
}

process.on('message', (msg: ToEngine) => {
  switch (msg.type) {
    case 'init':
      void init(msg);
      break;
    case 'call':
      call(msg);
      break;
    case 'cancel':
      calls.get(msg.id)?.abort();
      break;
    case 'control-reply': {
      const pending = controls.get(msg.id);
      controls.delete(msg.id);
      if (msg.error) pending?.reject(fromWire(msg.error));
      else pending?.resolve(msg.value as RunControl);
      break;
    }
    case 'shutdown':
      void (dataPlane?.close() ?? Promise.resolve()).finally(() => process.exit(0));
      break;
  }
});
