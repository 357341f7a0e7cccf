/**
 * A trainer's data-plane endpoint: one TCP listener bound at worker start (loopback unless
 * configured otherwise), and the dialer its segments use to reach the next member. A segment
 * registers what it expects (`accept`); connections for anything else are refused with a
 * reason and leave the waiting segment undisturbed.
 */
import net from 'node:net';
import os from 'node:os';
import { PeerError, PeerUnreachableError } from '@seqtrain/contracts';
import type { FrameLimits } from './frames';
import {
  judgeHello,
  nonce,
  parseHello,
  sameProof,
  welcomeProof,
  helloProof,
  type Expected,
  type RefuseCode,
  type SessionKey,
} from './handshake';
import { FramedSocket } from './link';

/** Handshake frames are small; nothing larger is read from a peer that has not proven the secret. */
const HANDSHAKE_LIMITS = (accept: FrameLimits['accept']): FrameLimits => ({
  maxHeaderBytes: 4096,
  maxBodyBytes: 0,
  accept,
});
const DATA_ACCEPT = ['data', 'keepalive', 'abort'] as const;
const HANDSHAKE_TIMEOUT_MS = 5_000;
/** Connections still in their handshake; beyond this new ones are dropped at once. */
const MAX_PENDING_HANDSHAKES = 64;

export interface LinkSettings {
  /** largest data frame body accepted from this peer */
  maxBodyBytes: number;
  /** silence tolerated from the peer while waiting */
  idleTimeoutMs: number;
  /** send a keepalive after this long without sending */
  keepaliveMs: number;
}

export interface AcceptOptions extends Expected, LinkSettings {
  /** give up when the previous member has not connected by then */
  timeoutMs: number;
  signal?: AbortSignal;
}

export interface DialOptions extends SessionKey, LinkSettings {
  address: string;
  secret: string;
  from: number;
  to: number;
  /** keep trying (the peer may not have started its segment) until this long has passed */
  timeoutMs: number;
  signal?: AbortSignal;
  /** called while waiting, e.g. to heartbeat */
  onWait?: () => void;
}

interface Waiting {
  expected: Expected;
  settings: LinkSettings;
  connected: boolean;
  resolve: (s: FramedSocket) => void;
  supersede: (err: Error) => void;
}

export interface ServerLog {
  (message: string): void;
}

export function parseAddress(address: string): { host: string; port: number } {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(address);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port < 1 || port > 65535)
    throw new PeerError(`data plane: ${JSON.stringify(address)} is not a host:port address`);
  return { host: (m[1] ?? m[2])!, port };
}

