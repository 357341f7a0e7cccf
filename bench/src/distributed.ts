/**
 * `pnpm bench:distributed`: what distribution costs, in one run on one machine, for two jobs
 * (the demo's weather forecaster, and an LSTM(128) over 50-step windows of 32 features):
 *
 *   local-loop  the same spec in this process: the training loop the segments run, without
 *               Temporal, S3 or the network (same kernels, same optimizer): the ceiling
 *   seqtrain-1  the workflow on a private embedded stack with 1 trainer process (all ranks)
 *   seqtrain-2  ... with 2 trainer processes of one thread each, same global batch
 *   keras       Keras `model.fit` on the same windows and model (the bench's cached venv)
 *
 * Rows: samples/s (training phase; for seqtrain the workflow's wall time of its segments),
 * orchestration overhead (1 - trainer-busy / wall), seconds and history events per 1,000 steps.
 * Human table on stderr, one JSON object on the last line of stdout (docs/cli-contract.md, Benchmarks).
 * BENCH_JOBS=weather,lstm128 picks jobs; BENCH_ROUNDS sets the interleaved rounds per job (median;
 * default 3); BENCH_LSTM128_EPOCHS shortens the LSTM(128) job (default 21: 2,016 steps).
 *
 * `--hosts` (Linux, root): Temporal, S3 and every trainer each run in a network namespace of
 * their own on a private bridge (infra/local/src/netns.ts), so the trainers' gradients and every
 * call to Temporal and S3 cross real interfaces between separate addresses; this process (the
 * local loop, the orchestrator) reaches them through a veth of its own. The seqtrain rows then
 * carry `hosts: true`; Keras is not run.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import {
  prepareLocalRun,
  createLightTrainingActivities,
  createTrainerActivities,
} from '@seqtrain/activities';
import { initBackend, TRAINER_NODE_FLAGS } from '@seqtrain/backend';
import {
  errorMessage,
  ORCHESTRATOR_QUEUE,
  parseTrainSpec,
  runKeys,
  type TrainResult,
  type TrainSpec,
} from '@seqtrain/contracts';
import { importDataset, type ImportOptions } from '@seqtrain/dataset';
import {
  createNetwork,
  resolveTemporalCli,
  seattleWeatherImport,
  startLocalS3,
  startTemporal,
  startTestStack,
  testStackEnv,
  waitFor,
  type NetHost,
  type TestStack,
} from '@seqtrain/local-stack';
import { createBlobStore, type BlobStore } from '@seqtrain/storage';
import { createSeqtrainWorker } from '@seqtrain/worker';
import type { trainModel } from '@seqtrain/workflows';
import { ensureBenchVenv, KERAS_REQUIREMENTS } from './python-env';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const require = createRequire(import.meta.url);
const log = (m: string): void => void process.stderr.write(`${m}\n`);
const CPUS = os.cpus().length;
/** `--hosts`: Temporal, S3 and each trainer in a network namespace of its own. */
const HOSTS = process.argv.includes('--hosts');
const DATA_PLANE_PORT = 7300;

type System = 'local-loop' | 'seqtrain-1' | 'seqtrain-2' | 'keras';

interface Row {
  job: string;
  system: System;
  samplesPerSec: number;
  ratioToBaseline: number;
  overheadFraction?: number;
  historyEventsPer1000Steps?: number;
  secondsPer1000Steps: number;
  steps: number;
  epochs: number;
  /** the whole workflow, start to result (prepare, checkpoint 0, group, segments, export) */
  endToEndSeconds?: number;
  rounds: number;
  /** trainers, Temporal and S3 on separate hosts (network namespaces, `--hosts`) */
  hosts?: boolean;
}

