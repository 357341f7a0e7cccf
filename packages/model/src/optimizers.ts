/**
 * Optimisers over flat Float32Arrays, op for op what tfjs 4.22's Adam, RMSprop and Momentum
 * optimisers compute in float32 (every intermediate rounded with Math.fround, which is exactly
 * the float32 result of IEEE + - * / sqrt). Owning the state as plain arrays is what makes a
 * checkpoint restore bit-exact and the update independent of the backend.
 */
import { BadInputError } from '@seqtrain/contracts';
import type { OptimizerName, OptimizerSpec, TrainingSpec } from '@seqtrain/contracts';

const f = Math.fround;

export interface OptimizerState {
  name: OptimizerName;
  /** adam: [m, v]; rmsprop: [meanSquare, moments]; sgd: [accumulation] (none when momentum is 0) */
  slots: Float32Array[];
  /** adam: [accBeta1, accBeta2] (beta^t, kept as tfjs keeps them); others: [] */
  scalars: Float32Array;
}

export function initOptimizerState(spec: OptimizerSpec, size: number): OptimizerState {
  switch (spec.name) {
    case 'adam':
      return {
        name: 'adam',
        slots: [new Float32Array(size), new Float32Array(size)],
        scalars: Float32Array.of(spec.beta1, spec.beta2),
      };
    case 'rmsprop':
      return {
        name: 'rmsprop',
        slots: [new Float32Array(size), new Float32Array(size)],
        scalars: new Float32Array(0),
      };
    case 'sgd':
      return {
        name: 'sgd',
        slots: spec.momentum > 0 ? [new Float32Array(size)] : [],
        scalars: new Float32Array(0),
      };
    default: {
      const never: never = spec;
      throw new BadInputError(
        `training.optimizer.name=${JSON.stringify((never as { name: string }).name)}: unknown optimizer`,
      );
    }
  }
}

/**
 * Learning rate for the update that produces step `step + 1` (step = updates already applied):
 * linear warmup to the base rate over warmupSteps, then cosine to minLearningRate over decaySteps
 * or exponential decay by decayRate per decaySteps (never below minLearningRate).
 */
export function learningRateAt(training: Pick<TrainingSpec, 'optimizer' | 'schedule'>, step: number): number {
  const base = training.optimizer.learningRate;
  const s = training.schedule;
  if (step < s.warmupSteps) return (base * (step + 1)) / s.warmupSteps;
  const t = step - s.warmupSteps;
  switch (s.decay) {
    case 'none':
      return base;
    case 'cosine': {
      const n = s.decaySteps ?? 1;
      if (t >= n) return s.minLearningRate;
      return s.minLearningRate + (base - s.minLearningRate) * 0.5 * (1 + Math.cos((Math.PI * t) / n));
    }
    case 'exponential':
      return Math.max(s.minLearningRate, base * Math.pow(s.decayRate ?? 1, t / (s.decaySteps ?? 1)));
    default: {
      const never: never = s.decay;
      throw new Error(`unknown decay ${String(never)}`);
    }
  }
}

/** Global L2 norm (float64 accumulation, fixed order) and the clipped copy when it exceeds clipNorm. */
export function clipByGlobalNorm(
  grad: Float32Array,
  clipNorm: number | undefined,
): { grad: Float32Array; norm: number } {
  let sq = 0;
  for (let i = 0; i < grad.length; i++) sq += grad[i]! * grad[i]!;
  const norm = Math.sqrt(sq);
  if (clipNorm === undefined || norm <= clipNorm) return { grad, norm };
  const scale = f(clipNorm / norm);
  const out = new Float32Array(grad.length);
  for (let i = 0; i < grad.length; i++) out[i] = grad[i]! * scale;
  return { grad: out, norm };
}

/**
 * Arrays an update may write its result into instead of allocating new ones (the state of an
 * earlier step nobody holds any more): a training loop then makes no garbage per step here.
 */
export interface OptimizerBuffers {
  weights: Float32Array;
  slots: Float32Array[];
}

