/**
 * The per-round reduction of a group, in rank order. Member 0 starts the partial, each member
 * folds its own contribution into what it received and passes it on, the last member turns the
 * complete partial into the round's result, and the result travels back along the chain, so
 * every member applies the same bytes. The summation order is the rank order, as in one process
 * (a ring, whose order differs per chunk, would not give identical bytes).
 *
 * The leader (member 0) also ends a segment: its END travels down the chain, every member
 * checks its weights hash against the leader's, and the ACK travels back before the leader
 * writes the checkpoint.
 */
import { DeterminismError, PeerError, type SegmentEndReason } from '@seqtrain/contracts';
import type { Frame, FramedSocket } from '@seqtrain/dataplane';

export interface Payload {
  header: Record<string, unknown>;
  arrays: Float32Array[];
}

export interface EndMessage {
  reason: SegmentEndReason;
  step: number;
  weightsSha256: string;
}

export type RoundOutcome = { result: Payload } | { end: EndMessage };

export interface Exchange {
  readonly member: number;
  readonly size: number;
  /**
   * One round. `combine(prev)` folds this member's contribution into the partial received from
   * the previous member (undefined on member 0); the last member turns the complete partial into
   * the result with `finish`. Non-leaders may get the leader's END instead of a partial.
   */
  round(
    round: number,
    combine: (prev: Payload | undefined) => Payload,
    finish: (total: Payload) => Payload,
  ): Promise<RoundOutcome>;
  /** Leader: ends the segment for everyone and waits until every member confirmed its weights. */
  end(msg: EndMessage): Promise<void>;
  /** Tells the peers why this member gives up (they fail at once instead of timing out). */
  abort(reason: string): void;
  close(): void;
}

/** One member: nothing to exchange. */
export function soloExchange(): Exchange {
  return {
    member: 0,
    size: 1,
    round: (_r, combine, finish) => Promise.resolve({ result: finish(combine(undefined)) }),
    end: () => Promise.resolve(),
    abort: () => undefined,
    close: () => undefined,
  };
}

export interface ChainOptions {
  member: number;
  size: number;
  prev?: FramedSocket;
  next?: FramedSocket;
  signal?: AbortSignal;
  /** silence tolerated from a neighbour, re-read every wait (it grows with the observed step time) */
  idleTimeoutMs: () => number;
  /** this member's weights hash, compared with the leader's at the end */
  weightsSha256: () => string;
}

export class ChainExchange implements Exchange {
  readonly member: number;
  readonly size: number;

  constructor(private readonly o: ChainOptions) {
    this.member = o.member;
    this.size = o.size;
    if (o.member > 0 !== (o.prev !== undefined) || o.member < o.size - 1 !== (o.next !== undefined))
      throw new Error(`member ${o.member} of ${o.size} needs exactly its neighbours' links`);
  }

  private async receive(
    link: FramedSocket,
    from: string,
    kinds: readonly string[],
    round?: number,
  ): Promise<Frame> {
    const f = await link.receive({
      idleTimeoutMs: this.o.idleTimeoutMs(),
      ...(this.o.signal ? { signal: this.o.signal } : {}),
    });
    const kind = f.header.kind;
    if (f.type !== 'data' || typeof kind !== 'string' || !kinds.includes(kind))
      throw new PeerError(`data plane: ${from} sent ${String(kind)}, expected ${kinds.join(' or ')}`);
    if (round !== undefined && kind !== 'end' && f.header.round !== round)
      throw new PeerError(
        `data plane: ${from} is at round ${String(f.header.round)}, this member at ${round}`,
      );
    return f;
  }

  async round(
    round: number,
    combine: (prev: Payload | undefined) => Payload,
    finish: (total: Payload) => Payload,
  ): Promise<RoundOutcome> {
    const { prev, next, member } = this.o;
    let partial: Payload;
    if (prev) {
      const f = await this.receive(prev, `member ${member - 1}`, ['partial', 'end'], round);
      if (f.header.kind === 'end') return { end: await this.onEnd(f) };
      partial = combine({ header: f.header, arrays: f.arrays });
    } else partial = combine(undefined);
    let result: Payload;
    if (next) {
      next.send('data', { ...partial.header, kind: 'partial', round }, partial.arrays);
      const f = await this.receive(next, `member ${member + 1}`, ['result'], round);
      result = { header: f.header, arrays: f.arrays };
    } else result = finish(partial);
    prev?.send('data', { ...result.header, kind: 'result', round }, result.arrays);
    return { result };
  }

  private async onEnd(f: Frame): Promise<EndMessage> {
    const { reason, step, weightsSha256 } = f.header;
    if (typeof reason !== 'string' || typeof step !== 'number' || typeof weightsSha256 !== 'string')
      throw new PeerError(`data plane: member ${this.member - 1} sent a malformed end`);
    const msg: EndMessage = { reason: reason as SegmentEndReason, step, weightsSha256 };
    const mine = this.o.weightsSha256();
    if (mine !== weightsSha256) {
      throw new DeterminismError(
        `member ${this.member} holds weights ${mine.slice(0, 12)} at step ${step} but the leader holds ${weightsSha256.slice(0, 12)}: the replicas diverged (non-deterministic kernels or mismatched thread counts across trainers)`,
      );
    }
    await this.end(msg);
    this.o.prev!.send('data', { kind: 'ack', step });
    return msg;
  }

  async end(msg: EndMessage): Promise<void> {
    const next = this.o.next;
    if (!next) return;
    next.send('data', { kind: 'end', reason: msg.reason, step: msg.step, weightsSha256: msg.weightsSha256 });
    await this.receive(next, `member ${this.member + 1}`, ['ack']);
  }

  abort(reason: string): void {
    this.o.prev?.abort(reason);
    this.o.next?.abort(reason);
  }

  close(): void {
    this.o.prev?.close();
    this.o.next?.close();
  }
}
