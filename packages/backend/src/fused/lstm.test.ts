import { fusedSuite } from './fused-suite';

fusedSuite('lstm');
