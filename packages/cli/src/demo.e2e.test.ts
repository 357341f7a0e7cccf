/**
 * `seqtrain demo --quick` as a new user runs it: all four recurrent shapes on their real datasets,
 * each served back over HTTP and scored against its baseline, on a stack the demo starts and stops.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, json, privateStackEnv } from '../test/test-cli';

const repoRoot = path.resolve(import.meta.dirname, '../../..');

describe('seqtrain demo', () => {
  let env: Record<string, string>;
  let home: string;

  beforeAll(async () => {
    ({ env, home } = await privateStackEnv('seqtrain-demo-e2e-'));
  });

  afterAll(async () => {
    await cli(['down'], env);
    await fsp.rm(home, { recursive: true, force: true });
  });

  it('--quick trains one model per shape, each beats its baseline, and leaves no stack behind', async () => {
    const r = await cli(['demo', '--quick'], env, repoRoot);
    expect(r.code, r.stderr.slice(-3000)).toBe(0);
    const rows = r.stdout.split('\n').filter((l) => /@\d+\s/.test(l));
    expect(rows.map((l) => l.split(/\s{2,}/)[0])).toEqual([
      'many-to-one regression',
      'many-to-one classification',
      'one-to-many generation',
      'sequence-to-sequence',
    ]);
    for (const row of rows) expect(row).toContain('beats its baseline');
    expect(r.stdout).not.toContain('did NOT');
    // Each model was loaded back from the registry over HTTP and shown at work.
    expect(
      r.stderr.match(
        /loaded http:\/\/127\.0\.0\.1:\d+\/v1\/models\/[a-z-]+\/aliases\/production\/model\.json/g,
      ),
    ).toHaveLength(4);
    expect(r.stderr).toMatch(/female: \w+/);
    expect(r.stderr).toMatch(/held-out mails: accuracy/);
    // It started the stack, so it stopped it.
    const status = json<{ temporal: unknown; s3: unknown; workers: unknown[] }>(
      await cli(['status', '--json'], env),
    );
    expect(status.temporal).toBeNull();
    expect(status.s3).toBeNull();
    expect(status.workers).toEqual([]);
  }, 900_000);
});
