/**
 * The embedded stack on one machine: the Temporal dev server (SQLite), the local S3 server and
 * the workers, started as detached processes and recorded under SEQTRAIN_HOME/run
 * (stack-state.ts) so that any later shell can see and stop them. The CLI's `up`, `down`,
 * `status` and `demo` parse their arguments and print; this module does the rest.
 */
import { closeSync, openSync, promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TRAINER_NODE_FLAGS } from '@seqtrain/backend/process-flags';
import { BadInputError, type Config } from '@seqtrain/contracts';
import { isAlive, isPortOpen, waitFor } from './exec';
import { resolveTemporalCli } from './harness';
import { s3ServerMainPath, spawnTs } from './node-process';
import { logDir, readStates, removeState, writeState, type ServiceState } from './stack-state';
import { checkTemporalHealth, startTemporal } from './temporal-server';

export interface EmbeddedStackOptions {
  config: Config;
  /** the environment the workers start with (and where the Temporal CLI is looked up) */
  env: NodeJS.ProcessEnv;
  log: (msg: string) => void;
  /** the script whose `worker --role R --id ID` runs a worker (the CLI's entry point) */
  workerMain: string;
}

export interface StackSummary {
  temporal: { address: string; ui?: string | undefined; namespace: string };
  s3: { endpoint: string | undefined; bucket: string };
  workers: { name: string; role?: string | undefined; pid: number; backend?: unknown }[];
  home: string;
}

function portOf(address: string): number {
  return Number(address.slice(address.lastIndexOf(':') + 1));
}

/** The S3 endpoint is ours to start only when it is the default local one. */
function localS3Port(config: Config): number | undefined {
  const ep = config.s3.endpoint;
  return ep === `http://127.0.0.1:${config.s3.localPort}` ? config.s3.localPort : undefined;
}

/**
 * Starts what is not running: Temporal, the local S3 server (when the endpoint is the local
 * default), one orchestrator and `trainers` trainers. Occupied ports are refused before anything
 * starts, so a failed start leaves nothing behind.
 */
export async function ensureStack(o: EmbeddedStackOptions, trainers: number): Promise<StackSummary> {
  const { config, log } = o;
  const home = config.home;
  const logs = logDir(home);
  await fsp.mkdir(logs, { recursive: true });
  const s3Port = localS3Port(config);
  let states = await dropUnanswering(await readStates(home), config, s3Port, log);

  const planned: [string, number | undefined, string][] = [];
  if (!states.some((s) => s.kind === 'temporal'))
    planned.push(
      ['Temporal', portOf(config.temporal.address), 'SEQTRAIN_TEMPORAL_ADDRESS'],
      ['Temporal UI', config.temporal.uiPort, 'SEQTRAIN_TEMPORAL_UI_PORT'],
    );
  if (s3Port !== undefined && !states.some((s) => s.kind === 's3'))
    planned.push(['local S3', s3Port, 'SEQTRAIN_S3_PORT']);
  for (const [what, port, variable] of planned)
    if (port !== undefined && (await isPortOpen(port)))
      throw new BadInputError(
        `${what} port 127.0.0.1:${port} is already in use by another program; set ${variable} to a free port`,
      );

  const temporal = states.find((s) => s.kind === 'temporal') ?? (await startTemporalService(o));
  if (s3Port !== undefined) {
    const s3 = states.find((s) => s.kind === 's3');
    if (s3) log(`local S3 already running (pid ${s3.pid}) on ${s3.address}`);
    else await startS3Service(o, s3Port);
  }

  // One orchestrator and N trainers. Trainers split the cores instead of oversubscribing them,
  // and all get the same thread count: TensorFlow's results depend on it in the last bits, and
  // trainers must agree exactly.
  states = await readStates(home);
  const trainerThreads = config.threads ?? Math.max(1, Math.floor(os.cpus().length / Math.max(1, trainers)));
  const started: Promise<void>[] = [];
  for (const [role, count] of [
    ['orchestrator', 1],
    ['trainer', trainers],
  ] as const) {
    const have = states.filter((s) => s.kind === 'worker' && s.role === role).length;
    for (let i = have; i < count; i++)
      started.push(
        startWorker(o, role, role === 'trainer' ? { SEQTRAIN_THREADS: String(trainerThreads) } : {}),
      );
  }
  await Promise.all(started);
  const workers = (await readStates(home)).filter((s) => s.kind === 'worker');
  return {
    temporal: {
      address: temporal.address ?? config.temporal.address,
      ui: temporal.uiUrl,
      namespace: config.temporal.namespace,
    },
    s3: { endpoint: config.s3.endpoint, bucket: config.s3.bucket },
    workers: workers.map((w) => ({ name: w.name, role: w.role, pid: w.pid, backend: w.backend })),
    home,
  };
}

