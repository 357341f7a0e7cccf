/**
 * Byte formats for checkpoints, gradient parts and local-SGD updates. Numbers never pass through
 * JSON: the header (JSON) holds names, shapes, counts and the step; every float is stored as
 * little-endian float32. Layout:
 *   'SQT1' | u32 LE header length | header JSON (UTF-8, space-padded to 4 bytes) | float32 arrays | sha256 of all preceding bytes
 */
import { createHash } from 'node:crypto';
import { CorruptDataError } from '@seqtrain/contracts';
import type { OptimizerName } from '@seqtrain/contracts';
import type { Checkpoint } from './checkpoint';
import type { GradientPart } from './gradients';

const MAGIC = [0x53, 0x51, 0x54, 0x31]; // 'SQT1'
const LITTLE_ENDIAN = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;

interface Bundle<H> {
  header: H;
  arrays: Float32Array[];
}

function encodeBundle(format: string, header: object, arrays: readonly Float32Array[]): Uint8Array {
  let json = JSON.stringify({ format, ...header, arrays: arrays.map((a) => a.length) });
  while (Buffer.byteLength(json) % 4 !== 0) json += ' ';
  const headerBytes = Buffer.from(json, 'utf8');
  const floats = arrays.reduce((a, x) => a + x.length, 0);
  const out = new Uint8Array(8 + headerBytes.length + floats * 4 + 32);
  out.set(MAGIC, 0);
  const view = new DataView(out.buffer);
  view.setUint32(4, headerBytes.length, true);
  out.set(headerBytes, 8);
  let pos = 8 + headerBytes.length;
  for (const a of arrays) {
    if (LITTLE_ENDIAN) out.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), pos);
    else for (let i = 0; i < a.length; i++) view.setFloat32(pos + 4 * i, a[i]!, true);
    pos += a.byteLength;
  }
  out.set(createHash('sha256').update(out.subarray(0, pos)).digest(), pos);
  return out;
}

