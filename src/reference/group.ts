/**
 * The group form of the batch statistics: a training batch split into shards along the batch axis (one shard per
 * device, as SyncBatchNorm and Flax's `axis_name` run it), each shard's count, mean and sum of squared deviations (M2)
 * per channel, and their combination (Chan, Golub and LeVeque's pairwise update) into the statistics of the whole
 * batch. Shards may be uneven and empty (a device with no rows contributes nothing). The moments and their
 * combination are exact (rationals over BigInt: every binary64 value is an integer multiple of 2^-1074), and each
 * result is rounded once, to nearest, so it is the whole batch's correctly rounded mean and biased variance, the values
 * `batchNormTrain` returns for a float64 batch.
 *
 * @module
 */

import { BatchNormError } from "./errors.ts";
import type { Tensor } from "./tensor.ts";

/** 2^1074: every binary64 value times it is an integer. */
const SCALE = 1n << 1074n;
const VIEW = new DataView(new ArrayBuffer(8));

/** A finite binary64 value times 2^1074, exactly, as an integer. */
function scaledInteger(v: number): bigint {
  VIEW.setFloat64(0, v);
  const hi = VIEW.getUint32(0), lo = VIEW.getUint32(4);
  const exp = (hi >>> 20) & 0x7ff;
  const frac = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  const m = exp === 0 ? frac : frac | (1n << 52n);
  const scaled = m << BigInt(exp === 0 ? 0 : exp - 1);
  return hi >>> 31 ? -scaled : scaled;
}

const gcd = (a: bigint, b: bigint): bigint => {
  a = a < 0n ? -a : a;
  while (b) [a, b] = [b, a % b];
  return a;
};
const reduce = ([n, d]: Rational): Rational => {
  const g = gcd(n, d);
  return g > 1n ? [n / g, d / g] : [n, d];
};
const add = (a: Rational, b: Rational): Rational => reduce([a[0] * b[1] + b[0] * a[1], a[1] * b[1]]);
const sub = (a: Rational, b: Rational): Rational => add(a, [-b[0], b[1]]);
const mul = (a: Rational, b: Rational): Rational => reduce([a[0] * b[0], a[1] * b[1]]);
/** a·k/t for integers k >= 0, t > 0. */
const scale = (a: Rational, k: bigint, t: bigint): Rational => reduce([a[0] * k, a[1] * t]);
const bitLength = (v: bigint): number => v.toString(2).length;

/**
 * num/den correctly rounded to binary64 (to nearest, ties to even), subnormals and overflow included.
 *
 * @param num The numerator.
 * @param den The denominator, > 0.
 * @returns The nearest binary64 value.
 */
export function toDouble(num: bigint, den: bigint): number {
  if (num === 0n) return 0;
  const negative = num < 0n, a = negative ? -num : num;
  // A quotient of 55 or 56 bits, with a sticky bit for what the division left.
  const s = 55 - (bitLength(a) - bitLength(den));
  const [n, d] = s >= 0 ? [a << BigInt(s), den] : [a, den << BigInt(-s)];
  let q = n / d;
  const sticky = n % d !== 0n;
  const exponent = bitLength(q) - 1 - s; // floor(log2(num/den))
  const low = Math.max(exponent - 52, -1074); // the exponent of the last kept bit (fewer bits for subnormals)
  const drop = BigInt(low + s); // >= 2
  const rest = q & ((1n << drop) - 1n), half = 1n << (drop - 1n);
  q >>= drop;
  if (rest > half || (rest === half && (sticky || (q & 1n) === 1n))) q += 1n;
  const v = Number(q) * 2 ** low; // exact (or the overflow to Infinity)
  return negative ? -v : v;
}

/** A rational as its correctly rounded binary64 value and the rounded remainder. */
function split(r: Rational): [number, number] {
  const hi = toDouble(r[0], r[1]);
  if (!Number.isFinite(hi)) return [hi, 0];
  const rest = sub(r, [scaledInteger(hi), SCALE]);
  return [hi, toDouble(rest[0], rest[1])];
}

/** An exact rational number: numerator and positive denominator. */
export type Rational = readonly [num: bigint, den: bigint];

/** One shard's moments, per channel: values, mean and M2 = Σ(x − mean)², exact, and rounded to binary64. */
export interface ShardMoments {
  /** Values per channel in this shard (rows times the spatial size); 0 for an empty shard. */
  readonly count: number;
  /** Per channel: the mean, correctly rounded to binary64 (NaN for an empty shard). */
  readonly mean: Float64Array;
  /** Per channel: the mean's remainder, mean − (rounded mean), rounded to binary64. */
  readonly meanLow: Float64Array;
  /** Per channel: M2 = Σ(x − mean)², correctly rounded to binary64 (0 for an empty shard). */
  readonly m2: Float64Array;
  /** Per channel: M2's remainder, rounded to binary64. */
  readonly m2Low: Float64Array;
  /**
   * Per channel: the exact mean and M2 as rationals, where the channel's values are finite (`undefined` for a
   * channel with NaN or an infinity, whose moments follow IEEE arithmetic, and for an empty shard).
   */
  readonly exact: readonly ({ readonly mean: Rational; readonly m2: Rational } | undefined)[];
}

