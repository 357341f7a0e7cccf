import { fusedSuite } from './fused-suite';

fusedSuite('gru');
