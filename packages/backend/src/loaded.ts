import type * as Tfjs from '@tensorflow/tfjs';
import type { BackendName } from '@seqtrain/contracts';

/** A backend as the loaders report it; initBackend turns it into the public BackendInfo. */
export interface Loaded {
  tf: typeof Tfjs;
  name: Exclude<BackendName, 'auto'>;
  nativeTfVersion: string | null;
  tfjsNodeVersion: string | null;
  device: string;
  threads: { intraOp: number; interOp: number };
  numericsEnv: Record<string, string>;
}

/** Why a backend cannot run in this process; each reason names what is missing. */
export interface Unavailable {
  reasons: string[];
}

export function isLoaded(r: Loaded | Unavailable): r is Loaded {
  return 'tf' in r;
}