interface Job {
  name: string;
  dataset: ImportOptions;
  spec: TrainSpec;
  rounds: number;
  kerasRounds?: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** 32 noisy, coupled sine series: a forecasting task with real structure, generated, not stored. */
async function syntheticCsv(file: string, rows: number, columns: number): Promise<void> {
  let seed = 12345;
  const rand = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
  const header = ['t', ...Array.from({ length: columns }, (_, c) => `s${c}`)].join(',');
  const lines = [header];
  for (let r = 0; r < rows; r++) {
    const values = Array.from({ length: columns }, (_, c) =>
      (Math.sin(r / (7 + c)) + 0.5 * Math.sin(r / (31 + 3 * c) + c) + 0.1 * rand()).toFixed(4),
    );
    lines.push([r, ...values].join(','));
  }
  await fsp.writeFile(file, `${lines.join('\n')}\n`);
}

async function jobs(tmp: string): Promise<Job[]> {
  const wanted = (process.env.BENCH_JOBS ?? 'weather,lstm128').split(',');
  const out: Job[] = [];
  if (wanted.includes('weather')) {
    out.push({
      name: 'weather',
      // examples/weather-forecast.yaml on the dataset of the README.
      // (the importer's default validation split, as the README's import command has it)
      dataset: seattleWeatherImport(repoRoot, { name: 'seattle-weather', valFraction: 0.1 }),
      spec: parseTrainSpec({
        name: 'bench-weather',
        dataset: 'seattle-weather',
        task: 'regression',
        model: { cell: 'lstm', units: [32] },
        training: {
          optimizer: { name: 'adam', learningRate: 0.005 },
          batchSize: 32,
          epochs: 6,
          earlyStopping: { metric: 'val_loss', patience: 2 },
          seed: 42,
        },
        workers: 2,
      }),
      rounds: Number(process.env.BENCH_ROUNDS ?? 3),
    });
  }
  if (wanted.includes('lstm128')) {
    const csv = path.join(tmp, 'synthetic-32.csv');
    // ~6,400 training windows: 96 rounds of 2 x 32 per epoch, 21 epochs = 2,016 steps.
    await syntheticCsv(csv, 7_600, 32);
    const columns = Array.from({ length: 32 }, (_, c) => `s${c}`);
    out.push({
      name: 'lstm128',
      dataset: {
        source: csv,
        name: 'synthetic-32',
        kind: 'timeseries',
        cwd: repoRoot,
        timeColumn: 't',
        valueColumns: columns,
        targetColumn: 's0',
        window: 50,
        horizon: 1,
        valFraction: 0.15,
      },
      spec: parseTrainSpec({
        name: 'bench-lstm128',
        dataset: 'synthetic-32',
        task: 'regression',
        model: { cell: 'lstm', units: [128] },
        training: {
          optimizer: { name: 'adam', learningRate: 0.001 },
          batchSize: 32,
          epochs: Number(process.env.BENCH_LSTM128_EPOCHS ?? 21),
          seed: 1,
        },
        workers: 2,
      }),
      rounds: Number(process.env.BENCH_ROUNDS ?? 3),
      // Keras trains at about half the speed here: one round tells enough.
      kerasRounds: 1,
    });
  }
  return out;
}

function spawnTrainer(
  env: Record<string, string>,
  id: string,
  threads: number,
  host: NetHost | undefined,
): ChildProcess {
  const main = path.join(repoRoot, 'packages/cli/src/main.ts');
  const onHost = host
    ? { SEQTRAIN_DATA_PLANE_HOST: host.address, SEQTRAIN_DATA_PLANE_PORT: String(DATA_PLANE_PORT) }
    : {};
  return (host ? host.spawn.bind(host) : spawn)(
    process.execPath,
    [
      ...TRAINER_NODE_FLAGS,
      '--import',
      require.resolve('tsx'),
      main,
      'worker',
      '--role',
      'trainer',
      '--id',
      id,
    ],
    {
      env: {
        ...process.env,
        ...env,
        ...onHost,
        SEQTRAIN_BACKEND: 'tensorflow',
        SEQTRAIN_THREADS: String(threads),
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
}

async function startTrainers(
  stack: TestStack,
  count: number,
  threads: number,
  hosts: readonly NetHost[] = [],
): Promise<ChildProcess[]> {
  const ids = Array.from(
    { length: count },
    (_, i) => `bench-trainer-${count}-${i}-${randomUUID().slice(0, 4)}`,
  );
  const children = ids.map((id, i) => spawnTrainer(stack.env, id, threads, hosts[i]));
  await waitFor(
    `${count} trainer(s)`,
    async () => {
      const files = await fsp.readdir(path.join(stack.env.SEQTRAIN_HOME!, 'run')).catch(() => [] as string[]);
      return ids.every((id) => files.includes(`${id}.json`));
    },
    180_000,
    300,
  );
  return children;
}

async function stopTrainers(children: ChildProcess[]): Promise<void> {
  await Promise.all(
    children.map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.exitCode !== null) return resolve();
          c.once('exit', () => resolve());
          c.kill('SIGTERM');
          setTimeout(() => c.kill('SIGKILL'), 20_000).unref();
        }),
    ),
  );
}

