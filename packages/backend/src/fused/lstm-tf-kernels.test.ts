import { fusedSuite } from '../../test/fused/fused-suite';

// The fallback when seqtrain's own kernels are not built: TensorFlow's BlockLSTMV2 / BlockLSTMGradV2.
fusedSuite('lstm', 'tensorflow');
