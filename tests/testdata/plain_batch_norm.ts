// The plain path: the reference as first written (closures per element, accumulator objects), frozen as the oracle
// that tests/fast_path_test.ts holds the optimised src/reference/batch_norm.ts to, bit for bit. Not used by mod.ts.
// One change since: the batch statistics and backward's sums go in the lane order the WebAssembly kernels share
// (LaneAccumulator).

/**
 * The reference BatchNorm: training and inference forward, running-statistic
 * updates, and backward, under any {@linkcode BatchNormConvention}.
 *
 * Numerics: every intermediate is a binary64 number; per-channel sums use
 * Neumaier's compensated summation and the variance a corrected two-pass
 * formula (never E[x²] - E[x]²). Each output is rounded once, from its binary64
 * value, to the dtype of the input.
 *
 * @module
 */

import { type BatchNormConvention, type ConventionInput, resolveConvention } from "../../src/reference/convention.ts";
import { allocate, type DType, roundToDType, type TensorArray } from "../../src/reference/dtype.ts";
import { BatchNormError } from "../../src/reference/errors.ts";
import { checkTensor, checkValues, type OutputTensor, type Tensor } from "../../src/reference/tensor.ts";

/**
 * Per-channel parameters and running statistics. Each vector has one value per
 * channel, in the dtype of the input tensor.
 *
 * @example
 * ```ts ignore
 * import { assert } from "@std/assert";
 * import { batchNormInference, type BatchNormState, tensor } from "../mod.ts";
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
 * ```ts ignore
 * import { assert } from "@std/assert";
 * import { batchNormTrain, tensor, type UpdatedState } from "../mod.ts";
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
 * ```ts ignore
 * import { assert } from "@std/assert";
 * import { batchNormTrain, tensor, type TrainResult } from "../mod.ts";
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
 * ```ts ignore
 * import { assert } from "@std/assert";
 * import { type BackwardResult, batchNormBackward, tensor } from "../mod.ts";
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
 * ```ts ignore
 * import { assert } from "@std/assert";
 * import { batchNormBackward, type Mode, tensor } from "../mod.ts";
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
}

/**
 * Training forward: normalizes x with its own per-channel statistics and, when the
 * convention tracks them, updates the running statistics.
 *
 * @param x Input of rank >= 2; the channel axis is `convention.axis`.
 * @param state Parameters and running statistics before the call (it is not modified).
 * @param convention A preset name or options over a preset; default `"pytorch"`.
 * @returns y, the batch statistics, the inverse std, and the new state.
 * @throws {BatchNormError} On malformed input, or one value per channel under `singleValueTraining: "error"`.
 *
 * @example
 * ```ts ignore
 * import { assert } from "@std/assert";
 * import { batchNormTrain, tensor } from "../mod.ts";
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
): TrainResult {
  const p = prepare(x, state, convention);
  const stats = batchStats(p);
  const y = normalize(p, stats);
  const { dtype } = p;
  return {
    y,
    batchMean: vector(dtype, stats.mean.map((m, c) => m + stats.meanLow[c])),
    batchVar: vector(dtype, stats.variance),
    invStd: vector(dtype, stats.invStd),
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
 * @returns The normalized output y.
 * @throws {BatchNormError} On malformed input or missing running statistics.
 *
 * @example
 * ```ts ignore
 * import { assert } from "@std/assert";
 * import { batchNormInference, tensor } from "../mod.ts";
 * const x = tensor("float64", [1, 2], [3, 5]);
 * const { y } = batchNormInference(x, { runningMean: [1, 1], runningVar: [4, 16] }, { epsilon: 0, affine: false });
 * assert(y.data[0] === 1 && y.data[1] === 1);
 * ```
 */
