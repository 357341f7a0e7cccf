/**
 * Makes tfjs-layers' LSTM, GRU and SimpleRNN layers run on the fused native sequences when the
 * tensorflow backend is active, without changing the layers themselves: same classes, weights and
 * model.json, so models built, trained and saved here load unchanged in plain tfjs. Each layer's
 * `call` is patched; a configuration the fused path does not reproduce exactly (other activations,
 * dropout while training, stateful, unroll) falls back to the original op-by-op loop.
 */
import type { Tensor, Tensor2D, Tensor3D } from '@tensorflow/tfjs';
import type { Tf } from '../init-backend';
import { gruSequence } from './gru-sequence';
import { lstmSequence } from './lstm-sequence';
import { NativeOps } from './native-ops';
import { maskSelection } from './sequence-mask';
import { simpleRnnSequence } from './simple-rnn-sequence';

export type FusedCell = 'lstm' | 'gru' | 'simpleRNN';

export interface FusedRnnStats {
  /** layer calls computed by the fused sequences */
  fused: Record<FusedCell, number>;
  /** layer calls that ran tfjs's own loop, and why */
  fallback: Record<FusedCell, number>;
  lastFallbackReason: string | null;
}

interface Activation {
  getClassName(): string;
}
interface Weight {
  read(): Tensor;
}
interface Cell {
  units: number;
  activation: Activation;
  recurrentActivation?: Activation;
  dropout: number;
  recurrentDropout: number;
  dropoutMask: Tensor | Tensor[] | null;
  recurrentDropoutMask: Tensor | Tensor[] | null;
  kernel: Weight;
  recurrentKernel: Weight;
  bias: Weight | null;
}
interface RnnLayer {
  cell: Cell;
  returnSequences: boolean;
  returnState: boolean;
  goBackwards: boolean;
  stateful: boolean;
  unroll: boolean;
}
type Kwargs = Record<string, unknown> | undefined | null;
type Call = (this: RnnLayer, inputs: Tensor | Tensor[], kwargs: Kwargs) => Tensor | Tensor[];

const PATCHED = Symbol.for('seqtrain.fusedRnnKernels');
const CELLS: readonly FusedCell[] = ['lstm', 'gru', 'simpleRNN'];

let state: { tf: Tf; ops: NativeOps } | undefined;
let enabled = true;
const stats: FusedRnnStats = { fused: zeroCounts(), fallback: zeroCounts(), lastFallbackReason: null };

/**
 * Patches the recurrent layer classes of this tfjs instance (idempotent). Only meaningful on the
 * tfjs-node backend; initBackend calls it when it selects `tensorflow`.
 */
export function registerFusedRnnKernels(tf: Tf): void {
  state = { tf, ops: new NativeOps(tf) };
  const probes: Record<FusedCell, object> = {
    lstm: tf.layers.lstm({ units: 1 }),
    gru: tf.layers.gru({ units: 1 }),
    simpleRNN: tf.layers.simpleRNN({ units: 1 }),
  };
  for (const cell of CELLS) {
    const proto = Object.getPrototypeOf(probes[cell]) as Record<PropertyKey, unknown>;
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

export function fusedRnnStats(): FusedRnnStats {
  return {
    fused: { ...stats.fused },
    fallback: { ...stats.fallback },
    lastFallbackReason: stats.lastFallbackReason,
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
  // tfjs draws dropout masks only while training; at inference dropout is the identity.
  if (kwargs?.training === true && (c.dropout > 0 || c.recurrentDropout > 0)) return 'dropout while training';
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
  const { tf, ops } = state as { tf: Tf; ops: NativeOps };
  return tf.tidy(() => {
    // Same housekeeping as the original call: masks left by an earlier dropout fallback go now.
    const c = layer.cell;
    for (const key of ['dropoutMask', 'recurrentDropoutMask'] as const) {
      if (c[key] !== null) {
        tf.dispose(c[key]);
        c[key] = null;
      }
    }
    let x = one(inputs) as Tensor3D;
    const [batch, timeSteps] = x.shape;
    const units = c.units;
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
    const xt = tf.transpose(x, [1, 0, 2]);
    const weights = {
      kernel: c.kernel.read() as Tensor2D,
      recurrentKernel: c.recurrentKernel.read() as Tensor2D,
      bias: c.bias?.read() ?? null,
    };
    const h0 = initial[0] as Tensor2D;
    let hs: Tensor3D;
    let cs: Tensor3D | null = null;
    if (cell === 'lstm') {
      const out = lstmSequence(tf, ops, xt, h0, initial[1] as Tensor2D, weights);
      hs = out.h;
      cs = out.c;
    } else if (cell === 'gru') {
      hs = gruSequence(tf, ops, xt, h0, weights);
    } else {
      hs = simpleRnnSequence(tf, ops, xt, h0, weights);
    }
    const lastStep = (s: Tensor3D): Tensor2D =>
      tf.reshape(tf.slice(s, [timeSteps - 1, 0, 0], [1, batch, units]), [batch, units]);
    const major = (s: Tensor3D): Tensor3D => tf.transpose(s, [1, 0, 2]);
    let seq: Tensor3D | null = null;
    let hLast: Tensor2D;
    let cLast: Tensor2D | null = null;
    if (sel === null) {
      hLast = lastStep(hs);
      if (cs !== null) cLast = lastStep(cs);
      if (layer.returnSequences) seq = major(hs);
    } else {
      hLast = sel.last(major(hs), h0);
      if (cs !== null) cLast = sel.last(major(cs), initial[1] as Tensor2D);
      if (layer.returnSequences) seq = sel.expand(major(hs), h0);
    }
    const output = seq ?? hLast;
    if (!layer.returnState) return output;
    return cLast === null ? [output, hLast] : [output, hLast, cLast];
  });
}
