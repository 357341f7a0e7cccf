/**
 * A GRU sequence (tfjs-layers semantics: resetAfter=false, gates z, r, h, sigmoid/tanh) as one
 * TensorFlow GRUBlockCell per step forward and one GRUBlockCellGrad per step backward, instead of
 * ~15 small tfjs ops per step each way. GRUBlockCell computes
 *   [r, u] = sigmoid([x, h] @ w_ru + b_ru),  c = tanh([x, r * h] @ w_c + b_c),  h' = u * h + (1 - u) * c
 * which is tfjs's GRU with u = z once the z and r column blocks are swapped. The op does not produce
 * weight gradients: those are hoisted out of the time loop into one matrix product each.
 */
import type { Tensor, Tensor2D, Tensor3D } from '@tensorflow/tfjs';
import type { Tf } from '../init-backend';
import { runCustomOp } from './custom-op';
import type { NativeOps } from './native-ops';

export interface GruWeights {
  kernel: Tensor2D;
  recurrentKernel: Tensor2D;
  bias: Tensor | null;
}

/** x: [T, B, I] time-major. Returns every step's h, [T, B, H]. */
export function gruSequence(tf: Tf, ops: NativeOps, x: Tensor3D, h0: Tensor2D, w: GruWeights): Tensor3D {
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
      const xs = tf.unstack(x);
      const r: Tensor[] = [];
      const u: Tensor[] = [];
      const c: Tensor[] = [];
      const h: Tensor[] = [];
      let prev: Tensor = h0;
      for (const xt of xs) {
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
      const out = tf.stack(h);
      save([wRu, wC, bRu, bC, h0, x, ...xs, ...h, ...r, ...u, ...c]);
      return [out];
    },
    backward: ([dOut], saved) => {
      const [wRu, wC, bRu, bC, h0s, xSaved] = saved as [Tensor, Tensor, Tensor, Tensor, Tensor, Tensor];
      // per-step blocks after the first six: x, h, r, u, c
      const at = (block: number, t: number): Tensor => saved[6 + block * timeSteps + t] as Tensor;
      const hPrev = (t: number): Tensor => (t === 0 ? h0s : at(1, t - 1));
      const dOuts = tf.unstack(dOut as Tensor);
      const dx: Tensor[] = new Array<Tensor>(timeSteps);
      const dRu: Tensor[] = new Array<Tensor>(timeSteps);
      const dC: Tensor[] = new Array<Tensor>(timeSteps);
      let dNext: Tensor | null = null;
      for (let t = timeSteps - 1; t >= 0; t--) {
        const dh: Tensor = dNext === null ? (dOuts[t] as Tensor) : tf.add(dOuts[t] as Tensor, dNext);
        const g = ops.run(
          'GRUBlockCellGrad',
          [at(0, t), hPrev(t), wRu, wC, bRu, bC, at(2, t), at(3, t), at(4, t), dh],
          4,
        );
        dx[t] = g[0] as Tensor;
        dNext = g[1] as Tensor;
        dC[t] = g[2] as Tensor;
        dRu[t] = g[3] as Tensor;
      }
      // Weight gradients summed over time and batch in one product each.
      const rows = timeSteps * batch;
      const xAll = tf.reshape(xSaved, [rows, inputDim]);
      const hPrevAll = tf.reshape(tf.stack(Array.from({ length: timeSteps }, (_, t) => hPrev(t))), [
        rows,
        units,
      ]);
      const rAll = tf.reshape(tf.stack(Array.from({ length: timeSteps }, (_, t) => at(2, t))), [rows, units]);
      const dRuAll = tf.reshape(tf.stack(dRu), [rows, 2 * units]);
      const dCAll = tf.reshape(tf.stack(dC), [rows, units]);
      const dWRu = tf.matMul(tf.concat([xAll, hPrevAll], 1), dRuAll, true, false);
      const dWC = tf.matMul(tf.concat([xAll, tf.mul(rAll, hPrevAll)], 1), dCAll, true, false);
      const [dKr, dRr] = tf.split(tf.slice(dWRu, [0, 0], [-1, units]), [inputDim, units], 0) as [
        Tensor,
        Tensor,
      ];
      const [dKz, dRz] = tf.split(tf.slice(dWRu, [0, units], [-1, units]), [inputDim, units], 0) as [
        Tensor,
        Tensor,
      ];
      const [dKh, dRh] = tf.split(dWC, [inputDim, units], 0) as [Tensor, Tensor];
      const dbRu = tf.sum(dRuAll, 0);
      const dbC = tf.sum(dCAll, 0);
      return {
        x: tf.stack(dx),
        h0: dNext ?? tf.zerosLike(h0s),
        kernel: tf.concat([dKz, dKr, dKh], 1),
        recurrentKernel: tf.concat([dRz, dRr, dRh], 1),
        bias: tf.concat([tf.slice(dbRu, [units], [units]), tf.slice(dbRu, [0], [units]), dbC], 0),
      };
    },
  });
  return hs as Tensor3D;
}
