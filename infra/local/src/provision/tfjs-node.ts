/**
 * Leaves a working native TensorFlow addon for `@tensorflow/tfjs-node` without internet access.
 *
 * pnpm installs tfjs-node with its install script disabled (that script downloads libtensorflow from
 * Google storage). Instead we take libtensorflow from the pinned PyPI `tensorflow-cpu` wheel, extract
 * the two shared libraries and the headers once into the cache, point the package's `deps/` at them
 * and compile `tfjs_binding.node` with node-pre-gyp. The compiled addon is cached too, so a fresh
 * `node_modules` only needs a copy and two symlinks. Every trainer therefore runs the same TF build.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import {
  copyFile,
  lstat,
  mkdir,
  readdir,
  readFile,
  readlink,
  rename,
  rm,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { CorruptDataError, SeqtrainError, errorMessage } from '@seqtrain/contracts';
import { sha256File, withLock } from '../exec';

export const TFJS_NODE_VERSION = '4.22.0';
export const LIBTENSORFLOW_VERSION = '2.21.0';

/** The pinned wheel that libtensorflow comes from; its hash is part of every cache key. */
export const TENSORFLOW_WHEEL = {
  requirement: `tensorflow-cpu==${LIBTENSORFLOW_VERSION}`,
  file: `tensorflow_cpu-${LIBTENSORFLOW_VERSION}-cp311-cp311-manylinux_2_27_x86_64.whl`,
  sha256: '2b847d217b02ee7731ed91431daf3250daa0196c3c94614d23be27232e6e5b6c',
  pythonVersion: '3.11',
  platform: 'manylinux_2_27_x86_64',
} as const;

export interface EnsureTfjsNodeOptions {
  /** Holds wheels/, libtensorflow-<v>/ and tfjs-node-build/ (config.cacheDir). */
  cacheDir: string;
  log: (msg: string) => void;
  /** The tfjs-node package to provision; by default the one packages/backend resolves. */
  packageDir?: string;
  /** How long to wait for another process holding the provisioning lock. */
  lockTimeoutMs?: number;
}

export interface TfjsNodeAddon {
  addonPath: string;
  /** Native TensorFlow version the addon reports (TF_Version). */
  tfVersion: string;
}

export async function ensureTfjsNode(opts: EnsureTfjsNodeOptions): Promise<TfjsNodeAddon> {
  const { cacheDir, log } = opts;
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new SeqtrainError(
      `offline tfjs-node provisioning supports linux-x64 only (this is ${process.platform}-${process.arch}); ` +
        `use SEQTRAIN_BACKEND=wasm or install tfjs-node with its install script enabled`,
    );
  }
  const packageDir = opts.packageDir ?? resolveTfjsNodeDir();
  const first = await probeAddon(packageDir);
  if (isExpected(first)) {
    log(`tfjs-node: addon already works (TensorFlow ${first.tfVersion}) at ${first.addonPath}`);
    return { addonPath: first.addonPath, tfVersion: first.tfVersion };
  }
  await mkdir(cacheDir, { recursive: true });
  return withLock(join(cacheDir, 'tfjs-node.lock'), () => provision(packageDir, cacheDir, log), {
    log: (m) => log(`tfjs-node: ${m}`),
    timeoutMs: opts.lockTimeoutMs ?? 30 * 60_000,
  });
}

async function provision(
  packageDir: string,
  cacheDir: string,
  log: (msg: string) => void,
): Promise<TfjsNodeAddon> {
  // Another process may have finished while we waited for the lock.
  let probe = await probeAddon(packageDir);
  if (isExpected(probe)) return done(probe, log);

  const libDir = await ensureLibtensorflow(cacheDir, log);
  await linkDeps(packageDir, libDir);
  probe = await probeAddon(packageDir);
  if (isExpected(probe)) {
    await saveBuild(cacheDir, probe.addonPath);
    return done(probe, log);
  }

  const cached = join(buildCacheDir(cacheDir), basename(dirname(probe.addonPath)), basename(probe.addonPath));
  if (existsSync(cached)) {
    log(`tfjs-node: restoring compiled addon from ${cached}`);
    await replaceFile(cached, probe.addonPath);
    probe = await probeAddon(packageDir);
    if (isExpected(probe)) return done(probe, log);
    log(`tfjs-node: cached addon does not load (${probe.error ?? probe.tfVersion}); rebuilding`);
  }

  await buildAddon(packageDir, log);
  probe = await probeAddon(packageDir);
  if (!isExpected(probe)) {
    throw new SeqtrainError(
      `tfjs-node: the freshly built addon ${probe.addonPath} does not load` +
        (probe.error
          ? `: ${probe.error}`
          : ` as TensorFlow ${LIBTENSORFLOW_VERSION} (reports ${probe.tfVersion})`) +
        missingLibraries(probe.addonPath),
    );
  }
  await saveBuild(cacheDir, probe.addonPath);
  return done(probe, log);
}

