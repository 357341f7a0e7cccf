/**
 * The embedded S3-compatible server: Versity's S3 gateway (versitygw) with its POSIX backend over
 * a folder, as a child process (of the test, or of `s3-server-main.ts` under `seqtrain up`).
 * Chosen over s3rver because it implements conditional writes: a PUT with `If-None-Match: *` on
 * an existing key is refused with 412, the guard that keeps registry versions and alias events
 * from being overwritten. Layout: `<dir>/data/<bucket>/<key>` holds object bytes, `<dir>/meta`
 * their metadata (a sidecar folder, so no extended attributes are needed from the filesystem).
 * A folder left by s3rver is migrated on first start (see migrateFromS3rver).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY } from '@seqtrain/contracts';
import { freePort, isPortOpen, waitFor, which } from './exec';
import { ensureS3ServerBinary } from './provision/s3-server-bin';
import { migrateFromS3rver, prepareS3rverMigration } from './s3rver-migration';
import { terminate } from './temporal-server';

export interface LocalS3Options {
  dir: string;
  /** 0 or undefined picks a free port. */
  port?: number;
  bucket: string;
  address?: string;
  /** The one account the server accepts (default: the local stack's fixed keys). */
  credentials?: { accessKeyId: string; secretAccessKey: string };
  /** Where the server binary is cached (default SEQTRAIN_CACHE or ~/.cache/seqtrain). */
  cacheDir?: string;
  log?: (msg: string) => void;
  /**
   * A command that runs the server, its argv appended (e.g. `['ip', 'netns', 'exec', 'ns1']` for a
   * network namespace, with `address` one of that namespace's); default: none, run directly.
   */
  launcher?: readonly string[];
}

export interface LocalS3 {
  endpoint: string;
  port: number;
  bucket: string;
  /** The server process (undefined while stopped). */
  readonly pid: number | undefined;
  /** Stops accepting connections (data stays on disk). */
  stop(): Promise<void>;
  /** Starts again on the same port and folder (for outage tests). */
  restart(): Promise<void>;
  /** Resolves when the server process ends on its own (not through stop()). */
  readonly exited: Promise<string>;
}

export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.SEQTRAIN_CACHE ?? path.join(os.homedir(), '.cache', 'seqtrain');
}

export async function startLocalS3(options: LocalS3Options): Promise<LocalS3> {
  const address = options.address ?? '127.0.0.1';
  const log = options.log ?? (() => undefined);
  const binary = await ensureS3ServerBinary({ cacheDir: options.cacheDir ?? defaultCacheDir(), log });
  const dataDir = path.join(options.dir, 'data');
  const metaDir = path.join(options.dir, 'meta');
  const legacy = await prepareS3rverMigration(options.dir, options.bucket);
  await fsp.mkdir(path.join(dataDir, options.bucket), { recursive: true });
  await fsp.mkdir(metaDir, { recursive: true });
  const credentials = options.credentials ?? {
    accessKeyId: LOCAL_ACCESS_KEY,
    secretAccessKey: LOCAL_SECRET_KEY,
  };
  let port = options.port || (await freePort(address));
  let child: ChildProcess | undefined;
  let onExit: (why: string) => void = () => undefined;
  const exited = new Promise<string>((resolve) => (onExit = resolve));

  const launch = async (): Promise<void> => {
    if (await isPortOpen(port, address)) {
      throw new Error(
        `local S3 port ${address}:${port} is already in use by another program; set SEQTRAIN_S3_PORT to a free port`,
      );
    }
    const args = ['-q', '--port', `${address}:${port}`, 'posix', '--sidecar', metaDir, dataDir];
    // The server dies with its parent even when the parent is SIGKILLed (a crashed test run).
    const setpriv = os.platform() === 'linux' ? which('setpriv') : undefined;
    const direct = setpriv ? [setpriv, '--pdeathsig', 'KILL', binary, ...args] : [binary, ...args];
    const [cmd, ...argv] = [...(options.launcher ?? []), ...direct];
    const c = spawn(cmd!, argv, {
      stdio: ['ignore', 'ignore', 'pipe'],
      // Secrets go through the environment, not the command line (visible in `ps`).
      env: {
        PATH: process.env.PATH ?? '',
        ROOT_ACCESS_KEY_ID: credentials.accessKeyId,
        ROOT_SECRET_ACCESS_KEY: credentials.secretAccessKey,
      },
    });
    child = c;
    let tail = '';
    c.stderr?.on('data', (d: Buffer) => {
      tail = (tail + d.toString()).slice(-2000);
    });
    let gone: string | undefined;
    c.once('exit', (code, signal) => {
      gone = `local S3 server (versitygw) exited with ${code ?? signal}${tail ? `: ${tail.trim()}` : ''}`;
      if (child === c) {
        child = undefined;
        onExit(gone);
      }
    });
    killOnExit(c);
    await waitFor(
      `local S3 server on ${address}:${port}`,
      async () => {
        if (gone) throw new Error(gone);
        return isPortOpen(port, address);
      },
      30_000,
      50,
    );
  };

  for (let attempt = 0; ; attempt++) {
    try {
      await launch();
      break;
    } catch (err) {
      // A free port taken by someone else between freePort() and the bind: pick another.
      if (options.port || attempt >= 3 || !/in use|address already/i.test((err as Error).message)) throw err;
      port = await freePort(address);
    }
  }
  const endpoint = `http://${address}:${port}`;
  if (legacy) {
    const n = await migrateFromS3rver({
      dir: options.dir,
      bucket: options.bucket,
      endpoint,
      credentials,
      log,
    });
    log(`moved ${n} objects from the old s3rver folder into the local S3 server`);
  }
  return {
    endpoint,
    port,
    bucket: options.bucket,
    get pid() {
      return child?.pid;
    },
    exited,
    async stop() {
      const c = child;
      child = undefined;
      if (c) await terminate(c);
    },
    async restart() {
      if (child) return;
      await waitFor(`port ${port} to close`, async () => !(await isPortOpen(port, address)), 20_000);
      await launch();
    },
  };
}

const live = new Set<ChildProcess>();
let hooked = false;
function killOnExit(c: ChildProcess): void {
  live.add(c);
  c.once('exit', () => live.delete(c));
  if (hooked) return;
  hooked = true;
  process.once('exit', () => {
    for (const p of live) p.kill('SIGKILL');
  });
}
