/**
 * A whole LSTM, GRU or SimpleRNN sequence on seqtrain's kernels (seqtrain-kernels.ts) as one custom
 * op: tensors are read into the addon, outputs come back as new tensors, and the activations stay
 * on the addon's tape until the backward of this call.
 */
import type { Tensor, Tensor2D, Tensor3D } from '@tensorflow/tfjs';
import { SeqtrainError, type Cell } from '@seqtrain/contracts';
import type { Tf } from '../init-backend';
import { runCustomOp } from './custom-op';
import type { RnnKernels, SequenceTape } from './seqtrain-kernels';

/** seqtrain's own kernels and the native thread count they split the batch over. */
export interface SeqtrainKernels {
  kernels: RnnKernels;
  threads: number;
}

export interface RecurrentWeights {
  kernel: Tensor2D;
  recurrentKernel: Tensor2D;
  bias: Tensor | null;
}

/**
 * Which steps an output is needed for: every step ([T, B, H]), only the last ([B, H]), or none.
 * Asking only for what the layer returns keeps unused [T, B, H] gradients from being built at all.
 */
export type Steps = 'all' | 'last' | 'none';

/**
 * x: [T, B, I] time-major; c0 for the LSTM only; recurrentMask [B, H] for recurrent dropout (a
 * constant: no gradient flows to it). Returns h and c for the steps asked for.
 */
export function seqtrainSequence(
  tf: Tf,
  own: SeqtrainKernels,
  cell: Cell,
  x: Tensor3D,
  h0: Tensor2D,
  c0: Tensor2D | null,
  w: RecurrentWeights,
  want: { h: Exclude<Steps, 'none'>; c: Steps },
  recurrentMask: Tensor2D | null = null,
): { h: Tensor; c: Tensor | null } {
  const [timeSteps, batch, inputDim] = x.shape;
  const units = w.recurrentKernel.shape[0];
  const gates = (cell === 'lstm' ? 4 : cell === 'gru' ? 3 : 1) * units;
  const k = own.kernels;
  const [forward, backward, inputGrad] =
    cell === 'lstm'
      ? [k.lstmForward, k.lstmBackward, k.lstmInputGrad]
      : cell === 'gru'
        ? [k.gruForward, k.gruBackward, k.gruInputGrad]
        : [k.simpleRnnForward, k.simpleRnnBackward, k.simpleRnnInputGrad];
  const floats = (t: Tensor): Float32Array => t.dataSync() as Float32Array;
  const inputs: Record<string, Tensor> = { x, h0, kernel: w.kernel, recurrentKernel: w.recurrentKernel };
  if (c0 !== null) inputs.c0 = c0;
  if (w.bias !== null) inputs.bias = w.bias;
  const wantC = c0 === null ? 'none' : want.c;
  // Only the last step wanted: the kernel returns [B, H], not [T, B, H] to slice.
  const lastOnly = want.h === 'last' && wantC !== 'all';
  // The tape lives in this closure: the backward of this call is its only reader. Without a
  // gradient tape recording (inference) the kernels keep nothing.
  const keep = (tf.engine() as unknown as { isTapeOn(): boolean }).isTapeOn();
  let tape: SequenceTape | null = null;
  const steps = (out: Float32Array, s: Steps): Tensor =>
    s === 'all'
      ? tf.tensor3d(out, [timeSteps, batch, units])
      : tf.tensor2d(lastOnly ? out : out.subarray((timeSteps - 1) * batch * units), [batch, units]);
  const outs = runCustomOp(tf, {
    name: cell === 'lstm' ? 'SeqtrainOwnLstm' : cell === 'gru' ? 'SeqtrainOwnGru' : 'SeqtrainOwnSimpleRnn',
    inputs,
    forward: () => {
      const r = forward({
        x: floats(x),
        h0: floats(h0),
        ...(c0 === null ? {} : { c0: floats(c0) }),
        kernel: floats(w.kernel),
        recurrentKernel: floats(w.recurrentKernel),
        bias: w.bias === null ? null : floats(w.bias),
        timeSteps,
        batch,
        inputs: inputDim,
        units,
        threads: own.threads,
        keep,
        lastOnly,
        recurrentMask: recurrentMask === null ? null : floats(recurrentMask),
      });
      tape = r.tape;
      const h = steps(r.h, want.h);
      return wantC === 'none' || r.c === undefined ? [h] : [h, steps(r.c, wantC)];
    },
    backward: ([dh, dc]) => {
      const t = tape;
      if (t === null) throw new SeqtrainError(`${cell} sequence: backward without a recorded forward`);
      const g = backward({
        tape: t,
        dh: dh === undefined ? null : floats(dh),
        ...(c0 === null ? {} : { dc: dc === undefined || wantC === 'none' ? null : floats(dc) }),
      });
      const grads: Record<string, Tensor | (() => Tensor)> = {
        x: () => tf.tensor3d(inputGrad({ tape: t }), [timeSteps, batch, inputDim]),
        h0: tf.tensor2d(g.dh0, [batch, units]),
        kernel: tf.tensor2d(g.dKernel, [inputDim, gates]),
        recurrentKernel: tf.tensor2d(g.dRecurrentKernel, [units, gates]),
      };
      if (c0 !== null && g.dc0 !== undefined) grads.c0 = tf.tensor2d(g.dc0, [batch, units]);
      if (g.dBias !== null) grads.bias = tf.tensor1d(g.dBias);
      return grads;
    },
  });
  return { h: outs[0] as Tensor, c: outs[1] ?? null };
}
