/**
 * seqtrain's own LSTM and GRU kernels against TensorFlow's BlockLSTM and GRUBlockCell paths on the
 * same inputs: every step's h (and the LSTM's c), and the gradients of every input, for one and
 * several threads (batch slices, uneven too), for all-steps and last-step outputs; plus the addon's
 * input checks.
 */
import type { Tensor, Tensor2D, Tensor3D } from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '@seqtrain/contracts';
import { getTf, initBackend, type Tf } from '../index';
import { gruSequence } from './gru-sequence';
import { simpleRnnSequence } from './simple-rnn-sequence';
import { lstmSequence } from './lstm-sequence';
import { seqtrainSequence, type SeqtrainKernels, type Steps } from './seqtrain-sequence';
import { TensorflowOps } from './tensorflow-ops';
import { loadRnnKernels, type RnnKernels, type SequenceTape } from './seqtrain-kernels';

const T = 9;
const B = 48;
const I = 5;
const H = 16;

let tf: Tf;
let ops: TensorflowOps;
let kernels: RnnKernels;

beforeAll(async () => {
  await initBackend({ backend: 'tensorflow', threads: 1 });
  tf = getTf();
  ops = new TensorflowOps(tf);
  const loaded = loadRnnKernels(loadConfig(process.env).cacheDir);
  if (!('kernels' in loaded)) throw new Error(`the rnn kernels are not built: ${loaded.reason}`);
  kernels = loaded.kernels;
});

type Cell = 'lstm' | 'gru' | 'simpleRNN';

function inputs(cell: Cell, seed: number, bias: boolean): Record<string, Tensor> {
  const r = (shape: number[], k: number, scale = 0.5): Tensor =>
    tf.randomNormal(shape, 0, scale, 'float32', seed + k);
  const gates = (cell === 'lstm' ? 4 : cell === 'gru' ? 3 : 1) * H;
  const out: Record<string, Tensor> = {
    x: r([T, B, I], 1, 1),
    h0: r([B, H], 2),
    kernel: r([I, gates], 4),
    recurrentKernel: r([H, gates], 5),
  };
  if (cell === 'lstm') out.c0 = r([B, H], 3);
  if (bias) out.bias = r([gates], 6);
  return out;
}

/** Outputs and the gradients of a weighted sum of them, for every input; own: seqtrain's kernels, else TensorFlow's. */
function run(
  cell: Cell,
  own: SeqtrainKernels | null,
  v: Record<string, Tensor>,
  want: { h: Exclude<Steps, 'none'>; c: Steps },
): { h: Float32Array; c: Float32Array | null; grads: Record<string, Float32Array> } {
  const names = Object.keys(v);
  const forward = (...xs: Tensor[]): { h: Tensor; c: Tensor | null } => {
    const a = Object.fromEntries(names.map((n, i) => [n, xs[i] as Tensor]));
    const x = a.x as Tensor3D;
    const h0 = a.h0 as Tensor2D;
    const w = {
      kernel: a.kernel as Tensor2D,
      recurrentKernel: a.recurrentKernel as Tensor2D,
      bias: a.bias ?? null,
    };
    const c0 = cell === 'lstm' ? (a.c0 as Tensor2D) : null;
    if (own !== null) return seqtrainSequence(tf, own, cell, x, h0, c0, w, want);
    if (cell === 'gru') return { h: gruSequence(tf, ops, x, h0, w, want.h === 'last'), c: null };
    if (cell === 'simpleRNN') return { h: simpleRnnSequence(tf, ops, x, h0, w, want.h === 'last'), c: null };
    return lstmSequence(tf, ops, x, h0, c0 as Tensor2D, w, want);
  };
  // Read back inside the tidy: every tensor made here is disposed when it ends.
  let result: { h: Float32Array; c: Float32Array | null; grads: Record<string, Float32Array> } | undefined;
  tf.tidy(() => {
    const out = forward(...names.map((n) => v[n] as Tensor));
    const g = tf.grads((...xs: Tensor[]) => {
      const { h, c } = forward(...xs);
      let loss = tf.sum(tf.mul(h, tf.randomNormal(h.shape, 0, 1, 'float32', 77)));
      if (c !== null) loss = tf.add(loss, tf.sum(tf.mul(c, tf.randomNormal(c.shape, 0, 1, 'float32', 78))));
      return loss;
    })(names.map((n) => v[n] as Tensor));
    result = {
      h: out.h.dataSync() as Float32Array,
      c: out.c === null ? null : (out.c.dataSync() as Float32Array),
      grads: Object.fromEntries(names.map((n, i) => [n, g[i]?.dataSync() as Float32Array])),
    };
  });
  if (result === undefined) throw new Error('no result');
  return result;
}

function maxDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] ?? NaN) - (b[i] ?? NaN)));
  return m;
}

function bytes(a: Float32Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

function maxAbs(a: Float32Array): number {
  return a.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
}

describe('seqtrain LSTM, GRU and SimpleRNN kernels', () => {
  const variants: {
    cell: Cell;
    threads: number;
    want: { h: Exclude<Steps, 'none'>; c: Steps };
    bias: boolean;
  }[] = [
    { cell: 'lstm', threads: 1, want: { h: 'all', c: 'all' }, bias: true },
    { cell: 'lstm', threads: 2, want: { h: 'all', c: 'last' }, bias: true },
    { cell: 'lstm', threads: 3, want: { h: 'last', c: 'none' }, bias: false },
    { cell: 'lstm', threads: 4, want: { h: 'last', c: 'all' }, bias: true },
    { cell: 'gru', threads: 1, want: { h: 'all', c: 'none' }, bias: true },
    { cell: 'gru', threads: 2, want: { h: 'last', c: 'none' }, bias: true },
    { cell: 'gru', threads: 3, want: { h: 'all', c: 'none' }, bias: false },
    { cell: 'simpleRNN', threads: 1, want: { h: 'all', c: 'none' }, bias: true },
    { cell: 'simpleRNN', threads: 3, want: { h: 'last', c: 'none' }, bias: false },
  ];
  for (const { cell, threads, want, bias } of variants) {
    const outputs = cell === 'lstm' ? `h ${want.h}, c ${want.c}` : `h ${want.h}`;
    it(`${cell} matches TensorFlow's kernels with ${threads} thread(s), ${outputs}, ${bias ? 'with' : 'no'} bias`, () => {
      const v = inputs(cell, threads * 10, bias);
      const reference = run(cell, null, v, want);
      const own = run(cell, { kernels, threads }, v, want);
      expect(maxAbs(reference.h)).toBeGreaterThan(0.1);
      expect(maxDiff(own.h, reference.h)).toBeLessThan(1e-5);
      if (reference.c !== null) expect(maxDiff(own.c as Float32Array, reference.c)).toBeLessThan(1e-5);
      else expect(own.c).toBeNull();
      expect(Object.keys(reference.grads).sort()).toEqual(Object.keys(v).sort());
      for (const [name, g] of Object.entries(reference.grads)) {
        expect(maxAbs(g), name).toBeGreaterThan(1e-2);
        expect(maxDiff(own.grads[name] as Float32Array, g), name).toBeLessThan(1e-4 * Math.max(1, maxAbs(g)));
      }
      tf.dispose(Object.values(v));
    });
  }

  it('computes the same bytes whatever the thread count (slices are cut by batch size)', () => {
    for (const cell of ['lstm', 'gru', 'simpleRNN'] as const) {
      const v = inputs(cell, 99, true);
      const want = { h: 'all', c: cell === 'lstm' ? 'all' : 'none' } as const;
      const one = run(cell, { kernels, threads: 1 }, v, want);
      for (const threads of [2, 3]) {
        const many = run(cell, { kernels, threads }, v, want);
        expect(bytes(many.h).equals(bytes(one.h)), `${cell} h, ${threads} threads`).toBe(true);
        if (one.c !== null) expect(bytes(many.c as Float32Array).equals(bytes(one.c))).toBe(true);
        for (const [name, g] of Object.entries(one.grads)) {
          const other = many.grads[name] as Float32Array;
          expect(bytes(other).equals(bytes(g)), `${cell} d${name}, ${threads} threads`).toBe(true);
        }
      }
      tf.dispose(Object.values(v));
    }
  });

  it('frees the tapes: memory stays bounded over many large sequences', async () => {
    // ~10 MB of activations and ~5 MB of gate gradients per tape: 150 leaked tapes would be 0.8-2 GB.
    const [t, b, i, h] = [20, 64, 32, 256];
    const rnd = (n: number): Float32Array => Float32Array.from({ length: n }, (_, k) => Math.sin(k) * 0.1);
    const args = {
      x: rnd(t * b * i),
      h0: rnd(b * h),
      c0: rnd(b * h),
      kernel: rnd(i * 4 * h),
      recurrentKernel: rnd(h * 4 * h),
      bias: rnd(4 * h),
      timeSteps: t,
      batch: b,
      inputs: i,
      units: h,
      threads: 1,
    };
    const dh = rnd(b * h);
    const growth = async (step: (n: number) => void, yieldEvery: number): Promise<number> => {
      const before = process.memoryUsage().rss;
      let peak = before;
      for (let n = 0; n < 150; n++) {
        step(n);
        peak = Math.max(peak, process.memoryUsage().rss);
        if (yieldEvery > 0 && n % yieldEvery === 0) await new Promise((r) => setImmediate(r));
      }
      return peak - before;
    };
    const limit = 500 * 1024 * 1024;
    // Inference: nothing is kept, even in a loop that never yields.
    expect(await growth(() => kernels.lstmForward({ ...args, keep: false }), 0)).toBeLessThan(limit);
    // Training with the input gradient taken: freed step by step, without the collector.
    const full = (): void => {
      const tape = kernels.lstmForward(args).tape as SequenceTape;
      kernels.lstmBackward({ tape, dh, dc: null });
      kernels.lstmInputGrad({ tape });
    };
    expect(await growth(full, 0)).toBeLessThan(limit);
    // A first layer (no input gradient): the gate gradients wait for the collector, which runs
    // between training steps (a training loop yields to the event loop every step).
    const noInput = (): void => {
      const tape = kernels.lstmForward(args).tape as SequenceTape;
      kernels.lstmBackward({ tape, dh, dc: null });
    };
    expect(await growth(noInput, 1)).toBeLessThan(limit);
  });

  it('rejects inputs whose sizes do not match, naming the field', () => {
    const f = new Float32Array(4);
    const args = {
      x: new Float32Array(10),
      h0: f,
      c0: f,
      kernel: new Float32Array(2 * 8),
      recurrentKernel: new Float32Array(2 * 8),
      bias: null,
      timeSteps: 3,
      batch: 2,
      inputs: 2,
      units: 2,
      threads: 1,
    };
    expect(() => kernels.lstmForward(args)).toThrow('x has 10 values, expected 12');
    expect(() => kernels.lstmForward({ ...args, x: new Float32Array(12), units: 0 })).toThrow(
      'units must be an integer >= 1, got 0',
    );
    const tape = kernels.lstmForward({ ...args, x: new Float32Array(12) }).tape as SequenceTape;
    expect(() => kernels.lstmInputGrad({ tape })).toThrow('needs the backward to run on this tape first');
    expect(() => kernels.gruBackward({ tape, dh: null })).toThrow(
      'tape comes from the forward of another cell',
    );
    expect(() => kernels.lstmBackward({ tape, dh: new Float32Array(5), dc: null })).toThrow(
      'dh has 5 values, expected 12 (every step) or 4 (last step)',
    );
    kernels.lstmBackward({ tape, dh: null, dc: null });
    expect(() => kernels.lstmBackward({ tape, dh: null, dc: null })).toThrow(
      'the backward already ran on this tape',
    );
    kernels.lstmInputGrad({ tape });
    expect(() => kernels.lstmInputGrad({ tape })).toThrow(
      'the input gradient was already taken from this tape',
    );
    expect(kernels.lstmForward({ ...args, x: new Float32Array(12), keep: false }).tape).toBeNull();
    expect(() =>
      kernels.lstmForward({ ...args, x: new Float32Array(12), lastOnly: 1 as unknown as boolean }),
    ).toThrow('lastOnly must be a boolean');
  });

  it('returns only the last step with lastOnly, the same values as the last of every step', () => {
    for (const cell of ['lstm', 'gru', 'simpleRNN'] as const) {
      const v = inputs(cell, 7, true);
      const f = (t: Tensor | undefined): Float32Array | undefined =>
        t?.dataSync() as Float32Array | undefined;
      const args = {
        x: f(v.x)!,
        h0: f(v.h0)!,
        ...(v.c0 ? { c0: f(v.c0)! } : {}),
        kernel: f(v.kernel)!,
        recurrentKernel: f(v.recurrentKernel)!,
        bias: f(v.bias) ?? null,
        timeSteps: T,
        batch: B,
        inputs: I,
        units: H,
        threads: 3,
        keep: false,
      };
      const forward =
        cell === 'lstm'
          ? kernels.lstmForward
          : cell === 'gru'
            ? kernels.gruForward
            : kernels.simpleRnnForward;
      const all = forward(args);
      const last = forward({ ...args, lastOnly: true });
      expect(last.h.length, cell).toBe(B * H);
      expect(Array.from(last.h), cell).toEqual(Array.from(all.h.subarray((T - 1) * B * H)));
      if (cell === 'lstm') expect(Array.from(last.c!)).toEqual(Array.from(all.c!.subarray((T - 1) * B * H)));
      else expect(last.c, cell).toBeUndefined();
    }
  });
});
