/**
 * A whole LSTM sequence in one native call on TensorFlow's kernels (the fallback when seqtrain's
 * own are not built): BlockLSTMV2 forward and BlockLSTMGradV2 backward. V2 uses the i, f, c, o gate
 * layout of tfjs-layers and Keras, sigmoid gates and tanh activations; [x, h] @ w with
 * w = [kernel; recurrentKernel] is exactly tfjs's split products.
 */
import type { Tensor, Tensor2D, Tensor3D } from '@tensorflow/tfjs';
import type { Tf } from '../init-backend';
import { runCustomOp } from './custom-op';
import type { TensorflowOps } from './tensorflow-ops';
import type { RecurrentWeights, Steps } from './seqtrain-sequence';

/** x: [T, B, I] time-major. Returns h and c for the steps asked for (null for 'none'). */
export function lstmSequence(
  tf: Tf,
  ops: TensorflowOps,
  x: Tensor3D,
  h0: Tensor2D,
  c0: Tensor2D,
  w: RecurrentWeights,
  want: { h: Exclude<Steps, 'none'>; c: Steps },
): { h: Tensor; c: Tensor | null } {
  const [timeSteps, batch, inputDim] = x.shape;
  const units = w.recurrentKernel.shape[0];
  const seqLen = ops.int64Scalar(timeSteps);
  // TensorFlow logs a warning on every BlockLSTM call whose batch and input sizes are both odd; one
  // zero input feature (with a zero kernel row) avoids that and changes no value.
  const padInput = batch % 2 === 1 && inputDim % 2 === 1;
  const inputs: Record<string, Tensor> = { x, h0, c0, kernel: w.kernel, recurrentKernel: w.recurrentKernel };
  if (w.bias !== null) inputs.bias = w.bias;
  const pick = (all: Tensor, steps: Steps): Tensor =>
    steps === 'all'
      ? all
      : tf.reshape(tf.slice(all, [timeSteps - 1, 0, 0], [1, batch, units]), [batch, units]);
  // The op takes gradients for every step: a last-step gradient is padded with zeros natively.
  const widen = (d: Tensor | undefined, steps: Steps, like: Tensor): Tensor => {
    if (d === undefined || steps === 'none') return ops.run('ZerosLike', [like], 1)[0] as Tensor;
    return steps === 'all'
      ? d
      : tf.pad(tf.expandDims(d, 0), [
          [timeSteps - 1, 0],
          [0, 0],
          [0, 0],
        ]);
  };
  const outs = runCustomOp(tf, {
    name: 'SeqtrainFusedLstm',
    inputs,
    forward: (save) => {
      const wx = tf.concat(
        padInput ? [w.kernel, tf.zeros([1, 4 * units]), w.recurrentKernel] : [w.kernel, w.recurrentKernel],
        0,
      );
      const xIn = padInput
        ? tf.pad(x, [
            [0, 0],
            [0, 0],
            [0, 1],
          ])
        : x;
      const b = w.bias ?? tf.zeros([4 * units]);
      // No peepholes: zero wci/wcf/wco with use_peephole=false; cell_clip < 0 disables clipping.
      const peep = tf.zeros([units]);
      const acts = ops.run('BlockLSTMV2', [seqLen, xIn, c0, h0, wx, peep, peep, peep, b], 7, [
        ops.floatAttr('cell_clip', -1),
        ops.boolAttr('use_peephole', false),
      ]);
      // i, cs, f, o, ci, co, h
      save([xIn, c0, h0, wx, b, peep, ...acts]);
      const h = pick(acts[6] as Tensor, want.h);
      return want.c === 'none' ? [h] : [h, pick(acts[1] as Tensor, want.c)];
    },
    backward: ([dh, dc], saved) => {
      const [xs, c0s, h0s, wx, b, peep, ...acts] = saved as [
        Tensor,
        Tensor,
        Tensor,
        Tensor,
        Tensor,
        Tensor,
        ...Tensor[],
      ];
      const g = ops.run(
        'BlockLSTMGradV2',
        [
          seqLen,
          xs,
          c0s,
          h0s,
          wx,
          peep,
          peep,
          peep,
          b,
          ...acts,
          widen(dc, want.c, acts[1] as Tensor),
          widen(dh, want.h, acts[6] as Tensor),
        ],
        8,
        [ops.boolAttr('use_peephole', false)],
      );
      const [dx, dc0, dh0, dw, , , , db] = g as [
        Tensor,
        Tensor,
        Tensor,
        Tensor,
        Tensor,
        Tensor,
        Tensor,
        Tensor,
      ];
      const [dKernel, , dRecurrent] = tf.split(dw, [inputDim, padInput ? 1 : 0, units], 0) as [
        Tensor,
        Tensor,
        Tensor,
      ];
      const dxIn = padInput ? tf.slice(dx, [0, 0, 0], [timeSteps, batch, inputDim]) : dx;
      return { x: dxIn, h0: dh0, c0: dc0, kernel: dKernel, recurrentKernel: dRecurrent, bias: db };
    },
  });
  return { h: outs[0] as Tensor, c: outs[1] ?? null };
}
