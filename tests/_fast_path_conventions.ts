/**
 * The conventions every fast-path test runs (tests/fast_path_test.ts: the optimised reference against the plain path;
 * tests/threads_test.ts: two threads against the plain path): one list, so both cover the same configurations.
 *
 * @module
 */
import type { ConventionInput } from "../mod.ts";

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
