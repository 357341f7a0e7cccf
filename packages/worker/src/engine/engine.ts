/**
 * The worker side of a trainer's engine process (engine-main.ts): forks it, relays the trainer
 * activities to it (heartbeats and cancellation both ways, the run's control query on its
 * behalf), and starts a new one when it dies. A call in flight when the engine dies fails as a
 * TransientError (the workflow re-forms the group from the last checkpoint); an engine that dies
 * again and again fails the worker.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { ActivityIo, TrainerActivities } from '@seqtrain/activities';
import { TRAINER_NODE_FLAGS } from '@seqtrain/backend/process-flags';
import {
  errorMessage,
  TransientError,
  type Config,
  type RunControl,
  type BackendSummary,
} from '@seqtrain/contracts';
import {
  ENGINE_ACTIVITIES,
  type EngineActivity,
  type FromEngine,
  type TelemetryBatch,
  type ToEngine,
} from './protocol';
import { fromWire, toWire } from './wire';

const require = createRequire(import.meta.url);
const ENGINE_MAIN = fileURLToPath(new URL('./engine-main.ts', import.meta.url));
/** Loading the backend can compile seqtrain's kernels on a cold machine (tens of seconds). */
const READY_TIMEOUT_MS = 300_000;
/** This many engine deaths within CRASH_WINDOW_MS fail the worker. */
const MAX_CRASHES = 3;
const CRASH_WINDOW_MS = 10 * 60_000;

export interface EngineOptions {
  config: Config;
  workerId: string;
  log: (msg: string) => void;
  /** the run's control query, asked for the engine (the worker holds the Temporal client) */
  control: (runId: string) => Promise<RunControl>;
  /** the engine died too often: the worker should stop */
  onFatal: (err: Error) => void;
  /** what training reported, in batches (the worker's metrics) */
  onTelemetry?: (batch: TelemetryBatch) => void;
}

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  io: ActivityIo | undefined;
}

interface Ready {
  backend: BackendSummary;
  dataPlane: { address: string; bound: string };
}

/** One engine process. */
class EngineProcess {
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  /** set while the engine starts: its 'ready' or 'init-failed' ends the start */
  private starting: { resolve: (r: Ready) => void; reject: (e: Error) => void } | undefined;
  readonly exited: Promise<string>;

  private constructor(
    private readonly child: ChildProcess,
    private readonly opts: EngineOptions,
  ) {
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        const why = `trainer engine (pid ${child.pid}) exited with ${signal ?? `code ${code}`}`;
        for (const p of this.pending.values()) p.reject(new TransientError(why));
        this.pending.clear();
        resolve(why);
      });
    });
    child.on('message', (msg: FromEngine) => this.onMessage(msg));
  }

  static async start(opts: EngineOptions): Promise<{ engine: EngineProcess; ready: Ready }> {
    const child = fork(ENGINE_MAIN, [], {
      execArgv: [...TRAINER_NODE_FLAGS, '--import', require.resolve('tsx')],
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const engine = new EngineProcess(child, opts);
    const ready = await new Promise<Ready>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(
          new TransientError(
            `trainer engine (pid ${child.pid}) not ready within ${READY_TIMEOUT_MS / 1000} s`,
          ),
        );
      }, READY_TIMEOUT_MS);
      engine.starting = {
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      void engine.exited.then((why) => engine.starting?.reject(new TransientError(`${why} while starting`)));
      engine.send({ type: 'init', config: opts.config, workerId: opts.workerId });
    }).finally(() => (engine.starting = undefined));
    return { engine, ready };
  }

  private send(msg: ToEngine): void {
    if (this.child.connected) this.child.send(msg);
  }

  private onMessage(msg: FromEngine): void {
    switch (msg.type) {
      case 'heartbeat':
        this.pending.get(msg.id)?.io?.heartbeat(msg.details);
        break;
      case 'result':
      case 'error': {
        const p = this.pending.get(msg.id);
        this.pending.delete(msg.id);
        if (msg.type === 'result') p?.resolve(msg.value);
        else p?.reject(fromWire(msg.error));
        break;
      }
      case 'control':
        this.opts.control(msg.runId).then(
          (value) => this.send({ type: 'control-reply', id: msg.id, value }),
          (err: unknown) => this.send({ type: 'control-reply', id: msg.id, error: toWire(err) }),
        );
        break;
      case 'log':
        this.opts.log(msg.message);
        break;
      case 'telemetry':
        this.opts.onTelemetry?.(msg.report);
        break;
      case 'ready':
        this.starting?.resolve({ backend: msg.backend, dataPlane: msg.dataPlane });
        break;
      case 'init-failed':
        this.child.kill('SIGKILL');
        this.starting?.reject(fromWire(msg.error));
        break;
    }
  }

  call(name: EngineActivity, input: unknown, io: ActivityIo | undefined): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, io });
      const signal = io?.cancellationSignal;
      const cancel = (): void => this.send({ type: 'cancel', id });
      if (signal?.aborted) cancel();
      else signal?.addEventListener('abort', cancel, { once: true });
      this.send({ type: 'call', id, name, input });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Asks the engine to end, then kills it after `graceMs`. */
  async close(graceMs: number): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.send({ type: 'shutdown' });
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

