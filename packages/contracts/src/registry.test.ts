import { describe, expect, it } from 'vitest';
import {
  allocateVersion,
  applyAliasEvent,
  BadInputError,
  emptyRegistryState,
  parseModelRef,
  planAliasMove,
} from './index';

describe('model references', () => {
  it('parses versions, aliases and latest', () => {
    expect(parseModelRef('weather')).toEqual({ name: 'weather', target: { kind: 'latest' } });
    expect(parseModelRef('weather@12')).toEqual({
      name: 'weather',
      target: { kind: 'version', version: 12 },
    });
    expect(parseModelRef('weather@production')).toEqual({
      name: 'weather',
      target: { kind: 'alias', alias: 'production' },
    });
  });

  it.each([
    '',
    '@1',
    'Weather@1',
    '../x@1',
    'a/b',
    'w@0',
    'w@01',
    'w@1.5',
    'w@-1',
    'w@9lives',
    'w@',
    'w@a/b',
  ])('rejects %j', (text) => {
    expect(() => parseModelRef(text)).toThrow(BadInputError);
  });
});

describe('registry state transitions', () => {
  it('allocates 1, 2, 3 and returns the same version for a repeated run key', () => {
    const s = emptyRegistryState('m');
    expect(['a', 'b', 'a', 'c'].map((k) => allocateVersion(s, k))).toEqual([
      { name: 'm', version: 1, created: true },
      { name: 'm', version: 2, created: true },
      { name: 'm', version: 1, created: false },
      { name: 'm', version: 3, created: true },
    ]);
  });

  it('plans promote and rollback with strictly increasing times', () => {
    const s = emptyRegistryState('m');
    allocateVersion(s, 'a');
    allocateVersion(s, 'b');
    const t = Date.parse('2026-01-01T00:00:00.000Z');
    const e1 = planAliasMove(s, { name: 'm', alias: 'prod', request: { version: 1, reason: 'r' } }, t);
    applyAliasEvent(s, e1);
    // Same clock reading: the second event is still strictly later.
    const e2 = planAliasMove(s, { name: 'm', alias: 'prod', request: { version: 2, reason: 'r' } }, t);
    applyAliasEvent(s, e2);
    expect(Date.parse(e2.at)).toBe(t + 1);
    const e3 = planAliasMove(
      s,
      { name: 'm', alias: 'prod', request: { kind: 'rollback', reason: 'r' } },
      t + 10,
    );
    expect([e1, e2, e3].map((e) => [e.seq, e.from, e.to])).toEqual([
      [1, null, 1],
      [2, 1, 2],
      [3, 2, 1],
    ]);
    expect(() =>
      planAliasMove(s, { name: 'm', alias: 'prod', request: { version: 3, reason: 'r' } }, t),
    ).toThrow(/version 3/);
    expect(() =>
      planAliasMove(s, { name: 'm', alias: 'new', request: { kind: 'rollback', reason: 'r' } }, t),
    ).toThrow(/no previous/);
    expect(() =>
      planAliasMove(s, { name: 'm', alias: 'latest', request: { version: 1, reason: 'r' } }, t),
    ).toThrow(BadInputError);
    expect(() =>
      planAliasMove(
        s,
        { name: 'm', alias: 'prod', request: { version: 1, reason: 'r', expectedFrom: 1 } },
        t,
      ),
    ).toThrow(/not the expected 1/);
  });
});
