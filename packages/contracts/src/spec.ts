/**
 * The training spec (docs/cli-contract.md): what the user writes in SPEC.yaml and what the
 * workflow carries. Unknown keys are errors at every level so that a typo ("recurentDropout")
 * never silently trains with a default. Cross-checks against the dataset (task vs. dataset kind,
 * shapes) need the dataset signature and live in @seqtrain/model (`validateSpecForDataset`).
 */
import { z } from 'zod';
import { BadInputError } from './errors';

export const CELL_NAMES = ['lstm', 'gru', 'simpleRNN'] as const;
export const CellSchema = z.enum(CELL_NAMES);
// Spelled from the tuple, not z.infer: packages that do not depend on zod read it too.
export type Cell = (typeof CELL_NAMES)[number];

export const TASK_NAMES = ['regression', 'classification', 'generation', 'seq2seq'] as const;
export const TaskSchema = z.enum(TASK_NAMES);
export type Task = z.infer<typeof TaskSchema>;

const positiveInt = z.number().int().positive();
const probability = z.number().min(0).lt(1);

export const ModelSpecSchema = z
  .object({
    cell: CellSchema,
    /** one entry per stacked recurrent layer (encoder layers for seq2seq) */
    units: z.array(positiveInt).min(1),
    bidirectional: z.boolean().default(false),
    /** dropout on the inputs of each recurrent layer (seeded masks) */
    dropout: probability.default(0),
    recurrentDropout: probability.default(0),
    /** embedding width for token inputs (text-class, sequence, seq2seq); ignored for float inputs */
    embedding: positiveInt.optional(),
    /** one-to-many generation: how the condition (e.g. female/male) enters the RNN */
    conditioning: z.enum(['initial-state', 'repeat']).default('initial-state'),
    /** width of the condition embedding when conditioning is 'repeat' */
    conditionEmbedding: positiveInt.optional(),
    /** dense layer width before the output head (0 = none) */
    denseUnits: z.number().int().min(0).default(0),
  })
  .strict();
export type ModelSpec = z.infer<typeof ModelSpecSchema>;

export const OptimizerSpecSchema = z.discriminatedUnion('name', [
  z
    .object({
      name: z.literal('adam'),
      learningRate: z.number().positive(),
      beta1: probability.default(0.9),
      beta2: probability.default(0.999),
      epsilon: z.number().positive().default(1e-7),
    })
    .strict(),
  z
    .object({
      name: z.literal('rmsprop'),
      learningRate: z.number().positive(),
      /** decay of the moving average of squared gradients (Keras `rho`) */
      rho: probability.default(0.9),
      momentum: probability.default(0),
      epsilon: z.number().positive().default(1e-7),
    })
    .strict(),
  z
    .object({
      name: z.literal('sgd'),
      learningRate: z.number().positive(),
      momentum: probability.default(0),
      nesterov: z.boolean().default(false),
    })
    .strict(),
]);
export type OptimizerSpec = z.infer<typeof OptimizerSpecSchema>;
export type OptimizerName = OptimizerSpec['name'];

export const ScheduleSpecSchema = z
  .object({
    /** linear ramp from 0 to the base learning rate over this many steps */
    warmupSteps: z.number().int().min(0).default(0),
    decay: z.enum(['none', 'cosine', 'exponential']).default('none'),
    /** cosine: steps after warmup over which lr goes to minLearningRate; exponential: period of one decayRate factor */
    decaySteps: positiveInt.optional(),
    /** exponential: lr *= decayRate every decaySteps */
    decayRate: z.number().positive().max(1).optional(),
    minLearningRate: z.number().min(0).default(0),
  })
  .strict();
export type ScheduleSpec = z.infer<typeof ScheduleSpecSchema>;

/** Local-SGD outer step: plain average of worker weights (FedAvg) or Nesterov momentum on the averaged delta (DiLoCo). */
export const OuterOptimizerSpecSchema = z.discriminatedUnion('name', [
  z.object({ name: z.literal('average') }).strict(),
  z
    .object({
      name: z.literal('nesterov'),
      learningRate: z.number().positive().default(0.7),
      momentum: probability.default(0.9),
    })
    .strict(),
]);
export type OuterOptimizerSpec = z.infer<typeof OuterOptimizerSpecSchema>;

export const EarlyStoppingSpecSchema = z
  .object({
    metric: z.string().min(1).default('val_loss'),
    patience: z.number().int().min(0).default(3),
    minDelta: z.number().min(0).default(0),
  })
  .strict();
