/**
 * Exact masking for the fused sequences. tfjs-layers holds the state (and repeats the last output)
 * on masked steps, so a masked sequence is the unmasked recurrence over its valid steps only. Any
 * mask therefore becomes: move each example's valid steps to the front (in order), run the fused
 * sequence over all T steps (the trailing padding rows are zeros and their outputs are never used),
 * then read step t's output from the recurrence after cnt(t) valid steps, where cnt(t) = 0 is the
 * initial state. Both moves are products with 0/1 selection matrices built from the mask, which
 * copy values exactly and carry gradients back through the same products.
 */
import type { Tensor, Tensor2D, Tensor3D } from '@tensorflow/tfjs';
import type { Tf } from '../init-backend';

export interface MaskSelection {
  /** x [B, T, I] -> each example's valid steps first, zeros after */
  compact(x: Tensor3D): Tensor3D;
  /** compacted outputs [B, T, H] and initial state [B, H] -> tfjs's per-step outputs [B, T, H] */
  expand(y: Tensor3D, initial: Tensor2D): Tensor3D;
  /** the state after each example's last valid step (the initial state when it has none) */
  last(y: Tensor3D, initial: Tensor2D): Tensor2D;
}

/** mask: [B, T], already in the order the recurrence runs (reversed for goBackwards). */
export function maskSelection(tf: Tf, mask: Tensor): MaskSelection {
  const [batch, timeSteps] = mask.shape as [number, number];
  const m = tf.cast(tf.cast(mask, 'bool'), 'float32');
  const count = tf.cumsum(m, 1);
  // gather[b, k, t] = 1 when step t is example b's k-th valid step (0-based)
  const slot = tf.reshape(tf.range(0, timeSteps, 1, 'float32'), [1, timeSteps, 1]);
  const gather = tf.mul(
    tf.cast(tf.equal(tf.expandDims(tf.sub(count, 1), 1), slot), 'float32'),
    tf.expandDims(m, 1),
  );
  // pick[b, t, j] = 1 when j valid steps have run by step t (j = 0: the initial state)
  const source = tf.reshape(tf.range(0, timeSteps + 1, 1, 'float32'), [1, 1, timeSteps + 1]);
  const pick = tf.cast(tf.equal(tf.expandDims(count, 2), source), 'float32');
  const withInitial = (y: Tensor3D, initial: Tensor2D): Tensor3D =>
    tf.concat([tf.expandDims<Tensor3D>(initial, 1), y], 1);
  return {
    compact: (x) => tf.matMul(gather, x),
    expand: (y, initial) => tf.matMul(pick, withInitial(y, initial)),
    last: (y, initial) => {
      const row = tf.slice(pick, [0, timeSteps - 1, 0], [batch, 1, timeSteps + 1]);
      return tf.reshape(tf.matMul(row, withInitial(y, initial)), [batch, y.shape[2]]);
    },
  };
}
