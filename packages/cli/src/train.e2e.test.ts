import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TrainProgress, TrainResult } from '@seqtrain/contracts';
import { createBlobStore } from '@seqtrain/storage';
import { loadConfig } from '@seqtrain/contracts';
import { readRunProgress } from '@seqtrain/worker';
import { encodeText } from '@seqtrain/contracts';
import { loadManifest, planShards, ShardReader } from '@seqtrain/dataset';
import { isAlive } from '@seqtrain/local-stack/exec';
import { ensureChromium } from '@seqtrain/local-stack';
import { chromium } from 'playwright-core';
import { pathToFileURL } from 'node:url';
import { spawn } from 'node:child_process';
import { cli, json, privateStackEnv } from '../test/test-cli';
import { cliMainPath, tsxLoader } from './node-process';

// Tier 4: the CLI as a user runs it, two trainer processes exchanging gradients over their data
// plane, and faults injected into the stack. Runs last ~10 s in 2 s segments, so that every
// fault lands mid-run and across segment boundaries (checkpoint writes).
const repoRoot = path.resolve(import.meta.dirname, '../../..');
/** Browser screenshots, kept as CI artifacts. */
const SCREENSHOTS = path.join(repoRoot, 'test-artifacts', 'screenshots');

interface StatusJson {
  temporal: { pid: number } | null;
  s3: { pid: number } | null;
  workers: {
    name: string;
    role: string;
    pid: number;
    startedAt: string;
    metrics?: string;
    ready?: boolean;
  }[];
}

