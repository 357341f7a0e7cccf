/**
 * The Temporal dev server (`temporal server start-dev`), SQLite-backed when given a file so that
 * workflow history survives restarts. Health is checked through the CLI itself, so this package
 * needs no Temporal SDK.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { freePort, isPortOpen, run, waitFor } from './exec';

// Registered at start so workflows can be listed by model, dataset, kind and status.
export { SEARCH_ATTRIBUTES } from '@seqtrain/contracts';
import { SEARCH_ATTRIBUTES } from '@seqtrain/contracts';

export interface TemporalServerOptions {
  cli: string;
  /** 0 or undefined picks a free port. */
  port?: number;
  uiPort?: number;
  /** SQLite file; undefined keeps state in memory. */
  dbFile?: string;
  headless?: boolean;
  namespace?: string;
  /** Server output goes here (appended). */
  logFile?: string;
  /** Start in its own process group and outlive this process (`seqtrain up --detach`). */
  detached?: boolean;
  /**
   * The address to listen on (default 127.0.0.1). The dev server's internal services dial
   * 127.0.0.1 whatever it is given, so any other single address breaks it: 0.0.0.0 works, e.g. in
   * a network namespace of its own, with `host` the address clients dial.
   */
  ip?: string;
  /** The address clients dial and health checks use (default `ip`, or 127.0.0.1 for 0.0.0.0). */
  host?: string;
  /**
   * A command that runs the server and its health checks, their argv appended (e.g.
   * `['ip', 'netns', 'exec', 'ns1']` for a network namespace); default: none, run directly.
   */
  launcher?: readonly string[];
}

export interface TemporalServer {
  address: string;
  namespace: string;
  port: number;
  uiPort: number | undefined;
  pid: number | undefined;
  stop(): Promise<void>;
  /** Stops and starts again on the same port and database (fault tests). */
  restart(): Promise<void>;
}

export function startDevServerArgs(
  o: Required<Pick<TemporalServerOptions, 'port'>> & TemporalServerOptions,
): string[] {
  const args = [
    'server',
    'start-dev',
    '--ip',
    o.ip ?? '127.0.0.1',
    '--port',
    String(o.port),
    '--log-level',
    'warn',
    '--ui-disable-news-fetch',
  ];
  if (o.headless) args.push('--headless');
  else if (o.uiPort) args.push('--ui-port', String(o.uiPort));
  if (o.dbFile) args.push('--db-filename', o.dbFile);
  if (o.namespace && o.namespace !== 'default') args.push('--namespace', o.namespace);
  for (const [k, v] of Object.entries(SEARCH_ATTRIBUTES)) args.push('--search-attribute', `${k}=${v}`);
  // Workflows carry small state and continue-as-new, but fault tests replay long histories.
  args.push('--dynamic-config-value', 'frontend.enableUpdateWorkflowExecution=true');
  args.push('--dynamic-config-value', 'frontend.enableExecuteMultiOperation=true');
  return args;
}

export async function checkTemporalHealth(
  cli: string,
  address: string,
  namespace = 'default',
  launcher: readonly string[] = [],
): Promise<boolean> {
  const [cmd, ...pre] = [...launcher, cli];
  try {
    await run(cmd, [
      ...pre,
      'operator',
      'namespace',
      'describe',
      '--address',
      address,
      '--namespace',
      namespace,
      '--command-timeout',
      '3s',
    ]);
    return true;
  } catch {
    return false;
  }
}

export async function startTemporal(options: TemporalServerOptions): Promise<TemporalServer> {
  const port = options.port || (await freePort());
  const uiPort = options.headless ? undefined : options.uiPort || port + 1000;
  const bind = options.ip ?? '127.0.0.1';
  const ip = options.host ?? (bind === '0.0.0.0' ? '127.0.0.1' : bind);
  const launcher = options.launcher ?? [];
  if (await isPortOpen(port, ip)) {
    throw new Error(
      `Temporal port ${ip}:${port} is already in use by another program; set SEQTRAIN_TEMPORAL_ADDRESS to a free port`,
    );
  }
  if (uiPort && (await isPortOpen(uiPort, ip))) {
    throw new Error(
      `Temporal UI port ${ip}:${uiPort} is already in use by another program; set SEQTRAIN_TEMPORAL_UI_PORT to a free port`,
    );
  }
  if (options.dbFile) await fsp.mkdir(path.dirname(options.dbFile), { recursive: true });
  const address = `${ip}:${port}`;
  const namespace = options.namespace ?? 'default';
  let child: ChildProcess | undefined;

  const launch = async (): Promise<void> => {
    const args = startDevServerArgs({ ...options, port, ...(uiPort ? { uiPort } : {}) });
    let out: 'ignore' | number = 'ignore';
    if (options.logFile) {
      await fsp.mkdir(path.dirname(options.logFile), { recursive: true });
      out = openSync(options.logFile, 'a');
    }
    const [cmd, ...pre] = [...launcher, options.cli];
    const c = spawn(cmd, [...pre, ...args], {
      stdio: ['ignore', out, out],
      detached: options.detached ?? false,
    });
    // The child has its own copy of the descriptor.
    if (typeof out === 'number') closeSync(out);
    child = c;
    let exited: string | undefined;
    c.once('exit', (code, signal) => {
      exited = `exited with ${code ?? signal}`;
    });
    if (!options.detached) killOnExit(c);
    else c.unref();
    await waitFor(
      `Temporal dev server on ${address}`,
      async () => {
        if (exited)
          throw new Error(
            `Temporal dev server ${exited}${options.logFile ? `; see ${options.logFile}` : ''}`,
          );
        return (
          (await isPortOpen(port, ip)) &&
          (await checkTemporalHealth(options.cli, address, namespace, launcher))
        );
      },
      60_000,
      300,
    );
  };
  await launch();

  return {
    address,
    namespace,
    port,
    uiPort,
    get pid() {
      return child?.pid;
    },
    async stop() {
      const c = child;
      child = undefined;
      if (c) await terminate(c);
    },
    async restart() {
      const c = child;
      child = undefined;
      if (c) await terminate(c);
      await waitFor(`port ${port} to close`, async () => !(await isPortOpen(port, ip)), 20_000);
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

export async function terminate(c: ChildProcess, graceMs = 10_000): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return;
  const done = new Promise<void>((r) => c.once('exit', () => r()));
  c.kill('SIGTERM');
  const timer = setTimeout(() => c.kill('SIGKILL'), graceMs);
  await done;
  clearTimeout(timer);
}
