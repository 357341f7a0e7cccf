/**
 * `seqtrain models list|show|promote|rollback|history|pull` (README, Using it). Reads go straight to the
 * store (a version exists once its card does); alias moves go through the serialisation point:
 * the registry HTTP API when SEQTRAIN_REGISTRY_URL is set, otherwise the registry entity workflow
 * on Temporal (the orchestrator worker runs it).
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  BadInputError,
  formatModelRef,
  NotFoundError,
  parseIsoTime,
  parseModelRef,
  SeqtrainError,
  type AliasEvent,
  type MoveAliasInput,
} from '@seqtrain/contracts';
import { RegistryReader, TemporalCoordinator, CARD_FILE } from '@seqtrain/registry';
import { Client, Connection } from '@temporalio/client';
import { temporalConnectOptions } from '@seqtrain/worker';
import { EXIT_FAILURE, EXIT_OK, type CliContext, type CommandHandler } from '../context';
import {
  MODELS_HISTORY_OPTIONS,
  MODELS_LIST_OPTIONS,
  MODELS_PROMOTE_OPTIONS,
  MODELS_PULL_OPTIONS,
  MODELS_ROLLBACK_OPTIONS,
  MODELS_SHOW_OPTIONS,
  parseOptions,
} from '../help';

const USAGE = `usage:
  seqtrain models list [--json]
  seqtrain models show NAME[@VERSION|@ALIAS] [--json]
  seqtrain models promote NAME@VERSION --alias ALIAS --reason TEXT [--actor WHO] [--workflow-id ID] [--json]
  seqtrain models rollback NAME --alias ALIAS --reason TEXT [--to VERSION] [--actor WHO] [--json]
  seqtrain models history NAME --alias ALIAS [--at ISO-TIME] [--json]
  seqtrain models pull NAME@REF -o DIR [--json]`;

type Spec = Record<string, { type: 'string' | 'boolean'; short?: string }>;

function parse<O extends Spec>(argv: string[], options: O, command: string) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: true });
  } catch (err) {
    throw new BadInputError(`models ${command}: ${(err as Error).message}\n${USAGE}`);
  }
}

function onePositional(positionals: string[], command: string, what: string): string {
  if (positionals.length !== 1 || !positionals[0])
    throw new BadInputError(`models ${command}: expected exactly one ${what}\n${USAGE}`);
  return positionals[0];
}

function required(value: string | undefined, option: string, command: string): string {
  if (value === undefined || value === '')
    throw new BadInputError(`models ${command}: --${option} is required\n${USAGE}`);
  return value;
}

/** Moves an alias through whichever serialisation point this environment has. */
async function moveAlias(ctx: CliContext, input: MoveAliasInput): Promise<AliasEvent> {
  const { url, token } = ctx.config.registry;
  if (url) {
    const target = `${url.replace(/\/+$/, '')}/v1/models/${input.name}/aliases/${input.alias}`;
    const res = await fetch(target, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(input.request),
    });
    const body = (await res.json().catch(() => ({}))) as { error?: { message?: string } };
    if (!res.ok) {
      const message = `POST ${target}: HTTP ${res.status}: ${body.error?.message ?? res.statusText}`;
      throw res.status === 400
        ? new BadInputError(message)
        : res.status === 404
          ? new NotFoundError(message)
          : new SeqtrainError(message);
    }
    return body as unknown as AliasEvent;
  }
  const connection = await Connection.connect(await temporalConnectOptions(ctx.config));
  try {
    const coordinator = new TemporalCoordinator(
      new Client({ connection, namespace: ctx.config.temporal.namespace }),
    );
    return await coordinator.moveAlias(input);
  } finally {
    await connection.close();
  }
}

function defaultActor(ctx: CliContext): string {
  return `cli:${ctx.env.USER ?? ctx.env.USERNAME ?? 'unknown'}`;
}

function printEvent(ctx: CliContext, e: AliasEvent): void {
  ctx.io.out(
    `${e.model}@${e.alias}: ${e.from ?? '-'} -> ${e.to}  (${e.kind} #${e.seq} at ${e.at} by ${e.actor}: ${e.reason}${e.workflowId ? `; workflow ${e.workflowId}` : ''})`,
  );
}

