/**
 * The reference BatchNorm: training and inference forward, running-statistic
 * updates, and backward, under any {@linkcode BatchNormConvention}.
 *
 * Numerics: float64 inputs are computed in double-double arithmetic (exact
 * products, compensated sums; src/reference/_exact64.ts), so that every float64
 * output is correctly rounded up to a hair of ~2^-100 of its terms. Other dtypes:
 * every intermediate is a binary64 number; per-channel sums use Neumaier's
 * compensated summation and the variance a corrected two-pass formula (never
 * E[x²] - E[x]²). Each output is rounded once to the dtype of the input.
 *
 * @module
 */

import { type BatchNormConvention, type ConventionInput, resolveConvention } from "./convention.ts";
import { allocate, type DType, roundToDType, type TensorArray } from "./dtype.ts";
import { BatchNormError } from "./errors.ts";
import { checkTensor, checkValues, type OutputTensor, type Tensor } from "./tensor.ts";
import * as dd from "./_dd.ts";
import * as exact64 from "./_exact64.ts";
import * as wasm from "./_wasm.ts";
import * as lanes from "./_lanes.ts";

/**
 * Per-channel parameters and running statistics. Each vector has one value per
 * channel, in the dtype of the input tensor.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { batchNormInference, type BatchNormState, tensor } from "../../mod.ts";
 * const state: BatchNormState = { gamma: [2], beta: [1], runningMean: [0], runningVar: [1] };
 * const { y } = batchNormInference(tensor("float64", [1, 1], [1]), state, { epsilon: 0 });
 * assert(y.data[0] === 3);
 * ```
 */
export interface BatchNormState {
  /** Scale (PyTorch `weight`, ONNX `scale`). Ignored, and may be absent, when the convention is not affine. */
  readonly gamma?: ArrayLike<number> | null;
  /** Shift (PyTorch `bias`, ONNX `B`). Ignored, and may be absent, when the convention is not affine. */
  readonly beta?: ArrayLike<number> | null;
  /** Running (moving) mean; training starts from zeros when absent. */
  readonly runningMean?: ArrayLike<number> | null;
  /** Running (moving) variance; training starts from ones when absent. Never negative. */
  readonly runningVar?: ArrayLike<number> | null;
  /** Training calls counted so far (PyTorch `num_batches_tracked`); 0 when absent. */
  readonly numBatchesTracked?: number;
}

/**
 * The state after a training call: the same parameters, updated running statistics.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { batchNormTrain, tensor, type UpdatedState } from "../../mod.ts";
 * const s: UpdatedState = batchNormTrain(tensor("float64", [2, 1], [0, 2]), { gamma: [1], beta: [0] }).state;
 * assert(s.numBatchesTracked === 1 && s.runningMean![0] === 0.1);
 * ```
 */
export interface UpdatedState extends BatchNormState {
  /** The running mean after the update, or `null` when statistics are not tracked. */
  readonly runningMean: ArrayLike<number> | null;
  /** The running variance after the update, or `null` when statistics are not tracked. */
  readonly runningVar: ArrayLike<number> | null;
  /** Incremented by one when statistics are tracked. */
  readonly numBatchesTracked: number;
}

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
}

/**
 * What a backward call returns.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { type BackwardResult, batchNormBackward, tensor } from "../../mod.ts";
 * const x = tensor("float64", [2, 1], [0, 2]);
 * const r: BackwardResult = batchNormBackward(x, x, { gamma: [1], beta: [0] }, "eval", { affine: true, trackRunningStats: false });
 * assert(r.dbeta!.data[0] === 2);
 * ```
 */
export interface BackwardResult {
  /** Gradient with respect to x, shaped like x. */
  readonly dx: OutputTensor;
  /** Gradient with respect to gamma, shape [C]; `null` when the convention is not affine. */
  readonly dgamma: OutputTensor | null;
  /** Gradient with respect to beta, shape [C]; `null` when the convention is not affine. */
  readonly dbeta: OutputTensor | null;
}

