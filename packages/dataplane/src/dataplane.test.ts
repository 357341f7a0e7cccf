import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  DataPlaneServer,
  dialPeer,
  encodeFrame,
  FrameReader,
  PREFIX_BYTES,
  type FramedSocket,
  type LinkSettings,
} from './index';

const settings: LinkSettings = { maxBodyBytes: 1 << 20, idleTimeoutMs: 2_000, keepaliveMs: 200 };
const session = { runId: 'run-a', generation: 3, segment: 7 };
const SECRET = 'a'.repeat(32);

const servers: DataPlaneServer[] = [];
const links: FramedSocket[] = [];
afterEach(async () => {
  for (const l of links.splice(0)) l.close();
  for (const s of servers.splice(0)) await s.close();
});

async function server(): Promise<DataPlaneServer> {
  const s = await DataPlaneServer.listen({ host: '127.0.0.1', port: 0 });
  servers.push(s);
  return s;
}

function accept(s: DataPlaneServer, timeoutMs = 5_000): Promise<FramedSocket> {
  return s.accept({ ...session, member: 1, secret: SECRET, timeoutMs, ...settings }).then((l) => {
    links.push(l);
    return l;
  });
}

function dial(s: DataPlaneServer, over: Partial<Parameters<typeof dialPeer>[0]> = {}): Promise<FramedSocket> {
  return dialPeer({
    ...session,
    address: s.address,
    secret: SECRET,
    from: 0,
    to: 1,
    timeoutMs: 5_000,
    ...settings,
    ...over,
  }).then((l) => {
    links.push(l);
    return l;
  });
}

/** A raw TCP client that reads the challenge and then sends whatever it is given. */
async function raw(
  s: DataPlaneServer,
  bytes: Buffer[],
): Promise<{ closed: Promise<void>; received: Buffer[] }> {
  const { port } = s.address.match(/:(?<port>\d+)$/)!.groups as { port: string };
  const socket = net.connect({ host: '127.0.0.1', port: Number(port) });
  const received: Buffer[] = [];
  socket.on('data', (b) => received.push(b));
  socket.on('error', () => undefined);
  await new Promise<void>((r) => socket.once('connect', () => r()));
  for (const b of bytes) socket.write(b);
  const closed = new Promise<void>((r) => socket.once('close', () => r()));
  return { closed, received };
}

