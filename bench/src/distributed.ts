/**
 * `pnpm bench:distributed`: samples/s and orchestration overhead of the same training spec on 1
 * and on 2 trainer processes (1 trainer is the baseline), on a private embedded stack: real
 * Temporal dev server, real local S3, trainers as separate processes like `seqtrain up` starts.
 * Human table on stderr, one JSON object on stdout (CLI.md, Benchmarks).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { Client, Connection } from '@temporalio/client';
import { ORCHESTRATOR_QUEUE, parseTrainSpec, type TrainResult } from '@seqtrain/contracts';
import { importDataset } from '@seqtrain/dataset';
import { startTestStack, waitFor } from '@seqtrain/local-stack';
import { createBlobStore } from '@seqtrain/storage';
import { createSeqtrainWorker } from '@seqtrain/worker';
import type { trainModel } from '@seqtrain/workflows';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const require = createRequire(import.meta.url);
const log = (m: string): void => void process.stderr.write(`${m}\n`);

const EPOCHS = Number(process.env.BENCH_EPOCHS ?? 3);

function spawnTrainer(env: Record<string, string>, id: string): ChildProcess {
  const main = path.join(repoRoot, 'packages/cli/src/main.ts');
  return spawn(
    process.execPath,
    ['--import', require.resolve('tsx'), main, 'worker', '--role', 'trainer', '--id', id],
    {
      env: { ...process.env, ...env, SEQTRAIN_BACKEND: 'tensorflow' },
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
}

async function main(): Promise<void> {
  const stack = await startTestStack({ temporal: true });
  const store = createBlobStore(stack.config);
  const children: ChildProcess[] = [];
  const orchestrator = await createSeqtrainWorker({ role: 'orchestrator', config: stack.config, store });
  const running = orchestrator.run();
  const connection = await Connection.connect({ address: stack.config.temporal.address });
  const client = new Client({ connection });
  const results: {
    system: string;
    trainers: number;
    samplesPerSec: number;
    overheadFraction: number;
    rounds: number;
    ratioToBaseline: number;
  }[] = [];
  try {
    log('importing seattle-weather ...');
    await importDataset(store, {
      source: 'npm:vega-datasets/seattle-weather.csv',
      name: 'seattle-weather',
      kind: 'timeseries',
      cwd: repoRoot,
      timeColumn: 'date',
      valueColumns: ['temp_max', 'temp_min', 'precipitation', 'wind'],
      targetColumn: 'temp_max',
      window: 30,
      horizon: 1,
    });
    for (const trainers of [1, 2]) {
      const ids = Array.from({ length: trainers }, (_, i) => `bench-trainer-${trainers}-${i}`);
      for (const id of ids) children.push(spawnTrainer(stack.env, id));
      await waitFor(
        `${trainers} trainer(s)`,
        async () => {
          const files = await fsp
            .readdir(path.join(stack.env.SEQTRAIN_HOME!, 'run'))
            .catch(() => [] as string[]);
          return ids.every((id) => files.includes(`${id}.json`));
        },
        180_000,
        500,
      );
      const spec = parseTrainSpec({
        name: 'bench-distributed',
        dataset: 'seattle-weather',
        task: 'regression',
        model: { cell: 'lstm', units: [64] },
        training: {
          optimizer: { name: 'adam', learningRate: 0.002 },
          batchSize: 64,
          epochs: EPOCHS,
          seed: 1,
        },
        workers: trainers,
      });
      log(`training on ${trainers} trainer(s), ${EPOCHS} epochs ...`);
      const r: TrainResult = await client.workflow.execute<typeof trainModel>('trainModel', {
        taskQueue: ORCHESTRATOR_QUEUE,
        workflowId: `bench-distributed-${trainers}-${randomUUID().slice(0, 8)}`,
        args: [{ spec, register: false }],
      });
      results.push({
        system: `seqtrain-${trainers}-trainer${trainers > 1 ? 's' : ''}`,
        trainers,
        samplesPerSec: r.samplesPerSec,
        overheadFraction: r.overheadFraction,
        rounds: r.rounds,
        ratioToBaseline: 1,
      });
      for (const c of children.splice(0)) c.kill('SIGTERM');
      await new Promise((res) => setTimeout(res, 1000));
    }
  } finally {
    for (const c of children) c.kill('SIGKILL');
    orchestrator.shutdown();
    await running.catch(() => undefined);
    await connection.close();
    await stack.stop();
  }
  const base = results[0]!.samplesPerSec;
  for (const r of results) r.ratioToBaseline = Number((r.samplesPerSec / base).toFixed(3));
  log('\nsystem                 trainers  samples/s  overhead  rounds  ratio');
  for (const r of results)
    log(
      `${r.system.padEnd(22)} ${String(r.trainers).padStart(8)} ${r.samplesPerSec.toFixed(1).padStart(10)} ${(r.overheadFraction * 100).toFixed(1).padStart(8)}% ${String(r.rounds).padStart(7)} ${r.ratioToBaseline.toFixed(2).padStart(6)}`,
    );
  process.stdout.write(
    `${JSON.stringify({
      bench: 'distributed',
      machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? 'unknown', gpu: null },
      spec: { cell: 'lstm', units: 64, window: 30, batchSizePerWorker: 64, epochs: EPOCHS },
      results,
      baseline: results[0]!.system,
    })}\n`,
  );
}

await main();