/**
 * Which statistics a call normalizes with: the batch's (training) or the running ones (inference).
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { batchNormBackward, type Mode, tensor } from "../../mod.ts";
 * const x = tensor("float64", [2, 1], [0, 2]);
 * const state = { gamma: [1], beta: [0], runningMean: [0], runningVar: [1] };
 * const modes: Mode[] = ["train", "eval"];
 * assert(modes.every((m) => batchNormBackward(x, x, state, m).dx.data.length === 2));
 * ```
 */
export type Mode = "train" | "eval";

/** How a tensor's elements group into channels: index = (o·channels + c)·inner + i. */
interface Layout {
  readonly outer: number;
  readonly channels: number;
  readonly inner: number;
  /** Elements per channel, outer · inner. */
  readonly count: number;
}

interface Prepared {
  readonly c: BatchNormConvention;
  readonly dtype: DType;
  readonly layout: Layout;
  readonly shape: readonly number[];
  readonly x: ArrayLike<number>;
  readonly epsilon: number;
  readonly gamma: ArrayLike<number> | null;
  readonly beta: ArrayLike<number> | null;
}

/**
 * Per-channel binary64 statistics. The mean is the unevaluated sum
 * `mean + meanLow`: `meanLow` is the rounding error of `mean`, recovered by the
 * corrected two-pass, so that `(x - mean) - meanLow` does not carry the mean's
 * rounding error into every deviation (it would not cancel in sums such as dgamma).
 */
interface Stats {
  readonly mean: Float64Array;
  readonly meanLow: Float64Array;
  readonly variance: Float64Array;
  readonly invStd: Float64Array;
  /** float64 only: the low parts of the double-double variance and inverse std. */
  readonly varianceLow?: Float64Array;
  readonly invStdLow?: Float64Array;
}

/**
 * Training forward: normalizes x with its own per-channel statistics and, when the
 * convention tracks them, updates the running statistics.
 *
 * @param x Input of rank >= 2; the channel axis is `convention.axis`.
 * @param state Parameters and running statistics before the call (it is not modified).
 * @param convention A preset name or options over a preset; default `"pytorch"`.
 * @param options `out`: where to write y (see {@linkcode ForwardOptions}).
 * @returns y, the batch statistics, the inverse std, and the new state.
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
  const p = prepare(x, state, convention);
  const out = checkOut(options, p);
  const stats = batchStats(p);
  const y = normalize(p, stats, out);
  const { dtype } = p;
  return {
    y,
    batchMean: vector(dtype, stats.mean.map((m, c) => m + stats.meanLow[c])),
    batchVar: vector(dtype, withLow(stats.variance, stats.varianceLow)),
    invStd: vector(dtype, withLow(stats.invStd, stats.invStdLow)),
    state: updateRunningStats(p, state, stats),
  };
}

/**
 * Inference forward: normalizes x with the running statistics in `state` (or with
 * the batch's own when the convention does not track running statistics).
 *
 * @param x Input of rank >= 2; the channel axis is `convention.axis`.
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
  const p = prepare(x, state, convention);
  const out = checkOut(options, p);
  const stats = p.c.trackRunningStats ? runningStats(p, state) : batchStats(p);
  return { y: normalize(p, stats, out) };
}

/**
 * Options of the forward calls.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { batchNormInference, type ForwardOptions, tensor } from "../../mod.ts";
 * const y = new Float32Array(2);
 * const options: ForwardOptions = { out: y };
 * batchNormInference(tensor("float32", [2, 1], [1, 3]), { runningMean: [1], runningVar: [1] }, { affine: false, epsilon: 0 }, options);
 * assert(y[0] === 0 && y[1] === 2);
 * ```
 */
export interface ForwardOptions {
  /**
   * Where to write y (caller-owned, reused across calls: no allocation, no first touch): a typed array of
   * x's length, of the kind `allocate(x.dtype, n)` returns. In a {@linkcode KernelArena} beside x, the
   * WebAssembly kernels write it in place. It may be x's own data (in place). Backward takes it for dx.
   */
  readonly out?: TensorArray;
}

function checkOut(options: ForwardOptions, p: Prepared): TensorArray | null {
  if (options === null || typeof options !== "object") {
    throw new BatchNormError("invalid_option", "options", options, "must be an object");
  }
  const out = options.out;
  if (out === undefined) return null;
  const kind = allocate(p.dtype, 0).constructor;
  if (!(out instanceof kind) || out.length !== p.x.length) {
    throw new BatchNormError(
      "invalid_option",
      "options.out",
      out === null ? null : `${(out as object).constructor?.name}(${(out as { length?: number }).length})`,
      `must be a ${kind.name} of ${p.x.length} values (x's dtype "${p.dtype}" and size)`,
    );
  }
  return out;
}

