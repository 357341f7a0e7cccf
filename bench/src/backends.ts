/**
 * `pnpm bench:backends`: ms per training batch of the same LSTM and GRU on every seqtrain backend
 * that runs here, against PyTorch (the baseline) and Keras in the same run. Each system runs in its
 * own process, one after another, so that none competes with another for the cores. On the
 * tensorflow backend both tfjs-layers' own loop and the fused recurrent kernels are measured.
 * Human table on stderr; one JSON object (docs/cli-contract.md, Benchmarks) on stdout.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BACKEND_PREFERENCE } from '@seqtrain/backend';
import { errorMessage, loadConfig } from '@seqtrain/contracts';
import { ensureBenchVenv } from './python-env';
import { CELLS, median, SHAPE, type Cell, type TimingPlan } from './rnn-step';

const BASELINE = 'pytorch-cpu';
const KERAS = 'keras';
/** The seqtrain system the summary holds against Keras and PyTorch. */
const FUSED = 'seqtrain-tensorflow-fused';
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const log = (msg: string): void => void process.stderr.write(`${msg}\n`);

/** Every system gets the same plan; the JS cpu backend (~1 s a batch) just fits fewer steps in. */
const PLAN: TimingPlan = { warmup: 2, minIters: 3, maxIters: 30, budgetMs: 8_000 };
const ROUNDS = 3;

interface Row {
  system: string;
  cell: Cell;
  msPerBatch: number;
  iterations: number;
}

/** One (system, cell) of the JSON result. */
interface ResultRow {
  system: string;
  cell: string;
  msPerBatch: number;
  ratioToBaseline: number | null;
  ratioToKeras: number | null;
}

interface Line {
  system?: string;
  cell?: Cell;
  msPerBatch?: number;
  iterations?: number;
  unavailable?: string;
  note?: string | null;
}

const config = loadConfig(process.env);
/**
 * One thread budget for every system (SEQTRAIN_THREADS, else all cores): intra-op threads, one
 * inter-op thread. Oversubscribed spin-waiting threads make multi-threaded timings swing wildly on a
 * busy machine, so on a shared box SEQTRAIN_THREADS=1 gives the steadier comparison.
 */
const threads = config.threads ?? availableParallelism();
const rows: Row[] = [];
const notes: string[] = [];

interface Job {
  /** the system name the table uses when the child does not name one */
  system: string;
  cmd: string;
  args: string[];
  env: NodeJS.ProcessEnv;
}
const jobs: Job[] = [];
try {
  const python = await ensureBenchVenv(config.cacheDir, log);
  const pyConfig = JSON.stringify({ shape: SHAPE, plan: PLAN, cells: CELLS, threads });
  for (const framework of ['torch', 'keras']) {
    jobs.push({
      system: framework,
      cmd: python,
      args: [join(ROOT, 'bench', 'python', 'rnn_bench.py'), framework, pyConfig],
      env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '2' },
    });
  }
} catch (err) {
  notes.push(`python baselines: ${errorMessage(err)}`);
}
// Native TensorFlow runs three times: tfjs-layers' own op-by-op loop, seqtrain's fused kernels and
// TensorFlow's fused kernels.
for (const backend of BACKEND_PREFERENCE) {
  const variants =
    backend === 'tensorflow'
      ? [
          { variant: 'plain', system: 'seqtrain-tensorflow' },
          { variant: 'fused', system: FUSED },
          { variant: 'tf-kernels', system: 'seqtrain-tensorflow-tfkernels' },
        ]
      : [{ variant: 'default', system: `seqtrain-${backend}` }];
  for (const { variant, system } of variants) {
    const child = join(ROOT, 'bench', 'src', 'backend-child.ts');
    const args = ['--import', 'tsx', child, backend, JSON.stringify(PLAN), String(threads), variant];
    jobs.push({ system, cmd: process.execPath, args, env: process.env });
  }
}

/**
 * The systems held against each other (PyTorch, Keras, fused seqtrain) run ROUNDS times, interleaved,
 * so that load drifting on a shared machine hits all of them alike; each reports the median of its
 * rounds. The slow references run once.
 */
const headToHead = new Set(['torch', KERAS, FUSED]);
const failed = new Set<string>();
for (let r = 0; r < ROUNDS; r++) {
  for (const job of jobs.filter((j) => headToHead.has(j.system) && !failed.has(j.system))) {
    await runJob(job, r);
  }
}
for (const job of jobs.filter((j) => !headToHead.has(j.system))) await runJob(job, 0);

async function runJob(job: Job, r: number): Promise<void> {
  log(`bench: ${job.system}${headToHead.has(job.system) ? ` (round ${r + 1}/${ROUNDS})` : ''} ...`);
  await collect(job.cmd, job.args, job.system, job.env).catch((err: unknown) => {
    failed.add(job.system);
    notes.push(`${job.system}: ${errorMessage(err)}`);
  });
}

const measured = aggregate(rows);
const perCell = (system: string): Map<Cell, number> =>
  new Map(measured.filter((r) => r.system === system).map((r) => [r.cell, r.msPerBatch]));
