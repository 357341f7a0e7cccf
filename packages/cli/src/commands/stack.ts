/** `seqtrain up | down | status`: the embedded local stack (docs/architecture.md). */
import { TRAINER_NODE_FLAGS } from '@seqtrain/backend/process-flags';
import { closeSync, openSync, promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  isAlive,
  isPortOpen,
  resolveTemporalCli,
  startTemporal,
  checkTemporalHealth,
  waitFor,
} from '@seqtrain/local-stack';
import { BadInputError, type Config } from '@seqtrain/contracts';
import { EXIT_OK, type CliContext } from '../context';
import { DOWN_OPTIONS, STATUS_OPTIONS, UP_OPTIONS, parseOptions } from '../help';
import { cliMainPath, s3ServerMainPath, spawnTs } from '../node-process';
import { logDir, readStates, removeState, writeState, type ServiceState } from '../stack-state';

function portOf(address: string): number {
  return Number(address.slice(address.lastIndexOf(':') + 1));
}

/** The S3 endpoint is ours to start only when it is the default local one. */
function localS3Port(config: Config): number | undefined {
  const ep = config.s3.endpoint;
  return ep === `http://127.0.0.1:${config.s3.localPort}` ? config.s3.localPort : undefined;
}

export async function runUp(argv: string[], ctx: CliContext): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: parseOptions(UP_OPTIONS),
    strict: true,
  });
  const trainers = Number(values.trainers);
  if (!Number.isInteger(trainers) || trainers < 0 || trainers > 64)
    throw new BadInputError(`--trainers=${values.trainers}: expected an integer from 0 to 64`);
  const summary = await ensureStack(ctx, trainers);
  if (values.json) ctx.io.out(JSON.stringify(summary));
  if (values.detach) return EXIT_OK;
  ctx.io.err('stack is running in the foreground; Ctrl-C stops it (use --detach to return at once)\n');
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await stopStack(ctx);
  return EXIT_OK;
}

export interface StackSummary {
  temporal: { address: string; ui?: string | undefined; namespace: string };
  s3: { endpoint: string | undefined; bucket: string };
  workers: { name: string; role?: string | undefined; pid: number; backend?: unknown }[];
  home: string;
}

