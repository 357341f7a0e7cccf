/**
 * Finds or builds the embedded stack's S3 server: Versity's S3 gateway (versitygw, Apache-2.0)
 * over a folder. It replaces s3rver because it honours conditional writes (`If-None-Match: *` ->
 * 412), which guard registry versions and alias events. Built from the Go module proxy with
 * `go install` of a pinned version and cached; where no Go toolchain is installed, a pinned one is
 * taken from the Go module proxy too (the `golang.org/toolchain` module the go command itself
 * uses), so nothing comes from outside a package registry.
 */
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { run, sha256File, which, withLock } from '../exec';

export const VERSITYGW_VERSION = '1.8.0';
/** versitygw 1.8.0 needs Go >= 1.25; the go command fetches a newer one itself when older. */
const GO_TOOLCHAIN = {
  version: '1.26.8',
  zip: 'v0.0.1-go1.26.8.linux-amd64.zip',
  sha256: '30c2b1bf7dcc88d3eb0a1364e47ddd9128edb3110a30e8a0ef61cd5856b31de7',
};

export interface S3ServerBinaryOptions {
  cacheDir: string;
  log?: (msg: string) => void;
  /** PATH to search for `go` (defaults to the process PATH). */
  searchPath?: string;
  /** Environment for the go command (GOPROXY etc.; defaults to the process env). */
  env?: NodeJS.ProcessEnv;
}

export function s3ServerBinaryPath(cacheDir: string): string {
  return path.join(cacheDir, 'tools', `versitygw-${VERSITYGW_VERSION}`, 'versitygw');
}

export async function ensureS3ServerBinary(opts: S3ServerBinaryOptions): Promise<string> {
  return ensureGoTool({
    ...opts,
    name: 'versitygw',
    what: 'the local S3 server',
    module: 'github.com/versity/versitygw/cmd/versitygw',
    version: `v${VERSITYGW_VERSION}`,
    bin: s3ServerBinaryPath(opts.cacheDir),
    minutes: 2,
  });
}

export interface GoToolOptions extends S3ServerBinaryOptions {
  /** lock and log name */
  name: string;
  /** what it is, for messages ("the local S3 server") */
  what: string;
  /** the package path of the command, e.g. github.com/Shopify/toxiproxy/v2/cmd/toxiproxy-server */
  module: string;
  /** a pinned version, e.g. v2.12.0 */
  version: string;
  /** where the binary is kept (its directory is created) */
  bin: string;
  /** the build's rough length, for the log line */
  minutes: number;
}

/**
 * The file `go install` writes for a package path: its last element, or the one before a major
 * version suffix (`sigs.k8s.io/kustomize/kustomize/v5` installs `kustomize`).
 */
export function goCommandName(pkg: string): string {
  const parts = pkg.split('/');
  const last = parts.at(-1) ?? pkg;
  return /^v\d+$/.test(last) && parts.length > 1 ? parts.at(-2)! : last;
}

/** The cached binary of a Go command at a pinned version, built once with `go install`. */
export function goToolPath(cacheDir: string, name: string, version: string): string {
  return path.join(cacheDir, 'tools', `${name}-${version.replace(/^v/, '')}`, name);
}

/**
 * Builds a Go command from the Go module proxy with `go install module@version` into `bin`, once
 * (under a lock, so concurrent first runs build it once), with the module and build caches in
 * seqtrain's cache. Where Go is missing, a pinned toolchain comes from the module proxy too.
 */
