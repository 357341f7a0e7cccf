/** Tests run on native TensorFlow when it is built, else on the slow but always-present cpu backend. */
import { initBackend } from '@seqtrain/backend';

export async function useFastestCpuBackend(): Promise<string> {
  try {
    return (await initBackend({ backend: 'tensorflow' })).name;
  } catch {
    return (await initBackend({ backend: 'cpu' })).name;
  }
}
