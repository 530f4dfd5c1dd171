/**
 * The float64 path of the reference: per-element loops in double-double
 * arithmetic, so that float64 outputs are correctly rounded (within 0.5 ULP of
 * the exact value, plus a hair of about 2^-100 of the magnitudes of the terms
 * that form them; see README "Accuracy").
 *
 * Why: in binary64 alone, an output that is much smaller than its terms (dgamma
 * when dy is nearly orthogonal to x̂; y = γ·x̂ + β near 0; statistics when
 * |mean|/std is large) keeps the terms' rounding errors, hundreds of ULP of the
 * result. Here every per-element product is exact (TwoProduct), every sum is
 * compensated into a double-double (TwoSum), and each output is rounded once.
 * float32/float16/bfloat16 outputs keep the binary64 path of batch_norm.ts:
 * 29 or more extra bits make them correctly rounded unless an output cancels by
 * 2^26 or more.
 *
 * Layout: element k = (o·channels + c)·inner + i, as in batch_norm.ts. Every
 * loop walks one channel's elements in increasing k.
 *
 * @module
 */

import { type DD, SPLITTER } from "./_dd.ts";

/**
 * The noise floor of the per-element double-double formulas, as a share of the magnitudes of their
 * terms: each term carries up to ~2^-104 of itself. A result below 2^-98 of its terms is
 * indistinguishable from 0 at this precision and is returned as 0: the error is then |exact|, below the
 * same bound, instead of noise, and an output that is exactly 0 (dx with two values per channel and
 * eps = 0, y of a constant channel without affine) comes out exactly 0.
 */
const FLOOR = 2 ** -98;

/** One channel's elements: the [start, end) runs of k, one per outer index. */
export interface Channel {
  readonly outer: number;
  readonly channels: number;
  readonly inner: number;
  readonly c: number;
}

/**
 * Σx over a channel as a double-double: Neumaier/Ogita–Rump–Oishi Sum2 (TwoSum
 * of each element into `s`, the exact rounding errors summed into `e`).
 * Non-finite sums come back as `[s, 0]` with `s` the binary64 sum.
 */
export function sum(x: ArrayLike<number>, ch: Channel): DD {
  const { outer, channels, inner, c } = ch;
  let s = 0, e = 0;
  for (let o = 0; o < outer; o++) {
    const end = (o * channels + c + 1) * inner;
    for (let k = end - inner; k < end; k++) {
      const v = x[k], t = s + v, b = t - s;
      e += (s - (t - b)) + (v - b);
      s = t;
    }
  }
  return Number.isFinite(s) ? [s, e] : [s, 0];
}

/**
 * The deviations d = x − m from a double-double m, summed, and their squares
 * summed: [Σd, Σd²] as double-doubles. Each d = t + dl is a TwoSum of x and
 * −m.hi, less m.lo (exact when x − m.hi is, as near the mean); d² is a
 * TwoProduct of t plus (2t + dl)·dl.
 */
export function deviations(x: ArrayLike<number>, ch: Channel, mHi: number, mLo: number): [DD, DD] {
  const { outer, channels, inner, c } = ch;
  let s1 = 0, e1 = 0, s2 = 0, e2 = 0;
  for (let o = 0; o < outer; o++) {
    const end = (o * channels + c + 1) * inner;
    for (let k = end - inner; k < end; k++) {
      const v = x[k];
      // d = t + dl, exactly x − mHi, less mLo
      const t = v - mHi, b = t - v;
      const dl = ((v - (t - b)) + (-mHi - b)) - mLo;
      // Σd
      let u = s1 + t, bb = u - s1;
      e1 += ((s1 - (u - bb)) + (t - bb)) + dl;
      s1 = u;
      // d² = t² (TwoProduct) + 2·t·dl + dl² (dl², up to (2^-53·|m|)², is not negligible when |m|/std is large)
      const sp = SPLITTER * t, th = sp - (sp - t), tl = t - th;
      const p = t * t, pe = ((th * th - p) + 2 * th * tl) + tl * tl + (2 * t + dl) * dl;
      u = s2 + p, bb = u - s2;
      e2 += ((s2 - (u - bb)) + (p - bb)) + pe;
      s2 = u;
    }
  }
  return [[s1, e1], [s2, e2]];
}

/**
 * y = A·x + B for one channel, A and B double-doubles (A = γ·invStd,
 * B = β − A·mean), rounded once per element. Where that is not finite, the
 * binary64 formula ((x − m) − m.lo)·A + shift gives the infinity or NaN.
 */
