/**
 * `seqtrain predict NAME@REF --input FILE|-`: loads a registered model and runs inference with
 * the normalisation and vocabulary recorded at training time (in the model card).
 * Input by task: regression: JSON windows (number[][][], rows of featureColumns in original
 * units) or a CSV whose last `window` rows form one window; classification and seq2seq: a JSON
 * array of strings or one text per line; generation: --count / --condition / --temperature.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { initBackend } from '@seqtrain/backend';
import {
  BadInputError,
  DatasetSignatureSchema,
  errorMessage,
  TaskSchema,
  tokenIndex,
  unknownTokens,
  type DatasetSignature,
  type Task,
  type Vocabulary,
} from '@seqtrain/contracts';
import { parseCsv } from '@seqtrain/dataset';
import { classify, decode, forecast, generate, loadModel } from '@seqtrain/model';
import { RegistryReader, versionPrefix } from '@seqtrain/registry';
import { EXIT_OK, type CliContext } from '../context';
import { PREDICT_OPTIONS, parseOptions } from '../help';

async function readInput(spec: string | undefined, cwd: string): Promise<string> {
  if (spec === undefined) return '';
  if (spec === '-') {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  }
  try {
    return await fsp.readFile(path.resolve(cwd, spec), 'utf8');
  } catch (err) {
    throw new BadInputError(
      `--input ${spec}: cannot read it (${(err as NodeJS.ErrnoException).code ?? errorMessage(err)})`,
    );
  }
}

function parseJson(text: string, where: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new BadInputError(`${where}: not valid JSON (${errorMessage(err)})`);
  }
}

function texts(raw: string, where: string): string[] {
  const trimmed = raw.trim();
  if (trimmed.startsWith('[')) {
    const parsed = parseJson(trimmed, where);
    if (!Array.isArray(parsed)) throw new BadInputError(`${where}: expected a JSON array of strings`);
    const bad = parsed.findIndex((t) => typeof t !== 'string');
    if (bad >= 0)
      throw new BadInputError(
        `${where}: item ${bad} is ${JSON.stringify(parsed[bad]) ?? 'undefined'}, expected a string`,
      );
    return parsed as string[];
  }
  const lines = trimmed.split(/\r?\n/).filter((l) => l.trim() !== '');
  if (lines.length === 0) throw new BadInputError(`${where}: no input texts`);
  return lines;
}

function windows(raw: string, where: string, signature: DatasetSignature): unknown[] {
  const norm = signature.normalization;
  if (!norm) throw new BadInputError('the model card has no normalisation statistics');
  const [W] = signature.x.shape as [number, number];
  const trimmed = raw.trim();
  if (trimmed.startsWith('[') || trimmed.startsWith('{')) {
    const parsed = parseJson(trimmed, where);
    const w = Array.isArray(parsed) ? parsed : (parsed as { windows?: unknown }).windows;
    if (!Array.isArray(w))
      throw new BadInputError(`${where}: expected number[][][] or {"windows": number[][][]}`);
    return checkedWindows(w, where, norm.featureColumns, W);
  }
  // CSV: the last W rows, as records of the feature columns and (last-value scaling: the
  // anchor) the target column.
  const table = parseCsv(trimmed, where);
  const rows = table.rows.slice(-W);
  if (rows.length < W)
    throw new BadInputError(`${where}: has ${rows.length} data rows, the model needs a window of ${W}`);
  const names =
    norm.mode === 'last-value'
      ? [...new Set([...norm.featureColumns, norm.targetColumn])]
      : norm.featureColumns;
  const columns = names.map((c) => {
    const k = table.header.indexOf(c);
    if (k < 0)
      throw new BadInputError(
        `${where}: column ${c} is missing (the model was trained on ${names.join(', ')})`,
      );
    return k;
  });
  const firstLine = table.lines.length - rows.length;
  return [
    rows.map((r, i) =>
      Object.fromEntries(
        columns.map((k, j) => {
          const v = Number(r[k]);
          if (r[k] === undefined || r[k] === '' || !Number.isFinite(v)) {
            throw new BadInputError(
              `${where}: line ${table.lines[firstLine + i]}, column ${names[j]}: ${JSON.stringify(r[k])} is not a number`,
            );
          }
          return [names[j]!, v];
        }),
      ),
    ),
  ];
}

/**
 * Windows of W rows, each an array of one value per feature column or a record keyed by column.
 * The cells themselves are checked by encodeWindow (the error then names input, row and column).
 */
function checkedWindows(w: unknown[], where: string, columns: readonly string[], W: number): unknown[] {
  w.forEach((win, i) => {
    if (!Array.isArray(win) || win.length !== W)
      throw new BadInputError(
        `${where}: window ${i} has ${Array.isArray(win) ? `${win.length} rows` : JSON.stringify(win)}, the model needs ${W} rows of ${columns.join(', ')}`,
      );
    win.forEach((row: unknown, t) => {
      if (Array.isArray(row) ? row.length !== columns.length : typeof row !== 'object' || row === null)
        throw new BadInputError(
          `${where}: window ${i}, row ${t} is ${JSON.stringify(row)}, expected ${columns.length} numbers (${columns.join(', ')}) or a record keyed by column`,
        );
    });
  });
  return w;
}

/** A number flag, checked: `--temperature abc` is an error naming the flag, not NaN. */
function numberFlag(flag: string, raw: string, min: number, integer = false): number {
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n) || n < min || (integer && !Number.isInteger(n)))
    throw new BadInputError(`${flag}=${raw}: expected ${integer ? 'an integer' : 'a number'} >= ${min}`);
  return n;
}

