/**
 * The training activities (docs/architecture.md). Light ones (prepareRun, discoverTrainers,
 * registerRunModel) run on the orchestrator; trainers join groups and run segments (see
 * segment.ts), and initialise, evaluate and export checkpoints, one computation at a time per
 * process, heartbeating while they wait so that a queued activity is not mistaken for a dead one.
 */
import { asAllocationFailure } from './allocation';
import {
  BadInputError,
  BoundedMap,
  type BackendSummary,
  runKeys,
  type ExportModelInput,
  type ExportModelResult,
  type InitCheckpointInput,
  type InitCheckpointResult,
  type JoinGroupInput,
  type JoinGroupResult,
  type LeaveGroupInput,
  type PrepareRunInput,
  type RunControl,
  type RunPlan,
  type SegmentInput,
  type SegmentResult,
} from '@seqtrain/contracts';
import type { DataPlaneServer } from '@seqtrain/dataplane';
import { assertSignatureFitsTask, loadManifest, planShards } from '@seqtrain/dataset';
import {
  blobStoreIOHandler,
  buildModel,
  encodeCheckpoint,
  MODEL_WEIGHTS_FILE,
  initCheckpoint,
  setFlatWeights,
  validateDefinition,
} from '@seqtrain/model';
import type { BlobStore } from '@seqtrain/storage';
import { currentActivity } from '../activity-io';
import { TrainerLease } from './lease';
import type { TrainingTelemetry } from './telemetry';
import { roundsPerEpoch, runSegment } from './segment';
import { ComputeSlot, TrainerCache, weightsSha256 } from './trainer-cache';

export interface TrainingDeps {
  store: BlobStore;
  workerId: string;
  /** BackendInfo of this trainer, reported with every result */
  backend?: BackendSummary;
  /** this trainer's data-plane listener (needed for groups of more than one member) */
  dataPlane?: DataPlaneServer;
  /** a run's control query, asked by the leader of a segment */
  control?: (runId: string) => Promise<RunControl>;
  /** monitoring: rounds, checkpoints and segments (the worker's Prometheus metrics) */
  telemetry?: TrainingTelemetry;
}

/** A join reserves the trainer this long for the run's first segment. */
const JOIN_RESERVATION_MS = 60_000;
/** A dataset up to this size is read whole while a group forms (each trainer holds a copy). */
const PREFETCH_WHOLE_DATASET_BYTES = 16 * 2 ** 20;

/**
 * Heartbeats every few seconds while an activity waits for the compute slot or for S3, so that a
 * queued activity is not mistaken for a dead one. A dead process stops heartbeating, and so does
 * one stuck inside a synchronous kernel: both are still detected within the heartbeat timeout.
 */
async function keepAlive<T>(fn: () => Promise<T>): Promise<T> {
  const ctx = currentActivity();
  const timer = ctx ? setInterval(() => ctx.heartbeat(), 5_000) : undefined;
  try {
    return await fn();
  } finally {
    if (timer) clearInterval(timer);
  }
}

export interface LightTrainingDeps {
  store: BlobStore;
  /** worker ids of the trainers polling the shared trainer queue recently (Temporal's view) */
  listTrainers?: () => Promise<string[]>;
}

/** Prepares a run: resolves the dataset, validates the spec against it, plans the shards. */
export function createLightTrainingActivities({ store, listTrainers }: LightTrainingDeps) {
  return {
    /** Candidate trainers for a group; each is then asked to join on its own queue. */
    async discoverTrainers(): Promise<string[]> {
      return listTrainers ? [...new Set(await listTrainers())].sort() : [];
    },

    async prepareRun({ runId, execution, spec }: PrepareRunInput): Promise<RunPlan> {
      const manifest = await loadManifest(store, spec.dataset);
      assertSignatureFitsTask(manifest.signature, spec.task);
      validateDefinition(spec.task, spec.model, manifest.signature);
      const t = spec.training;
      // One shard per micro-batch slot of a round: the data order then depends only on the
      // global batch (workers x microBatches x batchSize), not on how ranks share the slots.
      const plan = planShards(manifest, spec.workers * t.microBatches, t.seed);
      const planKey = runKeys.plan(runId, execution);
      await store.put(planKey, JSON.stringify(plan), { contentType: 'application/json' });
      const shardRows = plan.shards.map((s) => s.rows);
      const perSlot = t.batchSize * t.syncEvery;
      const smallest = Math.min(...shardRows);
      const rounds = roundsPerEpoch(plan, spec);
      if (rounds < 1) {
        throw new BadInputError(
          `training.batchSize=${t.batchSize} x syncEvery=${t.syncEvery} = ${perSlot} rows per micro-batch slot and round exceeds the smallest shard (${smallest} rows of ${manifest.name} split into workers=${spec.workers} x microBatches=${t.microBatches} = ${plan.shards.length} slots); lower the batch size, the number of workers or microBatches`,
        );
      }
      if (plan.validation.rows === 0) {
        throw new BadInputError(
          `dataset ${manifest.name}@${manifest.digest.slice(0, 12)} has no validation rows; re-import it with --val-fraction > 0`,
        );
      }
      return {
        runId,
        datasetName: manifest.name,
        datasetDigest: manifest.digest,
        planKey,
        ranks: spec.workers,
        shards: plan.shards.length,
        shardRows,
        valRows: plan.validation.rows,
        roundsPerEpoch: rounds,
        examplesPerShardRound: perSlot,
        stepsPerRound: t.syncEvery,
        paramCount: 0,
        specHash: '',
      };
    },
  };
}

