/** The process helpers: a zombie is not a live worker. */
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { isAlive, processState as state } from './exec';

describe('isAlive', () => {
  it.runIf(process.platform === 'linux')(
    'takes a zombie for dead (an orphan under an init that never reaps it)',
    async () => {
      // sh starts a short child and becomes `sleep 5`, which never waits for it: a zombie whose
      // parent lives, as a SIGKILLed detached worker is under a PID 1 that does not reap.
      const parent = spawn('sh', ['-c', 'sleep 0 & echo $!; exec sleep 5'], {
        stdio: ['ignore', 'pipe', 'ignore'],
      });
      try {
        const zombie = await new Promise<number>((resolve) =>
          parent.stdout.once('data', (b: Buffer) => resolve(Number(b.toString().trim()))),
        );
        for (let i = 0; i < 100 && state(zombie) !== 'Z'; i++) await new Promise((r) => setTimeout(r, 20));
        expect(state(zombie)).toBe('Z');
        expect(isAlive(zombie)).toBe(false);
        expect(isAlive(parent.pid!)).toBe(true);
        expect(isAlive(process.pid)).toBe(true);
      } finally {
        parent.kill('SIGKILL');
      }
    },
  );
});
