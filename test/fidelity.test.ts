/**
 * Measurement fidelity through the impairment proxy: delay, delay variation, bandwidth and drops. The suite
 * and the derivation of every expected value: test/tools/fidelity-suite.ts and docs/RELIABILITY.md.
 */
import { describeFidelity } from './tools/fidelity-suite';

// D = 5 and 20 ms here (tolerance 1 and 4 ms); the 0.3 ms floor (D = 1.5 ms) runs in the soak suite.
describeFidelity('fidelity: what ping reports through an impaired link', { delaysMs: [5, 20], delayProbes: 200, all: true });
