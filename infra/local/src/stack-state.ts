/**
 * Book-keeping of the embedded stack under SEQTRAIN_HOME/run: one JSON file per process that
 * `seqtrain up` started, so that `down` and `status` work from any shell.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
// The process helpers only: the package's index loads the local S3 server (s3rver, koa, winston...),
// which every process that reads the stack state (a trainer too) would then carry.
import { isAlive } from '@seqtrain/local-stack/exec';

export interface ServiceState {
  name: string;
  kind: 'temporal' | 's3' | 'worker';
  pid: number;
  startedAt: string;
  address?: string;
  uiUrl?: string;
  logFile?: string;
  role?: 'orchestrator' | 'trainer';
  backend?: unknown;
  taskQueues?: string[];
  /** a trainer's data-plane address (host:port) */
  dataPlane?: string;
  /** a worker's /metrics, /healthz and /readyz listener (host:port) */
  metrics?: string;
}

export function runDir(home: string): string {
  return path.join(home, 'run');
}

export function logDir(home: string): string {
  return path.join(home, 'logs');
}

export async function writeState(home: string, state: ServiceState): Promise<void> {
  const dir = runDir(home);
  await fsp.mkdir(dir, { recursive: true });
  const file = path.join(dir, `${state.name}.json`);
  await fsp.writeFile(`${file}.tmp`, JSON.stringify(state, null, 2));
  await fsp.rename(`${file}.tmp`, file);
}

export async function removeState(home: string, name: string): Promise<void> {
  await fsp.rm(path.join(runDir(home), `${name}.json`), { force: true });
}

/** Live services; files of dead processes are cleaned up on the way. */
export async function readStates(home: string): Promise<ServiceState[]> {
  const dir = runDir(home);
  let names: string[];
  try {
    names = (await fsp.readdir(dir)).filter((n) => n.endsWith('.json'));
  } catch {
    return [];
  }
  const out: ServiceState[] = [];
  for (const n of names.sort()) {
    try {
      const s = JSON.parse(await fsp.readFile(path.join(dir, n), 'utf8')) as ServiceState;
      if (isAlive(s.pid)) out.push(s);
      else await fsp.rm(path.join(dir, n), { force: true });
    } catch {
      // A file being written concurrently; skip it this time.
    }
  }
  return out;
}
