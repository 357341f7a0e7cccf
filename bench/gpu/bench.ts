// The GPU host's half of bench/gpu (run.sh runs it with the carried node; no node_modules, no
// imports beyond node's own). 1: agreement of seqtrain's CUDA trainer with seqtrain's CPU kernels
// (forward, gradients, 50 Adam steps, within 1e-4 relative); 2: LSTM and GRU training samples/s.
//
// prepare.sh bundles this file (esbuild) into .carry/bench.mjs.
//   node bench.mjs --cuda seqtrain_cuda.node --cpu seqtrain_rnn.node --out seqtrain.json
//                  [--math fp32|tf32] [--budget-s 1.5] [--shapes small]
//
// Relative error = max |cuda - cpu| / max |cpu| over a tensor (elementwise ratios are meaningless
// where a gradient is near zero). The model: RNN (last state) -> Dense(1) -> MSE, Adam lr 1e-3,
// eps 1e-7 (tfjs's), same as bench_torch.py.
import { createRequire } from 'node:module';
import { writeFileSync } from 'node:fs';
import type { CudaBatch, CudaKernels, CudaWeights } from '../../packages/backend/src/cuda/cuda-kernels';
import type { RnnKernels } from '../../packages/backend/src/fused/seqtrain-kernels';

type Cell = 'lstm' | 'gru';
interface Args {
  cuda?: string;
  cpu?: string;
  out?: string;
  math: string;
  budgetS: number;
  shapes: string;
}
type Batch = CudaBatch & { lengths: Int32Array | null };

const require = createRequire(import.meta.url);
const CUDA_ABI = 1;
const TOL = 1e-4;

function parseArgs(argv: string[]): Args & { cuda: string; out: string } {
  const a: Args = { math: 'fp32', budgetS: 1.5, shapes: 'full' };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = argv[i + 1];
    if (k === '--cuda') a.cuda = v;
    else if (k === '--cpu') a.cpu = v;
    else if (k === '--out') a.out = v;
    else if (k === '--math') a.math = v;
    else if (k === '--budget-s') a.budgetS = Number(v);
    else if (k === '--shapes') a.shapes = v;
    else throw new Error(`unknown argument ${k}`);
    i++;
  }
  if (!a.cuda || !a.out) throw new Error('usage: bench.mjs --cuda ADDON --cpu ADDON --out FILE');
  return a as Args & { cuda: string; out: string };
}

function fail(msg: string, code = 2): never {
  process.stderr.write(`bench.mjs: ${msg}\n`);
  process.exit(code);
}

// Deterministic uniform(-s, s).
function rng(seed: number): (s: number) => number {
  let x = seed >>> 0 || 1;
  return (s: number) => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return ((x / 4294967296) * 2 - 1) * s;
  };
}
const fill = (n: number, r: (s: number) => number, s: number): Float32Array =>
  Float32Array.from({ length: n }, () => r(s));

function makeWeights(cell: Cell, F: number, H: number, O: number, seed: number): CudaWeights {
  const G = (cell === 'lstm' ? 4 : 3) * H;
  const r = rng(seed);
  return {
    kernel: fill(F * G, r, 0.3),
    recurrentKernel: fill(H * G, r, 0.3),
    bias: fill(G, r, 0.1),
    denseKernel: fill(H * O, r, 0.3),
    denseBias: fill(O, r, 0.1),
  };
}

function makeBatch(B: number, T: number, F: number, O: number, seed: number, variable: boolean): Batch {
  const r = rng(seed);
  const lengths = variable
    ? Int32Array.from({ length: B }, (_, b) => Math.max(1, T - (b % Math.ceil(T / 2))))
    : null;
  return { x: fill(B * T * F, r, 1), y: fill(B * O, r, 1), lengths };
}

// ---- the CPU reference: seqtrain's CPU kernels + Dense + MSE + Adam in JS ----
type Name = keyof CudaWeights;
const NAMES: Name[] = ['kernel', 'recurrentKernel', 'bias', 'denseKernel', 'denseBias'];

class CpuModel {
  w: CudaWeights;
  m: Record<Name, Float64Array>;
  v: Record<Name, Float64Array>;
  t = 0;
  constructor(
    private k: RnnKernels,
    private cell: Cell,
    private B: number,
    private T: number,
    private F: number,
    private H: number,
    private O: number,
    w: CudaWeights,
  ) {
    this.w = Object.fromEntries(NAMES.map((n) => [n, Float32Array.from(w[n])])) as unknown as CudaWeights;
    this.m = Object.fromEntries(NAMES.map((n) => [n, new Float64Array(w[n].length)])) as Record<
      Name,
      Float64Array
    >;
    this.v = Object.fromEntries(NAMES.map((n) => [n, new Float64Array(w[n].length)])) as Record<
      Name,
      Float64Array
    >;
  }

