/**
 * Bad-input suite (property-based): the CSV parser and the CSV / JSON importers, fed random text
 * and valid files with random damage, either import a dataset that loads back whole, or fail with
 * a SeqtrainError naming the file and leave the store exactly as it was; never a TypeError, a
 * hang or a partial dataset.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { SeqtrainError } from '@seqtrain/contracts';
import { FsBlobStore } from '@seqtrain/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importDataset, loadManifest, parseCsv, partKey, type ImportOptions } from './index';
import { tempDir } from '../test/test-helpers';

let dir: string;
let store: FsBlobStore;
let fileNo = 0;
beforeAll(async () => {
  dir = await tempDir();
  store = new FsBlobStore(path.join(dir, 'store'));
});
afterAll(async () => fsp.rm(dir, { recursive: true, force: true }));

async function writeFile(ext: string, text: string): Promise<string> {
  const file = path.join(dir, `input-${++fileNo}.${ext}`);
  await fsp.writeFile(file, text);
  return file;
}

async function keys(): Promise<string[]> {
  return (await store.list('')).map((b) => b.key);
}

/**
 * The importers' contract: success means the named dataset's manifest loads and every part it
 * lists exists; failure means a SeqtrainError that names the file, and no object added or removed.
 */
async function importOrRefuse(o: ImportOptions, file: string): Promise<'imported' | 'refused'> {
  const before = await keys();
  try {
    await importDataset(store, o);
  } catch (err) {
    if (!(err instanceof SeqtrainError)) throw err;
    expect(err.message).toContain(path.basename(file));
    expect(await keys()).toEqual(before);
    return 'refused';
  }
  const m = await loadManifest(store, o.name);
  for (const p of m.parts) expect(await store.head(partKey(m, p.key))).toBeDefined();
  return 'imported';
}

/** Cells a real CSV file holds when something upstream went wrong. */
const oddCell = fc.oneof(
  fc.constantFrom(
    '',
    ' ',
    'NaN',
    'nan',
    'Infinity',
    '-inf',
    '1e200',
    '-3.5e38',
    '3.4e38',
    '1e-46',
    '0x1A',
    '0b11',
    '1_000',
    '1,5',
    '"3"',
    '"',
    '""',
    '\u00a0',
    '2024-01-01',
    '2024-13-45',
    '1700000000',
    'null',
    '-',
    '+',
    '.',
    '١٢',
  ),
  fc.string({ maxLength: 12 }),
  fc.double().map(String),
);

type CsvDamage =
  | { kind: 'cell'; row: number; col: number; value: string }
  | { kind: 'drop-line'; row: number }
  | { kind: 'dup-line'; row: number }
  | { kind: 'insert-line'; row: number; text: string }
  | { kind: 'header'; col: number; value: string }
  | { kind: 'truncate'; at: number }
  | { kind: 'bytes'; at: number; text: string };

const csvDamage: fc.Arbitrary<CsvDamage> = fc.oneof(
  fc.record({ kind: fc.constant('cell' as const), row: fc.nat(80), col: fc.nat(3), value: oddCell }),
  fc.record({ kind: fc.constant('drop-line' as const), row: fc.nat(80) }),
  fc.record({ kind: fc.constant('dup-line' as const), row: fc.nat(80) }),
  fc.record({
    kind: fc.constant('insert-line' as const),
    row: fc.nat(80),
    text: fc.string({ maxLength: 20 }),
  }),
  fc.record({
    kind: fc.constant('header' as const),
    col: fc.nat(3),
    value: fc.oneof(fc.constantFrom('', 't', 'v', 'w', '"t"', ' t'), fc.string({ maxLength: 6 })),
  }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat(4000) }),
  fc.record({
    kind: fc.constant('bytes' as const),
    at: fc.nat(4000),
    text: fc.oneof(
      fc.constantFrom('"', ',', '\n', '\r', '\r\n', '\u0000', '\ufeff'),
      fc.string({ maxLength: 4 }),
    ),
  }),
);

function validSeries(rows: number): string[][] {
  return [
    ['t', 'v', 'w'],
    ...Array.from({ length: rows }, (_, i) => [
      `2024-01-01T${String(Math.floor(i / 60) % 24).padStart(2, '0')}:${String(i % 60).padStart(2, '0')}:00Z`,
      (Math.sin(i / 3) * 10).toFixed(3),
      (Math.cos(i / 5) + i / 100).toFixed(3),
    ]),
  ];
}

