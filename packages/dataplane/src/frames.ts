/**
 * The data plane's wire format: length-prefixed binary frames over one TCP stream.
 *
 *   0  'SQDP'              magic
 *   4  u8  version (1)
 *   5  u8  frame type
 *   6  u16 reserved, 0
 *   8  u32 LE header length   (UTF-8 JSON object)
 *  12  u32 LE body length     (little-endian float32 arrays, back to back; header.arrays = lengths)
 *  16  header, then body
 *
 * The reader checks every field before it buffers anything: a frame announcing more than the
 * limits of its connection is refused from its first 16 bytes, never allocated.
 */
import { PeerError } from '@seqtrain/contracts';

export const MAGIC = Buffer.from('SQDP', 'ascii');
export const VERSION = 1;
export const PREFIX_BYTES = 16;

export const FrameType = {
  /** acceptor -> dialer: a fresh nonce to prove the run secret against */
  challenge: 1,
  /** dialer -> acceptor: who it is, with its proof */
  hello: 2,
  /** acceptor -> dialer: accepted, with the acceptor's own proof */
  welcome: 3,
  /** acceptor -> dialer: refused, with a code and a reason */
  refuse: 4,
  /** payload of the protocol built on top (header + float32 arrays) */
  data: 10,
  /** "still here": sent when a link has been quiet for a while */
  keepalive: 11,
  /** the sender is giving up (its reason in the header); the link closes after it */
  abort: 12,
} as const;
export type FrameTypeName = keyof typeof FrameType;
const TYPE_NAMES = new Map<number, FrameTypeName>(
  Object.entries(FrameType).map(([k, v]) => [v, k as FrameTypeName]),
);

export interface Frame {
  type: FrameTypeName;
  header: Record<string, unknown>;
  arrays: Float32Array[];
}

export interface FrameLimits {
  /** largest header JSON accepted */
  maxHeaderBytes: number;
  /** largest body accepted */
  maxBodyBytes: number;
  /** frame types accepted on this connection (others are a protocol error) */
  accept: readonly FrameTypeName[];
}

if (new Uint8Array(Uint32Array.of(1).buffer)[0] !== 1) {
  throw new Error('the seqtrain data plane sends float32 as little-endian and needs a little-endian host');
}

/** Encodes one frame as the buffers to write (the arrays are copied: callers may reuse theirs). */
export function encodeFrame(
  type: FrameTypeName,
  header: Record<string, unknown>,
  arrays: readonly Float32Array[] = [],
): Buffer[] {
  const json = Buffer.from(JSON.stringify({ ...header, arrays: arrays.map((a) => a.length) }), 'utf8');
  const bodyBytes = arrays.reduce((n, a) => n + a.byteLength, 0);
  const prefix = Buffer.alloc(PREFIX_BYTES);
  MAGIC.copy(prefix, 0);
  prefix.writeUInt8(VERSION, 4);
  prefix.writeUInt8(FrameType[type], 5);
  prefix.writeUInt16LE(0, 6);
  prefix.writeUInt32LE(json.length, 8);
  prefix.writeUInt32LE(bodyBytes, 12);
  const out = [Buffer.concat([prefix, json])];
  if (bodyBytes > 0) {
    const body = Buffer.allocUnsafe(bodyBytes);
    let pos = 0;
    for (const a of arrays) {
      body.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), pos);
      pos += a.byteLength;
    }
    out.push(body);
  }
  return out;
}

/**
 * Incremental parser of a byte stream into frames. `push` takes what the socket delivered and
 * returns the frames completed by it; it throws a PeerError on anything malformed, after which
 * the stream is unusable (the connection must be closed).
 */
export class FrameReader {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private current: { type: FrameTypeName; headerBytes: number; body: Uint8Array; filled: number } | undefined;
  private header: Record<string, unknown> | undefined;

  constructor(
    private limits: FrameLimits,
    private readonly peer: string,
  ) {}

  /** Tightens or widens the limits (after a handshake the accepted types change). */
  setLimits(limits: FrameLimits): void {
    this.limits = limits;
  }

  push(chunk: Buffer): Frame[] {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    const frames: Frame[] = [];
    for (;;) {
      const frame = this.next();
      if (!frame) return frames;
      frames.push(frame);
    }
  }

