/** Starting seqtrain's TypeScript entry points as child processes (the tsx loader, this Node). */
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);

export function tsxLoader(): string {
  return require.resolve('tsx');
}

/** The embedded S3 server's entry point (this package's s3-server-main.ts). */
export function s3ServerMainPath(): string {
  return fileURLToPath(new URL('./s3-server-main.ts', import.meta.url));
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
