/**
 * The custom search attributes every seqtrain workflow carries, so that runs can be listed by
 * model, dataset, kind and status (`seqtrain runs list`, Temporal's UI). The embedded Temporal
 * registers them at start; a Temporal cluster needs them created once (`temporal operator
 * search-attribute create --name NAME --type Keyword` for each).
 */
export const SEARCH_ATTRIBUTES = {
  SeqtrainModel: 'Keyword',
  SeqtrainDataset: 'Keyword',
  SeqtrainStatus: 'Keyword',
  SeqtrainKind: 'Keyword',
} as const;
export type SearchAttributeName = keyof typeof SEARCH_ATTRIBUTES;
/** Values a workflow sets (Keyword attributes take a list of strings). */
export type SeqtrainSearchAttributes = Partial<Record<SearchAttributeName, string[]>>;

/**
 * The workflow id of a CI retrain: one per (spec name, dataset digest, code version, spec), so
 * that re-running the same CI job finds the earlier run. `sha256` is the caller's (this package
 * has no Node imports); `specHash` is the sha256 of the canonical spec with the dataset as a bare
 * name (its version is the digest).
 */
export function retrainWorkflowId(
  o: { specName: string; datasetDigest: string; codeVersion: string; specHash: string },
  sha256: (text: string) => string,
): string {
  const key = sha256(`${o.datasetDigest}\n${o.codeVersion}\n${o.specHash}`).slice(0, 16);
  return `retrain-${o.specName}-${key}`;
}
