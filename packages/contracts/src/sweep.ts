/**
 * Hyperparameter sweeps and CI retraining (README, Using it).
 *
 * A sweep file (SWEEP.yaml) is a base training spec plus a search space over dotted paths:
 *
 * ```yaml
 * name: weather-sweep            # sweep name (workflow ids: sweep-<name>-..., trials <sweepId>/trial-<n>)
 * base: { ...a training spec... } # what every trial starts from
 * method: grid                   # grid: every combination, in order (the last key varies fastest)
 *                                # random: `trials` samples, seeded by `seed`
 * space:
 *   training.optimizer.learningRate: [0.001, 0.01]     # a list: the values to try
 *   model.units: [[16], [32]]                          # values may be lists or objects
 *   training.batchSize: { min: 16, max: 64, int: true } # a range (random search only)
 *   training.optimizer.learningRate: { min: 1e-4, max: 1e-1, log: true }
 * trials: 8                      # random: how many; grid: optional cap on the combinations run
 * maxConcurrent: 2               # trials training at the same time
 * metric: val_loss               # what ranks trials (an epoch metric of trainModel)
 * mode: min                      # default: max for accuracy-like metrics, else min
 * earlyStop: { rule: median, graceEpochs: 1, minTrials: 1 }  # or { rule: asha, reductionFactor: 2 } or { rule: none }
 * register: true                 # register the best trial's model (the only new version)
 * ```
 *
 * Early-stopping rules, applied whenever a trial reports a new evaluated epoch (epochs counted
 * from 1; nothing is judged before `graceEpochs`):
 * - median (Golovin et al., "Google Vizier"): a trial is stopped at epoch e if its best value up to
 *   e is strictly worse than the median of the best values up to e of the other trials that
 *   reached e (running or finished), once at least `minTrials` of them did.
 * - asha (Li et al., "Massively parallel hyperparameter tuning", the stopping variant): rungs at
 *   epochs graceEpochs * reductionFactor^k; a trial reaching a rung continues only if its value is
 *   in the top 1/reductionFactor of all values recorded at that rung so far (itself included);
 *   the first trial at a rung always continues.
 * Stopped trials are cancelled (their child workflow is cancelled), never registered.
 */
import { z } from 'zod';
import { BadInputError } from './errors';
import { seededRandom } from './random';
import { formatSpecIssues, parseTrainSpec, type TrainSpec } from './spec';
import type { BackendSummary, EpochMetrics } from './training';

export const SWEEP_WORKFLOW_TYPE = 'runSweep';
export const RETRAIN_WORKFLOW_TYPE = 'retrain';
export const LEADERBOARD_QUERY = 'leaderboard';
export const SWEEP_STOP_SIGNAL = 'stop';

const RangeSchema = z
  .object({
    min: z.number(),
    max: z.number(),
    /** sample uniformly in log space (learning rates) */
    log: z.boolean().default(false),
    /** round to an integer */
    int: z.boolean().default(false),
  })
  .strict()
  .refine((r) => r.max >= r.min, { message: 'max must be >= min' })
  .refine((r) => !r.log || r.min > 0, { message: 'log ranges need min > 0' });
export type SweepRange = z.infer<typeof RangeSchema>;

const DOTTED_PATH = /^[A-Za-z][A-Za-z0-9]*(\.[A-Za-z0-9]+)*$/;

export const EarlyStopRuleSchema = z.discriminatedUnion('rule', [
  z.object({ rule: z.literal('none') }).strict(),
  z
    .object({
      rule: z.literal('median'),
      graceEpochs: z.number().int().min(1).default(1),
      minTrials: z.number().int().min(1).default(1),
    })
    .strict(),
  z
    .object({
      rule: z.literal('asha'),
      graceEpochs: z.number().int().min(1).default(1),
      reductionFactor: z.number().int().min(2).default(2),
    })
    .strict(),
]);
export type EarlyStopRule = z.infer<typeof EarlyStopRuleSchema>;

export const SweepSpecSchema = z
  .object({
    name: z
      .string()
      .regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'expected a lowercase name of letters, digits, . _ -'),
    /** a training spec (validated per trial once the trial's values are set) */
    base: z.record(z.string(), z.unknown()),
    method: z.enum(['grid', 'random']).default('grid'),
    space: z
      .record(
        z.string().regex(DOTTED_PATH, 'expected a dotted path such as training.optimizer.learningRate'),
        z.union([z.array(z.unknown()).min(1), RangeSchema]),
      )
      .refine((s) => Object.keys(s).length > 0, { message: 'at least one search dimension' }),
    trials: z.number().int().positive().optional(),
    maxConcurrent: z.number().int().positive().default(2),
    metric: z.string().min(1).default('val_loss'),
    mode: z.enum(['min', 'max']).optional(),
    earlyStop: EarlyStopRuleSchema.default({ rule: 'median', graceEpochs: 1, minTrials: 1 }),
    register: z.boolean().default(true),
    seed: z.number().int().min(0).default(0),
  })
  .strict();
