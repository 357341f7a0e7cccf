/**
 * `seqtrain demo`: the whole product on the embedded stack, on real data (vega-datasets'
 * Seattle weather): bring the stack up, import the dataset to Arrow on S3, train an LSTM on two
 * trainer processes, register it, promote it to `production`, serve the registry over HTTP and
 * load the model from it with tf.loadLayersModel to forecast tomorrow. Stops what it started.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '@seqtrain/backend';
import {
  DatasetSignatureSchema,
  ORCHESTRATOR_QUEUE,
  parseTrainSpec,
  PermissionError,
  TRAIN_WORKFLOW_TYPE,
} from '@seqtrain/contracts';
import { importDataset, loadCsvSource, parseCsv } from '@seqtrain/dataset';
import {
  ModelRegistry,
  parseRegistryTokens,
  RegistryReader,
  startRegistryServer,
  TemporalCoordinator,
  type RegistryCoordinator,
} from '@seqtrain/registry';
import type { trainModel } from '@seqtrain/workflows';
import { EXIT_FAILURE, EXIT_OK, type CliContext } from '../context';
import { DEMO_OPTIONS, parseOptions } from '../help';
import { readStates } from '../stack-state';
import { withClient } from '../temporal-client';
import { ensureStack, stopStack } from './stack';
import { describeFailure, followRun, summaryText } from './train';

const WINDOW = 14;
const FEATURES = ['temp_max', 'temp_min', 'precipitation', 'wind'];

export async function runDemo(argv: string[], ctx: CliContext): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: parseOptions(DEMO_OPTIONS),
    strict: true,
  });
  const log = (m: string): void => ctx.io.err(`${m}\n`);
  const wasRunning = (await readStates(ctx.config.home)).some((s) => s.kind === 'temporal');
  const trainers = Number(values.trainers);
  try {
    log('== 1/6 starting the embedded stack (Temporal dev server, local S3, orchestrator, trainers)');
    await ensureStack(ctx, trainers);

    log('\n== 2/6 importing Seattle weather (vega-datasets) as an Arrow dataset on S3');
    const source = 'npm:vega-datasets/seattle-weather.csv';
    const store = ctx.store();
    const imported = await importDataset(store, {
      source,
      cwd: ctx.cwd,
      name: 'seattle-weather',
      kind: 'timeseries',
      timeColumn: 'date',
      valueColumns: FEATURES,
      targetColumn: 'temp_max',
      window: WINDOW,
      horizon: 1,
      normalize: 'last-value',
      valFraction: 0.15,
      log: (m) => log(`  ${m}`),
    });
    log(
      `  ${imported.name}@${imported.digest.slice(0, 12)}: ${imported.trainRows} training and ${imported.valRows} validation windows, ${imported.bytes} bytes`,
    );

    log(
      `\n== 3/6 training an LSTM forecaster on a group of ${trainers} trainer processes (gradients exchanged between them every step, summed in rank order)`,
    );
    const spec = parseTrainSpec({
      name: 'weather-forecast',
      dataset: `seattle-weather@${imported.digest}`,
      task: 'regression',
      model: { cell: 'lstm', units: [32] },
      training: {
        optimizer: { name: 'adam', learningRate: 0.01 },
        batchSize: 32,
        epochs: Number(values.epochs),
        seed: 42,
      },
      workers: Math.max(1, trainers),
    });
    const workflowId = `demo-train-${randomUUID().slice(0, 8)}`;
    const result = await withClient(ctx, async (client) => {
      await client.workflow.start<typeof trainModel>(TRAIN_WORKFLOW_TYPE, {
        taskQueue: ORCHESTRATOR_QUEUE,
        workflowId,
        args: [{ spec, codeVersion: 'demo', actor: 'demo' }],
      });
      log(
        `  run ${workflowId} (watch it in the Temporal UI at http://127.0.0.1:${ctx.config.temporal.uiPort})`,
      );
      return followRun(ctx, client, workflowId, true);
    }).catch((err: unknown) => {
      throw new Error(`training failed: ${describeFailure(err)}`, { cause: err });
    });
    log(summaryText(result));
    const mae = result.metrics.val_mae_units;
    const persistence = result.metrics.val_persistence_mae_units;
    if (mae !== undefined && persistence !== undefined) {
      log(
        `  validation MAE ${mae.toFixed(2)} °C vs ${persistence.toFixed(2)} °C for "tomorrow = today": ${mae < persistence ? 'the model wins' : 'persistence wins this time'}`,
      );
    }
    if (!result.model) throw new Error('the run registered no model');

    log(`\n== 4/6 promoting ${result.model.name}@${result.model.version} to production`);
    await withClient(ctx, async (client) => {
      const registry = new ModelRegistry(store, new TemporalCoordinator(client));
      const event = await registry.promote(result.model!.name, 'production', result.model!.version, {
        reason: 'demo: beats persistence on validation',
        actor: 'demo',
        workflowId,
      });
      log(`  production: ${event.from ?? 'none'} -> ${event.to} (event ${event.seq})`);
    });

    log(
      '\n== 5/6 serving the registry over HTTP (bearer tokens) and loading the model with tf.loadLayersModel',
    );
    const token = randomBytes(16).toString('hex');
    // A read-only token and a coordinator that refuses writes: this server only serves files (the
    // registry entity workflow is the registry's one writer).
    const readOnly: RegistryCoordinator = {
      registerVersion: () => Promise.reject(new PermissionError('the demo registry server is read-only')),
      moveAlias: () => Promise.reject(new PermissionError('the demo registry server is read-only')),
    };
    const server = await startRegistryServer({
      registry: new ModelRegistry(store, readOnly),
      tokens: parseRegistryTokens(`${token}:read`),
      port: 0,
      host: '127.0.0.1',
    });
    try {
      await initBackend({ backend: ctx.config.backend });
      const url = `${server.url}/v1/models/weather-forecast/aliases/production/model.json`;
      const model = await tf.loadLayersModel(url, {
        requestInit: { headers: { Authorization: `Bearer ${token}` } },
      });
      log(`  loaded ${url}`);

      log('\n== 6/6 forecasting the last day of the data from the 14 days before it');
      const { file, text } = await loadCsvSource(source, ctx.cwd);
      const { rows, header } = parseCsv(text, file);
      const cols = FEATURES.map((c) => header.indexOf(c));
      const series = rows.map((r) => cols.map((k) => Number(r[k])));
      const windowRows = series.slice(-WINDOW - 1, -1);
      const actual = series.at(-1)![0]!;
      const card = (await new RegistryReader(store).resolve('weather-forecast@production')).card;
      const signature = DatasetSignatureSchema.parse(
        (card.hyperparameters as { signature: unknown }).signature,
      );
      const norm = signature.normalization!;
      const last = windowRows.at(-1)!;
      const x = tf.tensor3d([windowRows.map((r) => r.map((v, f) => (v - last[f]!) / norm.std[f]!))]);
      const scaled = (model.predict(x) as tf.Tensor).dataSync()[0]!;
      const predicted = last[0]! + scaled * norm.targetStd;
      tf.dispose([x]);
      log(
        `  ${rows.at(-1)![header.indexOf('date')]}: predicted max ${predicted.toFixed(1)} °C, actual ${actual.toFixed(1)} °C, yesterday ${last[0]!.toFixed(1)} °C`,
      );
      model.dispose();
    } finally {
      await server.close();
    }
    log(
      '\ndemo finished: `seqtrain models show weather-forecast@production` and `seqtrain runs list` show what it made',
    );
    return EXIT_OK;
  } catch (err) {
    log(`\ndemo failed: ${(err as Error).message}`);
    return EXIT_FAILURE;
  } finally {
    if (!wasRunning && !values.keep) {
      log('stopping the stack the demo started (pass --keep to leave it running)');
      await stopStack(ctx);
    }
  }
}
