/**
 * `seqtrain models ...` as a user runs it, against real local S3 and a registry server (alias
 * moves go through SEQTRAIN_REGISTRY_URL). Times of alias events come from the server's clock,
 * which the test controls, so `history --at` is checked at known points between events.
 */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack } from '@seqtrain/local-stack';
import {
  InProcessCoordinator,
  ModelRegistry,
  parseRegistryTokens,
  startRegistryServer,
  type ModelFiles,
  type RunningRegistryServer,
} from '@seqtrain/registry';
import { createBlobStore, type S3BlobStore } from '@seqtrain/storage';
import type { CliContext } from '../context';
import { runModelsCommand } from './models';
import { runRegistryCommand } from './registry';

let stack: TestStack;
let store: S3BlobStore;
let server: RunningRegistryServer;
let registry: ModelRegistry;
let cwd: string;
let clock = 0;

/** The registry stores model files as given; a minimal LayersModel-shaped model.json suffices here. */
function tinyModelFiles(seed: number): ModelFiles {
  const weights = new Uint8Array(new Float32Array([seed, seed + 0.5, -seed]).buffer);
  const modelJson = JSON.stringify({
    modelTopology: { class_name: 'Sequential', config: { name: `m${seed}`, layers: [] } },
    format: 'layers-model',
    weightsManifest: [{ paths: ['weights.bin'], weights: [{ name: 'w', shape: [3], dtype: 'float32' }] }],
  });
  return { modelJson, weightFiles: new Map([['weights.bin', weights]]) };
}

async function cli(...argv: string[]): Promise<{ code: number; out: string[]; err: string }> {
  const out: string[] = [];
  let err = '';
  const ctx: CliContext = {
    config: { ...stack.config, registry: { url: server.url, token: 'cli-writer-token' } },
    io: { out: (t) => out.push(t), err: (t) => (err += t), isTTY: false },
    store: () => store,
    env: { USER: 'tester' },
    cwd,
  };
  const code = await runModelsCommand(argv, ctx);
  return { code, out, err };
}

async function json<T>(...argv: string[]): Promise<T> {
  const r = await cli(...argv, '--json');
  expect(r.code).toBe(0);
  expect(r.out).toHaveLength(1);
  return JSON.parse(r.out[0] ?? '') as T;
}

beforeAll(async () => {
  stack = await startTestStack({});
  store = createBlobStore(stack.config);
  cwd = await fsp.mkdtemp(path.join(os.tmpdir(), 'models-cli-'));
  registry = new ModelRegistry(store, new InProcessCoordinator(store, { clock: () => clock }));
  for (const [i, runKey] of ['r1', 'r2', 'r3'].entries()) {
    await registry.registerModel({
      name: 'sales',
      runKey,
      artifacts: tinyModelFiles(i + 1),
      card: {
        spec: { name: 'sales' },
        metrics: { val_loss: 1 / (i + 1) },
        dataset: { name: 'sales', digest: 'abc' },
        codeVersion: 'v1',
        workflowId: runKey,
        backend: 'cpu',
      },
    });
  }
  server = await startRegistryServer({
    registry,
    tokens: parseRegistryTokens('cli-writer-token:read+write'),
  });
});

afterAll(async () => {
  await server?.close();
  store?.destroy();
  await stack?.stop();
  await fsp.rm(cwd, { recursive: true, force: true });
});

describe('seqtrain models', () => {
  it('list and show', async () => {
    expect(await json('list')).toEqual({ models: [{ name: 'sales', versions: 3, latest: 3 }] });
    const card = await json<{ version: number; runKey: string; metrics: { val_loss: number } }>(
      'show',
      'sales@2',
    );
    expect(card).toMatchObject({ version: 2, runKey: 'r2', metrics: { val_loss: 0.5 } });
    const missing = cli('show', 'sales@9');
    await expect(missing).rejects.toThrow(/no version 9/);
  });

  it('promote, promote, rollback; history --at answers between the events', async () => {
    clock = Date.parse('2026-03-01T12:00:00.000Z');
    const p1 = await json<{ to: number; actor: string }>(
      'promote',
      'sales@1',
      '--alias',
      'production',
      '--reason',
      'initial',
    );
    clock = Date.parse('2026-03-05T12:00:00.000Z');
    await json(
      'promote',
      'sales@3',
      '--alias',
      'production',
      '--reason',
      'lower val_loss',
      '--workflow-id',
      'retrain-7',
    );
    clock = Date.parse('2026-03-09T12:00:00.000Z');
    const rb = await json<{ kind: string; from: number; to: number }>(
      'rollback',
      'sales',
      '--alias',
      'production',
      '--reason',
      'bad outputs',
    );
    expect(p1).toMatchObject({ to: 1, actor: 'cli:tester' });
    expect(rb).toMatchObject({ kind: 'rollback', from: 3, to: 1 });

    const at = async (t: string) =>
      (await json<{ version: number | null }>('history', 'sales', '--alias', 'production', '--at', t))
        .version;
    expect(await at('2026-02-28T00:00:00Z')).toBeNull();
    expect(await at('2026-03-03T00:00:00Z')).toBe(1);
    expect(await at('2026-03-05T12:00:00.000Z')).toBe(3);
    expect(await at('2026-03-07T00:00:00Z')).toBe(3);
    expect(await at('2026-03-10T00:00:00Z')).toBe(1);

    const history = await json<{ events: { from: number | null; to: number; workflowId?: string }[] }>(
      'history',
      'sales',
      '--alias',
      'production',
    );
    expect(history.events.map((e) => [e.from, e.to])).toEqual([
      [null, 1],
      [1, 3],
      [3, 1],
    ]);
    expect(history.events[1]?.workflowId).toBe('retrain-7');

    await expect(cli('promote', 'sales@production', '--alias', 'staging', '--reason', 'x')).rejects.toThrow(
      /must name a version/,
    );
    await expect(cli('promote', 'sales@1', '--alias', 'staging')).rejects.toThrow(/--reason is required/);
  });

  it('pull writes the version files, verified against the card', async () => {
    const result = await json<{ version: number; dir: string; files: string[] }>(
      'pull',
      'sales@production',
      '-o',
      'pulled',
    );
    expect(result.version).toBe(1);
    expect(result.dir).toBe(path.join(cwd, 'pulled'));
    const card = await registry.getCard('sales', 1);
    for (const f of card.files) {
      const bytes = await fsp.readFile(path.join(result.dir, f.name));
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(f.sha256);
    }
    expect(JSON.parse(await fsp.readFile(path.join(result.dir, 'card.json'), 'utf8'))).toMatchObject({
      version: 1,
      runKey: 'r1',
    });
  });
});

describe('seqtrain registry serve', () => {
  it('has one writer: --coordinator in-process is refused, naming the flag and the value', async () => {
    const ctx: CliContext = {
      config: { ...stack.config, registry: { tokens: 'reader-token:read' } },
      io: { out: () => undefined, err: () => undefined, isTTY: false },
      store: () => store,
      env: {},
      cwd,
    };
    // Before the registry had one writer, this started a second (in-process) one and served.
    await expect(
      runRegistryCommand(['serve', '--coordinator', 'in-process', '--port', '0'], ctx),
    ).rejects.toThrow(
      'registry serve: --coordinator="in-process": the registry has one writer, the registry entity workflow on Temporal',
    );
  });
});
