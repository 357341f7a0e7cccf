/**
 * Bundles the workflow code once per process: bundling takes seconds, and every Worker in the
 * process (orchestrator, per-test workers) can share the same bundle.
 */
import { createRequire } from 'node:module';
import { bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';

let bundle: Promise<WorkflowBundleWithSourceMap> | undefined;

export function workflowsPath(): string {
  return createRequire(import.meta.url).resolve('@seqtrain/workflows');
}

export function getWorkflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  bundle ??= bundleWorkflowCode({
    workflowsPath: workflowsPath(),
    logger: {
      trace() {},
      debug() {},
      info() {},
      warn: (m) => process.stderr.write(`[bundle] ${m}\n`),
      error: (m) => process.stderr.write(`[bundle] ${m}\n`),
      log() {},
    },
  });
  return bundle;
}