/** Events of every run of the workflow's chain, from the server's history. */
async function historyEvents(client: Client, workflowId: string): Promise<number> {
  let events = 0;
  for await (const run of client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) {
    const h = await client.workflow.getHandle(workflowId, run.runId).fetchHistory();
    events += h.events?.length ?? 0;
  }
  return events;
}

/** Runs a child process and returns its stdout (stderr passes through). */
function runChild(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0
        ? resolve(out)
        : reject(
            new Error(
              `${path.basename(args[args.length - 2] ?? cmd)} exited with ${code}: ${err.trim().split('\n').slice(-5).join('\n')}`,
            ),
          ),
    );
  });
}

/** The local loop in its own process, with the threads a lone trainer gets. */
async function localLoop(stack: TestStack, job: Job): Promise<Omit<Row, 'ratioToBaseline'>> {
  const out = await runChild(
    process.execPath,
    [
      // The node flags of a trainer, so that only Temporal, S3 and the data plane differ.
      ...TRAINER_NODE_FLAGS,
      '--import',
      require.resolve('tsx'),
      path.join(repoRoot, 'bench/src/local-loop-child.ts'),
      JSON.stringify(job.spec),
    ],
    { ...process.env, ...stack.env, SEQTRAIN_THREADS: String(CPUS) },
  );
  const r = JSON.parse(out.trim().split('\n').at(-1)!) as {
    samples: number;
    busyMs: number;
    steps: number;
    epochs: number;
  };
  return {
    job: job.name,
    system: 'local-loop',
    samplesPerSec: (r.samples / r.busyMs) * 1000,
    secondsPer1000Steps: r.busyMs / r.steps,
    steps: r.steps,
    epochs: r.epochs,
    rounds: 1,
  };
}

async function seqtrainRun(
  client: Client,
  job: Job,
  system: 'seqtrain-1' | 'seqtrain-2',
): Promise<Omit<Row, 'ratioToBaseline'>> {
  const workflowId = `bench-${job.name}-${system}-${randomUUID().slice(0, 8)}`;
  const started = Date.now();
  const r: TrainResult = await client.workflow.execute<typeof trainModel>('trainModel', {
    taskQueue: ORCHESTRATOR_QUEUE,
    workflowId,
    args: [{ spec: job.spec, register: false }],
  });
  const endToEndSeconds = (Date.now() - started) / 1000;
  const events = await historyEvents(client, workflowId);
  const seconds =
    r.samplesPerSec > 0 ? (r.steps * job.spec.workers * job.spec.training.batchSize) / r.samplesPerSec : 0;
  return {
    job: job.name,
    system,
    samplesPerSec: r.samplesPerSec,
    overheadFraction: r.overheadFraction,
    historyEventsPer1000Steps: (events / r.steps) * 1000,
    secondsPer1000Steps: seconds / (r.steps / 1000),
    steps: r.steps,
    epochs: r.epochs,
    endToEndSeconds,
    rounds: 1,
  };
}

/** Writes the job's training and validation windows for Keras, as little-endian float32. */
async function exportWindows(
  store: BlobStore,
  job: Job,
  dir: string,
): Promise<Record<string, { path: string; shape: number[] }>> {
  // One shard: all the training windows in one batch.
  const spec = { ...job.spec, workers: 1, training: { ...job.spec.training, microBatches: 1 } };
  const runId = `bench-export-${job.name}`;
  const plan = await createLightTrainingActivities({ store }).prepareRun({ runId, execution: 'bench', spec });
  const init = await createTrainerActivities({ store, workerId: 'bench' }).initCheckpoint({
    runId,
    planKey: plan.planKey,
    spec,
    outputKey: runKeys.checkpoint(runId, 'bench', 0),
  });
  const { data } = await prepareLocalRun(store, {
    runId,
    execution: 'bench',
    planKey: plan.planKey,
    spec,
    checkpointKey: init.checkpointKey,
  });
  const train = data.shards.get(0)!;
  const out: Record<string, { path: string; shape: number[] }> = {};
  for (const [name, col] of [
    ['x', train.x],
    ['y', train.y],
    ['xv', data.validation.x],
    ['yv', data.validation.y],
  ] as const) {
    const file = path.join(dir, `${job.name}-${name}.f32`);
    await fsp.writeFile(file, Buffer.from(col.data.buffer, col.data.byteOffset, col.data.byteLength));
    out[name] = { path: file, shape: col.shape };
  }
  return out;
}

