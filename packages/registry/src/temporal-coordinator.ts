/**
 * The production serialisation point: one long-lived entity workflow per model name
 * (`seqtrain-registry/<name>`, see workflows/src/registry.ts). Every registration and alias move is
 * an Update sent with update-with-start, so the first writer starts the entity and everyone else
 * joins it; Temporal applies the Updates one at a time in the workflow's history.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  WithStartWorkflowOperation,
  WorkflowUpdateFailedError,
  type Client,
} from '@temporalio/client';
import {
  BadInputError,
  CorruptDataError,
  MOVE_ALIAS_UPDATE,
  NotFoundError,
  REGISTER_VERSION_UPDATE,
  REGISTRY_STATE_QUERY,
  REGISTRY_TASK_QUEUE,
  REGISTRY_WORKFLOW_TYPE,
  registryWorkflowId,
  SeqtrainError,
  TransientError,
  type AliasEvent,
  type MoveAliasInput,
  type RegisterVersionInput,
  type RegisterVersionResult,
  type RegistryState,
  type RegistryWorkflowArgs,
} from '@seqtrain/contracts';
import type { RegistryCoordinator } from './coordinator';

export interface TemporalCoordinatorOptions {
  /** Task queue of the orchestrator workers that run the registry workflow and its activities. */
  taskQueue?: string;
  /** Arguments for an entity this coordinator starts (besides the name), e.g. publishTimeoutMs. */
  entity?: Omit<RegistryWorkflowArgs, 'name' | 'state'>;
}

export class TemporalCoordinator implements RegistryCoordinator {
  private readonly taskQueue: string;
  private readonly entity: Omit<RegistryWorkflowArgs, 'name' | 'state'>;

  constructor(
    private readonly client: Client,
    options: TemporalCoordinatorOptions = {},
  ) {
    this.taskQueue = options.taskQueue ?? REGISTRY_TASK_QUEUE;
    this.entity = options.entity ?? {};
  }

  private startOperation(
    name: string,
  ): WithStartWorkflowOperation<(args: RegistryWorkflowArgs) => Promise<RegistryState>> {
    return new WithStartWorkflowOperation(REGISTRY_WORKFLOW_TYPE, {
      workflowId: registryWorkflowId(name),
      taskQueue: this.taskQueue,
      args: [{ ...this.entity, name }],
      workflowIdConflictPolicy: 'USE_EXISTING',
    });
  }

  registerVersion(input: RegisterVersionInput): Promise<RegisterVersionResult> {
    return mapFailure(() =>
      this.client.workflow.executeUpdateWithStart<
        (args: RegistryWorkflowArgs) => Promise<RegistryState>,
        RegisterVersionResult,
        [RegisterVersionInput]
      >(REGISTER_VERSION_UPDATE, { args: [input], startWorkflowOperation: this.startOperation(input.name) }),
    );
  }

  moveAlias(input: MoveAliasInput): Promise<AliasEvent> {
    return mapFailure(() =>
      this.client.workflow.executeUpdateWithStart<
        (args: RegistryWorkflowArgs) => Promise<RegistryState>,
        AliasEvent,
        [MoveAliasInput]
      >(MOVE_ALIAS_UPDATE, { args: [input], startWorkflowOperation: this.startOperation(input.name) }),
    );
  }

  /** The entity's in-memory state (for diagnostics). */
  state(name: string): Promise<RegistryState> {
    return this.client.workflow
      .getHandle(registryWorkflowId(name))
      .query<RegistryState>(REGISTRY_STATE_QUERY);
  }
}

const ERRORS: Record<string, new (message: string, options?: { cause?: unknown }) => SeqtrainError> = {
  BadInputError,
  NotFoundError,
  CorruptDataError,
  TransientError,
};

/** Turns a failed Update back into the taxonomy the caller would have seen in-process. */
async function mapFailure<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (!(err instanceof WorkflowUpdateFailedError)) throw err;
    let cause: unknown = err.cause;
    while (cause instanceof ActivityFailure && cause.cause) cause = cause.cause;
    if (cause instanceof ApplicationFailure) {
      const Ctor = (cause.type ? ERRORS[cause.type] : undefined) ?? SeqtrainError;
      throw new Ctor(cause.message, { cause: err });
    }
    throw new SeqtrainError(err.message, { cause: err });
  }
}
