/**
 * A headless browser for the run-page and registry-UI tests: Chromium from the OS packages
 * (Debian's `chromium`), found on PATH or installed with apt-get when running as root. Returns
 * the executable, or a reason why there is none (the browser tests then fail with it: they never
 * skip silently).
 */
import os from 'node:os';
import { run, which, withLock } from '../exec';

const NAMES = ['chromium', 'chromium-browser', 'google-chrome-stable', 'google-chrome'];

export async function ensureChromium(opts: {
  cacheDir: string;
  log?: (msg: string) => void;
  install?: boolean;
}): Promise<{ path: string } | { reason: string }> {
  const found = (): string | undefined => NAMES.map((n) => which(n)).find((p) => p !== undefined);
  const existing = found();
  if (existing) return { path: existing };
  if (opts.install === false) return { reason: 'no chromium on PATH' };
  if (os.platform() !== 'linux' || !which('apt-get'))
    return {
      reason: 'no chromium on PATH, and no apt-get to install it: install Chromium and put it on PATH',
    };
  if (process.getuid?.() !== 0)
    return { reason: 'no chromium on PATH; install it as root: apt-get install -y chromium' };
  return withLock(`${opts.cacheDir}/locks/chromium`, async () => {
    const again = found();
    if (again) return { path: again };
    opts.log?.('installing chromium from the Debian packages (apt-get, about a minute)');
    try {
      await run('apt-get', ['update', '-qq']);
      await run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'chromium'], {
        env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
      });
    } catch (err) {
      return {
        reason: `apt-get install chromium failed: ${(err as Error).message.split('\n').slice(0, 3).join(' ')}`,
      };
    }
    const installed = found();
    return installed ? { path: installed } : { reason: 'apt-get installed chromium but it is not on PATH' };
  });
}