/**
 * Backward: the gradients of a loss with respect to x, gamma and beta, given the
 * gradient `dy` with respect to the output of a forward call in `mode`.
 * In `"train"` mode (and in `"eval"` without tracked statistics) the batch
 * statistics depend on x and their derivative is included.
 *
 * @param x The forward call's input.
 * @param dy Gradient with respect to y, shaped like x, same dtype.
 * @param state The state the forward call was given (before any update).
 * @param mode `"train"` or `"eval"`: which forward call to differentiate.
 * @param convention A preset name or options over a preset; default `"pytorch"`.
 * @param options `out`: where to write dx (see {@linkcode ForwardOptions}).
 * @returns dx, and dgamma and dbeta (null when not affine).
 * @throws {BatchNormError} On malformed input.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { batchNormBackward, tensor } from "../../mod.ts";
 * const x = tensor("float64", [2, 1], [1, 3]);
 * const dy = tensor("float64", [2, 1], [1, 1]);
 * const { dx, dbeta } = batchNormBackward(x, dy, { gamma: [1], beta: [0] }, "train");
 * assert(dbeta!.data[0] === 2 && dx.data[0] === 0);
 * ```
 */
export function batchNormBackward(
  x: Tensor,
  dy: Tensor,
  state: BatchNormState,
  mode: Mode,
  convention: ConventionInput = "pytorch",
  options: ForwardOptions = {},
): BackwardResult {
  if (mode !== "train" && mode !== "eval") {
    throw new BatchNormError(
      "invalid_option",
      "mode",
      mode,
      'must be "train" or "eval"',
    );
  }
  const p = prepare(x, state, convention);
  checkTensor(dy, "dy");
  if (dy.dtype !== x.dtype) {
    throw new BatchNormError(
      "shape_mismatch",
      "dy.dtype",
      dy.dtype,
      `must equal x.dtype ("${x.dtype}")`,
    );
  }
  if (
    dy.shape.length !== x.shape.length ||
    dy.shape.some((d, i) => d !== x.shape[i])
  ) {
    throw new BatchNormError(
      "shape_mismatch",
      "dy.shape",
      [...dy.shape],
      `must equal x.shape [${x.shape.join(", ")}]`,
    );
  }
  const into = checkOut(options, p);
  const useBatch = mode === "train" || !p.c.trackRunningStats;
  const stats = useBatch ? batchStats(p) : runningStats(p, state);
  if (dtype64(p)) return backward64(p, dy.data, stats, useBatch, into);
  const { outer, channels, inner, count } = p.layout;
  const xs = p.x, g = dy.data;
  const { dtype } = p;
  const dx = into ?? allocate(dtype, xs.length);
  // A typed-array store rounds once, as roundToDType does. bfloat16 (held in a Float32Array) would round twice,
  // so it goes through binary64 and is rounded once at the end.
  const out = dtype === "bfloat16" ? new Float64Array(xs.length) : dx;
  const dgamma = new Float64Array(channels), dbeta = new Float64Array(channels);
  const acc = new Float64Array(2 * lanes.BLOCK);
  // float32: WebAssembly SIMD where available, the same operations in the same order as the loops below.
  const staged = dtype === "float32" && inner >= wasm.MIN_RUN ? wasm.stageF32(xs, g, dx as Float32Array, inner) : null;
  for (let c = 0; c < channels; c++) {
    const mean = stats.mean[c], low = stats.meanLow[c], invStd = stats.invStd[c];
    const gamma = p.gamma ? p.gamma[c] : 1;
    // Compensated sums of dy and dy·xhat, in the lane order of _lanes.ts.
    acc.fill(0);
    if (staged) wasm.channelBackwardSumsF32(staged, outer, channels, inner, c, mean, low, invStd, acc);
    else {
      for (let o = 0; o < outer; o++) {
        lanes.backwardRun(xs, g, (o * channels + c) * inner, inner, mean, low, invStd, acc, 0, lanes.BLOCK);
      }
    }
    dbeta[c] = lanes.combine(acc, 0);
    dgamma[c] = lanes.combine(acc, lanes.BLOCK);
    if (staged) {
      const d = dx as Float32Array;
      const done = !useBatch
        ? wasm.channelDxF32(staged, outer, channels, inner, c, { eval: [gamma * invStd] }, d)
        : p.c.epsilonPlacement === "inside"
        ? wasm.channelDxF32(staged, outer, channels, inner, c, {
          inside: [mean, low, invStd, dbeta[c] / count, dgamma[c] / count, gamma * invStd],
        }, d)
        : wasm.channelDxF32(staged, outer, channels, inner, c, {
          outside: [
            mean,
            low,
            invStd,
            dbeta[c] / count,
            outsideSecond(stats.variance[c], invStd, dgamma[c], count),
            gamma,
          ],
        }, d);
      if (done) continue;
    }
    // One of three per-element formulas, chosen once per channel.
    if (!useBatch) {
      // dx = dy·gamma·invStd
      const a = gamma * invStd;
      for (let o = 0; o < outer; o++) {
        const end = (o * channels + c + 1) * inner;
        for (let k = end - inner; k < end; k++) out[k] = g[k] * a;
      }
    } else if (p.c.epsilonPlacement === "inside") {
      // y = gamma·xhat + beta with xhat = (x - mean)·invStd and invStd = (var + eps)^-1/2:
      // dx = gamma·invStd·(dy - mean(dy) - xhat·mean(dy·xhat)).
      const a = dbeta[c] / count, b = dgamma[c] / count, second = gamma * invStd;
      for (let o = 0; o < outer; o++) {
        const end = (o * channels + c + 1) * inner;
        for (let k = end - inner; k < end; k++) out[k] = second * (g[k] - a - (((xs[k] - mean) - low) * invStd) * b);
      }
    } else {
      // y = gamma·(x - mean)/s + beta with s = sigma + eps, sigma = sqrt(var), d sigma/d x_i = (x_i - mean)/(n·sigma):
      // dx_i = gamma·[(dy_i - mean(dy))/s - (x_i - mean)·sum_j dy_j (x_j - mean)/(n·sigma·s^2)].
      const a = dbeta[c] / count;
      const second = outsideSecond(stats.variance[c], invStd, dgamma[c], count);
      for (let o = 0; o < outer; o++) {
        const end = (o * channels + c + 1) * inner;
        for (let k = end - inner; k < end; k++) {
          out[k] = gamma * ((g[k] - a) * invStd - ((xs[k] - mean) - low) * second);
        }
      }
    }
  }
  if (out !== dx) { for (let k = 0; k < out.length; k++) dx[k] = roundToDType(out[k], dtype); }
  return {
    dx: { dtype, shape: [...x.shape], data: dx },
    dgamma: p.c.affine ? vector(dtype, dgamma) : null,
    dbeta: p.c.affine ? vector(dtype, dbeta) : null,
  };
}

