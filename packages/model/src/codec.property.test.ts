/**
 * Bad-input suite (property-based) for the checkpoint and gradient codecs: any checkpoint or
 * gradient part round-trips bit for bit; damaged bytes, and well-formed blobs whose header says
 * anything at all, decode to a value that keeps the codec's invariants or fail with a
 * CorruptDataError; never a TypeError, a RangeError or an allocation from an unchecked length.
 */
import fc from 'fast-check';
import { CorruptDataError, SeqtrainError } from '@seqtrain/contracts';
import { describe, expect, it } from 'vitest';
import type { Checkpoint } from './checkpoint';
import { decodeCheckpoint, decodeGradients, encodeCheckpoint, encodeGradients } from './codec';
import { decodeBundle, encodeBundle } from './codec';
import type { GradientPart } from './gradients';

/** Float32 values by bit pattern: NaNs with payloads, -0, subnormals and infinities included. */
const f32Array = (length: number): fc.Arbitrary<Float32Array> =>
  fc
    .array(fc.integer({ min: 0, max: 2 ** 32 - 1 }), { minLength: length, maxLength: length })
    .map((bits) => new Float32Array(Uint32Array.from(bits).buffer));

const bitsOf = (a: Float32Array): number[] => [...new Uint32Array(a.buffer, a.byteOffset, a.length)];

const shapes = fc.array(fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 3 }), {
  minLength: 1,
  maxLength: 4,
});

const checkpointArb: fc.Arbitrary<Checkpoint> = fc
  .record({
    shapes,
    specHash: fc.string({ maxLength: 20 }),
    step: fc.nat(),
    optimizer: fc.constantFrom(
      { name: 'adam' as const, slots: 2, scalars: 2 },
      { name: 'rmsprop' as const, slots: 2, scalars: 0 },
      { name: 'sgd' as const, slots: 0, scalars: 0 },
      { name: 'sgd' as const, slots: 1, scalars: 0 },
    ),
    outer: fc.boolean(),
  })
  .chain(({ shapes: ss, specHash, step, optimizer, outer }) => {
    const n = ss.reduce((a, s) => a + s.reduce((x, d) => x * d, 1), 0);
    return fc
      .record({
        weights: f32Array(n),
        slots: fc.array(f32Array(n), { minLength: optimizer.slots, maxLength: optimizer.slots }),
        scalars: f32Array(optimizer.scalars),
        momentum: f32Array(n),
      })
      .map(({ weights, slots, scalars, momentum }): Checkpoint => ({
        specHash,
        step,
        weightSpecs: ss.map((shape, i) => ({ name: `layer_${i}/kernel`, shape })),
        weights,
        optimizer: { name: optimizer.name, slots, scalars },
        ...(outer ? { outerMomentum: momentum } : {}),
      }));
  });

const gradientArb: fc.Arbitrary<GradientPart> = fc
  .record({ size: fc.integer({ min: 0, max: 20 }), rows: fc.integer({ min: 0, max: 4 }) })
  .chain(({ size, rows }) =>
    fc.record({
      specHash: fc.string({ maxLength: 20 }),
      step: fc.nat(),
      size: fc.constant(size),
      sampleCounts: fc.array(fc.nat(1000), { minLength: rows, maxLength: rows }),
      lossSums: fc.array(fc.double({ noNaN: true, noDefaultInfinity: true }), {
        minLength: rows,
        maxLength: rows,
      }),
      grads: f32Array(size * rows),
    }),
  );

/** Bytes with damage: bit flips, truncation, extension, overwritten runs. */
const damage = (bytes: Uint8Array): fc.Arbitrary<Uint8Array> =>
  fc.oneof(
    fc
      .array(fc.tuple(fc.nat(bytes.length - 1), fc.integer({ min: 0, max: 7 })), {
        minLength: 1,
        maxLength: 4,
      })
      .map((flips) => {
        const out = bytes.slice();
        for (const [i, b] of flips) out[i] = (out[i] ?? 0) ^ (1 << b);
        return out;
      }),
    fc.nat(bytes.length - 1).map((n) => bytes.slice(0, n)),
    fc.uint8Array({ minLength: 1, maxLength: 64 }).map((extra) => Uint8Array.from([...bytes, ...extra])),
    fc.tuple(fc.nat(bytes.length - 1), fc.uint8Array({ minLength: 1, maxLength: 16 })).map(([at, run]) => {
      const out = bytes.slice();
      out.set(run.subarray(0, out.length - at), at);
      return out;
    }),
  );

function corruptOrValue<T>(decode: () => T): T | undefined {
  try {
    return decode();
  } catch (err) {
    if (!(err instanceof SeqtrainError)) throw err;
    expect(err).toBeInstanceOf(CorruptDataError);
    return undefined;
  }
}

/** JSON-ish values a foreign or future writer could put in a header field. */
const oddField = fc.oneof(
  fc.constantFrom(
    null,
    -1,
    1.5,
    2 ** 60,
    1e308,
    '',
    'adam',
    'sgd',
    'constructor',
    '__proto__',
    [],
    {},
    [-1],
    [1.5],
    true,
  ),
  fc.jsonValue({ maxDepth: 2 }),
);

