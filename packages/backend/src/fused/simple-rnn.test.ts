import { fusedSuite } from '../../test/fused/fused-suite';

fusedSuite('simpleRNN');
