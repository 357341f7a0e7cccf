/** A Temporal client for one command, closed when the command is done. */
import { Client, Connection } from '@temporalio/client';
import { temporalConnectOptions } from '@seqtrain/worker';
import type { CliContext } from './context';

export async function withClient<T>(ctx: CliContext, fn: (client: Client) => Promise<T>): Promise<T> {
  let connection: Connection;
  try {
    connection = await Connection.connect({
      ...(await temporalConnectOptions(ctx.config)),
      connectTimeout: '5s',
    });
  } catch (err) {
    throw new Error(
      `cannot reach Temporal at ${ctx.config.temporal.address} (${(err as Error).message}); is the stack up? run: seqtrain up --detach`,
      { cause: err },
    );
  }
  try {
    return await fn(new Client({ connection, namespace: ctx.config.temporal.namespace }));
  } finally {
    await connection.close();
  }
}

/** Retries a long poll across server restarts and brief network faults. */
export async function resilient<T>(
  what: string,
  fn: () => Promise<T>,
  log: (m: string) => void,
  budgetMs = 10 * 60_000,
): Promise<T> {
  const deadline = Date.now() + budgetMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      const e = err as { code?: number; name?: string; message?: string };
      // gRPC UNAVAILABLE (14) / DEADLINE_EXCEEDED (4), or a connection-level failure.
      const transient =
        e.code === 14 ||
        e.code === 4 ||
        /UNAVAILABLE|ECONNREFUSED|ECONNRESET|connect|transport/i.test(`${e.name} ${e.message}`);
      if (!transient || Date.now() > deadline) throw err;
      if (attempt === 1 || attempt % 10 === 0)
        log(`${what}: Temporal is unavailable (${e.message?.split('\n')[0]}); retrying`);
      await new Promise((r) => setTimeout(r, Math.min(5000, 250 * attempt)));
    }
  }
}
