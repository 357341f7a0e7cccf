import { randomUUID } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { smokeWorkflow } from '@seqtrain/workflows';
import { writeState } from '@seqtrain/local-stack/stack-state';
import { cli, privateStackEnv } from '../test/test-cli';

// Tier 4: the CLI as a user runs it, in a child process, against its own home and ports.
interface StatusJson {
  temporal: { pid: number; address: string; healthy: boolean } | null;
  s3: { pid: number; healthy: boolean } | null;
  workers: { name: string; role: string; pid: number }[];
}

describe('seqtrain up / status / down', () => {
  let env: Record<string, string>;
  let home: string;
  beforeAll(async () => {
    ({ env, home } = await privateStackEnv('seqtrain-cli-'));
  });
  afterAll(async () => {
    await cli(['down'], env);
    await fsp.rm(home, { recursive: true, force: true });
  });

  it('starts, is idempotent, stops, and keeps workflow history across restarts', async () => {
    const up = await cli(['up', '--detach', '--trainers', '1', '--json'], env);
    expect(up.code, up.stderr).toBe(0);
    const summary = JSON.parse(up.stdout) as { temporal: { ui: string }; workers: unknown[] };
    expect(summary.temporal.ui).toBe(`http://127.0.0.1:${env.SEQTRAIN_TEMPORAL_UI_PORT}`);
    expect(up.stderr).toContain(`Temporal UI: http://127.0.0.1:${env.SEQTRAIN_TEMPORAL_UI_PORT}`);

    const status = JSON.parse((await cli(['status', '--json'], env)).stdout) as StatusJson;
    expect(status.temporal?.healthy).toBe(true);
    expect(status.s3?.healthy).toBe(true);
    expect(status.workers.map((w) => w.role).sort()).toEqual(['orchestrator', 'trainer']);

    // Idempotent: a second `up` starts nothing new.
    const again = await cli(['up', '--detach', '--trainers', '1'], env);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain('already running');
    const status2 = JSON.parse((await cli(['status', '--json'], env)).stdout) as StatusJson;
    expect(status2.temporal?.pid).toBe(status.temporal?.pid);
    expect(status2.workers.map((w) => w.pid).sort()).toEqual(status.workers.map((w) => w.pid).sort());

    // A workflow through the stack's own workers.
    const workflowId = `cli-test-${randomUUID()}`;
    {
      const connection = await Connection.connect({ address: env.SEQTRAIN_TEMPORAL_ADDRESS });
      const client = new Client({ connection });
      const r = await client.workflow.execute<typeof smokeWorkflow>('smokeWorkflow', {
        taskQueue: 'seqtrain',
        workflowId,
        args: [{ key: 'cli-test/x', text: 'kept' }],
      });
      expect(r.readBack).toBe('kept');
      await connection.close();
    }

    const down = await cli(['down'], env);
    expect(down.code, down.stderr).toBe(0);
    const stopped = JSON.parse((await cli(['status', '--json'], env)).stdout) as StatusJson;
    expect(stopped).toMatchObject({ temporal: null, s3: null, workers: [] });

    // Restart: the SQLite-backed server still knows the workflow.
    expect((await cli(['up', '--detach', '--trainers', '0'], env)).code).toBe(0);
    const connection = await Connection.connect({ address: env.SEQTRAIN_TEMPORAL_ADDRESS });
    try {
      const client = new Client({ connection });
      const desc = await client.workflow.getHandle(workflowId).describe();
      expect(desc.status.name).toBe('COMPLETED');
    } finally {
      await connection.close();
    }
    expect((await cli(['down'], env)).code).toBe(0);
  });

  it('waits for a recorded server that no longer answers (shutting down) to exit, then starts a new one', async () => {
    // A live process that does not listen, recorded as the dev server: one in its graceful shutdown.
    const dying = spawn('sleep', ['2'], { stdio: 'ignore' });
    await writeState(home, {
      name: 'temporal',
      kind: 'temporal',
      pid: dying.pid!,
      startedAt: new Date().toISOString(),
      address: env.SEQTRAIN_TEMPORAL_ADDRESS!,
    });
    try {
      const up = await cli(['up', '--detach', '--trainers', '0'], env);
      expect(up.code, up.stderr).toBe(0);
      expect(up.stderr).toContain(`temporal (pid ${dying.pid}) does not answer`);
      const status = JSON.parse((await cli(['status', '--json'], env)).stdout) as StatusJson;
      expect(status.temporal?.healthy).toBe(true);
      expect(status.temporal?.pid).not.toBe(dying.pid);
    } finally {
      dying.kill();
      await cli(['down'], env);
    }
  });

  it('refuses an occupied port with a clear message', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const r = await cli(['up', '--detach', '--trainers', '0'], { ...env, SEQTRAIN_S3_PORT: String(port) });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`local S3 port 127.0.0.1:${port} is already in use`);
    } finally {
      blocker.close();
      await cli(['down'], env);
    }
  });

  it('rejects unknown SEQTRAIN_* variables and unknown commands', async () => {
    const r = await cli(['status'], { ...env, SEQTRAIN_TEMPORAL_ADRESS: 'x' });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('SEQTRAIN_TEMPORAL_ADRESS');
    const u = await cli(['frobnicate'], env);
    expect(u.code).toBe(1);
    expect(u.stderr).toContain('unknown command "frobnicate"');
  });
});