describe('checkpoint codec', () => {
  it('round-trips any checkpoint bit for bit', () => {
    fc.assert(
      fc.property(checkpointArb, (c) => {
        const d = decodeCheckpoint(encodeCheckpoint(c));
        expect(d.specHash).toBe(c.specHash);
        expect(d.step).toBe(c.step);
        expect(d.weightSpecs).toEqual(c.weightSpecs);
        expect(bitsOf(d.weights)).toEqual(bitsOf(c.weights));
        expect(d.optimizer.name).toBe(c.optimizer.name);
        expect(d.optimizer.slots.map(bitsOf)).toEqual(c.optimizer.slots.map(bitsOf));
        expect(bitsOf(d.optimizer.scalars)).toEqual(bitsOf(c.optimizer.scalars));
        expect(d.outerMomentum && bitsOf(d.outerMomentum)).toEqual(
          c.outerMomentum && bitsOf(c.outerMomentum),
        );
      }),
      { numRuns: 300 },
    );
  });

  it('refuses damaged bytes with a CorruptDataError', () => {
    fc.assert(
      fc.property(
        checkpointArb.chain((c) => {
          const bytes = encodeCheckpoint(c);
          return damage(bytes).map((d) => ({ bytes, d }));
        }),
        ({ bytes, d }) => {
          const equal = d.length === bytes.length && d.every((b, i) => b === bytes[i]);
          if (equal) return;
          expect(() => decodeCheckpoint(d)).toThrow(CorruptDataError);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('random bytes are never taken for a checkpoint', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        expect(() => decodeCheckpoint(bytes)).toThrow(CorruptDataError);
        expect(() => decodeGradients(bytes)).toThrow(CorruptDataError);
      }),
      { numRuns: 500 },
    );
  });

  it('a well-formed blob with any header decodes to a consistent checkpoint or a CorruptDataError', () => {
    const fields = ['specHash', 'step', 'weightSpecs', 'optimizer', 'slots', 'outerMomentum'] as const;
    fc.assert(
      fc.property(
        checkpointArb,
        fc.array(fc.tuple(fc.constantFrom(...fields), fc.option(oddField, { nil: undefined })), {
          minLength: 1,
          maxLength: 3,
        }),
        (c, edits) => {
          // Re-bundle the checkpoint's own arrays under an edited header (sha256 valid).
          const { header, arrays } = decodeBundle<Record<string, unknown>>(
            encodeCheckpoint(c),
            'seqtrain.checkpoint/v1',
          );
          const h: Record<string, unknown> = { ...header };
          delete h.format;
          delete h.arrays;
          for (const [k, v] of edits) h[k] = v;
          const d = corruptOrValue(() => decodeCheckpoint(encodeBundle('seqtrain.checkpoint/v1', h, arrays)));
          if (!d) return;
          const params = d.weightSpecs.reduce((a, w) => a + w.shape.reduce((x, y) => x * y, 1), 0);
          expect(d.weights.length).toBe(params);
          for (const s of d.optimizer.slots) expect(s.length).toBe(params);
          expect(['adam', 'rmsprop', 'sgd']).toContain(d.optimizer.name);
          const expectedSlots = { adam: [2], rmsprop: [2], sgd: [0, 1] }[d.optimizer.name];
          expect(expectedSlots).toContain(d.optimizer.slots.length);
          expect(d.optimizer.scalars.length).toBe(d.optimizer.name === 'adam' ? 2 : 0);
          if (d.outerMomentum) expect(d.outerMomentum.length).toBe(params);
          expect(Number.isSafeInteger(d.step) && d.step >= 0).toBe(true);
        },
      ),
      { numRuns: 1000 },
    );
  });
});

describe('gradient codec', () => {
  it('round-trips any gradient part bit for bit', () => {
    fc.assert(
      fc.property(gradientArb, (p) => {
        const d = decodeGradients(encodeGradients(p));
        // Loss sums are reporting only and travel as JSON numbers: exact, except that -0 reads back as 0.
        const plain = (g: GradientPart): unknown => ({
          ...g,
          grads: bitsOf(g.grads),
          lossSums: g.lossSums.map((x) => x + 0),
        });
        expect(plain(d)).toEqual(plain(p));
      }),
      { numRuns: 300 },
    );
  });

  it('refuses damaged bytes, and keeps its invariants under any header', () => {
    const fields = ['specHash', 'step', 'size', 'sampleCounts', 'lossSums'] as const;
    fc.assert(
      fc.property(
        gradientArb,
        fc.array(fc.tuple(fc.constantFrom(...fields), fc.option(oddField, { nil: undefined })), {
          minLength: 1,
          maxLength: 3,
        }),
        (p, edits) => {
          const bytes = encodeGradients(p);
          const cut = bytes.slice(0, bytes.length - 1);
          expect(() => decodeGradients(cut)).toThrow(CorruptDataError);
          const { header, arrays } = decodeBundle<Record<string, unknown>>(bytes, 'seqtrain.gradients/v1');
          const h: Record<string, unknown> = { ...header };
          delete h.format;
          delete h.arrays;
          for (const [k, v] of edits) h[k] = v;
          const d = corruptOrValue(() => decodeGradients(encodeBundle('seqtrain.gradients/v1', h, arrays)));
          if (!d) return;
          expect(d.grads.length).toBe(d.size * d.sampleCounts.length);
          expect(d.lossSums.length).toBe(d.sampleCounts.length);
          for (const n of d.sampleCounts) expect(Number.isSafeInteger(n) && n >= 0).toBe(true);
          expect(typeof d.specHash).toBe('string');
        },
      ),
      { numRuns: 1000 },
    );
  });
});
