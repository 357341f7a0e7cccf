/**
 * The activities' own calls to Temporal (progress probes, control queries, trainer lists), so
 * that a worker can end them before it closes its client connection: the SDK retries a failed
 * call on a timer that closing the connection does not cancel (the timer then throws "Channel has
 * been shut down" from nowhere), so at the end they are aborted and awaited.
 *
 * Each call gets an AbortSignal of its own, chained to the worker's end: the SDK adds an abort
 * listener to the signal of every call and never removes it, so one long-lived signal would keep
 * every call ever made (a trainer's leader asks for the run's control three times a second).
 */
import type { Connection } from '@temporalio/client';

export interface ClientCalls {
  /** Runs `fn`'s Temporal calls so that `end()` can abort them. */
  call<T>(fn: () => Promise<T>): Promise<T>;
  /** Aborts the calls in flight and waits for them, at most `waitMs`. */
  end(waitMs: number): Promise<void>;
  /** aborted by `end()`; holds one listener per call in flight, none once a call settles */
  readonly signal: AbortSignal;
}

export function trackClientCalls(connection: Pick<Connection, 'withAbortSignal'>): ClientCalls {
  const inFlight = new Set<Promise<unknown>>();
  const ending = new AbortController();
  return {
    call<T>(fn: () => Promise<T>): Promise<T> {
      const own = new AbortController();
      if (ending.signal.aborted) own.abort();
      const abort = (): void => own.abort();
      ending.signal.addEventListener('abort', abort, { once: true });
      const p = connection.withAbortSignal(own.signal, fn);
      inFlight.add(p);
      const forget = (): void => {
        inFlight.delete(p);
        ending.signal.removeEventListener('abort', abort);
      };
      p.then(forget, forget);
      return p;
    },
    async end(waitMs: number): Promise<void> {
      ending.abort();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.allSettled([...inFlight]),
        new Promise((r) => {
          timer = setTimeout(r, waitMs);
        }),
      ]);
      clearTimeout(timer);
    },
    signal: ending.signal,
  };
}