export function batchNormInference(
  x: Tensor,
  state: BatchNormState,
  convention: ConventionInput = "pytorch",
): { y: OutputTensor } {
  const p = prepare(x, state, convention);
  const stats = p.c.trackRunningStats ? runningStats(p, state) : batchStats(p);
  return { y: normalize(p, stats) };
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
 * @returns dx, and dgamma and dbeta (null when not affine).
 * @throws {BatchNormError} On malformed input.
 *
 * @example
 * ```ts ignore
 * import { assert } from "@std/assert";
 * import { batchNormBackward, tensor } from "../mod.ts";
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
  const useBatch = mode === "train" || !p.c.trackRunningStats;
  const stats = useBatch ? batchStats(p) : runningStats(p, state);
  const { outer, channels, inner, count } = p.layout;
  const xs = p.x, g = dy.data;
  const dx = new Float64Array(xs.length);
  const dgamma = new Float64Array(channels), dbeta = new Float64Array(channels);
  for (let c = 0; c < channels; c++) {
    const mean = stats.mean[c],
      low = stats.meanLow[c],
      invStd = stats.invStd[c];
    const gamma = p.gamma ? p.gamma[c] : 1;
    const sumDy = new LaneAccumulator(), sumDyXhat = new LaneAccumulator();
    forChannel(outer, channels, inner, c, (k) => {
      sumDy.add(k % inner, inner, g[k]);
      sumDyXhat.add(k % inner, inner, g[k] * ((xs[k] - mean) - low) * invStd);
    });
    dbeta[c] = sumDy.value();
    dgamma[c] = sumDyXhat.value();
    if (!useBatch) {
      const scale = gamma * invStd;
      forChannel(outer, channels, inner, c, (k) => {
        dx[k] = g[k] * scale;
      });
    } else if (p.c.epsilonPlacement === "inside") {
      // y = gamma·xhat + beta with xhat = (x - mean)·invStd and invStd = (var + eps)^-1/2:
      // dx = gamma·invStd·(dy - mean(dy) - xhat·mean(dy·xhat)).
      const meanDy = dbeta[c] / count, meanDyXhat = dgamma[c] / count;
      const scale = gamma * invStd;
      forChannel(outer, channels, inner, c, (k) => {
        const xhat = ((xs[k] - mean) - low) * invStd;
        dx[k] = scale * (g[k] - meanDy - xhat * meanDyXhat);
      });
    } else {
      // y = gamma·(x - mean)/s + beta with s = sigma + eps, sigma = sqrt(var), d sigma/d x_i = (x_i - mean)/(n·sigma):
      // dx_i = gamma·[(dy_i - mean(dy))/s - (x_i - mean)·sum_j dy_j (x_j - mean)/(n·sigma·s^2)].
      const meanDy = dbeta[c] / count;
      const sigma = Math.sqrt(stats.variance[c]);
      const s = 1 / invStd;
      const sumDyD = dgamma[c] / invStd; // sum_j dy_j (x_j - mean)
      const second = sigma === 0 ? 0 : sumDyD / (count * sigma * s * s);
      forChannel(outer, channels, inner, c, (k) => {
        dx[k] = gamma *
          ((g[k] - meanDy) * invStd - ((xs[k] - mean) - low) * second);
      });
    }
  }
  const { dtype } = p;
  return {
    dx: rounded(dtype, x.shape, dx),
    dgamma: p.c.affine ? vector(dtype, dgamma) : null,
    dbeta: p.c.affine ? vector(dtype, dbeta) : null,
  };
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

/**
 * Neumaier's compensated sums (error independent of the number of terms, to first order), in the lane order of
 * the batch statistics and backward's sums (src/reference/_lanes.ts, written again here): within each run of
 * `inner` elements, offset i goes to lane i mod 8 while a whole group of 8 remains, the rest to lane 8; the nine
 * Neumaier sums are then added in lane order, their compensations after each step.
 */
class LaneAccumulator {
  #lanes = Array.from({ length: 9 }, () => ({ sum: 0, compensation: 0 }));
  add(offsetInRun: number, inner: number, v: number): void {
    const lane = this.#lanes[offsetInRun < inner - (inner % 8) ? offsetInRun % 8 : 8];
    const t = lane.sum + v;
    lane.compensation += Math.abs(lane.sum) >= Math.abs(v) ? (lane.sum - t) + v : (v - t) + lane.sum;
    lane.sum = t;
  }
  value(): number {
    let { sum, compensation } = this.#lanes[0];
    for (const lane of this.#lanes.slice(1)) {
      const t = sum + lane.sum;
      compensation += lane.compensation;
      compensation += Math.abs(sum) >= Math.abs(lane.sum) ? (sum - t) + lane.sum : (lane.sum - t) + sum;
      sum = t;
    }
    return Number.isFinite(sum) ? sum + compensation : sum;
  }
}

function forChannel(
  outer: number,
  channels: number,
  inner: number,
  c: number,
  f: (k: number) => void,
): void {
  for (let o = 0; o < outer; o++) {
    const start = (o * channels + c) * inner;
    for (let i = 0; i < inner; i++) f(start + i);
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
  const mean = new Float64Array(channels), meanLow = new Float64Array(channels);
  const variance = new Float64Array(channels),
    invStd = new Float64Array(channels);
  const x = p.x;
  for (let c = 0; c < channels; c++) {
    const sum = new LaneAccumulator();
    forChannel(outer, channels, inner, c, (k) => sum.add(k % inner, inner, x[k]));
    const m = sum.value() / count;
    // Corrected two-pass (Björck): the second term removes the first-order error of m.
    const squares = new LaneAccumulator(), deviations = new LaneAccumulator();
    forChannel(outer, channels, inner, c, (k) => {
      const d = x[k] - m;
      squares.add(k % inner, inner, d * d);
      deviations.add(k % inner, inner, d);
    });
    const dev = deviations.value();
    const v = Math.max((squares.value() - dev * dev / count) / count, 0);
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
  return {
    mean,
    meanLow: new Float64Array(channels),
    variance,
    invStd: variance.map((v) => invStdOf(v, p)),
  };
}

function normalize(p: Prepared, stats: Stats): OutputTensor {
  const { outer, channels, inner } = p.layout;
  const x = p.x;
  const y = allocate(p.dtype, x.length);
  for (let c = 0; c < channels; c++) {
    const m = stats.mean[c], low = stats.meanLow[c];
    const scale = (p.gamma ? p.gamma[c] : 1) * stats.invStd[c];
    const shift = p.beta ? p.beta[c] : 0;
    const dtype = p.dtype;
    forChannel(outer, channels, inner, c, (k) => {
      y[k] = roundToDType(((x[k] - m) - low) * scale + shift, dtype);
    });
  }
  return { dtype: p.dtype, shape: [...p.shape], data: y };
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
  const numBatchesTrackedAfter = tracked + 1;
  if (n === 0 && c.emptyBatch === "unchanged") {
    // PyTorch's module returns at once for an empty input: statistics untouched, the call still counted.
    const same = (v: ArrayLike<number> | null, init: number) =>
      v ? allocateFrom(p.dtype, v) : allocate(p.dtype, channels).fill(init);
    return { ...base, runningMean: same(rm, 0), runningVar: same(rv, 1), numBatchesTracked: numBatchesTrackedAfter };
  }
  let correction = 1;
  if (c.runningVariance === "bessel") {
    if (n === 1) {
      throw new BatchNormError(
        "single_value_per_channel",
        "convention.runningVariance",
        c.runningVariance,
        'the Bessel factor n/(n-1) is undefined for one value per channel; use "bessel-clamped" or refuse such input',
      );
    }
    correction = n / (n - 1);
  } else if (c.runningVariance === "bessel-clamped") {
    correction = n / Math.max(n - 1, 1);
  }
  const numBatchesTracked = numBatchesTrackedAfter;
  // w: weight of the new (batch) value. "old" multiplies by its own m, since 1 - (1 - m) need not round to m.
  const w = c.momentumKind === "new" ? c.momentum! : c.momentumKind === "old" ? 1 - c.momentum! : 1 / numBatchesTracked;
  const runningMean = allocate(p.dtype, channels),
    runningVar = allocate(p.dtype, channels);
  for (let k = 0; k < channels; k++) {
    const oldMean = rm ? rm[k] : 0, oldVar = rv ? rv[k] : 1;
    const batchVar = stats.variance[k] * correction;
    const batchMean = stats.mean[k] + stats.meanLow[k];
    runningMean[k] = roundToDType(
      c.momentumKind === "old" ? c.momentum! * oldMean + w * batchMean : (1 - w) * oldMean + w * batchMean,
      p.dtype,
    );
    runningVar[k] = roundToDType(
      c.momentumKind === "old" ? c.momentum! * oldVar + w * batchVar : (1 - w) * oldVar + w * batchVar,
      p.dtype,
    );
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
