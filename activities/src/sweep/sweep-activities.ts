/**
 * Orchestrator activities of sweeps and retraining: watching trials' epochs, registering a
 * sweep's best trial, and the compare-and-promote step of `retrain`. Built over injected ports;
 * the Temporal client behind `probeTrial` is the worker's, never constructed here.
 */
import { Context } from '@temporalio/activity';
import {
  isBetter,
  metricMode,
  parseModelJson,
  runKeys,
  type EpochMetrics,
  type ModelJson,
  type PromoteIfBetterInput,
  type PromoteIfBetterResult,
  type RegisterTrialInput,
  type WatchTrialsInput,
  type WatchTrialsResult,
} from '@seqtrain/contracts';
import type { ModelRegistry } from '@seqtrain/registry';
import type { BlobStore } from '@seqtrain/storage';
import { createRegisterActivities } from '../training';

export interface SweepDeps {
  store: BlobStore;
  registry: ModelRegistry;
  /** The evaluated epochs of a training run (its `progress` query), or null if it cannot answer yet. */
  probeTrial(workflowId: string): Promise<EpochMetrics[] | null>;
}

/** A watch returns at the latest after this long even if nothing changed (bounded activity). */
const MAX_WATCH_MS = 5 * 60_000;

function paramCountOf(modelJson: ModelJson): number {
  let n = 0;
  for (const group of modelJson.weightsManifest)
    for (const w of group.weights) n += w.shape.reduce((a, b) => a * b, 1);
  return n;
}

export function createSweepActivities(deps: SweepDeps) {
  const { store, registry } = deps;
  const register = createRegisterActivities({ store, registry });
  return {
    /**
     * Long poll over the running trials' progress queries: returns as soon as one of them has
     * evaluated an epoch the parent does not know yet. The polling stays inside this activity, so
     * the sweep's history records one event per reported epoch, not one per tick.
     */
    async watchSweepTrials(input: WatchTrialsInput): Promise<WatchTrialsResult> {
      const ctx = Context.current();
      const started = Date.now();
      for (;;) {
        const out: WatchTrialsResult = {};
        let changed = false;
        for (const [id, known] of Object.entries(input.known)) {
          const history = (await deps.probeTrial(id)) ?? [];
          const newEpochs = history.filter((h) => h.epoch >= known);
          out[id] = { newEpochs };
          if (newEpochs.length > 0) changed = true;
        }
        if (changed || Date.now() - started > MAX_WATCH_MS) return out;
        ctx.heartbeat();
        await ctx.sleep(input.pollMs); // throws once the sweep cancels the watch
      }
    },

    /** Registers a trial trained with `register: false` from its exported model (runs/<id>/<execution>/model/). */
    async registerSweepTrial(input: RegisterTrialInput): Promise<{ name: string; version: number }> {
      const modelPrefix = `${runKeys.model(input.trialWorkflowId, input.trialRunId)}/`;
      const modelJson = parseModelJson(
        await store.get(`${modelPrefix}model.json`),
        `${store.describe}/${modelPrefix}model.json`,
      );
      return register.registerRunModel({
        workflowId: input.trialWorkflowId,
        runId: input.trialRunId,
        spec: input.spec,
        // registerRunModel reads the dataset identity and parameter count of the plan; the rest
        // of a RunPlan describes the finished loop and is not part of the card.
        plan: {
          runId: input.trialWorkflowId,
          datasetName: input.dataset.name,
          datasetDigest: input.dataset.digest,
          planKey: runKeys.plan(input.trialWorkflowId, input.trialRunId),
          ranks: input.spec.workers,
          shards: input.spec.workers * input.spec.training.microBatches,
          shardRows: [],
          valRows: 0,
          roundsPerEpoch: 0,
          examplesPerShardRound: 0,
          stepsPerRound: input.spec.training.syncEvery,
          paramCount: paramCountOf(modelJson),
          specHash: '',
        },
        modelPrefix,
        metrics: input.metrics,
        ...(input.codeVersion ? { codeVersion: input.codeVersion } : {}),
        backend: input.backend,
        stats: {
          rounds: input.rounds,
          epochs: input.epochs,
          samplesPerSec: input.samplesPerSec,
          overheadFraction: input.overheadFraction,
          weightsSha256: input.weightsSha256,
        },
      });
    },

    /**
     * Moves `alias` to the new version only if it beats the version the alias points to now on
     * `metric` (no alias yet counts as better). The move names the version it replaces, so a
     * concurrent promotion makes this one fail instead of silently overwriting it.
     */
    async promoteIfBetter(input: PromoteIfBetterInput): Promise<PromoteIfBetterResult> {
      const { name, alias, metric, value, version } = input;
      const current = await registry.currentAlias(name, alias);
      if (current?.version === version) {
        // A retry after the move succeeded.
        return { promoted: true, reason: `${name}@${alias} already points to version ${version}` };
      }
      let previous: PromoteIfBetterResult['previous'];
      if (typeof value !== 'number' || !Number.isFinite(value)) {
        // (NaN arrives here as null.) A model without a finite score is never promoted.
        return {
          promoted: false,
          reason: `${metric} of version ${version} is ${String(value)}, not a finite number`,
        };
      }
      let reason: string;
      if (!current) {
        reason = `first ${alias}: ${metric} ${value} (no previous ${alias})`;
      } else {
        const old = (await registry.getCard(name, current.version)).metrics[metric];
        previous = { version: current.version, value: old ?? null };
        if (old !== undefined && !isBetter(value, old, metricMode(metric))) {
          return {
            promoted: false,
            previous,
            reason: `${metric} ${value} of version ${version} does not beat ${old} of version ${current.version}`,
          };
        }
        reason =
          old === undefined
            ? `${metric} ${value}; version ${current.version} has no ${metric}`
            : `${metric} ${value} of version ${version} beats ${old} of version ${current.version}`;
      }
      await registry.promote(name, alias, version, {
        reason,
        actor: input.actor,
        workflowId: input.workflowId,
        expectedFrom: current?.version ?? null,
      });
      return { promoted: true, ...(previous ? { previous } : {}), reason };
    },
  };
}

export type SweepActivities = ReturnType<typeof createSweepActivities>;
