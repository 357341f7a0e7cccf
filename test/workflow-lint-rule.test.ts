import path from 'node:path';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

// The repository's real ESLint config, applied to text placed at a real workflow path.
const root = path.resolve(import.meta.dirname, '..');
const workflowFile = path.join(root, 'workflows/src/index.ts');

async function lintAsWorkflow(code: string): Promise<string[]> {
  const eslint = new ESLint({ cwd: root });
  const [result] = await eslint.lintText(code, { filePath: workflowFile });
  return (result?.messages ?? []).filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

describe('workflow import guard', () => {
  it.each([
    ["import { readFileSync } from 'node:fs';", /Node built-ins/],
    ["import fs from 'fs';", /Node built-ins/],
    ["import { S3Client } from '@aws-sdk/client-s3';", /I\/O or compute libraries/],
    ["import * as tf from '@tensorflow/tfjs';", /I\/O or compute libraries/],
    ["import { tableFromIPC } from 'apache-arrow';", /I\/O or compute libraries/],
    ["import { FsBlobStore } from '@seqtrain/storage';", /I\/O or compute libraries/],
  ])('rejects %s', async (code, message) => {
    const messages = await lintAsWorkflow(`${code}\nexport const x = 1;\n`);
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatch(message);
  });

  it('allows the workflow SDK and type-only activity imports', async () => {
    const code =
      "import { sleep } from '@temporalio/workflow';\nimport type { SmokeActivities } from '@seqtrain/activities';\nexport async function w(a: SmokeActivities | undefined): Promise<void> { if (a) await sleep(1); }\n";
    expect(await lintAsWorkflow(code)).toEqual([]);
  });

  it('does not apply to activity code', async () => {
    const eslint = new ESLint({ cwd: root });
    const [result] = await eslint.lintText(
      "import { readFileSync } from 'node:fs';\nexport const f = readFileSync;\n",
      { filePath: path.join(root, 'activities/src/index.ts') },
    );
    expect(result?.messages.filter((m) => m.ruleId === 'no-restricted-imports')).toEqual([]);
  });
});
