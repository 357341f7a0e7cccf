/**
 * Bad-input suite (property-based): a training or sweep spec, valid or mutated at any path into any
 * JSON-ish value, is either accepted as a spec that holds only finite numbers, or refused with a
 * BadInputError that names the spec; never a TypeError, never a crash.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BadInputError, SeqtrainError } from './errors';
import { parseTrainSpec } from './spec';
import { parseSweepSpec } from './sweep';

const VALID_SPEC = {
  name: 'weather-forecast',
  dataset: 'seattle-weather',
  task: 'regression',
  model: { cell: 'lstm', units: [32], dropout: 0.1 },
  training: {
    optimizer: { name: 'adam', learningRate: 0.005 },
    batchSize: 32,
    epochs: 6,
    earlyStopping: { metric: 'val_loss', patience: 2 },
    schedule: { decay: 'exponential', decaySteps: 100, decayRate: 0.9 },
    seed: 42,
  },
  workers: 2,
};

const VALID_SWEEP = {
  name: 'weather-sweep',
  base: VALID_SPEC,
  method: 'grid',
  space: { 'training.optimizer.learningRate': [0.002, 0.01], 'model.units': [[16], [32]] },
  maxConcurrent: 2,
  metric: 'val_loss',
  earlyStop: { rule: 'median', graceEpochs: 2, minTrials: 1 },
  register: true,
};

type Path = (string | number)[];

/** Every path to a value inside `v` (objects and arrays), the root included. */
function pathsOf(v: unknown, prefix: Path = []): Path[] {
  const out: Path[] = [prefix];
  if (Array.isArray(v)) v.forEach((x, i) => out.push(...pathsOf(x, [...prefix, i])));
  else if (v && typeof v === 'object')
    for (const [k, x] of Object.entries(v)) out.push(...pathsOf(x, [...prefix, k]));
  return out;
}

type Mutation =
  { kind: 'set'; value: unknown } | { kind: 'delete' } | { kind: 'add'; key: string; value: unknown };

/** A copy of `base` with one mutation at `path` (JSON round trip: a spec file holds plain data). */
function mutate(base: unknown, path: Path, m: Mutation): unknown {
  const root = structuredClone(base) as Record<string | number, unknown>;
  if (path.length === 0) return m.kind === 'set' ? m.value : root;
  let parent: Record<string | number, unknown> = root;
  for (const seg of path.slice(0, -1)) parent = parent[seg] as Record<string | number, unknown>;
  const last = path[path.length - 1] as string | number;
  if (m.kind === 'set') parent[last] = m.value;
  else if (m.kind === 'delete') {
    if (Array.isArray(parent)) parent.splice(Number(last), 1);
    else delete parent[last];
  } else {
    const target = parent[last];
    if (target && typeof target === 'object' && !Array.isArray(target))
      (target as Record<string, unknown>)[m.key] = m.value;
  }
  return root;
}

/** Odd values a hand-written or generated spec file really contains. */
const oddValue = fc.oneof(
  fc.constantFrom(
    null,
    undefined,
    NaN,
    Infinity,
    -Infinity,
    -0,
    0,
    -1,
    1e308,
    2 ** 53,
    1e-320,
    '',
    ' ',
    '32',
    '0x1A',
    'lstm',
    'LSTM',
    true,
    [],
    {},
    [null],
    [0],
    [-5],
    [1e9],
    { __proto__: { polluted: true } },
  ),
  fc.jsonValue({ maxDepth: 3 }),
  fc.double(),
  fc.integer(),
  fc.string(),
);

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), value: oddValue }),
  fc.constant({ kind: 'delete' as const }),
  fc.record({
    kind: fc.constant('add' as const),
    key: fc.oneof(fc.string(), fc.constantFrom('__proto__', 'constructor', 'units', 'extra')),
    value: oddValue,
  }),
);

function onlyFiniteNumbers(v: unknown): boolean {
  if (typeof v === 'number') return Number.isFinite(v);
  if (Array.isArray(v)) return v.every(onlyFiniteNumbers);
  if (v && typeof v === 'object') return Object.values(v).every(onlyFiniteNumbers);
  return true;
}

/** The contract every parser here keeps: a clean value or a SeqtrainError, nothing else. */
function accepts(parse: () => unknown, what: RegExp): unknown {
  try {
    const out = parse();
    expect(onlyFiniteNumbers(out)).toBe(true);
    return out;
  } catch (err) {
    if (!(err instanceof SeqtrainError)) throw err;
    expect(err).toBeInstanceOf(BadInputError);
    expect(err.message).toMatch(what);
    expect(err.message.length).toBeLessThan(4000);
    return undefined;
  }
}

describe('spec parsers under random and mutated input', () => {
  it('accept the valid examples', () => {
    expect(parseTrainSpec(structuredClone(VALID_SPEC)).model.units).toEqual([32]);
    expect(parseSweepSpec(structuredClone(VALID_SWEEP)).trials.length).toBe(4);
  });

  it('training spec: one mutation anywhere gives a finite spec or a BadInputError', () => {
    const paths = pathsOf(VALID_SPEC);
    fc.assert(
      fc.property(fc.constantFrom(...paths), mutation, (path, m) => {
        accepts(() => parseTrainSpec(mutate(VALID_SPEC, path, m)), /training spec/);
      }),
      { numRuns: 2000 },
    );
  });

  it('training spec: several mutations at once', () => {
    const paths = pathsOf(VALID_SPEC);
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom(...paths), mutation), { maxLength: 5 }), (ms) => {
        let spec: unknown = VALID_SPEC;
        for (const [path, m] of ms) {
          try {
            spec = mutate(spec, path, m);
          } catch {
            // the path vanished under an earlier mutation: keep the spec as it is
          }
        }
        accepts(() => parseTrainSpec(spec), /training spec/);
      }),
      { numRuns: 1000 },
    );
  });

  it('training spec: arbitrary values at the root', () => {
    fc.assert(
      fc.property(fc.oneof(oddValue, fc.anything()), (v) => {
        accepts(() => parseTrainSpec(v), /training spec/);
      }),
      { numRuns: 500 },
    );
  });

  it('sweep spec: one mutation anywhere gives trials of finite specs or a BadInputError', () => {
    const paths = pathsOf(VALID_SWEEP);
    fc.assert(
      fc.property(fc.constantFrom(...paths), mutation, (path, m) => {
        const out = accepts(() => parseSweepSpec(mutate(VALID_SWEEP, path, m)), /sweep|spec/) as
          ReturnType<typeof parseSweepSpec> | undefined;
        // Every trial a sweep expands to is itself a valid training spec.
        for (const t of out?.trials ?? []) expect(() => parseTrainSpec(t.spec)).not.toThrow();
      }),
      { numRuns: 1000 },
    );
  });
});