export async function ensureGoTool(opts: GoToolOptions): Promise<string> {
  const log = opts.log ?? (() => undefined);
  const bin = opts.bin;
  if (await isExecutable(bin)) return bin;
  return withLock(
    path.join(opts.cacheDir, 'locks', opts.name),
    async () => {
      if (await isExecutable(bin)) return bin;
      const go = which('go', opts.searchPath) ?? (await goFromModuleProxy(opts.cacheDir, log, opts.env));
      const dir = path.dirname(bin);
      const gobin = path.join(dir, 'gobin');
      await fsp.mkdir(gobin, { recursive: true });
      const target = `${opts.module}@${opts.version}`;
      log(`building ${opts.what} (${target}) with go install (about ${opts.minutes} minutes, once)`);
      const env = opts.env ?? process.env;
      await run(go, ['install', target], {
        env: {
          ...env,
          GOBIN: gobin,
          GOFLAGS: '-mod=mod',
          // Everything the build downloads or compiles stays in seqtrain's cache.
          GOMODCACHE: env.GOMODCACHE ?? path.join(opts.cacheDir, 'go', 'mod'),
          GOCACHE: env.GOCACHE ?? path.join(opts.cacheDir, 'go', 'build'),
          GOPATH: env.GOPATH ?? path.join(opts.cacheDir, 'go', 'path'),
          GOTOOLCHAIN: env.GOTOOLCHAIN ?? 'auto',
        },
      }).catch((err: unknown) => {
        throw new Error(`could not build ${opts.what} (go install ${target}): ${(err as Error).message}`, {
          cause: err,
        });
      });
      await fsp.rename(path.join(gobin, goCommandName(opts.module)), bin);
      await fsp.rm(gobin, { recursive: true, force: true });
      log(`${opts.what} installed at ${bin}`);
      return bin;
    },
    { log },
  );
}

/** A Go toolchain from the Go module proxy, for machines that have none installed. */
async function goFromModuleProxy(
  cacheDir: string,
  log: (m: string) => void,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string> {
  if (os.platform() !== 'linux' || os.arch() !== 'x64')
    throw new Error(
      `seqtrain's tools (the local S3 server among them) are built with Go, which is not installed; install Go >= 1.25 (e.g. apt-get install golang-go) and run ./dev setup again`,
    );
  const root = path.join(cacheDir, 'tools', `go-${GO_TOOLCHAIN.version}`);
  const go = path.join(root, 'bin', 'go');
  if (await isExecutable(go)) return go;
  const proxy = (env.GOPROXY ?? 'https://proxy.golang.org').split(/[,|]/)[0] ?? '';
  if (!/^https?:\/\//.test(proxy))
    throw new Error(`Go is not installed and GOPROXY=${env.GOPROXY} names no proxy to fetch one from`);
  const url = `${proxy.replace(/\/$/, '')}/golang.org/toolchain/@v/${GO_TOOLCHAIN.zip}`;
  log(`Go is not installed: fetching Go ${GO_TOOLCHAIN.version} from ${url} (72 MB)`);
  const zip = path.join(cacheDir, 'downloads', GO_TOOLCHAIN.zip);
  await fsp.mkdir(path.dirname(zip), { recursive: true });
  const res = await fetch(url, { signal: AbortSignal.timeout(600_000) });
  if (!res.ok) throw new Error(`fetching ${url} answered HTTP ${res.status}`);
  await fsp.writeFile(zip, new Uint8Array(await res.arrayBuffer()));
  const actual = await sha256File(zip);
  if (actual !== GO_TOOLCHAIN.sha256) {
    await fsp.rm(zip, { force: true });
    throw new Error(`${url} has sha256 ${actual}, expected ${GO_TOOLCHAIN.sha256}; deleted it`);
  }
  // The module zip holds `golang.org/toolchain@<version>/...`: unpack it beside, then move it.
  const tmp = `${root}.tmp-${process.pid}`;
  await fsp.rm(tmp, { recursive: true, force: true });
  const python = which('python3');
  if (python) {
    await run(python, [
      '-c',
      'import sys,zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])',
      zip,
      tmp,
    ]);
  } else {
    await run('unzip', ['-q', zip, '-d', tmp]);
  }
  const [inner] = await fsp.readdir(path.join(tmp, 'golang.org'));
  if (!inner) throw new Error(`${zip} holds no toolchain`);
  await fsp.rm(root, { recursive: true, force: true });
  await fsp.rename(path.join(tmp, 'golang.org', inner), root);
  await fsp.rm(tmp, { recursive: true, force: true });
  await fsp.rm(zip, { force: true });
  // Zip entries carry no mode bits through python's extractall.
  for (const dir of ['bin', path.join('pkg', 'tool', 'linux_amd64')]) {
    for (const f of await fsp.readdir(path.join(root, dir)).catch(() => [] as string[]))
      await fsp.chmod(path.join(root, dir, f), 0o755);
  }
  return go;
}

async function isExecutable(file: string): Promise<boolean> {
  try {
    await fsp.access(file, fsp.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