  gradients(batch: Batch): { loss: number; hLast: Float32Array; grads: CudaWeights } {
    const { B, T, F, H, O, cell, w } = this;
    const xT = new Float32Array(T * B * F);
    for (let b = 0; b < B; b++)
      for (let t = 0; t < T; t++)
        for (let f = 0; f < F; f++) xT[(t * B + b) * F + f] = batch.x[(b * T + t) * F + f];
    const args = {
      x: xT,
      h0: new Float32Array(B * H),
      c0: new Float32Array(B * H),
      kernel: w.kernel,
      recurrentKernel: w.recurrentKernel,
      bias: w.bias,
      timeSteps: T,
      batch: B,
      inputs: F,
      units: H,
      threads: 1,
      keep: true,
    };
    const fwd = cell === 'lstm' ? this.k.lstmForward(args) : this.k.gruForward(args);
    const last = (b: number): number => (batch.lengths ? batch.lengths[b] : T) - 1;
    const hLast = new Float32Array(B * H);
    for (let b = 0; b < B; b++)
      hLast.set(fwd.h.subarray((last(b) * B + b) * H, (last(b) * B + b + 1) * H), b * H);
    const dy = new Float64Array(B * O);
    let loss = 0;
    for (let b = 0; b < B; b++)
      for (let o = 0; o < O; o++) {
        let s = w.denseBias[o];
        for (let j = 0; j < H; j++) s += hLast[b * H + j] * w.denseKernel[j * O + o];
        const d = s - batch.y[b * O + o];
        loss += d * d;
        dy[b * O + o] = (2 * d) / (B * O);
      }
    loss /= B * O;
    const denseKernel = new Float32Array(H * O);
    const denseBias = new Float32Array(O);
    const dh = new Float32Array(T * B * H);
    for (let b = 0; b < B; b++)
      for (let o = 0; o < O; o++) {
        denseBias[o] += dy[b * O + o];
        for (let j = 0; j < H; j++) {
          denseKernel[j * O + o] += hLast[b * H + j] * dy[b * O + o];
          dh[(last(b) * B + b) * H + j] += w.denseKernel[j * O + o] * dy[b * O + o];
        }
      }
    if (fwd.tape === null) throw new Error('the CPU kernels kept no tape');
    const bwd =
      cell === 'lstm'
        ? this.k.lstmBackward({ tape: fwd.tape, dh, dc: null })
        : this.k.gruBackward({ tape: fwd.tape, dh });
    if (bwd.dBias === null) throw new Error('the CPU kernels returned no bias gradient');
    return {
      loss,
      hLast,
      grads: {
        kernel: bwd.dKernel,
        recurrentKernel: bwd.dRecurrentKernel,
        bias: bwd.dBias,
        denseKernel,
        denseBias,
      },
    };
  }

  step(batch: Batch, lr: number): number {
    const { grads, loss } = this.gradients(batch);
    this.t++;
    const [b1, b2, eps] = [0.9, 0.999, 1e-7];
    const c1 = 1 - b1 ** this.t;
    const c2 = 1 - b2 ** this.t;
    for (const n of NAMES) {
      const p = this.w[n],
        g = grads[n],
        m = this.m[n],
        v = this.v[n];
      for (let i = 0; i < p.length; i++) {
        m[i] = b1 * m[i] + (1 - b1) * g[i];
        v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
        p[i] -= (lr * (m[i] / c1)) / (Math.sqrt(v[i] / c2) + eps);
      }
    }
    return loss;
  }
}

function rel(a: Float32Array, b: Float32Array): number {
  let diff = 0,
    ref = 0;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    ref = Math.max(ref, Math.abs(b[i]));
  }
  return ref === 0 ? diff : diff / ref;
}

interface Agreement {
  cell: Cell;
  shape: Record<string, number>;
  lr: number;
  checks: Record<string, Record<string, number>>;
  maxRelative: number;
  pass: boolean;
}

function agreement(cuda: CudaKernels, cpu: RnnKernels, cell: Cell): Agreement {
  const [B, T, F, H, O, lr] = [24, 12, 8, 32, 1, 1e-3];
  const w = makeWeights(cell, F, H, O, cell === 'lstm' ? 11 : 12);
  const out: Agreement = { cell, shape: { B, T, F, H, O }, lr, checks: {}, maxRelative: 0, pass: false };
  for (const variable of [false, true]) {
    const batch = makeBatch(B, T, F, O, 7, variable);
    const tag = variable ? 'variableLengths' : 'fullLengths';
    const ref = new CpuModel(cpu, cell, B, T, F, H, O, w);
    const trainer = cuda.createTrainer({
      cell,
      batch: B,
      timeSteps: T,
      inputs: F,
      units: H,
      outputs: O,
      weights: w,
      learningRate: lr,
      math: 'fp32',
    });
    const g = cuda.trainerGradients(trainer, batch);
    const r = ref.gradients(batch);
    const checks: Record<string, number> = {
      forwardHLast: rel(g.hLast, r.hLast),
      loss: Math.abs(g.loss - r.loss) / Math.abs(r.loss),
    };
    for (const n of NAMES) checks[`grad.${n}`] = rel(g.grads[n], r.grads[n]);
    for (let s = 0; s < 50; s++) {
      cuda.trainerStep(trainer, batch, 1);
      ref.step(batch, lr);
    }
    const wc = cuda.trainerWeights(trainer);
    for (const n of NAMES) checks[`adam50.${n}`] = rel(wc[n], ref.w[n]);
    cuda.trainerFree(trainer);
    out.checks[tag] = checks;
  }
  out.maxRelative = Math.max(...Object.values(out.checks).flatMap((c) => Object.values(c)));
  out.pass = out.maxRelative <= TOL;
  return out;
}

