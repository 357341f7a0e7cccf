/**
 * The embedded S3-compatible server (s3rver over a folder). It runs in-process for tests and as
 * a child process under `seqtrain up`. s3rver has no conditional writes; the registry does not
 * rely on them.
 */
import { promises as fsp } from 'node:fs';
import type { AddressInfo } from 'node:net';
import S3rver from 's3rver';

export interface LocalS3Options {
  dir: string;
  /** 0 picks a free port. */
  port?: number;
  bucket: string;
  address?: string;
}

export interface LocalS3 {
  endpoint: string;
  port: number;
  bucket: string;
  /** Stops accepting connections (data stays on disk). */
  stop(): Promise<void>;
  /** Starts again on the same port and folder (for outage tests). */
  restart(): Promise<void>;
}

export async function startLocalS3(options: LocalS3Options): Promise<LocalS3> {
  await fsp.mkdir(options.dir, { recursive: true });
  const address = options.address ?? '127.0.0.1';
  const make = (port: number): S3rver =>
    new S3rver({
      address,
      port,
      silent: true,
      directory: options.dir,
      configureBuckets: [{ name: options.bucket }],
      // Clients sign with fixed local credentials; do not reject other signers.
      allowMismatchedSignatures: true,
    });
  let server: S3rver | undefined = make(options.port ?? 0);
  let info: AddressInfo;
  try {
    info = await server.run();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') {
      throw new Error(
        `local S3 port ${address}:${options.port} is already in use by another program; set SEQTRAIN_S3_PORT to a free port`,
        { cause: err },
      );
    }
    throw err;
  }
  const port = info.port;
  return {
    endpoint: `http://${address}:${port}`,
    port,
    bucket: options.bucket,
    async stop() {
      const s = server;
      server = undefined;
      await s?.close();
    },
    async restart() {
      if (server) return;
      server = make(port);
      await server.run();
    },
  };
}
