/**
 * A small RFC 4180 CSV reader (quoted fields, doubled quotes, CRLF). It reports the file and
 * the 1-based line of every problem, which generic parsers tend to swallow.
 */
import { BadInputError } from '@seqtrain/contracts';

export interface CsvTable {
  header: string[];
  /** data rows, each with header.length fields */
  rows: string[][];
  /** 1-based source line where each data row starts (for error messages) */
  lines: number[];
}

export function parseCsv(text: string, file: string): CsvTable {
  const records: { fields: string[]; line: number }[] = [];
  let fields: string[] = [];
  let field = '';
  let inQuotes = false;
  let quotedField = false;
  let line = 1;
  let recordLine = 1;
  const endField = (): void => {
    fields.push(field);
    field = '';
    quotedField = false;
  };
  const endRecord = (): void => {
    endField();
    // A blank line is not a record (trailing newline, blank separators).
    if (!(fields.length === 1 && fields[0] === '')) records.push({ fields, line: recordLine });
    fields = [];
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inQuotes) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else inQuotes = false;
      } else {
        if (c === '\n') line++;
        field += c;
      }
      continue;
    }
    if (c === '"') {
      if (field.length > 0 || quotedField) {
        throw new BadInputError(
          `${file}: line ${line}: malformed CSV: unexpected '"' inside an unquoted field`,
        );
      }
      inQuotes = true;
      quotedField = true;
    } else if (c === ',') endField();
    else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      endRecord();
      line++;
      recordLine = line;
    } else {
      if (quotedField)
        throw new BadInputError(`${file}: line ${line}: malformed CSV: text after a closing quote`);
      field += c;
    }
  }
  if (inQuotes)
    throw new BadInputError(`${file}: line ${recordLine}: malformed CSV: unterminated quoted field`);
  if (field.length > 0 || fields.length > 0 || quotedField) endRecord();
  const head = records.shift();
  if (!head) throw new BadInputError(`${file}: empty input: no header row`);
  const header = head.fields.map((h) => h.trim());
  const seen = new Map<string, number>();
  header.forEach((h, i) => {
    const first = seen.get(h);
    if (first !== undefined)
      throw new BadInputError(
        `${file}: line ${head.line}: columns ${first + 1} and ${i + 1} are both named ${JSON.stringify(h)}; rename one`,
      );
    seen.set(h, i);
  });
  const rows: string[][] = [];
  const lines: number[] = [];
  for (const r of records) {
    if (r.fields.length !== header.length) {
      throw new BadInputError(
        `${file}: line ${r.line}: malformed CSV: ${r.fields.length} fields, the header has ${header.length}`,
      );
    }
    rows.push(r.fields);
    lines.push(r.line);
  }
  if (rows.length === 0) throw new BadInputError(`${file}: empty input: a header but no data rows`);
  return { header, rows, lines };
}

export function columnIndex(table: CsvTable, column: string, file: string, option: string): number {
  const i = table.header.indexOf(column);
  if (i < 0) {
    throw new BadInputError(
      `${file}: ${option} column ${JSON.stringify(column)} not found; columns: ${table.header.join(', ')}`,
    );
  }
  return i;
}

// Decimal numbers only: Number() would also read "0x1A", "0b11" and "1_000"-free oddities as numbers.
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
/** The largest magnitude a float32 holds: larger values would become Infinity in the dataset. */
export const FLOAT32_MAX = 3.4028234663852886e38;

/**
 * Strict numeric parse: empty, non-decimal (hex), NaN, +-Infinity and values a float32 cannot
 * hold are errors naming the cell.
 */
export function numericColumn(table: CsvTable, column: string, file: string, option: string): Float64Array {
  const idx = columnIndex(table, column, file, option);
  const out = new Float64Array(table.rows.length);
  for (let r = 0; r < table.rows.length; r++) {
    const raw = (table.rows[r]?.[idx] ?? '').trim();
    const v = raw === '' || !DECIMAL.test(raw) ? NaN : Number(raw);
    if (Number.isFinite(v) && Math.abs(v) > FLOAT32_MAX)
      throw new BadInputError(
        `${file}: line ${table.lines[r]}, column ${JSON.stringify(column)}: value ${raw} overflows float32 (largest ${FLOAT32_MAX.toPrecision(3)})`,
      );
    if (!Number.isFinite(v)) {
      const what =
        raw === ''
          ? 'empty value'
          : /^[+-]?(nan|inf(inity)?)$/i.test(raw)
            ? 'non-finite value'
            : 'non-numeric value';
      throw new BadInputError(
        `${file}: line ${table.lines[r]}, column ${JSON.stringify(column)}: ${what} ${JSON.stringify(raw)}`,
      );
    }
    out[r] = v;
  }
  return out;
}