function damageCsv(table: string[][], damages: CsvDamage[]): string {
  const t = table.map((r) => [...r]);
  for (const d of damages) {
    const row = 'row' in d ? 1 + (d.row % Math.max(1, t.length - 1)) : 0;
    if (d.kind === 'cell' && t[row]) t[row][d.col % 3] = d.value;
    else if (d.kind === 'drop-line') t.splice(row, 1);
    else if (d.kind === 'dup-line' && t[row]) t.splice(row, 0, [...t[row]]);
    else if (d.kind === 'insert-line') t.splice(row, 0, [d.text]);
    else if (d.kind === 'header' && t[0]) t[0][d.col % 3] = d.value;
  }
  let text: string = t.map((r) => r.join(',')).join('\n');
  for (const d of damages) {
    if (d.kind === 'truncate') text = text.slice(0, d.at % (text.length + 1));
    else if (d.kind === 'bytes') {
      const at = d.at % (text.length + 1);
      text = text.slice(0, at) + d.text + text.slice(at);
    }
  }
  return text;
}

describe('importers under random and damaged input', () => {
  it('parseCsv: any text gives a table or a BadInputError naming the file', () => {
    const csvChars = fc.oneof(
      fc.constantFrom(',', '"', '\n', '\r', ' ', 'a', '1', '.', '-', '\ufeff'),
      fc.string({ maxLength: 1 }),
    );
    fc.assert(
      fc.property(fc.array(csvChars, { maxLength: 200 }), (chars) => {
        try {
          const t = parseCsv(chars.join(''), 'random.csv');
          for (const r of t.rows) expect(r.length).toBe(t.header.length);
        } catch (err) {
          if (!(err instanceof SeqtrainError)) throw err;
          expect(err.message).toContain('random.csv');
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('time-series CSV import: damage gives a whole dataset or a clean refusal', async () => {
    const outcomes = { imported: 0, refused: 0 };
    await fc.assert(
      fc.asyncProperty(fc.array(csvDamage, { minLength: 1, maxLength: 4 }), async (damages) => {
        const file = await writeFile('csv', damageCsv(validSeries(80), damages));
        const o: ImportOptions = {
          source: file,
          name: 'prop-series',
          kind: 'timeseries',
          timeColumn: 't',
          valueColumns: ['v', 'w'],
          targetColumn: 'v',
          window: 6,
          horizon: 1,
          valFraction: 0.2,
          rowsPerBatch: 16,
        };
        outcomes[await importOrRefuse(o, file)]++;
      }),
      { numRuns: 120 },
    );
    // Both branches were taken: the damage is neither always fatal nor always harmless.
    expect(outcomes.imported).toBeGreaterThan(0);
    expect(outcomes.refused).toBeGreaterThan(0);
  }, 300_000);

  it('JSON / JSONL record import: random records give a whole dataset or a clean refusal', async () => {
    const field = fc.oneof(
      fc.string({ maxLength: 30 }),
      fc.constantFrom('spam', 'ham', '', ' ', 'cheap!!! pills', 'héllo wörld', '🙂 emoji'),
      fc.integer(),
      fc.double(),
      fc.boolean(),
      fc.constant(null),
      fc.jsonValue({ maxDepth: 2 }),
    );
    const good = fc.record({
      text: fc.constantFrom('buy cheap pills now', 'meeting at noon', 'win a prize!!!', 'lunch tomorrow?'),
      label: fc.constantFrom('spam', 'ham'),
    });
    const record = fc.oneof(
      { weight: 6, arbitrary: good },
      { weight: 1, arbitrary: fc.record({ text: field, label: field }, { requiredKeys: [] }) },
      { weight: 1, arbitrary: fc.dictionary(fc.string({ maxLength: 6 }), field, { maxKeys: 3 }) },
      { weight: 1, arbitrary: field },
    );
    const outcomes = { imported: 0, refused: 0 };
    await fc.assert(
      fc.asyncProperty(
        fc.array(record, { minLength: 0, maxLength: 60 }),
        fc.constantFrom('json', 'jsonl'),
        fc.option(fc.tuple(fc.nat(3000), fc.string({ maxLength: 3 })), { nil: undefined }),
        async (records, ext, splice) => {
          let text =
            ext === 'json' ? JSON.stringify(records) : records.map((r) => JSON.stringify(r) ?? '').join('\n');
          if (splice) {
            const at = splice[0] % (text.length + 1);
            text = text.slice(0, at) + splice[1] + text.slice(at);
          }
          const file = await writeFile(ext, text);
          const o: ImportOptions = {
            source: file,
            name: 'prop-texts',
            kind: 'text-class',
            tokenizer: 'word',
            valFraction: 0.25,
            rowsPerBatch: 8,
          };
          outcomes[await importOrRefuse(o, file)]++;
        },
      ),
      { numRuns: 120 },
    );
    expect(outcomes.imported).toBeGreaterThan(0);
    expect(outcomes.refused).toBeGreaterThan(0);
  }, 300_000);
});