/** `into` if it can hold the result of this update (same sizes, no array shared with the inputs). */
function usable(
  into: OptimizerBuffers | undefined,
  state: OptimizerState,
  weights: Float32Array,
  grad: Float32Array,
): OptimizerBuffers | undefined {
  if (!into || into.weights.length !== weights.length || into.slots.length !== state.slots.length)
    return undefined;
  const inputs = new Set<Float32Array>([weights, grad, ...state.slots]);
  const outputs = [into.weights, ...into.slots];
  if (outputs.some((a) => inputs.has(a) || a.length !== weights.length)) return undefined;
  return into;
}

/**
 * One optimizer update; inputs are not modified. The result is in new arrays, or in `into`'s
 * when they fit (same values either way).
 */
export function optimizerStep(
  spec: OptimizerSpec,
  state: OptimizerState,
  weights: Float32Array,
  grad: Float32Array,
  learningRate: number,
  into?: OptimizerBuffers,
): { weights: Float32Array; state: OptimizerState } {
  if (state.name !== spec.name) {
    throw new BadInputError(
      `training.optimizer.name=${JSON.stringify(spec.name)}: the checkpoint holds ${state.name} state`,
    );
  }
  const n = weights.length;
  const out = usable(into, state, weights, grad);
  const slot = (k: number): Float32Array => out?.slots[k] ?? new Float32Array(n);
  const w = out?.weights ?? new Float32Array(n);
  const negLr = f(-learningRate);
  switch (spec.name) {
    case 'adam': {
      const [m0, v0] = state.slots as [Float32Array, Float32Array];
      const m = slot(0);
      const v = slot(1);
      const b1 = f(spec.beta1);
      const b2 = f(spec.beta2);
      const oneMinusB1 = f(1 - spec.beta1);
      const oneMinusB2 = f(1 - spec.beta2);
      const accB1 = state.scalars[0]!;
      const accB2 = state.scalars[1]!;
      const c1 = f(1 - accB1);
      const c2 = f(1 - accB2);
      const eps = f(spec.epsilon);
      for (let i = 0; i < n; i++) {
        const g = grad[i]!;
        const mi = f(f(m0[i]! * b1) + f(g * oneMinusB1));
        const vi = f(f(v0[i]! * b2) + f(f(g * g) * oneMinusB2));
        m[i] = mi;
        v[i] = vi;
        const mh = f(mi / c1);
        const vh = f(vi / c2);
        w[i] = f(f(f(mh / f(f(Math.sqrt(vh)) + eps)) * negLr) + weights[i]!);
      }
      return {
        weights: w,
        state: { name: 'adam', slots: [m, v], scalars: Float32Array.of(f(accB1 * b1), f(accB2 * b2)) },
      };
    }
    case 'rmsprop': {
      const [ms0, mom0] = state.slots as [Float32Array, Float32Array];
      const ms = slot(0);
      const mom = slot(1);
      const rho = f(spec.rho);
      const oneMinusRho = f(1 - spec.rho);
      const momentum = f(spec.momentum);
      const lr = f(learningRate);
      const eps = f(spec.epsilon);
      for (let i = 0; i < n; i++) {
        const g = grad[i]!;
        const s = f(f(ms0[i]! * rho) + f(f(g * g) * oneMinusRho));
        ms[i] = s;
        const mo = f(f(mom0[i]! * momentum) + f(f(g * lr) / f(Math.sqrt(f(s + eps)))));
        mom[i] = mo;
        w[i] = f(weights[i]! - mo);
      }
      return { weights: w, state: { name: 'rmsprop', slots: [ms, mom], scalars: new Float32Array(0) } };
    }
    case 'sgd': {
      if (spec.momentum === 0) {
        for (let i = 0; i < n; i++) w[i] = f(f(negLr * grad[i]!) + weights[i]!);
        return { weights: w, state: { name: 'sgd', slots: [], scalars: new Float32Array(0) } };
      }
      const acc0 = state.slots[0]!;
      const acc = slot(0);
      const mu = f(spec.momentum);
      for (let i = 0; i < n; i++) {
        const g = grad[i]!;
        const a = f(f(mu * acc0[i]!) + g);
        acc[i] = a;
        w[i] = spec.nesterov ? f(f(negLr * f(g + f(a * mu))) + weights[i]!) : f(f(negLr * a) + weights[i]!);
      }
      return { weights: w, state: { name: 'sgd', slots: [acc], scalars: new Float32Array(0) } };
    }
    default: {
      const never: never = spec;
      throw new Error(`unknown optimizer ${JSON.stringify(never)}`);
    }
  }
}
