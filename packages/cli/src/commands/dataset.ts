/** `seqtrain dataset import|list|inspect`: see packages/dataset/README.md. */
import { parseArgs } from 'node:util';
import { BadInputError, DATASET_KINDS, type DatasetKind, type DatasetManifest } from '@seqtrain/contracts';
import {
  BUILTIN_SOURCES,
  ShardReader,
  datasetPrefix,
  importDataset,
  listDatasetNames,
  listVersions,
  loadManifest,
  readPointer,
  type ImportOptions,
} from '@seqtrain/dataset';
import type { BlobStore } from '@seqtrain/storage';
import { EXIT_FAILURE, EXIT_OK, type CliContext, type CommandHandler } from '../context';
import { DATASET_INSPECT_OPTIONS, DATASET_LIST_OPTIONS, IMPORT_OPTIONS, parseOptions } from '../help';

type OptionSpec = Record<string, { type: 'string' | 'boolean' }>;

const USAGE = `usage:
  seqtrain dataset import <source> --name NAME --kind ${DATASET_KINDS.join('|')} [options] [--json]
  seqtrain dataset list [--json]
  seqtrain dataset inspect NAME[@DIGEST] [--verify] [--json]
sources: a file, a folder, or ${BUILTIN_SOURCES.join(', ')}`;

/** parseArgs stops at the first unknown option; this names all of them. */
function parse<O extends OptionSpec>(
  argv: string[],
  options: O,
  command: string,
): ReturnType<typeof parseArgs<{ args: string[]; options: O; strict: true; allowPositionals: true }>> {
  const known = new Set(Object.keys(options));
  const unknown = argv
    .filter((a) => a.startsWith('-') && a !== '-' && a !== '--')
    .map((a) => a.replace(/^-+/, '').split('=')[0]!)
    .filter((n) => !known.has(n));
  if (unknown.length > 0) {
    throw new BadInputError(
      `dataset ${command}: unknown option${unknown.length > 1 ? 's' : ''} ${unknown.map((u) => `--${u}`).join(', ')}; known: ${[...known].map((k) => `--${k}`).join(', ')}`,
    );
  }
  return parseArgs({ args: argv, options, strict: true, allowPositionals: true });
}

function int(value: string | undefined, option: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^-?\d+$/.test(value.trim()) || !Number.isSafeInteger(n))
    throw new BadInputError(`${option}=${JSON.stringify(value)}: expected an integer`);
  return n;
}

function size(value: string | undefined, option: string): number | undefined {
  if (value === undefined) return undefined;
  const m = /^(\d+)\s*(k|m|g)?i?b?$/i.exec(value.trim());
  if (!m) throw new BadInputError(`${option}=${JSON.stringify(value)}: expected a byte size such as 8MiB`);
  const unit = { k: 2 ** 10, m: 2 ** 20, g: 2 ** 30 }[(m[2] ?? '').toLowerCase() as 'k' | 'm' | 'g'] ?? 1;
  return Number(m[1]) * unit;
}

function oneOf<T extends string>(
  value: string | undefined,
  allowed: readonly T[],
  option: string,
): T | undefined {
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value))
    throw new BadInputError(`${option}=${JSON.stringify(value)}: expected one of ${allowed.join(', ')}`);
  return value as T;
}

function human(bytes: number): string {
  return bytes >= 2 ** 20
    ? `${(bytes / 2 ** 20).toFixed(1)} MiB`
    : bytes >= 1024
      ? `${(bytes / 1024).toFixed(1)} KiB`
      : `${bytes} B`;
}

