/**
 * The cached virtualenv with the reference frameworks. Versions are pinned so that a baseline means
 * the same thing from run to run; the venv is rebuilt only when the pins change.
 *
 * PyPI's Linux torch wheel is the CUDA build and pulls the nvidia-* runtime wheels (several GB, once);
 * the CPU-only builds live on another index that this project does not use. It runs fine on CPU.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SeqtrainError } from '@seqtrain/contracts';

export const PYTHON_REQUIREMENTS = ['torch==2.15.0', 'tensorflow-cpu==2.21.0'] as const;
/** Keras alone (bench:distributed): no torch, no CUDA wheels. */
export const KERAS_REQUIREMENTS = ['tensorflow-cpu==2.21.0'] as const;

/** Returns the venv's python, creating or updating the venv when needed. */
export async function ensureBenchVenv(
  cacheDir: string,
  log: (msg: string) => void,
  requirements: readonly string[] = PYTHON_REQUIREMENTS,
  name = 'bench-venv',
): Promise<string> {
  const venv = join(cacheDir, name);
  const python = join(venv, 'bin', 'python');
  const marker = join(venv, '.seqtrain-requirements');
  const wanted = requirements.join('\n');
  if (existsSync(python) && existsSync(marker) && (await readFile(marker, 'utf8')) === wanted) return python;

  // A venv without pip is one whose creation was interrupted: build it again.
  if (existsSync(python) && !existsSync(join(venv, 'bin', 'pip')))
    await rm(venv, { recursive: true, force: true });
  if (!existsSync(python)) {
    log(`bench: creating virtualenv ${venv} with the python3 on PATH`);
    await run('python3', ['-m', 'venv', venv], log);
  }
  log(
    `bench: installing ${requirements.join(' ')} from PyPI (first run only${requirements.some((r) => r.startsWith('torch')) ? '; torch brings ~3 GB of CUDA runtime wheels' : ''})`,
  );
  await rm(marker, { force: true });
  // tensorflow-cpu comes from the wheel that infra/local already downloaded, when it is there.
  await run(
    python,
    [
      '-m',
      'pip',
      'install',
      '--progress-bar',
      'off',
      '--find-links',
      join(cacheDir, 'wheels'),
      ...requirements,
    ],
    log,
  );
  await writeFile(marker, wanted);
  return python;
}

function run(cmd: string, args: string[], log: (msg: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const tail: string[] = [];
    const onData = (d: Buffer): void => {
      for (const line of d.toString().split('\n')) {
        if (line.trim() === '') continue;
        tail.push(line);
        if (tail.length > 15) tail.shift();
        // pip's per-file chatter would drown the table; collection lines show progress well enough.
        if (/^(Collecting|Successfully|ERROR)/.test(line)) log(`  ${line}`);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', (err) => reject(new SeqtrainError(`cannot run ${cmd}`, { cause: err })));
    child.on('close', (code) =>
      code === 0
        ? resolve()
        : reject(
            new SeqtrainError(`${cmd} ${args.slice(0, 3).join(' ')} failed (${code}):\n${tail.join('\n')}`),
          ),
    );
  });
}
