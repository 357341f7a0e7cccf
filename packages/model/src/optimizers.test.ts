/**
 * The flat optimisers against tfjs's own optimisers (same gradients, same order), checkpoint
 * save/restore mid-run, schedules and clipping against hand derivations.
 */
import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { CorruptDataError, parseTrainingSpec } from '@seqtrain/contracts';
import type { OptimizerSpec } from '@seqtrain/contracts';
import {
  applyGradients,
  clipByGlobalNorm,
  createRng,
  decodeCheckpoint,
  encodeCheckpoint,
  initOptimizerState,
  learningRateAt,
  optimizerStep,
} from './index';
import type { Checkpoint } from './index';
import { decodeGradients, encodeBundle } from './codec';
import { useFastestCpuBackend } from '../test/test-backend';

const N = 257;
const rng = createRng(42);
const w0 = Float32Array.from({ length: N }, () => rng.normal());
const grads = Array.from({ length: 12 }, () => Float32Array.from({ length: N }, () => rng.normal() * 0.1));

function tfjsReference(optimizer: tf.Optimizer): Float32Array {
  const v = tf.variable(tf.tensor(w0), true, `w_${Math.random()}`);
  for (const g of grads) {
    const gt = tf.tensor(g);
    optimizer.applyGradients({ [v.name]: gt });
    gt.dispose();
  }
  const out = v.dataSync() as Float32Array;
  v.dispose();
  optimizer.dispose();
  return out;
}

function ours(spec: OptimizerSpec): Float32Array {
  let state = initOptimizerState(spec, N);
  let w: Float32Array = w0;
  for (const g of grads) ({ weights: w, state } = optimizerStep(spec, state, w, g, spec.learningRate));
  return w;
}

function maxRelDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++)
    m = Math.max(m, Math.abs(a[i]! - b[i]!) / Math.max(1e-6, Math.abs(b[i]!)));
  return m;
}

beforeAll(async () => {
  await useFastestCpuBackend();
});

describe('optimisers match tfjs', () => {
  // Same float32 op sequence as tfjs; a backend kernel may round differently (e.g. fused ops), so
  // the bound is 1e-6 relative rather than bit equality.
  it('adam', () => {
    const spec = parseTrainingSpec({ optimizer: { name: 'adam', learningRate: 0.01 } }).optimizer;
    expect(maxRelDiff(ours(spec), tfjsReference(tf.train.adam(0.01, 0.9, 0.999, 1e-7)))).toBeLessThan(1e-6);
  });
  it('rmsprop with momentum', () => {
    const spec = parseTrainingSpec({
      optimizer: { name: 'rmsprop', learningRate: 0.01, rho: 0.9, momentum: 0.5 },
    }).optimizer;
    expect(maxRelDiff(ours(spec), tfjsReference(tf.train.rmsprop(0.01, 0.9, 0.5, 1e-7)))).toBeLessThan(1e-6);
  });
  it('sgd with (nesterov) momentum and plain sgd', () => {
    for (const nesterov of [false, true]) {
      const spec = parseTrainingSpec({
        optimizer: { name: 'sgd', learningRate: 0.05, momentum: 0.9, nesterov },
      }).optimizer;
      expect(maxRelDiff(ours(spec), tfjsReference(tf.train.momentum(0.05, 0.9, nesterov)))).toBeLessThan(
        1e-6,
      );
    }
    const plain = parseTrainingSpec({ optimizer: { name: 'sgd', learningRate: 0.05 } }).optimizer;
    expect(maxRelDiff(ours(plain), tfjsReference(tf.train.sgd(0.05)))).toBeLessThan(1e-6);
  });
});

describe('optimizer steps into reused arrays', () => {
  const specs: OptimizerSpec[] = [
    parseTrainingSpec({ optimizer: { name: 'adam', learningRate: 0.01 } }).optimizer,
    parseTrainingSpec({ optimizer: { name: 'rmsprop', learningRate: 0.01, momentum: 0.5 } }).optimizer,
    parseTrainingSpec({ optimizer: { name: 'sgd', learningRate: 0.01, momentum: 0.9, nesterov: true } })
      .optimizer,
  ];
  for (const spec of specs)
    it(`${spec.name}: two buffers taking turns give the bytes of fresh arrays, and the inputs stay unchanged`, () => {
      const fresh = ours(spec);
      let state = initOptimizerState(spec, N);
      let w: Float32Array = w0;
      const copyOfW0 = Float32Array.from(w0);
      // The state of the step before last takes the next update (what the training loop does).
      let spare: { weights: Float32Array; slots: Float32Array[] } | undefined;
      const seen = new Set<Float32Array>();
      for (const g of grads) {
        const next = optimizerStep(spec, state, w, g, spec.learningRate, spare);
        spare = w === w0 ? undefined : { weights: w, slots: state.slots };
        ({ weights: w, state } = next);
        seen.add(w);
      }
      expect(Buffer.from(w.buffer).equals(Buffer.from(fresh.buffer))).toBe(true);
      expect(seen.size).toBeLessThanOrEqual(3);
      expect(w0).toEqual(copyOfW0);
    });

  it('refuses buffers that alias an input and writes fresh arrays instead', () => {
    const spec = specs[0]!;
    const state = initOptimizerState(spec, N);
    const w = Float32Array.from(w0);
    const g = grads[0]!;
    const out = optimizerStep(spec, state, w, g, spec.learningRate, { weights: w, slots: state.slots });
    expect(out.weights).not.toBe(w);
    expect(w).toEqual(w0);
    expect(out.weights).toEqual(
      optimizerStep(spec, initOptimizerState(spec, N), w0, g, spec.learningRate).weights,
    );
  });
});