export function createTrainerActivities(deps: TrainingDeps) {
  const { store, workerId } = deps;
  const cache = new TrainerCache(store);
  const slot = new ComputeSlot();
  const lease = new TrainerLease();
  const backend = deps.backend ?? null;
  // The generation of each recent run's last segment here: a later one is a re-formed group.
  const generations = new BoundedMap<string, number>(256);

  // The plan pins the dataset digest: a newer import under the same name never leaks into a run.
  async function dataset(planKey: string) {
    const plan = await cache.plan(planKey);
    const manifest = await cache.manifest(`${plan.name}@${plan.digest}`);
    return { manifest, plan };
  }

  async function context(planKey: string, spec: InitCheckpointInput['spec']) {
    const { manifest, plan } = await dataset(planKey);
    return { manifest, plan, m: cache.model(spec, manifest) };
  }

  return {
    /** Reserves this trainer for a run's group, unless another run holds it. */
    joinGroup(input: JoinGroupInput): Promise<JoinGroupResult> {
      const r = lease.reserve(input.runId, JOIN_RESERVATION_MS);
      if (!r.ok) return Promise.resolve({ joined: false, workerId, busyWith: r.holder });
      if (input.prefetch) {
        // While the group forms and the segment is dispatched: the model, the validation rows
        // (every member may lead) and, for a small dataset, every shard, in the compute slot so as never to overlap a computation.
        const { planKey, spec } = input.prefetch;
        void slot
          .run(async () => {
            const { manifest, plan } = await context(planKey, spec);
            // Which shards this trainer gets is known only once the group forms; a small dataset
            // is read whole (in parallel), so that a short run's segment starts on rows in memory.
            const shards = manifest.bytes <= PREFETCH_WHOLE_DATASET_BYTES ? plan.shards.map((_, i) => i) : [];
            await Promise.all([-1, ...shards].map((shard) => cache.rows(manifest, plan, planKey, shard)));
          })
          .catch(() => undefined); // the segment loads (and reports) for real
      }
      return Promise.resolve({
        joined: true,
        workerId,
        address: deps.dataPlane?.address ?? '',
        backend,
      });
    },

    /** The run placed no rank here: free the trainer for other runs. */
    leaveGroup(input: LeaveGroupInput): Promise<void> {
      lease.release(input.runId);
      return Promise.resolve();
    },

    runSegment(input: SegmentInput): Promise<SegmentResult> {
      return runSegment(
        {
          store,
          workerId,
          backend,
          cache,
          lease,
          run: (fn) => slot.run(fn),
          ...(deps.dataPlane ? { dataPlane: deps.dataPlane } : {}),
          ...(deps.control ? { control: deps.control } : {}),
          ...(deps.telemetry ? { telemetry: deps.telemetry, generations } : {}),
        },
        input,
      );
    },

    async initCheckpoint(input: InitCheckpointInput): Promise<InitCheckpointResult> {
      return keepAlive(() =>
        slot.run(async () => {
          const { manifest } = await dataset(input.planKey);
          // A freshly built model: the cached one holds whatever weights its last use left behind,
          // and checkpoint 0 must be the seeded initialisation.
          let fresh: ReturnType<typeof buildModel>;
          try {
            fresh = buildModel(
              input.spec.model,
              input.spec.task,
              manifest.signature,
              input.spec.training.seed,
            );
          } catch (err) {
            throw asAllocationFailure(err, input.spec, 'building the model');
          }
          try {
            if (!(await store.head(input.outputKey))) {
              let c: ReturnType<typeof initCheckpoint>;
              try {
                c = initCheckpoint(fresh, input.spec.training);
              } catch (err) {
                throw asAllocationFailure(err, input.spec, 'initialising the weights and optimizer state');
              }
              await store.put(input.outputKey, encodeCheckpoint(c));
              cache.remember(input.outputKey, c);
            }
            return {
              checkpointKey: input.outputKey,
              paramCount: fresh.size,
              specHash: fresh.specHash,
              backend,
            };
          } finally {
            // Segments set the weights of the cached model before every use: this trainer's first
            // segment need not build it again.
            cache.adopt(input.spec, manifest, fresh);
          }
        }),
      );
    },

    async exportModel(input: ExportModelInput): Promise<ExportModelResult> {
      return keepAlive(() =>
        slot.run(async () => {
          const { m } = await context(input.planKey, input.spec);
          const checkpoint = await cache.checkpoint(input.checkpointKey);
          setFlatWeights(m, checkpoint.weights);
          const prefix = `${runKeys.model(input.runId, input.execution)}/`;
          // Weights first, model.json last: a reader that finds model.json finds its weights.
          await m.model.save(blobStoreIOHandler(store, prefix));
          const files = ['model.json', MODEL_WEIGHTS_FILE];
          return { modelPrefix: prefix, weightsSha256: weightsSha256(checkpoint.weights), files };
        }),
      );
    },
  };
}

export type LightTrainingActivities = ReturnType<typeof createLightTrainingActivities>;
export type TrainerActivities = ReturnType<typeof createTrainerActivities>;
