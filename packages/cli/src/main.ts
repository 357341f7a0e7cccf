/**
 * The `seqtrain` command. The only place (with the worker) that reads process.env: the
 * environment is validated once here and handed to command handlers through CliContext.
 */
import { errorMessage, loadConfig, SeqtrainError } from '@seqtrain/contracts';
import { createBlobStore } from '@seqtrain/storage';
import type { BlobStore } from '@seqtrain/storage';
import { EXIT_FAILURE, type CliContext, type CommandHandler } from './context';
import { helpKey, helpText, wantsHelp } from './help';

/**
 * A command's module is loaded when the command runs: a trainer (`worker --role trainer`) then
 * holds only the worker's code, not the registry server, predict or the demo (a smaller heap is
 * less for the garbage collector to mark between steps), and every command starts on what it needs.
 */
function lazy<M>(load: () => Promise<M>, pick: (m: M) => CommandHandler): CommandHandler {
  return async (args, ctx) => pick(await load())(args, ctx);
}

const COMMANDS: Record<string, { handler: CommandHandler; summary: string }> = {
  up: {
    handler: lazy(
      () => import('./commands/stack'),
      (m) => m.runUp,
    ),
    summary: 'start the embedded stack (Temporal dev server, local S3, workers)',
  },
  down: {
    handler: lazy(
      () => import('./commands/stack'),
      (m) => m.runDown,
    ),
    summary: 'stop what `up` started',
  },
  status: {
    handler: lazy(
      () => import('./commands/stack'),
      (m) => m.runStatus,
    ),
    summary: 'what is running, backends of the workers',
  },
  demo: {
    handler: lazy(
      () => import('./commands/demo'),
      (m) => m.runDemo,
    ),
    summary: 'the end-to-end demo on the embedded stack',
  },
  worker: {
    handler: lazy(
      () => import('./commands/worker'),
      (m) => m.runWorkerCommand,
    ),
    summary: 'run a worker: --role orchestrator|trainer',
  },
  dataset: {
    handler: lazy(
      () => import('./commands/dataset'),
      (m) => m.runDatasetCommand,
    ),
    summary: 'import | list | inspect Arrow sequence datasets',
  },
  train: {
    handler: lazy(
      () => import('./commands/train'),
      (m) => m.runTrain,
    ),
    summary: 'train -c SPEC.yaml [--workers N] [--json]: a distributed training run',
  },
  sweep: {
    handler: lazy(
      () => import('./commands/sweep'),
      (m) => m.runSweepCommand,
    ),
    summary: 'sweep -c SWEEP.yaml [--watch] [--json]: a hyperparameter sweep',
  },
  retrain: {
    handler: lazy(
      () => import('./commands/retrain'),
      (m) => m.runRetrain,
    ),
    summary: 'retrain -c SPEC.yaml --code-version SHA [--promote-alias A]: idempotent CI retraining',
  },
  schedule: {
    handler: lazy(
      () => import('./commands/schedule'),
      (m) => m.runScheduleCommand,
    ),
    summary: 'create | list | pause | unpause | delete: periodic retraining',
  },
  runs: {
    handler: lazy(
      () => import('./commands/runs'),
      (m) => m.runRunsCommand,
    ),
    summary: 'list | show ID | stop ID | report ID: training runs',
  },
  models: {
    handler: lazy(
      () => import('./commands/models'),
      (m) => m.runModelsCommand,
    ),
    summary: 'list | show | promote | rollback | history | pull: the model registry',
  },
  registry: {
    handler: lazy(
      () => import('./commands/registry'),
      (m) => m.runRegistryCommand,
    ),
    summary: 'serve [--port P]: the registry HTTP API',
  },
  predict: {
    handler: lazy(
      () => import('./commands/predict'),
      (m) => m.runPredict,
    ),
    summary: 'predict NAME@REF --input FILE|-: inference with a registered model',
  },
};

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((k) => k.length));
  return [
    'usage: seqtrain <command> [options]',
    '',
    'commands:',
    ...Object.entries(COMMANDS).map(([k, v]) => `  ${k.padEnd(width)}  ${v.summary}`),
    '',
    'seqtrain <command> --help shows its options and an example.',
  ].join('\n');
}

// The AWS SDK warns on every start that Node 20 support ends in 2027; say it once in the README instead.
const emitWarning = process.emitWarning.bind(process);
process.emitWarning = (warning: string | Error, ...rest: unknown[]) => {
  const text = typeof warning === 'string' ? warning : warning.name + warning.message;
  const type = typeof rest[0] === 'string' ? rest[0] : (rest[0] as { type?: string } | undefined)?.type;
  if (type === 'NodeVersionSupportWarning' || /NodeVersionSupportWarning/.test(text)) return;
  (emitWarning as (...a: unknown[]) => void)(warning, ...rest);
};

export async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(`${usage()}\n`);
    return command ? 0 : EXIT_FAILURE;
  }
  const entry = COMMANDS[command];
  if (!entry) {
    process.stderr.write(`seqtrain: unknown command ${JSON.stringify(command)}\n\n${usage()}\n`);
    return EXIT_FAILURE;
  }
  // `seqtrain CMD [SUB] --help`: the options (the very specs the command parses with) and an example.
  if (wantsHelp(rest)) {
    const key = helpKey(argv) ?? command;
    process.stdout.write(`${helpText(key)}\n`);
    return 0;
  }
  let store: BlobStore | undefined;
  const config = loadConfig(env);
  const ctx: CliContext = {
    config,
    env,
    cwd: process.cwd(),
    io: {
      out: (t) => process.stdout.write(t.endsWith('\n') ? t : `${t}\n`),
      err: (t) => process.stderr.write(t),
      isTTY: Boolean(process.stderr.isTTY),
    },
    store: () => (store ??= createBlobStore(config, { onRetry: (m) => process.stderr.write(`[s3] ${m}\n`) })),
  };
  return entry.handler(rest, ctx);
}

const isEntry = process.argv[1] !== undefined && /[\\/]main\.ts$/.test(process.argv[1]);
if (isEntry) {
  main(process.argv.slice(2), process.env).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      const known =
        err instanceof SeqtrainError ||
        (err instanceof Error &&
          err.name === 'TypeError' &&
          'code' in err &&
          String((err as { code: unknown }).code).startsWith('ERR_PARSE_ARGS'));
      process.stderr.write(`seqtrain: error: ${errorMessage(err)}\n`);
      if (!known && process.env.SEQTRAIN_LOG_LEVEL === 'debug' && err instanceof Error)
        process.stderr.write(`${err.stack}\n`);
      process.exitCode = EXIT_FAILURE;
    },
  );
}
