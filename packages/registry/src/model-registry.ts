/**
 * The registry as a library: reads straight from the store, writes through the coordinator.
 */
import { createHash } from 'node:crypto';
import {
  assertAliasName,
  assertModelName,
  BadInputError,
  firstIssue,
  ModelCardInputSchema,
  type AliasEvent,
  type ModelCardInput,
  type RegisterVersionResult,
} from '@seqtrain/contracts';
import type { BlobStore } from '@seqtrain/storage';
import { writeModelFiles, type ModelFiles } from './artifacts';
import type { RegistryCoordinator } from './coordinator';
import { modelPrefix } from './layout';
import { normalisePrefix } from './publish';
import { RegistryReader, type ReaderLimits } from './reader';

export interface RegisterModelInput {
  name: string;
  /** Idempotency key: the registering workflow id / run id. Same key -> same version. */
  runKey: string;
  /** The model files, or a prefix in the same store that already holds model.json + weights. */
  artifacts?: ModelFiles;
  sourcePrefix?: string;
  card: ModelCardInput;
}

export interface AliasMoveOptions {
  reason: string;
  actor?: string;
  workflowId?: string;
  expectedFrom?: number | null;
}

export class ModelRegistry extends RegistryReader {
  constructor(
    store: BlobStore,
    readonly coordinator: RegistryCoordinator,
    limits: ReaderLimits = {},
  ) {
    super(store, limits);
  }

  async registerModel(input: RegisterModelInput): Promise<RegisterVersionResult> {
    const name = assertModelName(input.name);
    if (typeof input.runKey !== 'string' || input.runKey.length === 0)
      throw new BadInputError(`runKey must be a non-empty string`);
    const card = ModelCardInputSchema.safeParse(input.card);
    if (!card.success) {
      throw new BadInputError(`model card: ${firstIssue(card.error)}`);
    }
    if ((input.artifacts === undefined) === (input.sourcePrefix === undefined)) {
      throw new BadInputError('registerModel needs exactly one of artifacts or sourcePrefix');
    }
    let sourcePrefix: string;
    let staged = false;
    if (input.artifacts) {
      // Staging is keyed by the run, so a retried registration rewrites the same objects.
      const runHash = createHash('sha256').update(input.runKey).digest('hex').slice(0, 32);
      sourcePrefix = await writeModelFiles(
        this.store,
        `${modelPrefix(name)}staging/${runHash}/`,
        input.artifacts,
      );
      staged = true;
    } else {
      sourcePrefix = normalisePrefix(input.sourcePrefix ?? '');
    }
    const result = await this.coordinator.registerVersion({
      name,
      runKey: input.runKey,
      sourcePrefix,
      card: card.data,
    });
    if (staged) {
      const keys = (await this.store.list(sourcePrefix)).map((b) => b.key);
      await this.store.deleteMany(keys).catch(() => undefined);
    }
    return result;
  }

  promote(name: string, alias: string, version: number, options: AliasMoveOptions): Promise<AliasEvent> {
    return this.coordinator.moveAlias({
      name: assertModelName(name),
      alias: assertAliasName(alias),
      request: { kind: 'promote', version, ...options },
    });
  }

  /** Moves the alias back to where it pointed before its last move (or to `version`). */
  rollback(
    name: string,
    alias: string,
    options: AliasMoveOptions & { version?: number },
  ): Promise<AliasEvent> {
    return this.coordinator.moveAlias({
      name: assertModelName(name),
      alias: assertAliasName(alias),
      request: { kind: 'rollback', ...options },
    });
  }
}
