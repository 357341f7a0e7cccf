/**
 * A GRU sequence (tfjs-layers semantics: resetAfter=false, gates z, r, h, sigmoid/tanh) on
 * TensorFlow's kernels (the fallback when seqtrain's own are not built): one
 * TensorFlow GRUBlockCell per step forward and one GRUBlockCellGrad per step backward, instead of
 * ~15 small tfjs ops per step each way. GRUBlockCell computes
 *   [r, u] = sigmoid([x, h] @ w_ru + b_ru),  c = tanh([x, r * h] @ w_c + b_c),  h' = u * h + (1 - u) * c
 * which is tfjs's GRU with u = z once the z and r column blocks are swapped. The op does not produce
 * weight gradients: those are hoisted out of the time loop into one matrix product each.
 */
import type { Tensor, Tensor2D, Tensor3D } from '@tensorflow/tfjs';
import type { Tf } from '../init-backend';
import { runCustomOp } from './custom-op';
import type { TensorflowOps } from './tensorflow-ops';
import type { RecurrentWeights } from './seqtrain-sequence';

/** x: [T, B, I] time-major. Returns every step's h [T, B, H], or with `last` only the last [B, H]. */
export function gruSequence(
  tf: Tf,
  ops: TensorflowOps,
  x: Tensor3D,
  h0: Tensor2D,
  w: RecurrentWeights,
  last: boolean,
): Tensor {
  const [timeSteps, batch, inputDim] = x.shape;
  const units = w.recurrentKernel.shape[0];
  const inputs: Record<string, Tensor> = { x, h0, kernel: w.kernel, recurrentKernel: w.recurrentKernel };
  if (w.bias !== null) inputs.bias = w.bias;
  const [hs] = runCustomOp(tf, {
    name: 'SeqtrainFusedGru',
    inputs,
    forward: (save) => {
      const [kz, kr, kh] = tf.split(w.kernel, 3, 1) as [Tensor, Tensor, Tensor];
      const [rz, rr, rh] = tf.split(w.recurrentKernel, 3, 1) as [Tensor, Tensor, Tensor];
      const wRu = tf.concat([tf.concat([kr, kz], 1), tf.concat([rr, rz], 1)], 0);
      const wC = tf.concat([kh, rh], 0);
      let bRu: Tensor;
      let bC: Tensor;
      if (w.bias === null) {
        bRu = tf.zeros([2 * units]);
        bC = tf.zeros([units]);
      } else {
        const [bz, br, bh] = tf.split(w.bias, 3, 0) as [Tensor, Tensor, Tensor];
        bRu = tf.concat([br, bz], 0);
        bC = bh;
      }
      const r: Tensor[] = [];
      const u: Tensor[] = [];
      const c: Tensor[] = [];
      const h: Tensor[] = [];
      let prev: Tensor = h0;
      for (const xt of tf.unstack(x)) {
        const [rt, ut, ct, ht] = ops.run('GRUBlockCell', [xt, prev, wRu, wC, bRu, bC], 4) as [
          Tensor,
          Tensor,
          Tensor,
          Tensor,
        ];
        r.push(rt);
        u.push(ut);
        c.push(ct);
        h.push(ht);
        prev = ht;
      }
      // Saved stacked: the engine clones every saved tensor with one op each.
      const hAll = tf.stack(h);
      save([wRu, wC, bRu, bC, h0, x, hAll, tf.stack(r), tf.stack(u), tf.stack(c)]);
      return [last ? prev : hAll];
    },
    backward: ([dOut], saved) => {
      const [wRu, wC, bRu, bC, h0s, xs, hAll, rAll, uAll, cAll] = saved as [
        Tensor,
        Tensor,
        Tensor,
        Tensor,
        Tensor,
        Tensor,
        Tensor,
        Tensor,
        Tensor,
        Tensor,
      ];
      const [xt, ht, rt, ut, ct] = [xs, hAll, rAll, uAll, cAll].map((s) => tf.unstack(s)) as [
        Tensor[],
        Tensor[],
        Tensor[],
        Tensor[],
        Tensor[],
      ];
      const dOuts = last ? null : tf.unstack(dOut as Tensor);
      const dRu: Tensor[] = new Array<Tensor>(timeSteps);
      const dC: Tensor[] = new Array<Tensor>(timeSteps);
      const dx: Tensor[] = new Array<Tensor>(timeSteps);
      let dNext: Tensor | null = last ? (dOut as Tensor) : null;
      for (let t = timeSteps - 1; t >= 0; t--) {
        // With only the last output used, the gradient reaching step t < T-1 is the recurrent one.
        const step = dOuts?.[t];
        const dh = step === undefined ? (dNext as Tensor) : dNext === null ? step : tf.add(step, dNext);
        const hPrev = t === 0 ? h0s : (ht[t - 1] as Tensor);
        const g = ops.run(
          'GRUBlockCellGrad',
          [xt[t] as Tensor, hPrev, wRu, wC, bRu, bC, rt[t] as Tensor, ut[t] as Tensor, ct[t] as Tensor, dh],
          4,
        );
        dx[t] = g[0] as Tensor;
        dNext = g[1] as Tensor;
        dC[t] = g[2] as Tensor;
        dRu[t] = g[3] as Tensor;
      }
      // Weight gradients summed over time and batch in one product each.
      const rows = timeSteps * batch;
      const xRows = tf.reshape(xs, [rows, inputDim]);
      const hPrevRows = tf.reshape(
        tf.concat([tf.expandDims(h0s, 0), tf.slice(hAll, [0, 0, 0], [timeSteps - 1, batch, units])], 0),
        [rows, units],
      );
      const dRuRows = tf.reshape(tf.stack(dRu), [rows, 2 * units]);
      const dCRows = tf.reshape(tf.stack(dC), [rows, units]);
      const dWRu = tf.matMul(tf.concat([xRows, hPrevRows], 1), dRuRows, true, false);
      const dWC = tf.matMul(
        tf.concat([xRows, tf.mul(tf.reshape(rAll, [rows, units]), hPrevRows)], 1),
        dCRows,
        true,
        false,
      );
      const [dKr, dKz] = tf.split(tf.slice(dWRu, [0, 0], [inputDim, 2 * units]), 2, 1) as [Tensor, Tensor];
      const [dRr, dRz] = tf.split(tf.slice(dWRu, [inputDim, 0], [units, 2 * units]), 2, 1) as [
        Tensor,
        Tensor,
      ];
      const [dKh, dRh] = tf.split(dWC, [inputDim, units], 0) as [Tensor, Tensor];
      const [dbR, dbZ] = tf.split(tf.sum(dRuRows, 0), 2, 0) as [Tensor, Tensor];
      return {
        x: tf.stack(dx),
        h0: dNext ?? tf.zerosLike(h0s),
        kernel: tf.concat([dKz, dKr, dKh], 1),
        recurrentKernel: tf.concat([dRz, dRr, dRh], 1),
        bias: tf.concat([dbZ, dbR, tf.sum(dCRows, 0)], 0),
      };
    },
  });
  return hs as Tensor;
}
