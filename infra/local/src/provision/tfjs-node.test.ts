import { existsSync, readlinkSync } from 'node:fs';
import { cp, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CorruptDataError, loadConfig } from '@seqtrain/contracts';
import { LIBTENSORFLOW_VERSION, TENSORFLOW_WHEEL, ensureTfjsNode } from './tfjs-node';

const { cacheDir } = loadConfig(process.env);
const backendRequire = createRequire(new URL('../../../../packages/backend/package.json', import.meta.url));
const realPkgDir = dirname(backendRequire.resolve('@tensorflow/tfjs-node/package.json'));
const preGypDir = dirname(
  createRequire(join(realPkgDir, 'package.json')).resolve('@mapbox/node-pre-gyp/package.json'),
);
const temps: string[] = [];

/** A tfjs-node as a fresh `pnpm install` leaves it: sources and no addon, no deps/. */
async function freshTfjsNode(): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'seqtrain-tfjs-node-'));
  temps.push(root);
  const pkgDir = join(root, 'node_modules', '@tensorflow', 'tfjs-node');
  await mkdir(pkgDir, { recursive: true });
  await cp(join(realPkgDir, 'package.json'), join(pkgDir, 'package.json'));
  await mkdir(join(root, 'node_modules', '@mapbox'), { recursive: true });
  await symlink(preGypDir, join(root, 'node_modules', '@mapbox', 'node-pre-gyp'));
  return pkgDir;
}

afterAll(async () => {
  for (const t of temps) await rm(t, { recursive: true, force: true });
});

describe('ensureTfjsNode', () => {
  it(
    'leaves the workspace tfjs-node loading TensorFlow 2.21 (a no-op once done)',
    { timeout: 20 * 60_000 },
    async () => {
      await ensureTfjsNode({ cacheDir, log: () => undefined });
      const logs: string[] = [];
      const addon = await ensureTfjsNode({ cacheDir, log: (m) => logs.push(m) });
      expect(addon.tfVersion.startsWith(LIBTENSORFLOW_VERSION.slice(0, 5))).toBe(true);
      expect(addon.addonPath.startsWith(realPkgDir)).toBe(true);
      expect(logs).toEqual([expect.stringContaining('already works')]);
    },
  );

  it('restores a fresh node_modules from the cache without compiling, once under concurrent calls', async () => {
    const pkgDir = await freshTfjsNode();
    const logs: string[] = [];
    const log = (m: string): void => void logs.push(m);
    const [a, b] = await Promise.all([
      ensureTfjsNode({ cacheDir, log, packageDir: pkgDir }),
      ensureTfjsNode({ cacheDir, log, packageDir: pkgDir }),
    ]);
    expect(a).toEqual(b);
    expect(a.addonPath.startsWith(pkgDir)).toBe(true);
    expect(a.tfVersion.startsWith(LIBTENSORFLOW_VERSION.slice(0, 5))).toBe(true);
    expect(logs.filter((m) => m.includes('restoring compiled addon'))).toHaveLength(1);
    expect(logs.some((m) => m.includes('compiling'))).toBe(false);
    // The 800 MB library stays in the cache: the package only links to it.
    expect(readlinkSync(join(pkgDir, 'deps', 'lib'))).toBe(
      join(cacheDir, `libtensorflow-${LIBTENSORFLOW_VERSION}`, 'lib'),
    );
  });

  it('rejects a wheel whose sha256 is not the pinned one', async () => {
    const pkgDir = await freshTfjsNode();
    const emptyCache = await mkdtemp(join(tmpdir(), 'seqtrain-cache-'));
    temps.push(emptyCache);
    await mkdir(join(emptyCache, 'wheels'));
    await writeFile(join(emptyCache, 'wheels', TENSORFLOW_WHEEL.file), 'not a wheel');
    const err: unknown = await ensureTfjsNode({
      cacheDir: emptyCache,
      log: () => undefined,
      packageDir: pkgDir,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CorruptDataError);
    expect((err as Error).message).toContain(`expected ${TENSORFLOW_WHEEL.sha256}`);
    expect(existsSync(join(emptyCache, `libtensorflow-${LIBTENSORFLOW_VERSION}`))).toBe(false);
    expect(existsSync(join(emptyCache, 'tfjs-node.lock'))).toBe(false);
  });
});
