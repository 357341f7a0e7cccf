/** Test helpers: run the CLI as a user does, in a child process, against a private stack. */
import { spawn } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '@seqtrain/local-stack';
import { cliMainPath, tsxLoader } from '../src/node-process';

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function cli(args: string[], env: Record<string, string>, cwd?: string): Promise<CliRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', tsxLoader(), cliMainPath(), ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(cwd ? { cwd } : {}),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A private SEQTRAIN_HOME and free ports, so tests never touch a user's stack. */
export async function privateStackEnv(
  prefix: string,
): Promise<{ env: Record<string, string>; home: string }> {
  const home = await fsp.mkdtemp(path.join(os.tmpdir(), prefix));
  return {
    home,
    env: {
      SEQTRAIN_HOME: home,
      SEQTRAIN_TEMPORAL_ADDRESS: `127.0.0.1:${await freePort()}`,
      SEQTRAIN_TEMPORAL_UI_PORT: String(await freePort()),
      SEQTRAIN_S3_PORT: String(await freePort()),
    },
  };
}

export function json<T>(run: CliRun): T {
  try {
    return JSON.parse(run.stdout) as T;
  } catch {
    throw new Error(`expected one JSON object on stdout, got:\n${run.stdout}\nstderr:\n${run.stderr}`);
  }
}
