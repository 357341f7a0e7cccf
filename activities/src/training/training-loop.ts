/**
 * The training loop one member of a group runs inside a segment: rounds of (compute this
 * member's ranks, reduce over the exchange in rank order, apply the same optimizer step), with
 * evaluation, best-checkpoint tracking and early stopping at epoch boundaries on the leader.
 * The same loop with a solo exchange is the in-process "local loop" of bench:distributed, so
 * the ceiling it measures is this code without Temporal, S3 or the network.
 */
import {
  BadInputError,
  judgeEpoch,
  PeerError,
  type DatasetSignature,
  type EpochMetrics,
  type LoopPosition,
  type RunPlan,
  type SegmentEndReason,
  type SequenceBatch,
  type TrainSpec,
} from '@seqtrain/contracts';
import {
  addRows,
  applyGradients,
  applyLocalUpdates,
  computeGradients,
  emptySum,
  Evaluator,
  finishAverage,
  runLocalSteps,
  setFlatWeights,
  type Checkpoint,
  type GradientSum,
  type LocalUpdate,
  type SeqModel,
} from '@seqtrain/model';
import { DataOrder } from './data-order';
import type { Exchange, Payload } from './exchange';
import { regressionUnits } from './metrics';
import { chunks, selectRows } from './rows';
import { weightsSha256 } from './trainer-cache';

const DIVERGED = 'training diverged; lower training.optimizer.learningRate or set training.clipNorm';

function assertFinite(what: string, value: number): void {
  if (!Number.isFinite(value)) throw new BadInputError(`${what} is ${value}: ${DIVERGED}`);
}

export interface LoopSetup {
  m: SeqModel;
  spec: TrainSpec;
  plan: Pick<RunPlan, 'shards' | 'shardRows' | 'roundsPerEpoch'>;
  signature: DatasetSignature;
  /** this member's ranks: firstRank .. firstRank + ranks - 1 */
  member: { index: number; firstRank: number; ranks: number };
  /** rows of each slot this member owns (slot = rank x microBatches + i) */
  shards: ReadonlyMap<number, SequenceBatch>;
  /** validation rows: the leader evaluates */
  validation?: SequenceBatch;
  checkpoint: Checkpoint;
  position: LoopPosition;
  /** the S3 key a checkpoint at `step` would have (the best is recorded by key) */
  checkpointKey: (step: number) => string;
}

export interface LoopHooks {
  /** leader, before each round: end the segment here? */
  shouldEnd(): SegmentEndReason | undefined;
  /** after each round (heartbeat, progress) */
  afterRound?(loop: TrainingLoop): void;
  /** lets timers, heartbeats and the network run (between rounds and evaluation batches) */
  yield(): Promise<void>;
}

export class TrainingLoop {
  checkpoint: Checkpoint;
  position: LoopPosition;
  /** epochs evaluated in this segment */
  readonly epochs: EpochMetrics[] = [];
  /** the best state reached in this segment (to be written as the best checkpoint) */
  bestState: Checkpoint | undefined;
  rounds = 0;
  samples = 0;
  lastLoss: number | undefined;
  /** longest time this member spent computing its part of a round */
  maxComputeMs = 0;
  /** the last round: time in the exchange (the reduce), and the examples this member computed */
  lastRound = { reduceMs: 0, samples: 0, steps: 0 };
  private readonly order: DataOrder;
  private readonly leader: boolean;
  /**
   * Arrays reused from step to step, so that a step makes little garbage (each few MB of typed
   * arrays a step drops costs the collector a mark of the whole heap): the gradient rows, and the
   * state of the step before last, whose arrays take the next update (see `spareFrom`).
   */
  private gradRows: Float32Array | undefined;
  private spare: Checkpoint | undefined;
  private readonly own = new WeakSet<Checkpoint>();

