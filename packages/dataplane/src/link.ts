/**
 * A framed TCP connection to one peer with bounded waits. Every receive has a deadline that
 * only the peer's own frames push back (data or keepalive), so a dead peer (connection closed)
 * is noticed at once and a frozen one (SIGSTOP, partition) after `idleTimeoutMs` of silence.
 * A link sends a keepalive whenever it has been quiet for `keepaliveMs`; only a process whose
 * event loop is blocked (a long synchronous kernel call) is silent, and the idle timeout is set
 * well above the longest such call.
 */
import type { Socket } from 'node:net';
import { PeerError } from '@seqtrain/contracts';
import { encodeFrame, FrameReader, type Frame, type FrameLimits, type FrameTypeName } from './frames';

export interface ReceiveOptions {
  /** silence from the peer tolerated while waiting (default: the link's idle timeout) */
  idleTimeoutMs?: number;
  signal?: AbortSignal;
}

export class FramedSocket {
  private queue: Frame[] = [];
  private waiter: { resolve: (f: Frame) => void; reject: (e: Error) => void } | undefined;
  private failure: Error | undefined;
  private lastHeard = Date.now();
  private lastSent = Date.now();
  private keepalive: NodeJS.Timeout | undefined;
  readonly reader: FrameReader;

  constructor(
    readonly socket: Socket,
    readonly peer: string,
    limits: FrameLimits,
    public idleTimeoutMs: number,
  ) {
    this.reader = new FrameReader(limits, peer);
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.lastHeard = Date.now();
      let frames: Frame[];
      try {
        frames = this.reader.push(chunk);
      } catch (err) {
        this.fail(err as Error);
        return;
      }
      for (const f of frames) this.deliver(f);
    });
    socket.on('error', (err) =>
      this.fail(new PeerError(`data plane: connection to ${peer} failed: ${err.message}`)),
    );
    socket.on('close', () => this.fail(new PeerError(`data plane: ${peer} closed the connection`)));
  }

  private deliver(f: Frame): void {
    if (f.type === 'keepalive') return;
    if (f.type === 'abort') {
      const reason = typeof f.header.reason === 'string' ? f.header.reason : 'no reason given';
      this.fail(new PeerError(`data plane: ${this.peer} gave up: ${reason}`));
      return;
    }
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w.resolve(f);
    } else this.queue.push(f);
  }

  /** Marks the connection broken (first reason wins), fails a pending receive, closes the socket. */
  fail(err: Error): void {
    if (!this.failure) this.failure = err;
    this.stopKeepalive();
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w.reject(this.failure);
    }
    if (!this.socket.destroyed) this.socket.destroy();
  }

  get broken(): Error | undefined {
    return this.failure;
  }

  send(type: FrameTypeName, header: Record<string, unknown>, arrays: readonly Float32Array[] = []): void {
    if (this.failure) throw this.failure;
    const buffers = encodeFrame(type, header, arrays);
    this.socket.cork();
    for (const b of buffers) this.socket.write(b);
    this.socket.uncork();
    this.lastSent = Date.now();
  }

  /** Keeps the peer's idle timer from firing while this side waits or works asynchronously. */
  startKeepalive(intervalMs: number): void {
    this.stopKeepalive();
    this.keepalive = setInterval(
      () => {
        if (this.failure || Date.now() - this.lastSent < intervalMs) return;
        try {
          this.send('keepalive', {});
        } catch {
          // the failure is already recorded
        }
      },
      Math.max(50, Math.floor(intervalMs / 2)),
    );
    this.keepalive.unref();
  }

  private stopKeepalive(): void {
    if (this.keepalive) clearInterval(this.keepalive);
    this.keepalive = undefined;
  }

  /** The next frame other than keepalive/abort, or a PeerError (closed, aborted, silent too long, malformed). */
  receive(opts: ReceiveOptions = {}): Promise<Frame> {
    const queued = this.queue.shift();
    if (queued) return Promise.resolve(queued);
    if (this.failure) return Promise.reject(this.failure);
    if (this.waiter) return Promise.reject(new Error('data plane: one receive at a time per link'));
    const idle = opts.idleTimeoutMs ?? this.idleTimeoutMs;
    const signal = opts.signal;
    if (signal?.aborted) return Promise.reject(abortError(signal));
    return new Promise<Frame>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const cleanup = (): void => {
        if (timer) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      const onAbort = (): void => {
        this.waiter = undefined;
        cleanup();
        reject(abortError(signal!));
      };
      // Re-armed from the last time anything (a keepalive too) arrived.
      const arm = (): void => {
        const due = this.lastHeard + idle - Date.now();
        timer = setTimeout(
          () => {
            if (Date.now() - this.lastHeard >= idle) {
              this.fail(
                new PeerError(
                  `data plane: no word from ${this.peer} for ${(idle / 1000).toFixed(1)} s (hung, frozen or cut off)`,
                ),
              );
            } else arm();
          },
          Math.max(1, due),
        );
      };
      this.waiter = {
        resolve: (f) => {
          cleanup();
          resolve(f);
        },
        reject: (e) => {
          cleanup();
          reject(e);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      arm();
    });
  }

  /** Tells the peer why this side gives up, then closes. */
  abort(reason: string): void {
    if (!this.failure) {
      try {
        this.send('abort', { reason });
      } catch {
        // already broken
      }
    }
    this.stopKeepalive();
    this.socket.end();
    this.failure ??= new PeerError(`data plane: link to ${this.peer} aborted: ${reason}`);
  }

  close(): void {
    this.stopKeepalive();
    this.failure ??= new PeerError(`data plane: link to ${this.peer} closed`);
    if (!this.socket.destroyed) this.socket.end();
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }
}

function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new PeerError('data plane: wait cancelled');
}
