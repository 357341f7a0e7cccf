/**
 * Makes tfjs-layers' LSTM, GRU and SimpleRNN layers run on the fused native sequences when the
 * tensorflow backend is active, without changing the layers themselves: same classes, weights and
 * model.json, so models built, trained and saved here load unchanged in plain tfjs. Each layer's
 * `call` is patched; a configuration the fused path does not reproduce exactly (other activations,
 * dropout while training without seqtrain's kernels, stateful, unroll) falls back to the original
 * op-by-op loop.
 */
import { availableParallelism } from 'node:os';
import { CELL_NAMES, SeqtrainError, loadConfig, type Cell } from '@seqtrain/contracts';
import type { Tensor, Tensor2D, Tensor3D } from '@tensorflow/tfjs';
import type { Tf } from '../init-backend';
import { gruSequence } from './gru-sequence';
import { lstmSequence } from './lstm-sequence';
import { seqtrainSequence, type SeqtrainKernels, type Steps } from './seqtrain-sequence';
import { TensorflowOps } from './tensorflow-ops';
import { loadRnnKernels } from './seqtrain-kernels';
import { maskSelection } from './sequence-mask';
import { simpleRnnSequence } from './simple-rnn-sequence';

/** The cells the fused path serves: every recurrent cell of the spec. */
export type FusedCell = Cell;

export interface FusedRnnStats {
  /** layer calls computed by the fused sequences */
  fused: Record<FusedCell, number>;
  /** layer calls that ran tfjs's own loop, and why */
  fallback: Record<FusedCell, number>;
  lastFallbackReason: string | null;
  /**
   * What computes a fused LSTM, GRU or SimpleRNN: seqtrain's kernels, or TensorFlow's
   * (BlockLSTM, GRUBlockCell, ops with hoisted products), and why.
   */
  kernels: 'seqtrain' | 'tensorflow';
  kernelsReason: string | null;
}

interface Activation {
  getClassName(): string;
}
interface Weight {
  read(): Tensor;
}
/** tfjs-layers' recurrent cell object, the fields read here */
interface LayerCell {
  units: number;
  activation: Activation;
  recurrentActivation?: Activation;
  dropout: number;
  recurrentDropout: number;
  dropoutMask: Tensor | Tensor[] | null;
  dropoutFunc?: (x: Tensor, rate: number) => Tensor;
  recurrentDropoutMask: Tensor | Tensor[] | null;
  kernel: Weight;
  recurrentKernel: Weight;
  bias: Weight | null;
}
interface RnnLayer {
  cell: LayerCell;
  returnSequences: boolean;
  returnState: boolean;
  goBackwards: boolean;
  stateful: boolean;
  unroll: boolean;
}
type Kwargs = Record<string, unknown> | undefined | null;
type Call = (this: RnnLayer, inputs: Tensor | Tensor[], kwargs: Kwargs) => Tensor | Tensor[];

const PATCHED = Symbol.for('seqtrain.fusedRnnKernels');
const CELLS: readonly FusedCell[] = CELL_NAMES;
const CLASS_NAMES: Record<FusedCell, string> = { lstm: 'LSTM', gru: 'GRU', simpleRNN: 'SimpleRNN' };

let state:
  { tf: Tf; ops: TensorflowOps; seqtrain: SeqtrainKernels | null; seqtrainReason: string | null } | undefined;
let enabled = true;
let seqtrainEnabled = true;
const stats = { fused: zeroCounts(), fallback: zeroCounts(), lastFallbackReason: null as string | null };

export interface FusedRnnOptions {
  /** native threads seqtrain's kernels split the batch over (the backend's intra-op threads) */
  threads?: number;
  /** where provisioning built seqtrain's kernels (config.cacheDir) */
  cacheDir?: string;
}

/**
 * Patches the recurrent layer classes of this tfjs instance (idempotent). Only meaningful on the
 * tfjs-node backend; initBackend calls it when it selects `tensorflow`.
 */