  constructor(private readonly s: LoopSetup) {
    const t = s.spec.training;
    this.checkpoint = s.checkpoint;
    this.position = structuredClone(s.position);
    this.leader = s.member.index === 0;
    this.order = new DataOrder({
      seed: t.seed,
      shardRows: s.plan.shardRows,
      batchSize: t.batchSize,
      localSteps: t.syncEvery,
    });
    if (this.checkpoint.step !== this.position.step)
      throw new BadInputError(
        `checkpoint ${s.position.checkpointKey} is at step ${this.checkpoint.step}, the run expects step ${this.position.step}`,
      );
  }

  weightsSha256(): string {
    return weightsSha256(this.checkpoint.weights);
  }

  /** Runs rounds until the leader ends the segment; returns why it ended. */
  async run(exchange: Exchange, hooks: LoopHooks): Promise<SegmentEndReason> {
    for (;;) {
      if (this.leader) {
        const reason = this.position.finished ? 'finished' : hooks.shouldEnd();
        if (reason) {
          await exchange.end({ reason, step: this.position.step, weightsSha256: this.weightsSha256() });
          return reason;
        }
      }
      const ended = await this.round(exchange);
      if (ended) return ended;
      if (this.position.roundInEpoch >= this.s.plan.roundsPerEpoch) await this.endEpoch(hooks);
      hooks.afterRound?.(this);
      await hooks.yield();
    }
  }

  /** Global index of this member's first micro-batch slot and the number of slots it owns. */
  private slots(): { first: number; count: number } {
    const mb = this.s.spec.training.microBatches;
    return { first: this.s.member.firstRank * mb, count: this.s.member.ranks * mb };
  }

  private batch(slot: number, localStep: number): SequenceBatch {
    const rows = this.s.shards.get(slot);
    if (!rows) throw new Error(`member ${this.s.member.index} has no rows of shard ${slot}`);
    const p = this.position;
    return selectRows(rows, this.order.rows(slot, p.epoch, p.roundInEpoch, localStep));
  }

  /** One round; returns the end reason when the leader ended the segment instead. */
  private async round(exchange: Exchange): Promise<SegmentEndReason | undefined> {
    const t = this.s.spec.training;
    const p = this.position;
    const before = this.checkpoint;
    let loss: number;
    if (p.finished) {
      // A non-leader past the last epoch: nothing to compute, only the leader's END to receive.
      const out = await exchange.round(
        p.rounds,
        () => {
          throw new PeerError('data plane: the leader sent a round after the last epoch');
        },
        (x) => x,
      );
      if ('end' in out) return out.end.reason;
      throw new PeerError('data plane: the leader sent a round after the last epoch');
    }
    const started = Date.now();
    if (t.syncEvery === 1) {
      const { first, count } = this.slots();
      const part = computeGradients(
        this.s.m,
        before,
        Array.from({ length: count }, (_, i) => this.batch(first + i, 0)),
        { firstMicroBatch: first, ...(this.gradRows ? { into: this.gradRows } : {}) },
      );
      this.gradRows = part.grads;
      this.maxComputeMs = Math.max(this.maxComputeMs, Date.now() - started);
      const size = this.s.m.size;
      const reduceStarted = performance.now();
      const out = await exchange.round(
        p.rounds,
        (prev) => encodeSum(addRows(prev ? decodeSum(prev, size) : emptySum(size), part)),
        (total) => {
          const avg = finishAverage(decodeSum(total, size), before.specHash, before.step);
          return { header: { sampleCount: avg.sampleCount, loss: avg.loss }, arrays: [avg.grad] };
        },
      );
      if ('end' in out) return out.end.reason;
      this.lastRound.reduceMs = performance.now() - reduceStarted;
      const { header, arrays } = out.result;
      const grad = arrays[0];
      const sampleCount = header.sampleCount;
      loss = Number(header.loss);
      if (arrays.length !== 1 || grad?.length !== size || typeof sampleCount !== 'number')
        throw new PeerError('data plane: a round result does not fit this model');
      assertFinite(`mean training loss at step ${before.step}`, loss);
      const applied = applyGradients(
        before,
        { specHash: before.specHash, step: before.step, grad, sampleCount, loss },
        t,
        this.spare,
      );
      assertFinite(`gradient norm at step ${before.step}`, applied.gradNorm);
      this.spare = undefined;
      this.own.add(applied.checkpoint);
      this.checkpoint = applied.checkpoint;
      this.spareFrom(before);
    } else {
      const updates: LocalUpdate[] = [];
      const mb = t.microBatches;
      for (let r = 0; r < this.s.member.ranks; r++) {
        const rank = this.s.member.firstRank + r;
        const steps = Array.from({ length: t.syncEvery }, (_, k) =>
          Array.from({ length: mb }, (_, i) => this.batch(rank * mb + i, k)),
        );
        updates.push(runLocalSteps(this.s.m, before, steps, t, rank * mb));
      }
      this.maxComputeMs = Math.max(this.maxComputeMs, Date.now() - started);
      const reduceStarted = performance.now();
      const out = await exchange.round(
        p.rounds,
        (prev) => appendUpdates(prev, updates),
        (total) => {
          const all = decodeUpdates(total, before);
          const next = applyLocalUpdates(before, all, t);
          const count = all.reduce((a, u) => a + u.sampleCount, 0);
          const lossSum = all.reduce((a, u) => a + u.lossSum, 0);
          return encodeState(next, lossSum / Math.max(1, count));
        },
      );
      if ('end' in out) return out.end.reason;
      this.lastRound.reduceMs = performance.now() - reduceStarted;
      const decoded = decodeState(out.result, before, t.syncEvery);
      this.checkpoint = decoded.checkpoint;
      loss = decoded.loss;
      assertFinite(`mean training loss at step ${before.step}`, loss);
    }
    const w = this.checkpoint.weights;
    for (let i = 0; i < w.length; i++)
      if (!Number.isFinite(w[i]!))
        throw new BadInputError(`weights became non-finite at step ${this.checkpoint.step}: ${DIVERGED}`);
    p.step = this.checkpoint.step;
    p.roundInEpoch++;
    p.rounds++;
    p.epochLossSum += loss;
    p.epochLossCount++;
    this.rounds++;
    this.samples += this.s.plan.shards * t.batchSize * t.syncEvery;
    this.lastRound.samples = this.s.member.ranks * t.batchSize * t.syncEvery;
    this.lastRound.steps = t.syncEvery;
    this.lastLoss = loss;
    return undefined;
  }

