/**
 * `seqtrain registry serve [--port P] [--host H]`: the registry HTTP API (docs/cli-contract.md) and its web UI
 * (`/ui/`: models, versions, aliases with their history, run pages). Alias moves
 * made through it are serialised by the registry entity workflow on Temporal, the registry's one
 * writer. (An in-process mode was removed: beside the entity workflow it was a second writer that
 * could hand out a version or alias event number twice.)
 */
import { parseArgs } from 'node:util';
import { BadInputError } from '@seqtrain/contracts';
import {
  ModelRegistry,
  parseRegistryTokens,
  startRegistryServer,
  TemporalCoordinator,
} from '@seqtrain/registry';
import { Client, Connection } from '@temporalio/client';
import { temporalConnectOptions } from '@seqtrain/worker';
import { EXIT_FAILURE, EXIT_OK, type CommandHandler } from '../context';
import { REGISTRY_SERVE_OPTIONS, parseOptions } from '../help';

const USAGE = 'usage: seqtrain registry serve [--port P] [--host H] [--json]';
export const DEFAULT_REGISTRY_PORT = 8780;

export const runRegistryCommand: CommandHandler = async (argv, ctx) => {
  const [sub, ...rest] = argv;
  if (sub !== 'serve') {
    ctx.io.err(
      `registry: ${sub === undefined ? 'missing subcommand' : `unknown subcommand ${JSON.stringify(sub)}`}\n${USAGE}\n`,
    );
    return EXIT_FAILURE;
  }
  let values: { port?: string; host?: string; coordinator?: string; json?: boolean };
  try {
    values = parseArgs({
      args: rest,
      options: parseOptions(REGISTRY_SERVE_OPTIONS),
      strict: true,
    }).values;
  } catch (err) {
    throw new BadInputError(`registry serve: ${(err as Error).message}\n${USAGE}`);
  }
  const port = values.port === undefined ? DEFAULT_REGISTRY_PORT : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new BadInputError(`registry serve: --port=${values.port} is not a port number`);
  const tokens = parseRegistryTokens(ctx.config.registry.tokens);
  if (tokens.length === 0) {
    throw new BadInputError(
      'registry serve: no tokens configured; set SEQTRAIN_REGISTRY_TOKENS="TOKEN:read,TOKEN2:read+write"',
    );
  }
  if (values.coordinator !== undefined && values.coordinator !== 'temporal')
    throw new BadInputError(
      `registry serve: --coordinator=${JSON.stringify(values.coordinator)}: the registry has one writer, the registry entity workflow on Temporal (a second, in-process writer could allocate a version or an alias event number twice); drop the flag`,
    );
  const mode = 'temporal';
  const store = ctx.store();
  const connection = await Connection.connect(await temporalConnectOptions(ctx.config));
  const client = new Client({ connection, namespace: ctx.config.temporal.namespace });
  const coordinator = new TemporalCoordinator(client);
  const server = await startRegistryServer({
    registry: new ModelRegistry(store, coordinator),
    tokens,
    port,
    host: values.host ?? '127.0.0.1',
    // The web UI links each version to the run page of the run that registered it.
    runPage: async (card) => (await import('./runs')).runPageHtml(client, store, card.workflowId),
    onError: (err, req) =>
      ctx.io.err(
        `[registry] ${req.method} ${req.url}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
      ),
  });
  if (values.json)
    ctx.io.out(
      JSON.stringify({ url: server.url, ui: `${server.url}/ui/`, port: server.port, coordinator: mode }),
    );
  else
    ctx.io.err(
      `registry serving ${server.url} (coordinator: ${mode}); web UI ${server.url}/ui/ (sign in with a read token); Ctrl-C to stop\n`,
    );
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  await server.close();
  await connection.close();
  return EXIT_OK;
};