async function keras(
  store: BlobStore,
  job: Job,
  dir: string,
  cacheDir: string,
): Promise<Omit<Row, 'ratioToBaseline'>> {
  const python = await ensureBenchVenv(cacheDir, log, KERAS_REQUIREMENTS, 'bench-venv-keras');
  const arrays = await exportWindows(store, job, dir);
  const t = job.spec.training;
  const config = {
    arrays,
    cell: job.spec.model.cell,
    units: job.spec.model.units[0],
    batch: t.batchSize * job.spec.workers * t.microBatches,
    epochs: t.epochs,
    learningRate: t.optimizer.learningRate,
    patience: t.earlyStopping?.patience ?? null,
    seed: t.seed,
    rounds: job.kerasRounds ?? job.rounds,
  };
  const lines = await runChild(
    python,
    [path.join(repoRoot, 'bench/python/keras_fit.py'), JSON.stringify(config)],
    process.env,
  );
  const rounds = lines
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { samplesPerSec: number; seconds: number; steps: number; epochs: number });
  const best = rounds.map((r) => r.samplesPerSec);
  const mid = rounds.find((r) => r.samplesPerSec === median(best)) ?? rounds[0]!;
  return {
    job: job.name,
    system: 'keras',
    samplesPerSec: median(best),
    secondsPer1000Steps: (mid.seconds / mid.steps) * 1000,
    steps: mid.steps,
    epochs: mid.epochs,
    rounds: rounds.length,
  };
}

/** The round with the median samples/s, reporting that median and the number of rounds. */
function medianRow(list: Omit<Row, 'ratioToBaseline'>[]): Omit<Row, 'ratioToBaseline'> {
  const m = median(list.map((r) => r.samplesPerSec));
  const row = [...list].sort((a, b) => Math.abs(a.samplesPerSec - m) - Math.abs(b.samplesPerSec - m))[0]!;
  return { ...row, samplesPerSec: m, rounds: list.length };
}

/**
 * The stack of `--hosts`: Temporal and S3 each in a network namespace, two trainer hosts, and a
 * veth from this process's namespace to reach them (all removed by stop()).
 */
async function startHostsStack(): Promise<{ stack: TestStack; trainerHosts: NetHost[] }> {
  const net = await createNetwork({ hosts: ['temporal', 's3', 't0', 't1'], client: true });
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'seqtrain-bench-hosts-'));
  const h = (name: string): NetHost => net.hosts[name]!;
  const bucket = 'seqtrain';
  try {
    const [temporal, s3] = await Promise.all([
      startTemporal({
        cli: await resolveTemporalCli(),
        headless: true,
        // Every address of its namespace (the dev server cannot bind one address other than 127.0.0.1).
        ip: '0.0.0.0',
        host: h('temporal').address,
        port: 7233,
        launcher: h('temporal').launcher,
      }),
      startLocalS3({
        dir: path.join(dir, 's3'),
        bucket,
        address: h('s3').address,
        port: 9000,
        launcher: h('s3').launcher,
      }),
    ]);
    const { env, config } = testStackEnv(dir, bucket, s3.endpoint, temporal.address);
    log(
      `--hosts: network ${net.subnet}; Temporal ${temporal.address}, S3 ${s3.endpoint}, trainers on ${h('t0').address} and ${h('t1').address}`,
    );
    return {
      trainerHosts: [h('t0'), h('t1')],
      stack: {
        dir,
        config,
        env,
        s3,
        temporal,
        async stop() {
          await Promise.allSettled([s3.stop(), temporal.stop()]);
          await net.destroy();
          await fsp.rm(dir, { recursive: true, force: true }).catch(() => undefined);
        },
      },
    };
  } catch (err) {
    await net.destroy();
    await fsp.rm(dir, { recursive: true, force: true }).catch(() => undefined);
    throw err;
  }
}

