/**
 * Every command's options, in one place: the handlers parse their arguments with these specs
 * (`optionsOf`), `--help` prints them (`helpText`), and a test parses every command line of the
 * README with them. An option that exists is therefore always documented, and the other way round.
 */
import { parseArgs } from 'node:util';
import { BACKEND_NAMES, BadInputError, DATASET_KINDS } from '@seqtrain/contracts';

export interface OptionHelp {
  type: 'string' | 'boolean';
  short?: string;
  default?: string | boolean;
  /** the value's name in the usage, e.g. FILE (strings only) */
  value?: string;
  help: string;
}

export interface CommandHelp {
  usage: string;
  about: string;
  options: Record<string, OptionHelp>;
  examples: string[];
}

const json = {
  type: 'boolean',
  help: 'print one JSON object on stdout instead of text',
} as const satisfies OptionHelp;
const jsonDefault = { ...json, default: false } as const satisfies OptionHelp;
type Options = Record<string, OptionHelp>;

export const IMPORT_OPTIONS = {
  name: { type: 'string', value: 'NAME', help: 'dataset name (lower case, digits, . _ -)' },
  kind: { type: 'string', value: 'KIND', help: `what the examples are: ${DATASET_KINDS.join(', ')}` },
  json,
  'time-column': { type: 'string', value: 'COL', help: 'timeseries: the column that orders the rows' },
  'value-columns': { type: 'string', value: 'A,B', help: 'timeseries: the input feature columns' },
  'target-column': { type: 'string', value: 'COL', help: 'timeseries: the column to forecast' },
  window: { type: 'string', value: 'N', help: 'timeseries: time steps per input window (default 14)' },
  horizon: { type: 'string', value: 'N', help: 'timeseries: steps ahead to forecast (default 1)' },
  stride: { type: 'string', value: 'N', help: 'timeseries: rows between window starts (default 1)' },
  'val-fraction': { type: 'string', value: 'F', help: 'share held out for validation (default 0.1)' },
  'per-step': { type: 'boolean', help: 'timeseries: a target at every step (sequence output)' },
  normalize: { type: 'string', value: 'MODE', help: 'timeseries: zscore (default) or last-value' },
  tokenizer: { type: 'string', value: 'T', help: 'text kinds: char or word' },
  'target-tokenizer': {
    type: 'string',
    value: 'T',
    help: 'seq2seq: tokenizer of the targets (default word)',
  },
  'max-length': { type: 'string', value: 'N', help: 'text kinds: longest input in tokens' },
  'max-target-length': { type: 'string', value: 'N', help: 'seq2seq: longest target in tokens' },
  'max-vocab': { type: 'string', value: 'N', help: 'text kinds: vocabulary size cap (words: 20000)' },
  'min-count': { type: 'string', value: 'N', help: 'text kinds: drop tokens seen fewer times' },
  lowercase: { type: 'boolean', help: 'text kinds: fold case (text-class default)' },
  'no-lowercase': { type: 'boolean', help: 'text kinds: keep case' },
  'text-field': { type: 'string', value: 'F', help: 'records: the text field (default text)' },
  'label-field': { type: 'string', value: 'F', help: 'text-class: the label field (default label)' },
  'condition-field': { type: 'string', value: 'F', help: 'sequence: condition the generator on this field' },
  'source-field': { type: 'string', value: 'F', help: 'seq2seq: the input field (default source)' },
  'target-field': { type: 'string', value: 'F', help: 'seq2seq: the output field (default target)' },
  limit: { type: 'string', value: 'N', help: 'use at most N examples' },
  seed: { type: 'string', value: 'N', help: 'seed of the train/validation split (default 0)' },
  'rows-per-batch': { type: 'string', value: 'N', help: 'rows per Arrow record batch (default 256)' },
  'part-size': { type: 'string', value: 'BYTES', help: 'target size of one part file (default 8 MiB)' },
} as const satisfies Options;

export const SCHEDULE_OPTIONS = {
  config: { type: 'string', short: 'c', value: 'SPEC.yaml', help: 'the training spec to retrain' },
  'code-version': { type: 'string', value: 'SHA', help: 'code version recorded in the model card' },
  'promote-alias': { type: 'string', value: 'ALIAS', help: 'move this alias when the new model is better' },
  cron: { type: 'string', value: 'EXPR', help: 'cron expression (UTC), e.g. "0 3 * * *"' },
  every: { type: 'string', value: 'DURATION', help: 'fixed interval, e.g. 1d, 6h' },
  paused: { type: 'boolean', default: false, help: 'create the schedule paused' },
  json: jsonDefault,
} as const satisfies Options;