describe('frames', () => {
  it('advertises the address given (a pod IP, a proxy), with the bound port unless it names one', async () => {
    const a = await DataPlaneServer.listen({ host: '127.0.0.1', port: 0, advertise: '10.9.9.9' });
    servers.push(a);
    const port = a.bound.split(':').pop();
    expect(a.address).toBe(`10.9.9.9:${port}`);
    const b = await DataPlaneServer.listen({ host: '127.0.0.1', port: 0, advertise: 'proxy.internal:7300' });
    servers.push(b);
    expect(b.address).toBe('proxy.internal:7300');
    const c = await DataPlaneServer.listen({ host: '127.0.0.1', port: 0, advertise: '[fd00::7]' });
    servers.push(c);
    expect(c.address).toBe(`[fd00::7]:${c.bound.split(':').pop()}`);
  });

  it('round-trip headers and float32 arrays bit for bit, however the stream is cut', () => {
    const a = Float32Array.from([1.5, -0, Number.MIN_VALUE, 3.4e38, NaN]);
    const b = Float32Array.from({ length: 1000 }, (_, i) => Math.fround(Math.sin(i)));
    const bytes = Buffer.concat([
      ...encodeFrame('data', { kind: 'partial', step: 4 }, [a, b]),
      ...encodeFrame('keepalive', {}),
      ...encodeFrame('data', { kind: 'end' }),
    ]);
    for (const cut of [1, 7, 16, 17, 333, bytes.length]) {
      const reader = new FrameReader(
        { maxHeaderBytes: 1024, maxBodyBytes: 1 << 16, accept: ['data', 'keepalive'] },
        'test',
      );
      const frames = [];
      for (let i = 0; i < bytes.length; i += cut) frames.push(...reader.push(bytes.subarray(i, i + cut)));
      expect(frames.map((f) => f.type)).toEqual(['data', 'keepalive', 'data']);
      expect(frames[0]!.header).toMatchObject({ kind: 'partial', step: 4, arrays: [5, 1000] });
      expect(Buffer.from(frames[0]!.arrays[0]!.buffer, frames[0]!.arrays[0]!.byteOffset, 20)).toEqual(
        Buffer.from(a.buffer),
      );
      expect(Array.from(frames[0]!.arrays[1]!)).toEqual(Array.from(b));
      expect(frames[2]!.arrays).toEqual([]);
    }
  });

  it('refuses bad magic, unknown or unexpected types, oversized parts and inconsistent lengths', () => {
    const limits = { maxHeaderBytes: 256, maxBodyBytes: 64, accept: ['data'] as const };
    const good = Buffer.concat(encodeFrame('data', { x: 1 }, [new Float32Array(4)]));
    const bad =
      (mutate: (b: Buffer) => Buffer): (() => void) =>
      () =>
        new FrameReader(limits, 'peer-x').push(mutate(Buffer.from(good)));
    expect(bad((b) => (b.write('HTTP', 0), b))).toThrow(/bad magic/);
    expect(bad((b) => (b.writeUInt8(99, 5), b))).toThrow(/unknown frame type 99/);
    expect(bad((b) => (b.writeUInt8(11, 5), b))).toThrow(/keepalive is not allowed/);
    expect(bad((b) => (b.writeUInt16LE(1, 6), b))).toThrow(/reserved/);
    // Oversized frames are refused from their first 16 bytes, before any body is buffered.
    expect(bad((b) => (b.writeUInt32LE(1 << 30, 12), b.subarray(0, PREFIX_BYTES)))).toThrow(
      /body of 1073741824 bytes exceeds the limit of 64/,
    );
    expect(bad((b) => (b.writeUInt32LE(100_000, 8), b.subarray(0, PREFIX_BYTES)))).toThrow(
      /header of 100000 bytes/,
    );
    expect(bad((b) => (b.writeUInt32LE(15, 12), b))).toThrow(/not whole float32/);
    const lying = Buffer.concat(encodeFrame('data', { arrays: [3] }, [new Float32Array(4)]));
    // encodeFrame writes its own `arrays`; forge one that disagrees with the body length.
    const forged = Buffer.from(lying.toString('latin1').replace('"arrays":[4]', '"arrays":[3]'), 'latin1');
    expect(() => new FrameReader(limits, 'peer-x').push(forged)).toThrow(
      /announces 3 floats but the body holds 4/,
    );
  });
});

