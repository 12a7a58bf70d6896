/**
 * One agent's share of a distributed run's total rate. The total is split in whole milli-units
 * (0.001 req/s): every agent gets ⌊total / N⌋ and the first (total mod N) agents one unit more, so the
 * shares add up to the total exactly (in units) and no two differ by more than one unit. A rate given
 * with more than three decimals is rounded to the unit first.
 */
export const RATE_UNITS_PER_REQ = 1000;

export interface Share {
  /** This agent's rate, req/s (= units / RATE_UNITS_PER_REQ). */
  rate: number;
  /** This agent's rate in milli-units; the agents' units sum to totalUnits. */
  units: number;
  totalUnits: number;
}

export function shareOf(totalRate: number, agents: number, index: number): Share {
  if (!(Number.isInteger(agents) && agents >= 1)) throw new RangeError(`the number of agents must be an integer ≥ 1 (got ${agents})`);
  if (!(Number.isInteger(index) && index >= 0 && index < agents)) throw new RangeError(`the agent index must be an integer in [0, ${agents}) (got ${index})`);
  if (!(Number.isFinite(totalRate) && totalRate > 0)) throw new RangeError(`the total rate must be > 0 (got ${totalRate})`);
  const totalUnits = Math.round(totalRate * RATE_UNITS_PER_REQ);
  if (totalUnits < agents) throw new RangeError(`a total rate of ${totalRate}/s cannot be split across ${agents} agents (each needs at least ${1 / RATE_UNITS_PER_REQ}/s)`);
  const base = Math.floor(totalUnits / agents);
  const units = base + (index < totalUnits - base * agents ? 1 : 0);
  return { rate: units / RATE_UNITS_PER_REQ, units, totalUnits };
}
