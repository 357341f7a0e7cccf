/**
 * Shopify's toxiproxy (MIT), the TCP proxy the multi-host tests put between trainers to inject
 * latency, stalls and cut connections into the data plane. Built once from the Go module proxy
 * with `go install` of a pinned version and cached beside versitygw (see s3-server-bin.ts).
 * The command lives in `cmd/server`, so `go install` writes a binary named `server`; ensureGoTool
 * renames `gobin/<basename of the package path>` (here `server`) to `toxiproxy-server`.
 */
import { spawn } from 'node:child_process';
import { isPortOpen, waitFor } from '../exec';
import { defaultCacheDir } from '../s3-server';
import { terminate } from '../temporal-server';
import { ensureGoTool, goToolPath } from './s3-server-bin';

export const TOXIPROXY_VERSION = 'v2.12.0';
export const TOXIPROXY_MODULE = 'github.com/Shopify/toxiproxy/v2/cmd/server';

export function toxiproxyServerPath(cacheDir = defaultCacheDir()): string {
  return goToolPath(cacheDir, 'toxiproxy-server', TOXIPROXY_VERSION);
}

/** The toxiproxy-server binary, built on first use (about a minute). */
export async function ensureToxiproxyServer(
  opts: { cacheDir?: string; log?: (msg: string) => void } = {},
): Promise<string> {
  const cacheDir = opts.cacheDir ?? defaultCacheDir();
  return ensureGoTool({
    cacheDir,
    ...(opts.log ? { log: opts.log } : {}),
    name: 'toxiproxy-server',
    what: 'the toxiproxy fault proxy',
    module: TOXIPROXY_MODULE,
    version: TOXIPROXY_VERSION,
    bin: toxiproxyServerPath(cacheDir),
    minutes: 2,
  });
}

export interface Toxic {
  type: 'latency' | 'bandwidth' | 'slow_close' | 'timeout' | 'reset_peer' | 'slicer' | 'limit_data';
  /** which direction: downstream (to the client, the default) or upstream (to the server) */
  stream?: 'upstream' | 'downstream';
  toxicity?: number;
  attributes: Record<string, number>;
}

/** A running toxiproxy-server and the few calls of its HTTP API the tests use. */
export interface Toxiproxy {
  /** http://host:port of the API */
  api: string;
  pid: number | undefined;
  /** a proxy that listens on `listen` (host:port) and forwards to `upstream` */
  createProxy(name: string, listen: string, upstream: string): Promise<void>;
  setEnabled(name: string, enabled: boolean): Promise<void>;
  addToxic(proxy: string, toxic: string, spec: Toxic): Promise<void>;
  removeToxic(proxy: string, toxic: string): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts toxiproxy-server on `host:port` (through `launcher`, e.g. `ip netns exec <ns>`, when
 * given) and waits for its API. Its output is dropped unless `onOutput` takes it.
 */
export async function startToxiproxy(opts: {
  host: string;
  port: number;
  launcher?: readonly string[];
  cacheDir?: string;
  log?: (msg: string) => void;
  onOutput?: (text: string) => void;
}): Promise<Toxiproxy> {
  const bin = await ensureToxiproxyServer({
    ...(opts.cacheDir ? { cacheDir: opts.cacheDir } : {}),
    ...(opts.log ? { log: opts.log } : {}),
  });
  const [cmd, ...argv] = [...(opts.launcher ?? []), bin, '-host', opts.host, '-port', String(opts.port)];
  const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  let exited: string | undefined;
  child.once('exit', (code, signal) => (exited = `toxiproxy-server exited with ${code ?? signal}`));
  for (const s of [child.stdout, child.stderr]) s.on('data', (d: Buffer) => opts.onOutput?.(d.toString()));
  process.once('exit', () => child.kill('SIGKILL'));
  const api = `http://${opts.host}:${opts.port}`;
  const call = async (method: string, p: string, body?: unknown): Promise<void> => {
    const res = await fetch(`${api}${p}`, {
      method,
      ...(body === undefined
        ? {}
        : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
      signal: AbortSignal.timeout(10_000),
    });
    if (!res.ok) throw new Error(`toxiproxy ${method} ${p}: HTTP ${res.status} ${await res.text()}`);
    await res.arrayBuffer();
  };
  try {
    await waitFor(
      `toxiproxy-server on ${opts.host}:${opts.port}`,
      async () => {
        if (exited) throw new Error(exited);
        return isPortOpen(opts.port, opts.host);
      },
      20_000,
      100,
    );
  } catch (err) {
    await terminate(child, 2_000);
    throw err;
  }
  return {
    api,
    get pid() {
      return child.pid;
    },
    createProxy: (name, listen, upstream) =>
      call('POST', '/proxies', { name, listen, upstream, enabled: true }),
    setEnabled: (name, enabled) => call('POST', `/proxies/${name}`, { enabled }),
    addToxic: (proxy, toxic, spec) =>
      call('POST', `/proxies/${proxy}/toxics`, {
        name: toxic,
        type: spec.type,
        stream: spec.stream ?? 'downstream',
        toxicity: spec.toxicity ?? 1,
        attributes: spec.attributes,
      }),
    removeToxic: (proxy, toxic) => call('DELETE', `/proxies/${proxy}/toxics/${toxic}`),
    stop: () => terminate(child, 5_000),
  };
}
