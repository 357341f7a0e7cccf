/**
 * Gathers what a run page shows: the run's result or live progress (from Temporal), the inputs it
 * started with (spec, code version), and its segment records (from S3: one JSON per segment,
 * written by the segment's leader, with the time the object was written).
 */
import type { Client } from '@temporalio/client';
import {
  runKeys,
  CorruptDataError,
  parseStoredJson,
  SegmentRecordSchema,
  type TrainProgress,
  type TrainResult,
  type TrainRunInput,
} from '@seqtrain/contracts';
import type { BlobStore } from '@seqtrain/storage';
import { startedInput } from './commands/run-reuse';
import type { RunPageData, RunPageSegment } from './run-page';

export interface RunFacts {
  workflowId: string;
  status: string;
  startTime: string;
  closeTime?: string;
  error?: string;
  dataset?: string;
  progress?: TrainProgress;
  result?: Omit<TrainResult, 'history'> & { history?: TrainResult['history'] };
}

/** Segment records are bounded by the run's length; read at most this many (the latest). */
const MAX_SEGMENTS = 2000;

export async function collectRunPage(client: Client, store: BlobStore, d: RunFacts): Promise<RunPageData> {
  const input: Partial<TrainRunInput> = await startedInput(client, d.workflowId).catch(() => ({}));
  const r = d.result;
  const p = d.progress;
  const execution = r?.execution ?? (await latestExecution(store, d.workflowId));
  const segments = execution ? await readSegments(store, d.workflowId, execution) : [];
  const datasetRef = r?.dataset ?? parseRef(d.dataset ?? p?.dataset);
  return {
    run: {
      workflowId: d.workflowId,
      status: d.status,
      startTime: d.startTime,
      ...(d.closeTime ? { closeTime: d.closeTime } : {}),
      ...(d.error ? { error: d.error } : {}),
    },
    history: r?.history ?? p?.history ?? [],
    segments,
    trainers: r?.trainers ?? p?.trainers ?? {},
    summary: r
      ? {
          steps: r.steps,
          rounds: r.rounds,
          epochs: r.epochs,
          segments: r.segments,
          generations: r.generations,
          samplesPerSec: r.samplesPerSec,
          overheadFraction: r.overheadFraction,
          faults: r.faults,
        }
      : p
        ? {
            steps: p.step,
            rounds: p.rounds,
            epochs: p.epoch,
            segments: p.segments,
            generations: p.generation,
            samplesPerSec: p.samplesPerSec,
            overheadFraction: p.overheadFraction,
          }
        : {},
    lineage: {
      ...(datasetRef ? { dataset: datasetRef } : {}),
      ...(input.codeVersion ? { codeVersion: input.codeVersion } : {}),
      ...(r?.model ? { model: r.model } : {}),
      ...(r?.weightsSha256 ? { weightsSha256: r.weightsSha256 } : {}),
    },
    ...(input.spec ? { spec: input.spec } : {}),
  };
}

function parseRef(ref: string | undefined): { name: string; digest: string } | undefined {
  if (!ref) return undefined;
  const at = ref.lastIndexOf('@');
  return at > 0 ? { name: ref.slice(0, at), digest: ref.slice(at + 1) } : undefined;
}

/** A running run has no result yet: the execution whose records were written last. */
async function latestExecution(store: BlobStore, workflowId: string): Promise<string | undefined> {
  let newest: { execution: string; at: number } | undefined;
  for (const b of await store.list(`runs/${workflowId}/`)) {
    const execution = b.key.slice(`runs/${workflowId}/`.length).split('/')[0];
    const at = b.lastModified?.getTime() ?? 0;
    if (execution && (!newest || at > newest.at)) newest = { execution, at };
  }
  return newest?.execution;
}

async function readSegments(
  store: BlobStore,
  workflowId: string,
  execution: string,
): Promise<RunPageSegment[]> {
  const prefix = runKeys.segmentRecord(workflowId, execution, 0).replace(/[^/]+$/, '');
  const listed = (await store.list(prefix)).slice(-MAX_SEGMENTS);
  const out: RunPageSegment[] = [];
  // A few reads at a time: records are small, a long run has hundreds.
  for (let i = 0; i < listed.length; i += 16) {
    const batch = listed.slice(i, i + 16);
    const records = await Promise.all(
      batch.map(async (b) => {
        const segment = Number(/(\d+)\.json$/.exec(b.key)?.[1] ?? NaN);
        let rec;
        try {
          rec = parseStoredJson(await store.get(b.key), SegmentRecordSchema, `${store.describe}/${b.key}`);
        } catch (err) {
          // One damaged record is a row that says so, not a page that fails.
          if (!(err instanceof CorruptDataError)) throw err;
          const why = err.message.slice(err.message.lastIndexOf(': ') + 2);
          return {
            segment,
            workerId: '?',
            rounds: 0,
            samples: 0,
            busyMs: 0,
            setupMs: 0,
            reason: `unreadable record (${why})`,
          };
        }
        return {
          segment,
          workerId: rec.workerId,
          ...(b.lastModified ? { endedAt: b.lastModified.toISOString() } : {}),
          rounds: rec.rounds,
          samples: rec.samples,
          busyMs: rec.busyMs,
          setupMs: rec.setupMs,
          reason: rec.reason,
        };
      }),
    );
    out.push(...records);
  }
  return out.sort((a, b) => a.segment - b.segment);
}
