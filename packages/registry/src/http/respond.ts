/** Small response helpers for the registry HTTP server: JSON, cached bytes, errors, bodies. */
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  BadInputError,
  CorruptDataError,
  NotFoundError,
  SeqtrainError,
  TransientError,
} from '@seqtrain/contracts';

export class HttpError extends SeqtrainError {
  override readonly name = 'HttpError';
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** Versions never change: clients and private caches may keep them forever. Bearer-protected, so not `public`. */
export const IMMUTABLE = 'private, max-age=31536000, immutable';
export const NO_CACHE = 'no-cache';

export function aliasCacheControl(maxAgeSeconds: number): string {
  return `private, max-age=${maxAgeSeconds}`;
}

export interface BodyOptions {
  status?: number;
  contentType: string;
  cacheControl: string;
  /** Strong validator; when given, If-None-Match is honoured with 304. */
  etag?: string;
  headers?: Record<string, string>;
}

export function etagOf(bytes: Uint8Array): string {
  return `"${createHash('sha256').update(bytes).digest('hex')}"`;
}

function matchesIfNoneMatch(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  if (header.trim() === '*') return true;
  const bare = etag.replace(/^W\//, '');
  return header.split(',').some((t) => t.trim().replace(/^W\//, '') === bare);
}

/** Common headers; answers 304 (true) when the client's copy is current. */
function writeHeadersOr304(req: IncomingMessage, res: ServerResponse, size: number, o: BodyOptions): boolean {
  res.setHeader('Cache-Control', o.cacheControl);
  for (const [k, v] of Object.entries(o.headers ?? {})) res.setHeader(k, v);
  if (o.etag) {
    res.setHeader('ETag', o.etag);
    if (matchesIfNoneMatch(req.headers['if-none-match'], o.etag)) {
      res.writeHead(304).end();
      return true;
    }
  }
  res.setHeader('Content-Type', o.contentType);
  res.setHeader('Content-Length', String(size));
  return false;
}

export function sendBytes(req: IncomingMessage, res: ServerResponse, body: Uint8Array, o: BodyOptions): void {
  if (writeHeadersOr304(req, res, body.byteLength, o)) return;
  res.writeHead(o.status ?? 200);
  res.end(req.method === 'HEAD' ? undefined : body);
}

function drainedOrClosed(res: ServerResponse): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

/**
 * Sends a body chunk by chunk with back-pressure: at most one chunk per response is held. A read
 * that fails after the headers are out ends the connection, so a client never takes a short body
 * for a whole one (Content-Length is set).
 */
export async function sendStream(
  req: IncomingMessage,
  res: ServerResponse,
  body: { size: number; chunks(): AsyncIterable<Uint8Array> | Iterable<Uint8Array> },
  o: BodyOptions,
): Promise<void> {
  if (writeHeadersOr304(req, res, body.size, o)) return;
  if (req.method === 'HEAD') {
    res.writeHead(o.status ?? 200).end();
    return;
  }
  // The status goes out with the first chunk, so a failure reading it is still a clean error.
  let started = false;
  for await (const chunk of body.chunks()) {
    if (!started) {
      res.writeHead(o.status ?? 200);
      started = true;
    }
    if (res.destroyed) return; // the client went away; leaving the loop ends the read
    if (!res.write(chunk)) await drainedOrClosed(res);
  }
  if (!started) res.writeHead(o.status ?? 200);
  res.end();
}

export function sendJson(
  req: IncomingMessage,
  res: ServerResponse,
  value: unknown,
  o: Partial<BodyOptions> = {},
): void {
  const body = new TextEncoder().encode(`${JSON.stringify(value)}\n`);
  sendBytes(req, res, body, { contentType: 'application/json; charset=utf-8', cacheControl: NO_CACHE, ...o });
}

export function statusOf(err: unknown): number {
  if (err instanceof HttpError) return err.status;
  if (err instanceof BadInputError) return 400;
  if (err instanceof NotFoundError) return 404;
  if (err instanceof TransientError) return 503;
  if (err instanceof CorruptDataError) return 500;
  return 500;
}

export function sendError(req: IncomingMessage, res: ServerResponse, err: unknown): void {
  const status = statusOf(err);
  const type = err instanceof SeqtrainError ? err.name : 'InternalError';
  // Unexpected errors are logged by the caller; their details stay out of the response.
  const message = err instanceof SeqtrainError ? err.message : 'internal error';
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(
    req,
    res,
    { error: { type, status, message } },
    {
      status,
      headers: err instanceof HttpError ? err.headers : {},
    },
  );
}

/** Reads a JSON body of at most `limit` bytes; 413 beyond it, 415 for other content types. */
export async function readJsonBody(req: IncomingMessage, limit: number): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (Number.isFinite(declared) && declared > limit) {
    throw new HttpError(413, `request body of ${declared} bytes exceeds the limit of ${limit} bytes`, {
      Connection: 'close',
    });
  }
  const type = req.headers['content-type'] ?? '';
  if (!/^application\/json\b/i.test(type))
    throw new HttpError(415, `content-type must be application/json, got ${JSON.stringify(type)}`);
  const body = await readBody(req, limit);
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    throw new HttpError(400, 'request body is not valid JSON');
  }
}

/** Reads an HTML form body (application/x-www-form-urlencoded) of at most `limit` bytes. */
export async function readFormBody(req: IncomingMessage, limit: number): Promise<URLSearchParams> {
  const type = req.headers['content-type'] ?? '';
  if (!/^application\/x-www-form-urlencoded\b/i.test(type))
    throw new HttpError(
      415,
      `content-type must be application/x-www-form-urlencoded, got ${JSON.stringify(type)}`,
    );
  return new URLSearchParams((await readBody(req, limit)).toString('utf8'));
}

async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    total += chunk.byteLength;
    if (total > limit)
      throw new HttpError(413, `request body exceeds the limit of ${limit} bytes`, { Connection: 'close' });
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
