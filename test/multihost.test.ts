/**
 * Trainers on separate hosts: the Temporal dev server, the S3 server, the orchestrator, a
 * toxiproxy and each of three trainers run in a network namespace of their own, joined by veth
 * pairs to a bridge in a switch namespace (infra/local/src/netns.ts), so every connection
 * crosses a real interface between two addresses. Trainers bind their own address and advertise
 * a toxiproxy listener that forwards to it, so all trainer-to-trainer traffic can be disturbed.
 * One run of a fixed spec (3 logical ranks) is the reference; the same spec then runs with a
 * trainer's link cut, with latency, a stall, resets and a disabled proxy on the data plane, and
 * with one trainer's data plane unreachable: each must end with the same weights (the sha256 of
 * the exported weights.bin, read from the S3 server's disk, and the run's weightsSha256).
 * Root only (as CI runs): skipped, saying why, where no network namespace can be made.
 */
import { type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, openSync, promises as fsp } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  LOCAL_ACCESS_KEY,
  LOCAL_SECRET_KEY,
  PROGRESS_QUERY,
  runKeys,
  type TrainProgress,
  type TrainResult,
} from '@seqtrain/contracts';
import {
  createNetwork,
  namespaceOf,
  probeNetns,
  resolveTemporalCli,
  startLocalS3,
  startTemporal,
  startToxiproxy,
  waitFor,
  type LocalS3,
  type Network,
  type NetHost,
  type TemporalServer,
  type Toxiproxy,
} from '@seqtrain/local-stack';

const repoRoot = path.resolve(import.meta.dirname, '..');
const require = createRequire(import.meta.url);
const CLI_MAIN = path.join(repoRoot, 'packages/cli/src/main.ts');
/** @seqtrain/backend's TRAINER_NODE_FLAGS (that package is not a dependency of the root). */
const TRAINER_NODE_FLAGS = ['--single-threaded-gc', '--max-semi-space-size=32'];
const TRAINERS = ['t1', 't2', 't3'] as const;
type TrainerName = (typeof TRAINERS)[number];
const DATA_PLANE_PORT = 7300;
const PROXY_PORT: Record<TrainerName, number> = { t1: 7401, t2: 7402, t3: 7403 };
const BUCKET = 'seqtrain';

const probe = await probeNetns();
if (!probe.ok) process.stderr.write(`[multihost] skipped: ${probe.reason}\n`);

const SPEC = {
  name: 'weather-multihost',
  dataset: 'seattle-weather',
  task: 'regression',
  model: { cell: 'lstm', units: [16] },
  training: { optimizer: { name: 'adam', learningRate: 0.005 }, batchSize: 16, epochs: 100, seed: 7 },
  // Three logical ranks whatever the number of trainers alive: results are comparable.
  workers: 3,
};

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Done {
  code: number | null;
  stdout: string;
  stderr: string;
}