export const runModelsCommand: CommandHandler = async (argv, ctx) => {
  const [sub, ...rest] = argv;
  const reader = new RegistryReader(ctx.store());
  switch (sub ?? '') {
    case 'list': {
      const { values } = parse(rest, parseOptions(MODELS_LIST_OPTIONS), 'list');
      const models = await reader.listModels();
      if (values.json) ctx.io.out(JSON.stringify({ models }));
      else if (models.length === 0) ctx.io.out('no models registered');
      else
        for (const m of models)
          ctx.io.out(`${m.name.padEnd(32)} versions ${String(m.versions).padStart(4)}  latest ${m.latest}`);
      return EXIT_OK;
    }
    case 'show': {
      const { values, positionals } = parse(rest, parseOptions(MODELS_SHOW_OPTIONS), 'show');
      const refText = onePositional(positionals, 'show', 'NAME[@VERSION|@ALIAS]');
      if (!refText.includes('@')) {
        const details = await reader.describeModel(parseModelRef(refText).name);
        if (values.json) ctx.io.out(JSON.stringify(details));
        else {
          ctx.io.out(`${details.name}`);
          for (const v of details.versions)
            ctx.io.out(`  v${v.version}  ${v.createdAt}  ${JSON.stringify(v.metrics)}`);
          for (const a of details.aliases) ctx.io.out(`  @${a.alias} -> v${a.version} (since ${a.at})`);
        }
        return EXIT_OK;
      }
      const resolved = await reader.resolve(refText);
      if (values.json) ctx.io.out(JSON.stringify(resolved.card));
      else ctx.io.out(JSON.stringify(resolved.card, null, 2));
      return EXIT_OK;
    }
    case 'promote': {
      const { values, positionals } = parse(rest, parseOptions(MODELS_PROMOTE_OPTIONS), 'promote');
      const ref = parseModelRef(onePositional(positionals, 'promote', 'NAME@VERSION'));
      if (ref.target.kind !== 'version')
        throw new BadInputError(
          `models promote: ${formatModelRef(ref)} must name a version, e.g. ${ref.name}@3`,
        );
      const event = await moveAlias(ctx, {
        name: ref.name,
        alias: required(values.alias, 'alias', 'promote'),
        request: {
          kind: 'promote',
          version: ref.target.version,
          reason: required(values.reason, 'reason', 'promote'),
          actor: values.actor ?? defaultActor(ctx),
          ...(values['workflow-id'] ? { workflowId: values['workflow-id'] } : {}),
        },
      });
      if (values.json) ctx.io.out(JSON.stringify(event));
      else printEvent(ctx, event);
      return EXIT_OK;
    }
    case 'rollback': {
      const { values, positionals } = parse(rest, parseOptions(MODELS_ROLLBACK_OPTIONS), 'rollback');
      const name = parseModelRef(onePositional(positionals, 'rollback', 'NAME')).name;
      const to = values.to === undefined ? undefined : parseModelRef(`${name}@${values.to}`).target;
      if (to !== undefined && to.kind !== 'version')
        throw new BadInputError(`models rollback: --to=${values.to} must be a version number`);
      const event = await moveAlias(ctx, {
        name,
        alias: required(values.alias, 'alias', 'rollback'),
        request: {
          kind: 'rollback',
          reason: required(values.reason, 'reason', 'rollback'),
          actor: values.actor ?? defaultActor(ctx),
          ...(to?.kind === 'version' ? { version: to.version } : {}),
        },
      });
      if (values.json) ctx.io.out(JSON.stringify(event));
      else printEvent(ctx, event);
      return EXIT_OK;
    }
    case 'history': {
      const { values, positionals } = parse(rest, parseOptions(MODELS_HISTORY_OPTIONS), 'history');
      const name = parseModelRef(onePositional(positionals, 'history', 'NAME')).name;
      const alias = required(values.alias, 'alias', 'history');
      if (values.at !== undefined) {
        const at = parseIsoTime(values.at, 'models history: --at');
        const version = await reader.aliasAt(name, alias, at);
        if (values.json) ctx.io.out(JSON.stringify({ name, alias, at: at.toISOString(), version }));
        else
          ctx.io.out(
            version === null
              ? `${name}@${alias} was not set at ${at.toISOString()}`
              : `${name}@${alias} -> v${version} at ${at.toISOString()}`,
          );
        return EXIT_OK;
      }
      const events = await reader.aliasHistory(name, alias);
      if (values.json) ctx.io.out(JSON.stringify({ name, alias, events }));
      else if (events.length === 0) ctx.io.out(`${name}@${alias} has never been set`);
      else for (const e of events) printEvent(ctx, e);
      return EXIT_OK;
    }
    case 'pull': {
      const { values, positionals } = parse(rest, parseOptions(MODELS_PULL_OPTIONS), 'pull');
      const resolved = await reader.resolve(onePositional(positionals, 'pull', 'NAME@REF'));
      const dir = path.resolve(ctx.cwd, required(values.out, 'out (-o)', 'pull'));
      await fsp.mkdir(dir, { recursive: true });
      // Weights first and model.json, then card.json: the same "card last" rule as the registry.
      const files = [...resolved.card.files.map((f) => f.name), CARD_FILE];
      let bytes = 0;
      for (const file of files) {
        const content = await reader.readFile(resolved.name, resolved.version, file);
        await fsp.writeFile(path.join(dir, file), content.bytes);
        bytes += content.bytes.byteLength;
      }
      const result = { name: resolved.name, version: resolved.version, dir, files, bytes };
      if (values.json) ctx.io.out(JSON.stringify(result));
      else
        ctx.io.out(
          `pulled ${resolved.name}@${resolved.version} (${files.length} files, ${bytes} bytes) into ${dir}`,
        );
      return EXIT_OK;
    }
    default:
      ctx.io.err(
        `${!sub ? 'models: missing subcommand' : `models: unknown subcommand ${JSON.stringify(sub)}`}\n${USAGE}\n`,
      );
      return sub === '--help' ? EXIT_OK : EXIT_FAILURE;
  }
};
