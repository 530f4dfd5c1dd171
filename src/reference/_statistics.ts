/**
 * Per-channel statistics of the reference: batch mean and variance (compensated
 * sums, corrected two-pass; double-double for float64), the inverse standard
 * deviation, the running statistics used in eval, and their update after a
 * training step under each momentum parameterisation.
 *
 * @module
 */

import { allocate } from "./dtype.ts";
import { BatchNormError } from "./errors.ts";
import * as dd from "./_dd.ts";
import * as exact64 from "./_exact64.ts";
import * as wasm from "./_wasm.ts";
import { Kind } from "./_threads.ts";
import * as lanes from "./_lanes.ts";
import { allocateFrom, checkCount, checkVariance, checkVector, type Prepared } from "./_prepare.ts";
import type { BatchNormState, UpdatedState } from "./state.ts";

/**
 * Per-channel binary64 statistics. The mean is the unevaluated sum
 * `mean + meanLow`: `meanLow` is the rounding error of `mean`, recovered by the
 * corrected two-pass, so that `(x - mean) - meanLow` does not carry the mean's
 * rounding error into every deviation (it would not cancel in sums such as dgamma).
 */
export interface Stats {
  readonly mean: Float64Array;
  readonly meanLow: Float64Array;
  readonly variance: Float64Array;
  readonly invStd: Float64Array;
  /** float64 only: the low parts of the double-double variance and inverse std. */
  readonly varianceLow?: Float64Array;
  readonly invStdLow?: Float64Array;
  /** float32: y was written channel by channel as the statistics were computed (batchStats' `fuse`). */
  readonly normalized?: boolean;
}
function invStdOf(variance: number, p: Prepared): number {
  if (variance === 0 && p.epsilon === 0 && p.c.zeroVarianceInvStd === "zero") {
    return 0;
  }
  return p.c.epsilonPlacement === "inside"
    ? 1 / Math.sqrt(variance + p.epsilon)
    : 1 / (Math.sqrt(variance) + p.epsilon);
}
/**
 * The batch statistics of every channel. `fuse` (float32, training forward): y, to be normalized channel by channel
 * right after each channel's statistics, while its runs are in cache (where the one-thread kernels run; the result
 * says so with `normalized`, and otherwise the caller normalizes as usual). Every element of y gets the operations
 * of batch_norm.ts's normalize, so the bits are the same either way.
 */
export function batchStats(p: Prepared, fuse: Float32Array | null = null): Stats {
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
  const staged = p.dtype === "float32" && inner >= wasm.MIN_RUN ? wasm.stageF32(x, null, fuse, inner) : null;
  const acc = new Float64Array(3 * lanes.BLOCK);
  // Two threads (a two-thread KernelArena): each pass over all channels at once, half of them on each thread, each
  // channel's sums exactly as below; the loop below then takes them from the tables instead of running the kernels.
  const th = staged ? wasm.threadedF32(staged, outer, channels, inner) : null;
  let sums: Float64Array | null = null, devs: Float64Array | null = null;
  let normalized = fuse !== null && staged !== null && th === null;
  if (th) {
    sums = wasm.threadedRun(th, Kind.Sum, null, 0);
    const ms = new Float64Array(channels);
    for (let c = 0; c < channels; c++) {
      acc.fill(0);
      acc.set(sums.subarray(2 * lanes.BLOCK * c, 2 * lanes.BLOCK * c + lanes.BLOCK), 0);
      ms[c] = lanes.combine(acc, 0) / count;
    }
    devs = wasm.threadedRun(th, Kind.Deviations, ms, 1);
  }
  for (let c = 0; c < channels; c++) {
    acc.fill(0);
    if (sums) acc.set(sums.subarray(2 * lanes.BLOCK * c, 2 * lanes.BLOCK * c + lanes.BLOCK), 0);
    else if (staged) wasm.channelSumF32(staged, outer, channels, inner, c, acc);
    else for (let o = 0; o < outer; o++) lanes.sumRun(x, (o * channels + c) * inner, inner, acc, 0);
    const m = lanes.combine(acc, 0) / count;
    // Corrected two-pass (Björck): the sum of deviations removes the first-order error of m.
    if (devs) acc.set(devs.subarray(2 * lanes.BLOCK * c, 2 * lanes.BLOCK * (c + 1)), lanes.BLOCK);
    else if (staged) wasm.channelDeviationsF32(staged, outer, channels, inner, c, m, acc);
    else {for (let o = 0; o < outer; o++) {
        lanes.deviationRun(x, (o * channels + c) * inner, inner, m, acc, lanes.BLOCK, 2 * lanes.BLOCK);
      }}
    const squares = lanes.combine(acc, lanes.BLOCK), dev = lanes.combine(acc, 2 * lanes.BLOCK);
    const v = Math.max((squares - dev * dev / count) / count, 0);
    mean[c] = m;
    meanLow[c] = Number.isFinite(dev) ? dev / count : 0;
    variance[c] = Number.isNaN(m) ? NaN : v;
    invStd[c] = invStdOf(variance[c], p);
    if (normalized) {
      const scale = (p.gamma ? p.gamma[c] : 1) * invStd[c], shift = p.beta ? p.beta[c] : 0;
      normalized = wasm.channelNormalizeF32(staged!, outer, channels, inner, c, [m, meanLow[c], scale, shift], fuse!);
    }
  }
  return { mean, meanLow, variance, invStd, normalized };
}
export function runningStats(p: Prepared, state: BatchNormState): Stats {
  const channels = p.layout.channels;
  const rm = checkVector(
    state.runningMean,
    "state.runningMean",
    channels,
    p.dtypes.running,
    true,
  );
  const rv = checkVector(
    state.runningVar,
    "state.runningVar",
    channels,
    p.dtypes.running,
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
export function updateRunningStats(p: Prepared, state: BatchNormState, stats: Stats): UpdatedState {
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
    p.dtypes.running,
    false,
  );
  const rv = checkVector(
    state.runningVar,
    "state.runningVar",
    channels,
    p.dtypes.running,
    false,
  );
  if (rv) checkVariance(rv, "state.runningVar");
  const n = p.layout.count;
  const numBatchesTracked = tracked + 1;
  if (n === 0 && c.emptyBatch === "unchanged") {
    // PyTorch's module returns at once for an empty input: statistics untouched, the call still counted.
    const same = (v: ArrayLike<number> | null, init: number) =>
      v ? allocateFrom(p.dtypes.running, v) : allocate(p.dtypes.running, channels).fill(init);
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
  const runningMean = allocate(p.dtypes.running, channels),
    runningVar = allocate(p.dtypes.running, channels);
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
        p.dtypes.running,
      );
      runningVar[k] = dd.roundInto(
        dd.add(dd.mul(keep, [oldVar, 0]), dd.mul(fresh, batchVar)),
        naive(oldVar, batchVar[0]),
        p.dtypes.running,
      );
    }
  }
  return { ...base, runningMean, runningVar, numBatchesTracked };
}
/** Whether the double-double float64 path applies (_exact64.ts). */
export function dtype64(p: Prepared): boolean {
  return p.dtype === "float64";
}
/** hi + lo per channel, rounded once to binary64 (hi alone where there is no low part). */
export function withLow(hi: Float64Array, lo: Float64Array | undefined): Float64Array {
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