describe('seqtrain train on the embedded stack', () => {
  let env: Record<string, string>;
  let home: string;
  let specFile: string;
  let connection: Connection;
  let client: Client;

  const spec = (overrides: Record<string, unknown> = {}): string =>
    JSON.stringify({
      name: 'weather-e2e',
      dataset: 'seattle-weather',
      task: 'regression',
      model: { cell: 'lstm', units: [32] },
      training: { optimizer: { name: 'adam', learningRate: 0.005 }, batchSize: 32, epochs: 80, seed: 11 },
      workers: 2,
      ...overrides,
    });

  async function status(): Promise<StatusJson> {
    return json<StatusJson>(await cli(['status', '--json'], env));
  }

  const SEGMENT = ['--segment-seconds', '2'];

  async function startDetached(file: string, id: string): Promise<void> {
    const r = await cli(['train', '-c', file, '--detach', '--json', '--id', id, ...SEGMENT], env);
    expect(r.code, r.stderr).toBe(0);
  }

  /** Waits until the running segment's leader reports this many steps (its heartbeat). */
  async function waitForSteps(id: string, steps: number): Promise<void> {
    for (let i = 0; i < 1200; i++) {
      const p = await readRunProgress(client, id).catch(() => undefined);
      if (p && p.step >= steps) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`run ${id} did not reach step ${steps}`);
  }

  async function trainers(): Promise<StatusJson['workers']> {
    return (await status()).workers.filter((w) => w.role === 'trainer');
  }

  /** The trainer that hosts rank 0 (the leader) or another member of the running group. */
  async function memberPid(id: string, which: 'leader' | 'other'): Promise<number> {
    const p = await readRunProgress(client, id);
    const group = p.group ?? [];
    const member = which === 'leader' ? group[0] : group[1];
    const w = (await trainers()).find((t) => t.name === member?.workerId);
    if (!w) throw new Error(`no ${which} trainer in ${JSON.stringify(group)}`);
    return w.pid;
  }

  /**
   * Signals the member of the running group that is not the leader as soon as `ready` holds for
   * a segment that member is in (progress polled every 25 ms; the trainers' pids are read first,
   * since `status` takes a second and a whole run here takes a few).
   */
  async function signalOther(
    id: string,
    signal: NodeJS.Signals,
    ready: (p: TrainProgress) => boolean,
    /** 'group': the worker and its engine process (as a frozen host or container would be) */
    target: 'worker' | 'group' = 'worker',
  ): Promise<number> {
    const pids = new Map((await trainers()).map((t) => [t.name, t.pid]));
    for (let i = 0; i < 2400; i++) {
      const p = await readRunProgress(client, id).catch(() => undefined);
      const other = p?.group?.[1];
      if (p && other && p.phase === 'training' && ready(p)) {
        const pid = pids.get(other.workerId);
        if (pid === undefined)
          throw new Error(`${other.workerId} is not one of ${[...pids.keys()].join(', ')}`);
        // A detached worker leads its own process group.
        process.kill(target === 'group' ? -pid : pid, signal);
        return pid;
      }
      if (p?.status === 'completed') break;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`run ${id} ran no segment of two members to signal`);
  }

  /** Waits for the result across server restarts. */
  async function result(id: string): Promise<TrainResult> {
    for (let attempt = 0; ; attempt++) {
      try {
        const c = await Connection.connect({ address: env.SEQTRAIN_TEMPORAL_ADDRESS! });
        try {
          return (await new Client({ connection: c }).workflow.getHandle(id).result()) as TrainResult;
        } finally {
          await c.close();
        }
      } catch (err) {
        if (attempt > 120 || (err as Error).name === 'WorkflowFailedError') throw err;
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  beforeAll(async () => {
    ({ env, home } = await privateStackEnv('seqtrain-train-e2e-'));
    const up = await cli(['up', '--detach', '--trainers', '2'], env);
    expect(up.code, up.stderr).toBe(0);
    const imported = await cli(
      [
        'dataset',
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
        '--normalize',
        'last-value',
        '--json',
      ],
      env,
      repoRoot,
    );
    expect(imported.code, imported.stderr).toBe(0);
    specFile = path.join(home, 'spec.json');
    await fsp.writeFile(specFile, spec());
    connection = await Connection.connect({ address: env.SEQTRAIN_TEMPORAL_ADDRESS! });
    client = new Client({ connection });
  }, 300_000);

  afterAll(async () => {
    await connection?.close();
    await cli(['down'], env);
    await fsp.rm(home, { recursive: true, force: true });
  });

  let reference: TrainResult;

  it('trains with 2 trainer processes and beats the persistence baseline', async () => {
    const r = await cli(
      ['train', '-c', specFile, '--workers', '2', '--json', '--id', 'reference', ...SEGMENT],
      env,
    );
    expect(r.code, r.stderr).toBe(0);
    reference = json<TrainResult>(r);
    expect(reference.status).toBe('completed');
    expect(reference.metrics.val_mae_units).toBeLessThan(reference.metrics.val_persistence_mae_units!);
    expect(Object.keys(reference.trainers)).toHaveLength(2);
    expect(reference.model?.name).toBe('weather-e2e');
    expect(reference.segments).toBeGreaterThan(1);
    expect(reference.generations).toBe(1);
    expect(reference.faults).toEqual([]);
    expect(reference.overheadFraction).toBeGreaterThanOrEqual(0);
    expect(reference.overheadFraction).toBeLessThan(1);
  }, 600_000);

  it('runs report writes a self-contained run page whose plotted curves are the run history (headless Chromium)', async () => {
    const page = path.join(home, 'reference.html');
    const r = await cli(['runs', 'report', 'reference', '-o', page], env);
    expect(r.code, r.stderr).toBe(0);
    const html = await fsp.readFile(page, 'utf8');
    // Self-contained: no script, style or image from anywhere else (requests are checked below).
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href=|<img[^>]+src=|url\(\s*['"]?https?:/);
    // The run's history as Temporal holds it (the result, or the last progress).
    const shown = json<{ result?: { history?: TrainResult['history'] }; progress?: TrainProgress }>(
      await cli(['runs', 'show', 'reference', '--json'], env),
    );
    const history = shown.result?.history ?? shown.progress?.history ?? [];
    expect(history.length).toBeGreaterThan(1);
    const browser = await ensureChromium({ cacheDir: loadConfig(env).cacheDir, log: () => undefined });
    if (!('path' in browser)) throw new Error(`the run page test needs Chromium: ${browser.reason}`);
    const b = await chromium.launch({ executablePath: browser.path, args: ['--no-sandbox'] });
    try {
      const tab = await b.newPage({ viewport: { width: 1200, height: 900 } });
      const errors: string[] = [];
      tab.on('pageerror', (e) => errors.push(String(e)));
      // Nothing may leave the page (it must work offline, from a file).
      const requests: string[] = [];
      tab.on('request', (q) => requests.push(q.url()));
      await tab.goto(pathToFileURL(page).href);
      await tab.waitForSelector('body[data-ready="true"]', { timeout: 15_000 });
      // Runs in the page (no DOM types in this project): the charts the page exposes.
      const charts =
        await tab.evaluate<{ id: string; labels: string[]; data: (number | null)[][] }[]>(
          'window.seqtrainCharts',
        );
      expect(errors).toEqual([]);
      expect(requests.filter((u) => !u.startsWith('file:'))).toEqual([]);
      const loss = charts.find((c) => c.id === 'loss');
      expect(loss?.labels).toEqual(['train_loss', 'val_loss']);
      expect(loss?.data[0]).toEqual(history.map((h) => h.epoch + 1));
      expect(loss?.data[1]).toEqual(history.map((h) => h.trainLoss));
      expect(loss?.data[2]).toEqual(history.map((h) => h.valLoss));
      const mae = charts.find((c) => c.id === 'metric-val_mae_units');
      expect(mae?.data[1]).toEqual(history.map((h) => h.metrics.val_mae_units ?? null));
      // One point per segment record, and one bar per trainer of the run.
      expect(charts.find((c) => c.id === 'throughput')?.data[0]).toHaveLength(reference.segments);
      expect(charts.find((c) => c.id === 'trainers')?.data[0]).toHaveLength(2);
      expect(await tab.textContent('#facts')).toContain(reference.weightsSha256);
      expect(await tab.textContent('#spec')).toContain('"units"');
      await fsp.mkdir(SCREENSHOTS, { recursive: true });
      await tab.screenshot({ path: path.join(SCREENSHOTS, 'run-page.png'), fullPage: true });
    } finally {
      await b.close();
    }
    // -o FILE.md still gives the Markdown report.
    const md = path.join(home, 'reference.md');
    expect((await cli(['runs', 'report', 'reference', '-o', md], env)).code).toBe(0);
    expect(await fsp.readFile(md, 'utf8')).toMatch(/^# Training run reference/);
  }, 120_000);

  it('registry serve: the web UI shows the model, its versions, alias history and the run page (headless Chromium)', async () => {
    const promoted = await cli(
      [
        'models',
        'promote',
        'weather-e2e@1',
        '--alias',
        'production',
        '--reason',
        'beats persistence',
        '--actor',
        'e2e',
      ],
      env,
    );
    expect(promoted.code, promoted.stderr).toBe(0);
    const READ_TOKEN = 'ui-reader-token-1';
    const server = spawn(
      process.execPath,
      ['--import', tsxLoader(), cliMainPath(), 'registry', 'serve', '--port', '0', '--json'],
      {
        env: {
          ...process.env,
          ...env,
          SEQTRAIN_REGISTRY_TOKENS: `${READ_TOKEN}:read,ui-writer-only-2:write`,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let serverErr = '';
    server.stderr.on('data', (d: Buffer) => (serverErr += d.toString()));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        const timer = setTimeout(
          () => reject(new Error(`registry serve did not start: ${serverErr}`)),
          60_000,
        );
        server.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          const line = out.split('\n').find((l) => l.startsWith('{'));
          if (line) {
            clearTimeout(timer);
            resolve((JSON.parse(line) as { url: string }).url);
          }
        });
        server.once('exit', (code) => reject(new Error(`registry serve exited ${code}: ${serverErr}`)));
      });
      // What the API says, read with the token: the page must show exactly this.
      const api = async <T>(p: string): Promise<T> => {
        const r = await fetch(`${url}${p}`, { headers: { Authorization: `Bearer ${READ_TOKEN}` } });
        expect(r.status, p).toBe(200);
        return (await r.json()) as T;
      };
      const card = await api<{
        metrics: Record<string, number>;
        workflowId: string;
        files: { sha256: string }[];
      }>('/v1/models/weather-e2e/versions/1');
      const events = (
        await api<{ events: { seq: number; reason: string; actor: string; to: number }[] }>(
          '/v1/models/weather-e2e/aliases/production/history',
        )
      ).events;
      const shown = json<{ result?: { history?: TrainResult['history'] } }>(
        await cli(['runs', 'show', 'reference', '--json'], env),
      );
      const history = shown.result?.history ?? [];

      const browser = await ensureChromium({ cacheDir: loadConfig(env).cacheDir, log: () => undefined });
      if (!('path' in browser)) throw new Error(`the registry UI test needs Chromium: ${browser.reason}`);
      const b = await chromium.launch({ executablePath: browser.path, args: ['--no-sandbox'] });
      try {
        const tab = await b.newPage({ viewport: { width: 1200, height: 800 } });
        const errors: string[] = [];
        tab.on('pageerror', (e) => errors.push(String(e)));
        const requested: string[] = [];
        tab.on('request', (q) => requested.push(q.url()));
        await fsp.mkdir(SCREENSHOTS, { recursive: true });

        // Without a token: the sign-in form, never data. A write-only token is refused.
        const first = await tab.goto(`${url}/ui/`);
        expect(first?.status()).toBe(401);
        expect(await tab.locator('#models').count()).toBe(0);
        await tab.fill('#token', 'ui-writer-only-2');
        await tab.click('button[type=submit]');
        expect(await tab.textContent('#login-error')).toContain('lacks the read scope');
        await tab.fill('#token', READ_TOKEN);
        await tab.click('button[type=submit]');
        await tab.waitForSelector('#models');
        // The token is in an HttpOnly cookie: page scripts cannot read it, and it is in no URL.
        expect(await tab.evaluate<string>('document.cookie')).toBe('');
        const row = tab.locator('tr[data-model="weather-e2e"]');
        expect(await row.textContent()).toContain('production → 1');
        await tab.screenshot({ path: path.join(SCREENSHOTS, 'registry-models.png'), fullPage: true });

        await row.locator('a').click();
        await tab.waitForSelector('#versions');
        const v1 = tab.locator('#versions tr[data-version="1"]');
        const valLoss = await v1.locator('td[data-metric="val_loss"]').textContent();
        expect(Number(valLoss)).toBeCloseTo(card.metrics.val_loss!, 3);
        expect(await v1.textContent()).toContain(card.files.find((f) => f.sha256)!.sha256.slice(0, 12));
        const historyRows = tab.locator('table.alias-history[data-alias="production"] tbody tr');
        expect(await historyRows.count()).toBe(events.length);
        const newest = events.at(-1)!;
        const top = tab.locator(`table.alias-history tr[data-seq="${newest.seq}"]`);
        expect(await top.textContent()).toContain(newest.reason);
        expect(await top.textContent()).toContain(newest.actor);
        await tab.screenshot({ path: path.join(SCREENSHOTS, 'registry-model.png'), fullPage: true });

        // The version's run page: the same page `runs report` writes, drawn from the run's history.
        await v1.locator('a.run-link').click();
        await tab.waitForSelector('body[data-ready="true"]', { timeout: 15_000 });
        const charts =
          await tab.evaluate<{ id: string; data: (number | null)[][] }[]>('window.seqtrainCharts');
        const loss = charts.find((c) => c.id === 'loss');
        expect(loss?.data[1]).toEqual(history.map((h) => h.trainLoss));
        expect(loss?.data[2]).toEqual(history.map((h) => h.valLoss));
        await tab.screenshot({ path: path.join(SCREENSHOTS, 'registry-run-page.png'), fullPage: true });

        expect(errors).toEqual([]);
        expect(requested.filter((u) => u.includes(READ_TOKEN))).toEqual([]);
        expect(requested.every((u) => u.startsWith(url))).toBe(true);
        // Signing out clears the cookie: the next page is the sign-in form again.
        await tab.goto(`${url}/ui/`);
        await tab.click('header button[type=submit]');
        await tab.waitForSelector('#token');
        expect((await tab.goto(`${url}/ui/models/weather-e2e`))?.status()).toBe(401);
      } finally {
        await b.close();
      }
    } finally {
      server.kill('SIGTERM');
    }
    expect(serverErr).not.toContain(READ_TOKEN);
  }, 180_000);

  it('a re-run under the same --id with the same spec returns the earlier result; another spec is refused', async () => {
    const again = await cli(
      ['train', '-c', specFile, '--workers', '2', '--json', '--id', 'reference', ...SEGMENT],
      env,
    );
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/reference already ran with these inputs/);
    const same = json<TrainResult>(again);
    expect(same.model).toEqual(reference.model);
    expect(same.weightsSha256).toBe(reference.weightsSha256);
    const other = path.join(home, 'other.json');
    await fsp.writeFile(other, spec({ model: { cell: 'lstm', units: [16] } }));
    const refused = await cli(['train', '-c', other, '--json', '--id', 'reference', ...SEGMENT], env);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/--id reference: .*model\.units: \[32\] there, \[16\] here/);
    const versions = json<{ versions: unknown[] }>(
      await cli(['models', 'show', 'weather-e2e', '--json'], env),
    );
    expect(versions.versions).toHaveLength(1);
  }, 120_000);

  it('runs pause, resume and stop steer a detached run from the CLI; runs list shows it', async () => {
    const file = path.join(home, 'steer.json');
    await fsp.writeFile(
      file,
      spec({
        name: 'weather-steer',
        training: { optimizer: { name: 'adam', learningRate: 0.005 }, batchSize: 32, epochs: 400, seed: 3 },
      }),
    );
    await startDetached(file, 'steer');
    await waitForSteps('steer', 20);
    const paused = await cli(['runs', 'pause', 'steer'], env);
    expect(paused.code, paused.stderr).toBe(0);
    let atPause: TrainProgress | undefined;
    for (let i = 0; i < 600 && atPause?.status !== 'paused'; i++) {
      atPause = await readRunProgress(client, 'steer');
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(atPause?.status).toBe('paused');
    // The segment ends after its current step; the last heartbeat may still be on its way. Then
    // the step count holds still while the run is paused.
    let settled = atPause!.step;
    for (let i = 0; i < 30; i++) {
      await new Promise((r) => setTimeout(r, 1000));
      const now = (await readRunProgress(client, 'steer')).step;
      if (now === settled) break;
      settled = now;
    }
    await new Promise((r) => setTimeout(r, 2000));
    const still = await readRunProgress(client, 'steer');
    expect(still.status).toBe('paused');
    expect(still.step).toBe(settled);
    atPause = still;
    const resumed = await cli(['runs', 'resume', 'steer'], env);
    expect(resumed.code, resumed.stderr).toBe(0);
    await waitForSteps('steer', atPause.step + 10);
    const stopped = await cli(['runs', 'stop', 'steer', '--reason', 'enough for the test'], env);
    expect(stopped.code, stopped.stderr).toBe(0);
    expect((await result('steer')).status).toBe('stopped');
    const list = json<{ runs: { workflowId: string; status: string }[] }>(
      await cli(['runs', 'list', '--json'], env),
    );
    expect(list.runs.find((r) => r.workflowId === 'steer')?.status).toBe('COMPLETED');
  }, 300_000);

  it('predict forecasts from the last rows of a CSV, scaled as the training windows were', async () => {
    const csvText = await fsp.readFile(
      path.join(repoRoot, 'node_modules/vega-datasets/data/seattle-weather.csv'),
      'utf8',
    );
    const lines = csvText.trim().split('\n');
    const input = path.join(home, 'last-days.csv');
    await fsp.writeFile(input, [lines[0], ...lines.slice(-20)].join('\n'));
    const r = await cli(
      ['predict', `weather-e2e@${reference.model!.version}`, '--input', input, '--json'],
      env,
    );
    expect(r.code, r.stderr).toBe(0);
    const [p] = json<{ predictions: { forecast: number[] }[] }>(r).predictions;
    // Tomorrow's maximum temperature in degrees C, near today's (last-value scaling anchors on it).
    const today = Number(lines.at(-1)!.split(',')[2]);
    expect(p!.forecast).toHaveLength(1);
    expect(Math.abs(p!.forecast[0]! - today)).toBeLessThan(15);
  }, 120_000);

  it('survives the leader killed with SIGKILL mid-run, with identical weights', async () => {
    await startDetached(specFile, 'kill-leader');
    await waitForSteps('kill-leader', 200);
    process.kill(await memberPid('kill-leader', 'leader'), 'SIGKILL');
    // A replacement trainer joins, as an autoscaler would start one.
    expect((await cli(['up', '--detach', '--trainers', '2'], env)).code).toBe(0);
    const r = await result('kill-leader');
    expect(r.weightsSha256).toBe(reference.weightsSha256);
    expect(r.rounds).toBe(reference.rounds);
    expect(r.generations).toBeGreaterThanOrEqual(2);
    // The trainers that ran the re-formed group count it: scraped from their own /metrics.
    let restarts = 0;
    for (const t of await trainers()) {
      expect(t.ready, `${t.name} ready`).toBe(true);
      const text = await (await fetch(`http://${t.metrics!}/metrics`)).text();
      for (const m of text.matchAll(/^seqtrain_segment_restarts_total\{[^}]*\} (\d+)$/gm))
        restarts += Number(m[1]);
    }
    expect(restarts).toBeGreaterThanOrEqual(1);
  }, 600_000);

  it('survives a trainer killed during the gradient exchange: its peer sees the connection drop', async () => {
    await startDetached(specFile, 'kill-exchange');
    // Mid-segment: 20 steps into the second segment (a kill between two segments, or after the
    // last, would find no exchange to break). Steps take milliseconds and the members trade
    // gradients every step: the surviving member is in (or enters) the exchange when the
    // connection drops.
    let secondFrom: number | undefined;
    await signalOther('kill-exchange', 'SIGKILL', (p) => {
      if (p.segments < 1) return false;
      secondFrom ??= p.step;
      return p.step >= secondFrom + 20;
    });
    expect((await cli(['up', '--detach', '--trainers', '2'], env)).code).toBe(0);
    const r = await result('kill-exchange');
    expect(r.weightsSha256).toBe(reference.weightsSha256);
    expect(r.faults.join('\n')).toMatch(/data plane: .*(closed the connection|gave up|ECONNRESET)/);
  }, 600_000);

  it('survives a trainer frozen with SIGSTOP: the group re-forms without it, identical weights', async () => {
    await startDetached(specFile, 'freeze-trainer');
    const frozen = await signalOther('freeze-trainer', 'SIGSTOP', (p) => p.step >= 200, 'group');
    try {
      const r = await result('freeze-trainer');
      expect(r.weightsSha256).toBe(reference.weightsSha256);
      expect(r.faults.join('\n')).toMatch(/no word from|heartbeat|timed out|timeout/i);
      // The run finished on the trainer that was not frozen.
      const names = (await trainers()).filter((t) => t.pid !== frozen).map((t) => t.name);
      expect(names.some((n) => r.trainers[n] !== undefined)).toBe(true);
    } finally {
      process.kill(-frozen, 'SIGCONT');
    }
  }, 600_000);

  it('survives a Temporal dev server restart mid-run', async () => {
    await startDetached(specFile, 'restart-temporal');
    await waitForSteps('restart-temporal', 200);
    const temporal = (await status()).temporal!;
    process.kill(temporal.pid, 'SIGTERM');
    await new Promise((r) => setTimeout(r, 3000));
    // The dev server's graceful shutdown can outlast the 3 s: 'up' waits for a server that no
    // longer answers to be gone, then starts a new one.
    const up = await cli(['up', '--detach', '--trainers', '2'], env);
    expect(up.code).toBe(0);
    expect(isAlive(temporal.pid)).toBe(false);
    await connection.close();
    connection = await Connection.connect({ address: env.SEQTRAIN_TEMPORAL_ADDRESS! });
    client = new Client({ connection });
    const r = await result('restart-temporal');
    expect(r.weightsSha256).toBe(reference.weightsSha256);
  }, 600_000);

  it('survives the S3 server being down for 10 s', async () => {
    await startDetached(specFile, 's3-outage');
    await waitForSteps('s3-outage', 200);
    const s3 = (await status()).s3!;
    process.kill(s3.pid, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 10_000));
    expect((await cli(['up', '--detach', '--trainers', '2'], env)).code).toBe(0);
    const r = await result('s3-outage');
    expect(r.weightsSha256).toBe(reference.weightsSha256);
    expect(r.rounds).toBe(reference.rounds);
  }, 600_000);

  it('fails fast on a spec that does not fit the dataset, leaving no model', async () => {
    const bad = path.join(home, 'bad.json');
    await fsp.writeFile(bad, spec({ name: 'weather-bad', task: 'classification' }));
    const r = await cli(['train', '-c', bad, '--json', '--id', 'bad-spec'], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/task/);
    expect(json<{ status: string; error: string }>(r)).toMatchObject({ status: 'failed' });
    // No retry loop: every activity ran exactly once.
    const history = await client.workflow.getHandle('bad-spec').fetchHistory();
    const attempts = (history.events ?? [])
      .filter((e) => e.activityTaskStartedEventAttributes)
      .map((e) => e.activityTaskStartedEventAttributes!.attempt);
    expect(attempts).toEqual([1]);
    const models = json<{ models: { name: string }[] }>(await cli(['models', 'list', '--json'], env));
    expect(models.models.map((m) => m.name)).not.toContain('weather-bad');
  }, 300_000);

  it('fails fast on a corrupt dataset part, leaving no model artifacts', async () => {
    // Import a copy, then flip one byte of its Arrow part in S3.
    const imported = await cli(
      [
        'dataset',
        'import',
        'npm:vega-datasets/seattle-weather.csv',
        '--name',
        'weather-corrupt',
        '--kind',
        'timeseries',
        '--time-column',
        'date',
        '--value-columns',
        'temp_max,temp_min',
        '--target-column',
        'temp_max',
        '--window',
        '7',
        '--horizon',
        '1',
        '--json',
      ],
      env,
      repoRoot,
    );
    expect(imported.code, imported.stderr).toBe(0);
    const store = createBlobStore(loadConfig({ ...env, HOME: home }));
    const part = (await store.list('datasets/weather-corrupt/')).find((b) => b.key.endsWith('.arrow'))!;
    const bytes = await store.get(part.key);
    bytes[Math.floor(bytes.length / 2)]! ^= 0xff;
    await store.put(part.key, bytes);
    const bad = path.join(home, 'corrupt.json');
    await fsp.writeFile(bad, spec({ name: 'weather-corrupt-model', dataset: 'weather-corrupt' }));
    const r = await cli(['train', '-c', bad, '--json', '--id', 'corrupt-data'], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/sha256|corrupt|checksum/i);
    const written = (await store.list('runs/corrupt-data/')).map((b) => b.key);
    expect(written.some((k) => k.endsWith('/plan.json'))).toBe(true);
    expect(written.filter((k) => k.includes('/model/'))).toEqual([]);
    const models = json<{ models: { name: string }[] }>(await cli(['models', 'list', '--json'], env));
    expect(models.models.map((m) => m.name)).not.toContain('weather-corrupt-model');
  }, 300_000);
  it("predict reads texts exactly as training did: its accuracy on the validation texts is the card's", async () => {
    // The class lives in the punctuation glued to the last word ("cheap!!!" against "cheap."):
    // a predict that split on whitespace would see one unknown token in both and answer blindly.
    const pool = ['cheap', 'pills', 'meeting', 'notes', 'offer', 'team', 'prize', 'lunch', 'cash', 'report'];
    const records = Array.from({ length: 240 }, (_, i) => {
      const words = [pool[i % 10], pool[(i * 3 + 1) % 10], pool[(i * 7 + 2) % 10], `n${i}`];
      const spam = i % 2 === 0;
      return { text: `${words.join(' ')}${spam ? '!!!' : '.'}`, label: spam ? 'spam' : 'ham' };
    });
    const file = path.join(home, 'mail.jsonl');
    await fsp.writeFile(file, records.map((r) => JSON.stringify(r)).join('\n'));
    const imported = await cli(
      [
        'dataset',
        'import',
        file,
        '--name',
        'mail',
        '--kind',
        'text-class',
        '--tokenizer',
        'word',
        '--max-length',
        '8',
        '--val-fraction',
        '0.25',
        '--json',
      ],
      env,
    );
    expect(imported.code, imported.stderr).toBe(0);
    const mailSpec = path.join(home, 'mail-spec.json');
    await fsp.writeFile(
      mailSpec,
      JSON.stringify({
        name: 'mail-classifier',
        dataset: 'mail',
        task: 'classification',
        model: { cell: 'gru', units: [16], embedding: 8 },
        training: { optimizer: { name: 'adam', learningRate: 0.02 }, batchSize: 16, epochs: 12, seed: 5 },
        workers: 1,
      }),
    );
    const trained = await cli(['train', '-c', mailSpec, '--json'], env);
    expect(trained.code, trained.stderr).toBe(0);
    const run = json<TrainResult>(trained);
    const valAccuracy = run.metrics.val_accuracy!;
    expect(valAccuracy).toBeGreaterThan(0.9);
    // The validation texts: the records whose encoding is a stored validation row.
    const store = createBlobStore(loadConfig({ ...env, HOME: home }));
    const manifest = await loadManifest(store, 'mail');
    const vocab = manifest.signature.vocab!;
    const key = (ids: ArrayLike<number>): string => Array.from(ids).slice(0, 8).join(',');
    const byRow = new Map(
      records.map((r) => [key([...encodeText(vocab, r.text), 0, 0, 0, 0, 0, 0, 0, 0]), r]),
    );
    const reader = new ShardReader(store, manifest);
    const val: typeof records = [];
    for await (const b of reader.read(planShards(manifest, 1, 0).validation.batches)) {
      for (let r = 0; r < b.rows; r++) val.push(byRow.get(key(b.x.data.subarray(r * 8, r * 8 + 8)))!);
    }
    expect(val).toHaveLength(manifest.valRows);
    expect(val.every(Boolean)).toBe(true);
    const input = path.join(home, 'val-texts.json');
    await fsp.writeFile(input, JSON.stringify(val.map((r) => r.text)));
    const predicted = await cli(
      ['predict', `mail-classifier@${run.model!.version}`, '--input', input, '--json'],
      env,
    );
    expect(predicted.code, predicted.stderr).toBe(0);
    expect(predicted.stderr).not.toMatch(/install our node backend/);
    const labels = json<{ predictions: { label: string }[] }>(predicted).predictions.map((p) => p.label);
    const correct = labels.filter((l, i) => l === val[i]!.label).length;
    expect(correct / val.length).toBeCloseTo(valAccuracy, 10);
    // An input the model cannot read is refused, naming it; a partly unknown one is answered with a warning.
    await fsp.writeFile(input, JSON.stringify(['cheap pills!!!', 'zzz qqq xxx yyy']));
    const refused = await cli(['predict', 'mail-classifier@latest', '--input', input], env);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/4 of 4 tokens of input 1 \("zzz qqq xxx yyy"\) .*cannot read it/);
    await fsp.writeFile(input, JSON.stringify(['cheap pills zzz!!!']));
    const warned = await cli(['predict', 'mail-classifier@latest', '--input', input], env);
    expect(warned.code, warned.stderr).toBe(0);
    expect(warned.stderr).toMatch(/warning: 1 of 6 tokens of input 0 .*"zzz".*read as <unk>/);
    const badFlag = await cli(
      ['predict', 'mail-classifier@latest', '--input', input, '--temperature', 'abc'],
      env,
    );
    expect(badFlag.code).toBe(1);
    expect(badFlag.stderr).toMatch(/--temperature=abc: expected a number/);
    // Weights whose bytes do not match the card are refused, as the HTTP reader refuses them.
    const files = await store.list('registry/mail-classifier/');
    const weights = files.find((b) => b.key.endsWith('.bin'));
    expect(weights, files.map((b) => b.key).join(', ')).toBeDefined();
    const bytes = await store.get(weights!.key);
    bytes[0]! ^= 0xff;
    await store.put(weights!.key, bytes);
    const tampered = await cli(['predict', 'mail-classifier@latest', '--input', input], env);
    expect(tampered.code).toBe(1);
    expect(tampered.stderr).toMatch(/does not match its card's sha256/);
  }, 300_000);
});
