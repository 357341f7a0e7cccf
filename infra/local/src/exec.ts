/** Small process helpers for provisioning and service management. */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, promises as fsp, readFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export function which(cmd: string, envPath = process.env.PATH ?? ''): string | undefined {
  for (const dir of envPath.split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, cmd);
    const r = spawnSync('test', ['-x', candidate]);
    if (r.status === 0) return candidate;
  }
  return undefined;
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Runs a command, streaming its output to log lines; rejects with its tail on failure. */
export async function run(
  cmd: string,
  args: string[],
  opts: { cwd?: string; log?: (line: string) => void; env?: NodeJS.ProcessEnv } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const onData = (d: Buffer): void => {
      const text = d.toString();
      output += text;
      if (output.length > 200_000) output = output.slice(-100_000);
      for (const line of text.split('\n')) if (line.trim()) opts.log?.(line);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', (err) =>
      reject(new Error(`${cmd} could not be started: ${err.message}`, { cause: err })),
    );
    child.on('close', (code) => {
      if (code === 0) resolve(output);
      else reject(new Error(`${cmd} ${args.join(' ')} exited with ${code}:\n${output.slice(-4000)}`));
    });
  });
}

/**
 * A cross-process lock: an exclusive lock file holding the owner's pid and host; a lock left by a
 * dead process on this host is taken over. Fails after `timeoutMs` with who holds it.
 */
export async function withLock<T>(
  lockFile: string,
  fn: () => Promise<T>,
  opts: { log?: (msg: string) => void; timeoutMs?: number } = {},
): Promise<T> {
  await fsp.mkdir(path.dirname(lockFile), { recursive: true });
  const deadline = Date.now() + (opts.timeoutMs ?? 30 * 60_000);
  let lastLog = 0;
  for (;;) {
    try {
      const fh = await fsp.open(lockFile, 'wx');
      await fh.writeFile(`${process.pid} ${os.hostname()}\n`);
      await fh.close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const [pidText, host] = (await fsp.readFile(lockFile, 'utf8').catch(() => '')).trim().split(' ');
    const pid = Number(pidText);
    if (host === os.hostname() && Number.isInteger(pid) && pid > 0 && !isAlive(pid)) {
      opts.log?.(`removing stale lock ${lockFile} left by pid ${pid}`);
      await fsp.unlink(lockFile).catch(() => undefined);
      continue;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${lockFile} (held by pid ${pidText ?? '?'} on ${host ?? '?'})`);
    }
    if (Date.now() - lastLog > 30_000) {
      opts.log?.(`waiting for pid ${pidText ?? '?'} to finish (lock ${lockFile})`);
      lastLog = Date.now();
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  try {
    return await fn();
  } finally {
    await fsp.unlink(lockFile).catch(() => undefined);
  }
}

/**
 * Whether a process runs. A zombie does not: under an init that does not reap orphans (a
 * container without one, as PID 1 here) a SIGKILLed detached worker stays a zombie, and taking it
 * for alive meant `up` never started its replacement.
 */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  const state = processState(pid);
  return state !== 'Z' && state !== 'X';
}

/**
 * A process's state letter from /proc (R, S, D, T, Z, ...); undefined without procfs (macOS,
 * where signal 0 is all there is) or when the process is gone.
 */
export function processState(pid: number): string | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // "pid (comm) S ...": the state follows the last ')' (comm may hold spaces and parentheses).
  const close = stat.lastIndexOf(')');
  return stat.slice(close + 2, close + 3) || undefined;
}

/** A port nobody listens on right now. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export async function isPortOpen(port: number, host = '127.0.0.1', timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host });
    const done = (v: boolean): void => {
      sock.destroy();
      resolve(v);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

export async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs: number,
  intervalMs = 200,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`${what} did not become ready within ${Math.round(timeoutMs / 1000)} s`);
}
