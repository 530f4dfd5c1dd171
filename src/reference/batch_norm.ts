/**
 * The reference BatchNorm's forward calls: training (batch statistics, updated
 * running statistics) and inference (running statistics), under any
 * convention. Backward is in `backward.ts`, the statistics in `_statistics.ts`,
 * input checking and layout in `_prepare.ts`, the state types in `state.ts`.
 *
 * Numerics: float64 inputs are computed in double-double arithmetic (exact
 * products, compensated sums; src/reference/_exact64.ts), so that every float64
 * output is correctly rounded up to a hair of ~2^-100 of its terms. Other dtypes:
 * every intermediate is a binary64 number; per-channel sums use Neumaier's
 * compensated summation and the variance a corrected two-pass formula (never
 * E[x²] - E[x]²). Each output is rounded once to its own dtype: x's, or in a mixed-precision
 * call (`options.dtypes`) its group's.
 *
 * @module
 */

import type { ConventionInput } from "./convention.ts";
import { allocate, roundToDType, type TensorArray } from "./dtype.ts";
import type { OutputTensor, Tensor } from "./tensor.ts";
import * as dd from "./_dd.ts";
import * as exact64 from "./_exact64.ts";
import * as wasm from "./_wasm.ts";
import { checkOut, type ForwardOptions, prepare, type Prepared, vector } from "./_prepare.ts";
import { batchStats, dtype64, runningStats, type Stats, updateRunningStats, withLow } from "./_statistics.ts";
import type { BatchNormState, UpdatedState } from "./state.ts";
import { save, type SavedStatistics } from "./_saved.ts";

/**
 * What a training forward call returns.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { batchNormTrain, tensor, type TrainResult } from "../../mod.ts";
 * const r: TrainResult = batchNormTrain(tensor("float64", [2, 1], [0, 2]), { gamma: [1], beta: [0] });
 * assert(r.batchMean.data[0] === 1 && r.batchVar.data[0] === 1);
 * ```
 */
export interface TrainResult {
  /** The normalized output, shaped like x. */
  readonly y: OutputTensor;
  /** Per-channel batch mean, shape [C]. */
  readonly batchMean: OutputTensor;
  /** Per-channel biased batch variance, the one used to normalize, shape [C]. */
  readonly batchVar: OutputTensor;
  /** Per-channel inverse standard deviation used to normalize (PyTorch's `save_invstd`), shape [C]. */
  readonly invStd: OutputTensor;
  /** The state after the call. */
  readonly state: UpdatedState;
  /**
   * The batch statistics in full precision, for `batchNormBackward(x, dy, state, mode, convention, { saved })`: it
   * then skips recomputing them from x (the same values, so the same bits). Valid while x's data is unchanged.
   */
  readonly saved: SavedStatistics;
}
/**
 * Training forward: normalizes x with its own per-channel statistics and, when the
 * convention tracks them, updates the running statistics.
 *
 * @param x Input of rank >= 2, the channel axis `convention.axis`; or of rank 1, each value its own channel (axis 0).
 * @param state Parameters and running statistics before the call (it is not modified).
 * @param convention A preset name or options over a preset; default `"pytorch"`.
 * @param options `out`: where to write y (see {@linkcode ForwardOptions}).
 * @returns y, the batch statistics, the inverse std, the new state, and the statistics saved for backward.
 * @throws {BatchNormError} On malformed input, or one value per channel under `singleValueTraining: "error"`.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { batchNormTrain, tensor } from "../../mod.ts";
 * const x = tensor("float32", [2, 1], [1, 3]);
 * const { y, state } = batchNormTrain(x, { gamma: [1], beta: [0] }, "pytorch");
 * assert(y.data[0] < 0 && y.data[1] > 0);
 * assert(state.runningMean![0] === Math.fround(0.2));
 * ```
 */