  /**
   * The state before a round, once the round has moved past it, becomes the spare when this loop
   * made it (not the checkpoint it started from, which the trainer cache shares) and it is not the
   * best state: nothing else holds it (the exchange carries gradients, not weights).
   */
  private spareFrom(before: Checkpoint): void {
    if (this.own.has(before) && before !== this.bestState && before !== this.checkpoint) this.spare = before;
  }

  /** Epoch boundary: the leader evaluates and judges; every member moves to the next epoch. */
  private async endEpoch(hooks: LoopHooks): Promise<void> {
    const p = this.position;
    const spec = this.s.spec;
    if (this.leader) {
      const validation = this.s.validation;
      if (!validation) throw new Error('the leader of a segment needs the validation rows');
      setFlatWeights(this.s.m, this.checkpoint.weights);
      const ev = new Evaluator(this.s.m);
      for (const chunk of chunks(validation, 256)) {
        ev.add(chunk);
        await hooks.yield();
      }
      const r = ev.result();
      const evMetrics = {
        ...r.metrics,
        ...regressionUnits(this.s.signature, spec.task, validation, r.metrics),
      };
      const trainLoss = p.epochLossCount > 0 ? p.epochLossSum / p.epochLossCount : NaN;
      const metrics: Record<string, number> = { val_loss: r.loss, train_loss: trainLoss };
      for (const [k, v] of Object.entries(evMetrics)) metrics[`val_${k}`] = v;
      const entry = { epoch: p.epoch, step: p.step, trainLoss, valLoss: r.loss, metrics };
      this.epochs.push(entry);
      const verdict = judgeEpoch({
        epoch: p.epoch,
        metrics,
        best: p.best,
        epochsWithoutImprovement: p.epochsWithoutImprovement,
        earlyStopping: spec.training.earlyStopping,
      });
      if (verdict.improved) {
        p.best = {
          checkpointKey: this.s.checkpointKey(p.step),
          epoch: p.epoch,
          step: p.step,
          value: verdict.value,
          metrics,
        };
        this.bestState = this.checkpoint;
      }
      p.epochsWithoutImprovement = verdict.epochsWithoutImprovement;
      if (verdict.stop) {
        p.finished = true;
        p.stoppedEarly = verdict.reason!;
      }
    }
    p.epoch++;
    p.roundInEpoch = 0;
    p.epochLossSum = 0;
    p.epochLossCount = 0;
    if (p.epoch >= spec.training.epochs) p.finished = true;
  }
}

