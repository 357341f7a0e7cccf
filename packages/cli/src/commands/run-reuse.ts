/**
 * `train --id X` when X was used before. A run with the same inputs is the same run: the CLI
 * follows it (running) or returns its result (closed), training nothing again. Different inputs
 * under the same id are refused, naming the first field that differs, so that the id keeps
 * meaning one run. (A failed earlier run may be retried under its id: it gets a fresh prefix.)
 */
import type { Client } from '@temporalio/client';
import { BadInputError, type TrainRunInput } from '@seqtrain/contracts';

/** What makes two runs the same run (not who started them, nor the loop state of a continued run). */
export function runIdentity(input: Partial<TrainRunInput>): Record<string, unknown> {
  return {
    spec: input.spec,
    codeVersion: input.codeVersion,
    register: input.register ?? true,
    segmentSeconds: input.segmentSeconds,
    maxTrainers: input.maxTrainers,
  };
}

/** The first path at which two JSON values differ, with both values; undefined when equal. */
export function firstDifference(
  a: unknown,
  b: unknown,
  path = '',
): { path: string; before: unknown; after: unknown } | undefined {
  if (Array.isArray(a) && Array.isArray(b)) {
    // Lists of plain values read best whole (model.units: [8] there, [16] here).
    if (a.length !== b.length || !(a as unknown[]).concat(b as unknown[]).some(isObject))
      return JSON.stringify(a) === JSON.stringify(b)
        ? undefined
        : { path: path || '(root)', before: a, after: b };
    for (let i = 0; i < a.length; i++) {
      const d = firstDifference(a[i], b[i], `${path}[${i}]`);
      if (d) return d;
    }
    return undefined;
  }
  if (isObject(a) && isObject(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    for (const k of keys) {
      const d = firstDifference(a[k], b[k], path ? `${path}.${k}` : k);
      if (d) return d;
    }
    return undefined;
  }
  return Object.is(a, b) ? undefined : { path: path || '(root)', before: a, after: b };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The input the latest execution of `workflowId` started with (a continued run carries the same spec). */
export async function startedInput(client: Client, workflowId: string): Promise<Partial<TrainRunInput>> {
  const page = await client.workflowService.getWorkflowExecutionHistory({
    namespace: client.options.namespace,
    execution: { workflowId },
    maximumPageSize: 1,
  });
  const payload = page.history?.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
  if (!payload) return {};
  const input = client.options.loadedDataConverter.payloadConverter.fromPayload<unknown>(payload);
  return isObject(input) ? input : {};
}

/** Refuses `input` under an id whose earlier run had other inputs; returns quietly when they match. */
export async function assertSameRun(client: Client, workflowId: string, input: TrainRunInput): Promise<void> {
  const earlier = await startedInput(client, workflowId);
  const d = firstDifference(
    JSON.parse(JSON.stringify(runIdentity(earlier))),
    JSON.parse(JSON.stringify(runIdentity(input))),
  );
  if (d) {
    throw new BadInputError(
      `--id ${workflowId}: that id belongs to an earlier run with different inputs (${d.path}: ${JSON.stringify(d.before) ?? 'unset'} there, ${JSON.stringify(d.after) ?? 'unset'} here); choose another --id, or leave it out for a fresh one`,
    );
  }
}
