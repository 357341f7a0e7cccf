/**
 * The serialisation point of the registry. Version numbers and alias event sequence numbers are
 * allocated here and nowhere else, because plain S3 offers no compare-and-swap to allocate them
 * safely from several writers. Two implementations:
 * - `TemporalCoordinator` (production): one entity workflow per model name; Updates are applied one
 *   at a time in its history, so any number of workers and processes may register concurrently.
 * - `InProcessCoordinator` (unit tests only): the same transitions under an in-memory lock. Sound
 *   only while it is the sole writer of the store's registry prefix, so no command uses it.
 */
import {
  allocateVersion,
  applyAliasEvent,
  assertModelName,
  planAliasMove,
  type AliasEvent,
  type MoveAliasInput,
  type RegisterVersionInput,
  type RegisterVersionResult,
  type RegistryState,
} from '@seqtrain/contracts';
import type { BlobStore } from '@seqtrain/storage';
import { loadRegistryState, publishVersion, readCard, writeAliasEvent, type PublishOptions } from './publish';

export interface RegistryCoordinator {
  /** Publishes the model under `sourcePrefix` as the next version, or returns the runKey's version. */
  registerVersion(input: RegisterVersionInput): Promise<RegisterVersionResult>;
  /** Appends an alias event and returns it. */
  moveAlias(input: MoveAliasInput): Promise<AliasEvent>;
}

export interface InProcessCoordinatorOptions extends PublishOptions {
  /** Milliseconds since the epoch; injectable so tests control event times. */
  clock?: () => number;
}

export class InProcessCoordinator implements RegistryCoordinator {
  private readonly states = new Map<string, RegistryState>();
  private readonly tails = new Map<string, Promise<unknown>>();
  private readonly clock: () => number;

  constructor(
    private readonly store: BlobStore,
    private readonly options: InProcessCoordinatorOptions = {},
  ) {
    this.clock = options.clock ?? Date.now;
  }

  /** Runs `fn` after every earlier operation on the same model has settled. */
  private serial<T>(name: string, fn: (state: RegistryState) => Promise<T>): Promise<T> {
    const prev = this.tails.get(name) ?? Promise.resolve();
    const next = prev
      .catch(() => undefined)
      .then(async () => {
        let state = this.states.get(name);
        if (!state) {
          state = await loadRegistryState(this.store, name);
          this.states.set(name, state);
        }
        return fn(state);
      });
    this.tails.set(name, next);
    return next;
  }

  registerVersion(input: RegisterVersionInput): Promise<RegisterVersionResult> {
    const name = assertModelName(input.name);
    return this.serial(name, async (state) => {
      const known = state.runs[input.runKey];
      if (known !== undefined && (await readCard(this.store, name, known)))
        return { name, version: known, created: false };
      // Commit the number only after the card is written: a failed publish leaves no gap.
      const version = state.lastVersion + 1;
      await publishVersion(
        this.store,
        {
          name,
          version,
          runKey: input.runKey,
          sourcePrefix: input.sourcePrefix,
          card: input.card,
          createdAt: new Date(this.clock()).toISOString(),
        },
        this.options,
      );
      return allocateVersion(state, input.runKey);
    });
  }

  moveAlias(input: MoveAliasInput): Promise<AliasEvent> {
    const name = assertModelName(input.name);
    return this.serial(name, async (state) => {
      const event = planAliasMove(state, input, this.clock());
      await writeAliasEvent(this.store, event, this.options);
      applyAliasEvent(state, event);
      return event;
    });
  }
}
