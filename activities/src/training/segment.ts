/**
 * The segment activity: one per group member, all started together. It loads this member's
 * shards and the current checkpoint, connects to its neighbours over the data plane, runs the
 * training loop for about `budgetMs` (or to the end of training), and on the leader writes the
 * checkpoint and the segment's record. Temporal sees one activity per member per segment; every
 * step happens between trainers.
 *
 * Liveness: every member heartbeats each round (Temporal notices a dead or frozen trainer within
 * the heartbeat timeout), every wait on a peer is bounded by that peer's silence, and the leader
 * polls the workflow's control query (stop/pause land within a second, without history events).
 */
import { asAllocationFailure } from './allocation';
import { CancelledFailure } from '@temporalio/common';
import {
  parseStoredJson,
  PeerError,
  retainCheckpoints,
  runKeys,
  SegmentRecordSchema,
  type BoundedMap,
  type BackendSummary,
  type Checked,
  type DatasetManifest,
  type RunControl,
  type SegmentEndReason,
  type SegmentInput,
  type SegmentProgress,
  type SegmentResult,
  type SequenceBatch,
  type ShardPlan,
} from '@seqtrain/contracts';
import { dialPeer, type DataPlaneServer, type FramedSocket } from '@seqtrain/dataplane';
import { encodeCheckpoint, type Checkpoint, type SeqModel } from '@seqtrain/model';
import type { BlobStore } from '@seqtrain/storage';
import { ChainExchange, soloExchange, type Exchange } from './exchange';
import type { TrainerLease } from './lease';
import type { TrainerCache } from './trainer-cache';
import { currentActivity, type ActivityIo } from '../activity-io';
import type { TrainingTelemetry } from './telemetry';
import { TrainingLoop } from './training-loop';

/** How long a member tries to reach the next one (its dialer). */
const CONNECT_TIMEOUT_MS = 60_000;
/**
 * How long a member waits for the previous one to connect: longer than that one dials, so that
 * when the dial fails, the dialer's PeerUnreachableError (which names the unreachable trainer)
 * reaches the workflow before this side's timeout cancels the segment.
 */
const ACCEPT_TIMEOUT_MS = CONNECT_TIMEOUT_MS + 10_000;
/** Silence tolerated from a neighbour, on top of 4x the longest compute of this member's part of a round. */
const BASE_IDLE_TIMEOUT_MS = 20_000;
const KEEPALIVE_MS = 1_000;
/** How often the leader asks the workflow whether to stop or pause. */
const CONTROL_POLL_MS = 300;
/** After a budget-ended segment the trainer stays reserved this long for the run's next one. */
const NEXT_SEGMENT_GRACE_MS = 30_000;

export interface SegmentDeps {
  store: BlobStore;
  workerId: string;
  backend: BackendSummary | null;
  cache: TrainerCache;
  lease: TrainerLease;
  /** serialises the trainer's computations */
  run: <T>(fn: () => Promise<T>) => Promise<T>;
  dataPlane?: DataPlaneServer;
  /** the run's control query (stop, pause, which segment it is on); undefined: never asked */
  control?: (runId: string) => Promise<RunControl>;
  /** where rounds, checkpoints and segments are reported for monitoring */
  telemetry?: TrainingTelemetry;
  /** generations of runs this trainer has run segments in (restart detection) */
  generations?: BoundedMap<string, number>;
}

