/** Task queues (docs/architecture.md, Roles): orchestrator (workflows + light activities) and trainers. */
export const ORCHESTRATOR_QUEUE = 'seqtrain';
export const TRAINER_QUEUE = 'seqtrain-train';
/** A trainer's own queue, so that a shard returns to the worker that caches it. */
export function trainerQueueFor(workerId: string): string {
  return `${TRAINER_QUEUE}/${workerId}`;
}
