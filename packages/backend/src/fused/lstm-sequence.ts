/**
 * A whole LSTM sequence in one native call: TensorFlow's BlockLSTMV2 forward and BlockLSTMGradV2
 * backward. V2 uses the i, f, c, o gate layout of tfjs-layers and Keras, sigmoid gates and tanh
 * activations; [x, h] @ w with w = [kernel; recurrentKernel] is exactly tfjs's split products.
 */
import type { Tensor, Tensor2D, Tensor3D } from '@tensorflow/tfjs';
import type { Tf } from '../init-backend';
import { runCustomOp } from './custom-op';
import type { NativeOps } from './native-ops';

export interface LstmWeights {
  kernel: Tensor2D;
  recurrentKernel: Tensor2D;
  bias: Tensor | null;
}

/** x: [T, B, I] time-major. Returns every step's h and c, each [T, B, H]. */
export function lstmSequence(
  tf: Tf,
  ops: NativeOps,
  x: Tensor3D,
  h0: Tensor2D,
  c0: Tensor2D,
  w: LstmWeights,
): { h: Tensor3D; c: Tensor3D } {
  const [timeSteps, , inputDim] = x.shape;
  const units = w.recurrentKernel.shape[0];
  const seqLen = ops.int64Scalar(timeSteps);
  const inputs: Record<string, Tensor> = { x, h0, c0, kernel: w.kernel, recurrentKernel: w.recurrentKernel };
  if (w.bias !== null) inputs.bias = w.bias;
  const [h, c] = runCustomOp(tf, {
    name: 'SeqtrainFusedLstm',
    inputs,
    forward: (save) => {
      const wx = tf.concat([w.kernel, w.recurrentKernel], 0);
      const b = w.bias ?? tf.zeros([4 * units]);
      // No peepholes: zero wci/wcf/wco with use_peephole=false; cell_clip < 0 disables clipping.
      const peep = tf.zeros([units]);
      const outs = ops.run('BlockLSTMV2', [seqLen, x, c0, h0, wx, peep, peep, peep, b], 7, [
        ops.floatAttr('cell_clip', -1),
        ops.boolAttr('use_peephole', false),
      ]);
      // i, cs, f, o, ci, co, h
      save([x, c0, h0, wx, b, ...outs]);
      return [outs[6] as Tensor, outs[1] as Tensor];
    },
    backward: ([dh, dc], saved) => {
      const [xs, c0s, h0s, wx, b, ...acts] = saved as [Tensor, Tensor, Tensor, Tensor, Tensor, ...Tensor[]];
      const peep = tf.zeros([units]);
      const g = ops.run(
        'BlockLSTMGradV2',
        [seqLen, xs, c0s, h0s, wx, peep, peep, peep, b, ...acts, dc as Tensor, dh as Tensor],
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
      const [dKernel, dRecurrent] = tf.split(dw, [inputDim, units], 0) as [Tensor, Tensor];
      return { x: dx, h0: dh0, c0: dc0, kernel: dKernel, recurrentKernel: dRecurrent, bias: db };
    },
  });
  return { h: h as Tensor3D, c: c as Tensor3D };
}
