/**
 * Builds the CUDA part of seqtrain's kernels (packages/backend/native/cuda) when a CUDA toolkit
 * (nvcc), cuDNN headers and an NVIDIA GPU are found, into the cache keyed by the sources, nvcc's
 * version, cuDNN's version and the GPU's arch; otherwise records why not. Either way it writes
 * cuda-kernels/manifest.json, which the backend reads (cudaKernelsStatus). Cheap where there is no
 * CUDA: a few stat calls and one `command -v`.
 *
 * Looked in, in order: $CUDA_HOME (and $CUDNN_HOME for cuDNN), PATH, /usr/local/cuda, and the
 * nvidia-* wheels of a Python venv ($VIRTUAL_ENV, /opt/torch/.venv, /opt/venv: site-packages/nvidia/
 * cu13|cu12 for nvcc and cuBLAS, nvidia/cudnn for cuDNN).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import {
  CUDA_KERNELS_DIR,
  CUDA_KERNELS_FLAGS,
  CUDA_KERNELS_SOURCES,
  cudaKernelsPath,
  cudaManifestPath,
  cudaSourceHash,
  nvidiaDeviceMissing,
  type CudaManifest,
} from '@seqtrain/backend';
import { errorMessage } from '@seqtrain/contracts';
import { run, withLock } from '../exec';

export interface CudaToolkit {
  nvcc: string;
  nvccVersion: string;
  /** include dirs: CUDA runtime + cuBLAS, cuDNN */
  includes: string[];
  /** -L dirs, also the rpath */
  libDirs: string[];
  cudnnLib: string;
  cublasLib: string;
  cudnnVersion: string;
}

export interface EnsureCudaKernelsOptions {
  cacheDir: string;
  log: (msg: string) => void;
  env?: NodeJS.ProcessEnv;
}

/** site-packages dirs of the venvs worth a look. */
function sitePackages(env: NodeJS.ProcessEnv): string[] {
  const roots = [env.VIRTUAL_ENV, '/opt/torch/.venv', '/opt/venv'].filter((r): r is string => !!r);
  const out: string[] = [];
  for (const root of roots) {
    const lib = join(root, 'lib');
    if (!existsSync(lib)) continue;
    for (const py of readdirSync(lib)) {
      const sp = join(lib, py, 'site-packages');
      if (py.startsWith('python') && existsSync(join(sp, 'nvidia'))) out.push(sp);
    }
  }
  return out;
}

function libNamed(dirs: string[], pattern: RegExp): { dir: string; name: string } | undefined {
  for (const dir of dirs) {
    if (!existsSync(dir)) continue;
    const name = readdirSync(dir)
      .filter((f) => pattern.test(f))
      .sort()[0];
    if (name !== undefined) return { dir, name };
  }
  return undefined;
}

/** The toolkit, or what is missing (each reason names where it looked). */
export function findCudaToolkit(env: NodeJS.ProcessEnv = process.env): CudaToolkit | { missing: string[] } {
  const sites = sitePackages(env);
  const cudaRoots = [
    ...(env.CUDA_HOME ? [env.CUDA_HOME] : []),
    ...(env.CUDA_PATH ? [env.CUDA_PATH] : []),
    '/usr/local/cuda',
  ];
  const onPath = spawnSync('sh', ['-c', 'command -v nvcc'], { encoding: 'utf8' }).stdout.trim();
  const wheelRoots = sites.flatMap((sp) => ['cu13', 'cu12'].map((v) => join(sp, 'nvidia', v)));
  const nvccCandidates = [
    ...cudaRoots.map((r) => join(r, 'bin', 'nvcc')),
    ...(onPath ? [onPath] : []),
    ...wheelRoots.map((r) => join(r, 'bin', 'nvcc')),
  ];
  const nvcc = nvccCandidates.find((p) => existsSync(p));
  const cudnnRoots = [
    ...(env.CUDNN_HOME ? [env.CUDNN_HOME] : []),
    ...cudaRoots,
    ...sites.map((sp) => join(sp, 'nvidia', 'cudnn')),
    '/usr',
  ];
  const cudnnInclude = [...cudnnRoots.map((r) => join(r, 'include')), '/usr/include/x86_64-linux-gnu'].find(
    (d) => existsSync(join(d, 'cudnn.h')) && existsSync(join(d, 'cudnn_version.h')),
  );
  const missing: string[] = [];
  if (nvcc === undefined)
    missing.push('nvcc not found (CUDA_HOME, PATH, /usr/local/cuda, a venv nvidia/cu13 wheel)');
  if (cudnnInclude === undefined)
    missing.push('cuDNN headers not found (CUDNN_HOME, CUDA_HOME, a venv nvidia/cudnn wheel, /usr/include)');
  if (nvcc === undefined || cudnnInclude === undefined) return { missing };
  const cudaRoot = dirname(dirname(nvcc));
  const cudnnRoot = dirname(cudnnInclude);
  const libDirs = [
    join(cudnnRoot, 'lib'),
    join(cudnnRoot, 'lib64'),
    join(cudaRoot, 'lib64'),
    join(cudaRoot, 'lib'),
    ...wheelRoots.map((r) => join(r, 'lib')),
    '/usr/lib/x86_64-linux-gnu',
  ];
  const cudnnLib = libNamed(libDirs, /^libcudnn\.so\.\d+$/);
  const cublasLib = libNamed(libDirs, /^libcublas\.so(\.\d+)?$/);
  if (cudnnLib === undefined) missing.push(`libcudnn.so.N not found (in ${libDirs.join(', ')})`);
  if (cublasLib === undefined) missing.push(`libcublas.so not found (in ${libDirs.join(', ')})`);
  const includes = [join(cudaRoot, 'include'), ...wheelRoots.map((r) => join(r, 'include')), cudnnInclude];
  if (!includes.some((d) => existsSync(join(d, 'cublas_v2.h')))) missing.push('cublas_v2.h not found');
  if (missing.length > 0 || cudnnLib === undefined || cublasLib === undefined) return { missing };
  const version = spawnSync(nvcc, ['--version'], { encoding: 'utf8' }).stdout;
  const nvccVersion = /release (\d+\.\d+)/.exec(version)?.[1] ?? 'unknown';
  const header = readFileSync(join(cudnnInclude, 'cudnn_version.h'), 'utf8');
  const part = (n: string) => new RegExp(`#define CUDNN_${n}\\s+(\\d+)`).exec(header)?.[1] ?? '?';
  return {
    nvcc,
    nvccVersion,
    includes: includes.filter((d) => existsSync(d)),
    libDirs: [...new Set([cudnnLib.dir, cublasLib.dir])],
    cudnnLib: cudnnLib.name,
    cublasLib: cublasLib.name,
    cudnnVersion: `${part('MAJOR')}.${part('MINOR')}.${part('PATCHLEVEL')}`,
  };
}

