/** Registers a finished run's model as a new immutable version, idempotently per workflow. */
import type { RegisterRunModelInput } from '@seqtrain/contracts';
import { loadManifest } from '@seqtrain/dataset';
import type { ModelRegistry } from '@seqtrain/registry';
import type { BlobStore } from '@seqtrain/storage';

export interface RegisterDeps {
  store: BlobStore;
  registry: ModelRegistry;
}

function backendName(b: unknown): string {
  if (typeof b === 'object' && b !== null && 'name' in b) return String(b.name);
  return typeof b === 'string' && b ? b : 'unknown';
}

function libraryVersions(b: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (typeof b !== 'object' || b === null) return out;
  const info = b as Record<string, unknown>;
  for (const [k, name] of [
    ['tfjsVersion', '@tensorflow/tfjs'],
    ['tfjsNodeVersion', '@tensorflow/tfjs-node'],
    ['nativeTfVersion', 'tensorflow'],
  ] as const) {
    if (typeof info[k] === 'string') out[name] = info[k];
  }
  return out;
}

/** Cards hold finite numbers only (e.g. no train_loss of a run stopped before its first round). */
function finite(metrics: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(metrics).filter(([, v]) => Number.isFinite(v)));
}

export function createRegisterActivities({ store, registry }: RegisterDeps) {
  return {
    async registerRunModel(input: RegisterRunModelInput): Promise<{ name: string; version: number }> {
      const { spec } = input;
      // Inference needs the normalisation and vocabulary the model was trained with.
      const manifest = await loadManifest(store, `${input.plan.datasetName}@${input.plan.datasetDigest}`);
      const result = await registry.registerModel({
        name: spec.name,
        // One version per run: a retry keeps it, a later run that reuses the workflow id gets its own.
        runKey: `${input.workflowId}/${input.runId}`,
        sourcePrefix: input.modelPrefix,
        card: {
          spec: spec,
          hyperparameters: {
            task: spec.task,
            model: spec.model,
            training: spec.training,
            workers: spec.workers,
            paramCount: input.plan.paramCount,
            signature: manifest.signature,
          },
          metrics: {
            ...finite(input.metrics),
            rounds: input.stats.rounds,
            epochs: input.stats.epochs,
            samplesPerSec: input.stats.samplesPerSec,
            overheadFraction: input.stats.overheadFraction,
          },
          dataset: { name: input.plan.datasetName, digest: input.plan.datasetDigest },
          codeVersion: input.codeVersion ?? 'unknown',
          workflowId: input.workflowId,
          runId: input.runId,
          backend: backendName(input.backend),
          libraryVersions: libraryVersions(input.backend),
          description: `weightsSha256 ${input.stats.weightsSha256}`,
        },
      });
      return { name: spec.name, version: result.version };
    },
  };
}
export type RegisterActivities = ReturnType<typeof createRegisterActivities>;
