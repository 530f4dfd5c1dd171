/**
 * The group form of the batch statistics: a training batch split into shards along the batch axis (one shard per
 * device, as SyncBatchNorm and Flax's `axis_name` run it), each shard's count, mean and sum of squared deviations (M2)
 * per channel, and their combination (Chan, Golub and LeVeque's pairwise update) into the statistics of the whole
 * batch. Shards may be uneven and empty (a device with no rows contributes nothing). The combination is carried in
 * double-double arithmetic and rounded once, so it gives the whole batch's float64 mean and biased variance, the
 * values `batchNormTrain` returns for a float64 batch.
 *
 * @module
 */

import { BatchNormError } from "./errors.ts";
import type { Tensor } from "./tensor.ts";
import * as dd from "./_dd.ts";

/** One shard's moments, per channel: values, mean and M2 = Σ(x − mean)², each a double-double `hi + low`. */
export interface ShardMoments {
  /** Values per channel in this shard (rows times the spatial size); 0 for an empty shard. */
  readonly count: number;
  /** Per channel: the mean, rounded to binary64 (NaN for an empty shard). */
  readonly mean: Float64Array;
  /** Per channel: the mean's low part (mean + meanLow is the double-double mean). */
  readonly meanLow: Float64Array;
  /** Per channel: M2 = Σ(x − mean)², rounded to binary64 (0 for an empty shard). */
  readonly m2: Float64Array;
  /** Per channel: M2's low part. */
  readonly m2Low: Float64Array;
}

/** The whole batch's statistics from its shards: {@linkcode ShardMoments} combined, and the biased variance M2/n. */
export interface GroupStatistics extends ShardMoments {
  /** Per channel: the biased variance M2/count, rounded once to binary64 (NaN for an empty batch). */
  readonly variance: Float64Array;
  /** Each shard's own moments, in the order given. */
  readonly shards: readonly ShardMoments[];
}

/** Options of {@linkcode groupStatistics}. */
export interface GroupOptions {
  /** The channel axis (negative counts from the end); default 1. The shards split axis 0, the batch axis. */
  readonly axis?: number;
}

/**
 * Checks a split of the batch axis: non-negative integers that add up to the batch size.
 *
 * @param shards Rows per shard, in batch order.
 * @param batch The batch size, `x.shape[0]`.
 * @throws {BatchNormError} `invalid_option` (field `shards`) naming the first bad entry or the sum.
 */
export function checkShards(shards: readonly number[], batch: number): void {
  if (!Array.isArray(shards) || shards.length === 0) {
    throw new BatchNormError("invalid_option", "shards", shards, "shards must be a non-empty list of row counts");
  }
  for (const [i, s] of shards.entries()) {
    if (!Number.isInteger(s) || s < 0) {
      throw new BatchNormError("invalid_option", `shards[${i}]`, s, "a shard's row count must be an integer >= 0");
    }
  }
  const total = shards.reduce((a, b) => a + b, 0);
  if (total !== batch) {
    throw new BatchNormError(
      "invalid_option",
      "shards",
      shards,
      `the shards hold ${total} rows but x.shape[0] is ${batch}: they must split the batch exactly`,
    );
  }
}

/**
 * Each shard's moments per channel, from the rows of x it holds (consecutive along axis 0, in order).
 *
 * @param x The batch, rank >= 2.
 * @param shards Rows per shard (non-negative integers adding up to `x.shape[0]`; empty shards allowed).
 * @param options The channel axis.
 * @returns One {@linkcode ShardMoments} per shard.
 * @throws {BatchNormError} `invalid_shape`, `invalid_axis`, or `invalid_option` for a bad split.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { shardMoments, tensor } from "../../mod.ts";
 * const x = tensor("float64", [3, 1], [1, 2, 6]);
 * const [a, b] = shardMoments(x, [2, 1]);
 * assert(a.count === 2 && a.mean[0] === 1.5 && a.m2[0] === 0.5);
 * assert(b.count === 1 && b.mean[0] === 6 && b.m2[0] === 0);
 * ```
 */
export function shardMoments(x: Tensor, shards: readonly number[], options: GroupOptions = {}): ShardMoments[] {
  const shape = x.shape;
  if (shape.length < 2) throw new BatchNormError("invalid_shape", "x.shape", shape, "x needs rank >= 2");
  const rank = shape.length, raw = options.axis ?? 1, axis = raw < 0 ? raw + rank : raw;
  if (!Number.isInteger(axis) || axis < 1 || axis >= rank) {
    throw new BatchNormError("invalid_axis", "axis", raw, `the channel axis must be in 1..${rank - 1} (or negative)`);
  }
  checkShards(shards, shape[0]);
  const channels = shape[axis];
  const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const row = shape.slice(1).reduce((a, b) => a * b, 1);
  const perRow = channels === 0 ? 0 : row / channels;
  const out: ShardMoments[] = [];
  let start = 0;
  for (const rows of shards) {
    const begin = start * row, end = (start + rows) * row;
    start += rows;
    const count = rows * perRow;
    const mean = new Float64Array(channels), meanLow = new Float64Array(channels);
    const m2 = new Float64Array(channels), m2Low = new Float64Array(channels);
    for (let c = 0; c < channels; c++) {
      if (count === 0) {
        mean[c] = NaN;
        continue;
      }
      const at = (k: number) => Math.floor(k / inner) % channels === c;
      // Σx compensated (TwoSum), then the mean as a double-double.
      let s: dd.DD = [0, 0], plain = 0;
      for (let k = begin; k < end; k++) if (at(k)) [s, plain] = [dd.add(s, [x.data[k], 0]), plain + x.data[k]];
      const m = Number.isFinite(plain) ? dd.div(s, [count, 0]) : [plain / count, 0] as dd.DD;
      // Deviations from the double-double mean: Σd and Σd² (corrected two-pass: M2 = Σd² − (Σd)²/n).
      let s1: dd.DD = [0, 0], s2: dd.DD = [0, 0], plain2 = 0;
      for (let k = begin; k < end; k++) {
        if (!at(k)) continue;
        const d = dd.sub([x.data[k], 0], m);
        s1 = dd.add(s1, d);
        s2 = dd.add(s2, dd.mul(d, d));
        plain2 += (x.data[k] - m[0]) ** 2;
      }
      const q = dd.sub(s2, dd.div(dd.mul(s1, s1), [count, 0]));
      [mean[c], meanLow[c]] = m;
      [m2[c], m2Low[c]] = Number.isFinite(plain2) && Number.isFinite(m[0])
        ? (q[0] < 0 ? [0, 0] : q)
        : [Number.isNaN(m[0]) ? NaN : plain2, 0];
    }
    out.push({ count, mean, meanLow, m2, m2Low });
  }
  return out;
}