function decodeSum(p: Payload, size: number): GradientSum {
  const acc = p.arrays[0];
  const { sampleCount, lossSum } = p.header;
  if (
    p.arrays.length !== 1 ||
    acc?.length !== size ||
    typeof sampleCount !== 'number' ||
    typeof lossSum !== 'number'
  )
    throw new PeerError(`data plane: a gradient partial does not fit this model (${size} parameters)`);
  return { acc, sampleCount, lossSum };
}

function encodeSum(sum: GradientSum): Payload {
  return { header: { sampleCount: sum.sampleCount, lossSum: sum.lossSum }, arrays: [sum.acc] };
}

interface UpdateHeader {
  steps: number;
  sampleCount: number;
  lossSum: number;
}

/** Local SGD: the partial is every update so far, in rank order (the outer step weights them by count). */
function appendUpdates(prev: Payload | undefined, updates: readonly LocalUpdate[]): Payload {
  const headers = prev ? ((prev.header.updates as UpdateHeader[] | undefined) ?? []) : [];
  const arrays = prev ? [...prev.arrays] : [];
  for (const u of updates) {
    headers.push({ steps: u.steps, sampleCount: u.sampleCount, lossSum: u.lossSum });
    arrays.push(u.delta, ...u.optimizer.slots, u.optimizer.scalars);
  }
  return { header: { updates: headers }, arrays };
}

function decodeUpdates(p: Payload, start: Checkpoint): LocalUpdate[] {
  const headers = p.header.updates;
  const slots = start.optimizer.slots.length;
  const per = slots + 2;
  if (!Array.isArray(headers) || p.arrays.length !== headers.length * per)
    throw new PeerError('data plane: local-SGD updates do not match their header');
  return (headers as UpdateHeader[]).map((h, k) => {
    const a = p.arrays.slice(k * per, (k + 1) * per);
    return {
      specHash: start.specHash,
      step: start.step,
      steps: h.steps,
      sampleCount: h.sampleCount,
      lossSum: h.lossSum,
      delta: a[0]!,
      optimizer: { name: start.optimizer.name, slots: a.slice(1, 1 + slots), scalars: a[1 + slots]! },
    };
  });
}

function encodeState(c: Checkpoint, loss: number): Payload {
  return {
    header: { loss, slots: c.optimizer.slots.length, outer: c.outerMomentum !== undefined },
    arrays: [
      c.weights,
      ...c.optimizer.slots,
      c.optimizer.scalars,
      ...(c.outerMomentum ? [c.outerMomentum] : []),
    ],
  };
}

function decodeState(p: Payload, start: Checkpoint, steps: number): { checkpoint: Checkpoint; loss: number } {
  const { loss, slots, outer } = p.header;
  const n = start.optimizer.slots.length;
  if (slots !== n || typeof loss !== 'number' || p.arrays.length !== n + 2 + (outer ? 1 : 0))
    throw new PeerError('data plane: a local-SGD result does not fit this model');
  const [weights, ...rest] = p.arrays;
  if (weights?.length !== start.weights.length)
    throw new PeerError('data plane: a local-SGD result does not fit this model');
  const checkpoint: Checkpoint = {
    ...start,
    step: start.step + steps,
    weights,
    optimizer: { name: start.optimizer.name, slots: rest.slice(0, n), scalars: rest[n]! },
  };
  if (outer) checkpoint.outerMomentum = rest[n + 1]!;
  else delete checkpoint.outerMomentum;
  return { checkpoint, loss };
}