function done(probe: Probe, log: (msg: string) => void): TfjsNodeAddon {
  log(`tfjs-node: ready, TensorFlow ${probe.tfVersion ?? '?'} at ${probe.addonPath}`);
  return { addonPath: probe.addonPath, tfVersion: probe.tfVersion ?? '' };
}

/** tfjs-node as packages/backend sees it: that is the copy the workers load. */
function resolveTfjsNodeDir(): string {
  let pkgJson: string;
  try {
    // Resolved from @seqtrain/backend's own entry (a dependency of this package), not by path.
    const backendEntry = createRequire(import.meta.url).resolve('@seqtrain/backend');
    pkgJson = createRequire(backendEntry).resolve('@tensorflow/tfjs-node/package.json');
  } catch (err) {
    throw new SeqtrainError(`@tensorflow/tfjs-node is not installed for packages/backend; run pnpm install`, {
      cause: err,
    });
  }
  return dirname(pkgJson);
}

interface Probe {
  addonPath: string;
  tfVersion?: string;
  error?: string;
}

function isExpected(p: Probe): p is Probe & { tfVersion: string } {
  return (
    p.tfVersion !== undefined &&
    p.tfVersion.startsWith(`${LIBTENSORFLOW_VERSION.split('.').slice(0, 2).join('.')}.`)
  );
}

// Loading the addon pulls in libtensorflow; doing it in a child keeps this process free of it and
// reports exactly what tfjs-node itself will see (node-pre-gyp picks the napi-vN directory).
const PROBE_SCRIPT = `
const { createRequire } = require('node:module');
const pkg = process.argv[1] + '/package.json';
const say = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
let addonPath;
try { addonPath = createRequire(pkg)('@mapbox/node-pre-gyp').find(pkg); }
catch (e) { say({ error: String(e && e.message || e).split('\\n')[0] }); process.exit(0); }
say({ addonPath });
try { say({ tfVersion: String(require(addonPath).TF_Version) }); }
catch (e) { say({ error: String(e && e.message || e).split('\\n')[0] }); }
`;

async function probeAddon(packageDir: string): Promise<Probe> {
  const res = await runCapture(process.execPath, ['-e', PROBE_SCRIPT, packageDir], {
    ...process.env,
    TF_CPP_MIN_LOG_LEVEL: '2',
  });
  const facts = res.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Partial<Probe>);
  const probe = facts.reduce<Partial<Probe>>((acc, f) => ({ ...acc, ...f }), {});
  if (probe.addonPath === undefined) {
    throw new SeqtrainError(
      `tfjs-node at ${packageDir}: cannot locate its addon: ${probe.error ?? res.stderr.trim()}`,
    );
  }
  // A crash while loading (e.g. a missing symbol abort) prints nothing more: report the exit instead.
  if (probe.tfVersion === undefined && probe.error === undefined) {
    probe.error = `loading it exited with ${res.code}: ${res.stderr.trim().split('\n').pop() ?? ''}`;
  }
  return { addonPath: probe.addonPath, tfVersion: probe.tfVersion, error: probe.error };
}

/** Extracts libtensorflow from the wheel once; returns <cacheDir>/libtensorflow-<v>. */
export async function ensureLibtensorflow(cacheDir: string, log: (msg: string) => void): Promise<string> {
  const root = join(cacheDir, `libtensorflow-${LIBTENSORFLOW_VERSION}`);
  const marker = join(root, '.complete');
  if (existsSync(marker) && (await readFile(marker, 'utf8')).trim() === TENSORFLOW_WHEEL.sha256) return root;

  const wheel = await ensureWheel(cacheDir, log);
  const tmp = `${root}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  log(
    `tfjs-node: extracting libtensorflow ${LIBTENSORFLOW_VERSION} (~850 MB of libraries, ~270 MB of headers) into ${root}`,
  );
  const started = Date.now();
  await runLogged('python3', ['-c', EXTRACT_SCRIPT, wheel, tmp], { cwd: cacheDir, log, prefix: 'extract' });
  // The names the binding links with (-ltensorflow) and the sonames it then needs at run time.
  await symlink('libtensorflow_cc.so.2', join(tmp, 'lib', 'libtensorflow.so'));
  await symlink('libtensorflow_framework.so.2', join(tmp, 'lib', 'libtensorflow_framework.so'));
  await writeFile(join(tmp, '.complete'), `${TENSORFLOW_WHEEL.sha256}\n`);
  await rm(root, { recursive: true, force: true });
  await rename(tmp, root);
  log(`tfjs-node: extracted in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  return root;
}