export async function ensureStack(ctx: CliContext, trainers: number): Promise<StackSummary> {
  const { config, io } = ctx;
  const home = config.home;
  const logs = logDir(home);
  await fsp.mkdir(logs, { recursive: true });
  const log = (m: string): void => io.err(`${m}\n`);
  let states = await readStates(home);
  // A recorded service whose process lives but no longer answers is shutting down (or wedged):
  // it is not running, so wait for it to go (bounded) and start a new one.
  const s3Port = localS3Port(config);
  const ports: Record<string, number | undefined> = {
    temporal: portOf(config.temporal.address),
    s3: s3Port,
  };
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
    await removeState(home, s.name);
  }
  states = answering;

  // Refuse occupied ports before starting anything, so a failed `up` leaves nothing behind.
  const planned: [string, number | undefined, string][] = [];
  if (!states.some((s) => s.kind === 'temporal')) {
    planned.push(
      ['Temporal', portOf(config.temporal.address), 'SEQTRAIN_TEMPORAL_ADDRESS'],
      ['Temporal UI', config.temporal.uiPort, 'SEQTRAIN_TEMPORAL_UI_PORT'],
    );
  }
  if (s3Port !== undefined && !states.some((s) => s.kind === 's3'))
    planned.push(['local S3', s3Port, 'SEQTRAIN_S3_PORT']);
  for (const [what, port, variable] of planned) {
    if (port !== undefined && (await isPortOpen(port))) {
      throw new BadInputError(
        `${what} port 127.0.0.1:${port} is already in use by another program; set ${variable} to a free port`,
      );
    }
  }

  // Temporal dev server
  let temporal = states.find((s) => s.kind === 'temporal');
  if (temporal) {
    log(`Temporal dev server already running (pid ${temporal.pid}) on ${temporal.address}`);
  } else {
    const port = portOf(config.temporal.address);
    const cli = await resolveTemporalCli(ctx.env);
    const server = await startTemporal({
      cli,
      port,
      uiPort: config.temporal.uiPort,
      dbFile: path.join(home, 'temporal', 'temporal.sqlite'),
      logFile: path.join(logs, 'temporal.log'),
      namespace: config.temporal.namespace,
      detached: true,
    });
    temporal = {
      name: 'temporal',
      kind: 'temporal',
      pid: server.pid ?? 0,
      startedAt: new Date().toISOString(),
      address: server.address,
      ...(server.uiPort ? { uiUrl: `http://127.0.0.1:${server.uiPort}` } : {}),
      logFile: path.join(logs, 'temporal.log'),
    };
    await writeState(home, temporal);
    log(
      `Temporal dev server started on ${server.address} (SQLite ${path.join(home, 'temporal', 'temporal.sqlite')})`,
    );
  }

  // Local S3
  if (s3Port !== undefined) {
    const s3 = states.find((s) => s.kind === 's3');
    if (s3) log(`local S3 already running (pid ${s3.pid}) on ${s3.address}`);
    else {
      if (await isPortOpen(s3Port))
        throw new BadInputError(
          `local S3 port 127.0.0.1:${s3Port} is already in use by another program; set SEQTRAIN_S3_PORT to a free port`,
        );
      const logFile = path.join(logs, 's3.log');
      const fd = openSync(logFile, 'a');
      const child = spawnTs(s3ServerMainPath(), [path.join(home, 's3'), String(s3Port), config.s3.bucket], {
        detached: true,
        stdio: ['ignore', fd, fd],
      });
      closeSync(fd);
      child.unref();
      let exited = false;
      child.once('exit', () => (exited = true));
      await waitFor(
        `local S3 on port ${s3Port}`,
        async () => {
          if (exited) throw new Error(`local S3 server exited; see ${logFile}`);
          return isPortOpen(s3Port);
        },
        60_000,
      );
      await writeState(home, {
        name: 's3',
        kind: 's3',
        pid: child.pid ?? 0,
        startedAt: new Date().toISOString(),
        address: config.s3.endpoint ?? '',
        logFile,
      });
      log(
        `local S3 started on ${config.s3.endpoint} (bucket ${config.s3.bucket}, data in ${path.join(home, 's3')})`,
      );
    }
  }

  // Workers: one orchestrator and N trainers.
  states = await readStates(home);
  const want: { role: 'orchestrator' | 'trainer'; count: number }[] = [
    { role: 'orchestrator', count: 1 },
    { role: 'trainer', count: trainers },
  ];
  const started: Promise<void>[] = [];
  // Trainers split the cores instead of oversubscribing them, and all get the same thread
  // count: TensorFlow's results depend on it in the last bits, and trainers must agree exactly.
  const trainerThreads = config.threads ?? Math.max(1, Math.floor(os.cpus().length / Math.max(1, trainers)));
  for (const { role, count } of want) {
    const have = states.filter((s) => s.kind === 'worker' && s.role === role).length;
    for (let i = have; i < count; i++)
      started.push(
        startWorker(ctx, role, log, role === 'trainer' ? { SEQTRAIN_THREADS: String(trainerThreads) } : {}),
      );
  }
  await Promise.all(started);
  states = await readStates(home);
  const workers = states.filter((s) => s.kind === 'worker');
  const summary: StackSummary = {
    temporal: {
      address: temporal.address ?? config.temporal.address,
      ui: temporal.uiUrl,
      namespace: config.temporal.namespace,
    },
    s3: { endpoint: config.s3.endpoint, bucket: config.s3.bucket },
    workers: workers.map((w) => ({ name: w.name, role: w.role, pid: w.pid, backend: w.backend })),
    home,
  };
  log(`\nseqtrain stack is up`);
  log(`  Temporal:    ${summary.temporal.address} (namespace ${summary.temporal.namespace})`);
  if (summary.temporal.ui) log(`  Temporal UI: ${summary.temporal.ui}`);
  log(`  S3:          ${summary.s3.endpoint ?? 'AWS'} bucket ${summary.s3.bucket}`);
  for (const w of workers)
    log(
      `  worker:      ${w.name} (${w.role}, pid ${w.pid}${w.backend ? `, backend ${describeBackend(w.backend)}` : ''})`,
    );
  log(`  data + logs: ${home}`);
  return summary;
}