/** The first GPU's arch as nvidia-smi reports it (sm_90 for an H100/H200), or undefined. */
function gpuArch(): string | undefined {
  const r = spawnSync('nvidia-smi', ['--query-gpu=compute_cap', '--format=csv,noheader'], {
    encoding: 'utf8',
  });
  const cc = r.status === 0 ? /(\d+)\.(\d+)/.exec(r.stdout) : null;
  return cc ? `sm_${cc[1]}${cc[2]}` : undefined;
}

/** nvcc's arguments for one build (also what bench/gpu/run.sh does by hand). */
export function nvccArgs(tk: CudaToolkit, arch: string, out: string, nodeInclude: string): string[] {
  const num = arch.replace('sm_', '');
  return [
    ...CUDA_KERNELS_FLAGS,
    `-gencode=arch=compute_${num},code=sm_${num}`,
    ...tk.includes.map((d) => `-I${d}`),
    `-I${nodeInclude}`,
    ...CUDA_KERNELS_SOURCES.map((f) => join(CUDA_KERNELS_DIR, f)),
    '-o',
    out,
    ...tk.libDirs.map((d) => `-L${d}`),
    `-l:${tk.cudnnLib}`,
    `-l:${tk.cublasLib}`,
    '-cudart',
    'static',
    ...tk.libDirs.flatMap((d) => ['-Xlinker', '-rpath', '-Xlinker', d]),
  ];
}

/** Builds (or finds) the CUDA addon, or records why there is none; returns a one-line summary. */
export async function ensureCudaKernels(opts: EnsureCudaKernelsOptions): Promise<string> {
  const { cacheDir, log } = opts;
  const manifestFile = cudaManifestPath(cacheDir);
  await mkdir(dirname(manifestFile), { recursive: true });
  const sourceHash = cudaSourceHash();
  const absent = async (reason: string): Promise<string> => {
    const m: CudaManifest = { built: false, sourceHash, reason, checkedAt: new Date().toISOString() };
    await writeFile(manifestFile, `${JSON.stringify(m, null, 2)}\n`);
    return `absent: ${reason}`;
  };
  const tk = findCudaToolkit(opts.env ?? process.env);
  const device = nvidiaDeviceMissing();
  if ('missing' in tk) return absent([...tk.missing, ...(device !== null ? [device] : [])].join('; '));
  if (device !== null) return absent(`${device} (a CUDA toolkit is here: ${tk.nvcc})`);
  const arch = gpuArch();
  if (arch === undefined) return absent('nvidia-smi did not report the GPU compute capability');
  const target = cudaKernelsPath(cacheDir, {
    nvccVersion: tk.nvccVersion,
    cudnnVersion: tk.cudnnVersion,
    arch,
  });
  const manifest: CudaManifest = {
    built: true,
    sourceHash,
    path: target,
    nvccVersion: tk.nvccVersion,
    cudnnVersion: tk.cudnnVersion,
    arch,
    builtAt: new Date().toISOString(),
  };
  if (!existsSync(target)) {
    const nodeInclude = join(dirname(dirname(process.execPath)), 'include', 'node');
    if (!existsSync(join(nodeInclude, 'node_api.h')))
      return absent(`node headers not found under ${nodeInclude}`);
    await withLock(
      join(cacheDir, 'cuda-kernels.lock'),
      async () => {
        if (existsSync(target)) return;
        await mkdir(dirname(target), { recursive: true });
        const tmp = `${target}.tmp-${process.pid}`;
        log(
          `cuda kernels: compiling with ${tk.nvcc} (CUDA ${tk.nvccVersion}, cuDNN ${tk.cudnnVersion}, ${arch})`,
        );
        try {
          await run(tk.nvcc, nvccArgs(tk, arch, tmp, nodeInclude), { log: (l) => log(`  nvcc: ${l}`) });
        } catch (err) {
          await rm(tmp, { force: true });
          throw err;
        }
        await rename(tmp, target);
      },
      { log: (m) => log(`cuda kernels: ${m}`), timeoutMs: 10 * 60_000 },
    ).catch(async (err: unknown) => {
      await absent(`compiling the CUDA kernels failed: ${errorMessage(err).split('\n')[0] ?? ''}`);
      throw err;
    });
  }
  await writeFile(manifestFile, `${JSON.stringify(manifest, null, 2)}\n`);
  return `built at ${target}`;
}
