/**
 * Where registry objects live in the blob store. Every key is built from validated names and
 * integers only, so a request can never address anything outside `registry/<model>/`.
 */
import { assertAliasName, assertModelName, BadInputError, WEIGHT_FILE_PATTERN } from '@seqtrain/contracts';

export const REGISTRY_ROOT = 'registry';
export const CARD_FILE = 'card.json';
export const MODEL_JSON = 'model.json';

export function modelPrefix(name: string): string {
  return `${REGISTRY_ROOT}/${assertModelName(name)}/`;
}

export function versionPrefix(name: string, version: number): string {
  if (!Number.isSafeInteger(version) || version < 1)
    throw new BadInputError(`version ${version} is not a positive integer`);
  return `${modelPrefix(name)}versions/${version}/`;
}

export function versionFileKey(name: string, version: number, file: string): string {
  return `${versionPrefix(name, version)}${assertFileName(file)}`;
}

export function aliasEventsPrefix(name: string, alias: string): string {
  return `${modelPrefix(name)}aliases/${assertAliasName(alias)}/events/`;
}

/** Zero-padded so that lexicographic listing order is sequence order. */
export function aliasEventKey(name: string, alias: string, seq: number): string {
  return `${aliasEventsPrefix(name, alias)}${String(seq).padStart(12, '0')}.json`;
}

export function assertFileName(file: string): string {
  if (!WEIGHT_FILE_PATTERN.test(file)) {
    throw new BadInputError(
      `file name ${JSON.stringify(file)} is invalid: expected ^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`,
    );
  }
  return file;
}

/** Parses `registry/<model>/versions/<n>/card.json`. */
export function parseCardKey(key: string): { name: string; version: number } | undefined {
  const m = /^registry\/([a-z0-9][a-z0-9._-]{0,62})\/versions\/([1-9][0-9]*)\/card\.json$/.exec(key);
  return m ? { name: m[1] ?? '', version: Number(m[2]) } : undefined;
}
