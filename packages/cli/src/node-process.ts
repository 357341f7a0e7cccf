/** Starting our own TypeScript entry points as child processes (tsx loader, same Node). */
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);

export function tsxLoader(): string {
  return require.resolve('tsx');
}

export function cliMainPath(): string {
  return fileURLToPath(new URL('./main.ts', import.meta.url));
}

export function s3ServerMainPath(): string {
  return fileURLToPath(new URL('../../../infra/local/src/s3-server-main.ts', import.meta.url));
}

export function spawnTs(
  script: string,
  args: string[],
  opts: {
    env?: NodeJS.ProcessEnv;
    stdio?: StdioOptions;
    detached?: boolean;
    cwd?: string;
    /** flags for node itself (e.g. TRAINER_NODE_FLAGS) */
    nodeFlags?: readonly string[];
  } = {},
): ChildProcess {
  return spawn(process.execPath, [...(opts.nodeFlags ?? []), '--import', tsxLoader(), script, ...args], {
    env: opts.env ?? process.env,
    stdio: opts.stdio ?? 'inherit',
    detached: opts.detached ?? false,
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
  });
}