/**
 * A recorded service whose process lives but no longer answers is shutting down (or wedged): it
 * is not running, so wait for it to go (bounded) and forget it.
 */
async function dropUnanswering(
  states: ServiceState[],
  config: Config,
  s3Port: number | undefined,
  log: (m: string) => void,
): Promise<ServiceState[]> {
  const ports: Record<string, number | undefined> = { temporal: portOf(config.temporal.address), s3: s3Port };
  const answering: ServiceState[] = [];
  for (const s of states) {
    const port = ports[s.kind];
    if (port === undefined || (await isPortOpen(port))) {
      answering.push(s);
      continue;
    }
    log(`${s.name} (pid ${s.pid}) does not answer on port ${port}: waiting for it to exit`);
    try {
      await waitFor(`${s.name} (pid ${s.pid}) to exit`, () => Promise.resolve(!isAlive(s.pid)), 30_000, 100);
    } catch {
      throw new BadInputError(
        `${s.name} (pid ${s.pid}) is alive but does not answer on 127.0.0.1:${port}; stop it (seqtrain down, or kill ${s.pid})`,
      );
    }
    await removeState(config.home, s.name);
  }
  return answering;
}

async function startTemporalService(o: EmbeddedStackOptions): Promise<ServiceState> {
  const { config, log } = o;
  const logs = logDir(config.home);
  const dbFile = path.join(config.home, 'temporal', 'temporal.sqlite');
  const server = await startTemporal({
    cli: await resolveTemporalCli(o.env),
    port: portOf(config.temporal.address),
    uiPort: config.temporal.uiPort,
    dbFile,
    logFile: path.join(logs, 'temporal.log'),
    namespace: config.temporal.namespace,
    detached: true,
  });
  const state: ServiceState = {
    name: 'temporal',
    kind: 'temporal',
    pid: server.pid ?? 0,
    startedAt: new Date().toISOString(),
    address: server.address,
    ...(server.uiPort ? { uiUrl: `http://127.0.0.1:${server.uiPort}` } : {}),
    logFile: path.join(logs, 'temporal.log'),
  };
  await writeState(config.home, state);
  log(`Temporal dev server started on ${server.address} (SQLite ${dbFile})`);
  return state;
}