/** The engine a trainer worker keeps: one process at a time, replaced when it dies. */
export class TrainerEngine {
  private current: Promise<{ engine: EngineProcess; ready: Ready }>;
  private crashes: number[] = [];
  private closing = false;

  /** what the first engine reported (the backend does not change between engines) */
  readonly ready: Ready;

  private constructor(
    private readonly opts: EngineOptions,
    first: { engine: EngineProcess; ready: Ready },
  ) {
    this.ready = first.ready;
    this.current = Promise.resolve(first);
    this.watch(first.engine);
  }

  static async start(opts: EngineOptions): Promise<TrainerEngine> {
    const first = await EngineProcess.start(opts);
    return new TrainerEngine(opts, first);
  }

  private watch(engine: EngineProcess): void {
    void engine.exited.then((why) => {
      if (this.closing) return;
      const now = Date.now();
      this.crashes = [...this.crashes.filter((t) => now - t < CRASH_WINDOW_MS), now];
      if (this.crashes.length >= MAX_CRASHES) {
        this.opts.onFatal(
          new Error(`${why}: ${this.crashes.length} engine deaths in ${CRASH_WINDOW_MS / 60_000} minutes`),
        );
        return;
      }
      this.opts.log(`${why}; starting a new one`);
      this.current = EngineProcess.start(this.opts);
      this.current.then(
        (next) => {
          this.opts.log(
            `trainer engine restarted (pid ${next.engine.pid}, data plane on ${next.ready.dataPlane.bound})`,
          );
          this.watch(next.engine);
        },
        (err: unknown) =>
          this.opts.onFatal(new Error(`trainer engine did not restart: ${errorMessage(err)}`)),
      );
    });
  }

  async call(name: EngineActivity, input: unknown, io: ActivityIo | undefined): Promise<unknown> {
    const { engine } = await this.current;
    return engine.call(name, input, io);
  }

  /** The trainer activities, each relayed to the engine with the calling activity's io. */
  activities(current: () => ActivityIo | undefined): TrainerActivities {
    const out: Record<string, (input: unknown) => Promise<unknown>> = {};
    for (const name of ENGINE_ACTIVITIES) out[name] = (input) => this.call(name, input, current());
    return out as unknown as TrainerActivities;
  }

  async close(graceMs = 10_000): Promise<void> {
    this.closing = true;
    const c = await this.current.catch(() => undefined);
    await c?.engine.close(graceMs);
  }

  /** The pid of the engine process now serving (a new one after a restart). */
  async pid(): Promise<number | undefined> {
    return (await this.current).engine.pid;
  }
}