export type SweepSpec = z.infer<typeof SweepSpecSchema>;
export type SweepSpecInput = z.input<typeof SweepSpecSchema>;

/** One planned trial: its index, the values it sets, and the resulting validated spec. */
export interface SweepTrialPlan {
  index: number;
  params: Record<string, unknown>;
  spec: TrainSpec;
}

export interface SweepRunInput {
  sweep: SweepSpec;
  trials: SweepTrialPlan[];
  codeVersion?: string;
  actor?: string;
  /** how often the parent looks for new epochs of running trials (default '2s') */
  watchInterval?: string;
}

export type SweepTrialStatus = 'pending' | 'running' | 'completed' | 'stopped-early' | 'failed';

export interface SweepTrialRow {
  index: number;
  workflowId: string;
  params: Record<string, unknown>;
  status: SweepTrialStatus;
  /** evaluated epochs so far */
  epochs: number;
  /** best value of the sweep metric so far */
  value?: number;
  /** metrics of the best epoch */
  metrics?: Record<string, number>;
  /** the sweep metric per evaluated epoch */
  curve: number[];
  reason?: string;
}

export interface SweepLeaderboard {
  sweepId: string;
  status: 'running' | 'stopping' | 'registering' | 'completed' | 'failed';
  metric: string;
  mode: 'min' | 'max';
  /** ranked: completed and reported trials by value, then the rest by index */
  trials: SweepTrialRow[];
  best?: { index: number; workflowId: string; value: number };
}

export interface SweepResult extends SweepLeaderboard {
  model: { name: string; version: number } | null;
}

export interface RetrainInput {
  /** dataset pinned to NAME@DIGEST by the CLI (unpinned for schedules: resolved when it runs) */
  spec: TrainSpec;
  codeVersion: string;
  /** alias to compare with and promote to; absent: train and register only */
  promoteAlias?: string;
  actor?: string;
}

export interface RetrainResult {
  status: 'trained' | 'not-better' | 'promoted';
  workflowId: string;
  trainWorkflowId: string;
  model: { name: string; version: number } | null;
  metrics: Record<string, number>;
  metric: string;
  value: number;
  /** the version the alias pointed to before, with its metric value */
  previous?: { version: number; value: number | null };
  reason?: string;
}

export interface PromoteIfBetterInput {
  name: string;
  version: number;
  alias: string;
  metric: string;
  value: number;
  actor: string;
  workflowId: string;
}

export interface PromoteIfBetterResult {
  promoted: boolean;
  previous?: { version: number; value: number | null };
  reason: string;
}

/** Input of the activity that registers a sweep's best trial (trained with register: false). */
export interface RegisterTrialInput {
  trialWorkflowId: string;
  /** the trial's first execution run id (with the workflow id, its S3 prefix) */
  trialRunId: string;
  spec: TrainSpec;
  metrics: Record<string, number>;
  weightsSha256: string;
  dataset: { name: string; digest: string };
  backend: BackendSummary | null;
  rounds: number;
  epochs: number;
  samplesPerSec: number;
  overheadFraction: number;
  codeVersion?: string;
}

/**
 * One poll of running trials: per trial, only the evaluated epochs the parent does not know yet
 * (epoch >= known), in order. Only new epochs travel: the sweep's history grows with the number of
 * epochs, not with epochs squared, and a trial past trainModel's 200-entry history window still
 * reports its new epochs.
 */
export interface WatchTrialsInput {
  /** workflow id -> epochs the parent already knows */
  known: Record<string, number>;
  pollMs: number;
}
export type WatchTrialsResult = Record<string, { newEpochs: EpochMetrics[] }>;

/** Lower is better except for accuracy-like metrics (the rule trainModel's early stopping uses). */
export function higherIsBetter(metric: string): boolean {
  return /accuracy/i.test(metric);
}

export function metricMode(metric: string, mode?: 'min' | 'max'): 'min' | 'max' {
  return mode ?? (higherIsBetter(metric) ? 'max' : 'min');
}

/** Strictly better in the given mode. */
/**
 * Whether `a` beats `b`. A value that is not a finite number (NaN, +-Infinity, or the null a NaN
 * becomes once it crossed a JSON boundary, where `null < 1` is true) never beats anything, and
 * any finite value beats it.
 */
export function isBetter(a: number, b: number, mode: 'min' | 'max'): boolean {
  if (!isFiniteNumber(a)) return false;
  if (!isFiniteNumber(b)) return true;
  return mode === 'max' ? a > b : a < b;
}