async function startS3Service(o: EmbeddedStackOptions, port: number): Promise<void> {
  const { config, log } = o;
  const logFile = path.join(logDir(config.home), 's3.log');
  const fd = openSync(logFile, 'a');
  const child = spawnTs(s3ServerMainPath(), [path.join(config.home, 's3'), String(port), config.s3.bucket], {
    detached: true,
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  child.unref();
  let exited = false;
  child.once('exit', () => (exited = true));
  await waitFor(
    `local S3 on port ${port}`,
    async () => {
      if (exited) throw new Error(`local S3 server exited; see ${logFile}`);
      return isPortOpen(port);
    },
    60_000,
  );
  await writeState(config.home, {
    name: 's3',
    kind: 's3',
    pid: child.pid ?? 0,
    startedAt: new Date().toISOString(),
    address: config.s3.endpoint ?? '',
    logFile,
  });
  log(
    `local S3 started on ${config.s3.endpoint} (bucket ${config.s3.bucket}, data in ${path.join(config.home, 's3')})`,
  );
}

async function startWorker(
  o: EmbeddedStackOptions,
  role: 'orchestrator' | 'trainer',
  extraEnv: Record<string, string>,
): Promise<void> {
  const home = o.config.home;
  const id = `${role}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`;
  const logFile = path.join(logDir(home), `${id}.log`);
  const fd = openSync(logFile, 'a');
  const child = spawnTs(o.workerMain, ['worker', '--role', role, '--id', id], {
    ...(role === 'trainer' ? { nodeFlags: TRAINER_NODE_FLAGS } : {}),
    detached: true,
    stdio: ['ignore', fd, fd],
    env: { ...o.env, ...extraEnv },
  });
  closeSync(fd);
  child.unref();
  let exited: number | null | undefined;
  child.once('exit', (code) => (exited = code));
  // The worker writes its state file once it polls its task queues.
  await waitFor(
    `${role} worker ${id}`,
    async () => {
      if (exited !== undefined) {
        const tail = (await fsp.readFile(logFile, 'utf8').catch(() => ''))
          .trim()
          .split('\n')
          .slice(-8)
          .join('\n');
        throw new Error(
          `${role} worker ${id} exited with ${exited}; see ${logFile}${tail ? `; its last lines:\n${tail}` : ''}`,
        );
      }
      return (await readStates(home)).some((s) => s.name === id);
    },
    180_000,
    300,
  );
  o.log(`${role} worker ${id} started (pid ${child.pid}, log ${logFile})`);
}

/** Stops every recorded process: workers first, then S3, then Temporal (SIGKILL after 40 s). */
export async function stopStack(home: string, log: (msg: string) => void): Promise<ServiceState[]> {
  const states = await readStates(home);
  const order = (s: ServiceState): number => (s.kind === 'worker' ? 0 : s.kind === 's3' ? 1 : 2);
  const stopped: ServiceState[] = [];
  for (const group of [0, 1, 2]) {
    await Promise.all(
      states
        .filter((s) => order(s) === group)
        .map(async (s) => {
          signal(s.pid, 'SIGTERM');
          try {
            await waitFor(`${s.name} to stop`, () => Promise.resolve(!isAlive(s.pid)), 40_000, 200);
          } catch {
            signal(s.pid, 'SIGKILL');
          }
          await removeState(home, s.name);
          log(`stopped ${s.name} (pid ${s.pid})`);
          stopped.push(s);
        }),
    );
  }
  return stopped;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    // Detached children lead their own process group: stop the whole group.
    process.kill(-pid, sig);
  } catch {
    try {
      process.kill(pid, sig);
    } catch {
      // already gone
    }
  }
}

export interface StackStatus {
  home: string;
  temporal: { pid: number; address: string | undefined; ui: string | undefined; healthy: boolean } | null;
  s3: { pid: number; endpoint: string | undefined; healthy: boolean } | null;
  workers: {
    name: string;
    role: ServiceState['role'];
    pid: number;
    backend: unknown;
    taskQueues: string[] | undefined;
    dataPlane?: string;
    metrics?: string;
    ready?: boolean;
    startedAt: string;
  }[];
}

/** What runs, asked of each part: Temporal's health, the S3 port, every worker's /readyz. */
export async function stackStatus(config: Config, env: NodeJS.ProcessEnv): Promise<StackStatus> {
  const states = await readStates(config.home);
  const temporal = states.find((s) => s.kind === 'temporal');
  const temporalHealthy = temporal?.address
    ? await checkTemporalHealth(await resolveTemporalCli(env), temporal.address).catch(() => false)
    : false;
  const s3 = states.find((s) => s.kind === 's3');
  return {
    home: config.home,
    temporal: temporal
      ? { pid: temporal.pid, address: temporal.address, ui: temporal.uiUrl, healthy: temporalHealthy }
      : null,
    s3: s3 ? { pid: s3.pid, endpoint: s3.address, healthy: await isPortOpen(config.s3.localPort) } : null,
    workers: await Promise.all(
      states
        .filter((s) => s.kind === 'worker')
        .map(async (w) => ({
          name: w.name,
          role: w.role,
          pid: w.pid,
          backend: w.backend,
          taskQueues: w.taskQueues,
          ...(w.dataPlane ? { dataPlane: w.dataPlane } : {}),
          ...(w.metrics ? { metrics: w.metrics, ready: await isReady(w.metrics) } : {}),
          startedAt: w.startedAt,
        })),
    ),
  };
}

/** A worker's /readyz, asked once with a short deadline (a wedged worker answers "not ready"). */
async function isReady(metrics: string): Promise<boolean> {
  try {
    const res = await fetch(`http://${metrics}/readyz`, { signal: AbortSignal.timeout(2_000) });
    await res.body?.cancel();
    return res.ok;
  } catch {
    return false;
  }
}