export function registerFusedRnnKernels(tf: Tf, options: FusedRnnOptions = {}): void {
  const ops = new TensorflowOps(tf);
  const loaded = loadRnnKernels(options.cacheDir ?? loadConfig(process.env).cacheDir);
  const threads = options.threads ?? availableParallelism();
  state =
    'kernels' in loaded
      ? { tf, ops, seqtrain: { kernels: loaded.kernels, threads }, seqtrainReason: null }
      : { tf, ops, seqtrain: null, seqtrainReason: loaded.reason };
  // The classes come from the serialization registry (the one model.json loading uses), not from
  // probe instances: creating layers would shift tfjs's automatic layer names in this process.
  const registry = tf.serialization.SerializationMap.getMap().classNameMap;
  for (const cell of CELLS) {
    const className = CLASS_NAMES[cell];
    const cls = registry[className]?.[0] as { prototype: Record<PropertyKey, unknown> } | undefined;
    if (cls === undefined) throw new SeqtrainError(`tfjs-layers has no registered ${className} class`);
    const proto = cls.prototype;
    if (proto[PATCHED] === true) continue;
    const original = proto.call as Call;
    const patched: Call = function (this: RnnLayer, inputs, kwargs) {
      const reason = unsupported(this, cell, inputs, kwargs);
      if (reason !== null) {
        stats.fallback[cell]++;
        stats.lastFallbackReason = `${cell}: ${reason}`;
        return original.call(this, inputs, kwargs);
      }
      stats.fused[cell]++;
      return fusedCall(this, cell, inputs, kwargs ?? {});
    };
    proto.call = patched;
    proto[PATCHED] = true;
  }
}

/** Turns the fused path off (everything falls back) or on again; for comparisons and debugging. */
export function setFusedRnnKernels(on: boolean): void {
  enabled = on;
}

/**
 * Fused sequences on seqtrain's kernels (when built) or on TensorFlow's (BlockLSTM,
 * GRUBlockCell, ops); for comparisons.
 */
export function useSeqtrainKernels(on: boolean): void {
  seqtrainEnabled = on;
}

function seqtrainKernels(): SeqtrainKernels | null {
  return seqtrainEnabled ? (state?.seqtrain ?? null) : null;
}

export function fusedRnnStats(): FusedRnnStats {
  const kernels = seqtrainKernels();
  return {
    fused: { ...stats.fused },
    fallback: { ...stats.fallback },
    lastFallbackReason: stats.lastFallbackReason,
    kernels: kernels !== null ? 'seqtrain' : 'tensorflow',
    kernelsReason:
      kernels !== null ? null : seqtrainEnabled ? (state?.seqtrainReason ?? 'not registered') : 'turned off',
  };
}

function zeroCounts(): Record<FusedCell, number> {
  return { lstm: 0, gru: 0, simpleRNN: 0 };
}

function one(inputs: Tensor | Tensor[]): Tensor | undefined {
  return Array.isArray(inputs) ? (inputs.length === 1 ? inputs[0] : undefined) : inputs;
}

function maskOf(kwargs: Kwargs): Tensor | null {
  const mask = kwargs?.mask as Tensor | (Tensor | null)[] | null | undefined;
  return (Array.isArray(mask) ? mask[0] : mask) ?? null;
}

function unsupported(
  layer: RnnLayer,
  cell: FusedCell,
  inputs: Tensor | Tensor[],
  kwargs: Kwargs,
): string | null {
  if (!enabled || state === undefined) return 'fused kernels disabled';
  if (state.tf.getBackend() !== 'tensorflow') return `backend ${state.tf.getBackend()}`;
  const x = one(inputs);
  if (x?.rank !== 3 || x.dtype !== 'float32')
    return 'input is not one float32 [batch, time, features] tensor';
  if (x.shape[1] === 0) return 'zero time steps';
  if (layer.stateful) return 'stateful';
  if (layer.unroll) return 'unroll';
  const c = layer.cell;
  if (c.activation.getClassName() !== 'tanh') return `activation ${c.activation.getClassName()}`;
  if (cell !== 'simpleRNN' && c.recurrentActivation?.getClassName() !== 'sigmoid') {
    return `recurrentActivation ${c.recurrentActivation?.getClassName() ?? 'none'}`;
  }
  // tfjs draws dropout masks only while training; at inference dropout is the identity. seqtrain's
  // kernels take the masks (the input mask is applied before them).
  if (kwargs?.training === true && (c.dropout > 0 || c.recurrentDropout > 0)) {
    if (seqtrainKernels() === null) return 'dropout while training';
  }
  const states = kwargs?.initialState as unknown[] | null | undefined;
  // tfjs's own call rejects a wrong number of initial states with its precise error
  if (states != null && states.length !== (cell === 'lstm' ? 2 : 1)) return `${states.length} initial states`;
  const mask = maskOf(kwargs);
  if (mask !== null && (mask.rank !== 2 || mask.shape[0] !== x.shape[0] || mask.shape[1] !== x.shape[1])) {
    return `mask of shape [${mask.shape.join(', ')}]`;
  }
  return null;
}

