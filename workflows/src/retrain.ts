/**
 * retrain: CI retraining (README, Using it). The CLI derives the workflow id from
 * (dataset digest, code version, spec hash), so a CI re-run of the same commit on the same data
 * finds this workflow already completed and trains nothing. Here: train (child trainModel,
 * registered as a new version), then move the alias only if the new model beats the one it
 * points to on the spec's early-stopping metric.
 */
import { ApplicationFailure, executeChild, proxyActivities, workflowInfo } from '@temporalio/workflow';
import { setSearchAttributes } from './search-attributes';
import {
  BAD_INPUT_ERROR,
  activityRetry,
  ORCHESTRATOR_QUEUE,
  type RetrainInput,
  type RetrainResult,
} from '@seqtrain/contracts';
import type { SweepActivities } from '@seqtrain/activities';
import { trainModel } from './train-model';

const acts = proxyActivities<SweepActivities>({
  taskQueue: ORCHESTRATOR_QUEUE,
  startToCloseTimeout: '5 minutes',
  retry: activityRetry(),
});

export async function retrain(input: RetrainInput): Promise<RetrainResult> {
  const workflowId = workflowInfo().workflowId;
  const { spec } = input;
  setSearchAttributes({
    SeqtrainModel: [spec.name],
    SeqtrainKind: ['retrain'],
    SeqtrainStatus: ['running'],
  });
  try {
    const trainWorkflowId = `${workflowId}/train`;
    const train = await executeChild(trainModel, {
      workflowId: trainWorkflowId,
      taskQueue: ORCHESTRATOR_QUEUE,
      args: [{ spec, codeVersion: input.codeVersion, actor: input.actor ?? 'retrain', register: true }],
    });
    const metric = spec.training.earlyStopping?.metric ?? 'val_loss';
    const value = train.metrics[metric];
    if (value === undefined) {
      throw ApplicationFailure.nonRetryable(
        `training.earlyStopping.metric=${JSON.stringify(metric)}: the run reported no such metric`,
        BAD_INPUT_ERROR,
      );
    }
    const base = { workflowId, trainWorkflowId, model: train.model, metrics: train.metrics, metric, value };
    let result: RetrainResult;
    if (!input.promoteAlias || !train.model) {
      result = { status: 'trained', ...base };
    } else {
      const d = await acts.promoteIfBetter({
        name: train.model.name,
        version: train.model.version,
        alias: input.promoteAlias,
        metric,
        value,
        actor: 'retrain',
        workflowId,
      });
      result = {
        status: d.promoted ? 'promoted' : 'not-better',
        ...base,
        ...(d.previous ? { previous: d.previous } : {}),
        reason: d.reason,
      };
    }
    setSearchAttributes({ SeqtrainStatus: [result.status] });
    return result;
  } catch (err) {
    setSearchAttributes({ SeqtrainStatus: ['failed'] });
    throw err;
  }
}