export type EarlyStoppingSpec = z.infer<typeof EarlyStoppingSpecSchema>;

export const TrainingSpecSchema = z
  .object({
    optimizer: OptimizerSpecSchema.default({
      name: 'adam',
      learningRate: 0.001,
      beta1: 0.9,
      beta2: 0.999,
      epsilon: 1e-7,
    }),
    schedule: ScheduleSpecSchema.prefault({}),
    /** clip the averaged gradient to this global L2 norm */
    clipNorm: z.number().positive().optional(),
    /** examples per micro-batch (per worker) */
    batchSize: positiveInt.default(32),
    /** micro-batches accumulated per round per worker */
    microBatches: positiveInt.default(1),
    /** 1 = exact synchronous gradient averaging; K > 1 = K local steps per worker between syncs */
    syncEvery: positiveInt.default(1),
    outerOptimizer: OuterOptimizerSpecSchema.default({ name: 'average' }),
    epochs: positiveInt.default(20),
    earlyStopping: EarlyStoppingSpecSchema.optional(),
    seed: z
      .number()
      .int()
      .min(0)
      .max(2 ** 31 - 1)
      .default(42),
  })
  .strict();
export type TrainingSpec = z.infer<typeof TrainingSpecSchema>;

export const TrainSpecSchema = z
  .object({
    /** registry model name */
    name: z
      .string()
      .regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'expected a lowercase name of letters, digits, . _ -'),
    /** NAME or NAME@DIGEST */
    dataset: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*(@[A-Za-z0-9:]+)?$/, 'expected NAME or NAME@DIGEST'),
    task: TaskSchema,
    model: ModelSpecSchema,
    training: TrainingSpecSchema.prefault({}),
    /** data-parallel replicas (shards) */
    workers: positiveInt.default(1),
  })
  .strict();
export type TrainSpec = z.infer<typeof TrainSpecSchema>;
/** What a user may write: defaults not yet applied. */
export type TrainSpecInput = z.input<typeof TrainSpecSchema>;

/** "model.units.0=0: Too small..." lines; unknown keys are named with their full path. */
export function formatSpecIssues(error: z.ZodError, input: unknown, prefix = ''): string {
  return error.issues
    .map((issue) => {
      const base = [prefix, ...issue.path.map(String)].filter((s) => s !== '').join('.');
      if (issue.code === 'unrecognized_keys') {
        return issue.keys.map((k) => `${base ? `${base}.` : ''}${k}: unknown key`).join('; ');
      }
      let value: unknown = input;
      for (const k of issue.path) value = (value as Record<PropertyKey, unknown> | undefined)?.[k];
      return `${base || '(root)'}=${value === undefined ? 'undefined' : JSON.stringify(value)}: ${issue.message}`;
    })
    .join('; ');
}

function parseWith<S extends z.ZodType>(schema: S, input: unknown, what: string, prefix: string): z.infer<S> {
  const parsed = schema.safeParse(input);
  if (!parsed.success)
    throw new BadInputError(`invalid ${what}: ${formatSpecIssues(parsed.error, input, prefix)}`);
  return parsed.data;
}

// Cross-field rules that zod's per-field schemas cannot express.
function checkSchedule(s: ScheduleSpec, field: string, what: string): void {
  if (s.decay !== 'none' && s.decaySteps === undefined) {
    throw new BadInputError(
      `invalid ${what}: ${field}.decaySteps=undefined: required when decay is '${s.decay}'`,
    );
  }
  if (s.decay === 'exponential' && s.decayRate === undefined) {
    throw new BadInputError(
      `invalid ${what}: ${field}.decayRate=undefined: required when decay is 'exponential'`,
    );
  }
}

/** Validates a whole training spec (already parsed from YAML/JSON); throws BadInputError naming each bad field. */
export function parseTrainSpec(input: unknown): TrainSpec {
  const spec = parseWith(TrainSpecSchema, input, 'training spec', '');
  checkSchedule(spec.training.schedule, 'training.schedule', 'training spec');
  return spec;
}

export function parseModelSpec(input: unknown): ModelSpec {
  return parseWith(ModelSpecSchema, input, 'model spec', 'model');
}

export function parseTrainingSpec(input: unknown): TrainingSpec {
  const training = parseWith(TrainingSpecSchema, input, 'training spec', 'training');
  checkSchedule(training.schedule, 'training.schedule', 'training spec');
  return training;
}