describe('checkpoints', () => {
  const training = parseTrainingSpec({
    optimizer: { name: 'adam', learningRate: 0.01 },
    schedule: { warmupSteps: 3, decay: 'cosine', decaySteps: 6 },
    clipNorm: 1,
  });
  const start: Checkpoint = {
    specHash: 'h',
    step: 0,
    weightSpecs: [{ name: 'w', shape: [N] }],
    weights: w0,
    optimizer: initOptimizerState(training.optimizer, N),
  };
  const step = (c: Checkpoint, g: Float32Array): Checkpoint =>
    applyGradients(c, { specHash: 'h', step: c.step, grad: g, sampleCount: 1, loss: 0 }, training).checkpoint;

  it('save/restore mid-run continues bit-identically', () => {
    let straight = start;
    for (const g of grads) straight = step(straight, g);
    let resumed = start;
    grads.forEach((g, i) => {
      resumed = step(resumed, g);
      if (i % 4 === 1) resumed = decodeCheckpoint(encodeCheckpoint(resumed));
    });
    expect(resumed.step).toBe(grads.length);
    expect(Buffer.from(resumed.weights.buffer).equals(Buffer.from(straight.weights.buffer))).toBe(true);
    resumed.optimizer.slots.forEach((s, i) =>
      expect(Buffer.from(s.buffer).equals(Buffer.from(straight.optimizer.slots[i]!.buffer))).toBe(true),
    );
  });

  it('a damaged checkpoint is refused', () => {
    const bytes = encodeCheckpoint(start);
    bytes[bytes.length - 40] = bytes[bytes.length - 40]! ^ 1;
    expect(() => decodeCheckpoint(bytes)).toThrow(CorruptDataError);
  });

  it('a checkpoint or gradient blob whose sha256 holds but whose header does not is refused, naming the field', () => {
    const format = 'seqtrain.checkpoint/v1';
    const header = {
      specHash: 'abc',
      step: 3,
      weightSpecs: [{ name: 'w', shape: [N] }],
      optimizer: 'adam',
      slots: 2,
      outerMomentum: false,
    };
    const arrays = [w0, w0, w0, Float32Array.of(0.9, 0.999)];
    expect(decodeCheckpoint(encodeBundle(format, header, arrays)).weights).toEqual(w0);
    const refused = (h: object, a: Float32Array[] = arrays): string => {
      try {
        decodeCheckpoint(encodeBundle(format, h, a));
      } catch (err) {
        expect(err).toBeInstanceOf(CorruptDataError);
        return (err as Error).message;
      }
      throw new Error('decoded');
    };
    expect(refused({ ...header, slots: 'two' })).toMatch(/header field slots is "two", expected a count/);
    expect(refused({ ...header, step: -1 })).toMatch(/header field step is -1/);
    expect(refused({ ...header, weightSpecs: [{ name: 'w', shape: [N - 1] }] })).toMatch(
      new RegExp(`weightSpecs describe ${N - 1} parameters, the weights and slots hold ${N}, ${N}, ${N}`),
    );
    expect(refused(header, [w0, w0, w0])).toMatch(/3 arrays do not match the header's 2 optimizer slots/);
    expect(refused(header, [w0, w0, w0, Float32Array.of(1)])).toMatch(
      /optimizer adam keeps 2 slots and 2 scalars, this state has 2 and 1/,
    );
    expect(refused({ ...header, optimizer: 'lion' })).toMatch(
      /header field optimizer is "lion", expected one of adam, rmsprop, sgd/,
    );
    // A header length past the end, with a fresh sha256 (a writer's bug, not damage in transit).
    const bytes = encodeBundle(format, header, arrays);
    new DataView(bytes.buffer).setUint32(4, 1 << 30, true);
    const body = bytes.subarray(0, bytes.length - 32);
    bytes.set(createHash('sha256').update(body).digest(), body.length);
    expect(() => decodeCheckpoint(bytes)).toThrow(/header length 1073741824 runs past the end/);
    const grads = { specHash: 'abc', step: 1, size: N, sampleCounts: [4], lossSums: [0.5, 0.25] };
    expect(() => decodeGradients(encodeBundle('seqtrain.gradients/v1', grads, [w0]))).toThrow(
      /header field lossSums is \[0.5,0.25\], expected one number per sample count \(1\)/,
    );
  });

  it('learning-rate schedule: linear warmup then cosine to the minimum', () => {
    // warmup 3: lr * 1/3, 2/3, 3/3; then cosine over 6 steps: 0.5 * (1 + cos(pi * t / 6))
    const expected = [
      1 / 3,
      2 / 3,
      1,
      1,
      0.5 * (1 + Math.cos(Math.PI / 6)),
      0.5,
      0.5 * (1 + Math.cos((5 * Math.PI) / 6)),
      0,
    ];
    const got = [0, 1, 2, 3, 4, 6, 8, 9].map((s) => learningRateAt(training, s) / 0.01);
    got.forEach((g, i) => expect(g).toBeCloseTo(expected[i]!, 12));
  });

  it('clipping by global norm scales a [3, 4] gradient to norm 1', () => {
    const { grad, norm } = clipByGlobalNorm(Float32Array.of(3, 4), 1);
    expect(norm).toBe(5);
    expect(Array.from(grad)).toEqual([Math.fround(3 * Math.fround(0.2)), Math.fround(4 * Math.fround(0.2))]);
  });
});