  /** The next n pending bytes (n <= pendingBytes), joining only the chunks they span. */
  private take(n: number): Buffer {
    const parts: Buffer[] = [];
    let need = n;
    while (need > 0) {
      const chunk = this.pending[0]!;
      if (chunk.length <= need) {
        parts.push(chunk);
        this.pending.shift();
        need -= chunk.length;
      } else {
        parts.push(chunk.subarray(0, need));
        this.pending[0] = chunk.subarray(need);
        need = 0;
      }
    }
    this.pendingBytes -= n;
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }

  private fail(what: string): never {
    throw new PeerError(`data plane: malformed frame from ${this.peer}: ${what}`);
  }

  private next(): Frame | undefined {
    if (!this.current) {
      if (this.pendingBytes < PREFIX_BYTES) return undefined;
      const prefix = this.take(PREFIX_BYTES);
      if (!prefix.subarray(0, 4).equals(MAGIC)) this.fail('bad magic (not a seqtrain data-plane peer)');
      const version = prefix.readUInt8(4);
      if (version !== VERSION) this.fail(`protocol version ${version}, expected ${VERSION}`);
      const code = prefix.readUInt8(5);
      const type = TYPE_NAMES.get(code);
      if (!type) this.fail(`unknown frame type ${code}`);
      if (!this.limits.accept.includes(type))
        this.fail(`frame type ${type} is not allowed here (expected ${this.limits.accept.join(' or ')})`);
      if (prefix.readUInt16LE(6) !== 0) this.fail('reserved bytes are not zero');
      const headerBytes = prefix.readUInt32LE(8);
      const bodyBytes = prefix.readUInt32LE(12);
      if (headerBytes < 2 || headerBytes > this.limits.maxHeaderBytes)
        this.fail(`header of ${headerBytes} bytes (limit ${this.limits.maxHeaderBytes})`);
      if (bodyBytes > this.limits.maxBodyBytes)
        this.fail(`body of ${bodyBytes} bytes exceeds the limit of ${this.limits.maxBodyBytes}`);
      if (bodyBytes % 4 !== 0) this.fail(`body of ${bodyBytes} bytes is not whole float32 values`);
      this.current = { type, headerBytes, body: new Uint8Array(bodyBytes), filled: 0 };
      this.header = undefined;
    }
    const c = this.current;
    if (!this.header) {
      if (this.pendingBytes < c.headerBytes) return undefined;
      let parsed: unknown;
      try {
        parsed = JSON.parse(this.take(c.headerBytes).toString('utf8'));
      } catch {
        this.fail('header is not JSON');
      }
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
        this.fail('header is not a JSON object');
      this.header = parsed as Record<string, unknown>;
    }
    // The body is copied straight into its own aligned buffer, chunk by chunk.
    while (c.filled < c.body.length && this.pending.length > 0) {
      const chunk = this.pending[0]!;
      const n = Math.min(chunk.length, c.body.length - c.filled);
      c.body.set(chunk.subarray(0, n), c.filled);
      c.filled += n;
      this.pendingBytes -= n;
      if (n === chunk.length) this.pending.shift();
      else this.pending[0] = chunk.subarray(n);
    }
    if (c.filled < c.body.length) return undefined;
    const header = this.header;
    this.current = undefined;
    this.header = undefined;
    return { type: c.type, header, arrays: splitArrays(header, c.body, (m) => this.fail(m)) };
  }
}

function splitArrays(
  header: Record<string, unknown>,
  body: Uint8Array,
  fail: (m: string) => never,
): Float32Array[] {
  const lengths = header.arrays;
  if (
    !Array.isArray(lengths) ||
    !lengths.every((n): n is number => typeof n === 'number' && Number.isInteger(n) && n >= 0)
  )
    fail('header.arrays is not a list of array lengths');
  const total = lengths.reduce((a, b) => a + b, 0);
  if (total * 4 !== body.length)
    fail(`header announces ${total} floats but the body holds ${body.length / 4}`);
  const out: Float32Array[] = [];
  let offset = 0;
  for (const n of lengths) {
    out.push(new Float32Array(body.buffer, body.byteOffset + offset * 4, n));
    offset += n;
  }
  return out;
}
