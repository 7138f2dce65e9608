/**
 * Fixed, recorded seeds for fast-check runs: every run is reproducible, and a failure names the
 * seed to replay. FC_SEED=<n> in the environment overrides the constant (to explore new cases,
 * or to replay one printed by a failure).
 */
import fc from "fast-check";

export const FC_SEED: number = process.env.FC_SEED !== undefined ? Number(process.env.FC_SEED) : 0x5eed_2024;

/** fc.assert with the recorded seed; the seed is in the thrown message on failure. */
export function fcAssert<T>(prop: fc.IProperty<T>, numRuns: number): void {
  try {
    fc.assert(prop, { seed: FC_SEED, numRuns, verbose: true });
  } catch (e) {
    const err = e as Error;
    err.message = `[FC_SEED=${FC_SEED}] ${err.message}`;
    throw err;
  }
}
