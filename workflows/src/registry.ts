/**
 * The registry entity workflow: one per model name, the single serialisation point for version
 * numbers and alias events (S3 has no compare-and-swap to do it there). Requests arrive as Updates
 * via update-with-start and are applied strictly one at a time: decide (pure, in contracts) ->
 * write through an activity -> commit to state. A number is committed only after its write
 * succeeded, so a failed publish leaves no gap. History stays bounded by continue-as-new; an idle
 * entity completes and the next request starts a new one, which reloads its state from the store.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  defineQuery,
  defineUpdate,
  proxyActivities,
  setHandler,
  TemporalFailure,
  TimeoutFailure,
  workflowInfo,
} from '@temporalio/workflow';
import {
  BAD_INPUT_ERROR,
  allocateVersion,
  applyAliasEvent,
  MOVE_ALIAS_UPDATE,
  activityRetry,
  planAliasMove,
  REGISTER_VERSION_UPDATE,
  REGISTRY_STATE_QUERY,
  SeqtrainError,
  type AliasEvent,
  type MoveAliasInput,
  type RegisterVersionInput,
  type RegisterVersionResult,
  type RegistryState,
  type RegistryWorkflowArgs,
} from '@seqtrain/contracts';
import type { RegistryActivities } from '@seqtrain/activities';

const registerVersionUpdate = defineUpdate<RegisterVersionResult, [RegisterVersionInput]>(
  REGISTER_VERSION_UPDATE,
);
const moveAliasUpdate = defineUpdate<AliasEvent, [MoveAliasInput]>(MOVE_ALIAS_UPDATE);
const registryStateQuery = defineQuery<RegistryState>(REGISTRY_STATE_QUERY);

const PUBLISH_TIMEOUT_MS = 10 * 60 * 1000;

/**
 * Bounded: a publish that keeps failing, or hangs, fails its own request (after its attempts, or
 * after publishTimeoutMs in all) and the queue moves on to the next request.
 */
function registryActivities(
  args: RegistryWorkflowArgs,
): ReturnType<typeof proxyActivities<RegistryActivities>> {
  const total = args.publishTimeoutMs ?? PUBLISH_TIMEOUT_MS;
  return proxyActivities<RegistryActivities>({
    startToCloseTimeout: Math.min(2 * 60 * 1000, total),
    scheduleToCloseTimeout: total,
    retry: activityRetry({ initialInterval: '500ms' }),
  });
}

/** A publish or alias write that ran out of time: a clear, retryable failure of that request alone. */
function timedOut(err: unknown, what: string, totalMs: number): unknown {
  if (!(err instanceof ActivityFailure) || !(err.cause instanceof TimeoutFailure)) return err;
  return ApplicationFailure.create({
    type: 'TransientError',
    message: `${what} did not finish within ${Math.round(totalMs / 1000)} s (${err.cause.message}); this request failed and later requests for the model go ahead`,
    cause: err,
  });
}

const DAY_MS = 24 * 60 * 60 * 1000;
/** Roll over well before Temporal's own limits; a registration costs about a dozen events. */
const MAX_HISTORY_EVENTS = 5_000;

/** Errors thrown by the pure transitions become Update failures (a plain Error would fail the task). */
function asFailure(err: unknown): unknown {
  if (err instanceof TemporalFailure) return err;
  if (err instanceof SeqtrainError)
    return ApplicationFailure.create({ type: err.name, message: err.message, nonRetryable: true });
  return err;
}

export async function modelRegistryWorkflow(args: RegistryWorkflowArgs): Promise<RegistryState> {
  const name = args.name;
  const acts = registryActivities(args);
  const budgetMs = args.publishTimeoutMs ?? PUBLISH_TIMEOUT_MS;
  let state: RegistryState | undefined = args.state;
  // A ticket lock: several waiters can see a boolean flag free in the same activation, tickets cannot.
  let nextTicket = 0;
  let serving = 0;
  const busy = (): boolean => serving !== nextTicket;
  let handled = 0;

  const serial = async <T>(fn: (s: RegistryState) => Promise<T>): Promise<T> => {
    const ticket = nextTicket++;
    await condition(() => serving === ticket && state !== undefined);
    try {
      return await fn(state as RegistryState);
    } catch (err) {
      throw asFailure(err);
    } finally {
      serving++;
      handled++;
    }
  };

  const sameModel = (input: { name: string }): void => {
    if (input?.name !== name) {
      throw ApplicationFailure.create({
        type: BAD_INPUT_ERROR,
        message: `request for model ${JSON.stringify(input?.name)} sent to the registry entity of ${name}`,
        nonRetryable: true,
      });
    }
  };

  setHandler(
    registerVersionUpdate,
    (input) =>
      serial(async (s) => {
        const known = s.runs[input.runKey];
        if (known !== undefined) return { name, version: known, created: false };
        const version = s.lastVersion + 1;
        try {
          await acts.registryPublishVersion({
            name,
            version,
            runKey: input.runKey,
            sourcePrefix: input.sourcePrefix,
            card: input.card,
            createdAt: new Date().toISOString(),
          });
        } catch (err) {
          throw timedOut(err, `publishing version ${version} of model ${name}`, budgetMs);
        }
        return allocateVersion(s, input.runKey);
      }),
    {
      validator: (input: RegisterVersionInput) => {
        sameModel(input);
        if (typeof input.runKey !== 'string' || input.runKey.length === 0) {
          throw ApplicationFailure.create({
            type: BAD_INPUT_ERROR,
            message: 'runKey must be a non-empty string',
            nonRetryable: true,
          });
        }
      },
    },
  );

  setHandler(
    moveAliasUpdate,
    (input) =>
      serial(async (s) => {
        const event = planAliasMove(s, input, Date.now());
        let written: AliasEvent;
        try {
          written = await acts.registryWriteAliasEvent(event);
        } catch (err) {
          throw timedOut(err, `moving alias ${event.alias} of model ${name}`, budgetMs);
        }
        applyAliasEvent(s, written);
        return written;
      }),
    { validator: sameModel },
  );

  setHandler(registryStateQuery, () => state ?? { name, lastVersion: 0, runs: {}, aliases: {} });

  if (state === undefined) state = await acts.registryLoadState(name);

  const idleMs = args.idleTimeoutMs ?? DAY_MS;
  for (;;) {
    const seen = handled;
    const rollOver = (): boolean =>
      workflowInfo().continueAsNewSuggested ||
      workflowInfo().historyLength > (args.maxHistoryEvents ?? MAX_HISTORY_EVENTS);
    const active = await condition(() => handled !== seen || busy() || rollOver(), idleMs);
    if (rollOver()) {
      await condition(() => !busy() && allHandlersFinished());
      await continueAsNew<typeof modelRegistryWorkflow>({ ...args, state });
    }
    if (!active) {
      await condition(allHandlersFinished);
      return state;
    }
    if (busy()) await condition(() => !busy());
  }
}