async function runImport(argv: string[], ctx: CliContext): Promise<number> {
  const { values: v, positionals } = parse(argv, parseOptions(IMPORT_OPTIONS), 'import');
  if (positionals.length !== 1)
    throw new BadInputError(`dataset import takes exactly one <source>, got ${positionals.length}\n${USAGE}`);
  if (!v.name) throw new BadInputError('dataset import: --name is required');
  const kind: DatasetKind | undefined = oneOf(v.kind, DATASET_KINDS, '--kind');
  if (!kind) throw new BadInputError(`dataset import: --kind is required (${DATASET_KINDS.join(', ')})`);
  if (v.lowercase && v['no-lowercase'])
    throw new BadInputError('--lowercase and --no-lowercase contradict each other');
  const valFraction = v['val-fraction'] === undefined ? undefined : Number(v['val-fraction']);
  if (valFraction !== undefined && !Number.isFinite(valFraction))
    throw new BadInputError(`--val-fraction=${JSON.stringify(v['val-fraction'])}: expected a number`);
  const defined = <T extends object>(o: T): T =>
    Object.fromEntries(Object.entries(o).filter(([, x]) => x !== undefined)) as T;
  const options: ImportOptions = {
    source: positionals[0]!,
    name: v.name,
    kind,
    cwd: ctx.cwd,
    log: (m) => ctx.io.err(`${m}\n`),
    ...defined({
      timeColumn: v['time-column'],
      valueColumns: v['value-columns']
        ?.split(',')
        .map((c) => c.trim())
        .filter(Boolean),
      targetColumn: v['target-column'],
      window: int(v.window, '--window'),
      horizon: int(v.horizon, '--horizon'),
      stride: int(v.stride, '--stride'),
      valFraction,
      perStep: v['per-step'],
      normalize: oneOf(v.normalize, ['zscore', 'last-value'] as const, '--normalize'),
      tokenizer: oneOf(v.tokenizer, ['char', 'word'] as const, '--tokenizer'),
      targetTokenizer: oneOf(v['target-tokenizer'], ['char', 'word'] as const, '--target-tokenizer'),
      maxLength: int(v['max-length'], '--max-length'),
      maxTargetLength: int(v['max-target-length'], '--max-target-length'),
      maxVocab: int(v['max-vocab'], '--max-vocab'),
      minCount: int(v['min-count'], '--min-count'),
      lowercase: v.lowercase ? true : v['no-lowercase'] ? false : undefined,
      textField: v['text-field'],
      labelField: v['label-field'],
      conditionField: v['condition-field'],
      sourceField: v['source-field'],
      targetField: v['target-field'],
      limit: int(v.limit, '--limit'),
      seed: int(v.seed, '--seed'),
      rowsPerBatch: int(v['rows-per-batch'], '--rows-per-batch'),
      targetPartBytes: size(v['part-size'], '--part-size'),
    }),
  };
  const result = await importDataset(ctx.store(), options);
  if (v.json) {
    const { created: _created, ...printed } = result;
    ctx.io.out(JSON.stringify(printed));
  } else {
    ctx.io.out(
      `${result.created ? 'imported' : 'unchanged'} ${result.name}@${result.digest}\n` +
        `  ${result.rows} rows (${result.trainRows} train, ${result.valRows} val), ${result.parts} part(s), ${human(result.bytes)}\n  ${result.uri}`,
    );
  }
  return EXIT_OK;
}

interface DatasetSummary {
  name: string;
  digest: string;
  uri: string;
  kind: DatasetKind;
  rows: number;
  trainRows: number;
  valRows: number;
  parts: number;
  batches: number;
  bytes: number;
}

function summary(m: DatasetManifest, store: BlobStore): DatasetSummary {
  return {
    name: m.name,
    digest: m.digest,
    uri: `${store.describe}/${datasetPrefix(m.name, m.digest)}/`,
    kind: m.signature.kind,
    rows: m.rows,
    trainRows: m.trainRows,
    valRows: m.valRows,
    parts: m.parts.length,
    batches: m.parts.reduce((n, p) => n + p.batches.length, 0),
    bytes: m.bytes,
  };
}

