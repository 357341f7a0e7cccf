import { spawn } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GetObjectCommand, ListObjectsCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY } from '@seqtrain/contracts';
import { isAlive, startLocalS3, waitFor } from './index';

let tmp: string;
beforeAll(async () => {
  tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'local-s3-'));
});
afterAll(async () => {
  await fsp.rm(tmp, { recursive: true, force: true });
});

function client(endpoint: string): S3Client {
  return new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: LOCAL_ACCESS_KEY, secretAccessKey: LOCAL_SECRET_KEY },
  });
}

describe('local S3 server', () => {
  it('copies a folder left by s3rver into the new server and removes the old files after', async () => {
    const dir = path.join(tmp, 'legacy');
    // s3rver's layout: <bucket>/<key dirs>/<name>._S3rver_object beside its metadata.
    const objects: Record<string, string> = {
      'datasets/weather/manifest.json': '{"name":"weather"}',
      'runs/r1/checkpoints/000001.bin': 'weights \u0000\u0001\u0002',
      'top.txt': 'top-level key',
    };
    for (const [key, body] of Object.entries(objects)) {
      const file = path.join(dir, 'seqtrain', ...key.split('/'));
      await fsp.mkdir(path.dirname(file), { recursive: true });
      await fsp.writeFile(`${file}._S3rver_object`, body);
      await fsp.writeFile(
        `${file}._S3rver_metadata.json`,
        JSON.stringify({ 'content-type': key.endsWith('.json') ? 'application/json' : 'text/plain' }),
      );
      await fsp.writeFile(`${file}._S3rver_object.md5`, 'ignored');
    }
    const logs: string[] = [];
    const s3 = await startLocalS3({ dir, bucket: 'seqtrain', log: (m) => logs.push(m) });
    const c = client(s3.endpoint);
    try {
      const listed = await c.send(new ListObjectsCommand({ Bucket: 'seqtrain' }));
      expect((listed.Contents ?? []).map((o) => o.Key).sort()).toEqual(Object.keys(objects).sort());
      for (const [key, body] of Object.entries(objects)) {
        const got = await c.send(new GetObjectCommand({ Bucket: 'seqtrain', Key: key }));
        expect(await got.Body?.transformToString()).toBe(body);
        if (key.endsWith('.json')) expect(got.ContentType).toBe('application/json');
      }
      expect(logs.join('\n')).toContain('moved 3 objects');
      await expect(fsp.access(`${dir}.s3rver-migration`)).rejects.toThrow();
      // A second start finds nothing to migrate and keeps the data.
      await s3.stop();
      await s3.restart();
      const again = await c.send(new ListObjectsCommand({ Bucket: 'seqtrain' }));
      expect(again.Contents).toHaveLength(3);
    } finally {
      c.destroy();
      await s3.stop();
    }
  });

  it('dies with the process that started it, even when that one is SIGKILLed', async () => {
    const script = path.join(tmp, 'start-s3.mts');
    const entry = fileURLToPath(new URL('./index.ts', import.meta.url));
    await fsp.writeFile(
      script,
      `import { startLocalS3 } from ${JSON.stringify(entry)};\n` +
        `const s3 = await startLocalS3({ dir: ${JSON.stringify(path.join(tmp, 'orphan'))}, bucket: 'seqtrain' });\n` +
        `process.stdout.write(String(s3.pid) + '\\n');\nsetInterval(() => undefined, 1000);\n`,
    );
    const child = spawn(process.execPath, ['--import', 'tsx', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
      cwd: fileURLToPath(new URL('..', import.meta.url)),
    });
    const pid = await new Promise<number>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => resolve(Number(d.toString().trim())));
      child.once('exit', (code) => reject(new Error(`starter exited with ${code}`)));
    });
    expect(isAlive(pid)).toBe(true);
    child.kill('SIGKILL');
    await waitFor(`S3 server pid ${pid} to exit`, () => Promise.resolve(!isAlive(pid)), 10_000, 100);
  });
});