/** The whole batch's statistics from its shards: {@linkcode ShardMoments} combined, and the biased variance M2/n. */
export interface GroupStatistics extends ShardMoments {
  /** Per channel: the biased variance M2/count, correctly rounded to binary64 (NaN for an empty batch). */
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
    const exact: ({ mean: Rational; m2: Rational } | undefined)[] = [];
    for (let c = 0; c < channels; c++) {
      exact.push(undefined);
      if (count === 0) {
        mean[c] = NaN;
        continue;
      }
      // Σx and Σx² exactly: every binary64 value is an integer multiple of 2^-1074.
      let s1 = 0n, s2 = 0n, plain = 0, finite = true;
      for (let k = begin; k < end; k++) {
        if (Math.floor(k / inner) % channels !== c) continue;
        const v = x.data[k];
        plain += v;
        if (!Number.isFinite(v)) {
          finite = false;
          continue;
        }
        const scaled = scaledInteger(v);
        s1 += scaled;
        s2 += scaled * scaled;
      }
      if (!finite) {
        // NaN or an infinity: IEEE arithmetic decides (the mean is NaN or infinite, M2 NaN).
        mean[c] = plain / count;
        m2[c] = NaN;
        continue;
      }
      const n = BigInt(count);
      const m: Rational = [s1, n * SCALE];
      const q: Rational = [n * s2 - s1 * s1, n * SCALE * SCALE]; // Σx² − (Σx)²/n
      exact[c] = { mean: m, m2: q };
      [mean[c], meanLow[c]] = split(m);
      [m2[c], m2Low[c]] = split(q);
    }
    out.push({ count, mean, meanLow, m2, m2Low, exact });
  }
  return out;
}

/**
 * Combines shards' moments into the moments of their union (Chan et al.: n = nA + nB, δ = meanB − meanA,
 * mean = meanA + δ·nB/n, M2 = M2A + M2B + δ²·nA·nB/n), in exact rational arithmetic. Empty shards contribute
 * nothing; with no values at all the mean is NaN and M2 is 0. A channel with NaN or an infinity in a shard is combined in
 * IEEE arithmetic (its moments are NaN or infinite).
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
  const filled = parts.filter((p) => p.count > 0);
  const count = filled.reduce((a, p) => a + p.count, 0);
  const mean = new Float64Array(channels).fill(NaN), meanLow = new Float64Array(channels);
  const m2 = new Float64Array(channels), m2Low = new Float64Array(channels);
  const exact: ({ mean: Rational; m2: Rational } | undefined)[] = [];
  for (let c = 0; c < channels; c++) {
    exact.push(undefined);
    if (filled.length === 0) continue;
    if (filled.some((p) => p.exact[c] === undefined)) {
      // A shard with NaN or an infinity: IEEE arithmetic on the rounded moments.
      let n = 0, m = 0, q = 0;
      for (const p of filled) {
        const t = n + p.count, d = p.mean[c] - m;
        [m, q, n] = [m + d * p.count / t, q + p.m2[c] + d * d * n * p.count / t, t];
      }
      [mean[c], m2[c]] = [m, q];
      continue;
    }
    // Chan et al., exactly: n = na + nb, δ = mb − ma, mean = ma + δ·nb/n, M2 = M2a + M2b + δ²·na·nb/n.
    let n = 0n, m: Rational = [0n, 1n], q: Rational = [0n, 1n];
    for (const p of filled) {
      const e = p.exact[c]!, nb = BigInt(p.count), t = n + nb;
      if (n === 0n) [m, q] = [e.mean, e.m2];
      else {
        const d = sub(e.mean, m);
        m = add(m, scale(d, nb, t));
        q = add(add(q, e.m2), scale(mul(d, d), n * nb, t));
      }
      n = t;
    }
    exact[c] = { mean: m, m2: q };
    [mean[c], meanLow[c]] = split(m);
    [m2[c], m2Low[c]] = split(q);
  }
  return { count, mean, meanLow, m2, m2Low, exact };
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
    const e = whole.exact[c];
    return e ? toDouble(e.m2[0], e.m2[1] * BigInt(whole.count)) : q / whole.count;
  });
  return { ...whole, variance, shards: parts };
}
