/**
 * The reference's backward pass: dx, dgamma and dbeta for a training step
 * (through the batch statistics) or an eval step (running statistics constant),
 * under any convention.
 *
 * @module
 */

import { centerOf, type ConventionInput, scaleOf } from "./convention.ts";
import { allocate, roundToDType, type TensorArray } from "./dtype.ts";
import { BatchNormError } from "./errors.ts";
import { checkTensor, type OutputTensor, type Tensor } from "./tensor.ts";
import * as dd from "./_dd.ts";
import * as exact64 from "./_exact64.ts";
import * as wasm from "./_wasm.ts";
import * as lanes from "./_lanes.ts";
import { Kind } from "./_threads.ts";
import { checkOut, type ForwardOptions, prepare, type Prepared, vector } from "./_prepare.ts";
import { batchStats, dtype64, runningStats, type Stats } from "./_statistics.ts";
import type { BatchNormState, Mode } from "./state.ts";
import { restore, type SavedStatistics } from "./_saved.ts";

/**
 * Options of {@linkcode batchNormBackward}: those of the forward calls, and the forward's saved statistics.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { type BackwardOptions, batchNormBackward, batchNormTrain, tensor } from "../../mod.ts";
 * const x = tensor("float64", [2, 1], [1, 3]), state = { gamma: [1], beta: [0] };
 * const options: BackwardOptions = { saved: batchNormTrain(x, state).saved, out: new Float64Array(2) };
 * const { dx } = batchNormBackward(x, x, state, "train", "pytorch", options);
 * assert(dx.data === options.out && dx.data[0] === batchNormBackward(x, x, state, "train").dx.data[0]);
 * ```
 */
export interface BackwardOptions extends ForwardOptions {
  /**
   * The `saved` of the training forward call on this same x (same data array, unchanged), shape, dtype and
   * convention: backward takes its batch statistics instead of recomputing them (bit-identical, about half the
   * work of a float32 backward). Refused (`saved_mismatch`) where it does not match the call, and in an eval step
   * with tracked running statistics (which uses those).
   */
  readonly saved?: SavedStatistics;
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
  /** Gradient with respect to gamma, shape [C]; `null` when gamma does not apply (not affine, or `scale: false`). */
  readonly dgamma: OutputTensor | null;
  /** Gradient with respect to beta, shape [C]; `null` when beta does not apply (not affine, or `center: false`). */
  readonly dbeta: OutputTensor | null;
  /**
   * Gradient with respect to the mean used, shape [C], where that mean is an input: an eval step with running
   * statistics (TF.js's `tf.grads` of `tf.batchNorm`); `null` where the statistics come from the batch.
   */
  readonly dmean?: OutputTensor | null;
  /** Gradient with respect to the variance used, shape [C], where `dmean` has one; `null` otherwise. */
  readonly dvar?: OutputTensor | null;
}

/**
 * dmean and dvar of one channel in binary64, from Σdy (dbeta), dgamma = Σdy·x̂ and the channel's invstd and variance.
 * Inside: y = γ(x − m)/sqrt(v + ε) + β, so dmean = −γ·invstd·Σdy and dvar = −½γ·invstd³·Σdy(x − m) = −½γ·invstd²·dgamma.
 * Outside, with σ = sqrt(v) and s = σ + ε: dmean = −γΣdy/s and dvar = −γΣdy(x − m)/(2σs²) = −γ·dgamma·invstd/(2σ).
 * A zero invstd (the `zero` rule: y = β whatever the statistics) gives 0 for both.
 */
