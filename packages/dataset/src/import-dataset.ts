/**
 * `dataset import`: raw source -> examples -> Arrow parts -> manifest, with every option checked
 * up front so that bad input fails before anything is written.
 */
import { BadInputError, type DatasetImportResult, type DatasetKind } from '@seqtrain/contracts';
import type { BlobStore } from '@seqtrain/storage';
import { parseCsv } from './csv';
import type { BuiltDataset } from './examples';
import { assertDatasetName } from './manifest';
import { builtinDefaults, loadCsvSource, loadRecords, stringField, type RawRecord } from './sources';
import { buildSeq2seq, buildSequence, buildTextClass } from './text-examples';
import { buildTimeseries } from './timeseries';
import type { TokenizerName } from './tokenizer';
import { layoutDataset, writeDataset, type LayoutOptions } from './write-dataset';

export interface ImportOptions extends LayoutOptions {
  source: string;
  name: string;
  kind: DatasetKind;
  /** relative paths and npm: packages resolve from here */
  cwd?: string;
  // timeseries
  timeColumn?: string;
  valueColumns?: string[];
  targetColumn?: string;
  window?: number;
  horizon?: number;
  stride?: number;
  perStep?: boolean;
  normalize?: 'zscore' | 'last-value';
  // token kinds
  tokenizer?: TokenizerName;
  targetTokenizer?: TokenizerName;
  maxLength?: number;
  maxTargetLength?: number;
  maxVocab?: number;
  minCount?: number;
  lowercase?: boolean;
  textField?: string;
  labelField?: string;
  conditionField?: string;
  sourceField?: string;
  targetField?: string;
  // all kinds
  valFraction?: number;
  limit?: number;
  seed?: number;
  log?: (message: string) => void;
}

export const DEFAULT_MAX_WORD_VOCAB = 20_000;

function positiveInt(value: number | undefined, option: string): void {
  if (value !== undefined && (!Number.isInteger(value) || value < 1))
    throw new BadInputError(`${option} must be a positive integer, got ${value}`);
}

function checkOptions(o: ImportOptions): void {
  assertDatasetName(o.name);
  for (const [v, name] of [
    [o.window, '--window'],
    [o.horizon, '--horizon'],
    [o.stride, '--stride'],
    [o.maxLength, '--max-length'],
    [o.maxTargetLength, '--max-target-length'],
    [o.maxVocab, '--max-vocab'],
    [o.minCount, '--min-count'],
    [o.limit, '--limit'],
    [o.rowsPerBatch, '--rows-per-batch'],
    [o.targetPartBytes, '--part-size'],
  ] as const) {
    positiveInt(v, name);
  }
  if (o.valFraction !== undefined && !(o.valFraction >= 0 && o.valFraction < 1))
    throw new BadInputError(`--val-fraction must be in [0, 1), got ${o.valFraction}`);
  if (o.seed !== undefined && !Number.isInteger(o.seed))
    throw new BadInputError(`--seed must be an integer, got ${o.seed}`);
  const tsOnly = {
    timeColumn: '--time-column',
    valueColumns: '--value-columns',
    targetColumn: '--target-column',
    window: '--window',
    horizon: '--horizon',
    stride: '--stride',
    perStep: '--per-step',
    normalize: '--normalize',
  } as const;
  const tokenOnly = {
    tokenizer: '--tokenizer',
    maxLength: '--max-length',
    maxVocab: '--max-vocab',
    minCount: '--min-count',
    textField: '--text-field',
  } as const;
  const misplaced = (table: Record<string, string>): string[] =>
    Object.entries(table)
      .filter(([k]) => o[k as keyof ImportOptions] !== undefined)
      .map(([, flag]) => flag);
  const wrong = o.kind === 'timeseries' ? misplaced(tokenOnly) : misplaced(tsOnly);
  if (wrong.length > 0)
    throw new BadInputError(
      `${wrong.join(', ')} ${wrong.length > 1 ? 'do' : 'does'} not apply to --kind ${o.kind}`,
    );
}

function fields(
  records: readonly RawRecord[],
  where: string,
  specs: { field: string; option: string }[],
): string[][] {
  return records.map((r, i) => specs.map((s) => stringField(r, s.field, where, i, s.option)));
}

/** Builds the examples of an import without writing anything. */
/** Record-level checks speak of records; the error names the source they came from. */
function namingSource<T>(where: string, build: () => T): T {
  try {
    return build();
  } catch (err) {
    if (err instanceof BadInputError && !err.message.startsWith(where))
      throw new BadInputError(`${where}: ${err.message}`, { cause: err });
    throw err;
  }
}