async function runList(argv: string[], ctx: CliContext): Promise<number> {
  const { values, positionals } = parse(argv, parseOptions(DATASET_LIST_OPTIONS), 'list');
  if (positionals.length > 0)
    throw new BadInputError(`dataset list takes no arguments, got ${positionals.join(' ')}`);
  const store = ctx.store();
  const rows: (DatasetSummary & { versions: number })[] = [];
  for (const name of await listDatasetNames(store)) {
    const m = await loadManifest(store, name);
    rows.push({ ...summary(m, store), versions: (await listVersions(store, name)).length });
  }
  if (values.json) {
    ctx.io.out(JSON.stringify({ datasets: rows }));
    return EXIT_OK;
  }
  if (rows.length === 0) {
    ctx.io.out(`no datasets in ${store.describe}`);
    return EXIT_OK;
  }
  const table = [['NAME', 'DIGEST', 'KIND', 'ROWS', 'TRAIN', 'VAL', 'PARTS', 'SIZE', 'VERSIONS']].concat(
    rows.map((r) =>
      [
        r.name,
        r.digest.slice(0, 12),
        r.kind,
        r.rows,
        r.trainRows,
        r.valRows,
        r.parts,
        human(r.bytes),
        r.versions,
      ].map(String),
    ),
  );
  const widths = table[0]!.map((_, c) => Math.max(...table.map((row) => row[c]!.length)));
  ctx.io.out(
    table
      .map((row) =>
        row
          .map((cell, c) => cell.padEnd(widths[c]!))
          .join('  ')
          .trimEnd(),
      )
      .join('\n'),
  );
  return EXIT_OK;
}

async function runInspect(argv: string[], ctx: CliContext): Promise<number> {
  const { values, positionals } = parse(argv, parseOptions(DATASET_INSPECT_OPTIONS), 'inspect');
  if (positionals.length !== 1)
    throw new BadInputError(`dataset inspect takes exactly one NAME[@DIGEST], got ${positionals.length}`);
  const store = ctx.store();
  const m = await loadManifest(store, positionals[0]!);
  if (values.verify) {
    await new ShardReader(store, m).verifyParts();
    ctx.io.err(`verified ${m.parts.length} part(s): sha256 and sizes match the manifest\n`);
  }
  const latest = (await readPointer(store, m.name))?.digest === m.digest;
  const sig = m.signature;
  const info = {
    ...summary(m, store),
    latest,
    schema: sig,
    arrowSchema: m.arrowSchema,
    stats: m.stats,
    source: m.source,
    partList: m.parts.map((p) => ({
      key: p.key,
      bytes: p.bytes,
      rows: p.rows,
      batches: p.batches.length,
      sha256: p.sha256,
    })),
  };
  if (values.json) {
    ctx.io.out(JSON.stringify(info));
    return EXIT_OK;
  }
  const lines = [
    `${m.name}@${m.digest}${latest ? ' (latest)' : ''}`,
    `  uri      ${info.uri}`,
    `  kind     ${sig.kind}`,
    `  rows     ${m.rows} (${m.trainRows} train, ${m.valRows} val) in ${info.batches} record batches, ${m.parts.length} part(s), ${human(m.bytes)}`,
    `  x        ${sig.x.dtype} ${JSON.stringify(sig.x.shape)}`,
    `  y        ${sig.y.dtype} ${JSON.stringify(sig.y.shape)}${sig.perStep ? ' (per step)' : ''}`,
    ...(sig.vocab
      ? [
          `  vocab    ${sig.vocab.tokenizer}, ${sig.vocab.tokens.length} tokens${sig.vocab.lowercase ? ', lower-cased' : ''}`,
        ]
      : []),
    ...(sig.targetVocab
      ? [`  target   ${sig.targetVocab.tokenizer}, ${sig.targetVocab.tokens.length} tokens`]
      : []),
    ...(sig.classes ? [`  classes  ${sig.classes.join(', ')}`] : []),
    ...(sig.condition ? [`  condition ${sig.condition.labels.join(', ')}`] : []),
    ...(sig.normalization
      ? [
          `  scaling  ${sig.normalization.mode}; features ${sig.normalization.featureColumns.join(', ')}; target ${sig.normalization.targetColumn}`,
        ]
      : []),
    '  arrow    ' + m.arrowSchema.map((f) => `${f.name}: ${f.type}`).join(', '),
    '  stats    ' + JSON.stringify(m.stats),
  ];
  ctx.io.out(lines.join('\n'));
  return EXIT_OK;
}

export const runDatasetCommand: CommandHandler = async (argv, ctx) => {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'import':
      return runImport(rest, ctx);
    case 'list':
      return runList(rest, ctx);
    case 'inspect':
      return runInspect(rest, ctx);
    case undefined:
    default:
      ctx.io.err(
        `${sub === undefined ? 'dataset: a subcommand is required' : `dataset: unknown subcommand ${JSON.stringify(sub)}`}\n${USAGE}\n`,
      );
      return EXIT_FAILURE;
  }
};
