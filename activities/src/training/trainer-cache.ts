/**
 * What a trainer process keeps in memory between activities: the model per architecture, the
 * dataset manifest, its shard and validation rows, and the latest checkpoints. All of it can be
 * rebuilt from S3, so a fresh trainer serves any shard; a warm one skips the downloads.
 */
import {
  BoundedMap,
  CorruptDataError,
  parseStoredJson,
  ShardPlanSchema,
  type DatasetManifest,
  type SequenceBatch,
  type ShardPlan,
  type TrainSpec,
} from '@seqtrain/contracts';
import { BatchCache, concatBatches, loadManifest, ShardReader } from '@seqtrain/dataset';
import { buildModel, decodeCheckpoint, type Checkpoint, type SeqModel } from '@seqtrain/model';
import { sha256Hex, type BlobStore } from '@seqtrain/storage';

/**
 * A trainer lives for many runs: every cache here is bounded, in entries or bytes. The readers
 * share one batch cache (each had 256 MiB of its own, on top of the shard rows kept here).
 */
export const TRAINER_CACHE_LIMITS = {
  datasets: 8,
  plans: 16,
  shards: 64,
  /** the one a segment starts from and the one it writes */
  checkpoints: 2,
  batchBytes: 64 * 2 ** 20,
};

export class TrainerCache {
  private models = new Map<string, SeqModel>();
  private manifests = new BoundedMap<string, Promise<DatasetManifest>>(TRAINER_CACHE_LIMITS.datasets);
  private plans = new BoundedMap<string, Promise<ShardPlan>>(TRAINER_CACHE_LIMITS.plans);
  private shards: BoundedMap<string, Promise<SequenceBatch>>;
  private checkpoints = new BoundedMap<string, Checkpoint>(TRAINER_CACHE_LIMITS.checkpoints);
  private readers = new BoundedMap<string, ShardReader>(TRAINER_CACHE_LIMITS.datasets);
  private readonly batches = new BatchCache(TRAINER_CACHE_LIMITS.batchBytes);

  constructor(
    private readonly store: BlobStore,
    maxShards = TRAINER_CACHE_LIMITS.shards,
  ) {
    this.shards = new BoundedMap(maxShards);
  }

  /** How many entries each cache holds now (for tests and diagnostics). */
  sizes(): {
    manifests: number;
    plans: number;
    readers: number;
    shards: number;
    checkpoints: number;
    batchBytes: number;
  } {
    return {
      manifests: this.manifests.size,
      plans: this.plans.size,
      readers: this.readers.size,
      shards: this.shards.size,
      checkpoints: this.checkpoints.size,
      batchBytes: this.batches.bytes,
    };
  }

  /** The model of a spec, built once (its weights are whatever its last user set: set them). */
  model(spec: TrainSpec, manifest: DatasetManifest): SeqModel {
    return (
      this.models.get(modelKey(spec, manifest)) ??
      this.adopt(spec, manifest, buildModel(spec.model, spec.task, manifest.signature, spec.training.seed))
    );
  }

  /** Keeps `m` as the model of the spec (e.g. the one checkpoint 0 was taken from), or disposes it. */
  adopt(spec: TrainSpec, manifest: DatasetManifest, m: SeqModel): SeqModel {
    const key = modelKey(spec, manifest);
    const have = this.models.get(key);
    if (have) {
      if (have !== m) m.dispose();
      return have;
    }
    // One architecture at a time is the common case: drop others to free tensors.
    for (const [k, old] of this.models) {
      old.dispose();
      this.models.delete(k);
    }
    this.models.set(key, m);
    return m;
  }

  manifest(ref: string): Promise<DatasetManifest> {
    let p = this.manifests.get(ref);
    if (!p) {
      p = loadManifest(this.store, ref);
      p.catch(() => this.manifests.delete(ref));
      this.manifests.set(ref, p);
    }
    return p;
  }

  plan(key: string): Promise<ShardPlan> {
    let p = this.plans.get(key);
    if (!p) {
      p = this.store
        .get(key)
        .then((b) => parseStoredJson(b, ShardPlanSchema, `${this.store.describe}/${key}`));
      p.catch(() => this.plans.delete(key));
      this.plans.set(key, p);
    }
    return p;
  }

  private reader(manifest: DatasetManifest): ShardReader {
    let r = this.readers.get(manifest.digest);
    if (!r) {
      r = new ShardReader(this.store, manifest, { cache: this.batches });
      this.readers.set(manifest.digest, r);
    }
    return r;
  }

  /** All rows of one shard (or of the validation split, shard -1), concatenated in plan order. */
  rows(
    manifest: DatasetManifest,
    plan: ShardPlan,
    planKey: string,
    shard: number,
    onBatch?: () => void,
  ): Promise<SequenceBatch> {
    const key = `${planKey}#${shard}`;
    let p = this.shards.get(key);
    if (!p) {
      const refs = shard < 0 ? plan.validation.batches : plan.shards[shard]?.batches;
      if (!refs) return Promise.reject(new CorruptDataError(`plan ${planKey} has no shard ${shard}`));
      p = (async () => {
        const batches: SequenceBatch[] = [];
        for await (const b of this.reader(manifest).read(refs)) {
          batches.push(b);
          onBatch?.();
        }
        return concatBatches(batches);
      })();
      p.catch(() => this.shards.delete(key));
      this.shards.set(key, p);
    }
    return p;
  }

  async checkpoint(key: string): Promise<Checkpoint> {
    const hit = this.checkpoints.get(key);
    if (hit) return hit;
    const c = decodeCheckpoint(await this.store.get(key));
    this.remember(key, c);
    return c;
  }

  remember(key: string, c: Checkpoint): void {
    this.checkpoints.set(key, c);
  }
}

function modelKey(spec: TrainSpec, manifest: DatasetManifest): string {
  return `${manifest.digest}/${JSON.stringify(spec.model)}/${spec.task}/${spec.training.seed}`;
}

/** sha256 of the weights' little-endian float32 bytes: the run's reproducibility fingerprint. */
export function weightsSha256(weights: Float32Array): string {
  return sha256Hex(new Uint8Array(weights.buffer, weights.byteOffset, weights.byteLength));
}

/** A process-wide mutex: one training computation at a time per trainer process. */
export class ComputeSlot {
  private tail: Promise<void> = Promise.resolve();
  async run<T>(fn: () => Promise<T>): Promise<T> {
    const prev = this.tail;
    let release!: () => void;
    this.tail = new Promise<void>((r) => (release = r));
    await prev;
    try {
      return await fn();
    } finally {
      release();
    }
  }
}