describe('data plane links', () => {
  it('connect two members that prove the run secret, both ways, with keepalives in between', async () => {
    const s = await server();
    const [accepted, dialed] = await Promise.all([accept(s), dial(s)]);
    dialed.send('data', { kind: 'partial' }, [Float32Array.of(1, 2, 3)]);
    const got = await accepted.receive();
    expect(Array.from(got.arrays[0]!)).toEqual([1, 2, 3]);
    // Quiet for longer than the idle timeout, but keepalives keep both sides alive.
    await new Promise((r) => setTimeout(r, 2_500));
    accepted.send('data', { kind: 'result' }, [Float32Array.of(4)]);
    expect((await dialed.receive()).header.kind).toBe('result');
  });

  it('a dialer that starts before its peer keeps trying until the peer is ready', async () => {
    const s = await server();
    const dialing = dial(s);
    await new Promise((r) => setTimeout(r, 700));
    const accepted = await accept(s);
    const dialed = await dialing;
    dialed.send('data', { n: 1 });
    expect((await accepted.receive()).header.n).toBe(1);
  });

  it('refuses a wrong secret, an older generation and another position, and keeps waiting for the real peer', async () => {
    const s = await server();
    const waiting = accept(s);
    await expect(dial(s, { secret: 'b'.repeat(32) })).rejects.toThrow(/refused us: .*wrong run secret/);
    await expect(dial(s, { generation: 2 })).rejects.toThrow(
      /refused us: .*re-formed, this trainer serves generation 3/,
    );
    await expect(dial(s, { segment: 6 })).rejects.toThrow(/already serves segment 7/);
    await expect(dial(s, { from: 2, to: 3 })).rejects.toThrow(
      /this trainer is member 1 and takes only member 0/,
    );
    await expect(dial(s, { runId: 'run-b', timeoutMs: 600 })).rejects.toThrow(
      /could not be reached within .*hosts no segment of that run/,
    );
    const [accepted, dialed] = await Promise.all([waiting, dial(s)]);
    dialed.send('data', { ok: true });
    expect((await accepted.receive()).header.ok).toBe(true);
  });

  it('drops malformed and oversized handshakes without disturbing the wait', async () => {
    const s = await server();
    const waiting = accept(s);
    const garbage = await raw(s, [Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')]);
    await garbage.closed;
    const huge = Buffer.concat(encodeFrame('hello', { runId: 'run-a' }));
    huge.writeUInt32LE(1 << 28, 12);
    const oversized = await raw(s, [huge.subarray(0, PREFIX_BYTES)]);
    await oversized.closed;
    const forgedType = Buffer.concat(encodeFrame('data', { a: 1 }, [new Float32Array(8)]));
    const early = await raw(s, [forgedType]);
    await early.closed;
    const [accepted, dialed] = await Promise.all([waiting, dial(s)]);
    dialed.send('data', { fine: 1 });
    expect((await accepted.receive()).header.fine).toBe(1);
  });

  it('fails a link on an oversized data frame from an authenticated peer, naming the limit', async () => {
    const s = await server();
    const [accepted, dialed] = await Promise.all([
      s.accept({ ...session, member: 1, secret: SECRET, timeoutMs: 5_000, ...settings, maxBodyBytes: 64 }),
      dial(s),
    ]);
    links.push(accepted);
    dialed.send('data', {}, [new Float32Array(100)]);
    await expect(accepted.receive()).rejects.toThrow(/body of 400 bytes exceeds the limit of 64/);
  });

  it('notices a peer that dies mid-frame at once, and a silent one after the idle timeout', async () => {
    const s = await server();
    const [accepted, dialed] = await Promise.all([accept(s), dial(s)]);
    const frame = Buffer.concat(encodeFrame('data', {}, [new Float32Array(1000)]));
    dialed.socket.write(frame.subarray(0, 1000)); // half a frame, then the process "dies"
    const started = Date.now();
    const pending = accepted.receive();
    dialed.socket.destroy();
    await expect(pending).rejects.toThrow(/closed the connection/);
    expect(Date.now() - started).toBeLessThan(1_500);

    const s2 = await server();
    const [a2, d2] = await Promise.all([accept(s2), dial(s2)]);
    // A frozen peer: its socket stays open but nothing arrives (SIGSTOP stops keepalives too).
    (d2 as unknown as { stopKeepalive(): void }).stopKeepalive();
    await expect(a2.receive({ idleTimeoutMs: 800 })).rejects.toThrow(/no word from .* for 0\.8 s/);
  });

  it('passes an abort reason to the peer and ends a wait when the signal is aborted', async () => {
    const s = await server();
    const [accepted, dialed] = await Promise.all([accept(s), dial(s)]);
    dialed.abort('training loss is NaN at step 12');
    await expect(accepted.receive()).rejects.toThrow(/gave up: training loss is NaN at step 12/);
    const s2 = await server();
    const controller = new AbortController();
    const waiting = s2.accept({
      ...session,
      member: 1,
      secret: SECRET,
      timeoutMs: 60_000,
      ...settings,
      signal: controller.signal,
    });
    controller.abort(new Error('activity cancelled'));
    await expect(waiting).rejects.toThrow(/activity cancelled/);
    await expect(accept(s2, 300)).rejects.toThrow(/did not connect to .* within 0.3 s/);
  });
});