function measure(
  cuda: CudaKernels,
  cell: Cell,
  B: number,
  H: number,
  math: 'fp32' | 'tf32',
  budgetS: number,
) {
  const [T, F, O] = [32, 8, 1];
  const w = makeWeights(cell, F, H, O, 5);
  const batch = makeBatch(B, T, F, O, 9, false);
  const trainer = cuda.createTrainer({
    cell,
    batch: B,
    timeSteps: T,
    inputs: F,
    units: H,
    outputs: O,
    weights: w,
    learningRate: 1e-3,
    math,
  });
  cuda.trainerStep(trainer, batch, 5); // warm-up
  let steps = 5;
  let t0 = process.hrtime.bigint();
  cuda.trainerStep(trainer, batch, steps);
  let s = Number(process.hrtime.bigint() - t0) / 1e9;
  // one timed run of about budgetS seconds, one synchronisation at its end
  steps = Math.max(10, Math.ceil((budgetS * steps) / Math.max(s, 1e-6)));
  t0 = process.hrtime.bigint();
  const loss = cuda.trainerStep(trainer, batch, steps);
  s = Number(process.hrtime.bigint() - t0) / 1e9;
  cuda.trainerFree(trainer);
  return {
    impl: 'seqtrain-cuda',
    cell,
    batch: B,
    units: H,
    timeSteps: T,
    features: F,
    outputs: O,
    math,
    steps,
    seconds: s,
    stepMs: (s / steps) * 1e3,
    samplesPerSec: (B * steps) / s,
    finalLoss: loss,
  };
}

const args = parseArgs(process.argv.slice(2));
let cuda: CudaKernels;
try {
  cuda = require(args.cuda) as CudaKernels;
} catch (err) {
  fail(
    `the CUDA addon ${args.cuda} does not load: ${(err instanceof Error ? err.message : String(err)).split('\n')[0]}`,
  );
}
if (cuda.abiVersion !== CUDA_ABI)
  fail(`${args.cuda} implements CUDA ABI ${cuda.abiVersion}, expected ${CUDA_ABI}`);
const probe = cuda.probe();
if (!probe.ok) fail(`no usable GPU: ${probe.reason} (this step needs an NVIDIA GPU and its driver)`);
process.stderr.write(
  `GPU: ${probe.device} sm_${probe.computeCapability.replace('.', '')}, cuDNN ${probe.cudnnVersion}, CUDA runtime ${probe.cudaRuntimeVersion}, driver ${probe.driverVersion}\n`,
);

const result: {
  gpu: typeof probe;
  startedAt: string;
  finishedAt?: string;
  agreement: Agreement[] | string;
  rows: ReturnType<typeof measure>[];
} = { gpu: probe, startedAt: new Date().toISOString(), agreement: [], rows: [] };
if (args.cpu) {
  const cpu = require(args.cpu) as RnnKernels;
  const done: Agreement[] = [];
  result.agreement = done;
  for (const cell of ['lstm', 'gru'] as const) {
    const a = agreement(cuda, cpu, cell);
    done.push(a);
    process.stderr.write(
      `agreement ${cell}: max relative ${a.maxRelative.toExponential(2)} ${a.pass ? 'PASS' : 'FAIL'}\n`,
    );
  }
} else {
  result.agreement = 'skipped: no --cpu addon';
}
const batches = args.shapes === 'small' ? [64] : [64, 1024, 4096];
const units = args.shapes === 'small' ? [64] : [64, 256];
for (const math of args.math.split(',') as ('fp32' | 'tf32')[]) {
  for (const cell of ['lstm', 'gru'] as const)
    for (const H of units)
      for (const B of batches) {
        const row = measure(cuda, cell, B, H, math, args.budgetS);
        result.rows.push(row);
        process.stderr.write(
          `seqtrain-cuda ${cell} B=${B} H=${H} ${math}: ${row.samplesPerSec.toFixed(0)} samples/s\n`,
        );
      }
}
result.finishedAt = new Date().toISOString();
writeFileSync(args.out, `${JSON.stringify(result, null, 2)}\n`);
const failed = Array.isArray(result.agreement) && result.agreement.some((a) => !a.pass);
process.exit(failed ? 1 : 0);
