/**
 * Text to token ids and back: the one implementation that dataset import (training) and
 * inference (`seqtrain predict`, the registry client) share, so that a text always gets the same
 * ids in both. Ids: 0 '<pad>', 1 '<unk>', then '<bos>'/'<eos>' when the dataset needs them.
 */
import type { Vocabulary } from './dataset';

export type TokenizerName = 'char' | 'word';

export const PAD = '<pad>';
export const UNK = '<unk>';
export const BOS = '<bos>';
export const EOS = '<eos>';
const SPECIALS = new Set([PAD, UNK, BOS, EOS]);

// Words are runs of letters, digits, '_' and apostrophes; any other non-space character is a token.
const WORD_RE = /[\p{L}\p{N}_']+|[^\s\p{L}\p{N}_']/gu;

export function tokenize(text: string, tokenizer: TokenizerName, lowercase = false): string[] {
  const t = lowercase ? text.toLowerCase() : text;
  return tokenizer === 'char' ? Array.from(t) : (t.match(WORD_RE) ?? []);
}

const cases = new WeakMap<Vocabulary, 'upper' | 'lower' | undefined>();

/**
 * The case rule of a vocabulary: 'lower' when its texts were lower-cased at import; otherwise,
 * when every token with a cased letter is in one case (CMUdict's words are upper-case), that
 * case: inputs are folded to it, so "computer" reads as the "COMPUTER" the model learned.
 */
export function caseRule(vocab: Vocabulary): 'upper' | 'lower' | undefined {
  if (vocab.lowercase) return 'lower';
  if (cases.has(vocab)) return cases.get(vocab);
  let upper = 0;
  let lower = 0;
  for (const t of vocab.tokens) {
    if (SPECIALS.has(t) || t.toUpperCase() === t.toLowerCase()) continue;
    if (t === t.toUpperCase()) upper++;
    else if (t === t.toLowerCase()) lower++;
    else return remember(vocab, undefined);
    if (upper > 0 && lower > 0) return remember(vocab, undefined);
  }
  return remember(vocab, upper > 0 ? 'upper' : lower > 0 ? 'lower' : undefined);
}

function remember(vocab: Vocabulary, rule: 'upper' | 'lower' | undefined): typeof rule {
  cases.set(vocab, rule);
  return rule;
}

/** The tokens of a text as the vocabulary reads it (its tokenizer and case rule). */
export function vocabularyTokens(vocab: Vocabulary, text: string): string[] {
  const rule = caseRule(vocab);
  const folded = rule === 'upper' ? text.toUpperCase() : rule === 'lower' ? text.toLowerCase() : text;
  return tokenize(folded, vocab.tokenizer);
}

export function tokenIndex(vocab: Vocabulary): Map<string, number> {
  return new Map(vocab.tokens.map((t, i) => [t, i]));
}

/** Token ids of a text; tokens outside the vocabulary become '<unk>'. */
export function encodeText(vocab: Vocabulary, text: string, index = tokenIndex(vocab)): number[] {
  return vocabularyTokens(vocab, text).map((t) => index.get(t) ?? vocab.unk ?? 0);
}

/** How many of a text's tokens the vocabulary does not know (they all read as '<unk>'). */
export function unknownTokens(
  vocab: Vocabulary,
  text: string,
  index = tokenIndex(vocab),
): { tokens: number; unknown: number; examples: string[] } {
  const tokens = vocabularyTokens(vocab, text);
  const missing = tokens.filter((t) => !index.has(t));
  return { tokens: tokens.length, unknown: missing.length, examples: [...new Set(missing)].slice(0, 5) };
}

/** Text of token ids: stops at '<eos>', skips pad and '<bos>'; words are joined by spaces. */
export function decodeTokens(vocab: Vocabulary, ids: ArrayLike<number>): string {
  const out: string[] = [];
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i] as number;
    if (id === vocab.eos) break;
    if (id === vocab.pad || id === vocab.bos) continue;
    out.push(vocab.tokens[id] ?? UNK);
  }
  return out.join(vocab.tokenizer === 'char' ? '' : ' ');
}
