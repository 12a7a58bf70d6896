/**
 * The delay-fidelity check where the 0.3 ms floor is the tolerance (D = 1.5 ms each way, 2D = 3 ms:
 * 10 % would be 0.3 ms too). On this shared 2-core VM a loopback gRPC ping has a standard deviation of
 * ~1–2.5 ms, so each side needs ~2500 probes for the difference of two means to be known to ±0.05 ms;
 * that takes ~25 s, too long for `npm test`.
 */
import { describeFidelity } from '../helpers/fidelity-suite';

describeFidelity('fidelity (precise): D = 1.5 ms, 2500 probes per side', { delaysMs: [1.5], delayProbes: 2500, all: false });
