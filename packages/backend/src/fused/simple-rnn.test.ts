import { fusedSuite } from './fused-suite';

fusedSuite('simpleRNN');
