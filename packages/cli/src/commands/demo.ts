/**
 * `seqtrain demo`: the whole product on the embedded stack, one model per recurrent shape on real
 * data (demo-shapes.ts): bring the stack up, serve the registry over HTTP, then for each shape
 * import, train on the trainer group, register, promote, load back with tf.loadLayersModel, show
 * it at work and score it against its baseline; end with a summary table. Stops what it started.
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { initBackend } from '@seqtrain/backend';
import { BadInputError, PermissionError } from '@seqtrain/contracts';
import {
  ModelRegistry,
  parseRegistryTokens,
  startRegistryServer,
  type RegistryCoordinator,
} from '@seqtrain/registry';
import { EXIT_FAILURE, EXIT_OK, type CliContext } from '../context';
import { DEMO_OPTIONS, parseOptions } from '../help';
import { readStates } from '@seqtrain/local-stack/stack-state';
import {
  beats,
  namesShape,
  pronunciationShape,
  SHAPES,
  spamShape,
  summaryTable,
  weatherShape,
  type DemoContext,
  type ShapeName,
  type ShapeReport,
} from './demo-shapes';
import { ensureStack, stopStack } from './stack';

const RUN: Record<ShapeName, { title: string; run: (d: DemoContext) => Promise<ShapeReport> }> = {
  weather: {
    title:
      'weather forecaster: tomorrow’s maximum temperature in Seattle from 14 days (LSTM, many-to-one regression)',
    run: weatherShape,
  },
  spam: {
    title: 'spam filter: SpamAssassin mails (GRU over words, many-to-one classification)',
    run: spamShape,
  },
  names: {
    title: 'name generator: English first names, conditioned on the list (LSTM over characters, one-to-many)',
    run: namesShape,
  },
  pronunciation: {
    title: 'pronunciation: CMUdict spellings to phonemes (GRU encoder-decoder, sequence-to-sequence)',
    run: pronunciationShape,
  },
};

function parseShapes(only: string | undefined): ShapeName[] {
  if (only === undefined) return [...SHAPES];
  const asked = only.split(',').map((s) => s.trim());
  const bad = asked.filter((s) => !(SHAPES as readonly string[]).includes(s));
  if (bad.length > 0 || asked.length === 0)
    throw new BadInputError(`--only=${JSON.stringify(only)}: expected some of ${SHAPES.join(', ')}`);
  return SHAPES.filter((s) => asked.includes(s));
}

export async function runDemo(argv: string[], ctx: CliContext): Promise<number> {
  const { values } = parseArgs({ args: argv, options: parseOptions(DEMO_OPTIONS), strict: true });
  const shapes = parseShapes(values.only);
  const trainers = Number(values.trainers);
  if (!Number.isInteger(trainers) || trainers < 1 || trainers > 16)
    throw new BadInputError(`--trainers=${values.trainers}: expected an integer from 1 to 16`);
  const log = (m: string): void => ctx.io.err(`${m}\n`);
  const wasRunning = (await readStates(ctx.config.home)).some((s) => s.kind === 'temporal');
  const started = Date.now();
  const steps = shapes.length + 2;
  try {
    log(
      `== 1/${steps} starting the embedded stack (Temporal dev server, local S3, orchestrator, ${trainers} trainers)`,
    );
    await ensureStack(ctx, trainers);
    await initBackend({ backend: ctx.config.backend });

    log(`\n== 2/${steps} serving the registry over HTTP with a read-only bearer token`);
    const token = randomBytes(16).toString('hex');
    // A coordinator that refuses writes: this server only serves (the registry entity workflow on
    // Temporal is the registry's one writer; the demo promotes through it).
    const readOnly: RegistryCoordinator = {
      registerVersion: () => Promise.reject(new PermissionError('the demo registry server is read-only')),
      moveAlias: () => Promise.reject(new PermissionError('the demo registry server is read-only')),
    };
    const store = ctx.store();
    const server = await startRegistryServer({
      registry: new ModelRegistry(store, readOnly),
      tokens: parseRegistryTokens(`${token}:read`),
      port: 0,
      host: '127.0.0.1',
    });
    log(`  ${server.url} (web UI at ${server.url}/ui/ while the demo runs)`);
    const reports: ShapeReport[] = [];
    const failed: string[] = [];
    try {
      const d: DemoContext = {
        ctx,
        store,
        log,
        registryUrl: server.url,
        token,
        trainers,
        quick: values.quick,
      };
      for (const [i, shape] of shapes.entries()) {
        log(`\n== ${i + 3}/${steps} ${RUN[shape].title}`);
        const t0 = Date.now();
        try {
          const r = await RUN[shape].run(d);
          reports.push(r);
          log(
            `  ${r.metric} ${r.value.toFixed(3)} vs ${r.baseline.toFixed(3)} for the ${r.baselineName} baseline: ${
              beats(r) ? 'the model wins' : 'the model does NOT beat it'
            } (${((Date.now() - t0) / 1000).toFixed(0)} s)`,
          );
        } catch (err) {
          failed.push(shape);
          log(`  ${shape} failed: ${(err as Error).message}`);
        }
      }
    } finally {
      await server.close();
    }

    log(`\n== summary (${((Date.now() - started) / 1000 / 60).toFixed(1)} minutes)\n`);
    ctx.io.out(summaryTable(reports));
    const losers = reports.filter((r) => !beats(r)).map((r) => r.shape);
    if (losers.length > 0) log(`\nnot better than their baselines this time: ${losers.join(', ')}`);
    if (failed.length > 0) log(`\nfailed: ${failed.join(', ')}`);
    log(
      '\n`seqtrain models list`, `seqtrain runs list` and `seqtrain registry serve` (web UI at /ui/) show what the demo made',
    );
    return failed.length > 0 ? EXIT_FAILURE : EXIT_OK;
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
