/** Sets seqtrain's search attributes: only the names contracts defines (a typo does not compile). */
import { upsertSearchAttributes } from '@temporalio/workflow';
import type { SeqtrainSearchAttributes } from '@seqtrain/contracts';

export function setSearchAttributes(attributes: SeqtrainSearchAttributes): void {
  upsertSearchAttributes(attributes);
}
