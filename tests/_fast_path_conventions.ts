/**
 * The conventions every fast-path test runs (tests/fast_path_test.ts: the optimised reference against the plain path;
 * tests/threads_test.ts: two threads against the plain path): one list, so both cover the same configurations.
 *
 * @module
 */
import type { ConventionInput, DType } from "../mod.ts";

/** Presets and the options whose code paths differ in the kernels. */
export const FAST_PATH_CONVENTIONS: readonly ConventionInput[] = [
  "pytorch",
  "onnx",
  { base: "keras", axis: 1 },
  { base: "tensorflow", axis: 1 },
  { epsilonPlacement: "outside", epsilon: 1e-3 },
  { momentum: null, momentumKind: "cumulative", trackRunningStats: true },
  { affine: false },
  { trackRunningStats: false },
  { epsilon: 0, zeroVarianceInvStd: "zero" },
];

/** The dtypes every fast-path test runs, each with whether the WebAssembly kernels are on (float32 both ways). */
export const FAST_PATH_DTYPES: readonly (readonly [DType, boolean])[] = [
  ["float64", true],
  ["float32", true],
  ["float32", false],
  ["float16", true],
  ["bfloat16", true],
];

/**
 * The random state of a fast-path case: γ, β, running mean and variance (positive) drawn from `r` in that order,
 * each made a per-channel array by `vec`, and two batches tracked.
 */
export function fastPathState<T>(
  vec: (f: () => number) => T,
  r: () => number,
): { gamma: T; beta: T; runningMean: T; runningVar: T; numBatchesTracked: number } {
  return {
    gamma: vec(() => 1 + r()),
    beta: vec(() => r()),
    runningMean: vec(() => r()),
    runningVar: vec(() => 1 + Math.abs(r())),
    numBatchesTracked: 2,
  };
}
