/**
 * A run's progress as a user sees it: the workflow's `progress` query (segment granularity)
 * merged with the heartbeat details of the leader of the running segment (every step). The
 * heartbeat path costs no history events, which is why the workflow does not learn steps itself.
 */
import { defaultPayloadConverter, type Client } from '@temporalio/client';
import {
  mergeLiveProgress,
  PROGRESS_QUERY,
  SEGMENT_ACTIVITY,
  type SegmentProgress,
  type TrainProgress,
} from '@seqtrain/contracts';

function isSegmentProgress(v: unknown): v is SegmentProgress {
  return typeof v === 'object' && v !== null && (v as { kind?: unknown }).kind === 'segment';
}

export async function readRunProgress(client: Client, workflowId: string): Promise<TrainProgress> {
  const handle = client.workflow.getHandle(workflowId);
  const [progress, description] = await Promise.all([
    handle.query<TrainProgress>(PROGRESS_QUERY),
    handle.describe().catch(() => undefined),
  ]);
  let live: SegmentProgress | undefined;
  let retrying: string | undefined;
  for (const a of description?.raw.pendingActivities ?? []) {
    // An activity Temporal is retrying: its last failure is the news (S3 refusing, a bug).
    if (!retrying && a.lastFailure?.message && (a.attempt ?? 1) > 1)
      retrying = `${a.activityType?.name ?? 'activity'} attempt ${a.attempt}${a.maximumAttempts ? ` of ${a.maximumAttempts}` : ''}: ${a.lastFailure.message}`;
    if (a.activityType?.name !== SEGMENT_ACTIVITY) continue;
    for (const payload of a.heartbeatDetails?.payloads ?? []) {
      try {
        const v = defaultPayloadConverter.fromPayload<unknown>(payload);
        if (isSegmentProgress(v) && v.member === 0) live = v;
      } catch {
        // not ours: ignore
      }
    }
  }
  const merged = mergeLiveProgress(progress, live);
  return retrying && !merged.lastFailure ? { ...merged, lastFailure: retrying } : merged;
}
