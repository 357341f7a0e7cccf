import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@seqtrain/backend';
import { STEPS, singleProcess, specFor, workers } from '../test/data-parallel-harness';

/**
 * Same scenario on native TensorFlow. The averaging and the optimizer are pure JS and exact, but
 * native kernels occasionally return a last-bit-different gradient for identical inputs (see
 * data-parallel.test.ts), so weights are compared with max |a - b| <= 1e-6 * max |w|.
 */
let native = true;
beforeAll(async () => {
  try {
    await initBackend({ backend: 'tensorflow' });
  } catch {
    native = false;
  }
});

describe('data-parallel averaging on native TensorFlow', () => {
  for (const cell of ['lstm', 'gru'] as const) {
    it(`${cell}: 2, 3 and 4 workers match one process within 1e-6 relative over ${STEPS} Adam steps`, (ctx) => {
      if (!native) ctx.skip();
      const spec = specFor(cell);
      const reference = singleProcess(spec);
      const scale = reference.weights.reduce((a, w) => Math.max(a, Math.abs(w)), 0);
      for (const n of [2, 3, 4]) {
        const result = workers(spec, n);
        let diff = 0;
        result.weights.forEach((w, i) => (diff = Math.max(diff, Math.abs(w - reference.weights[i]!))));
        expect(diff, `${n} workers`).toBeLessThanOrEqual(1e-6 * scale);
      }
    });
  }
});