function decodeBundle<H>(bytes: Uint8Array, format: string): Bundle<H> {
  if (bytes.length < 8 + 32 || MAGIC.some((b, i) => bytes[i] !== b))
    throw new CorruptDataError(`not a seqtrain ${format} blob (bad magic)`);
  const body = bytes.subarray(0, bytes.length - 32);
  const digest = createHash('sha256').update(body).digest();
  if (!digest.equals(bytes.subarray(bytes.length - 32)))
    throw new CorruptDataError(`${format}: sha256 mismatch (truncated or damaged)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getUint32(4, true);
  if (8 + headerLength > body.length)
    throw new CorruptDataError(
      `${format}: header length ${headerLength} runs past the end (${body.length} bytes)`,
    );
  // The sha256 proves the bytes are as written, not that the writer was this version: the header
  // is checked field by field before anything is allocated from it.
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(bytes.subarray(8, 8 + headerLength)).toString('utf8'));
  } catch {
    throw new CorruptDataError(`${format}: the header is not valid JSON`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new CorruptDataError(`${format}: the header is not a JSON object`);
  const header = parsed as Record<string, unknown>;
  if (header.format !== format)
    throw new CorruptDataError(`expected a ${format} blob, got ${describe(header.format)}`);
  const lengths = header.arrays;
  if (!Array.isArray(lengths) || !lengths.every(isCount))
    throw new CorruptDataError(
      `${format}: header field arrays is ${describe(lengths)}, expected a list of array lengths`,
    );
  let pos = 8 + headerLength;
  const floats = lengths.reduce((a, n) => a + n, 0);
  if (pos + 4 * floats !== body.length)
    throw new CorruptDataError(
      `${format}: the header lists ${floats} floats, the blob holds ${(body.length - pos) / 4}`,
    );
  const arrays = lengths.map((len) => {
    const a = new Float32Array(len);
    if (LITTLE_ENDIAN) new Uint8Array(a.buffer).set(bytes.subarray(pos, pos + 4 * len));
    else for (let i = 0; i < len; i++) a[i] = view.getFloat32(pos + 4 * i, true);
    pos += 4 * len;
    return a;
  });
  return { header: header as H, arrays };
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function describe(v: unknown): string {
  const text = JSON.stringify(v) ?? String(v);
  return text.length > 80 ? `${text.slice(0, 80)}...` : text;
}

/** Throws a CorruptDataError naming the header field unless `ok`. */
function expectField(format: string, h: object, name: string, ok: boolean, expected: string): void {
  if (!ok)
    throw new CorruptDataError(
      `${format}: header field ${name} is ${describe((h as Record<string, unknown>)[name])}, expected ${expected}`,
    );
}

interface CheckpointHeader {
  specHash: string;
  step: number;
  weightSpecs: { name: string; shape: number[] }[];
  optimizer: OptimizerName;
  slots: number;
  outerMomentum: boolean;
}

/** Slots and scalars each optimizer keeps (optimizers.ts: initOptimizerState). */
const OPTIMIZER_LAYOUT = new Map<unknown, { slots: readonly number[]; scalars: number }>([
  ['adam', { slots: [2], scalars: 2 }],
  ['rmsprop', { slots: [2], scalars: 0 }],
  ['sgd', { slots: [0, 1], scalars: 0 }],
]);

export function encodeCheckpoint(c: Checkpoint): Uint8Array {
  const header: CheckpointHeader = {
    specHash: c.specHash,
    step: c.step,
    weightSpecs: c.weightSpecs,
    optimizer: c.optimizer.name,
    slots: c.optimizer.slots.length,
    outerMomentum: c.outerMomentum !== undefined,
  };
  const arrays = [
    c.weights,
    ...c.optimizer.slots,
    c.optimizer.scalars,
    ...(c.outerMomentum ? [c.outerMomentum] : []),
  ];
  return encodeBundle('seqtrain.checkpoint/v1', header, arrays);
}

export function decodeCheckpoint(bytes: Uint8Array): Checkpoint {
  const format = 'seqtrain.checkpoint/v1';
  const { header: h, arrays } = decodeBundle<CheckpointHeader>(bytes, format);
  expectField(format, h, 'specHash', typeof h.specHash === 'string', 'a string');
  expectField(format, h, 'step', isCount(h.step), 'a step number');
  expectField(
    format,
    h,
    'weightSpecs',
    Array.isArray(h.weightSpecs) &&
      h.weightSpecs.every(
        (w) =>
          typeof w === 'object' &&
          w !== null &&
          typeof w.name === 'string' &&
          Array.isArray(w.shape) &&
          w.shape.every(isCount),
      ),
    'a list of { name, shape }',
  );
  const layout = OPTIMIZER_LAYOUT.get(h.optimizer);
  expectField(
    format,
    h,
    'optimizer',
    typeof h.optimizer === 'string' && layout !== undefined,
    `one of ${[...OPTIMIZER_LAYOUT.keys()].join(', ')}`,
  );
  expectField(format, h, 'slots', isCount(h.slots), 'a count');
  expectField(format, h, 'outerMomentum', typeof h.outerMomentum === 'boolean', 'true or false');
  const [weights, ...rest] = arrays;
  const slots = rest.slice(0, h.slots);
  const scalars = rest[h.slots];
  if (!weights || !scalars || arrays.length !== h.slots + 2 + (h.outerMomentum ? 1 : 0))
    throw new CorruptDataError(
      `${format}: ${arrays.length} arrays do not match the header's ${h.slots} optimizer slots`,
    );
  const params = h.weightSpecs.reduce((a, w) => a + w.shape.reduce((x, d) => x * d, 1), 0);
  if (weights.length !== params || slots.some((a) => a.length !== params))
    throw new CorruptDataError(
      `${format}: weightSpecs describe ${params} parameters, the weights and slots hold ${[weights, ...slots].map((a) => a.length).join(', ')}`,
    );
  // Each optimizer's step reads a fixed set of slots and scalars: a checkpoint that lacks them
  // would fail inside the update (or, worse, read garbage), so it is refused here.
  if (!layout?.slots.includes(slots.length) || scalars.length !== layout.scalars)
    throw new CorruptDataError(
      `${format}: optimizer ${h.optimizer} keeps ${layout?.slots.join(' or ')} slots and ${layout?.scalars} scalars, this state has ${slots.length} and ${scalars.length}`,
    );
  const c: Checkpoint = {
    specHash: h.specHash,
    step: h.step,
    weightSpecs: h.weightSpecs,
    weights,
    optimizer: { name: h.optimizer, slots, scalars },
  };
  if (h.outerMomentum) {
    const m = rest[h.slots + 1]!;
    if (m.length !== params)
      throw new CorruptDataError(`${format}: outer momentum holds ${m.length} floats, the weights ${params}`);
    c.outerMomentum = m;
  }
  return c;
}

interface GradientHeader {
  specHash: string;
  step: number;
  size: number;
  sampleCounts: number[];
  /** reporting only; exact anyway because JSON round-trips doubles */
  lossSums: number[];
}

export function encodeGradients(p: GradientPart): Uint8Array {
  const header: GradientHeader = {
    specHash: p.specHash,
    step: p.step,
    size: p.size,
    sampleCounts: p.sampleCounts,
    lossSums: p.lossSums,
  };
  return encodeBundle('seqtrain.gradients/v1', header, [p.grads]);
}

export function decodeGradients(bytes: Uint8Array): GradientPart {
  const format = 'seqtrain.gradients/v1';
  const { header: h, arrays } = decodeBundle<GradientHeader>(bytes, format);
  expectField(format, h, 'specHash', typeof h.specHash === 'string', 'a string');
  expectField(format, h, 'step', isCount(h.step), 'a step number');
  expectField(format, h, 'size', isCount(h.size), 'a count');
  expectField(
    format,
    h,
    'sampleCounts',
    Array.isArray(h.sampleCounts) && h.sampleCounts.every(isCount),
    'a list of counts',
  );
  expectField(
    format,
    h,
    'lossSums',
    Array.isArray(h.lossSums) &&
      h.lossSums.length === h.sampleCounts.length &&
      h.lossSums.every((x) => typeof x === 'number'),
    `one number per sample count (${h.sampleCounts.length})`,
  );
  const grads = arrays[0];
  if (!grads || grads.length !== h.size * h.sampleCounts.length)
    throw new CorruptDataError('seqtrain.gradients/v1: gradient buffer size does not match the header');
  return {
    specHash: h.specHash,
    step: h.step,
    size: h.size,
    sampleCounts: h.sampleCounts,
    lossSums: h.lossSums,
    grads,
  };
}

export { encodeBundle, decodeBundle };
