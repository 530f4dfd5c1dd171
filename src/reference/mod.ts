/**
 * The reference Batch Normalization: the math alone, with no fixture, judge or
 * runner. Training and inference forward, running-statistic updates and
 * backward under any framework's convention, in float64, float32, float16 and
 * bfloat16, every output rounded once.
 *
 * Relative imports only, no permissions. The package root (`mod.ts`) exports
 * all of this too, beside the conformance machinery.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { batchNormTrain, tensor } from "./mod.ts";
 *
 * const x = tensor("float32", [2, 3], [1, 2, 3, 4, 5, 6]);
 * const { batchMean } = batchNormTrain(x, { gamma: [1, 1, 1], beta: [0, 0, 0] }, "pytorch");
 * assert(batchMean.data[0] === 2.5);
 * ```
 *
 * @module
 */

export {
  allocate,
  type DType,
  DTYPES,
  type FormatInfo,
  formatInfo,
  isDType,
  isRepresentable,
  roundToDType,
  type TensorArray,
  ulp,
} from "./dtype.ts";
export { BatchNormError, type BatchNormErrorCode } from "./errors.ts";
export { type OutputTensor, type Tensor, tensor } from "./tensor.ts";
export {
  type BatchNormConvention,
  centerOf,
  type ConventionInput,
  PRESET_WITNESSES,
  type PresetName,
  PRESETS,
  resolveConvention,
  scaleOf,
} from "./convention.ts";
export { batchNormInference, batchNormTrain, type TrainResult } from "./batch_norm.ts";
export { type BackwardOptions, type BackwardResult, batchNormBackward } from "./backward.ts";
export { type SavedStatistics } from "./_saved.ts";
export {
  checkShards,
  combineMoments,
  type GroupOptions,
  type GroupStatistics,
  groupStatistics,
  type Rational,
  type ShardMoments,
  shardMoments,
  toDouble,
} from "./group.ts";
export { type BatchNormState, type Mode, type UpdatedState } from "./state.ts";
export { type ForwardOptions, type TensorDTypes } from "./_prepare.ts";
export { KernelArena } from "./_wasm.ts";
