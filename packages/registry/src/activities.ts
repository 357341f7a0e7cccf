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
      const card = await publishVersion(store, input, deps);
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

export type RegistryActivities = ReturnType<typeof createRegistryActivities>;