function formatAddress(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** The address peers should dial for a listener bound to `host` (a wildcard needs a real one). */
function advertisedHost(host: string): string {
  if (host !== '0.0.0.0' && host !== '::' && host !== '[::]') return host.replace(/^\[|\]$/g, '');
  for (const list of Object.values(os.networkInterfaces()))
    for (const a of list ?? []) if (!a.internal && a.family === 'IPv4') return a.address;
  return '127.0.0.1';
}

/** `host`, `host:port`, `[v6]` or `[v6]:port` as the address to dial (the bound port by default). */
function advertisedAddress(advertise: string, boundPort: number): string {
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(advertise);
  if (!m)
    throw new PeerError(
      `SEQTRAIN_DATA_PLANE_ADVERTISE=${JSON.stringify(advertise)}: expected host or host:port`,
    );
  return `${m[1]}:${m[2] ?? boundPort}`;
}

export class DataPlaneServer {
  private readonly waiting = new Map<string, Waiting>();
  private pendingHandshakes = 0;
  private readonly sockets = new Set<net.Socket>();

  private constructor(
    private readonly server: net.Server,
    /** host:port that peers dial */
    readonly address: string,
    /** host:port actually bound */
    readonly bound: string,
    private readonly log: ServerLog,
  ) {}

  static async listen(opts: {
    host: string;
    port: number;
    /** host[:port] peers dial instead (a pod IP, a proxy); without a port, the bound port */
    advertise?: string;
    log?: ServerLog;
  }): Promise<DataPlaneServer> {
    const log = opts.log ?? (() => undefined);
    const server = net.createServer();
    const bindHost = opts.host.replace(/^\[|\]$/g, '');
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void =>
        reject(
          new PeerError(
            `data plane: cannot listen on ${formatAddress(bindHost, opts.port)} (SEQTRAIN_DATA_PLANE_HOST / SEQTRAIN_DATA_PLANE_PORT): ${err.code ?? err.message}`,
          ),
        );
      server.once('error', onError);
      server.listen({ host: bindHost, port: opts.port }, () => {
        server.off('error', onError);
        resolve();
      });
    });
    const port = (server.address() as net.AddressInfo).port;
    const dp = new DataPlaneServer(
      server,
      opts.advertise
        ? advertisedAddress(opts.advertise, port)
        : formatAddress(advertisedHost(opts.host), port),
      formatAddress(bindHost, port),
      log,
    );
    server.on('connection', (socket) => dp.onConnection(socket));
    server.on('error', (err) => log(`data plane listener error: ${err.message}`));
    return dp;
  }

  /**
   * Waits for member `expected.member - 1` of the session to connect and prove the secret.
   * Other connections meanwhile are refused and do not end the wait.
   */
  accept(opts: AcceptOptions): Promise<FramedSocket> {
    const { runId } = opts;
    const older = this.waiting.get(runId);
    if (older) {
      const o = older.expected;
      if (o.generation > opts.generation || (o.generation === opts.generation && o.segment >= opts.segment))
        return Promise.reject(
          new PeerError(
            `data plane: this trainer already waits for generation ${o.generation}, segment ${o.segment} of run ${runId}`,
          ),
        );
      older.supersede(
        new PeerError(
          `data plane: superseded by generation ${opts.generation}, segment ${opts.segment} of run ${runId}`,
        ),
      );
    }
    return new Promise<FramedSocket>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          finish(
            new PeerError(
              `data plane: member ${opts.member - 1} of run ${runId} (generation ${opts.generation}, segment ${opts.segment}) did not connect to ${this.address} within ${(opts.timeoutMs / 1000).toFixed(1)} s`,
            ),
          ),
        opts.timeoutMs,
      );
      const onAbort = (): void =>
        finish(
          opts.signal?.reason instanceof Error
            ? opts.signal.reason
            : new PeerError('data plane: wait cancelled'),
        );
      const finish = (err: Error | undefined, socket?: FramedSocket): void => {
        clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
        if (this.waiting.get(runId) === entry) this.waiting.delete(runId);
        if (err) reject(err);
        else resolve(socket!);
      };
      const entry: Waiting = {
        expected: {
          runId,
          generation: opts.generation,
          segment: opts.segment,
          member: opts.member,
          secret: opts.secret,
        },
        settings: opts,
        connected: false,
        resolve: (s) => finish(undefined, s),
        supersede: (err) => finish(err),
      };
      this.waiting.set(runId, entry);
      if (opts.signal?.aborted) onAbort();
      else opts.signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  private onConnection(socket: net.Socket): void {
    const peer = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    if (this.pendingHandshakes >= MAX_PENDING_HANDSHAKES) {
      socket.destroy();
      return;
    }
    this.pendingHandshakes++;
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    const fs = new FramedSocket(socket, peer, HANDSHAKE_LIMITS(['hello']), HANDSHAKE_TIMEOUT_MS);
    const challenge = nonce();
    void (async () => {
      try {
        fs.send('challenge', { nonce: challenge });
        const frame = await fs.receive();
        const hello = parseHello(frame.header);
        const refuse = (code: RefuseCode, reason: string): void => {
          this.log(`data plane: refused ${peer}: ${reason}`);
          fs.send('refuse', { code, reason });
          fs.close();
        };
        if (!hello) return refuse('bad-hello', 'malformed hello');
        const entry = this.waiting.get(hello.runId);
        const verdict = judgeHello(hello, entry?.expected, challenge);
        if (!verdict.ok) return refuse(verdict.code, verdict.reason);
        if (!entry || entry.connected)
          return refuse('duplicate', `member ${hello.from} of run ${hello.runId} is already connected`);
        entry.connected = true;
        fs.send('welcome', {
          proof: welcomeProof(entry.expected.secret, hello, hello.from, hello.to, hello.nonce),
        });
        fs.reader.setLimits({
          maxHeaderBytes: 65_536,
          maxBodyBytes: entry.settings.maxBodyBytes,
          accept: DATA_ACCEPT,
        });
        fs.idleTimeoutMs = entry.settings.idleTimeoutMs;
        fs.startKeepalive(entry.settings.keepaliveMs);
        entry.resolve(fs);
      } catch (err) {
        this.log(`data plane: dropped ${peer} during the handshake: ${(err as Error).message}`);
        fs.fail(err as Error);
      } finally {
        this.pendingHandshakes--;
      }
    })();
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function connect(host: string, port: number, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`connect timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/**
 * Connects to the next member as member `from`, proves the secret and checks the peer's proof.
 * While the peer is unreachable or not ready it retries (every 100-500 ms) until `timeoutMs`;
 * a final refusal (another generation, wrong secret, ...) fails at once with the peer's reason.
 */
export async function dialPeer(opts: DialOptions): Promise<FramedSocket> {
  const { host, port } = parseAddress(opts.address);
  const deadline = Date.now() + opts.timeoutMs;
  let last = 'no attempt';
  let pause = 20;
  for (;;) {
    if (opts.signal?.aborted)
      throw opts.signal.reason instanceof Error
        ? opts.signal.reason
        : new PeerError('data plane: dial cancelled');
    const left = deadline - Date.now();
    if (left <= 0)
      throw new PeerUnreachableError(
        `data plane: member ${opts.to} of run ${opts.runId} at ${opts.address} could not be reached within ${(opts.timeoutMs / 1000).toFixed(1)} s (last: ${last})`,
      );
    opts.onWait?.();
    let socket: net.Socket;
    try {
      socket = await connect(host, port, Math.min(left, 5_000));
    } catch (err) {
      last = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      await sleep(Math.min(pause, Math.max(1, deadline - Date.now())));
      pause = Math.min(500, pause * 2);
      continue;
    }
    const fs = new FramedSocket(
      socket,
      opts.address,
      HANDSHAKE_LIMITS(['challenge', 'welcome', 'refuse']),
      HANDSHAKE_TIMEOUT_MS,
    );
    try {
      const challenge = await fs.receive({ ...(opts.signal ? { signal: opts.signal } : {}) });
      if (challenge.type !== 'challenge' || typeof challenge.header.nonce !== 'string')
        throw new PeerError(`data plane: ${opts.address} did not open with a challenge`);
      const mine = nonce();
      fs.send('hello', {
        runId: opts.runId,
        generation: opts.generation,
        segment: opts.segment,
        from: opts.from,
        to: opts.to,
        nonce: mine,
        proof: helloProof(opts.secret, opts, opts.from, opts.to, challenge.header.nonce),
      });
      const answer = await fs.receive({ ...(opts.signal ? { signal: opts.signal } : {}) });
      if (answer.type === 'refuse') {
        const code = String(answer.header.code);
        const reason = typeof answer.header.reason === 'string' ? answer.header.reason : code;
        fs.close();
        if (code !== 'not-ready') throw new PeerError(`data plane: ${opts.address} refused us: ${reason}`);
        last = reason;
        await sleep(Math.min(pause, Math.max(1, deadline - Date.now())));
        pause = Math.min(500, pause * 2);
        continue;
      }
      const proof = answer.header.proof;
      if (
        answer.type !== 'welcome' ||
        typeof proof !== 'string' ||
        !sameProof(proof, welcomeProof(opts.secret, opts, opts.from, opts.to, mine))
      )
        throw new PeerError(`data plane: ${opts.address} could not prove the run secret: not our peer`);
      fs.reader.setLimits({ maxHeaderBytes: 65_536, maxBodyBytes: opts.maxBodyBytes, accept: DATA_ACCEPT });
      fs.idleTimeoutMs = opts.idleTimeoutMs;
      fs.startKeepalive(opts.keepaliveMs);
      return fs;
    } catch (err) {
      fs.fail(err as Error);
      throw err;
    }
  }
}
