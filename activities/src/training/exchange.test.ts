import { afterEach, describe, expect, it } from 'vitest';
import { DataPlaneServer, dialPeer, type FramedSocket } from '@seqtrain/dataplane';
import { ChainExchange, type Payload } from './exchange';

const settings = { maxBodyBytes: 1 << 20, idleTimeoutMs: 5_000, keepaliveMs: 500 };
const key = { runId: 'exchange-test', generation: 1, segment: 0 };
const secret = 'c'.repeat(64);
const servers: DataPlaneServer[] = [];

afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

/** A chain of `n` members on loopback: links[i] = { prev, next }. */
async function chain(n: number): Promise<{ prev?: FramedSocket; next?: FramedSocket }[]> {
  const dps = await Promise.all(
    Array.from({ length: n }, () => DataPlaneServer.listen({ host: '127.0.0.1', port: 0 })),
  );
  servers.push(...dps);
  const accepted = dps.map((dp, i) =>
    i === 0
      ? Promise.resolve(undefined)
      : dp.accept({ ...key, member: i, secret, timeoutMs: 5_000, ...settings }),
  );
  const dialed = dps.map((_, i) =>
    i === n - 1
      ? Promise.resolve(undefined)
      : dialPeer({
          ...key,
          address: dps[i + 1]!.address,
          secret,
          from: i,
          to: i + 1,
          timeoutMs: 5_000,
          ...settings,
        }),
  );
  const [prevs, nexts] = await Promise.all([Promise.all(accepted), Promise.all(dialed)]);
  return dps.map((_, i) => ({
    ...(prevs[i] ? { prev: prevs[i] } : {}),
    ...(nexts[i] ? { next: nexts[i] } : {}),
  }));
}

function exchange(
  links: { prev?: FramedSocket; next?: FramedSocket }[],
  i: number,
  hash = 'same',
): ChainExchange {
  return new ChainExchange({
    member: i,
    size: links.length,
    ...links[i],
    idleTimeoutMs: () => 5_000,
    weightsSha256: () => hash,
  });
}

describe('the chain reduction', () => {
  it('sums in member order, as one process would, and gives every member the same bytes', async () => {
    // Values where float32 association matters: ((0 + a) + b) + c differs from a + (b + c).
    const parts = [
      Float32Array.of(1e8, 1, 3),
      Float32Array.of(1, -1e8, 0.1),
      Float32Array.of(-1e8, 1e8, 1e-9),
    ];
    const inOrder = new Float32Array(3);
    for (const p of parts) for (let i = 0; i < 3; i++) inOrder[i] = inOrder[i]! + p[i]!;
    const otherOrder = new Float32Array(3);
    for (const p of [...parts].reverse()) for (let i = 0; i < 3; i++) otherOrder[i] = otherOrder[i]! + p[i]!;
    expect(Buffer.from(otherOrder.buffer).equals(Buffer.from(inOrder.buffer))).toBe(false);

    const links = await chain(3);
    const results = await Promise.all(
      links.map((_, i) =>
        exchange(links, i).round(
          0,
          (prev: Payload | undefined) => {
            const acc = prev ? prev.arrays[0]! : new Float32Array(3);
            for (let k = 0; k < 3; k++) acc[k] = acc[k]! + parts[i]![k]!;
            return { header: {}, arrays: [acc] };
          },
          (total) => total,
        ),
      ),
    );
    for (const r of results) {
      if (!('result' in r)) throw new Error('expected a result');
      expect(
        Buffer.from(r.result.arrays[0]!.buffer, r.result.arrays[0]!.byteOffset, 12).equals(
          Buffer.from(inOrder.buffer),
        ),
      ).toBe(true);
    }
  });

  it('ends with the leader: every member checks its weights hash and acknowledges', async () => {
    const links = await chain(3);
    const [lead, mid, last] = links.map((_, i) => exchange(links, i));
    const noop = { combine: () => ({ header: {}, arrays: [] }), finish: (x: Payload) => x };
    const [ended, a, b] = await Promise.all([
      lead!.end({ reason: 'budget', step: 7, weightsSha256: 'same' }),
      mid!.round(0, noop.combine, noop.finish),
      last!.round(0, noop.combine, noop.finish),
    ]);
    expect(ended).toBeUndefined();
    expect(a).toEqual({ end: { reason: 'budget', step: 7, weightsSha256: 'same' } });
    expect(b).toEqual(a);
  });

  it('a member whose weights differ from the leader fails with a DeterminismError, and its peers learn why', async () => {
    const links = await chain(2);
    const lead = exchange(links, 0, 'aaaa');
    const other = exchange(links, 1, 'bbbb');
    const otherRound = other
      .round(
        0,
        () => ({ header: {}, arrays: [] }),
        (x) => x,
      )
      .catch((err: Error) => {
        other.abort(err.message);
        throw err;
      });
    const [ended, got] = await Promise.allSettled([
      lead.end({ reason: 'budget', step: 3, weightsSha256: 'aaaa' }),
      otherRound,
    ]);
    expect(got.status === 'rejected' && (got.reason as Error).name).toBe('DeterminismError');
    expect(String((got as PromiseRejectedResult).reason)).toMatch(
      /member 1 holds weights bbbb at step 3 but the leader holds aaaa/,
    );
    expect(String((ended as PromiseRejectedResult).reason)).toMatch(
      /PeerError: .*gave up: member 1 holds weights bbbb/,
    );
  });
});
