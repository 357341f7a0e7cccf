/**
 * Arrow IPC encoding of examples. A part is a standard Arrow IPC *file*: magic, the schema
 * message, one encapsulated message per record batch, the footer (whose Blocks locate every
 * batch) and the trailing magic. apache-arrow's own file writer leaves the schema message out,
 * so parts are assembled here from stream-encoded messages; that keeps the schema at a fixed
 * place (byte 8) where a ranged reader can fetch it without the footer.
 */
import {
  Field,
  FixedSizeList,
  Float32,
  Int32,
  MetadataVersion,
  RecordBatch,
  RecordBatchStreamWriter,
  Schema,
  Struct,
  Table,
  makeData,
  tableFromIPC,
  type Data,
  type DataType,
} from 'apache-arrow';
import { FileBlock, Footer } from 'apache-arrow/ipc/metadata/file';
import {
  CorruptDataError,
  type ArrowField,
  type DatasetSignature,
  type SequenceBatch,
  type TensorSpec,
} from '@seqtrain/contracts';
import { elementCount, type ExampleSet } from './examples';

const MAGIC = new TextEncoder().encode('ARROW1');
const EOS = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);

function elementType(dtype: TensorSpec['dtype']): Float32 | Int32 {
  return dtype === 'float32' ? new Float32() : new Int32();
}

/** Nested FixedSizeList per dimension: [W, F] float32 -> FixedSizeList[W]<FixedSizeList[F]<Float32>>. */
function tensorType(spec: TensorSpec): DataType {
  let t: DataType = elementType(spec.dtype);
  for (let d = spec.shape.length - 1; d >= 0; d--)
    t = new FixedSizeList(spec.shape[d] as number, new Field('item', t, false));
  return t;
}

/** The Arrow schema of a dataset: x, y, then the optional per-row columns the kind uses. */
export function arrowSchemaFor(signature: DatasetSignature): Schema {
  const fields = [
    new Field('x', tensorType(signature.x), false),
    new Field('y', tensorType(signature.y), false),
  ];
  const tokens = signature.x.dtype === 'int32';
  if (tokens) fields.push(new Field('x_length', new Int32(), false));
  if (signature.kind === 'seq2seq') fields.push(new Field('y_length', new Int32(), false));
  if (signature.condition) fields.push(new Field('condition', new Int32(), false));
  if (signature.kind === 'timeseries') fields.push(new Field('start', new Int32(), false));
  if (signature.normalization?.mode === 'last-value') fields.push(new Field('anchor', new Float32(), false));
  return new Schema(fields, new Map([['seqtrain.kind', signature.kind]]));
}

export function describeSchema(schema: Schema): ArrowField[] {
  return schema.fields.map((f) => ({ name: f.name, type: String(f.type), nullable: f.nullable }));
}

function tensorData(type: DataType, rows: number, values: Float32Array | Int32Array): Data {
  if (type instanceof FixedSizeList) {
    const child = tensorData(type.children[0]!.type as DataType, rows * type.listSize, values);
    return makeData({ type, length: rows, nullCount: 0, child });
  }
  return makeData({ type: type as Float32, length: rows, nullCount: 0, data: values as Float32Array });
}

export function recordBatchOf(schema: Schema, set: ExampleSet): RecordBatch {
  const columns: Record<string, Float32Array | Int32Array | undefined> = {
    x: set.x,
    y: set.y,
    x_length: set.xLength,
    y_length: set.yLength,
    condition: set.condition,
    start: set.start,
    anchor: set.anchor,
  };
  const children = schema.fields.map((f) => {
    const values = columns[f.name];
    if (!values) throw new Error(`internal: column ${f.name} missing from examples`);
    return tensorData(f.type as DataType, set.rows, values);
  });
  return new RecordBatch(
    schema,
    makeData({ type: new Struct(schema.fields), length: set.rows, nullCount: 0, children }),
  );
}

export interface EncodedPart {
  bytes: Uint8Array;
  schema: { offset: number; length: number };
  blocks: { offset: number; metadataLength: number; bodyLength: number }[];
}

function streamBytes(schema: Schema, batches: RecordBatch[]): Uint8Array {
  return RecordBatchStreamWriter.writeAll(batches.length ? batches : new Table(schema)).toUint8Array(true);
}

