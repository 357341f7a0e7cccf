/**
 * `seqtrain retrain -c SPEC.yaml --code-version SHA [--promote-alias ALIAS] [--json]`: CI retraining.
 * The workflow id is a hash of (dataset digest, code version, canonical spec), so re-running the
 * same CI job is a no-op that reports the earlier result as "unchanged".
 */
import { parseArgs } from 'node:util';
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import {
  canonicalJson,
  BadInputError,
  ORCHESTRATOR_QUEUE,
  RETRAIN_WORKFLOW_TYPE,
  retrainWorkflowId,
  type RetrainInput,
  type RetrainResult,
  type TrainSpec,
} from '@seqtrain/contracts';
import { loadManifest } from '@seqtrain/dataset';
import { sha256Hex } from '@seqtrain/storage';
import type { retrain } from '@seqtrain/workflows';
import { EXIT_FAILURE, EXIT_NO, EXIT_OK, type CliContext } from '../context';
import { RETRAIN_OPTIONS, parseOptions } from '../help';
import { resilient, withClient } from '../temporal-client';
import { describeFailure, loadSpec } from './train';

/** Pins the dataset to its current digest and derives the idempotent workflow id. */
export async function planRetrain(
  ctx: CliContext,
  spec: TrainSpec,
  codeVersion: string,
): Promise<{ workflowId: string; spec: TrainSpec; datasetDigest: string }> {
  const manifest = await loadManifest(ctx.store(), spec.dataset);
  const datasetName = spec.dataset.split('@')[0]!;
  const pinned: TrainSpec = { ...spec, dataset: `${datasetName}@${manifest.digest}` };
  // The spec hash leaves the dataset out: its version is the digest, hashed on its own.
  const specHash = sha256Hex(canonicalJson({ ...spec, dataset: datasetName }));
  const workflowId = retrainWorkflowId(
    { specName: spec.name, datasetDigest: manifest.digest, codeVersion, specHash },
    sha256Hex,
  );
  return { workflowId, spec: pinned, datasetDigest: manifest.digest };
}

export type RetrainOutcome = Omit<RetrainResult, 'status'> & {
  status: RetrainResult['status'] | 'unchanged';
  previousStatus?: RetrainResult['status'];
};

/** Starts (or finds) the retrain workflow and waits for its result. */
export async function startRetrain(
  client: Client,
  workflowId: string,
  input: RetrainInput,
  log: (m: string) => void,
): Promise<RetrainOutcome> {
  let existed = false;
  try {
    await client.workflow.start<typeof retrain>(RETRAIN_WORKFLOW_TYPE, {
      taskQueue: ORCHESTRATOR_QUEUE,
      workflowId,
      args: [input],
      // A completed run of the same (data, code, spec) is final: CI re-runs become no-ops. A failed
      // one may run again (a transient outage must not block the commit forever), and a running
      // one is joined rather than duplicated.
      workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY',
      workflowIdConflictPolicy: 'USE_EXISTING',
    });
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    existed = true;
  }
  const result = await resilient(
    'waiting for the retrain run',
    () => client.workflow.getHandle<typeof retrain>(workflowId).result(),
    log,
  );
  return existed ? { ...result, status: 'unchanged', previousStatus: result.status } : result;
}

export async function runRetrain(argv: string[], ctx: CliContext): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: parseOptions(RETRAIN_OPTIONS),
    strict: true,
  });
  if (!values.config) throw new BadInputError('retrain: -c SPEC.yaml is required');
  const codeVersion = values['code-version'];
  if (!codeVersion) throw new BadInputError('retrain: --code-version SHA is required');
  const spec = await loadSpec(values.config, ctx.cwd, values.workers);
  const plan = await planRetrain(ctx, spec, codeVersion);
  return withClient(ctx, async (client) => {
    ctx.io.err(`retrain ${plan.workflowId} (dataset ${plan.spec.dataset}, code ${codeVersion})\n`);
    let outcome: RetrainOutcome;
    try {
      outcome = await startRetrain(
        client,
        plan.workflowId,
        {
          spec: plan.spec,
          codeVersion,
          ...(values['promote-alias'] ? { promoteAlias: values['promote-alias'] } : {}),
          actor: ctx.env.USER ?? 'cli',
        },
        (m) => ctx.io.err(`${m}\n`),
      );
    } catch (err) {
      const message = describeFailure(err);
      ctx.io.err(`retrain ${plan.workflowId} failed: ${message}\n`);
      if (values.json)
        ctx.io.out(JSON.stringify({ workflowId: plan.workflowId, status: 'failed', error: message }));
      return EXIT_FAILURE;
    }
    if (values.json) {
      ctx.io.out(JSON.stringify(outcome));
    } else {
      const model = outcome.model ? `${outcome.model.name}@${outcome.model.version}` : '(not registered)';
      ctx.io.out(
        [
          `retrain ${outcome.workflowId}: ${outcome.status}${outcome.previousStatus ? ` (earlier: ${outcome.previousStatus})` : ''}`,
          `  model    ${model}`,
          `  ${outcome.metric.padEnd(8)} ${outcome.value}`,
          ...(outcome.reason ? [`  reason   ${outcome.reason}`] : []),
        ].join('\n'),
      );
    }
    return outcome.status === 'not-better' ? EXIT_NO : EXIT_OK;
  });
}
