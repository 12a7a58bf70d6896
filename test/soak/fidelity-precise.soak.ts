/**
 * The delay-fidelity check where the 0.3 ms floor is the tolerance (D = 1.5 ms each way, 2D = 3 ms: 10 %
 * would be 0.3 ms too). A loopback gRPC ping's spread on a shared machine needs thousands of probes per side
 * for the difference of two means to be known well inside that (docs/decisions/0004-measurement-fidelity-pitfalls.md),
 * too long even for `npm run test:fidelity`.
 */
import { describeFidelity } from '../helpers/fidelity-suite';

describeFidelity('fidelity (precise): D = 1.5 ms, 2500 probes per side', { delaysMs: [1.5], delayProbes: 2500, all: false });
