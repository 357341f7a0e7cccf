import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadRnnKernels, rnnKernelsPath } from '@seqtrain/backend/seqtrain-kernels';
import { loadConfig } from '@seqtrain/contracts';
import { ensureRnnKernels } from './seqtrain-kernels';
import { LIBTENSORFLOW_VERSION, ensureTfjsNode } from './tfjs-node';

const { cacheDir } = loadConfig(process.env);
const temps: string[] = [];

/** An empty cache that shares the (already extracted) TensorFlow headers of the real one. */
async function cacheWithHeaders(): Promise<string> {
  // The real cache has libtensorflow once the tfjs-node addon is provisioned.
  await ensureTfjsNode({ cacheDir, log: () => undefined });
  const dir = await mkdtemp(join(tmpdir(), 'seqtrain-rnn-cache-'));
  temps.push(dir);
  const lib = `libtensorflow-${LIBTENSORFLOW_VERSION}`;
  await symlink(join(cacheDir, lib), join(dir, lib));
  return dir;
}

afterAll(async () => {
  for (const t of temps) await rm(t, { recursive: true, force: true });
});

describe('ensureRnnKernels', () => {
  it(
    'compiles the kernels once under concurrent calls, into a path that then loads',
    { timeout: 5 * 60_000 },
    async () => {
      const dir = await cacheWithHeaders();
      expect(loadRnnKernels(dir)).toEqual({ reason: expect.stringContaining('not built') as string });
      const logs: string[] = [];
      const log = (m: string): void => void logs.push(m);
      const [a, b] = await Promise.all([
        ensureRnnKernels({ cacheDir: dir, log }),
        ensureRnnKernels({ cacheDir: dir, log }),
      ]);
      expect(a).toBe(rnnKernelsPath(dir));
      expect(b).toBe(a);
      expect(logs.filter((m) => m.includes('compiled in'))).toHaveLength(1);
      const loaded = loadRnnKernels(dir);
      expect('kernels' in loaded && typeof loaded.kernels.lstmForward).toBe('function');
      // a no-op now
      logs.length = 0;
      await ensureRnnKernels({ cacheDir: dir, log });
      expect(logs).toEqual([expect.stringContaining('already built')]);
    },
  );

  it('fails with the compiler output and leaves nothing half-written when compiling fails', async () => {
    const dir = await cacheWithHeaders();
    const err: unknown = await ensureRnnKernels({
      cacheDir: dir,
      log: () => undefined,
      compiler: 'false',
    }).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/^compiling the rnn kernels failed: false .* exited with 1/);
    const target = rnnKernelsPath(dir);
    expect(existsSync(target)).toBe(false);
    expect(await readdir(dirname(target))).toEqual([]);
    expect(existsSync(join(dir, 'rnn-kernels.lock'))).toBe(false);
  });

  it('names a missing compiler', async () => {
    const dir = await cacheWithHeaders();
    await expect(
      ensureRnnKernels({ cacheDir: dir, log: () => undefined, compiler: 'no-such-compiler-xyz' }),
    ).rejects.toThrow('cannot compile the rnn kernels: no-such-compiler-xyz not found on PATH');
  });
});
