/**
 * Bad-input suite (property-based) for the data plane's frame reader, the codec that carries
 * gradients between trainers: valid frames cut at any chunk boundaries read back exactly; random
 * and damaged streams give frames or a PeerError, never another exception, and nothing larger
 * than the connection's limits is ever allocated.
 */
import fc from 'fast-check';
import { PeerError } from '@seqtrain/contracts';
import { describe, expect, it } from 'vitest';
import { encodeFrame, FrameReader, FrameType, type FrameLimits, type FrameTypeName } from './frames';

const TYPES = Object.keys(FrameType) as FrameTypeName[];
const LIMITS: FrameLimits = { maxHeaderBytes: 4096, maxBodyBytes: 64 * 1024, accept: TYPES };

const f32Array = fc
  .array(fc.integer({ min: 0, max: 2 ** 32 - 1 }), { maxLength: 40 })
  .map((bits) => new Float32Array(Uint32Array.from(bits).buffer));

const frameArb = fc.record({
  type: fc.constantFrom(...TYPES),
  header: fc.dictionary(
    fc.string({ maxLength: 8 }).filter((k) => k !== 'arrays' && k !== '__proto__'),
    fc.jsonValue({ maxDepth: 2 }),
    { maxKeys: 4 },
  ),
  arrays: fc.array(f32Array, { maxLength: 4 }),
});

/** Splits bytes at the given cut points into chunks as a socket might deliver them. */
function chunked(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of [...points, bytes.length]) {
    out.push(bytes.subarray(prev, p));
    prev = p;
  }
  return out;
}

const bitsOf = (a: Float32Array): number[] => [...new Uint32Array(a.buffer, a.byteOffset, a.length)];

/** Feeds chunks until a PeerError; any other exception fails the property. */
function readAll(chunks: Buffer[]): { frames: ReturnType<FrameReader['push']>; error?: PeerError } {
  const reader = new FrameReader(LIMITS, 'peer-under-test');
  const frames: ReturnType<FrameReader['push']> = [];
  for (const c of chunks) {
    try {
      frames.push(...reader.push(c));
    } catch (err) {
      if (err instanceof PeerError) return { frames, error: err };
      throw err;
    }
  }
  return { frames };
}

describe('data-plane frames under random and damaged streams', () => {
  it('reads valid frames back exactly, however the stream is cut', () => {
    fc.assert(
      fc.property(
        fc.array(frameArb, { minLength: 1, maxLength: 5 }),
        fc.array(fc.nat(), { maxLength: 30 }),
        (frames, cuts) => {
          const bytes = Buffer.concat(frames.flatMap((f) => encodeFrame(f.type, f.header, f.arrays)));
          const { frames: got, error } = readAll(chunked(bytes, cuts));
          expect(error).toBeUndefined();
          expect(got.length).toBe(frames.length);
          got.forEach((g, i) => {
            const want = frames[i]!;
            expect(g.type).toBe(want.type);
            expect(g.arrays.map(bitsOf)).toEqual(want.arrays.map(bitsOf));
            expect({ ...g.header, arrays: undefined }).toEqual(
              JSON.parse(JSON.stringify({ ...want.header, arrays: undefined })) as unknown,
            );
          });
        },
      ),
      { numRuns: 500 },
    );
  });

  it('random bytes give frames or a PeerError', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 8 }), (parts) => {
        readAll(parts.map((p) => Buffer.from(p)));
      }),
      { numRuns: 2000 },
    );
  });

  it('damaged streams give frames or a PeerError naming the peer', () => {
    fc.assert(
      fc.property(
        fc.array(frameArb, { minLength: 1, maxLength: 3 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        (frames, edits, cuts) => {
          const bytes = Buffer.concat(frames.flatMap((f) => encodeFrame(f.type, f.header, f.arrays)));
          for (const [at, value] of edits) bytes[at % bytes.length] = value;
          const { error } = readAll(chunked(bytes, cuts));
          if (error) expect(error.message).toMatch(/malformed frame from peer-under-test/);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('refuses a frame over the limits from its 16-byte prefix', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: LIMITS.maxHeaderBytes + 1, max: 2 ** 32 - 1 }),
        fc.integer({ min: LIMITS.maxBodyBytes + 1, max: 2 ** 32 - 1 }),
        fc.boolean(),
        (headerBytes, bodyBytes, bigHeader) => {
          const [prefix] = encodeFrame('data', {});
          const p = Buffer.from(prefix!.subarray(0, 16));
          if (bigHeader) p.writeUInt32LE(headerBytes, 8);
          else p.writeUInt32LE(bodyBytes, 12);
          const { error } = readAll([p]);
          expect(error?.message).toMatch(bigHeader ? /header of \d+ bytes/ : /exceeds the limit/);
        },
      ),
      { numRuns: 300 },
    );
  });
});