function isFiniteNumber(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

/** Sets `value` at a dotted path of a plain object tree, creating objects on the way. */
export function setPath(target: Record<string, unknown>, dotted: string, value: unknown): void {
  const parts = dotted.split('.');
  let node: Record<string, unknown> = target;
  for (const part of parts.slice(0, -1)) {
    const next = node[part];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[part] = {};
    node = node[part] as Record<string, unknown>;
  }
  node[parts.at(-1)!] = structuredClone(value);
}

function sample(dim: unknown[] | SweepRange, rand: () => number): unknown {
  if (Array.isArray(dim)) return dim[Math.floor(rand() * dim.length)];
  const u = rand();
  const v = dim.log
    ? Math.exp(Math.log(dim.min) + u * (Math.log(dim.max) - Math.log(dim.min)))
    : dim.min + u * (dim.max - dim.min);
  return dim.int ? Math.round(v) : v;
}

/** Validates a sweep file and plans its trials; every error names the field (and the trial). */
export function parseSweepSpec(input: unknown): { sweep: SweepSpec; trials: SweepTrialPlan[] } {
  const parsed = SweepSpecSchema.safeParse(input);
  if (!parsed.success)
    throw new BadInputError(`invalid sweep spec: ${formatSpecIssues(parsed.error, input)}`);
  const sweep = parsed.data;
  const keys = Object.keys(sweep.space);
  const combos: Record<string, unknown>[] = [];
  if (sweep.method === 'grid') {
    for (const k of keys) {
      if (!Array.isArray(sweep.space[k]))
        throw new BadInputError(
          `invalid sweep spec: space.${k}: a range needs method: random (grid search needs a list of values)`,
        );
    }
    // Cartesian product, the last key varying fastest.
    let acc: Record<string, unknown>[] = [{}];
    for (const k of keys) {
      const values = sweep.space[k] as unknown[];
      acc = acc.flatMap((c) => values.map((v) => ({ ...c, [k]: v })));
    }
    combos.push(...(sweep.trials !== undefined ? acc.slice(0, sweep.trials) : acc));
  } else {
    if (sweep.trials === undefined)
      throw new BadInputError('invalid sweep spec: trials=undefined: required when method is random');
    const rand = seededRandom(sweep.seed);
    for (let i = 0; i < sweep.trials; i++)
      combos.push(Object.fromEntries(keys.map((k) => [k, sample(sweep.space[k]!, rand)])));
  }
  // The base with its defaults applied, so a path into a defaulted object (the optimizer) works.
  let base: TrainSpec;
  try {
    base = parseTrainSpec(sweep.base);
  } catch (err) {
    throw new BadInputError(`invalid sweep spec: base: ${(err as Error).message}`);
  }
  const trials = combos.map((params, index) => {
    const raw = structuredClone(base) as unknown as Record<string, unknown>;
    for (const [k, v] of Object.entries(params)) setPath(raw, k, v);
    try {
      return { index, params, spec: parseTrainSpec(raw) };
    } catch (err) {
      throw new BadInputError(
        `invalid sweep spec: trial ${index} (${JSON.stringify(params)}): ${(err as Error).message}`,
      );
    }
  });
  return { sweep, trials };
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function bestUpTo(curve: number[], epochs: number, mode: 'min' | 'max'): number {
  const head = curve.slice(0, epochs);
  return mode === 'max' ? Math.max(...head) : Math.min(...head);
}

/**
 * Whether `trial` should stop now, given every trial's metric curve (value per evaluated epoch).
 * Returns the reason, or undefined to let it continue. Pure, so the workflow can call it.
 */
export function earlyStopReason(
  rule: EarlyStopRule,
  mode: 'min' | 'max',
  trial: number,
  curves: ReadonlyMap<number, number[]>,
): string | undefined {
  if (rule.rule === 'none') return undefined;
  const own = curves.get(trial) ?? [];
  if (rule.rule === 'median') {
    for (let e = rule.graceEpochs; e <= own.length; e++) {
      const others = [...curves.entries()]
        .filter(([i, c]) => i !== trial && c.length >= e)
        .map(([, c]) => bestUpTo(c, e, mode));
      if (others.length < rule.minTrials) continue;
      const m = median(others);
      const mine = bestUpTo(own, e, mode);
      if (isBetter(m, mine, mode))
        return `median rule at epoch ${e}: best ${mine.toPrecision(4)} worse than the median ${m.toPrecision(4)} of ${others.length} other trial(s)`;
    }
    return undefined;
  }
  // ASHA decides once, when the trial reaches a rung, against the values recorded there so far.
  const rung = own.length;
  let r = rule.graceEpochs;
  while (r < rung) r *= rule.reductionFactor;
  if (rung > 0 && r === rung) {
    const recorded = [...curves.values()].filter((c) => c.length >= rung).map((c) => c[rung - 1]!);
    if (recorded.length < 2) return undefined;
    const ranked = [...recorded].sort((a, b) => (mode === 'max' ? b - a : a - b));
    const keep = Math.max(1, Math.floor(recorded.length / rule.reductionFactor));
    const cutoff = ranked[keep - 1]!;
    const mine = own[rung - 1]!;
    if (isBetter(cutoff, mine, mode))
      return `asha rung at epoch ${rung}: ${mine.toPrecision(4)} not in the top 1/${rule.reductionFactor} of ${recorded.length} trial(s) (cutoff ${cutoff.toPrecision(4)})`;
  }
  return undefined;
}