// Streams only the members we need; a full unzip of the wheel would be ~1.5 GB.
const EXTRACT_SCRIPT = `
import os, shutil, sys, zipfile
wheel, dest = sys.argv[1], os.path.abspath(sys.argv[2])
libs = {'tensorflow/libtensorflow_cc.so.2', 'tensorflow/libtensorflow_framework.so.2'}
inc = 'tensorflow/include/'
n = 0
with zipfile.ZipFile(wheel) as z:
    for info in z.infolist():
        name = info.filename
        if name in libs:
            out = os.path.join(dest, 'lib', os.path.basename(name))
        elif name.startswith(inc) and not name.endswith('/'):
            out = os.path.join(dest, 'include', name[len(inc):])
        else:
            continue
        out = os.path.abspath(out)
        if not out.startswith(dest + os.sep):
            sys.exit('refusing to extract outside the target: ' + name)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with z.open(info) as src, open(out, 'wb') as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        n += 1
        if name in libs:
            print('%s (%d MB)' % (os.path.basename(name), info.file_size >> 20), flush=True)
print('%d files' % n, flush=True)
`;

async function ensureWheel(cacheDir: string, log: (msg: string) => void): Promise<string> {
  const dir = join(cacheDir, 'wheels');
  const wheel = join(dir, TENSORFLOW_WHEEL.file);
  if (!existsSync(wheel)) {
    log(`tfjs-node: downloading ${TENSORFLOW_WHEEL.requirement} from PyPI (~270 MB) into ${dir}`);
    await mkdir(dir, { recursive: true });
    await runLogged(
      'python3',
      [
        '-m',
        'pip',
        'download',
        '--no-deps',
        '--only-binary=:all:',
        '--python-version',
        TENSORFLOW_WHEEL.pythonVersion,
        '--platform',
        TENSORFLOW_WHEEL.platform,
        TENSORFLOW_WHEEL.requirement,
        '-d',
        dir,
      ],
      { cwd: cacheDir, log, prefix: 'pip' },
    );
    if (!existsSync(wheel)) throw new SeqtrainError(`pip download finished but ${wheel} is missing`);
  }
  const actual = await sha256File(wheel);
  if (actual !== TENSORFLOW_WHEEL.sha256) {
    throw new CorruptDataError(
      `${wheel}: sha256 is ${actual}, expected ${TENSORFLOW_WHEEL.sha256}; delete the file so that it is downloaded again`,
    );
  }
  return wheel;
}

/** deps/lib and deps/include become links into the cache; the addon's rpath is $ORIGIN/../../deps/lib. */
async function linkDeps(packageDir: string, libRoot: string): Promise<void> {
  const deps = join(packageDir, 'deps');
  await mkdir(deps, { recursive: true });
  for (const name of ['lib', 'include']) {
    const link = join(deps, name);
    const target = join(libRoot, name);
    const current = await lstat(link).catch(() => undefined);
    if (current?.isSymbolicLink() && (await readlink(link)) === target) continue;
    const tmp = `${link}.tmp-${process.pid}`;
    await rm(tmp, { force: true });
    await symlink(target, tmp);
    // A real directory (e.g. from tfjs-node's own download) cannot be renamed over; remove it first.
    if (current && !current.isSymbolicLink()) await rm(link, { recursive: true, force: true });
    await rename(tmp, link);
  }
}

