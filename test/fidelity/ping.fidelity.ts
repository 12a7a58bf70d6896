/**
 * Measurement fidelity through the impairment proxy: delay, delay variation, bandwidth and drops, with their
 * real clocks and tight tolerances, so `npm run test:fidelity` runs it, not `npm test`. The suite and the
 * derivation of every expected value: test/helpers/fidelity-suite.ts and docs/RELIABILITY.md.
 */
import { describeFidelity } from '../helpers/fidelity-suite';

// D = 5 and 20 ms here (tolerance 1 and 4 ms); the 0.3 ms floor (D = 1.5 ms) runs in the soak suite.
describeFidelity('fidelity: what ping reports through an impaired link', { delaysMs: [5, 20], delayProbes: 200, all: true });