export const NOTE_OPTIONS = {
  note: { type: 'string', value: 'TEXT', help: 'why (kept with the schedule)' },
} as const satisfies Options;

export const RUNS_OPTIONS = {
  json: jsonDefault,
  output: {
    type: 'string',
    short: 'o',
    value: 'FILE',
    help: 'report: FILE.html (default run-ID.html), FILE.md or - (Markdown on stdout)',
  },
  reason: { type: 'string', value: 'TEXT', help: 'stop: why (recorded in the run)' },
  limit: { type: 'string', default: '50', value: 'N', help: 'list: at most N runs' },
} as const satisfies Options;

const runsSub = (sub: string, usage: string, about: string, examples: string[]): [string, CommandHelp] => [
  `runs ${sub}`,
  { usage, about, options: RUNS_OPTIONS, examples },
];

export const UP_OPTIONS = {
  trainers: { type: 'string', default: '2', value: 'N', help: 'trainer workers to start' },
  detach: { type: 'boolean', default: false, help: 'start in the background and return' },
  json: jsonDefault,
} as const satisfies Options;

export const DOWN_OPTIONS = {} as const satisfies Options;

export const STATUS_OPTIONS = { json: jsonDefault } as const satisfies Options;

export const DEMO_OPTIONS = {
  keep: { type: 'boolean', default: false, help: 'leave the stack running afterwards' },
  trainers: { type: 'string', default: '2', value: 'N', help: 'trainer workers' },
  quick: { type: 'boolean', default: false, help: 'fewer epochs and examples: about 2 minutes' },
  only: {
    type: 'string',
    value: 'SHAPES',
    help: 'some of weather,spam,names,pronunciation (default all four)',
  },
} as const satisfies Options;

export const WORKER_OPTIONS = {
  role: { type: 'string', value: 'ROLE', help: 'orchestrator (workflows, light activities) or trainer' },
  backend: {
    type: 'string',
    value: 'B',
    help: `trainer backend: ${BACKEND_NAMES.join(', ')} (default SEQTRAIN_BACKEND or auto)`,
  },
  concurrency: { type: 'string', value: 'N', help: 'activities run at once' },
  id: { type: 'string', value: 'ID', help: 'worker id (default ROLE-PID)' },
} as const satisfies Options;

export const DATASET_LIST_OPTIONS = { json } as const satisfies Options;

export const DATASET_INSPECT_OPTIONS = {
  json,
  verify: { type: 'boolean', help: 'read every part and check it' },
} as const satisfies Options;

export const TRAIN_OPTIONS = {
  config: { type: 'string', short: 'c', value: 'SPEC.yaml', help: 'the training spec' },
  workers: { type: 'string', value: 'N', help: "trainers in the group (overrides the spec's workers)" },
  watch: { type: 'boolean', default: false, help: 'follow a run already started under --id' },
  json: jsonDefault,
  detach: { type: 'boolean', default: false, help: 'start and return the run id' },
  'code-version': {
    type: 'string',
    value: 'SHA',
    help: 'code version recorded in the card (default unknown)',
  },
  id: {
    type: 'string',
    value: 'ID',
    help: 'run id; the same id with the same inputs returns the earlier run',
  },
  'no-register': { type: 'boolean', default: false, help: 'train and evaluate, register nothing' },
  'segment-seconds': { type: 'string', value: 'S', help: 'length of one training segment (default 60)' },
  'max-trainers': { type: 'string', value: 'N', help: 'largest group a run re-forms into' },
} as const satisfies Options;

export const SWEEP_OPTIONS = {
  config: { type: 'string', short: 'c', value: 'SWEEP.yaml', help: 'the sweep spec' },
  watch: { type: 'boolean', default: false, help: 'print each trial as it reports' },
  json: jsonDefault,
  detach: { type: 'boolean', default: false, help: 'start and return the sweep id' },
  id: { type: 'string', value: 'ID', help: 'sweep id' },
  'code-version': { type: 'string', value: 'SHA', help: 'code version for the cards' },
  'watch-interval': { type: 'string', value: 'S', help: 'seconds between watch updates' },
} as const satisfies Options;

