/**
 * Exact arithmetic for the exact evaluator (`exact.ts`): rationals on BigInt,
 * binary64 values as exact dyadic rationals, integer square roots, and correct
 * rounding of a rational into a binary floating-point format.
 *
 * Private to `src/conformance/`; it shares no code with the reference's float
 * kernels. The only thing taken from the reference is the table of format
 * parameters (`formatInfo` of `src/reference/dtype.ts`: precision, smallest
 * normal exponent, largest finite value), which defines the dtypes.
 *
 * @module
 */

import { type DType, formatInfo } from "../reference/dtype.ts";

/** A rational n/d with d > 0, not necessarily in lowest terms. */
export interface Rational {
  readonly n: bigint;
  readonly d: bigint;
}

export const ZERO: Rational = { n: 0n, d: 1n };
export const ONE: Rational = { n: 1n, d: 1n };

/** n/d, with the sign moved to the numerator. */
export function rat(n: bigint, d: bigint = 1n): Rational {
  if (d === 0n) throw new RangeError("rational with zero denominator");
  return d < 0n ? { n: -n, d: -d } : { n, d };
}

export function add(a: Rational, b: Rational): Rational {
  if (a.n === 0n) return b;
  if (b.n === 0n) return a;
  if (a.d === b.d) return { n: a.n + b.n, d: a.d };
  return { n: a.n * b.d + b.n * a.d, d: a.d * b.d };
}

export function neg(a: Rational): Rational {
  return { n: -a.n, d: a.d };
}

export function sub(a: Rational, b: Rational): Rational {
  return add(a, neg(b));
}

export function mul(a: Rational, b: Rational): Rational {
  if (a.n === 0n || b.n === 0n) return ZERO;
  return { n: a.n * b.n, d: a.d * b.d };
}

export function inv(a: Rational): Rational {
  if (a.n === 0n) throw new RangeError("inverse of zero");
  return a.n < 0n ? { n: -a.d, d: -a.n } : { n: a.d, d: a.n };
}

export function div(a: Rational, b: Rational): Rational {
  return mul(a, inv(b));
}

export function sign(a: Rational): -1 | 0 | 1 {
  return a.n === 0n ? 0 : a.n < 0n ? -1 : 1;
}

/** -1, 0 or 1 as a < b, a = b, a > b. */
export function cmp(a: Rational, b: Rational): -1 | 0 | 1 {
  const l = a.n * b.d, r = b.n * a.d;
  return l === r ? 0 : l < r ? -1 : 1;
}

function gcd(a: bigint, b: bigint): bigint {
  if (a < 0n) a = -a;
  while (b !== 0n) [a, b] = [b, a % b];
  return a;
}

/** Lowest terms (used where numbers would otherwise grow across steps). */
export function reduce(a: Rational): Rational {
  if (a.n === 0n) return ZERO;
  const g = gcd(a.n, a.d);
  return g === 1n ? a : { n: a.n / g, d: a.d / g };
}

/** Number of bits of |x| (0 for 0). */
export function bitLength(x: bigint): number {
  if (x < 0n) x = -x;
  if (x === 0n) return 0;
  const hex = x.toString(16);
  return (hex.length - 1) * 4 + (32 - Math.clz32(parseInt(hex[0], 16)));
}

/** floor(sqrt(x)) for x >= 0, by Newton's iteration from an over-estimate. */
export function isqrt(x: bigint): bigint {
  if (x < 0n) throw new RangeError("isqrt of a negative number");
  if (x < 2n) return x;
  let r = 1n << BigInt(Math.ceil(bitLength(x) / 2));
  for (;;) {
    const next = (r + x / r) >> 1n;
    if (next >= r) return r;
    r = next;
  }
}

/** A binary64 value as m·2^e exactly (m an integer); finite values only. */
export interface Dyadic {
  readonly m: bigint;
  readonly e: number;
}

const view = new DataView(new ArrayBuffer(8));

/** The exact value of a finite binary64 number as m·2^e. */
export function dyadic(v: number): Dyadic {
  if (!Number.isFinite(v)) throw new RangeError(`not finite: ${v}`);
  view.setFloat64(0, v);
  const hi = view.getUint32(0), lo = view.getUint32(4);
  const negative = (hi >>> 31) === 1;
  const biased = (hi >>> 20) & 0x7ff;
  let m = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  let e: number;
  if (biased === 0) e = -1074;
  else {
    m |= 1n << 52n;
    e = biased - 1075;
  }
  if (m === 0n) return { m: 0n, e: 0 };
  // Strip trailing zero bits so common exponents stay small.
  while ((m & 0xffffn) === 0n) {
    m >>= 16n;
    e += 16;
  }
  while ((m & 1n) === 0n) {
    m >>= 1n;
    e += 1;
  }
  return { m: negative ? -m : m, e };
}

/** 2^e as a rational. */
export function pow2(e: number): Rational {
  return e >= 0 ? { n: 1n << BigInt(e), d: 1n } : { n: 1n, d: 1n << BigInt(-e) };
}

/** The exact value of a finite binary64 number as a rational. */
export function fromNumber(v: number): Rational {
  const { m, e } = dyadic(v);
  return e >= 0 ? { n: m << BigInt(e), d: 1n } : { n: m, d: 1n << BigInt(-e) };
}

/**
 * The value of `dtype` nearest to the rational r (ties to even), as a binary64
 * number: one rounding of the exact value, straight into the dtype. Overflow
 * gives ±Infinity (beyond the largest finite value plus half an ulp); an exact
 * zero gives +0, a negative value that rounds to zero gives -0.
 */
export function roundRational(r: Rational, dtype: DType): number {
  if (r.n === 0n) return 0;
  const { precision, minExponent, maxFinite } = formatInfo(dtype);
  const negative = r.n < 0n;
  const n = negative ? -r.n : r.n, d = r.d;
  // e = floor(log2(n/d)).
  let e = bitLength(n) - bitLength(d);
  if (e >= 0 ? n < (d << BigInt(e)) : (n << BigInt(-e)) < d) e -= 1;
  const q = Math.max(e, minExponent) - precision + 1; // exponent of the quantum
  // m = n / (d·2^q), with remainder.
  let num = n, den = d;
  if (q >= 0) den = d << BigInt(q);
  else num = n << BigInt(-q);
  let m = num / den;
  const rem2 = (num - m * den) * 2n;
  if (rem2 > den || (rem2 === den && (m & 1n) === 1n)) m += 1n;
  let value: number;
  if (m === 0n) value = 0;
  else {
    // m <= 2^precision; the result m·2^q is exact in binary64 when it is finite in the dtype.
    const bits = bitLength(m) + q - 1; // exponent of the result
    if (bits > 1023) value = Infinity;
    else value = Number(m) * 2 ** q;
    if (value > maxFinite) value = Infinity;
  }
  return negative ? -value : value;
}