function collect(child: ChildProcess, timeoutMs: number): Promise<Done> {
  return new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe.skipIf(!probe.ok)('trainers on separate hosts (network namespaces)', () => {
  let net: Network;
  let dir: string;
  let temporal: TemporalServer | undefined;
  let s3: LocalS3 | undefined;
  let proxy: Toxiproxy | undefined;
  let temporalCli: string;
  let env: Record<string, string>;
  let keep = false;
  const workers = new Map<string, { child: ChildProcess; host: NetHost; home: string; log: string }>();
  const host = (name: string): NetHost => net.hosts[name]!;

  /** The seqtrain CLI on the client host. */
  async function cli(args: string[], timeoutMs = 120_000): Promise<Done> {
    const child = host('cli').spawn(
      process.execPath,
      ['--import', require.resolve('tsx'), CLI_MAIN, ...args],
      {
        env: { ...process.env, ...env, SEQTRAIN_HOME: path.join(dir, 'home-cli') },
        cwd: repoRoot,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    return collect(child, timeoutMs);
  }

  /** The Temporal CLI on the client host (a Go binary: fast enough to poll with). */
  async function tctl(args: string[], timeoutMs = 20_000): Promise<Done> {
    const child = host('cli').spawn(temporalCli, [...args, '--address', temporal!.address], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return collect(child, timeoutMs);
  }

  async function progress(id: string): Promise<TrainProgress | undefined> {
    const r = await tctl(['workflow', 'query', '--workflow-id', id, '--type', PROGRESS_QUERY, '-o', 'json']);
    if (r.code !== 0) return undefined;
    const parsed = JSON.parse(r.stdout) as { queryResult?: TrainProgress[] } | TrainProgress;
    return 'queryResult' in parsed ? parsed.queryResult?.[0] : (parsed as TrainProgress);
  }

  /** Polls the run's progress (bounded) until `ready` holds; throws with the last seen. */
  async function until(
    id: string,
    what: string,
    ready: (p: TrainProgress) => boolean,
    timeoutMs = 120_000,
  ): Promise<TrainProgress> {
    const deadline = Date.now() + timeoutMs;
    let last: TrainProgress | undefined;
    while (Date.now() < deadline) {
      last = (await progress(id)) ?? last;
      if (last && ready(last)) return last;
      if (last?.status === 'completed' || last?.status === 'failed') break;
      await sleep(150);
    }
    throw new Error(
      `run ${id}: ${what} did not happen; last progress: ${JSON.stringify(last)?.slice(0, 1500)}`,
    );
  }

  async function start(id: string): Promise<void> {
    const r = await cli([
      'train',
      '-c',
      path.join(dir, 'spec.json'),
      '--detach',
      '--json',
      '--id',
      id,
      '--segment-seconds',
      '2',
      '--no-register',
    ]);
    expect(r.code, r.stderr).toBe(0);
  }

  /** The run's result (bounded), or why it has none. */
  async function result(id: string, timeoutMs: number): Promise<TrainResult> {
    const r = await tctl(['workflow', 'result', '--workflow-id', id, '-o', 'json'], timeoutMs);
    if (r.code !== 0) {
      const p = await progress(id);
      throw new Error(
        `run ${id} has no result (${r.code === null ? `none within ${timeoutMs / 1000} s` : `temporal workflow result exited with ${r.code}: ${r.stderr.trim().slice(-800)}`}); progress: ${JSON.stringify(p)?.slice(0, 3000)}`,
      );
    }
    await fsp.writeFile(path.join(dir, 'logs', `${id}.result.json`), r.stdout);
    const parsed = JSON.parse(r.stdout) as { result?: TrainResult; status?: string };
    if (!parsed.result) throw new Error(`run ${id}: no result in ${r.stdout.slice(0, 2000)}`);
    const res = parsed.result;
    process.stderr.write(
      `[multihost] ${id}: ${res.steps} steps, ${res.generations} generation(s), trainers ${Object.keys(res.trainers ?? {}).join(' ')}, weights ${res.weightsSha256.slice(0, 16)}; faults: ${JSON.stringify(res.faults)}\n`,
    );
    return res;
  }

  /** Where the S3 server keeps an object (or a prefix) of the bucket on disk. */
  function s3File(...key: string[]): string {
    return path.join(dir, 's3', 'data', BUCKET, ...key);
  }

  /** sha256 of the exported weights.bin, as the S3 server stores it on disk. */
  async function weightsFileSha(r: TrainResult): Promise<string> {
    const file = s3File(runKeys.model(r.workflowId, r.execution), 'weights.bin');
    return createHash('sha256')
      .update(await fsp.readFile(file))
      .digest('hex');
  }

  /**
   * The run's last checkpoint as the S3 server stores it on disk: its step and the sha256 of its
   * bytes (the weights, the optimizer state and the step: deterministic, no timestamps).
   */
  async function finalCheckpoint(r: TrainResult): Promise<string> {
    const prefix = s3File(runKeys.prefix(r.workflowId, r.execution), 'checkpoints');
    const last = (await fsp.readdir(prefix))
      .filter((f) => f.endsWith('.ckpt'))
      .sort()
      .at(-1)!;
    const sha = createHash('sha256')
      .update(await fsp.readFile(path.join(prefix, last)))
      .digest('hex');
    return `${last} ${sha}`;
  }

  function startWorker(
    role: 'orchestrator' | 'trainer',
    id: string,
    h: NetHost,
    extra: Record<string, string>,
  ): void {
    const home = path.join(dir, `home-${id}`);
    const log = path.join(dir, 'logs', `${id}.log`);
    const fd = openSync(log, 'a');
    const child = h.spawn(
      process.execPath,
      [
        ...(role === 'trainer' ? TRAINER_NODE_FLAGS : []),
        '--import',
        require.resolve('tsx'),
        CLI_MAIN,
        'worker',
        '--role',
        role,
        '--id',
        id,
      ],
      {
        env: { ...process.env, ...env, ...extra, SEQTRAIN_HOME: home },
        stdio: ['ignore', fd, fd],
        cwd: repoRoot,
      },
    );
    closeSync(fd);
    workers.set(id, { child, host: h, home, log });
  }

  async function waitForWorkers(ids: string[]): Promise<void> {
    await waitFor(
      `workers ${ids.join(', ')}`,
      async () => {
        for (const id of ids) {
          const w = workers.get(id)!;
          if (w.child.exitCode !== null) {
            const tail = (await fsp.readFile(w.log, 'utf8')).split('\n').slice(-15).join('\n');
            throw new Error(`worker ${id} exited with ${w.child.exitCode}; ${w.log}:\n${tail}`);
          }
        }
        const ready = await Promise.all(
          ids.map((id) =>
            fsp
              .access(path.join(workers.get(id)!.home, 'run', `${id}.json`))
              .then(() => true)
              .catch(() => false),
          ),
        );
        return ready.every(Boolean);
      },
      240_000,
      300,
    );
  }

  beforeAll(async () => {
    // Kept unless every test passes (a failed start leaves its logs too).
    keep = true;
    dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'seqtrain-multihost-'));
    await fsp.mkdir(path.join(dir, 'logs'), { recursive: true });
    net = await createNetwork({
      hosts: ['temporal', 's3', 'orch', 'proxy', 'cli', ...TRAINERS],
      client: true,
    });
    process.stderr.write(`[multihost] network ${net.subnet}, files in ${dir}\n`);
    temporalCli = await resolveTemporalCli();
    const [t, s] = await Promise.all([
      startTemporal({
        cli: temporalCli,
        headless: true,
        // Bound to every address of its namespace (it has one): see TemporalServerOptions.ip.
        ip: '0.0.0.0',
        host: host('temporal').address,
        port: 7233,
        launcher: host('temporal').launcher,
        logFile: path.join(dir, 'logs', 'temporal.log'),
      }),
      startLocalS3({
        dir: path.join(dir, 's3'),
        bucket: BUCKET,
        address: host('s3').address,
        port: 9000,
        launcher: host('s3').launcher,
      }),
    ]);
    temporal = t;
    s3 = s;
    proxy = await startToxiproxy({
      host: host('proxy').address,
      port: 8474,
      launcher: host('proxy').launcher,
      log: (m) => process.stderr.write(`[toxiproxy] ${m}\n`),
    });
    for (const name of TRAINERS)
      await proxy.createProxy(
        name,
        `${host('proxy').address}:${PROXY_PORT[name]}`,
        `${host(name).address}:${DATA_PLANE_PORT}`,
      );
    env = {
      SEQTRAIN_TEMPORAL_ADDRESS: temporal.address,
      SEQTRAIN_S3_ENDPOINT: s3.endpoint,
      SEQTRAIN_S3_BUCKET: BUCKET,
      SEQTRAIN_S3_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: LOCAL_ACCESS_KEY,
      AWS_SECRET_ACCESS_KEY: LOCAL_SECRET_KEY,
      // Trainers must agree on TensorFlow's thread count (it changes the last bits).
      SEQTRAIN_THREADS: '1',
    };
    startWorker('orchestrator', 'mh-orch', host('orch'), {});
    for (const name of TRAINERS)
      startWorker('trainer', `mh-${name}`, host(name), {
        SEQTRAIN_DATA_PLANE_HOST: host(name).address,
        SEQTRAIN_DATA_PLANE_PORT: String(DATA_PLANE_PORT),
        SEQTRAIN_DATA_PLANE_ADVERTISE: `${host('proxy').address}:${PROXY_PORT[name]}`,
      });
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
      180_000,
    );
    expect(imported.code, imported.stderr).toBe(0);
    await fsp.writeFile(path.join(dir, 'spec.json'), JSON.stringify(SPEC));
    await waitForWorkers([...workers.keys()]);
    keep = false;
  }, 300_000);

  afterAll(async () => {
    await Promise.allSettled(
      [...workers.values()].map(async ({ child }) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const gone = new Promise<void>((r) => child.once('exit', () => r()));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
        await gone;
        clearTimeout(timer);
      }),
    );
    await Promise.allSettled([proxy?.stop(), s3?.stop(), temporal?.stop()]);
    await net?.destroy();
    if (keep) process.stderr.write(`[multihost] a test failed: logs and homes kept in ${dir}\n`);
    else if (dir) await fsp.rm(dir, { recursive: true, force: true });
  }, 120_000);

  let reference: TrainResult;
  let referenceFileSha: string;
  let referenceCheckpoint: string;

  it('every process runs on its own host; trainers advertise their proxy listener', async (ctx) => {
    ctx.onTestFailed(() => void (keep = true));
    for (const [id, w] of workers) {
      expect(await namespaceOf(w.child.pid!), id).toBe(w.host.ns);
    }
    for (const name of TRAINERS) {
      const state = JSON.parse(
        await fsp.readFile(path.join(workers.get(`mh-${name}`)!.home, 'run', `mh-${name}.json`), 'utf8'),
      ) as { dataPlane?: string };
      expect(state.dataPlane).toBe(`${host('proxy').address}:${PROXY_PORT[name]}`);
      const log = await fsp.readFile(workers.get(`mh-${name}`)!.log, 'utf8');
      expect(log).toContain(`data plane listening on ${host(name).address}:${DATA_PLANE_PORT}`);
    }
  }, 30_000);

  it('reference: an undisturbed run on three hosts', async (ctx) => {
    ctx.onTestFailed(() => void (keep = true));
    const started = Date.now();
    await start('mh-reference');
    reference = await result('mh-reference', 180_000);
    process.stderr.write(`[multihost] reference took ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
    expect(reference.status).toBe('completed');
    expect(Object.keys(reference.trainers).sort()).toEqual(TRAINERS.map((t) => `mh-${t}`));
    expect(reference.faults ?? []).toEqual([]);
    referenceFileSha = await weightsFileSha(reference);
    referenceCheckpoint = await finalCheckpoint(reference);
    expect(referenceCheckpoint).toMatch(new RegExp(`^0*${reference.steps}\\.ckpt [0-9a-f]{64}$`));
    expect(reference.weightsSha256).toMatch(/^[0-9a-f]{64}$/);
  }, 200_000);

  it('a trainer whose link is cut mid-run: the group re-forms on the others, same weights', async (ctx) => {
    ctx.onTestFailed(() => void (keep = true));
    const id = 'mh-link-cut';
    await start(id);
    const before = await until(
      id,
      'a training segment of three members past step 60',
      (p) => p.phase === 'training' && (p.group?.length ?? 0) === 3 && p.step >= 60,
    );
    await host('t2').linkDown();
    let reformed: TrainProgress;
    try {
      reformed = await until(
        id,
        'a group without mh-t2 training',
        (p) =>
          p.phase === 'training' &&
          p.generation > before.generation &&
          !(p.group ?? []).some((m) => m.workerId === 'mh-t2') &&
          p.step > 0,
        120_000,
      );
    } finally {
      // Restored mid-run: the trainer comes back while the others finish.
      await host('t2').linkUp();
    }
    // The spec's three ranks, now on the two trainers left.
    expect(reformed.group).toHaveLength(2);
    expect(reformed.group!.reduce((n, m) => n + m.ranks, 0)).toBe(3);
    const r = await result(id, 180_000);
    expect(r.weightsSha256).toBe(reference.weightsSha256);
    expect(await weightsFileSha(r)).toBe(referenceFileSha);
    expect(await finalCheckpoint(r)).toBe(referenceCheckpoint);
    expect(r.steps).toBe(reference.steps);
    expect(r.generations).toBeGreaterThanOrEqual(2);
    expect(r.faults.length).toBeGreaterThan(0);
  }, 360_000);

  it('data-plane faults through toxiproxy (latency, a stall, resets, a proxy down): same weights', async (ctx) => {
    ctx.onTestFailed(() => void (keep = true));
    const id = 'mh-proxy-faults';
    const p = proxy!;
    const training = (min: number) => (q: TrainProgress) =>
      q.phase === 'training' && (q.group?.length ?? 0) >= 2 && q.step >= min;
    /** A member that its predecessor dials (member 0 dials, nobody dials it): its proxy matters. */
    const dialed = (q: TrainProgress, which: 1 | -1): TrainerName => {
      const g = q.group ?? [];
      const m = which === 1 ? g[1] : g[g.length - 1];
      return m!.workerId.replace(/^mh-/, '') as TrainerName;
    };
    await start(id);
    let at = await until(id, 'training past step 30', training(30));
    const injected: string[] = [];
    // Latency on every proxy, both directions, for 3 s.
    for (const name of TRAINERS)
      for (const stream of ['upstream', 'downstream'] as const)
        await p.addToxic(name, `lat-${stream}`, {
          type: 'latency',
          stream,
          attributes: { latency: 25, jitter: 10 },
        });
    await sleep(3000);
    for (const name of TRAINERS)
      for (const stream of ['upstream', 'downstream'] as const) await p.removeToxic(name, `lat-${stream}`);
    injected.push(`latency from step ${at.step}`);
    // A stall: nothing passes the proxy of member 1 for 4 s (toxiproxy drops the data meanwhile).
    at = await until(id, 'training after the latency', training(at.step + 10));
    const stalled = dialed(at, 1);
    await p.addToxic(stalled, 'stall', { type: 'timeout', attributes: { timeout: 0 } });
    await sleep(4000);
    await p.removeToxic(stalled, 'stall');
    injected.push(`stall of ${stalled} from step ${at.step}`);
    // The connections through the last member's proxy are reset, for 1.5 s.
    at = await until(id, 'training after the stall', training(at.step + 10), 180_000);
    const reset = dialed(at, -1);
    await p.addToxic(reset, 'reset', { type: 'reset_peer', attributes: { timeout: 0 } });
    await sleep(1500);
    await p.removeToxic(reset, 'reset');
    injected.push(`resets at ${reset} from step ${at.step}`);
    // Member 1's proxy down for 2 s: its listener closed, its connections cut.
    at = await until(id, 'training after the resets', training(at.step + 10), 180_000);
    const down = dialed(at, 1);
    await p.setEnabled(down, false);
    await sleep(2000);
    await p.setEnabled(down, true);
    injected.push(`proxy of ${down} down from step ${at.step}`);
    process.stderr.write(`[multihost] ${id}: ${injected.join(', ')}\n`);
    const r = await result(id, 240_000);
    expect(r.weightsSha256).toBe(reference.weightsSha256);
    expect(await weightsFileSha(r)).toBe(referenceFileSha);
    expect(await finalCheckpoint(r)).toBe(referenceCheckpoint);
    expect(r.steps).toBe(reference.steps);
    expect(r.generations).toBeGreaterThanOrEqual(2);
    expect(r.faults.join('\n')).toMatch(/data plane/);
  }, 480_000);

  it('a trainer whose data-plane port is unreachable: the run completes without it, same weights', async (ctx) => {
    ctx.onTestFailed(() => void (keep = true));
    const id = 'mh-unreachable';
    // Nothing listens where t3 says its data plane is, for the whole run: t3 is the last member
    // of a group of all three (ordered by id), the one t2 dials.
    await proxy!.setEnabled('t3', false);
    try {
      await start(id);
      const r = await result(id, 150_000);
      expect(r.weightsSha256).toBe(reference.weightsSha256);
      expect(await weightsFileSha(r)).toBe(referenceFileSha);
      expect(await finalCheckpoint(r)).toBe(referenceCheckpoint);
      expect(r.steps).toBe(reference.steps);
      // The fault landed: t3 was placed, and the group had to be formed again.
      expect(r.faults.join('\n')).toMatch(/could not be reached|did not connect/);
    } finally {
      await tctl(['workflow', 'terminate', '--workflow-id', id, '--reason', 'test over']).catch(
        () => undefined,
      );
      await proxy!.setEnabled('t3', true);
    }
  }, 200_000);
});

it.skipIf(probe.ok)('trainers on separate hosts (network namespaces)', (ctx) => {
  ctx.skip(probe.ok ? undefined : `network namespaces unavailable: ${probe.reason}`);
});
