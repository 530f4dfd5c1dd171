/**
 * The summation order of the batch statistics (float32, float16, bfloat16), shared by the TypeScript
 * loops here and the WebAssembly SIMD kernels (_kernels.wat) so that both give the same bits.
 *
 * A channel's elements come in runs of `inner` consecutive elements (one per outer index). Within a
 * run, the element at offset i goes to lane i mod 8 while a whole group of 8 remains, and the last
 * `inner mod 8` elements go to the tail lane 8. Each lane is a Neumaier sum (s, c): s the binary64
 * running sum, c the sum of the exact rounding errors of s. The lanes persist across runs, and at
 * the end are combined in lane order 0, 1, ..., 8 by the same compensated addition.
 *
 * Eight lanes let the kernel keep four f64x2 accumulators in flight (the compensated addition is a
 * chain of dependent operations); the exact error of each addition is the same whether computed
 * with Neumaier's branch (here) or branch-free TwoSum (the kernel), so the lanes hold equal values.
 *
 * An accumulator block is a Float64Array of 18 values: s of lanes 0..8, then c of lanes 0..8.
 *
 * @module
 */

/** Lanes per accumulator block: 8 in groups of 8, and the tail lane. */
export const LANES = 9;
/** Float64 values per accumulator block. */
export const BLOCK = 2 * LANES;

/**
 * Adds the run x[start .. start + len) to the accumulator block at `acc[off ..]`.
 */
export function sumRun(x: ArrayLike<number>, start: number, len: number, acc: Float64Array, off: number): void {
  const full = start + (len & ~7), end = start + len;
  for (let k = start; k < end; k++) {
    const j = off + (k < full ? (k - start) & 7 : 8);
    const s = acc[j], v = x[k], t = s + v;
    acc[j + LANES] += Math.abs(s) >= Math.abs(v) ? (s - t) + v : (v - t) + s;
    acc[j] = t;
  }
}

/**
 * Adds the deviations d = x - m of the run to the block at `acc[dev ..]` and their squares d·d to the
 * block at `acc[sq ..]`.
 */
export function deviationRun(
  x: ArrayLike<number>,
  start: number,
  len: number,
  m: number,
  acc: Float64Array,
  sq: number,
  dev: number,
): void {
  const full = start + (len & ~7), end = start + len;
  for (let k = start; k < end; k++) {
    const lane = k < full ? (k - start) & 7 : 8;
    const d = x[k] - m, d2 = d * d;
    let j = sq + lane, s = acc[j], t = s + d2;
    acc[j + LANES] += Math.abs(s) >= Math.abs(d2) ? (s - t) + d2 : (d2 - t) + s;
    acc[j] = t;
    j = dev + lane, s = acc[j], t = s + d;
    acc[j + LANES] += Math.abs(s) >= Math.abs(d) ? (s - t) + d : (d - t) + s;
    acc[j] = t;
  }
}

/**
 * Backward's sums over the run: dy into the block at `acc[sdy ..]`, and dy·xhat, computed as
 * `dy · ((x - mean) - low) · invStd` (left to right), into the block at `acc[sdx ..]`.
 */
export function backwardRun(
  x: ArrayLike<number>,
  g: ArrayLike<number>,
  start: number,
  len: number,
  mean: number,
  low: number,
  invStd: number,
  acc: Float64Array,
  sdy: number,
  sdx: number,
): void {
  const full = start + (len & ~7), end = start + len;
  for (let k = start; k < end; k++) {
    const lane = k < full ? (k - start) & 7 : 8;
    const gk = g[k], term = gk * ((x[k] - mean) - low) * invStd;
    let j = sdy + lane, s = acc[j], t = s + gk;
    acc[j + LANES] += Math.abs(s) >= Math.abs(gk) ? (s - t) + gk : (gk - t) + s;
    acc[j] = t;
    j = sdx + lane, s = acc[j], t = s + term;
    acc[j + LANES] += Math.abs(s) >= Math.abs(term) ? (s - t) + term : (term - t) + s;
    acc[j] = t;
  }
}

/**
 * The value of an accumulator block: its lanes added in order 0..8 by compensated addition, the
 * compensation added last. Once the sum is infinite or NaN, the compensation is meaningless
 * ((0 - ∞) + ∞ is NaN) and the IEEE sum stands.
 */
export function combine(acc: Float64Array, off: number): number {
  let s = acc[off], c = acc[off + LANES];
  for (let j = 1; j < LANES; j++) {
    const v = acc[off + j], t = s + v;
    c += acc[off + LANES + j];
    c += Math.abs(s) >= Math.abs(v) ? (s - t) + v : (v - t) + s;
    s = t;
  }
  return Number.isFinite(s) ? s + c : s;
}
