/**
 * `seqtrain demo`: brings up the embedded stack (unless it is already up), runs the end-to-end
 * pipeline on it, and stops what it started.
 */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { ORCHESTRATOR_QUEUE } from '@seqtrain/contracts';
import type { smokeWorkflow } from '@seqtrain/workflows';
import { EXIT_FAILURE, EXIT_OK, type CliContext } from '../context';
import { readStates } from '../stack-state';
import { ensureStack, stopStack } from './stack';

export async function runDemo(argv: string[], ctx: CliContext): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { keep: { type: 'boolean', default: false }, trainers: { type: 'string', default: '2' } }, strict: true });
  const log = (m: string): void => ctx.io.err(`${m}\n`);
  const wasRunning = (await readStates(ctx.config.home)).some((s) => s.kind === 'temporal');
  log('== 1/2 starting the embedded stack');
  await ensureStack(ctx, Number(values.trainers));
  try {
    log('\n== 2/2 smoke workflow: Temporal -> worker activity -> S3 write + read');
    const connection = await Connection.connect({ address: ctx.config.temporal.address });
    try {
      const client = new Client({ connection, namespace: ctx.config.temporal.namespace });
      const key = `demo/smoke-${randomUUID()}.txt`;
      const text = `hello from seqtrain at ${new Date().toISOString()}`;
      const result = await client.workflow.execute<typeof smokeWorkflow>('smokeWorkflow', {
        taskQueue: ORCHESTRATOR_QUEUE,
        workflowId: `demo-smoke-${randomUUID()}`,
        args: [{ key, text }],
      });
      if (result.readBack !== text) {
        log(`smoke workflow read back ${JSON.stringify(result.readBack)}, expected ${JSON.stringify(text)}`);
        return EXIT_FAILURE;
      }
      log(`wrote and read s3://${ctx.config.s3.bucket}/${result.key} (${result.bytes} bytes, sha256 ${result.sha256.slice(0, 12)}...)`);
    } finally {
      await connection.close();
    }
    log('\ndemo finished');
    return EXIT_OK;
  } finally {
    if (!wasRunning && !values.keep) {
      log('stopping the stack the demo started (pass --keep to leave it running)');
      await stopStack(ctx);
    }
  }
}