export async function buildDataset(o: ImportOptions): Promise<BuiltDataset> {
  checkOptions(o);
  const cwd = o.cwd ?? '.';
  const valFraction = o.valFraction ?? 0.1;
  const seed = o.seed ?? 0;
  const split = { valFraction, seed, ...(o.limit !== undefined ? { limit: o.limit } : {}) };
  // Word vocabularies of real text grow without bound; the signature (with its vocabulary)
  // travels in manifests and activity payloads, so words are capped unless asked otherwise.
  const wordTokens = (o.tokenizer ?? (o.kind === 'text-class' ? 'word' : 'char')) === 'word';
  const maxVocab = o.maxVocab ?? (wordTokens ? DEFAULT_MAX_WORD_VOCAB : undefined);
  const vocabOpts = {
    ...(maxVocab !== undefined ? { maxVocab } : {}),
    ...(o.minCount !== undefined ? { minCount: o.minCount } : {}),
  };
  let built: BuiltDataset;
  switch (o.kind) {
    case 'timeseries': {
      if (!o.valueColumns?.length && !o.targetColumn)
        throw new BadInputError('--kind timeseries needs --value-columns (and optionally --target-column)');
      const { file, text } = await loadCsvSource(o.source, cwd);
      const valueColumns = o.valueColumns?.length ? o.valueColumns : [o.targetColumn as string];
      built = buildTimeseries(parseCsv(text, file), {
        file,
        ...(o.timeColumn !== undefined ? { timeColumn: o.timeColumn } : {}),
        valueColumns,
        targetColumn: o.targetColumn ?? (valueColumns[0] as string),
        window: o.window ?? 14,
        horizon: o.horizon ?? 1,
        stride: o.stride ?? 1,
        valFraction,
        perStep: o.perStep ?? false,
        normalize: o.normalize ?? 'zscore',
        ...(o.limit !== undefined ? { limit: o.limit } : {}),
        seed,
      });
      break;
    }
    case 'text-class': {
      const d = builtinDefaults(o.source);
      const labelField = o.labelField ?? d.labelField ?? 'label';
      const { where, records } = await loadRecords(o.source, cwd, { labelField });
      const rows = fields(records, where, [
        { field: o.textField ?? d.textField ?? 'text', option: '--text-field' },
        { field: labelField, option: '--label-field' },
      ]);
      built = namingSource(where, () =>
        buildTextClass(
          rows.map(([text, label]) => ({ text: text!, label: label! })),
          {
            ...split,
            ...vocabOpts,
            tokenizer: o.tokenizer ?? 'word',
            lowercase: o.lowercase ?? true,
            maxLength: o.maxLength ?? 256,
          },
        ),
      );
      break;
    }
    case 'sequence': {
      const d = builtinDefaults(o.source);
      const conditionField = o.conditionField ?? d.conditionField;
      const { where, records } = await loadRecords(o.source, cwd);
      const specs = [{ field: o.textField ?? d.textField ?? 'text', option: '--text-field' }];
      if (conditionField !== undefined) specs.push({ field: conditionField, option: '--condition-field' });
      const rows = fields(records, where, specs);
      built = namingSource(where, () =>
        buildSequence(
          rows.map(([text, condition]) => ({
            text: text!,
            ...(condition !== undefined ? { condition } : {}),
          })),
          {
            ...split,
            ...vocabOpts,
            tokenizer: o.tokenizer ?? 'char',
            lowercase: o.lowercase ?? false,
            ...(o.maxLength !== undefined ? { maxLength: o.maxLength } : {}),
            ...(conditionField !== undefined ? { conditionField } : {}),
          },
        ),
      );
      break;
    }
    case 'seq2seq': {
      const d = builtinDefaults(o.source);
      const { where, records } = await loadRecords(o.source, cwd);
      const rows = fields(records, where, [
        { field: o.sourceField ?? d.sourceField ?? 'source', option: '--source-field' },
        { field: o.targetField ?? d.targetField ?? 'target', option: '--target-field' },
      ]);
      built = namingSource(where, () =>
        buildSeq2seq(
          rows.map(([source, target]) => ({ source: source!, target: target! })),
          {
            ...split,
            ...vocabOpts,
            tokenizer: o.tokenizer ?? 'char',
            targetTokenizer: o.targetTokenizer ?? 'word',
            lowercase: o.lowercase ?? false,
            ...(o.maxLength !== undefined ? { maxLength: o.maxLength } : {}),
            ...(o.maxTargetLength !== undefined ? { maxTargetLength: o.maxTargetLength } : {}),
          },
        ),
      );
      break;
    }
  }
  if (built.train.rows === 0)
    throw new BadInputError(`${o.source}: no training examples (empty input or --val-fraction too large)`);
  // The source name is recorded, but not the machine-specific absolute path, so digests are portable.
  built.source = { source: o.source, kind: o.kind, ...built.source };
  return built;
}

/** Imports a dataset version into the store (idempotent: the same data gives the same digest). */
export async function importDataset(store: BlobStore, o: ImportOptions): Promise<DatasetImportResult> {
  const log = o.log ?? (() => {});
  const built = await buildDataset(o);
  log(`built ${built.train.rows} training and ${built.val.rows} validation examples`);
  const { manifest, parts } = layoutDataset(o.name, built, o);
  return writeDataset(store, manifest, parts, log);
}