export const RETRAIN_OPTIONS = {
  config: { type: 'string', short: 'c', value: 'SPEC.yaml', help: 'the training spec' },
  'code-version': { type: 'string', value: 'SHA', help: 'the code version being retrained (required)' },
  'promote-alias': { type: 'string', value: 'ALIAS', help: 'move this alias when the new model is better' },
  workers: { type: 'string', value: 'N', help: 'trainers in the group' },
  json: jsonDefault,
} as const satisfies Options;

export const SCHEDULE_LIST_OPTIONS = { json: jsonDefault } as const satisfies Options;

export const SCHEDULE_DELETE_OPTIONS = {} as const satisfies Options;

export const MODELS_LIST_OPTIONS = { json } as const satisfies Options;

export const MODELS_SHOW_OPTIONS = { json } as const satisfies Options;

export const MODELS_PROMOTE_OPTIONS = {
  alias: { type: 'string', value: 'ALIAS', help: 'the alias to move (required)' },
  reason: { type: 'string', value: 'TEXT', help: 'why (required; kept in the history)' },
  actor: { type: 'string', value: 'WHO', help: 'who (default cli:$USER)' },
  'workflow-id': { type: 'string', value: 'ID', help: 'the run or pipeline behind the move' },
  json,
} as const satisfies Options;

export const MODELS_ROLLBACK_OPTIONS = {
  alias: { type: 'string', value: 'ALIAS', help: 'the alias to move back (required)' },
  reason: { type: 'string', value: 'TEXT', help: 'why (required)' },
  to: { type: 'string', value: 'VERSION', help: 'this version instead of the previous one' },
  actor: { type: 'string', value: 'WHO', help: 'who (default cli:$USER)' },
  json,
} as const satisfies Options;

export const MODELS_HISTORY_OPTIONS = {
  alias: { type: 'string', value: 'ALIAS', help: 'the alias (required)' },
  at: { type: 'string', value: 'ISO-TIME', help: 'the version it pointed at at this time' },
  json,
} as const satisfies Options;

export const MODELS_PULL_OPTIONS = {
  out: { type: 'string', short: 'o', value: 'DIR', help: 'where to write model.json, weights and card.json' },
  json,
} as const satisfies Options;

export const REGISTRY_SERVE_OPTIONS = {
  port: { type: 'string', value: 'P', help: 'port (default 8780; 0 picks a free one)' },
  host: { type: 'string', value: 'H', help: 'address to listen on (default 127.0.0.1)' },
  coordinator: { type: 'string', value: 'temporal', help: 'the registry writer; only temporal exists' },
  json,
} as const satisfies Options;

export const PREDICT_OPTIONS = {
  input: {
    type: 'string',
    short: 'i',
    value: 'FILE',
    help: 'CSV (forecasts), JSON, or text lines; - for stdin',
  },
  json: jsonDefault,
  count: { type: 'string', default: '5', value: 'N', help: 'generation: sequences to sample' },
  condition: { type: 'string', value: 'C', help: 'generation: the condition (e.g. female)' },
  temperature: {
    type: 'string',
    default: '0',
    value: 'T',
    help: 'generation: sampling temperature (0 = greedy)',
  },
  beam: { type: 'string', default: '1', value: 'K', help: 'seq2seq: beam width' },
  seed: { type: 'string', default: '0', value: 'S', help: 'sampling seed' },
} as const satisfies Options;