function statisticsGradients(
  outside: boolean,
  gamma: number,
  invStd: number,
  variance: number,
  dbeta: number,
  dgamma: number,
): [number, number] {
  if (invStd === 0) return [0, 0];
  const dmean = -gamma * invStd * dbeta;
  const dvar = outside ? -gamma * dgamma * invStd / (2 * Math.sqrt(variance)) : -0.5 * gamma * invStd * invStd * dgamma;
  return [dmean, dvar];
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
 * @param options `out`: where to write dx (see {@linkcode ForwardOptions}); `saved`: the forward's statistics
 *   (see {@linkcode BackwardOptions}).
 * @returns dx, and dgamma and dbeta (null where gamma or beta does not apply).
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
  options: BackwardOptions = {},
): BackwardResult {
  if (mode !== "train" && mode !== "eval") {
    throw new BatchNormError(
      "invalid_option",
      "mode",
      mode,
      'must be "train" or "eval"',
    );
  }
  const p = prepare(x, state, convention, options);
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
  const stats = options.saved !== undefined
    ? restore(options.saved, p, useBatch)
    : useBatch
    ? batchStats(p)
    : runningStats(p, state);
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
  // Two threads (a two-thread KernelArena, dx in it too): the sums of every channel in one pass, half of the channels
  // on each thread, each channel's exactly as below; dx likewise after the loop, from each channel's constants.
  const th = staged && staged.yp >= 0 ? wasm.threadedF32(staged, outer, channels, inner) : null;
  let sums: Float64Array | null = null;
  const dxParams = th ? new Float64Array(6 * channels) : null;
  if (th) {
    const params = new Float64Array(3 * channels);
    for (let c = 0; c < channels; c++) params.set([stats.mean[c], stats.meanLow[c], stats.invStd[c]], 3 * c);
    sums = wasm.threadedRun(th, Kind.BackwardSums, params, 3);
  }
  for (let c = 0; c < channels; c++) {
    const mean = stats.mean[c], low = stats.meanLow[c], invStd = stats.invStd[c];
    const gamma = p.gamma ? p.gamma[c] : 1;
    // Compensated sums of dy and dy·xhat, in the lane order of _lanes.ts.
    acc.fill(0);
    if (sums) acc.set(sums.subarray(2 * lanes.BLOCK * c, 2 * lanes.BLOCK * (c + 1)), 0);
    else if (staged) wasm.channelBackwardSumsF32(staged, outer, channels, inner, c, mean, low, invStd, acc);
    else {
      for (let o = 0; o < outer; o++) {
        lanes.backwardRun(xs, g, (o * channels + c) * inner, inner, mean, low, invStd, acc, 0, lanes.BLOCK);
      }
    }
    dbeta[c] = lanes.combine(acc, 0);
    dgamma[c] = lanes.combine(acc, lanes.BLOCK);
    if (staged) {
      const d = dx as Float32Array;
      const formula: { eval: [number] } | { inside: Six } | { outside: Six } = !useBatch
        ? { eval: [gamma * invStd] }
        : p.c.epsilonPlacement === "inside"
        ? { inside: [mean, low, invStd, dbeta[c] / count, dgamma[c] / count, gamma * invStd] }
        : {
          outside: [
            mean,
            low,
            invStd,
            dbeta[c] / count,
            outsideSecond(stats.variance[c], invStd, dgamma[c], count),
            gamma,
          ],
        };
      if (dxParams) {
        dxParams.set("eval" in formula ? formula.eval : "inside" in formula ? formula.inside : formula.outside, 6 * c);
        continue;
      }
      if (wasm.channelDxF32(staged, outer, channels, inner, c, formula, d)) continue;
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
  if (th && dxParams) {
    const kind = !useBatch ? Kind.DxEval : p.c.epsilonPlacement === "inside" ? Kind.DxInside : Kind.DxOutside;
    wasm.threadedRun(th, kind, dxParams, 6);
  }
  if (out !== dx) { for (let k = 0; k < out.length; k++) dx[k] = roundToDType(out[k], dtype); }
  let dmean: OutputTensor | null = null, dvar: OutputTensor | null = null;
  if (!useBatch) {
    const m = new Float64Array(channels), v = new Float64Array(channels);
    for (let c = 0; c < channels; c++) {
      [m[c], v[c]] = statisticsGradients(
        p.c.epsilonPlacement === "outside",
        p.gamma ? p.gamma[c] : 1,
        stats.invStd[c],
        stats.variance[c],
        dbeta[c],
        dgamma[c],
      );
    }
    // Gradients with respect to the running statistics: in their dtype (mixed precision: options.dtypes.running).
    dmean = vector(p.dtypes.running, m);
    dvar = vector(p.dtypes.running, v);
  }
  return {
    dx: { dtype, shape: [...x.shape], data: dx },
    dgamma: scaleOf(p.c) ? vector(p.dtypes.params, dgamma) : null,
    dbeta: centerOf(p.c) ? vector(p.dtypes.params, dbeta) : null,
    dmean,
    dvar,
  };
}
/** The six constants of backward's "inside" and "outside" dx formulas (see _kernels.wat). */
type Six = [number, number, number, number, number, number];
/**
 * The factor of (x - mean) in the "outside" dx: with sigma = sqrt(var) and s = sigma + eps = 1/invStd,
 * Σ dy·(x - mean) / (n·sigma·s²), Σ dy·(x - mean) = dgamma / invStd; 0 when sigma = 0, except where s = 0 too under
 * zero_variance_invstd "ieee" (invStd +Infinity): there xhat = 0·Infinity is NaN and so is dx, as inside the root
 * (fixtures/FORMAT.md).
 */
function outsideSecond(variance: number, invStd: number, dgamma: number, count: number): number {
  const sigma = Math.sqrt(variance);
  const s = 1 / invStd;
  const sumDyD = dgamma / invStd; // sum_j dy_j (x_j - mean)
  if (sigma === 0) return invStd === Infinity ? NaN : 0;
  return sumDyD / (count * sigma * s * s);
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
  // Eval with running statistics: the gradients with respect to them, in double-double, rounded once.
  const dmean = useBatch ? null : new Float64Array(channels), dvar = useBatch ? null : new Float64Array(channels);
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
        // sigma = 0 and eps = 0 under "ieee" (invStd +Infinity): xhat = 0·Infinity is NaN, and so is dx (FORMAT.md).
        else if (inv[0] === Infinity) R = [NaN, NaN];
      }
    }
    exact64.gradient(p.x, g, dx, ch, m, P, R, Q);
    if (dmean && dvar) {
      const naive = statisticsGradients(
        p.c.epsilonPlacement === "outside",
        gamma,
        inv[0],
        stats.variance[c],
        sumDy[0],
        dg[0],
      );
      if (inv[0] === 0) {
        dmean[c] = 0;
        dvar[c] = 0;
        continue;
      }
      const dm = dd.mul(P, sumDy);
      dmean[c] = -dd.round(dm, -naive[0]);
      const dv = p.c.epsilonPlacement === "inside"
        ? dd.mul(dd.mul(P, inv), dd.mul([0.5, 0], dg))
        : dd.div(dd.mul(P, dg), dd.mul([2, 0], dd.sqrt([stats.variance[c], stats.varianceLow?.[c] ?? 0])));
      dvar[c] = -dd.round(dv, -naive[1]);
    }
  }
  return {
    dx: { dtype: p.dtype, shape: [...p.shape], data: dx },
    dgamma: scaleOf(p.c) ? vector(p.dtypes.params, dgamma) : null,
    dbeta: centerOf(p.c) ? vector(p.dtypes.params, dbeta) : null,
    dmean: dmean && vector(p.dtypes.running, dmean),
    dvar: dvar && vector(p.dtypes.running, dvar),
  };
}
