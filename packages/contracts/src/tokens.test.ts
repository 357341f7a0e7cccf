import { describe, expect, it } from 'vitest';
import { caseRule, encodeText, unknownTokens, type Vocabulary } from '@seqtrain/contracts';

const vocab = (tokens: string[], extra: Partial<Vocabulary> = {}): Vocabulary => ({
  tokenizer: 'char',
  tokens: ['<pad>', '<unk>', '<bos>', '<eos>', ...tokens],
  pad: 0,
  unk: 1,
  bos: 2,
  eos: 3,
  ...extra,
});

describe('the shared tokenizer', () => {
  it('splits punctuation off words as import does: "cheap!!!" is known tokens, not one unknown', () => {
    const v: Vocabulary = { tokenizer: 'word', tokens: ['<pad>', '<unk>', '!', 'cheap'], pad: 0, unk: 1 };
    expect(encodeText(v, 'cheap!!!')).toEqual([3, 2, 2, 2]);
  });

  it('folds inputs to the case of a one-case vocabulary (CMUdict is upper-case)', () => {
    const upper = vocab(['C', 'E', 'M', 'O', 'P', 'R', 'T', 'U', "'"]);
    expect(caseRule(upper)).toBe('upper');
    expect(encodeText(upper, 'computer')).toEqual(encodeText(upper, 'COMPUTER'));
    expect(encodeText(upper, 'computer')).not.toContain(1);
    // Mixed case is kept as it is: "Mary" and "mary" are different names.
    const mixed = vocab(['M', 'a', 'r', 'y']);
    expect(caseRule(mixed)).toBeUndefined();
    expect(encodeText(mixed, 'mary')[0]).toBe(1);
    expect(caseRule(vocab(['a', 'b'], { lowercase: true }))).toBe('lower');
  });

  it('counts the tokens a vocabulary does not know', () => {
    const v = vocab(['A', 'B']);
    expect(unknownTokens(v, 'abz9')).toEqual({ tokens: 4, unknown: 2, examples: ['Z', '9'] });
  });
});