/**
 * The factor of (x - mean) in the "outside" dx: with sigma = sqrt(var) and s = sigma + eps = 1/invStd,
 * Σ dy·(x - mean) / (n·sigma·s²), Σ dy·(x - mean) = dgamma / invStd; 0 when sigma = 0.
 */
function outsideSecond(variance: number, invStd: number, dgamma: number, count: number): number {
  const sigma = Math.sqrt(variance);
  const s = 1 / invStd;
  const sumDyD = dgamma / invStd; // sum_j dy_j (x_j - mean)
  return sigma === 0 ? 0 : sumDyD / (count * sigma * s * s);
}

function prepare(
  x: Tensor,
  state: BatchNormState,
  convention: ConventionInput,
): Prepared {
  const c = resolveConvention(convention);
  checkTensor(x, "x");
  const rank = x.shape.length;
  if (rank < 2) {
    throw new BatchNormError(
      "invalid_shape",
      "x.shape",
      [...x.shape],
      "must have rank >= 2 (N, C, ...)",
    );
  }
  if (c.axis < -rank || c.axis >= rank) {
    throw new BatchNormError(
      "invalid_axis",
      "convention.axis",
      c.axis,
      `is out of range for a rank-${rank} input (allowed ${-rank}..${rank - 1})`,
    );
  }
  const axis = c.axis < 0 ? c.axis + rank : c.axis;
  if (axis === 0) {
    throw new BatchNormError(
      "invalid_axis",
      "convention.axis",
      c.axis,
      "must not be the batch axis 0",
    );
  }
  if (state === null || typeof state !== "object") {
    throw new BatchNormError(
      "missing_state",
      "state",
      state,
      "must be an object",
    );
  }
  const channels = x.shape[axis];
  const outer = x.shape.slice(0, axis).reduce((a, b) => a * b, 1);
  const inner = x.shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const dtype = x.dtype;
  const gamma = c.affine ? checkVector(state.gamma, "state.gamma", channels, dtype, true) : null;
  const beta = c.affine ? checkVector(state.beta, "state.beta", channels, dtype, true) : null;
  return {
    c,
    dtype,
    layout: { outer, channels, inner, count: outer * inner },
    shape: x.shape,
    x: x.data,
    epsilon: Math.max(c.epsilon, c.epsilonFloor),
    gamma,
    beta,
  };
}

