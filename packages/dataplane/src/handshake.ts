/**
 * Who may talk to whom. A segment is identified by (run, generation, segment number); each of
 * its members knows the run's secret from the workflow. The acceptor sends a nonce, the dialer
 * answers with HMAC-SHA256(secret, its claim + that nonce) and a nonce of its own, and the
 * acceptor proves the secret back. Nothing secret crosses the wire, a recorded handshake cannot
 * be replayed, and a peer of another run, an older generation or the wrong position is refused
 * with a reason before it can send a single data frame.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const PROTOCOL = 'seqtrain-dataplane/1';

export interface SessionKey {
  runId: string;
  generation: number;
  segment: number;
}

export interface Hello extends SessionKey {
  /** member index of the dialer and of the member it wants to reach */
  from: number;
  to: number;
  nonce: string;
  proof: string;
}

/** Refusal codes; only 'not-ready' is worth retrying (the acceptor's segment has not started yet). */
export type RefuseCode =
  | 'not-ready'
  | 'stale-generation'
  | 'stale-segment'
  | 'wrong-member'
  | 'bad-secret'
  | 'duplicate'
  | 'bad-hello';

export function nonce(): string {
  return randomBytes(16).toString('hex');
}

function mac(secret: string, parts: (string | number)[]): string {
  return createHmac('sha256', secret)
    .update([PROTOCOL, ...parts].join('\n'))
    .digest('hex');
}

export function helloProof(
  secret: string,
  key: SessionKey,
  from: number,
  to: number,
  serverNonce: string,
): string {
  return mac(secret, ['hello', key.runId, key.generation, key.segment, from, to, serverNonce]);
}

export function welcomeProof(
  secret: string,
  key: SessionKey,
  from: number,
  to: number,
  clientNonce: string,
): string {
  return mac(secret, ['welcome', key.runId, key.generation, key.segment, from, to, clientNonce]);
}

export function sameProof(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}

const HEX = /^[0-9a-f]{32,128}$/;

/** Parses a hello header; undefined when any field is missing or of the wrong type. */
export function parseHello(h: Record<string, unknown>): Hello | undefined {
  const int = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;
  if (
    typeof h.runId !== 'string' ||
    h.runId.length === 0 ||
    h.runId.length > 1000 ||
    !int(h.generation) ||
    !int(h.segment) ||
    !int(h.from) ||
    !int(h.to) ||
    typeof h.nonce !== 'string' ||
    !HEX.test(h.nonce) ||
    typeof h.proof !== 'string' ||
    !HEX.test(h.proof)
  )
    return undefined;
  return {
    runId: h.runId,
    generation: h.generation,
    segment: h.segment,
    from: h.from,
    to: h.to,
    nonce: h.nonce,
    proof: h.proof,
  };
}

export interface Expected extends SessionKey {
  /** the member index of the acceptor; the dialer must be member - 1 */
  member: number;
  secret: string;
}

/** The acceptor's verdict on a hello against what it expects for that run (if anything). */
export function judgeHello(
  hello: Hello,
  expected: Expected | undefined,
  serverNonce: string,
): { ok: true } | { ok: false; code: RefuseCode; reason: string } {
  const who = `member ${hello.from} of run ${hello.runId} (generation ${hello.generation}, segment ${hello.segment})`;
  if (!expected)
    return { ok: false, code: 'not-ready', reason: `${who}: this trainer hosts no segment of that run now` };
  if (hello.generation < expected.generation)
    return {
      ok: false,
      code: 'stale-generation',
      reason: `${who}: the group was re-formed, this trainer serves generation ${expected.generation}`,
    };
  if (hello.generation > expected.generation || hello.segment > expected.segment)
    return {
      ok: false,
      code: 'not-ready',
      reason: `${who}: this trainer has not started that segment yet (it serves generation ${expected.generation}, segment ${expected.segment})`,
    };
  if (hello.segment < expected.segment)
    return {
      ok: false,
      code: 'stale-segment',
      reason: `${who}: this trainer already serves segment ${expected.segment}`,
    };
  if (hello.to !== expected.member || hello.from !== expected.member - 1)
    return {
      ok: false,
      code: 'wrong-member',
      reason: `${who} asked for member ${hello.to}; this trainer is member ${expected.member} and takes only member ${expected.member - 1}`,
    };
  if (!sameProof(hello.proof, helloProof(expected.secret, hello, hello.from, hello.to, serverNonce)))
    return { ok: false, code: 'bad-secret', reason: `${who}: wrong run secret` };
  return { ok: true };
}