export const COMMAND_HELP: Record<string, CommandHelp> = {
  up: {
    usage: 'seqtrain up [--trainers N] [--detach] [--json]',
    about:
      'Starts the embedded stack: Temporal dev server, local S3 (versitygw) and workers (one orchestrator, N trainers). In the foreground until Ctrl-C unless --detach.',
    options: UP_OPTIONS,
    examples: ['seqtrain up --detach --trainers 2'],
  },
  down: {
    usage: 'seqtrain down',
    about: 'Stops what `seqtrain up` started (workers first, then Temporal and S3).',
    options: DOWN_OPTIONS,
    examples: ['seqtrain down'],
  },
  status: {
    usage: 'seqtrain status [--json]',
    about: 'What is running: Temporal, S3, workers and the backends the trainers use.',
    options: STATUS_OPTIONS,
    examples: ['seqtrain status --json'],
  },
  demo: {
    usage: 'seqtrain demo [--quick] [--only SHAPES] [--trainers N] [--keep]',
    about:
      'The whole product on the embedded stack, one model per recurrent shape on real data: a weather forecaster (many-to-one regression), a spam filter (classification), a name generator (one-to-many) and a pronunciation model (seq2seq). Each is imported to Arrow on S3, trained on N trainers, registered, promoted, loaded back over HTTP with tf.loadLayersModel, shown at work and scored against its naive baseline; a summary table ends it (about 6 minutes on 2 cores, 1 with --quick). Leaves the stack as it found it unless --keep.',
    options: DEMO_OPTIONS,
    examples: ['seqtrain demo', 'seqtrain demo --quick --only weather,spam'],
  },
  worker: {
    usage: 'seqtrain worker --role orchestrator|trainer [--backend B] [--concurrency N] [--id ID]',
    about: 'Runs one worker against the configured Temporal and S3 (SEQTRAIN_* environment variables).',
    options: WORKER_OPTIONS,
    examples: ['seqtrain worker --role trainer --backend auto'],
  },
  'dataset import': {
    usage: `seqtrain dataset import SOURCE --name NAME --kind ${DATASET_KINDS.join('|')} [options] [--json]`,
    about:
      'Imports a CSV file (timeseries), a JSON/JSONL file, a folder or a built-in npm: source into Arrow parts on S3, content-addressed; an identical import is a no-op.',
    options: IMPORT_OPTIONS,
    examples: [
      'seqtrain dataset import npm:vega-datasets/seattle-weather.csv --name seattle-weather --kind timeseries --time-column date --value-columns temp_max,temp_min,precipitation,wind --target-column temp_max --window 14 --horizon 1',
      'seqtrain dataset import npm:spam-assassin --name spam --kind text-class --tokenizer word',
    ],
  },
  'dataset list': {
    usage: 'seqtrain dataset list [--json]',
    about: 'Lists imported datasets with their digests and sizes.',
    options: DATASET_LIST_OPTIONS,
    examples: ['seqtrain dataset list'],
  },
  'dataset inspect': {
    usage: 'seqtrain dataset inspect NAME[@DIGEST] [--verify] [--json]',
    about:
      "Shows a dataset's manifest: signature, splits, parts; --verify reads every part and checks its sha256.",
    options: DATASET_INSPECT_OPTIONS,
    examples: ['seqtrain dataset inspect seattle-weather --verify'],
  },
  train: {
    usage: 'seqtrain train -c SPEC.yaml [--workers N] [--id ID] [--detach|--watch] [--json]',
    about:
      'Starts a distributed training run of a spec (YAML or JSON) and follows it with a progress bar; the best model is registered unless --no-register.',
    options: TRAIN_OPTIONS,
    examples: ['seqtrain train -c examples/weather-forecast.yaml --workers 2'],
  },
  sweep: {
    usage: 'seqtrain sweep -c SWEEP.yaml [--watch] [--detach] [--id ID] [--json]',
    about: 'Runs a hyperparameter sweep (grid or random) as child training runs; weak trials stop early.',
    options: SWEEP_OPTIONS,
    examples: ['seqtrain sweep -c examples/weather-sweep.yaml --watch'],
  },
  retrain: {
    usage: 'seqtrain retrain -c SPEC.yaml --code-version SHA [--promote-alias A] [--workers N] [--json]',
    about:
      'CI retraining: one run per (spec, dataset, code version); promotes only a better model. Exit 0 promoted or already done, 2 trained but not better.',
    options: RETRAIN_OPTIONS,
    examples: [
      'seqtrain retrain -c examples/weather-forecast.yaml --code-version "$GIT_SHA" --promote-alias production',
    ],
  },
  'schedule create': {
    usage:
      'seqtrain schedule create ID -c SPEC.yaml --code-version SHA (--cron EXPR | --every 1d) [--promote-alias A] [--paused] [--json]',
    about: 'Creates a Temporal schedule that retrains the spec periodically.',
    options: SCHEDULE_OPTIONS,
    examples: [
      'seqtrain schedule create nightly -c examples/weather-forecast.yaml --code-version v1 --every 1d',
    ],
  },
  'schedule list': {
    usage: 'seqtrain schedule list [--json]',
    about: "Lists seqtrain's retraining schedules.",
    options: SCHEDULE_LIST_OPTIONS,
    examples: ['seqtrain schedule list'],
  },
  'schedule pause': {
    usage: 'seqtrain schedule pause ID [--note TEXT]',
    about: 'Pauses a schedule.',
    options: NOTE_OPTIONS,
    examples: ['seqtrain schedule pause nightly --note "data migration"'],
  },
  'schedule unpause': {
    usage: 'seqtrain schedule unpause ID [--note TEXT]',
    about: 'Unpauses a schedule.',
    options: NOTE_OPTIONS,
    examples: ['seqtrain schedule unpause nightly'],
  },
  'schedule delete': {
    usage: 'seqtrain schedule delete ID',
    about: 'Deletes a schedule (runs it started are kept).',
    options: SCHEDULE_DELETE_OPTIONS,
    examples: ['seqtrain schedule delete nightly'],
  },
  ...Object.fromEntries([
    runsSub('list', 'seqtrain runs list [--limit N] [--json]', 'Lists training runs, newest first.', [
      'seqtrain runs list',
    ]),
    runsSub('show', 'seqtrain runs show ID [--json]', "A run's status, progress, metrics or error.", [
      'seqtrain runs show weather-1 --json',
    ]),
    runsSub(
      'stop',
      'seqtrain runs stop ID [--reason TEXT]',
      'Stops a run after its current step; the best evaluated checkpoint is registered.',
      ['seqtrain runs stop weather-1 --reason "enough"'],
    ),
    runsSub('pause', 'seqtrain runs pause ID', 'Pauses a run after its current step, freeing its trainers.', [
      'seqtrain runs pause weather-1',
    ]),
    runsSub('resume', 'seqtrain runs resume ID', 'Resumes a paused run.', ['seqtrain runs resume weather-1']),
    runsSub(
      'report',
      'seqtrain runs report ID [-o FILE.html|FILE.md|-]',
      'Writes a run page (self-contained HTML with curves) or a Markdown report.',
      ['seqtrain runs report weather-1 -o weather-1.html'],
    ),
  ]),
  'models list': {
    usage: 'seqtrain models list [--json]',
    about: 'Registered models with their version counts and latest versions.',
    options: MODELS_LIST_OPTIONS,
    examples: ['seqtrain models list'],
  },
  'models show': {
    usage: 'seqtrain models show NAME[@VERSION|@ALIAS] [--json]',
    about: "A model's versions and aliases, or one version's card.",
    options: MODELS_SHOW_OPTIONS,
    examples: ['seqtrain models show weather-forecast@production'],
  },
  'models promote': {
    usage:
      'seqtrain models promote NAME@VERSION --alias ALIAS --reason TEXT [--actor WHO] [--workflow-id ID] [--json]',
    about: 'Points an alias at a version (an event in the alias history).',
    options: MODELS_PROMOTE_OPTIONS,
    examples: ['seqtrain models promote weather-forecast@3 --alias production --reason "better val_loss"'],
  },
  'models rollback': {
    usage: 'seqtrain models rollback NAME --alias ALIAS --reason TEXT [--to VERSION] [--actor WHO] [--json]',
    about: 'Moves an alias back to where it pointed before its last move (or to --to).',
    options: MODELS_ROLLBACK_OPTIONS,
    examples: ['seqtrain models rollback weather-forecast --alias production --reason "latency regression"'],
  },
  'models history': {
    usage: 'seqtrain models history NAME --alias ALIAS [--at ISO-TIME] [--json]',
    about: "An alias's moves (who, when, why), or where it pointed at a time.",
    options: MODELS_HISTORY_OPTIONS,
    examples: ['seqtrain models history weather-forecast --alias production'],
  },
  'models pull': {
    usage: 'seqtrain models pull NAME@REF -o DIR [--json]',
    about: "Downloads a version's files (checked against the card's sha256) into DIR.",
    options: MODELS_PULL_OPTIONS,
    examples: ['seqtrain models pull weather-forecast@production -o ./model'],
  },
  'registry serve': {
    usage: 'seqtrain registry serve [--port P] [--host H] [--json]',
    about:
      'Serves the registry HTTP API (tf.loadLayersModel can load from it) and its web UI at /ui/, with the bearer tokens of SEQTRAIN_REGISTRY_TOKENS.',
    options: REGISTRY_SERVE_OPTIONS,
    examples: ['SEQTRAIN_REGISTRY_TOKENS="$READ:read,$CI:read+write" seqtrain registry serve --port 8780'],
  },
  predict: {
    usage:
      'seqtrain predict NAME@REF --input FILE|- [--json] [--count N] [--condition C] [--temperature T] [--beam K] [--seed S]',
    about:
      "Inference with a registered model: forecasts from CSV rows, labels for texts, generated sequences, or seq2seq outputs; inputs are encoded exactly as the model's dataset was.",
    options: PREDICT_OPTIONS,
    examples: ['seqtrain predict weather-forecast@production --input data/last-14-days.csv'],
  },
};

