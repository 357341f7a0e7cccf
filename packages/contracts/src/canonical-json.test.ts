import { describe, expect, it } from 'vitest';
import { canonicalJson } from './canonical-json';

describe('canonicalJson', () => {
  it('writes the RFC 8785 (JCS) example byte for byte', () => {
    // RFC 8785 section 3.2.2 input, parsed as JSON (the escapes are JSON's, not TypeScript's).
    const input = JSON.parse(
      String.raw`{"numbers":[333333333.33333329,1E30,4.50,2e-3,0.000000000000000000000000001],"string":"\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/","literals":[null,true,false]}`,
    ) as unknown;
    expect(canonicalJson(input)).toBe(
      String.raw`{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}`,
    );
  });

  it('sorts keys at every level by UTF-16 code units, whatever the input order', () => {
    const a = { b: [{ y: 1, x: 2 }], a: { d: null, c: 'é' }, '\u20ac': 1, '\ud83d\ude00': 2, z: true };
    const b = { z: true, '\ud83d\ude00': 2, '\u20ac': 1, a: { c: 'é', d: null }, b: [{ x: 2, y: 1 }] };
    expect(canonicalJson(a)).toBe(canonicalJson(b));
    expect(canonicalJson(a)).toBe('{"a":{"c":"é","d":null},"b":[{"x":2,"y":1}],"z":true,"€":1,"😀":2}');
  });
});
