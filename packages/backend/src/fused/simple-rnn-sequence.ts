/**
 * A tanh SimpleRNN sequence with everything that does not depend on the recurrence hoisted out of
 * the time loop: the input projection of all steps is one product before it, and the kernel,
 * recurrent-kernel, bias and input gradients are one product each after the backward loop. What
 * stays in the loop is h @ U, the add and tanh forward, and TanhGrad and dz @ U^T backward.
 */
import type { Tensor, Tensor2D, Tensor3D } from '@tensorflow/tfjs';
import type { Tf } from '../init-backend';
import { runCustomOp } from './custom-op';
import type { TensorflowOps } from './tensorflow-ops';
import type { RecurrentWeights } from './seqtrain-sequence';

/** x: [T, B, I] time-major. Returns every step's h [T, B, H], or with `last` only the last [B, H]. */
export function simpleRnnSequence(
  tf: Tf,
  ops: TensorflowOps,
  x: Tensor3D,
  h0: Tensor2D,
  w: RecurrentWeights,
  last: boolean,
): Tensor {
  const [timeSteps, batch, inputDim] = x.shape;
  const units = w.recurrentKernel.shape[0];
  const rows = timeSteps * batch;
  const inputs: Record<string, Tensor> = { x, h0, kernel: w.kernel, recurrentKernel: w.recurrentKernel };
  if (w.bias !== null) inputs.bias = w.bias;
  const [hs] = runCustomOp(tf, {
    name: 'SeqtrainFusedSimpleRnn',
    inputs,
    forward: (save) => {
      // Same association as tfjs's cell: (x @ W + b) + h @ U.
      let proj = tf.matMul(tf.reshape(x, [rows, inputDim]), w.kernel);
      if (w.bias !== null) proj = tf.add(proj, w.bias);
      const projs = tf.unstack(tf.reshape(proj, [timeSteps, batch, units]));
      const h: Tensor[] = [];
      let prev: Tensor = h0;
      for (const p of projs) {
        prev = tf.tanh(tf.add(p, tf.matMul(prev, w.recurrentKernel)));
        h.push(prev);
      }
      const out = tf.stack(h);
      save([x, h0, w.kernel, w.recurrentKernel, out]);
      return [last ? prev : out];
    },
    backward: ([dOut], saved) => {
      const [xs, h0s, kernel, recurrent, out] = saved as [Tensor, Tensor, Tensor, Tensor, Tensor];
      const h = tf.unstack(out);
      const dOuts = last ? null : tf.unstack(dOut as Tensor);
      const dz: Tensor[] = new Array<Tensor>(timeSteps);
      let dNext: Tensor | null = last ? (dOut as Tensor) : null;
      for (let t = timeSteps - 1; t >= 0; t--) {
        // With only the last output used, the gradient reaching step t < T-1 is the recurrent one.
        const step = dOuts?.[t];
        const dh = step === undefined ? (dNext as Tensor) : dNext === null ? step : tf.add(step, dNext);
        // TanhGrad(y, dy) = dy * (1 - y^2) in one native op.
        const g = ops.run('TanhGrad', [h[t] as Tensor, dh], 1)[0] as Tensor;
        dz[t] = g;
        dNext = tf.matMul(g, recurrent, false, true);
      }
      const dzAll = tf.reshape(tf.stack(dz), [rows, units]);
      const xAll = tf.reshape(xs, [rows, inputDim]);
      const hPrevAll = tf.reshape(
        tf.concat([tf.expandDims(h0s, 0), tf.slice(out, [0, 0, 0], [timeSteps - 1, batch, units])], 0),
        [rows, units],
      );
      return {
        x: tf.reshape(tf.matMul(dzAll, kernel, false, true), [timeSteps, batch, inputDim]),
        h0: dNext ?? tf.zerosLike(h0s),
        kernel: tf.matMul(xAll, dzAll, true, false),
        recurrentKernel: tf.matMul(hPrevAll, dzAll, true, false),
        bias: tf.sum(dzAll, 0),
      };
    },
  });
  return hs as Tensor;
}
