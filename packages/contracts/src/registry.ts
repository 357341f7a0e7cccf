/**
 * Model registry contracts: names, references, model cards, alias events and the payloads of the
 * registry entity workflow. Pure (no Node imports): the workflow bundle, the HTTP server, the
 * client and the CLI all parse with these same schemas.
 */
import { z } from 'zod';
import { firstIssue } from './config';
import { BadInputError } from './errors';

/** Model and alias names are single path segments: no '/', no leading '.', so no traversal. */
export const MODEL_NAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,62}$/;
/** Aliases start with a letter so that `name@3` (version) and `name@prod` (alias) never collide. */
export const ALIAS_NAME_PATTERN = /^[a-z][a-z0-9._-]{0,62}$/;
/** Weight shard file names as tfjs writes them (`group1-shard1of1.bin`, `weights.bin`). */
export const WEIGHT_FILE_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
/** `name@latest` always means the newest complete version; it cannot be assigned. */
export const RESERVED_ALIASES = ['latest'] as const;

export const ModelNameSchema = z
  .string()
  .regex(MODEL_NAME_PATTERN, 'model name must match ^[a-z0-9][a-z0-9._-]{0,62}$');
export const AliasNameSchema = z
  .string()
  .regex(ALIAS_NAME_PATTERN, 'alias must match ^[a-z][a-z0-9._-]{0,62}$')
  .refine((a) => !(RESERVED_ALIASES as readonly string[]).includes(a), 'alias "latest" is reserved');
export const VersionNumberSchema = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);

export function assertModelName(name: unknown, field = 'model name'): string {
  if (typeof name !== 'string' || !MODEL_NAME_PATTERN.test(name)) {
    throw new BadInputError(
      `${field} ${JSON.stringify(name)} is invalid: expected ^[a-z0-9][a-z0-9._-]{0,62}$`,
    );
  }
  return name;
}

export function assertAliasName(alias: unknown, field = 'alias'): string {
  if (typeof alias !== 'string' || !ALIAS_NAME_PATTERN.test(alias)) {
    throw new BadInputError(
      `${field} ${JSON.stringify(alias)} is invalid: expected ^[a-z][a-z0-9._-]{0,62}$`,
    );
  }
  return alias;
}

/** Parses a version path segment or CLI suffix: decimal digits only, no sign, no leading zero. */
export function parseVersionNumber(text: string, field = 'version'): number {
  if (!/^[1-9][0-9]{0,15}$/.test(text) || !Number.isSafeInteger(Number(text))) {
    throw new BadInputError(`${field} ${JSON.stringify(text)} is invalid: expected a positive integer`);
  }
  return Number(text);
}

export type ModelRefTarget =
  { kind: 'version'; version: number } | { kind: 'alias'; alias: string } | { kind: 'latest' };
export interface ModelRef {
  name: string;
  target: ModelRefTarget;
}

/** `name`, `name@3`, `name@production`, `name@latest`; a bare name means latest. */
export function parseModelRef(text: string): ModelRef {
  const at = text.indexOf('@');
  const name = assertModelName(at < 0 ? text : text.slice(0, at), 'model name');
  if (at < 0) return { name, target: { kind: 'latest' } };
  const suffix = text.slice(at + 1);
  if (suffix === 'latest') return { name, target: { kind: 'latest' } };
  if (/^[0-9]/.test(suffix))
    return { name, target: { kind: 'version', version: parseVersionNumber(suffix) } };
  return { name, target: { kind: 'alias', alias: assertAliasName(suffix) } };
}

export function formatModelRef(ref: ModelRef): string {
  switch (ref.target.kind) {
    case 'version':
      return `${ref.name}@${ref.target.version}`;
    case 'alias':
      return `${ref.name}@${ref.target.alias}`;
    case 'latest':
      return `${ref.name}@latest`;
  }
}

const isoTime = z.iso.datetime({ offset: true });

