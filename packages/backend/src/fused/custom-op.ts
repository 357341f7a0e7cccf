/**
 * A multi-output op with a hand-written gradient. tf.customGrad allows one output only; the engine's
 * runKernelFunc (which customGrad wraps) takes any number, so the fused sequences use it directly.
 * The forward runs with the tape off; what the gradient needs is saved (kept) only while a tape is
 * recording, and the engine disposes it after backprop.
 */
import { SeqtrainError } from '@seqtrain/contracts';
import type { Tensor } from '@tensorflow/tfjs';
import type { Tf } from '../init-backend';

interface CustomKernelEngine {
  runKernelFunc(params: {
    forwardFunc: (backend: unknown, save: (tensors: Tensor[]) => void) => Tensor[];
    backwardsFunc: (dy: Tensor | Tensor[], saved: Tensor[]) => Record<string, () => Tensor>;
    inputs: Record<string, Tensor>;
  }): Tensor[];
}

export interface CustomOp {
  /** a unique name: the engine looks registered gradients up by the scope name */
  name: string;
  inputs: Record<string, Tensor>;
  forward(save: (tensors: Tensor[]) => void): Tensor[];
  /**
   * Gradients for every input, by name, from the output gradients (zeros for unused outputs). A
   * function is called only if the engine needs that input's gradient (a first layer's input is
   * data, so its gradient usually is not).
   */
  backward(dys: Tensor[], saved: Tensor[]): Record<string, Tensor | (() => Tensor)>;
}

export function runCustomOp(tf: Tf, op: CustomOp): Tensor[] {
  const engine = tf.engine() as unknown as CustomKernelEngine;
  return tf.tidy(op.name, () =>
    engine.runKernelFunc({
      inputs: op.inputs,
      forwardFunc: (_backend, save) => op.forward(save),
      backwardsFunc: (dy, saved) => {
        const grads = op.backward(Array.isArray(dy) ? dy : [dy], saved);
        return Object.fromEntries(
          Object.keys(op.inputs).map((k) => [k, () => required(grads[k], k, op.name)]),
        );
      },
    }),
  );
}

function required(t: Tensor | (() => Tensor) | undefined, input: string, op: string): Tensor {
  if (t === undefined) throw new SeqtrainError(`${op}: gradient for input ${input} missing`);
  return typeof t === 'function' ? t() : t;
}