export function affine(
  x: ArrayLike<number>,
  out: { [k: number]: number },
  ch: Channel,
  A: DD,
  B: DD,
  m: DD,
  shift: number,
): void {
  const { outer, channels, inner, c } = ch;
  const [aHi, aLo] = A, [bHi, bLo] = B, [mHi, mLo] = m;
  const sa = SPLITTER * aHi, ah = sa - (sa - aHi), al = aHi - ah;
  for (let o = 0; o < outer; o++) {
    const end = (o * channels + c + 1) * inner;
    for (let k = end - inner; k < end; k++) {
      const v = x[k];
      // A·v = p + pe exactly (up to aLo·v, rounded once)
      const sv = SPLITTER * v, vh = sv - (sv - v), vl = v - vh;
      const p = aHi * v;
      const pe = ((ah * vh - p) + ah * vl + al * vh) + al * vl + aLo * v;
      // + B
      const t = p + bHi, b = t - p;
      const r = t + (((p - (t - b)) + (bHi - b)) + (pe + bLo));
      out[k] = r !== r ? ((v - mHi) - mLo) * aHi + shift : Math.abs(r) <= FLOOR * (Math.abs(p) + Math.abs(bHi)) ? 0 : r;
    }
  }
}

/**
 * Σdy and Σdy·(x − m) over a channel, as double-doubles; m a double-double
 * (the batch mean, or the running mean with mLo = 0).
 */
export function backwardSums(
  x: ArrayLike<number>,
  dy: ArrayLike<number>,
  ch: Channel,
  mHi: number,
  mLo: number,
): [DD, DD] {
  const { outer, channels, inner, c } = ch;
  let s1 = 0, e1 = 0, s2 = 0, e2 = 0;
  for (let o = 0; o < outer; o++) {
    const end = (o * channels + c + 1) * inner;
    for (let k = end - inner; k < end; k++) {
      const v = x[k], g = dy[k];
      // Σdy
      let u = s1 + g, bb = u - s1;
      e1 += (s1 - (u - bb)) + (g - bb);
      s1 = u;
      // d = t + dl = x − m
      const t = v - mHi, b = t - v;
      const dl = ((v - (t - b)) + (-mHi - b)) - mLo;
      // g·d = p + pe
      const sg = SPLITTER * g, gh = sg - (sg - g), gl = g - gh;
      const st = SPLITTER * t, th = st - (st - t), tl = t - th;
      const p = g * t, pe = ((gh * th - p) + gh * tl + gl * th) + gl * tl + g * dl;
      u = s2 + p, bb = u - s2;
      e2 += ((s2 - (u - bb)) + (p - bb)) + pe;
      s2 = u;
    }
  }
  return [Number.isFinite(s1) ? [s1, e1] : [s1, 0], Number.isFinite(s2) ? [s2, e2] : [s2, 0]];
}

/**
 * dx = P·dy − R·(x − m) − Q for one channel, P, R, Q and m double-doubles,
 * rounded once per element; `naive` terms in binary64 where the result is not finite.
 */
export function gradient(
  x: ArrayLike<number>,
  dy: ArrayLike<number>,
  out: { [k: number]: number },
  ch: Channel,
  m: DD,
  P: DD,
  R: DD,
  Q: DD,
): void {
  const { outer, channels, inner, c } = ch;
  const [mHi, mLo] = m, [pHi, pLo] = P, [rHi, rLo] = R, [qHi, qLo] = Q;
  const sp = SPLITTER * pHi, ph = sp - (sp - pHi), pl = pHi - ph;
  const sr = SPLITTER * rHi, rh = sr - (sr - rHi), rl = rHi - rh;
  if (rHi === 0 && rLo === 0 && qHi === 0 && qLo === 0) {
    // dx = P·dy
    for (let o = 0; o < outer; o++) {
      const end = (o * channels + c + 1) * inner;
      for (let k = end - inner; k < end; k++) {
        const g = dy[k];
        const sg = SPLITTER * g, gh = sg - (sg - g), gl = g - gh;
        const p = pHi * g, pe = ((ph * gh - p) + ph * gl + pl * gh) + pl * gl + pLo * g;
        const r = p + pe;
        out[k] = r === r ? r : p;
      }
    }
    return;
  }
  for (let o = 0; o < outer; o++) {
    const end = (o * channels + c + 1) * inner;
    for (let k = end - inner; k < end; k++) {
      const v = x[k], g = dy[k];
      // P·dy = p1 + e1
      const sg = SPLITTER * g, gh = sg - (sg - g), gl = g - gh;
      const p1 = pHi * g, e1 = ((ph * gh - p1) + ph * gl + pl * gh) + pl * gl + pLo * g;
      // d = t + dl = x − m
      const t = v - mHi, b = t - v;
      const dl = ((v - (t - b)) + (-mHi - b)) - mLo;
      // R·d = p2 + e2
      const st = SPLITTER * t, th = st - (st - t), tl = t - th;
      const p2 = rHi * t, e2 = ((rh * th - p2) + rh * tl + rl * th) + rl * tl + (rHi * dl + rLo * t);
      // p1 − p2 − qHi, each step a TwoSum, the errors gathered with the low parts
      const s = p1 - p2, b1 = s - p1;
      const f1 = (p1 - (s - b1)) + (-p2 - b1);
      const w = s - qHi, b2 = w - s;
      const f2 = (s - (w - b2)) + (-qHi - b2);
      const r = w + (((e1 - e2) - qLo) + (f1 + f2));
      out[k] = r !== r ? p1 - p2 - qHi : Math.abs(r) <= FLOOR * (Math.abs(p1) + Math.abs(p2) + Math.abs(qHi)) ? 0 : r;
    }
  }
}