async function buildAddon(packageDir: string, log: (msg: string) => void): Promise<void> {
  const nodeDir = dirname(dirname(process.execPath));
  if (!existsSync(join(nodeDir, 'include', 'node', 'node_api.h'))) {
    throw new SeqtrainError(
      `node headers not found under ${nodeDir}/include/node (needed to compile tfjs_binding.node offline); ` +
        `install the headers that match node ${process.version}`,
    );
  }
  const missing = ['python3', 'make', 'c++'].filter(
    (tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0,
  );
  if (missing.length > 0) {
    throw new SeqtrainError(
      `cannot compile tfjs_binding.node: ${missing.join(', ')} not found on PATH (install build-essential and python3)`,
    );
  }
  let preGyp: string;
  try {
    preGyp = join(
      dirname(createRequire(join(packageDir, 'package.json')).resolve('@mapbox/node-pre-gyp/package.json')),
      'bin',
      'node-pre-gyp',
    );
  } catch (err) {
    throw new SeqtrainError(
      `@mapbox/node-pre-gyp (a tfjs-node dependency) is not installed beside ${packageDir}`,
      { cause: err },
    );
  }
  log(
    `tfjs-node: compiling tfjs_binding.node against TensorFlow ${LIBTENSORFLOW_VERSION} headers (a few minutes)`,
  );
  const started = Date.now();
  await runLogged(process.execPath, [preGyp, 'install', '--build-from-source', `--nodedir=${nodeDir}`], {
    cwd: packageDir,
    log,
    prefix: 'node-pre-gyp',
    quiet: /^(gyp|node-pre-gyp)?\s*info\b|^(node-pre-gyp|info|it worked if it ends with|ok)\s*$/,
    // Without --nodedir node-gyp would download headers; JOBS lets it use every core.
    env: { ...process.env, JOBS: 'max' },
  });
  // node-pre-gyp compiles in build-tmp-napi-vN; only the copy under lib/ is used.
  for (const entry of await readdir(packageDir)) {
    if (entry === 'build' || entry.startsWith('build-tmp-napi-'))
      await rm(join(packageDir, entry), { recursive: true, force: true });
  }
  log(`tfjs-node: compiled in ${((Date.now() - started) / 1000).toFixed(0)} s`);
}

function buildCacheDir(cacheDir: string): string {
  return join(
    cacheDir,
    'tfjs-node-build',
    `${TFJS_NODE_VERSION}-${process.versions.modules}-${TENSORFLOW_WHEEL.sha256.slice(0, 12)}`,
  );
}

async function saveBuild(cacheDir: string, addonPath: string): Promise<void> {
  const dest = join(buildCacheDir(cacheDir), basename(dirname(addonPath)), basename(addonPath));
  if (existsSync(dest)) return;
  await mkdir(dirname(dest), { recursive: true });
  await replaceFile(addonPath, dest);
}

/**
 * Copies rather than links: node loads addons by their real path, so a link into the cache would
 * make $ORIGIN (and with it the rpath to deps/lib) point into the cache.
 */
async function replaceFile(src: string, dest: string): Promise<void> {
  await mkdir(dirname(dest), { recursive: true });
  const tmp = `${dest}.tmp-${process.pid}`;
  await copyFile(src, tmp);
  await rename(tmp, dest);
}

function missingLibraries(addonPath: string): string {
  const ldd = spawnSync('ldd', [addonPath], { encoding: 'utf8' });
  const notFound = (ldd.stdout ?? '').split('\n').filter((l) => l.includes('not found'));
  return notFound.length > 0 ? `; ldd reports missing: ${notFound.map((l) => l.trim()).join(', ')}` : '';
}

function runCapture(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Runs a tool, forwarding its output line by line; the error carries the last lines. */
function runLogged(
  cmd: string,
  args: string[],
  o: { cwd: string; log: (msg: string) => void; prefix: string; env?: NodeJS.ProcessEnv; quiet?: RegExp },
): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: o.cwd,
      env: o.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const tail: string[] = [];
    const emit = (line: string): void => {
      if (line.trim() === '') return;
      // Chatter is kept out of the log but stays in the tail that an error message carries.
      if (o.quiet?.test(line.trim()) !== true) o.log(`  ${o.prefix}: ${line}`);
      tail.push(line);
      if (tail.length > 20) tail.shift();
    };
    // Tools write partial lines (node-pre-gyp prints "node-pre-gyp", " info", ... as separate writes).
    const splitter = (): ((d: Buffer) => void) => {
      let partial = '';
      child.on('close', () => emit(partial));
      return (d) => {
        const lines = (partial + d.toString()).split('\n');
        partial = lines.pop() ?? '';
        lines.forEach(emit);
      };
    };
    child.stdout.on('data', splitter());
    child.stderr.on('data', splitter());
    child.on('error', (err) =>
      reject(new SeqtrainError(`cannot run ${cmd}: ${errorMessage(err)}`, { cause: err })),
    );
    child.on('close', (code) => {
      if (code === 0) resolve();
      else reject(new SeqtrainError(`${o.prefix} failed with exit code ${code}:\n${tail.join('\n')}`));
    });
  });
}
