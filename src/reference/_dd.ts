/**
 * Double-double arithmetic for the per-channel constants of the exact float64 path
 * (src/reference/_exact64.ts): a value is the unevaluated sum `hi + lo` of two
 * binary64 numbers with |lo| <= ulp(hi)/2, about 106 significant bits.
 *
 * The error-free transformations underneath:
 * - TwoSum (Knuth): s + e = a + b exactly, s = fl(a + b).
 * - TwoProduct (Dekker, no fused multiply-add in JavaScript or baseline WebAssembly
 *   SIMD): p + e = a·b exactly, p = fl(a·b), through Veltkamp's split of each
 *   factor into 26-bit halves (exact for |a| < 2^996; BatchNorm's constants stay far below).
 * The operations follow the QD library (Hida, Li, Bailey 2001) and have relative
 * errors of a few 2^-106 (division and square root one Newton step from binary64).
 *
 * Not for the per-element loops: those inline the same steps (see _exact64.ts).
 *
 * @module
 */

import { type DType, roundToDType } from "./dtype.ts";

/** A double-double `hi + lo`. */
export type DD = readonly [hi: number, lo: number];

/** Veltkamp's splitter for binary64: 2^27 + 1. */
export const SPLITTER = 134217729;

/** a + b as a double-double, exactly (TwoSum). */
export function twoSum(a: number, b: number): DD {
  const s = a + b, bb = s - a;
  return [s, (a - (s - bb)) + (b - bb)];
}

/** a · b as a double-double, exactly (Dekker's TwoProduct). */
export function twoProd(a: number, b: number): DD {
  const p = a * b;
  let t = SPLITTER * a;
  const ah = t - (t - a), al = a - ah;
  t = SPLITTER * b;
  const bh = t - (t - b), bl = b - bh;
  return [p, ((ah * bh - p) + ah * bl + al * bh) + al * bl];
}

/**
 * Renormalizes hi + lo (any two doubles with |lo| <= |hi| or hi = 0) so that hi = fl(hi + lo).
 * A non-finite hi stays as it is, with lo = 0: infinities and NaN pass through every
 * operation below as in binary64 (an error term would otherwise turn ∞ into NaN).
 */
export function norm(hi: number, lo: number): DD {
  if (!Number.isFinite(hi)) return [hi, 0];
  const s = hi + lo;
  return [s, lo - (s - hi)];
}

/** A binary64 value as a double-double. */
export function dd(v: number): DD {
  return [v, 0];
}

/** a + b. */
export function add(a: DD, b: DD): DD {
  const [s, e] = twoSum(a[0], b[0]);
  const [t, f] = twoSum(a[1], b[1]);
  const [s2, e2] = norm(s, e + t);
  return norm(s2, e2 + f);
}

/** -a. */
export function neg(a: DD): DD {
  return [-a[0], -a[1]];
}

/** a - b. */
export function sub(a: DD, b: DD): DD {
  return add(a, neg(b));
}

/** a · b. */
export function mul(a: DD, b: DD): DD {
  const [p, e] = twoProd(a[0], b[0]);
  return norm(p, e + (a[0] * b[1] + a[1] * b[0]));
}

/** a / b (one correction step on the binary64 quotient). */
export function div(a: DD, b: DD): DD {
  const q1 = a[0] / b[0];
  if (!Number.isFinite(q1) || !Number.isFinite(b[0])) return [q1, 0];
  const r = sub(a, mul(b, [q1, 0]));
  const q2 = r[0] / b[0];
  const r2 = sub(r, mul(b, [q2, 0]));
  const q3 = r2[0] / b[0];
  const [s, e] = norm(q1, q2);
  return add([s, e], [q3, 0]);
}

/** sqrt(a) for a >= 0 (one Newton step on the binary64 root). */
export function sqrt(a: DD): DD {
  if (a[0] <= 0) return [Math.sqrt(a[0]), 0];
  const s = Math.sqrt(a[0]);
  if (!Number.isFinite(s)) return [s, 0];
  const r = sub(a, twoProd(s, s));
  return norm(s, r[0] / (2 * s));
}

/**
 * The binary64 value of a double-double, rounded once: fl(hi + lo). If the
 * plain binary64 evaluation of the same quantity, `naive`, is not finite, that
 * is returned instead: infinities and NaN follow binary64 semantics (a
 * double-double's error terms turn an infinity into NaN).
 */
export function round(a: DD, naive: number): number {
  return Number.isFinite(naive) ? a[0] + a[1] : naive;
}

const bits = new Float64Array(1), words = new BigInt64Array(bits.buffer);

/** The neighbour of a finite, non-zero v one binary64 step towards +∞ (`dir` 1) or −∞ (`dir` -1). */
function step(v: number, dir: 1 | -1): number {
  bits[0] = v;
  words[0] += (v > 0) === (dir > 0) ? 1n : -1n;
  return bits[0];
}

/**
 * A double-double rounded once into `dtype`. Its binary64 value v = fl(hi + lo) is rounded to the
 * dtype; where v sits exactly halfway between two values of the dtype, the remainder (hi + lo) − v
 * decides the side, as one rounding of hi + lo would. Non-finite `naive` values pass through (see
 * {@linkcode round}).
 */
export function roundInto(a: DD, naive: number, dtype: DType): number {
  if (!Number.isFinite(naive)) return roundToDType(naive, dtype);
  const v = a[0] + a[1];
  if (dtype === "float64" || v === 0 || !Number.isFinite(v)) return roundToDType(v, dtype);
  const rest = (a[0] - v) + a[1];
  const up = roundToDType(step(v, 1), dtype), down = roundToDType(step(v, -1), dtype);
  if (rest === 0 || up === down) return roundToDType(v, dtype);
  return rest > 0 ? up : down;
}