function checkVector(
  v: ArrayLike<number> | null | undefined,
  field: string,
  channels: number,
  dtype: DType,
  required: true,
): ArrayLike<number>;
function checkVector(
  v: ArrayLike<number> | null | undefined,
  field: string,
  channels: number,
  dtype: DType,
  required: false,
): ArrayLike<number> | null;
function checkVector(
  v: ArrayLike<number> | null | undefined,
  field: string,
  channels: number,
  dtype: DType,
  required: boolean,
): ArrayLike<number> | null {
  if (v === undefined || v === null) {
    if (required) {
      throw new BatchNormError(
        "missing_state",
        field,
        v,
        `is required (one value per channel, ${channels} channels)`,
      );
    }
    return null;
  }
  if (typeof v !== "object" || typeof v.length !== "number") {
    throw new BatchNormError(
      "channel_mismatch",
      field,
      v,
      `must be an array of ${channels} numbers`,
    );
  }
  if (v.length !== channels) {
    throw new BatchNormError(
      "channel_mismatch",
      field,
      v.length,
      `must have one value per channel: ${channels} values, the size of the channel axis`,
    );
  }
  checkValues(v, dtype, field);
  return v;
}

function checkVariance(v: ArrayLike<number>, field: string): void {
  for (let i = 0; i < v.length; i++) {
    if (v[i] < 0) {
      throw new BatchNormError(
        "negative_variance",
        `${field}[${i}]`,
        v[i],
        "a variance must not be negative",
      );
    }
  }
}

function invStdOf(variance: number, p: Prepared): number {
  if (variance === 0 && p.epsilon === 0 && p.c.zeroVarianceInvStd === "zero") {
    return 0;
  }
  return p.c.epsilonPlacement === "inside"
    ? 1 / Math.sqrt(variance + p.epsilon)
    : 1 / (Math.sqrt(variance) + p.epsilon);
}

