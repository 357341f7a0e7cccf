/**
 * A memory allocation that fails inside a training step (V8 cannot create the ArrayBuffer, a
 * typed array would exceed its maximum length, or the native kernels report std::bad_alloc) is a
 * property of the spec on this machine: the same step fails the same way on every retry. It
 * becomes a BadInputError that names the spec fields that size the step, instead of a RangeError
 * reported as a bug.
 */
import { BadInputError, errorMessage, type TrainSpec } from '@seqtrain/contracts';

const ALLOCATION_FAILURE =
  /Array buffer allocation failed|Invalid typed array length|Invalid array buffer length|Invalid array length|bad_alloc|out of memory|Cannot allocate memory|ENOMEM/i;

export function isAllocationFailure(err: unknown): boolean {
  return (
    err instanceof Error && !(err instanceof BadInputError) && ALLOCATION_FAILURE.test(errorMessage(err))
  );
}

/** The BadInputError for an allocation failure, or the error unchanged. */
export function asAllocationFailure(err: unknown, spec: TrainSpec, what: string): unknown {
  if (!isAllocationFailure(err)) return err;
  const t = spec.training;
  const fields = [
    `model.units=${JSON.stringify(spec.model.units)}`,
    ...(spec.model.embedding !== undefined ? [`model.embedding=${spec.model.embedding}`] : []),
    `training.batchSize=${t.batchSize}`,
    `training.microBatches=${t.microBatches}`,
  ];
  return new BadInputError(
    `${fields.join(', ')}: ${what} could not allocate memory on this trainer (${errorMessage(err).split('\n')[0]}); use a smaller batch (or more micro-batches) or fewer/smaller layers`,
    { cause: err },
  );
}