function describeBackend(b: unknown): string {
  return typeof b === 'object' && b !== null && 'name' in b ? String(b.name) : String(b);
}

async function startWorker(
  ctx: CliContext,
  role: 'orchestrator' | 'trainer',
  log: (m: string) => void,
  extraEnv: Record<string, string> = {},
): Promise<void> {
  const id = `${role}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`;
  const logFile = path.join(logDir(ctx.config.home), `${id}.log`);
  const fd = openSync(logFile, 'a');
  const child = spawnTs(cliMainPath(), ['worker', '--role', role, '--id', id], {
    ...(role === 'trainer' ? { nodeFlags: TRAINER_NODE_FLAGS } : {}),
    detached: true,
    stdio: ['ignore', fd, fd],
    env: { ...ctx.env, ...extraEnv },
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
      return (await readStates(ctx.config.home)).some((s) => s.name === id);
    },
    180_000,
    300,
  );
  log(`${role} worker ${id} started (pid ${child.pid}, log ${logFile})`);
}

export async function stopStack(ctx: CliContext): Promise<ServiceState[]> {
  const states = await readStates(ctx.config.home);
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
          await removeState(ctx.config.home, s.name);
          ctx.io.err(`stopped ${s.name} (pid ${s.pid})\n`);
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

export async function runDown(argv: string[], ctx: CliContext): Promise<number> {
  parseArgs({ args: argv, options: parseOptions(DOWN_OPTIONS), strict: true });
  const stopped = await stopStack(ctx);
  if (stopped.length === 0) ctx.io.err('nothing was running\n');
  return EXIT_OK;
}

export async function runStatus(argv: string[], ctx: CliContext): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: parseOptions(STATUS_OPTIONS),
    strict: true,
  });
  const states = await readStates(ctx.config.home);
  const temporal = states.find((s) => s.kind === 'temporal');
  const temporalHealthy = temporal?.address
    ? await checkTemporalHealth(await resolveTemporalCli(ctx.env), temporal.address).catch(() => false)
    : false;
  const s3 = states.find((s) => s.kind === 's3');
  // The CUDA part of the native kernels: present here, or why not (files only unless it can work).
  const { cudaKernelsStatus } = await import('@seqtrain/backend');
  const cuda = cudaKernelsStatus(ctx.config.cacheDir);
  const result = {
    home: ctx.config.home,
    cuda: { available: cuda.available, device: cuda.device, reason: cuda.reason },
    temporal: temporal
      ? { pid: temporal.pid, address: temporal.address, ui: temporal.uiUrl, healthy: temporalHealthy }
      : null,
    s3: s3 ? { pid: s3.pid, endpoint: s3.address, healthy: await isPortOpen(ctx.config.s3.localPort) } : null,
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
  if (values.json) ctx.io.out(JSON.stringify(result));
  else {
    const lines = [
      `Temporal: ${result.temporal ? `${result.temporal.address} pid ${result.temporal.pid} ${result.temporal.healthy ? 'healthy' : 'NOT RESPONDING'}${result.temporal.ui ? `, UI ${result.temporal.ui}` : ''}` : 'not running'}`,
      `S3:       ${result.s3 ? `${result.s3.endpoint} pid ${result.s3.pid} ${result.s3.healthy ? 'healthy' : 'NOT RESPONDING'}` : 'not running'}`,
      ...result.workers.map(
        (w) =>
          `worker:   ${w.name} ${w.role} pid ${w.pid}${w.backend ? ` backend ${describeBackend(w.backend)}` : ''}${w.dataPlane ? ` data plane ${w.dataPlane}` : ''}${w.metrics ? ` metrics ${w.metrics} ${w.ready ? 'ready' : 'NOT READY'}` : ''}`,
      ),
    ];
    if (result.workers.length === 0) lines.push('workers:  none');
    lines.push(
      `CUDA:     ${cuda.available ? `available on ${cuda.device ?? 'a GPU'}` : `absent: ${cuda.reason ?? ''}`}`,
    );
    ctx.io.out(lines.join('\n'));
  }
  return EXIT_OK;
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
