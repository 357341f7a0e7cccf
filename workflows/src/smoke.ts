/** A round trip through the whole stack: workflow -> activity on a worker -> S3 and back. */
import { proxyActivities } from '@temporalio/workflow';
import { activityRetry, type SmokeInput, type SmokeResult } from '@seqtrain/contracts';
import type { SmokeActivities } from '@seqtrain/activities';

const { smokeWriteRead } = proxyActivities<SmokeActivities>({
  startToCloseTimeout: '1 minute',
  retry: activityRetry({ maximumAttempts: 5 }),
});

export async function smokeWorkflow(input: SmokeInput): Promise<SmokeResult> {
  return smokeWriteRead(input);
}
