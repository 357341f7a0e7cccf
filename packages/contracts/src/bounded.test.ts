import { describe, expect, it } from 'vitest';
import { BoundedMap, mapLimit } from './bounded';

describe('BoundedMap', () => {
  it('keeps the most recently used entries, a get counting as a use', () => {
    const m = new BoundedMap<string, number>(2);
    m.set('a', 1);
    m.set('b', 2);
    expect(m.get('a')).toBe(1);
    m.set('c', 3);
    expect(m.get('b')).toBeUndefined();
    expect(m.get('a')).toBe(1);
    expect(m.get('c')).toBe(3);
    expect(m.size).toBe(2);
    m.delete('a');
    expect(m.size).toBe(1);
    expect(() => new BoundedMap(0)).toThrow(RangeError);
  });
});

describe('mapLimit', () => {
  it('keeps order and never runs more than the limit at once', async () => {
    let inFlight = 0;
    let most = 0;
    const out = await mapLimit(
      Array.from({ length: 20 }, (_, i) => i),
      3,
      async (i) => {
        inFlight++;
        most = Math.max(most, inFlight);
        await new Promise((r) => setTimeout(r, (i * 7) % 5));
        inFlight--;
        return i * 2;
      },
    );
    expect(out).toEqual(Array.from({ length: 20 }, (_, i) => i * 2));
    expect(most).toBe(3);
    expect(await mapLimit([], 3, () => Promise.resolve(1))).toEqual([]);
  });
});
