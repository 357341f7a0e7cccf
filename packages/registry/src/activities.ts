/**
 * Activities of the registry entity workflow, built over injected ports. They write only what the
 * workflow has already decided (version number, event sequence), and are idempotent on retry.
 */
import type {
  AliasEvent,
  RegisterVersionInput,
  RegisterVersionResult,
  RegistryState,
} from '@seqtrain/contracts';
import { SeqtrainError } from '@seqtrain/contracts';
import { Context } from '@temporalio/activity';
import type { BlobStore } from '@seqtrain/storage';
import type { RegistryCoordinator } from './coordinator';
import {
  loadRegistryState,
  publishVersion,
  writeAliasEvent,
  type PublishOptions,
  type PublishVersionInput,
} from './publish';

export interface RegistryActivityDeps extends PublishOptions {
  store: BlobStore;
  /** Needed only by `registerModel` (called from training workflows): usually a TemporalCoordinator. */
  coordinator?: RegistryCoordinator;
}

export function createRegistryActivities(deps: RegistryActivityDeps) {
  const { store } = deps;
  return {
    registryLoadState(name: string): Promise<RegistryState> {
      return loadRegistryState(store, name);
    },
    async registryPublishVersion(
      input: PublishVersionInput,
    ): Promise<{ name: string; version: number; runKey: string }> {
      const deadline = activityDeadline();
      const card = await publishVersion(store, input, {
        ...deps,
        ...(deadline !== undefined ? { deadlineMs: deadline } : {}),
      });
      // Only the identity goes back into workflow history; the card lives in the store.
      return { name: card.name, version: card.version, runKey: card.runKey };
    },
    registryWriteAliasEvent(event: AliasEvent): Promise<AliasEvent> {
      return writeAliasEvent(store, event, deps);
    },
    /** For training workflows: registers the model under `sourcePrefix` through the entity workflow. */
    registerModel(input: RegisterVersionInput): Promise<RegisterVersionResult> {
      if (!deps.coordinator)
        throw new SeqtrainError('registerModel activity needs a registry coordinator (TemporalCoordinator)');
      return deps.coordinator.registerVersion(input);
    },
  };
}

/**
 * When this activity attempt stops writing: a little before Temporal gives up on it (start-to-close
 * of this attempt, schedule-to-close of all attempts), so that once the entity moves on to the next
 * request, a late attempt does not copy files into the same version directory.
 */
function activityDeadline(): number | undefined {
  let info: Context['info'];
  try {
    info = Context.current().info;
  } catch {
    return undefined; // called outside an activity (tests, the in-process coordinator)
  }
  const ends: number[] = [];
  if (info.startToCloseTimeoutMs > 0)
    ends.push(info.currentAttemptScheduledTimestampMs + info.startToCloseTimeoutMs);
  if (info.scheduleToCloseTimeoutMs > 0) ends.push(info.scheduledTimestampMs + info.scheduleToCloseTimeoutMs);
  if (ends.length === 0) return undefined;
  const end = Math.min(...ends);
  const span = end - info.currentAttemptScheduledTimestampMs;
  return end - Math.min(30_000, span / 5);
}

export type RegistryActivities = ReturnType<typeof createRegistryActivities>;