/** Commands whose first argument is a subcommand. */
export const SUBCOMMANDS: Record<string, string[]> = Object.entries(COMMAND_HELP).reduce<
  Record<string, string[]>
>((acc, [key]) => {
  const [cmd, sub] = key.split(' ');
  if (cmd && sub) (acc[cmd] ??= []).push(sub);
  return acc;
}, {});

/** What parseArgs takes from an option (its help text stays here). */
export type ParseOptionsOf<O extends Options> = { -readonly [K in keyof O]: Omit<O[K], 'help' | 'value'> };

/** A command's option specs as parseArgs options, keeping their literal types. */
export function parseOptions<O extends Options>(options: O): ParseOptionsOf<O> {
  return Object.fromEntries(
    Object.entries(options).map(([name, o]) => [
      name,
      {
        type: o.type,
        ...(o.short ? { short: o.short } : {}),
        ...(o.default !== undefined ? { default: o.default } : {}),
      },
    ]),
  ) as ParseOptionsOf<O>;
}

/** The parseArgs options of a command by its help key. */
export function optionsOf(key: string): ParseOptionsOf<Options> {
  const entry = COMMAND_HELP[key];
  if (!entry) throw new Error(`no help entry for ${key}`);
  return parseOptions(entry.options);
}

/** The help key for an argument list: `runs report ID` -> `runs report`, `train -c x` -> `train`. */
export function helpKey(argv: readonly string[]): string | undefined {
  const [cmd, sub] = argv;
  if (!cmd) return undefined;
  if (sub && COMMAND_HELP[`${cmd} ${sub}`]) return `${cmd} ${sub}`;
  return COMMAND_HELP[cmd] ? cmd : undefined;
}