function batchStats(p: Prepared): Stats {
  const { outer, channels, inner, count } = p.layout;
  if (count === 0) {
    if (p.c.emptyBatch === "error") {
      throw new BatchNormError(
        "empty_batch",
        "x.shape",
        [outer, channels, inner],
        "batch statistics need at least one value per channel",
      );
    }
    const fill = p.c.emptyBatch === "zero" ? 0 : NaN;
    const mean = new Float64Array(channels).fill(fill), variance = new Float64Array(channels).fill(fill);
    if (dtype64(p)) {
      const [inv, invLow] = invStd64([fill, 0], p);
      const invStd = new Float64Array(channels).fill(inv), invStdLow = new Float64Array(channels).fill(invLow);
      return { mean, meanLow: new Float64Array(channels), variance, invStd, invStdLow };
    }
    return { mean, meanLow: new Float64Array(channels), variance, invStd: variance.map((v) => invStdOf(v, p)) };
  }
  if (count === 1 && p.c.singleValueTraining === "error") {
    throw new BatchNormError(
      "single_value_per_channel",
      "x.shape",
      count,
      "Expected more than 1 value per channel when training (N·spatial elements per channel)",
    );
  }
  if (dtype64(p)) return batchStats64(p);
  const mean = new Float64Array(channels), meanLow = new Float64Array(channels);
  const variance = new Float64Array(channels),
    invStd = new Float64Array(channels);
  const x = p.x;
  // Compensated sums in the lane order of _lanes.ts, in WebAssembly SIMD where available (the same bits).
  const staged = p.dtype === "float32" && inner >= wasm.MIN_RUN ? wasm.stageF32(x, null, null, inner) : null;
  const acc = new Float64Array(3 * lanes.BLOCK);
  for (let c = 0; c < channels; c++) {
    acc.fill(0);
    if (staged) wasm.channelSumF32(staged, outer, channels, inner, c, acc);
    else for (let o = 0; o < outer; o++) lanes.sumRun(x, (o * channels + c) * inner, inner, acc, 0);
    const m = lanes.combine(acc, 0) / count;
    // Corrected two-pass (Björck): the sum of deviations removes the first-order error of m.
    if (staged) wasm.channelDeviationsF32(staged, outer, channels, inner, c, m, acc);
    else {for (let o = 0; o < outer; o++) {
        lanes.deviationRun(x, (o * channels + c) * inner, inner, m, acc, lanes.BLOCK, 2 * lanes.BLOCK);
      }}
    const squares = lanes.combine(acc, lanes.BLOCK), dev = lanes.combine(acc, 2 * lanes.BLOCK);
    const v = Math.max((squares - dev * dev / count) / count, 0);
    mean[c] = m;
    meanLow[c] = Number.isFinite(dev) ? dev / count : 0;
    variance[c] = Number.isNaN(m) ? NaN : v;
    invStd[c] = invStdOf(variance[c], p);
  }
  return { mean, meanLow, variance, invStd };
}