const yieldNow = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Heartbeats with the latest progress, at most every 200 ms (the SDK throttles further). */
class Beat {
  details: SegmentProgress | undefined;
  private last = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly ctx: ActivityIo | undefined,
    private readonly signal: AbortSignal | undefined,
  ) {}

  /** Heartbeats and throws CancelledFailure once the activity is cancelled. */
  now = (): void => {
    if (this.signal?.aborted) throw new CancelledFailure('segment cancelled');
    const t = Date.now();
    if (t - this.last >= 200) {
      this.ctx?.heartbeat(this.details);
      this.last = t;
    }
  };

  /** Keeps heartbeating while this side waits (the compute slot, S3, its peers). */
  start(): void {
    this.timer = setInterval(() => {
      if (!this.signal?.aborted) this.ctx?.heartbeat(this.details);
    }, 2_000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}

/** The trainer-side half of the segment protocol. */
export async function runSegment(deps: SegmentDeps, input: SegmentInput): Promise<SegmentResult> {
  const ctx = currentActivity();
  const signal = ctx?.cancellationSignal;
  const { runId, group, member: index } = input;
  const me = group.members[index];
  if (!me || me.workerId !== deps.workerId)
    throw new PeerError(
      `segment ${input.segment} of run ${runId}: member ${index} is ${me?.workerId ?? 'nobody'}, this trainer is ${deps.workerId}`,
    );
  const held = deps.lease.hold(runId);
  if (!held.ok) throw new PeerError(`trainer ${deps.workerId} now serves run ${held.holder}`);
  let grace = 0;
  const beat = new Beat(ctx, signal);
  beat.start();
  try {
    const record = await recorded(deps.store, runKeys.segmentRecord(runId, input.execution, input.segment));
    if (record && record.execution === input.execution && record.end.step >= input.start.step) {
      grace = record.reason === 'budget' ? NEXT_SEGMENT_GRACE_MS : 0;
      return { ...record, member: index, workerId: deps.workerId, backend: deps.backend, replayed: true };
    }
    const result = await deps.run(() => runLoop(deps, input, signal, beat));
    grace = result.reason === 'budget' ? NEXT_SEGMENT_GRACE_MS : 0;
    return result;
  } finally {
    beat.stop();
    deps.lease.done(runId, grace);
  }
}

async function recorded(store: BlobStore, key: string): Promise<SegmentResult | undefined> {
  if (!(await store.head(key))) return undefined;
  const where = `${store.describe}/${key}`;
  return parseStoredJson(await store.get(key), { safeParse: segmentRecord }, where);
}

/** The fields of a segment record a replay relies on, checked (a damaged record is not replayed). */
function segmentRecord(v: unknown): Checked<SegmentResult> {
  const r = SegmentRecordSchema.safeParse(v);
  // The checked fields are SegmentResult's; the others pass through as the leader wrote them.
  return r.success
    ? { success: true, data: r.data as unknown as SegmentResult }
    : { success: false, error: r.error };
}

async function loadData(
  deps: SegmentDeps,
  input: SegmentInput,
  beat: () => void,
): Promise<{
  manifest: DatasetManifest;
  m: SeqModel;
  shards: Map<number, SequenceBatch>;
  validation: SequenceBatch | undefined;
  checkpoint: Checkpoint;
}> {
  const { cache } = deps;
  const plan: ShardPlan = await cache.plan(input.planKey);
  const manifest = await cache.manifest(`${plan.name}@${plan.digest}`);
  const m = cache.model(input.spec, manifest);
  const me = input.group.members[input.member]!;
  const mb = input.spec.training.microBatches;
  const slots = Array.from({ length: me.ranks * mb }, (_, i) => me.firstRank * mb + i);
  const [rows, validation, checkpoint] = await Promise.all([
    Promise.all(slots.map((slot) => cache.rows(manifest, plan, input.planKey, slot, beat))),
    input.member === 0 ? cache.rows(manifest, plan, input.planKey, -1, beat) : Promise.resolve(undefined),
    cache.checkpoint(input.start.checkpointKey),
  ]);
  return { manifest, m, shards: new Map(slots.map((s, i) => [s, rows[i]!])), validation, checkpoint };
}

/** Largest frame a neighbour may send in this run (local SGD gathers every rank's update). */
function maxBodyBytes(input: SegmentInput, params: number, optimizerSlots: number): number {
  const t = input.spec.training;
  const floats = t.syncEvery === 1 ? params : (input.spec.workers + 1) * (optimizerSlots + 3) * params;
  return floats * 4 + 65_536;
}

async function connect(
  deps: SegmentDeps,
  input: SegmentInput,
  settings: { maxBodyBytes: number; idleTimeoutMs: number; keepaliveMs: number },
  signal: AbortSignal | undefined,
): Promise<{ prev?: FramedSocket; next?: FramedSocket }> {
  const { group, member, runId } = input;
  const last = group.members.length - 1;
  if (last === 0) return {};
  const dp = deps.dataPlane;
  if (!dp) throw new PeerError(`trainer ${deps.workerId} has no data-plane listener`);
  if (group.members[member]!.address !== dp.address)
    throw new PeerError(
      `trainer ${deps.workerId} listens on ${dp.address}, but the group expects it at ${group.members[member]!.address}`,
    );
  const key = { runId, generation: group.generation, segment: input.segment };
  const abort = signal ? { signal } : {};
  {
    const [prev, next] = await Promise.all([
      member > 0
        ? dp.accept({
            ...key,
            member,
            secret: group.secret,
            timeoutMs: ACCEPT_TIMEOUT_MS,
            ...settings,
            ...abort,
          })
        : undefined,
      member < last
        ? dialPeer({
            ...key,
            address: group.members[member + 1]!.address,
            secret: group.secret,
            from: member,
            to: member + 1,
            timeoutMs: CONNECT_TIMEOUT_MS,
            ...settings,
            ...abort,
          })
        : undefined,
    ]);
    return { ...(prev ? { prev } : {}), ...(next ? { next } : {}) };
  }
}

async function runLoop(
  deps: SegmentDeps,
  input: SegmentInput,
  signal: AbortSignal | undefined,
  heart: Beat,
): Promise<SegmentResult> {
  const { runId, group, member: index, spec } = input;
  const leader = index === 0;
  const me = group.members[index]!;
  const setupStarted = Date.now();
  const beat = heart.now;
  // Shard reads are shared through the cache: they heartbeat, but never throw the cancellation.
  const data = await loadData(deps, input, () => {
    try {
      beat();
    } catch {
      // noticed at the next round
    }
  });
  const loop = new TrainingLoop({
    m: data.m,
    spec,
    plan: await deps.cache.plan(input.planKey).then((plan) => ({
      shards: plan.shards.length,
      shardRows: plan.shards.map((s) => s.rows),
      roundsPerEpoch: roundsPerEpoch(plan, spec),
    })),
    signature: data.manifest.signature,
    member: { index, firstRank: me.firstRank, ranks: me.ranks },
    shards: data.shards,
    ...(data.validation ? { validation: data.validation } : {}),
    checkpoint: data.checkpoint,
    position: input.start,
    checkpointKey: (step) => runKeys.checkpoint(runId, input.execution, step),
  });
  const idleTimeoutMs = (): number => BASE_IDLE_TIMEOUT_MS + 4 * loop.maxComputeMs;
  const links = await connect(
    deps,
    input,
    {
      maxBodyBytes: maxBodyBytes(input, data.m.size, data.checkpoint.optimizer.slots.length),
      idleTimeoutMs: idleTimeoutMs(),
      keepaliveMs: KEEPALIVE_MS,
    },
    signal,
  );
  const telemetry = deps.telemetry;
  const seen = deps.generations?.get(runId);
  deps.generations?.set(runId, group.generation);
  telemetry?.segment({
    generation: group.generation,
    restart: group.generation > 1 && (seen === undefined || seen < group.generation),
  });
  const sockets = [links.prev?.socket, links.next?.socket].filter((x) => x !== undefined);
  const traffic = (): { sent: number; received: number } => {
    let sent = 0;
    let received = 0;
    for (const sock of sockets) {
      sent += sock.bytesWritten;
      received += sock.bytesRead;
    }
    return { sent, received };
  };
  let lastTraffic = traffic();
  const exchange: Exchange =
    group.members.length === 1
      ? soloExchange()
      : new ChainExchange({
          member: index,
          size: group.members.length,
          ...links,
          ...(signal ? { signal } : {}),
          idleTimeoutMs,
          weightsSha256: () => loop.weightsSha256(),
        });

  // The leader's view of the workflow, refreshed in the background.
  let control: RunControl | undefined;
  let polling = leader && deps.control !== undefined;
  // The pause between queries ends at once when the segment does: waiting it out cost up to
  // 300 ms at the end of every segment (a third of a short run's wall time).
  let wake: (() => void) | undefined;
  const stopPolling = (): void => {
    polling = false;
    wake?.();
  };
  void (async () => {
    while (polling) {
      try {
        const answer = await deps.control!(runId);
        if (polling) control = answer;
      } catch {
        // Temporal unreachable for a moment: keep training, ask again.
      }
      if (!polling) break;
      await new Promise<void>((r) => {
        const timer = setTimeout(r, CONTROL_POLL_MS);
        wake = () => {
          clearTimeout(timer);
          r();
        };
      });
    }
  })();

  const started = Date.now();
  let lastYield = started;
  let reason: SegmentEndReason;
  try {
    reason = await loop.run(exchange, {
      shouldEnd() {
        if (control && (control.generation !== group.generation || control.segment !== input.segment))
          throw new PeerError(
            `segment ${input.segment} (generation ${group.generation}) of run ${runId} is stale: the run is at segment ${control.segment}, generation ${control.generation}`,
          );
        if (control?.stop) return 'stopped';
        if (control?.pause) return 'paused';
        // At least one round per segment, so that a run always moves.
        if (loop.rounds > 0 && Date.now() - started >= input.budgetMs) return 'budget';
        return undefined;
      },
      afterRound(l) {
        if (telemetry) {
          const now = traffic();
          telemetry.round({
            ...l.lastRound,
            bytesSent: now.sent - lastTraffic.sent,
            bytesReceived: now.received - lastTraffic.received,
          });
          lastTraffic = now;
        }
        const p = l.position;
        if (leader)
          heart.details = {
            kind: 'segment',
            generation: group.generation,
            segment: input.segment,
            member: index,
            step: p.step,
            epoch: p.epoch,
            roundInEpoch: p.roundInEpoch,
            rounds: p.rounds,
            ...(l.lastLoss !== undefined ? { trainLoss: l.lastLoss } : {}),
            samples: l.samples,
            busyMs: Date.now() - started,
            epochs: l.epochs.slice(-50),
            ...(p.best ? { best: { epoch: p.best.epoch, value: p.best.value } } : {}),
          };
        beat();
      },
      async yield() {
        // With peers, every round already waits on the network; alone, let timers run now and then.
        if (group.members.length > 1 || Date.now() - lastYield > 25) {
          await yieldNow();
          lastYield = Date.now();
        }
        if (signal?.aborted) throw new CancelledFailure('segment cancelled');
      },
    });
  } catch (err) {
    exchange.abort(err instanceof Error ? err.message : String(err));
    throw asAllocationFailure(err, input.spec, `segment ${input.segment} (a training step or evaluation)`);
  } finally {
    // A query still in flight is left to finish on its own: its answer is no longer read.
    stopPolling();
  }
  const busyMs = Date.now() - started;
  exchange.close();
  const end = loop.position;
  const result: SegmentResult = {
    execution: input.execution,
    member: index,
    workerId: deps.workerId,
    backend: deps.backend,
    reason,
    end,
    epochs: loop.epochs,
    rounds: loop.rounds,
    samples: loop.samples,
    busyMs,
    setupMs: started - setupStarted,
    ...(loop.lastLoss !== undefined ? { lastLoss: loop.lastLoss } : {}),
    weightsSha256: loop.weightsSha256(),
    replayed: false,
  };
  if (!leader) {
    // The leader writes this very state (the hashes matched): the next segment starts from memory.
    if (end.step !== input.start.step)
      deps.cache.remember(runKeys.checkpoint(runId, input.execution, end.step), loop.checkpoint);
    return result;
  }
  beat();
  const persistStarted = performance.now();
  await persist(deps, input, loop, result);
  deps.telemetry?.checkpoint(performance.now() - persistStarted);
  return result;
}

/** Leader: writes the best and the final checkpoint, drops obsolete ones, records the result. */
async function persist(
  deps: SegmentDeps,
  input: SegmentInput,
  loop: TrainingLoop,
  result: SegmentResult,
): Promise<void> {
  const { store, cache } = deps;
  const end = result.end;
  const added: string[] = [];
  // The final and the best checkpoint in parallel; the record that names them only after both.
  const puts: Promise<unknown>[] = [];
  if (end.step !== input.start.step) {
    const key = runKeys.checkpoint(input.runId, input.execution, end.step);
    puts.push(store.put(key, encodeCheckpoint(loop.checkpoint)));
    end.checkpointKey = key;
    added.push(key);
  }
  if (loop.bestState && end.best && end.best.checkpointKey !== end.checkpointKey)
    puts.push(store.put(end.best.checkpointKey, encodeCheckpoint(loop.bestState)));
  await Promise.all(puts);
  for (const key of added) cache.remember(key, loop.checkpoint);
  const kept = retainCheckpoints({
    recent: input.start.recentCheckpoints,
    added,
    best: end.best?.checkpointKey,
    previousBest: input.start.best?.checkpointKey,
    keep: input.keepCheckpoints,
  });
  end.recentCheckpoints = kept.recent;
  await store.put(
    runKeys.segmentRecord(input.runId, input.execution, input.segment),
    JSON.stringify(result),
    {
      contentType: 'application/json',
    },
  );
  if (kept.remove.length > 0) await store.deleteMany(kept.remove);
}

/** Rounds per epoch: the smallest shard decides (plan checks it is at least one). */
export function roundsPerEpoch(
  plan: Pick<ShardPlan, 'shards'>,
  spec: Pick<SegmentInput['spec'], 'training'>,
): number {
  const t = spec.training;
  return Math.floor(Math.min(...plan.shards.map((s) => s.rows)) / (t.batchSize * t.syncEvery));
}