/**
 * Combines shards' moments into the moments of their union (Chan et al.: n = nA + nB, δ = meanB − meanA,
 * mean = meanA + δ·nB/n, M2 = M2A + M2B + δ²·nA·nB/n), in double-double arithmetic. Empty shards contribute nothing;
 * with no values at all the mean is NaN and M2 is 0.
 *
 * @param parts The shards' moments, all with the same channel count.
 * @returns The union's moments.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { combineMoments, shardMoments, tensor } from "../../mod.ts";
 * const x = tensor("float64", [4, 1], [1, 2, 6, 7]);
 * const whole = combineMoments(shardMoments(x, [1, 0, 3]));
 * assert(whole.count === 4 && whole.mean[0] === 4 && whole.m2[0] === 26);
 * ```
 */
export function combineMoments(parts: readonly ShardMoments[]): ShardMoments {
  const channels = parts[0]?.mean.length ?? 0;
  if (parts.some((p) => p.mean.length !== channels)) {
    throw new BatchNormError(
      "channel_mismatch",
      "shards",
      parts.map((p) => p.mean.length),
      "shards differ in channels",
    );
  }
  let count = 0;
  const mean = new Float64Array(channels).fill(NaN), meanLow = new Float64Array(channels);
  const m2 = new Float64Array(channels), m2Low = new Float64Array(channels);
  for (const p of parts) {
    if (p.count === 0) continue;
    const n = count + p.count;
    for (let c = 0; c < channels; c++) {
      const mb: dd.DD = [p.mean[c], p.meanLow[c]], qb: dd.DD = [p.m2[c], p.m2Low[c]];
      if (count === 0) {
        [mean[c], meanLow[c], m2[c], m2Low[c]] = [mb[0], mb[1], qb[0], qb[1]];
        continue;
      }
      const ma: dd.DD = [mean[c], meanLow[c]], qa: dd.DD = [m2[c], m2Low[c]];
      const delta = dd.sub(mb, ma);
      const plainMean = ma[0] + (mb[0] - ma[0]) * (p.count / n);
      const m = dd.add(ma, dd.div(dd.mul(delta, [p.count, 0]), [n, 0]));
      const q = dd.add(dd.add(qa, qb), dd.div(dd.mul(dd.mul(delta, delta), dd.mul([count, 0], [p.count, 0])), [n, 0]));
      const plainM2 = qa[0] + qb[0] + (mb[0] - ma[0]) ** 2 * count * p.count / n;
      [mean[c], meanLow[c]] = Number.isFinite(plainMean) ? m : [plainMean, 0];
      [m2[c], m2Low[c]] = Number.isFinite(plainM2) ? q : [plainM2, 0];
    }
    count = n;
  }
  return { count, mean, meanLow, m2, m2Low };
}

/**
 * The batch statistics of x computed as a group of shards: each shard's moments, then their combination. Equal to
 * the statistics of the whole batch (the mean and biased variance `batchNormTrain` returns for float64 data), for any
 * split, uneven or with empty shards.
 *
 * @param x The batch, rank >= 2.
 * @param shards Rows per shard along axis 0 (non-negative integers adding up to `x.shape[0]`).
 * @param options The channel axis (default 1).
 * @returns The combined count, mean, M2 and biased variance per channel, and each shard's moments.
 * @throws {BatchNormError} `invalid_option` (field `shards`), `invalid_shape`, `invalid_axis`.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { batchNormTrain, groupStatistics, tensor } from "../../mod.ts";
 * const x = tensor("float64", [5, 2], [0.1, 3, 0.2, -1, 0.7, 2, 0.4, 8, 0.3, 5]);
 * const g = groupStatistics(x, [2, 0, 3]);
 * const whole = batchNormTrain(x, { gamma: [1, 1], beta: [0, 0] }, "pytorch");
 * assert(g.mean.every((m, c) => m === whole.batchMean.data[c]));
 * assert(g.variance.every((v, c) => v === whole.batchVar.data[c]));
 * ```
 */
export function groupStatistics(x: Tensor, shards: readonly number[], options: GroupOptions = {}): GroupStatistics {
  const parts = shardMoments(x, shards, options);
  const whole = combineMoments(parts);
  const variance = whole.m2.map((q, c) => {
    if (whole.count === 0) return NaN;
    const v = dd.div([q, whole.m2Low[c]], [whole.count, 0]);
    return Number.isFinite(q) ? v[0] + v[1] : q / whole.count;
  });
  return { ...whole, variance, shards: parts };
}