export function batchNormTrain(
  x: Tensor,
  state: BatchNormState = {},
  convention: ConventionInput = "pytorch",
  options: ForwardOptions = {},
): TrainResult {
  const p = prepare(x, state, convention, options);
  const out = checkOut(options, p);
  // float32: y is written channel by channel as the statistics are computed where the one-thread kernels run
  // (stats.normalized; each channel's runs are then still in cache), else by normalize: the same bits.
  const fuse = p.dtype === "float32" ? (out ?? allocate(p.dtype, p.x.length)) as Float32Array : null;
  const stats = batchStats(p, fuse);
  const y: OutputTensor = stats.normalized
    ? { dtype: p.dtype, shape: [...p.shape], data: fuse! }
    : normalize(p, stats, fuse ?? out);
  const { saved } = p.dtypes;
  return {
    y,
    batchMean: vector(saved, stats.mean.map((m, c) => m + stats.meanLow[c])),
    batchVar: vector(saved, withLow(stats.variance, stats.varianceLow)),
    invStd: vector(saved, withLow(stats.invStd, stats.invStdLow)),
    state: updateRunningStats(p, state, stats),
    saved: save(p, stats, out !== null && (out as unknown) === (p.x as unknown)),
  };
}
/**
 * Inference forward: normalizes x with the running statistics in `state` (or with
 * the batch's own when the convention does not track running statistics).
 *
 * @param x Input of rank >= 2, the channel axis `convention.axis`; or of rank 1, each value its own channel (axis 0).
 * @param state Parameters and running statistics.
 * @param convention A preset name or options over a preset; default `"pytorch"`.
 * @param options `out`: where to write y (see {@linkcode ForwardOptions}).
 * @returns The normalized output y.
 * @throws {BatchNormError} On malformed input or missing running statistics.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { batchNormInference, tensor } from "../../mod.ts";
 * const x = tensor("float64", [1, 2], [3, 5]);
 * const { y } = batchNormInference(x, { runningMean: [1, 1], runningVar: [4, 16] }, { epsilon: 0, affine: false });
 * assert(y.data[0] === 1 && y.data[1] === 1);
 * ```
 */
export function batchNormInference(
  x: Tensor,
  state: BatchNormState,
  convention: ConventionInput = "pytorch",
  options: ForwardOptions = {},
): { y: OutputTensor } {
  const p = prepare(x, state, convention, options);
  const out = checkOut(options, p);
  if (p.c.trackRunningStats) return { y: normalize(p, runningStats(p, state), out) };
  // Batch statistics: fused with normalize as in batchNormTrain.
  const fuse = p.dtype === "float32" ? (out ?? allocate(p.dtype, p.x.length)) as Float32Array : null;
  const stats = batchStats(p, fuse);
  return {
    y: stats.normalized ? { dtype: p.dtype, shape: [...p.shape], data: fuse! } : normalize(p, stats, fuse ?? out),
  };
}
function normalize(p: Prepared, stats: Stats, into: TensorArray | null): OutputTensor {
  const { outer, channels, inner } = p.layout;
  const x = p.x, dtype = p.dtype;
  if (dtype === "float32") {
    // WebAssembly SIMD where available (_wasm.ts), the same operations in the same order as the loop below.
    const scale = stats.invStd.map((s, c) => (p.gamma ? p.gamma[c] : 1) * s);
    const shift = Float64Array.from({ length: channels }, (_, c) => p.beta ? p.beta[c] : 0);
    const y = (into ?? allocate(dtype, x.length)) as Float32Array;
    const staged = inner >= wasm.MIN_RUN ? wasm.stageF32(x, null, y, inner) : null;
    if (staged && wasm.normalizeF32(staged, outer, channels, inner, stats.mean, stats.meanLow, scale, shift, y)) {
      return { dtype, shape: [...p.shape], data: y };
    }
    into = y; // the kernels did not run (e.g. x in an arena, y not): the loop below writes this same y
  }
  const y = into ?? allocate(dtype, x.length);
  if (dtype64(p)) {
    for (let c = 0; c < channels; c++) {
      const gamma = p.gamma ? p.gamma[c] : 1, beta = p.beta ? p.beta[c] : 0;
      const a = dd.mul([gamma, 0], [stats.invStd[c], stats.invStdLow?.[c] ?? 0]);
      const b = dd.sub([beta, 0], dd.mul(a, [stats.mean[c], stats.meanLow[c]]));
      exact64.affine(x, y, { outer, channels, inner, c }, a, b, [stats.mean[c], stats.meanLow[c]], beta);
    }
    return { dtype, shape: [...p.shape], data: y };
  }
  // As in batchNormBackward: typed-array stores round once; bfloat16 goes through binary64.
  const out = dtype === "bfloat16" ? new Float64Array(x.length) : y;
  for (let c = 0; c < channels; c++) {
    const m = stats.mean[c], low = stats.meanLow[c];
    const scale = (p.gamma ? p.gamma[c] : 1) * stats.invStd[c];
    const shift = p.beta ? p.beta[c] : 0;
    for (let o = 0; o < outer; o++) {
      const end = (o * channels + c + 1) * inner;
      for (let k = end - inner; k < end; k++) out[k] = ((x[k] - m) - low) * scale + shift;
    }
  }
  if (out !== y) { for (let k = 0; k < out.length; k++) y[k] = roundToDType(out[k], dtype); }
  return { dtype, shape: [...p.shape], data: y };
}