export function wantsHelp(argv: readonly string[]): boolean {
  return argv.includes('--help') || argv.includes('-h');
}

export function helpText(key: string): string {
  const subs = SUBCOMMANDS[key];
  if (subs && !COMMAND_HELP[key]) {
    return [
      `usage: seqtrain ${key} <${subs.join('|')}> [options]`,
      '',
      ...subs.map((s) => `  ${COMMAND_HELP[`${key} ${s}`]?.usage ?? s}`),
      '',
      `seqtrain ${key} <subcommand> --help shows one subcommand's options and an example.`,
    ].join('\n');
  }
  const e = COMMAND_HELP[key];
  if (!e) throw new BadInputError(`unknown command ${JSON.stringify(key)}`);
  const flags = Object.entries(e.options).map(([name, o]) => {
    const flag = `${o.short ? `-${o.short}, ` : '    '}--${name}${o.type === 'string' ? ` ${o.value ?? 'VALUE'}` : ''}`;
    const dflt = o.default !== undefined && o.default !== false ? ` (default ${String(o.default)})` : '';
    return [flag, `${o.help}${dflt}`] as const;
  });
  const width = Math.max(16, ...flags.map(([f]) => f.length));
  return [
    `usage: ${e.usage}`,
    '',
    e.about,
    '',
    'options:',
    ...flags.map(([f, h]) => `  ${f.padEnd(width)}  ${h}`),
    `  ${'-h, --help'.padEnd(width)}  show this help`,
    '',
    e.examples.length > 1 ? 'examples:' : 'example:',
    ...e.examples.map((x) => `  ${x}`),
  ].join('\n');
}

/**
 * Parses a command line as its handler would, without running it: for the README test and for
 * handlers that want the strict parse with every unknown option named.
 */
export function parseCommandLine(argv: readonly string[]): {
  key: string;
  values: Record<string, unknown>;
  positionals: string[];
} {
  const key = helpKey(argv);
  if (!key) throw new BadInputError(`unknown command ${JSON.stringify(argv.slice(0, 2).join(' '))}`);
  const rest = argv.slice(key.split(' ').length);
  const { values, positionals } = parseArgs({
    args: [...rest],
    options: optionsOf(key),
    strict: true,
    allowPositionals: true,
  });
  return { key, values, positionals };
}