function runningStats(p: Prepared, state: BatchNormState): Stats {
  const channels = p.layout.channels;
  const rm = checkVector(
    state.runningMean,
    "state.runningMean",
    channels,
    p.dtype,
    true,
  );
  const rv = checkVector(
    state.runningVar,
    "state.runningVar",
    channels,
    p.dtype,
    true,
  );
  checkVariance(rv, "state.runningVar");
  const mean = Float64Array.from(rm), variance = Float64Array.from(rv);
  if (dtype64(p)) {
    const invStd = new Float64Array(channels), invStdLow = new Float64Array(channels);
    for (let c = 0; c < channels; c++) [invStd[c], invStdLow[c]] = invStd64([variance[c], 0], p);
    return { mean, meanLow: new Float64Array(channels), variance, invStd, invStdLow };
  }
  return {
    mean,
    meanLow: new Float64Array(channels),
    variance,
    invStd: variance.map((v) => invStdOf(v, p)),
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

function updateRunningStats(p: Prepared, state: BatchNormState, stats: Stats): UpdatedState {
  const c = p.c;
  const channels = p.layout.channels;
  const base = { gamma: state.gamma ?? null, beta: state.beta ?? null };
  const tracked = checkCount(state.numBatchesTracked);
  if (!c.trackRunningStats) {
    return {
      ...base,
      runningMean: state.runningMean ?? null,
      runningVar: state.runningVar ?? null,
      numBatchesTracked: tracked,
    };
  }
  const rm = checkVector(
    state.runningMean,
    "state.runningMean",
    channels,
    p.dtype,
    false,
  );
  const rv = checkVector(
    state.runningVar,
    "state.runningVar",
    channels,
    p.dtype,
    false,
  );
  if (rv) checkVariance(rv, "state.runningVar");
  const n = p.layout.count;
  const numBatchesTracked = tracked + 1;
  if (n === 0 && c.emptyBatch === "unchanged") {
    // PyTorch's module returns at once for an empty input: statistics untouched, the call still counted.
    const same = (v: ArrayLike<number> | null, init: number) =>
      v ? allocateFrom(p.dtype, v) : allocate(p.dtype, channels).fill(init);
    return { ...base, runningMean: same(rm, 0), runningVar: same(rv, 1), numBatchesTracked };
  }
  if (c.runningVariance === "bessel") {
    if (n === 1) {
      throw new BatchNormError(
        "single_value_per_channel",
        "convention.runningVariance",
        c.runningVariance,
        'the Bessel factor n/(n-1) is undefined for one value per channel; use "bessel-clamped" or refuse such input',
      );
    }
  }
  const runningMean = allocate(p.dtype, channels),
    runningVar = allocate(p.dtype, channels);
  {
    // Every dtype: double-double, the weights exactly (1 - m as a TwoSum, 1/N as a quotient), the products and
    // sum compensated, rounded once into the dtype (binary64 alone rounds twice: 1 ULP off in float32 fixtures).
    const m = c.momentum ?? 0;
    const fresh: dd.DD = c.momentumKind === "new" ? [m, 0] : c.momentumKind === "old" ? dd.twoSum(1, -m) : dd.div(
      [1, 0],
      [numBatchesTracked, 0],
    );
    const keep: dd.DD = c.momentumKind === "old" ? [m, 0] : dd.sub([1, 0], fresh);
    const corr: dd.DD = c.runningVariance === "biased"
      ? [1, 0]
      : dd.div([n, 0], [c.runningVariance === "bessel" ? n - 1 : Math.max(n - 1, 1), 0]);
    for (let k = 0; k < channels; k++) {
      const oldMean = rm ? rm[k] : 0, oldVar = rv ? rv[k] : 1;
      const batchMean: dd.DD = [stats.mean[k], stats.meanLow[k]];
      const batchVar = dd.mul([stats.variance[k], stats.varianceLow?.[k] ?? 0], corr);
      const naiveW = c.momentumKind === "old" ? 1 - m : fresh[0];
      const naive = (old: number, batch: number) =>
        c.momentumKind === "old" ? m * old + naiveW * batch : (1 - naiveW) * old + naiveW * batch;
      runningMean[k] = dd.roundInto(
        dd.add(dd.mul(keep, [oldMean, 0]), dd.mul(fresh, batchMean)),
        naive(oldMean, batchMean[0]),
        p.dtype,
      );
      runningVar[k] = dd.roundInto(
        dd.add(dd.mul(keep, [oldVar, 0]), dd.mul(fresh, batchVar)),
        naive(oldVar, batchVar[0]),
        p.dtype,
      );
    }
  }
  return { ...base, runningMean, runningVar, numBatchesTracked };
}

function checkCount(v: number | undefined): number {
  if (v === undefined) return 0;
  if (!Number.isSafeInteger(v) || v < 0) {
    throw new BatchNormError(
      "invalid_option",
      "state.numBatchesTracked",
      v,
      "must be a non-negative integer",
    );
  }
  return v;
}

function allocateFrom(dtype: DType, values: ArrayLike<number>): TensorArray {
  const out = allocate(dtype, values.length);
  for (let i = 0; i < values.length; i++) out[i] = values[i];
  return out;
}

function vector(dtype: DType, values: Float64Array): OutputTensor {
  return rounded(dtype, [values.length], values);
}

function rounded(
  dtype: DType,
  shape: readonly number[],
  values: Float64Array,
): OutputTensor {
  const data = allocate(dtype, values.length);
  for (let i = 0; i < values.length; i++) {
    data[i] = roundToDType(values[i], dtype);
  }
  return { dtype, shape: [...shape], data };
}

/** Whether the double-double float64 path applies (_exact64.ts). */
function dtype64(p: Prepared): boolean {
  return p.dtype === "float64";
}

/** hi + lo per channel, rounded once to binary64 (hi alone where there is no low part). */
function withLow(hi: Float64Array, lo: Float64Array | undefined): Float64Array {
  return lo ? hi.map((h, c) => h + lo[c]) : hi;
}

/** invStdOf in double-double, from a double-double variance. */
function invStd64(variance: dd.DD, p: Prepared): dd.DD {
  const naive = invStdOf(variance[0] + variance[1], p);
  if (!Number.isFinite(naive) || naive === 0) return [naive, 0];
  const eps: dd.DD = [p.epsilon, 0];
  return p.c.epsilonPlacement === "inside"
    ? dd.div([1, 0], dd.sqrt(dd.add(variance, eps)))
    : dd.div([1, 0], dd.add(dd.sqrt(variance), eps));
}

/**
 * batchStats for float64, in double-double: mean = Σx/n, then the deviations from it give the
 * variance Σd²/n - (Σd/n)² and a correction Σd/n of the mean (two passes, both compensated).
 */
function batchStats64(p: Prepared): Stats {
  const { outer, channels, inner, count } = p.layout;
  const mean = new Float64Array(channels), meanLow = new Float64Array(channels);
  const variance = new Float64Array(channels), varianceLow = new Float64Array(channels);
  const invStd = new Float64Array(channels), invStdLow = new Float64Array(channels);
  const n: dd.DD = [count, 0];
  for (let c = 0; c < channels; c++) {
    const ch = { outer, channels, inner, c };
    const total = exact64.sum(p.x, ch);
    let m = dd.div(total, n), v: dd.DD;
    if (!Number.isFinite(m[0])) {
      v = [NaN, 0];
    } else {
      const [dev, squares] = exact64.deviations(p.x, ch, m[0], m[1]);
      if (!Number.isFinite(squares[0])) {
        v = [squares[0], 0];
      } else {
        const shift = dd.div(dev, n);
        m = dd.add(m, shift);
        v = dd.sub(dd.div(squares, n), dd.mul(shift, shift));
        if (v[0] < 0 || (v[0] === 0 && v[1] <= 0)) v = [0, 0];
      }
    }
    [mean[c], meanLow[c]] = m;
    [variance[c], varianceLow[c]] = v;
    [invStd[c], invStdLow[c]] = invStd64(v, p);
  }
  return { mean, meanLow, variance, varianceLow, invStd, invStdLow };
}

/**
 * batchNormBackward for float64, in double-double. Per channel, Σdy and Σdy·(x - mean) are
 * compensated sums of exact products; then dx = P·dy - R·(x - mean) - Q with double-double
 * constants P, R, Q (one formula for every convention), rounded once per element.
 */
function backward64(
  p: Prepared,
  g: ArrayLike<number>,
  stats: Stats,
  useBatch: boolean,
  into: TensorArray | null,
): BackwardResult {
  const { outer, channels, inner, count } = p.layout;
  const dx = into ?? new Float64Array(p.x.length);
  const dgamma = new Float64Array(channels), dbeta = new Float64Array(channels);
  const n: dd.DD = [count, 0];
  const zero: dd.DD = [0, 0];
  for (let c = 0; c < channels; c++) {
    const ch = { outer, channels, inner, c };
    const m: dd.DD = [stats.mean[c], stats.meanLow[c]], inv: dd.DD = [stats.invStd[c], stats.invStdLow?.[c] ?? 0];
    const gamma = p.gamma ? p.gamma[c] : 1;
    const [sumDy, sumDyD] = exact64.backwardSums(p.x, g, ch, m[0], m[1]);
    dbeta[c] = dd.round(sumDy, sumDy[0]);
    const dg = count === 0 ? zero : dd.mul(inv, sumDyD); // an empty sum is 0, whatever invStd is
    dgamma[c] = dd.round(dg, dg[0]);
    const P = dd.mul([gamma, 0], inv);
    let R = zero, Q = zero;
    if (useBatch) {
      // dy - mean(dy): Q = P·mean(dy)
      Q = dd.mul(P, dd.div(sumDy, n));
      if (p.c.epsilonPlacement === "inside") {
        // dx = gamma·invStd·(dy - mean(dy) - xhat·mean(dy·xhat)), xhat = (x - mean)·invStd
        R = dd.mul(dd.mul(P, inv), dd.div(dg, n));
      } else {
        // dx = gamma·[(dy - mean(dy))/s - (x - mean)·Σdy·(x - mean)/(n·sigma·s²)], s = sigma + eps = 1/invStd
        const sigma = dd.sqrt([stats.variance[c], stats.varianceLow?.[c] ?? 0]);
        if (sigma[0] !== 0) R = dd.div(dd.mul([gamma, 0], dd.mul(sumDyD, dd.mul(inv, inv))), dd.mul(n, sigma));
      }
    }
    exact64.gradient(p.x, g, dx, ch, m, P, R, Q);
  }
  return {
    dx: { dtype: p.dtype, shape: [...p.shape], data: dx },
    dgamma: p.c.affine ? vector(p.dtype, dgamma) : null,
    dbeta: p.c.affine ? vector(p.dtype, dbeta) : null,
  };
}