/** Share of an input's tokens outside the vocabulary above which predict refuses it. */
export const MAX_UNKNOWN_SHARE = 0.5;

/**
 * Inputs the model cannot read get no confident answer: one that is mostly unknown tokens is
 * refused, naming it; one with some unknown tokens is answered with a warning.
 */
function checkVocabulary(
  vocab: Vocabulary,
  inputs: readonly string[],
  where: string,
  warn: (msg: string) => void,
): void {
  const index = tokenIndex(vocab);
  inputs.forEach((text, i) => {
    const u = unknownTokens(vocab, text, index);
    const shown = JSON.stringify(text.length > 60 ? `${text.slice(0, 57)}...` : text);
    if (u.tokens === 0) throw new BadInputError(`${where}: input ${i} (${shown}) has no tokens`);
    const share = u.unknown / u.tokens;
    const what = `${u.unknown} of ${u.tokens} tokens of input ${i} (${shown}) are not in the model's vocabulary (e.g. ${u.examples.map((e) => JSON.stringify(e)).join(', ')})`;
    if (share > MAX_UNKNOWN_SHARE) throw new BadInputError(`${where}: ${what}: the model cannot read it`);
    if (u.unknown > 0) warn(`warning: ${what}; they read as <unk>`);
  });
}

export async function runPredict(argv: string[], ctx: CliContext): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: parseOptions(PREDICT_OPTIONS),
    strict: true,
    allowPositionals: true,
  });
  const ref = positionals[0];
  if (!ref || positionals.length !== 1)
    throw new BadInputError('predict: expected one model reference NAME@VERSION or NAME@ALIAS');
  const store = ctx.store();
  const reader = new RegistryReader(store);
  const resolved = await reader.resolve(ref);
  const hp = resolved.card.hyperparameters as { task?: unknown; signature?: unknown };
  const task: Task = TaskSchema.parse(hp.task);
  const sigParsed = DatasetSignatureSchema.safeParse(hp.signature);
  if (!sigParsed.success)
    throw new BadInputError(
      `${resolved.name}@${resolved.version}: the model card records no dataset signature; retrain it with this version of seqtrain`,
    );
  const signature = sigParsed.data;
  const temperature = numberFlag('--temperature', values.temperature, 0);
  const seed = numberFlag('--seed', values.seed, 0, true);
  // The trainers' backend (TensorFlow, seqtrain's kernels), not tfjs's plain JS one.
  await initBackend({
    backend: ctx.config.backend,
    ...(ctx.config.threads ? { threads: ctx.config.threads } : {}),
  });
  // Every file is checked against the card's sha256, as the HTTP reader and `models pull` do.
  const model = await loadModel(
    store,
    versionPrefix(resolved.name, resolved.version),
    async (file) => (await reader.readFile(resolved.name, resolved.version, file)).bytes,
  );
  const raw = await readInput(values.input, ctx.cwd);
  const where = values.input === '-' ? 'stdin' : (values.input ?? '--input');
  let predictions: unknown[];
  switch (task) {
    case 'regression':
      if (!values.input)
        throw new BadInputError('predict: --input FILE|- is required for a forecasting model');
      try {
        predictions = forecast(model, signature, windows(raw, where, signature)).map((values_) => ({
          forecast: values_,
        }));
      } catch (err) {
        if (err instanceof BadInputError && !err.message.startsWith(where))
          throw new BadInputError(`${where}: ${err.message}`);
        throw err;
      }
      break;
    case 'classification': {
      if (!values.input) throw new BadInputError('predict: --input FILE|- is required for a classifier');
      const inputs = texts(raw, where);
      checkVocabulary(signature.vocab!, inputs, where, (m) => ctx.io.err(`${m}\n`));
      predictions = classify(model, signature, inputs).map((p) => ({
        label: p.label,
        probabilities: Object.fromEntries((signature.classes ?? []).map((c, i) => [c, p.probabilities[i]])),
      }));
      break;
    }
    case 'generation': {
      const count = Number(values.count);
      if (!Number.isInteger(count) || count < 1 || count > 1000)
        throw new BadInputError(`--count=${values.count}: expected an integer from 1 to 1000`);
      predictions = generate(model, signature, {
        count,
        ...(values.condition !== undefined ? { condition: values.condition } : {}),
        temperature,
        seed,
      }).map((text) => ({ text }));
      break;
    }
    case 'seq2seq': {
      if (!values.input)
        throw new BadInputError('predict: --input FILE|- is required for a sequence-to-sequence model');
      const beamWidth = Number(values.beam);
      if (!Number.isInteger(beamWidth) || beamWidth < 1)
        throw new BadInputError(`--beam=${values.beam}: expected a positive integer`);
      const sources = texts(raw, where);
      checkVocabulary(signature.vocab!, sources, where, (m) => ctx.io.err(`${m}\n`));
      predictions = decode(model, signature, sources, { beamWidth }).map((text, i) => ({
        input: sources[i],
        output: text,
      }));
      break;
    }
  }
  model.dispose();
  const result = {
    model: {
      name: resolved.name,
      version: resolved.version,
      ...(resolved.alias ? { alias: resolved.alias } : {}),
    },
    task,
    predictions,
  };
  if (values.json) ctx.io.out(JSON.stringify(result));
  else ctx.io.out(predictions.map((p) => JSON.stringify(p)).join('\n'));
  return EXIT_OK;
}