/** Assembles one Arrow IPC file from record batches and reports where each message lies. */
export function encodePart(schema: Schema, batches: RecordBatch[]): EncodedPart {
  const schemaMsg = streamBytes(schema, []).subarray(0, -EOS.length);
  const messages = batches.map((b) => streamBytes(schema, [b]).subarray(schemaMsg.length, -EOS.length));
  const chunks: Uint8Array[] = [MAGIC, new Uint8Array(2), schemaMsg];
  let offset = 8 + schemaMsg.length;
  const blocks = messages.map((m) => {
    // Encapsulated message: 0xFFFFFFFF, int32 metadata size, metadata (padded), body.
    const metadataLength = 8 + new DataView(m.buffer, m.byteOffset, 8).getInt32(4, true);
    const block = { offset, metadataLength, bodyLength: m.length - metadataLength };
    chunks.push(m);
    offset += m.length;
    return block;
  });
  const footer = Footer.encode(
    new Footer(
      schema,
      MetadataVersion.V5,
      blocks.map((b) => new FileBlock(b.metadataLength, b.bodyLength, b.offset)),
      [],
    ),
  );
  const footerLen = new Uint8Array(4);
  new DataView(footerLen.buffer).setInt32(0, footer.length, true);
  chunks.push(footer, footerLen, MAGIC);
  const bytes = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    bytes.set(c, at);
    at += c.length;
  }
  return { bytes, schema: { offset: 8, length: schemaMsg.length }, blocks };
}

/** Flat values of a (possibly nested) FixedSizeList column, honouring slice offsets. */
function flatValues(data: Data, width: number): Float32Array | Int32Array {
  let d: Data = data;
  let offset = data.offset;
  while (d.children.length > 0 && d.type instanceof FixedSizeList) {
    offset *= d.type.listSize;
    d = d.children[0]!;
    offset += d.offset;
  }
  const values = d.values as Float32Array | Int32Array;
  return values.subarray(offset, offset + data.length * width);
}

/**
 * Decodes one record batch message (with its part's schema message) into a SequenceBatch.
 * `where` names the part and batch in error messages.
 */
export function decodeBatch(
  schemaMessage: Uint8Array,
  batchMessage: Uint8Array,
  signature: DatasetSignature,
  where: string,
): SequenceBatch {
  const stream = new Uint8Array(schemaMessage.length + batchMessage.length + EOS.length);
  stream.set(schemaMessage, 0);
  stream.set(batchMessage, schemaMessage.length);
  stream.set(EOS, schemaMessage.length + batchMessage.length);
  let table: Table;
  try {
    table = tableFromIPC(stream);
  } catch (err) {
    throw new CorruptDataError(`${where}: not a decodable Arrow record batch: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const batch = table.batches[0];
  if (!batch || table.batches.length !== 1)
    throw new CorruptDataError(`${where}: expected one record batch, found ${table.batches.length}`);
  const rows = batch.numRows;
  const column = (name: string): Data => {
    const child = batch.getChild(name);
    if (!child) throw new CorruptDataError(`${where}: column ${name} is missing`);
    return child.data[0] as Data;
  };
  const xw = elementCount(signature.x.shape);
  const yw = elementCount(signature.y.shape);
  // Copies detach the batch from the IPC buffer so that cached batches hold only their own bytes.
  const x = flatValues(column('x'), xw).slice();
  const y = flatValues(column('y'), yw).slice();
  const expectType = (arr: Float32Array | Int32Array, spec: TensorSpec, name: string): void => {
    const ok = spec.dtype === 'float32' ? arr instanceof Float32Array : arr instanceof Int32Array;
    if (!ok || arr.length !== rows * elementCount(spec.shape)) {
      throw new CorruptDataError(
        `${where}: column ${name} does not match the signature (${spec.dtype} ${JSON.stringify(spec.shape)})`,
      );
    }
  };
  expectType(x, signature.x, 'x');
  expectType(y, signature.y, 'y');
  const out: SequenceBatch = {
    rows,
    x: { data: x, shape: [rows, ...signature.x.shape] },
    y: { data: y, shape: [rows, ...signature.y.shape] },
  };
  if (signature.condition)
    out.condition = { data: flatValues(column('condition'), 1).slice() as Int32Array, shape: [rows] };
  return out;
}