const baseline = perCell(BASELINE);
const keras = perCell(KERAS);
const results = measured.map((r): ResultRow & { rounds: number[] } => {
  const base = baseline.get(r.cell);
  const k = keras.get(r.cell);
  return {
    system: r.system,
    cell: r.cell,
    msPerBatch: round(r.msPerBatch),
    ratioToBaseline: base === undefined ? null : round(r.msPerBatch / base),
    ratioToKeras: k === undefined ? null : round(r.msPerBatch / k),
    rounds: r.rounds.map(round),
  };
});
printTable(results, measured);
summarise(results);
for (const n of notes) log(`note: ${n}`);
console.log(
  JSON.stringify({
    bench: 'backends',
    machine: machine(),
    shape: SHAPE,
    threads,
    results,
    baseline: BASELINE,
    rounds: ROUNDS,
  }),
);

/** One row per (system, cell): the median over its rounds, steps summed. */
function aggregate(raw: Row[]): (Row & { rounds: number[] })[] {
  const out = new Map<string, Row & { rounds: number[] }>();
  for (const r of raw) {
    const key = `${r.system}/${r.cell}`;
    const agg = out.get(key) ?? { ...r, iterations: 0, rounds: [] };
    agg.rounds.push(r.msPerBatch);
    agg.iterations += r.iterations;
    agg.msPerBatch = median(agg.rounds);
    out.set(key, agg);
  }
  return [...out.values()];
}

/** Runs one system's process and keeps its JSON lines; `unavailable` becomes a note, not a row. */
async function collect(cmd: string, args: string[], system: string, env: NodeJS.ProcessEnv): Promise<void> {
  const { code, stdout, stderr } = await runChild(cmd, args, env);
  for (const text of stdout.split('\n').filter((l) => l.startsWith('{'))) {
    const line = JSON.parse(text) as Line;
    if (line.unavailable !== undefined) notes.push(`${system} skipped: ${line.unavailable}`);
    if (typeof line.note === 'string')
      notes.push(`${line.system ?? system} ${line.cell ?? ''}: ${line.note}`);
    else if (line.cell !== undefined && line.msPerBatch !== undefined) {
      rows.push({
        system: line.system ?? system,
        cell: line.cell,
        msPerBatch: line.msPerBatch,
        iterations: line.iterations ?? 0,
      });
    }
  }
  if (code !== 0) throw new Error(`exited with ${code}: ${stderr.trim().split('\n').slice(-3).join(' | ')}`);
}

function runChild(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function printTable(results: ResultRow[], raw: Row[]): void {
  log('');
  log(
    `LSTM/GRU training step, T=${SHAPE.timeSteps} B=${SHAPE.batch} I=${SHAPE.inputs} H=${SHAPE.units}, Adam + MSE, ` +
      `${threads} intra-op thread(s) each (median of timed steps)`,
  );
  log(
    `${'system'.padEnd(32)}${'cell'.padEnd(6)}${'ms/batch'.padStart(10)}${`x ${BASELINE}`.padStart(16)}${`x ${KERAS}`.padStart(10)}${'steps'.padStart(7)}`,
  );
  results.forEach((r, i) => {
    const ratio = r.ratioToBaseline === null ? '-' : r.ratioToBaseline.toFixed(2);
    const vsKeras = r.ratioToKeras === null ? '-' : r.ratioToKeras.toFixed(2);
    log(
      `${r.system.padEnd(32)}${r.cell.padEnd(6)}${r.msPerBatch.toFixed(1).padStart(10)}${ratio.padStart(16)}${vsKeras.padStart(10)}${String(raw[i]?.iterations ?? '').padStart(7)}`,
    );
  });
}

/** One line per cell: the fused native step against Keras (to beat) and PyTorch (to approach). */
function summarise(results: ResultRow[]): void {
  for (const r of results.filter((x) => x.system === FUSED)) {
    const vsKeras =
      r.ratioToKeras === null
        ? 'Keras not measured'
        : `${r.ratioToKeras <= 1 ? 'no slower than' : 'SLOWER than'} Keras (x${r.ratioToKeras.toFixed(2)})`;
    const vsTorch =
      r.ratioToBaseline === null ? 'PyTorch not measured' : `x${r.ratioToBaseline.toFixed(2)} PyTorch`;
    log(`${FUSED} ${r.cell}: ${r.msPerBatch.toFixed(1)} ms/batch, ${vsKeras}, ${vsTorch}`);
  }
}

function machine(): { cpus: number; cpuModel: string; gpu: string | null; loadAverage: number } {
  const list = cpus();
  // The 1-minute load at the end says whether other work shared the cores during the run.
  return {
    cpus: list.length,
    cpuModel: list[0]?.model.trim() ?? 'unknown',
    gpu: nvidiaGpu(),
    loadAverage: round(loadavg()[0] ?? 0),
  };
}

function nvidiaGpu(): string | null {
  const dir = '/proc/driver/nvidia/gpus';
  if (!existsSync(dir)) return null;
  const names = readdirSync(dir).map((id) =>
    /Model:\s*(.+)/.exec(readFileSync(join(dir, id, 'information'), 'utf8'))?.[1]?.trim(),
  );
  return names.filter((n) => n !== undefined).join(', ') || null;
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