export const ModelFileSchema = z.object({
  name: z.string().regex(WEIGHT_FILE_PATTERN),
  size: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
});
export type ModelFile = z.infer<typeof ModelFileSchema>;

/** What a registering run knows about its model; the registry adds name, version, time and files. */
export const ModelCardInputSchema = z.strictObject({
  /** The training spec as submitted (owned by the training contracts; stored verbatim). */
  spec: z.record(z.string(), z.unknown()),
  hyperparameters: z.record(z.string(), z.unknown()).default({}),
  metrics: z.record(z.string(), z.number()),
  dataset: z.strictObject({ name: z.string().min(1), digest: z.string().min(1) }),
  codeVersion: z.string().min(1),
  workflowId: z.string().min(1),
  runId: z.string().min(1).optional(),
  backend: z.string().min(1),
  libraryVersions: z.record(z.string(), z.string()).default({}),
  parentVersion: VersionNumberSchema.optional(),
  description: z.string().optional(),
});
export type ModelCardInput = z.input<typeof ModelCardInputSchema>;

export const ModelCardSchema = ModelCardInputSchema.extend({
  name: ModelNameSchema,
  version: VersionNumberSchema,
  /** Idempotency key of the registration (workflow id / run id of the registering run). */
  runKey: z.string().min(1),
  createdAt: isoTime,
  files: z.array(ModelFileSchema),
});
export type ModelCard = z.infer<typeof ModelCardSchema>;

export const AliasEventSchema = z.strictObject({
  model: ModelNameSchema,
  alias: z.string().regex(ALIAS_NAME_PATTERN),
  /** Per (model, alias), 1, 2, 3 ... allocated by the serialisation point. */
  seq: z.number().int().positive(),
  kind: z.enum(['promote', 'rollback']),
  from: VersionNumberSchema.nullable(),
  to: VersionNumberSchema,
  actor: z.string().min(1).max(200),
  reason: z.string().min(1).max(2000),
  workflowId: z.string().max(400).optional(),
  at: isoTime,
});
export type AliasEvent = z.infer<typeof AliasEventSchema>;

/** Request to move an alias; `version` omitted with kind 'rollback' = back to the previous target. */
export const MoveAliasRequestSchema = z.strictObject({
  kind: z.enum(['promote', 'rollback']).default('promote'),
  version: VersionNumberSchema.optional(),
  reason: z.string().min(1).max(2000),
  actor: z.string().min(1).max(200).optional(),
  workflowId: z.string().max(400).optional(),
  /** Optimistic guard: fail unless the alias currently points here (null = unset). */
  expectedFrom: VersionNumberSchema.nullable().optional(),
});
export type MoveAliasRequest = z.input<typeof MoveAliasRequestSchema>;

// ---- the registry entity workflow (one per model name) ----

export const REGISTRY_WORKFLOW_TYPE = 'modelRegistryWorkflow';
export const REGISTER_VERSION_UPDATE = 'registerVersion';
export const MOVE_ALIAS_UPDATE = 'moveAlias';
export const REGISTRY_STATE_QUERY = 'registryState';
export const REGISTRY_TASK_QUEUE = 'seqtrain';

export function registryWorkflowId(name: string): string {
  return `seqtrain-registry/${assertModelName(name)}`;
}

export interface RegisterVersionInput {
  name: string;
  runKey: string;
  /** Blob prefix holding model.json + weight files of the model to publish (claim check). */
  sourcePrefix: string;
  card: ModelCardInput;
}
export interface RegisterVersionResult {
  name: string;
  version: number;
  /** false when this runKey had already been registered (retry or replay). */
  created: boolean;
}

export interface MoveAliasInput {
  name: string;
  alias: string;
  request: MoveAliasRequest;
}

/** Arguments of the entity workflow (also its continue-as-new input). */
export interface RegistryWorkflowArgs {
  name: string;
  state?: RegistryState;
  /** The entity completes after this long without requests (ms); the next request restarts it. */
  idleTimeoutMs?: number;
  /** Continue-as-new beyond this many history events (default 5,000; tests use small values). */
  maxHistoryEvents?: number;
  /**
   * The longest one publish (copying a version's files, all retries included) may hold the queue
   * (ms, default 10 minutes): past it the request fails with a clear error and the next one runs.
   */
  publishTimeoutMs?: number;
}