async function main(): Promise<void> {
  const tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'seqtrain-bench-distributed-'));
  const { stack, trainerHosts } = HOSTS
    ? await startHostsStack()
    : { stack: await startTestStack({ temporal: true }), trainerHosts: [] };
  const store = createBlobStore(stack.config);
  const orchestrator = await createSeqtrainWorker({ role: 'orchestrator', config: stack.config, store });
  const orchestrating = orchestrator.run();
  const connection = await Connection.connect({ address: stack.config.temporal.address });
  const client = new Client({ connection });
  // Only to read the windows for Keras; every system trains in a process of its own.
  const backend = await initBackend({ backend: 'tensorflow', threads: CPUS });
  const rows: Omit<Row, 'ratioToBaseline'>[] = [];
  const notes: string[] = [];
  let children: ChildProcess[] = [];
  try {
    for (const job of await jobs(tmp)) {
      log(`${job.name}: importing ${job.dataset.name} ...`);
      await importDataset(store, job.dataset);
      // Interleaved rounds: the machine's drift (this VM varies by +-10% from run to run) hits
      // every system alike; each system's median round is reported.
      const byRound: Record<'local-loop' | 'seqtrain-1' | 'seqtrain-2', Omit<Row, 'ratioToBaseline'>[]> = {
        'local-loop': [],
        'seqtrain-1': [],
        'seqtrain-2': [],
      };
      for (let round = 1; round <= job.rounds; round++) {
        log(`${job.name}: round ${round}/${job.rounds}: local loop ...`);
        byRound['local-loop'].push(await localLoop(stack, job));
        for (const [system, count] of [
          ['seqtrain-1', 1],
          ['seqtrain-2', 2],
        ] as const) {
          children = await startTrainers(stack, count, Math.max(1, Math.floor(CPUS / count)), trainerHosts);
          log(
            `${job.name}: round ${round}/${job.rounds}: ${system} (${count} trainer process${count > 1 ? 'es' : ''}) ...`,
          );
          byRound[system].push({
            ...(await seqtrainRun(client, job, system)),
            ...(HOSTS ? { hosts: true } : {}),
          });
          await stopTrainers(children);
          children = [];
        }
      }
      for (const list of Object.values(byRound)) rows.push(medianRow(list));
      if (HOSTS) continue;
      log(`${job.name}: keras fit (${job.rounds} round(s)) ...`);
      try {
        rows.push(await keras(store, job, tmp, stack.config.cacheDir));
      } catch (err) {
        notes.push(`keras (${job.name}): ${errorMessage(err)}`);
        log(`keras (${job.name}) failed: ${errorMessage(err)}`);
      }
    }
  } finally {
    await stopTrainers(children);
    orchestrator.shutdown();
    await orchestrating.catch(() => undefined);
    await connection.close();
    await stack.stop();
    await fsp.rm(tmp, { recursive: true, force: true });
  }
  const results: Row[] = rows.map((r) => {
    const base = rows.find((b) => b.job === r.job && b.system === 'local-loop')!;
    return { ...r, ratioToBaseline: Number((r.samplesPerSec / base.samplesPerSec).toFixed(3)) };
  });
  log('\njob       system       samples/s  x local  overhead  s/1k steps  events/1k steps  steps  epochs');
  for (const r of results)
    log(
      `${r.job.padEnd(9)} ${r.system.padEnd(11)} ${r.samplesPerSec.toFixed(0).padStart(10)} ${r.ratioToBaseline.toFixed(2).padStart(8)} ${r.overheadFraction === undefined ? '       -' : `${(r.overheadFraction * 100).toFixed(1).padStart(7)}%`} ${r.secondsPer1000Steps.toFixed(2).padStart(11)} ${r.historyEventsPer1000Steps === undefined ? '               -' : r.historyEventsPer1000Steps.toFixed(1).padStart(16)} ${String(r.steps).padStart(6)} ${String(r.epochs).padStart(7)}`,
    );
  for (const n of notes) log(`note: ${n}`);
  process.stdout.write(
    `${JSON.stringify({
      bench: 'distributed',
      machine: { cpus: CPUS, cpuModel: os.cpus()[0]?.model ?? 'unknown', gpu: null },
      backend: { name: backend.name, threads: backend.threads },
      results,
      baseline: 'local-loop',
      ...(HOSTS ? { hosts: true } : {}),
      ...(notes.length ? { notes } : {}),
    })}\n`,
  );
}

await main();
