import { fusedSuite } from '../../test/fused/fused-suite';

// The fallback when seqtrain's own kernels are not built: TensorFlow ops with hoisted products.
fusedSuite('simpleRNN', 'tensorflow');