function fusedCall(
  layer: RnnLayer,
  cell: FusedCell,
  inputs: Tensor | Tensor[],
  kwargs: Record<string, unknown>,
): Tensor | Tensor[] {
  const { tf, ops } = state as { tf: Tf; ops: TensorflowOps };
  return tf.tidy(() => {
    // Same housekeeping as the original call: masks left by an earlier dropout fallback go now.
    const cellLayer = layer.cell;
    for (const key of ['dropoutMask', 'recurrentDropoutMask'] as const) {
      if (cellLayer[key] !== null) {
        tf.dispose(cellLayer[key]);
        cellLayer[key] = null;
      }
    }
    let x = one(inputs) as Tensor3D;
    const [batch, timeSteps] = x.shape;
    const units = cellLayer.units;
    const given = kwargs.initialState as Tensor[] | null | undefined;
    const initial = (given ?? (cell === 'lstm' ? [null, null] : [null])).map(
      (s) => (s ?? tf.zeros([batch, units])) as Tensor2D,
    );
    let mask = maskOf(kwargs);
    if (layer.goBackwards) {
      x = tf.reverse(x, 1);
      if (mask !== null) mask = tf.reverse(mask, 1);
    }
    const sel = mask === null ? null : maskSelection(tf, mask);
    if (sel !== null) x = sel.compact(x);
    let xt = tf.transpose(x, [1, 0, 2]);
    // Dropout as tfjs-layers draws it on the first step: `count` input masks, then `count` masks on
    // the state, in that order (the dropout function may count its calls); only the first of each
    // is used, at every step.
    const training = kwargs.training === true;
    const count = cell === 'lstm' ? 4 : cell === 'gru' ? 3 : 1;
    const draw = (shape: [number, number], rate: number): Tensor2D | null => {
      if (!training || !(rate > 0 && rate < 1)) return null;
      const masks = Array.from({ length: count }, () =>
        cellLayer.dropoutFunc !== undefined
          ? cellLayer.dropoutFunc(tf.ones(shape), rate)
          : tf.dropout(tf.ones(shape), rate),
      );
      return masks[0] as Tensor2D;
    };
    const inputMask = draw([batch, x.shape[2]], cellLayer.dropout);
    const recurrentMask = draw([batch, units], cellLayer.recurrentDropout);
    if (inputMask !== null) xt = tf.mul(xt, inputMask);
    const weights = {
      kernel: cellLayer.kernel.read() as Tensor2D,
      recurrentKernel: cellLayer.recurrentKernel.read() as Tensor2D,
      bias: cellLayer.bias?.read() ?? null,
    };
    const h0 = initial[0] as Tensor2D;
    const c0 = initial[1] as Tensor2D;
    // Only what the layer returns is computed: without a mask, the last step is all a many-to-one
    // layer needs, and the LSTM's c only matters when the states are returned.
    const hSteps = sel !== null || layer.returnSequences ? 'all' : 'last';
    const cSteps: Steps = cell !== 'lstm' || !layer.returnState ? 'none' : sel !== null ? 'all' : 'last';
    const want = { h: hSteps, c: cSteps } as const;
    const kernels = seqtrainKernels();
    let h: Tensor;
    let c: Tensor | null = null;
    // seqtrain's kernels serve every cell (and dropout); TensorFlow's kernels are the fallback,
    // which unsupported() only chooses without dropout masks.
    if (kernels !== null)
      ({ h, c } = seqtrainSequence(
        tf,
        kernels,
        cell,
        xt,
        h0,
        cell === 'lstm' ? c0 : null,
        weights,
        want,
        recurrentMask,
      ));
    else if (cell === 'lstm') ({ h, c } = lstmSequence(tf, ops, xt, h0, c0, weights, want));
    else if (cell === 'gru') h = gruSequence(tf, ops, xt, h0, weights, hSteps === 'last');
    else h = simpleRnnSequence(tf, ops, xt, h0, weights, hSteps === 'last');
    const major = (s: Tensor): Tensor3D => tf.transpose(s as Tensor3D, [1, 0, 2]);
    const step = (s: Tensor, t: number, time: 0 | 1): Tensor2D =>
      tf.reshape(
        tf.slice(s, time === 0 ? [t, 0, 0] : [0, t, 0], time === 0 ? [1, batch, units] : [batch, 1, units]),
        [batch, units],
      );
    let output: Tensor;
    let hLast = (): Tensor => h;
    let cLast = (): Tensor | null => c;
    if (sel === null) {
      output = hSteps === 'last' ? h : major(h);
      if (hSteps === 'all') hLast = () => step(h, timeSteps - 1, 0);
    } else if (layer.returnSequences) {
      const seq = sel.expand(major(h), h0);
      output = seq;
      hLast = () => step(seq, timeSteps - 1, 1);
    } else {
      output = sel.last(major(h), h0);
      hLast = () => output;
    }
    if (sel !== null && c !== null) {
      const cs = c;
      cLast = () => sel.last(major(cs), c0);
    }
    if (!layer.returnState) return output;
    const cl = cLast();
    return cl === null ? [output, hLast()] : [output, hLast(), cl];
  });
}
