/**
 * What an activity needs of its host: heartbeats and the cancellation signal. Inside a Temporal
 * worker that is the SDK's activity Context; in a trainer engine process (which holds no Temporal
 * client or worker, see @seqtrain/worker's engine) it is the relay the engine runs each call under.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { Context } from '@temporalio/activity';

export interface ActivityIo {
  heartbeat(details?: unknown): void;
  readonly cancellationSignal: AbortSignal;
}

const relayed = new AsyncLocalStorage<ActivityIo>();

/** Runs `fn` as an activity whose heartbeats and cancellation go through `io`. */
export function runRelayed<T>(io: ActivityIo, fn: () => Promise<T>): Promise<T> {
  return relayed.run(io, fn);
}

/** The current activity's host: a relay, Temporal's Context, or undefined outside any activity. */
export function currentActivity(): ActivityIo | undefined {
  const io = relayed.getStore();
  if (io) return io;
  try {
    return Context.current();
  } catch {
    return undefined;
  }
}