/** What the entity workflow remembers (also the continue-as-new argument). JSON-safe. */
export interface RegistryState {
  name: string;
  /** Highest allocated version (0 = none). */
  lastVersion: number;
  /** runKey -> version, for idempotent registration. */
  runs: Record<string, number>;
  /** alias -> { seq of last event, current version } */
  aliases: Record<string, { seq: number; version: number; previous: number | null; at: string }>;
}

// ---- pure state transitions, shared by the entity workflow and the in-process coordinator ----

export function emptyRegistryState(name: string): RegistryState {
  return { name: assertModelName(name), lastVersion: 0, runs: {}, aliases: {} };
}

/** Same runKey -> same version; otherwise the next number. Mutates `state`. */
export function allocateVersion(state: RegistryState, runKey: string): RegisterVersionResult {
  if (typeof runKey !== 'string' || runKey.length === 0 || runKey.length > 400) {
    throw new BadInputError(`runKey ${JSON.stringify(runKey)} is invalid: expected 1..400 characters`);
  }
  const existing = state.runs[runKey];
  if (existing !== undefined) return { name: state.name, version: existing, created: false };
  state.lastVersion += 1;
  state.runs[runKey] = state.lastVersion;
  return { name: state.name, version: state.lastVersion, created: true };
}

/**
 * Decides the next alias event without applying it: the caller writes the event durably first,
 * then applies it with `applyAliasEvent`. `nowMs` is made strictly later than the previous event so
 * that "which version at time T" is never ambiguous.
 */
export function planAliasMove(state: RegistryState, input: MoveAliasInput, nowMs: number): AliasEvent {
  const alias = assertAliasName(input.alias);
  if ((RESERVED_ALIASES as readonly string[]).includes(alias)) {
    throw new BadInputError(
      `alias ${JSON.stringify(alias)} is reserved: ${input.name}@${alias} always means the newest version`,
    );
  }
  const parsed = MoveAliasRequestSchema.safeParse(input.request);
  if (!parsed.success) {
    throw new BadInputError(`alias move request: ${firstIssue(parsed.error)}`);
  }
  const req = parsed.data;
  const current = state.aliases[alias];
  if (req.expectedFrom !== undefined && (current?.version ?? null) !== req.expectedFrom) {
    throw new BadInputError(
      `alias ${state.name}@${alias} points to ${current?.version ?? 'nothing'}, not the expected ${req.expectedFrom ?? 'nothing'}`,
    );
  }
  let to: number;
  if (req.kind === 'rollback') {
    const previous = req.version ?? current?.previous ?? null;
    if (previous === null)
      throw new BadInputError(`alias ${state.name}@${alias} has no previous version to roll back to`);
    to = previous;
  } else {
    if (req.version === undefined)
      throw new BadInputError(`alias move request: version is required to promote`);
    to = req.version;
  }
  if (to > state.lastVersion) {
    throw new BadInputError(
      `version ${to} of model ${state.name} does not exist (latest is ${state.lastVersion || 'none'})`,
    );
  }
  const prevMs = current ? Date.parse(current.at) : -Infinity;
  return {
    model: state.name,
    alias,
    seq: (current?.seq ?? 0) + 1,
    kind: req.kind,
    from: current?.version ?? null,
    to,
    actor: req.actor ?? 'unknown',
    reason: req.reason,
    ...(req.workflowId !== undefined ? { workflowId: req.workflowId } : {}),
    at: new Date(Math.max(nowMs, prevMs + 1)).toISOString(),
  };
}

export function applyAliasEvent(state: RegistryState, event: AliasEvent): void {
  state.aliases[event.alias] = { seq: event.seq, version: event.to, previous: event.from, at: event.at };
}
