/**
 * Char and word tokenisers and deterministic vocabularies. Ids: 0 '<pad>', 1 '<unk>', then
 * '<bos>'/'<eos>' when the dataset needs them, then the tokens sorted by code point, so the same
 * corpus always gives the same ids.
 */
import { BadInputError, BOS, EOS, PAD, UNK, type TokenizerName, type Vocabulary } from '@seqtrain/contracts';

// One tokenizer for import and inference alike: it lives in @seqtrain/contracts.
export {
  BOS,
  EOS,
  PAD,
  UNK,
  decodeTokens,
  encodeText,
  tokenIndex,
  tokenize,
  type TokenizerName,
} from '@seqtrain/contracts';

export interface VocabularyOptions {
  tokenizer: TokenizerName;
  lowercase?: boolean;
  /** add '<bos>' and '<eos>' ids */
  boundaries?: boolean;
  /** keep only the most frequent tokens (ties broken by token order) */
  maxVocab?: number;
  /** drop tokens seen fewer times */
  minCount?: number;
}

/** Builds a vocabulary from token lists (training examples only, so validation stays unseen). */
export function buildVocabulary(corpus: Iterable<readonly string[]>, options: VocabularyOptions): Vocabulary {
  const counts = new Map<string, number>();
  for (const tokens of corpus) for (const t of tokens) counts.set(t, (counts.get(t) ?? 0) + 1);
  const specials = options.boundaries ? [PAD, UNK, BOS, EOS] : [PAD, UNK];
  for (const s of specials) counts.delete(s);
  let kept = [...counts.entries()].filter(([, c]) => c >= (options.minCount ?? 1));
  if (options.maxVocab !== undefined) {
    const room = options.maxVocab - specials.length;
    if (room < 1)
      throw new BadInputError(
        `--max-vocab ${options.maxVocab} leaves no room for tokens next to ${specials.join(', ')}`,
      );
    kept = kept.sort((a, b) => b[1] - a[1] || compareCodePoints(a[0], b[0])).slice(0, room);
  }
  const tokens = kept.map(([t]) => t).sort(compareCodePoints);
  return {
    tokenizer: options.tokenizer,
    tokens: [...specials, ...tokens],
    pad: 0,
    unk: 1,
    ...(options.boundaries ? { bos: 2, eos: 3 } : {}),
    ...(options.lowercase ? { lowercase: true } : {}),
  };
}

function compareCodePoints(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
