/**
 * The exact evaluator: the mathematically exact value of every output of a
 * BatchNorm step, under any convention the fixture format states, rounded
 * correctly (round to nearest, ties to even, one rounding) into any dtype.
 *
 * It is written apart from the reference's float kernels and shares no code
 * with them (`src/reference/batch_norm.ts`): every quantity is an exact
 * rational on BigInt (`_rational.ts`), or, where a square root enters, an
 * element p + q·√R of the field Q(√R) of the channel (R = var + ε, or var for
 * ε outside the root). Such an element is rounded by bracketing √R with integer
 * square roots to more and more bits until both ends of the enclosure round to
 * the same value; when √R is irrational and q ≠ 0 the value is irrational and
 * never a rounding boundary, so this ends; when √R is rational everything is a
 * rational and is rounded directly. From the reference it imports only types
 * and the dtype table (`formatInfo`, through `_rational.ts`).
 *
 * Non-finite inputs (NaN, ±Infinity in x, dy, γ, β or the running statistics)
 * follow IEEE 754 rules on the exact values of the definitional formulas
 * (FORMAT.md): Infinity − Infinity and 0·Infinity are NaN, a finite value added
 * to an infinity leaves it, 1/∞ = 0. Sums over the elements of a channel are
 * exact; a sum with an infinite or NaN term is that term's IEEE sum.
 *
 * The definitional formulas, per channel with n values (mean and var the batch
 * statistics in training or without tracked statistics, the running ones
 * otherwise; ε = max(epsilon, epsilon_floor)):
 *
 *     var   = Σ(x − mean)² / n                         (biased)
 *     s     = 1/√(var + ε)  or  1/(√var + ε)            (saved_invstd; 0 or +∞ when both are 0)
 *     y     = γ·(x − mean)·s + β
 *     dbeta = Σ dy,   dgamma = Σ dy·(x − mean)·s
 *     dx    = γ·s·dy                                    (running statistics)
 *     dx    = γ·s·(dy − dbeta/n − (x − mean)·s·dgamma/n)  (batch, ε inside)
 *     dx    = γ·((dy − dbeta/n)·s − (x − mean)·Σdy·(x − mean)/(n·√var)·s²)  (batch, ε outside; 0 for var 0)
 *             (the second term is NaN where s = +∞: var = ε = 0 under "ieee", x̂ = 0·∞ as inside)
 *     r'    = (1 − w)·r + w·b,  w = m | 1 − m | 1/(num_batches_tracked + 1)
 *
 * @module
 */

import type { DType } from "../reference/dtype.ts";
import { tensorDType } from "./fixture.ts";
import type { StepOutputs, StepRequest } from "./harness.ts";
import {
  add as radd,
  bitLength,
  cmp,
  dyadic,
  fromNumber,
  inv as rinv,
  isqrt,
  mul as rmul,
  ONE,
  pow2,
  rat,
  type Rational,
  reduce,
  roundRational,
  sign as rsign,
  sub as rsub,
  ZERO,
} from "./_rational.ts";

/** An element p + q·√R of the channel's field (q = 0 when √R is rational). */
interface F {
  readonly p: Rational;
  readonly q: Rational;
}

/** A value: an element of the field, or a non-finite number (NaN, ±Infinity) as a JS number. */
type Val = F | number;

const F0: F = { p: ZERO, q: ZERO };

function lift(r: Rational): F {
  return { p: r, q: ZERO };
}

/** Q(√R) for one channel, with IEEE rules for the non-finite values. */
class Field {
  /** R as given. */
  readonly r: Rational;
  /** √R when it is rational. */
  readonly root?: Rational;
  #enclosures = new Map<number, bigint>();

  constructor(r: Rational) {
    this.r = reduce(r);
    const prod = this.r.n * this.r.d;
    const s = isqrt(prod);
    if (s * s === prod) this.root = rat(s, this.r.d); // √(n/d) = √(n·d)/d
  }

  /** √R as an element. */
  sqrt(): F {
    return this.root ? lift(this.root) : { p: ZERO, q: ONE };
  }

  signF(a: F): -1 | 0 | 1 {
    const sp = rsign(a.p), sq = rsign(a.q);
    if (sq === 0 || this.root) return this.root ? rsign(radd(a.p, rmul(a.q, this.root))) : sp;
    if (sp === 0 || sp === sq) return sq;
    // Opposite signs: compare p² with q²·R.
    const c = cmp(rmul(a.p, a.p), rmul(rmul(a.q, a.q), this.r));
    return c === 0 ? 0 : c > 0 ? sp : sq;
  }

  sign(a: Val): number {
    return typeof a === "number" ? Math.sign(a) : this.signF(a);
  }

  add(a: Val, b: Val): Val {
    if (typeof a === "number") return typeof b === "number" ? a + b : a;
    if (typeof b === "number") return b;
    return { p: radd(a.p, b.p), q: radd(a.q, b.q) };
  }

  neg(a: Val): Val {
    return typeof a === "number" ? -a : { p: { n: -a.p.n, d: a.p.d }, q: { n: -a.q.n, d: a.q.d } };
  }

  sub(a: Val, b: Val): Val {
    return this.add(a, this.neg(b));
  }

  mul(a: Val, b: Val): Val {
    if (typeof a === "number" || typeof b === "number") {
      const x = typeof a === "number" ? a : this.signF(a), y = typeof b === "number" ? b : this.signF(b);
      return x * y; // a special times a finite's sign: IEEE's product (∞·0 = NaN)
    }
    if (a.q.n === 0n && b.q.n === 0n) return lift(rmul(a.p, b.p));
    return {
      p: radd(rmul(a.p, b.p), rmul(rmul(a.q, b.q), this.r)),
      q: radd(rmul(a.p, b.q), rmul(a.q, b.p)),
    };
  }

  scale(a: Val, r: Rational): Val {
    return this.mul(a, lift(r));
  }

  /** 1/a; 1/±∞ = 0; 1/0 = +∞ (the callers decide zero variance before dividing). */
  inv(a: Val): Val {
    if (typeof a === "number") return Number.isNaN(a) ? NaN : F0;
    if (a.q.n === 0n) return a.p.n === 0n ? Infinity : lift(rinv(a.p));
    const den = rsub(rmul(a.p, a.p), rmul(rmul(a.q, a.q), this.r)); // non-zero: √R is irrational here
    return { p: rmul(a.p, rinv(den)), q: rmul({ n: -a.q.n, d: a.q.d }, rinv(den)) };
  }

  /** √R enclosed in [L, L+1]/2^k. */
  #enclosure(k: number): bigint {
    let l = this.#enclosures.get(k);
    if (l === undefined) {
      l = isqrt((this.r.n << BigInt(2 * k)) / this.r.d);
      this.#enclosures.set(k, l);
    }
    return l;
  }

  /** The value of `dtype` nearest to a (ties to even). */
  round(a: Val, dtype: DType): number {
    if (typeof a === "number") return a;
    if (a.q.n === 0n) return roundRational(a.p, dtype);
    if (this.root) return roundRational(radd(a.p, rmul(a.q, this.root)), dtype);
    // Irrational: bracket until both ends round alike. Start with enough bits for the magnitudes involved.
    let k = 64 + Math.max(0, bitLength(a.p.d) - bitLength(a.p.n), bitLength(a.q.d) - bitLength(a.q.n));
    for (let guard = 0; guard < 40; guard++, k *= 2) {
      const l = this.#enclosure(k);
      const den = 1n << BigInt(k);
      const lo = radd(a.p, rmul(a.q, rat(l, den))), hi = radd(a.p, rmul(a.q, rat(l + 1n, den)));
      const u = roundRational(lo, dtype), v = roundRational(hi, dtype);
      if (u === v) return u;
    }
    throw new Error("exact evaluator: rounding did not converge (an irrational value cannot sit on a boundary)");
  }
}

/** |r| */
function rabs(r: Rational): Rational {
  return r.n < 0n ? { n: -r.n, d: r.d } : r;
}

/**
 * The running statistics' update r' = keep·r + w·b: the batch value's weight w, keep = 1 − w, and the Bessel
 * factor of `running_variance` (0 for an empty batch).
 */
function momentumWeights(
  c: NonNullable<StepRequest["convention"]>,
  nbtAfter: number,
  n: number,
): { w: Rational; keep: Rational; corr: Rational } {
  const w = c.momentumKind === "new"
    ? fromNumber(c.momentum!)
    : c.momentumKind === "old"
    ? rsub(ONE, fromNumber(c.momentum!))
    : rat(1n, BigInt(nbtAfter));
  const bn = BigInt(n);
  const corr = c.runningVariance === "biased"
    ? ONE
    : n === 0
    ? ZERO
    : c.runningVariance === "bessel"
    ? rat(bn, bn - 1n)
    : rat(bn, n > 1 ? bn - 1n : 1n);
  return { w, keep: rsub(ONE, w), corr };
}

/** What {@linkcode channelScales} needs of one channel's evaluation. */
interface ChannelFacts {
  readonly useBatch: boolean;
  readonly train: boolean;
  readonly tracked: boolean;
  readonly n: number;
  readonly xs: readonly number[];
  /** The channel's dy, when the step has one. */
  readonly dys?: readonly number[];
  readonly gamma: number;
  readonly beta: number;
  readonly rm: number;
  readonly rv: number;
  /** The batch statistics (a number: not finite, or no statistics for an empty batch). */
  readonly mean: Val;
  readonly variance: Val;
  /** invstd rounded to binary64 (0, +∞ or NaN for the special cases). */
  readonly u: number;
  /** x − μ exactly, μ the statistic the step normalizes with, when it and x are finite. */
  readonly devFinite?: readonly Rational[];
  /** Σ|dy·(x − μ)| exactly, when everything is finite. */
  readonly sumAbsDyDev?: Rational;
  readonly emptyUnchanged: boolean;
  /** Epsilon inside the root. */
  readonly inside: boolean;
  /** The running update's weights (tracked training steps). */
  readonly weights?: { w: Rational; keep: Rational; corr: Rational };
}

/**
 * One channel's error scale of every output (FORMAT.md, "Scale"): the magnitude of the terms an implementation
 * forms to compute the output. Exact sums are rounded once to binary64; the products and sums that combine them are
 * binary64 arithmetic in a fixed order (the scales only choose the ULP), and a scale that is not finite is 0. A
 * channel whose x or dy (or, normalizing with running statistics, whose running mean or variance) is not finite has
 * scale 0 everywhere; a NaN or infinite γ or β gives y and dx scale 0; a NaN or infinite running statistic gives the
 * running outputs scale 0.
 */
function channelScales(scales: Map<string, number[]>, ch: number, f: ChannelFacts): void {
  const set = (name: string, v: number) => {
    const a = scales.get(name);
    if (a) a[ch] = v;
  };
  const fin = (v: number) => (Number.isFinite(v) ? v : 0);
  const f64 = (r: Rational) => roundRational(r, "float64");
  const dys = f.dys ?? [];
  if (!f.xs.every(finite) || !dys.every(finite) || (!f.useBatch && !(finite(f.rm) && finite(f.rv)))) return;
  const invN = f.n === 0 ? ZERO : rat(1n, BigInt(f.n));
  const absMean = rmul(exactSum(f.xs.map(Math.abs)), invN);
  const u = f.u;
  // The statistic the step normalizes with; none for an empty batch without statistics.
  const noStats = f.useBatch && typeof f.mean === "number";
  const mUse = noStats ? 0 : f.useBatch ? f64((f.mean as F).p) : f.rm;
  const absM = Math.abs(mUse);
  let maxD = 0;
  if (!noStats) { for (const d of f.devFinite ?? []) maxD = Math.max(maxD, Math.abs(f64(d))); }
  const gbFinite = finite(f.gamma) && finite(f.beta);
  const absG = Math.abs(f.gamma);

  if (f.train) {
    set("batch_mean", f64(absMean));
    set("batch_var", typeof f.variance === "number" ? 0 : f64(f.variance.p));
    set("saved_invstd", finite(u) ? u : 0);
    if (f.weights) {
      let sm: number, sv: number;
      if (f.n === 0 && f.emptyUnchanged) {
        sm = fin(Math.abs(f.rm));
        sv = fin(Math.abs(f.rv));
      } else if (typeof f.mean === "number" || typeof f.variance === "number" || !finite(f.rm) || !finite(f.rv)) {
        sm = sv = 0;
      } else {
        const { w, keep, corr } = f.weights;
        sm = f64(radd(rmul(rabs(keep), rabs(fromNumber(f.rm))), rmul(rabs(w), absMean)));
        sv = f64(radd(rmul(rabs(keep), rabs(fromNumber(f.rv))), rmul(rmul(rabs(w), corr), f.variance.p)));
      }
      set("running_mean", sm);
      set("running_var", sv);
    }
  }
  set("y", gbFinite ? fin(absG * (maxD + absM) * u + Math.abs(f.beta)) : 0);
  if (!f.dys) return;
  const sumAbsDy = exactSum(dys.map(Math.abs));
  set("dbeta", f64(sumAbsDy));
  if (noStats) return;
  const sabs = f.sumAbsDyDev ?? ZERO;
  set("dgamma", fin((f64(sabs) + absM * f64(sumAbsDy)) * u));
  if (!f.useBatch) {
    // Format 1.3: dmean's terms γ·u·dy; dvar's those of γ·u²·Σdy(x − m)/2 (inside) or γ·u·Σdy(x − m)·u/(2σ) (outside).
    const sdg = (f64(sabs) + absM * f64(sumAbsDy)) * u;
    set("dmean", fin(absG * u * f64(sumAbsDy)));
    const sigma = f.inside ? 0 : Math.sqrt(f.rv);
    set("dvar", f.inside ? fin(absG * sdg * u * u / 2) : sigma > 0 ? fin(absG * sdg * u / (2 * sigma)) : 0);
  }
  if (!gbFinite) return;
  let maxDy = 0;
  for (const v of dys) maxDy = Math.max(maxDy, Math.abs(v));
  if (!f.useBatch) {
    set("dx", fin(absG * u * maxDy));
    return;
  }
  if (!finite(u)) return;
  const meanAbsDy = f64(rmul(sumAbsDy, invN));
  const second = f64(rmul(sabs, invN)) * (maxD + absM) * u * u;
  set("dx", fin(absG * u * (maxDy + meanAbsDy) + absG * u * second));
}

/**
 * Format 1.3: dmean and dvar of one channel of an eval step, the gradients of sum(y·dy) with respect to the running
 * mean m and variance v it normalizes with (s = invstd, P = Σdy·(x − m), Σdy = dbeta). Inside the root:
 * dmean = −γ·s·Σdy, dvar = −½γ·s³·P; outside, with σ = √v: dmean = −γ·s·Σdy, dvar = −γ·P·s²/(2σ). A zero invstd
 * (the `zero` rule: y = β whatever the statistics) gives 0 for both; an infinite or NaN invstd or γ gives dmean's IEEE
 * product and a NaN dvar; σ = 0 outside the root gives a dvar of ±∞ (NaN when P = 0), the derivative at the root's
 * branch point. The same rules as the Python oracle's `stat_gradients_channel`.
 */
function statisticsGradients(K: Field, inside: boolean, G: Val, s: Val, sigma: Val, dbeta: Val, P: Val): [Val, Val] {
  if (typeof s !== "number" && K.signF(s) === 0) return [F0, F0];
  const dmean = K.mul(K.mul(K.neg(G), s), dbeta);
  if (typeof s === "number" || typeof G === "number") return [dmean, NaN];
  if (typeof P === "number") return [dmean, K.scale(K.mul(K.mul(K.mul(G, s), s), K.mul(P, s)), rat(-1n, 2n))];
  if (inside) return [dmean, K.scale(K.mul(K.mul(K.mul(G, s), s), K.mul(P, s)), rat(-1n, 2n))];
  if (typeof sigma === "number" || K.signF(sigma) === 0) {
    const sp = K.signF(P);
    return [dmean, sp === 0 ? NaN : -K.signF(G) * sp * Infinity];
  }
  return [dmean, K.scale(K.mul(K.mul(K.mul(G, P), K.mul(s, s)), K.inv(sigma)), rat(-1n, 2n))];
}

/** The exact outputs of one step, before rounding. */
interface Evaluation {
  readonly outputs: Map<string, { shape: number[]; channels: number[]; values: Val[]; fields: Field[] }>;
  /** Each output's error scale per channel (FORMAT.md, "Scale"), in binary64. */
  readonly scales: Map<string, number[]>;
  readonly numBatchesTracked?: number;
  readonly error?: { code: string; message: string };
}

const finite = (v: number) => Number.isFinite(v);

/** Σ of values, exactly: the integers of a common binary exponent. */
function exactSum(values: readonly number[]): Rational {
  if (values.length === 0) return ZERO;
  const ds = values.map(dyadic);
  const e = Math.min(...ds.map((d) => d.e));
  let s = 0n;
  for (const d of ds) s += d.m << BigInt(d.e - e);
  return rmul(rat(s), pow2(e));
}

/** The IEEE sum of the non-finite terms (finite terms do not change it). */
function specialSum(values: readonly Val[]): number | undefined {
  let acc: number | undefined;
  for (const v of values) if (typeof v === "number") acc = acc === undefined ? v : acc + v;
  return acc;
}

/**
 * Evaluates one step exactly.
 *
 * @param request The step: mode, dtype, complete convention, x, dy, state.
 * @returns Exact outputs (rounded later), or the refusal the convention calls for.
 */
function evaluate(request: StepRequest): Evaluation {
  const c = request.convention;
  if (!c) throw new Error("the exact evaluator needs a complete convention");
  const { x, dy, mode, state } = request;
  const rank = x.shape.length;
  const axis = c.axis < 0 ? c.axis + rank : c.axis;
  const channels = x.shape[axis];
  const outer = x.shape.slice(0, axis).reduce((a, b) => a * b, 1);
  const inner = x.shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const n = outer * inner;
  const tracked = c.trackRunningStats;
  const useBatch = mode === "train" || !tracked;
  const refuse = (code: string, message: string): Evaluation => ({
    outputs: new Map(),
    scales: new Map(),
    error: { code, message },
  });
  if (useBatch && n === 0 && c.emptyBatch === "error") return refuse("empty_batch", "empty batch");
  if (useBatch && n === 1 && c.singleValueTraining === "error") {
    return refuse("single_value_per_channel", "one value per channel");
  }
  const rv0 = state.running_var?.data;
  if (tracked && rv0 && Array.prototype.some.call(rv0, (v: number) => v < 0)) {
    return refuse("negative_variance", "negative running variance");
  }
  if (mode === "train" && tracked && c.runningVariance === "bessel" && n === 1) {
    return refuse("single_value_per_channel", "Bessel factor with one value per channel");
  }
  const epsR = fromNumber(Math.max(c.epsilon, c.epsilonFloor));
  const epsZero = epsR.n === 0n;
  const index = (o: number, ch: number, i: number) => (o * channels + ch) * inner + i;

  // Format 1.3: beta (center) and gamma (scale) apart; absent, both follow affine (FORMAT.md).
  const center = c.center ?? c.affine, scaled = c.scale ?? c.affine;
  const names = ["y"];
  if (mode === "train") names.push("batch_mean", "batch_var", "saved_invstd");
  if (mode === "train" && tracked) names.push("running_mean", "running_var");
  if (dy) names.push("dx", ...(scaled ? ["dgamma"] : []), ...(center ? ["dbeta"] : []));
  // Format 1.3: dmean and dvar, the gradients with respect to the running statistics, when the step asks for them.
  const statGradients = request.statGradients === true && mode === "eval" && tracked && dy !== undefined;
  if (statGradients) names.push("dmean", "dvar");
  const outputs: Evaluation["outputs"] = new Map();
  const scales: Evaluation["scales"] = new Map(names.map((name) => [name, new Array<number>(channels).fill(0)]));
  for (const name of names) {
    const full = name === "y" || name === "dx";
    const size = full ? x.data.length : channels;
    outputs.set(name, {
      shape: full ? [...x.shape] : [channels],
      channels: new Array(size),
      values: new Array(size),
      fields: [],
    });
  }
  const put = (name: string, k: number, v: Val, field: Field) => {
    const o = outputs.get(name)!;
    o.values[k] = v;
    if (o.fields.at(-1) !== field) o.fields.push(field);
    o.channels[k] = o.fields.length - 1;
  };
  const num = (v: number): Val => (finite(v) ? lift(fromNumber(v)) : v);

  for (let ch = 0; ch < channels; ch++) {
    const idx: number[] = [];
    for (let o = 0; o < outer; o++) for (let i = 0; i < inner; i++) idx.push(index(o, ch, i));
    const xs = idx.map((k) => x.data[k]);
    const dys = dy ? idx.map((k) => dy.data[k]) : [];
    const gamma = scaled ? state.gamma!.data[ch] : 1, beta = center ? state.beta!.data[ch] : 0;
    const rm = state.running_mean?.data[ch] ?? 0, rv = state.running_var?.data[ch] ?? 1;

    // Statistics and deviations, exact where finite.
    let mean: Val, variance: Val;
    let devs: Val[];
    let devFinite: Rational[] | undefined; // the deviations, when all are finite
    if (useBatch) {
      if (n === 0) {
        const fill = c.emptyBatch === "zero" ? F0 : NaN;
        mean = fill;
        variance = fill;
        devs = [];
        devFinite = [];
      } else if (xs.every(finite)) {
        const ds = xs.map(dyadic);
        const e = Math.min(...ds.map((d) => d.e));
        const ints = ds.map((d) => d.m << BigInt(d.e - e));
        let s = 0n;
        for (const v of ints) s += v;
        const bn = BigInt(n);
        const scale = rmul(pow2(e), rat(1n, bn)); // a deviation is (n·X − S)·2^e/n
        const dInts = ints.map((v) => bn * v - s);
        let q = 0n;
        for (const d of dInts) q += d * d;
        mean = lift(rmul(rat(s, bn), pow2(e)));
        variance = lift(rmul(rmul(rat(q), rmul(scale, scale)), rat(1n, bn)));
        devFinite = dInts.map((d) => rmul(rat(d), scale));
        devs = devFinite.map(lift);
      } else {
        const sum = specialSum(xs.map(num))!;
        mean = sum;
        variance = NaN;
        devs = xs.map((v) => (Number.isNaN(sum) ? NaN : finite(v) ? -sum : v - sum));
      }
    } else {
      mean = num(rm);
      variance = num(rv);
      if (finite(rm) && xs.every(finite)) {
        const rmR = fromNumber(rm);
        devFinite = xs.map((v) => rsub(fromNumber(v), rmR));
        devs = devFinite.map(lift);
      } else {
        devs = xs.map((v) => (finite(v) && finite(rm) ? lift(rsub(fromNumber(v), fromNumber(rm))) : v - rm));
      }
    }

    // The field and the inverse standard deviation.
    let field: Field;
    let s: Val;
    let sigma: Val = NaN; // √var, for epsilon outside
    if (typeof variance === "number") {
      field = new Field(ZERO);
      s = Number.isNaN(variance) ? NaN : F0; // 1/√∞ = 0
      sigma = variance;
    } else {
      const v = variance.p;
      const zeroBoth = v.n === 0n && epsZero;
      if (c.epsilonPlacement === "inside") {
        field = new Field(radd(v, epsR));
        s = zeroBoth ? (c.zeroVarianceInvStd === "zero" ? F0 : Infinity) : field.inv(field.sqrt());
      } else {
        field = new Field(v);
        sigma = field.sqrt();
        s = zeroBoth ? (c.zeroVarianceInvStd === "zero" ? F0 : Infinity) : field.inv(field.add(sigma, lift(epsR)));
      }
    }
    const K = field;
    const G = num(gamma), B = num(beta);

    // y
    for (const [j, k] of idx.entries()) put("y", k, K.add(K.mul(K.mul(G, devs[j]), s), B), K);

    if (mode === "train") {
      put("batch_mean", ch, mean, K);
      put("batch_var", ch, variance, K);
      put("saved_invstd", ch, s, K);
      if (tracked) {
        const nbt = state.num_batches_tracked + 1;
        let newMean: Val, newVar: Val;
        if (n === 0 && c.emptyBatch === "unchanged") {
          newMean = num(rm);
          newVar = num(rv);
        } else {
          const { w, keep, corr } = momentumWeights(c, nbt, n);
          newMean = K.add(K.scale(num(rm), keep), K.scale(mean, w));
          newVar = K.add(K.scale(num(rv), keep), K.scale(K.scale(variance, corr), w));
        }
        put("running_mean", ch, newMean, K);
        put("running_var", ch, newVar, K);
      }
    }

    let sumAbsDyDev: Rational | undefined; // Σ|dy·(x − mean)|, exact, when everything is finite
    if (dy) {
      const dyVals = dys.map(num);
      const dbeta: Val = dys.every(finite) ? lift(exactSum(dys)) : specialSum(dyVals)!;
      // P = Σ dy·(x − mean)
      let P: Val;
      if (devFinite && dys.every(finite)) {
        let acc = ZERO, accAbs = ZERO;
        const dd = dys.map(fromNumber);
        // Deviations share a denominator in the batch case; sum numerators over it when they do.
        const den = devFinite.length ? devFinite[0].d : 1n;
        if (devFinite.every((d) => d.d === den)) {
          const dyE = Math.min(...dys.map((v) => dyadic(v).e), 0);
          let t = 0n, tAbs = 0n;
          for (const [j, d] of devFinite.entries()) {
            const { m, e } = dyadic(dys[j]);
            const term = d.n * (m << BigInt(e - dyE));
            t += term;
            tAbs += term < 0n ? -term : term;
          }
          acc = rmul(rat(t, den), pow2(dyE));
          accAbs = rmul(rat(tAbs, den), pow2(dyE));
        } else {
          for (const [j, d] of devFinite.entries()) {
            const term = rmul(dd[j], d);
            acc = reduce(radd(acc, term));
            accAbs = reduce(radd(accAbs, rabs(term)));
          }
        }
        P = lift(acc);
        sumAbsDyDev = accAbs;
      } else {
        P = specialSum(dyVals.map((v, j) => K.mul(v, devs[j])))!;
        if (P === undefined) P = NaN; // unreachable: a non-finite deviation makes a non-finite term
      }
      const dgamma: Val = typeof s === "number"
        ? dyVals.reduce<Val>((acc, v, j) => K.add(acc, K.mul(K.mul(v, devs[j]), s)), F0)
        : K.mul(P, s);
      if (scaled) put("dgamma", ch, dgamma, K);
      if (center) put("dbeta", ch, dbeta, K);
      if (statGradients) {
        const [dmean, dvar] = statisticsGradients(K, c.epsilonPlacement === "inside", G, s, sigma, dbeta, P);
        put("dmean", ch, dmean, K);
        put("dvar", ch, dvar, K);
      }
      const invN = n === 0 ? ZERO : rat(1n, BigInt(n));
      if (!useBatch) {
        const a = K.mul(G, s);
        for (const [j, k] of idx.entries()) put("dx", k, K.mul(a, dyVals[j]), K);
      } else if (c.epsilonPlacement === "inside") {
        const a = K.scale(dbeta, invN), b = K.scale(dgamma, invN), gs = K.mul(G, s);
        for (const [j, k] of idx.entries()) {
          const xhat = K.mul(devs[j], s);
          put("dx", k, K.mul(gs, K.sub(K.sub(dyVals[j], a), K.mul(xhat, b))), K);
        }
      } else {
        const a = K.scale(dbeta, invN);
        let second: Val = F0;
        if (s === Infinity) {
          // σ = 0 and ε = 0 under "ieee": x̂ = 0·∞ is NaN, and so is dx, as inside the root (FORMAT.md).
          second = NaN;
        } else if (typeof sigma === "number" || K.signF(sigma) !== 0) {
          second = K.mul(K.mul(K.scale(P, invN), K.inv(sigma)), K.mul(s, s));
        }
        for (const [j, k] of idx.entries()) {
          put("dx", k, K.mul(G, K.sub(K.mul(K.sub(dyVals[j], a), s), K.mul(devs[j], second))), K);
        }
      }
    }
    channelScales(scales, ch, {
      useBatch,
      train: mode === "train",
      tracked,
      n,
      xs,
      dys: dy ? dys : undefined,
      gamma,
      beta,
      rm,
      rv,
      mean,
      variance,
      u: typeof s === "number" ? s : K.round(s, "float64"),
      devFinite,
      sumAbsDyDev,
      emptyUnchanged: c.emptyBatch === "unchanged",
      inside: c.epsilonPlacement === "inside",
      weights: tracked && mode === "train" ? momentumWeights(c, state.num_batches_tracked + 1, n) : undefined,
    });
  }
  return {
    outputs,
    scales,
    ...(mode === "train" && tracked ? { numBatchesTracked: state.num_batches_tracked + 1 } : {}),
  };
}

function rounded(ev: Evaluation, dtype: DType | ((name: string) => DType)): StepOutputs {
  if (ev.error) return { error: ev.error };
  const outputs: Record<string, { shape: readonly number[]; data: Float64Array }> = {};
  for (const [name, o] of ev.outputs) {
    const data = new Float64Array(o.values.length);
    const d = typeof dtype === "function" ? dtype(name) : dtype;
    for (let k = 0; k < data.length; k++) data[k] = o.fields[o.channels[k]].round(o.values[k], d);
    outputs[name] = { shape: o.shape, data };
  }
  return ev.numBatchesTracked === undefined ? { outputs } : { outputs, num_batches_tracked: ev.numBatchesTracked };
}

/**
 * The exact outputs of one step, each correctly rounded into `dtype` (one
 * rounding of the exact value, ties to even), or the refusal the convention
 * calls for (`empty_batch`, `single_value_per_channel`, `negative_variance`).
 * Needs a complete convention in the request.
 *
 * @param request The step, as the harness builds it.
 * @param dtype The format to round into; default the request's dtype.
 * @returns Outputs named as in a fixture's `expected`, with `num_batches_tracked` after a tracked training step.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { exactStep, PRESETS, tensor } from "../../mod.ts";
 * const out = exactStep({
 *   mode: "train", dtype: "float64", convention: { ...PRESETS.pytorch, epsilon: 0 },
 *   x: tensor("float64", [2, 1], [1, 3]),
 *   state: { gamma: tensor("float64", [1], [1]), beta: tensor("float64", [1], [0]),
 *     running_mean: tensor("float64", [1], [0]), running_var: tensor("float64", [1], [1]), num_batches_tracked: 0 },
 * });
 * assert(out.outputs!.y.data[0] === -1 && out.outputs!.running_var.data[0] === 1.1);
 * ```
 */
export function exactStep(request: StepRequest, dtype: DType = request.dtype): StepOutputs {
  return rounded(evaluate(request), dtype);
}

/**
 * The exact outputs of a mixed-precision step (format 1.3), each correctly rounded into its own group's dtype
 * (`request.dtypes`; without them, every output into `request.dtype`): what a correctly rounded mixed-precision
 * implementation answers.
 *
 * @param request The step.
 * @returns Each output rounded once into its own dtype.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { PRESETS, tensor } from "../../mod.ts";
 * import { exactStepMixed } from "./exact.ts";
 * const dtypes = { data: "float16", params: "float32", running: "float32", saved: "float32" } as const;
 * const out = exactStepMixed({
 *   mode: "train", dtype: "float16", dtypes, convention: PRESETS.pytorch, x: tensor("float16", [3, 1], [0, 1, 3]),
 *   state: { gamma: tensor("float32", [1], [1]), beta: tensor("float32", [1], [0]), num_batches_tracked: 0 },
 * });
 * assert(out.outputs!.batch_mean.data[0] === Math.fround(4 / 3)); // float32, not float16's 1.333984375
 * ```
 */
export function exactStepMixed(request: StepRequest): StepOutputs {
  return rounded(evaluate(request), (name) => tensorDType(request, name));
}

/**
 * The exact outputs of one step rounded into several dtypes at once (the
 * evaluation is shared; only the rounding is repeated).
 *
 * @param request The step.
 * @param dtypes The formats to round into.
 * @returns One answer per dtype, in order.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { exactStepIn, PRESETS, tensor } from "../../mod.ts";
 * const [f32, f64] = exactStepIn({
 *   mode: "eval", dtype: "float32", convention: { ...PRESETS.pytorch, epsilon: 0 },
 *   x: tensor("float32", [1, 1], [1]),
 *   state: { gamma: tensor("float32", [1], [1]), beta: tensor("float32", [1], [0]),
 *     running_mean: tensor("float32", [1], [0]), running_var: tensor("float32", [1], [3]), num_batches_tracked: 0 },
 * }, ["float32", "float64"]);
 * assert(f32.outputs!.y.data[0] === Math.fround(1 / Math.sqrt(3)) && f64.outputs!.y.data[0] === 0.5773502691896257);
 * ```
 */
export function exactStepIn(request: StepRequest, dtypes: readonly DType[]): StepOutputs[] {
  const ev = evaluate(request);
  return dtypes.map((d) => rounded(ev, d));
}

/**
 * The exact outputs of one step rounded into several dtypes, with each output's
 * error scale per channel (FORMAT.md, "Scale": the `exact_scale` of format
 * 1.2), as the Python oracle writes them into the fixtures. A refused step has
 * no scales.
 *
 * @param request The step.
 * @param dtypes The formats to round into.
 * @returns One answer per dtype, in order, and the scales by output name (one number per channel).
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { exactStepWithScales, PRESETS, tensor } from "../../mod.ts";
 * const { answers: [f64], scales } = exactStepWithScales({
 *   mode: "train", dtype: "float64", convention: { ...PRESETS.pytorch, epsilon: 0 },
 *   x: tensor("float64", [2, 1], [1, 3]), dy: tensor("float64", [2, 1], [1, 1]),
 *   state: { gamma: tensor("float64", [1], [1]), beta: tensor("float64", [1], [0]),
 *     running_mean: tensor("float64", [1], [0]), running_var: tensor("float64", [1], [1]), num_batches_tracked: 0 },
 * }, ["float64"]);
 * // dx is exactly 0 (two values per channel, eps 0); its scale is that of its terms (2 + 3).
 * assert(f64.outputs!.dx.data[0] === 0 && scales!.dx[0] === 5 && scales!.y[0] === 3);
 * ```
 */
export function exactStepWithScales(
  request: StepRequest,
  dtypes: readonly DType[],
): { answers: StepOutputs[]; scales?: Record<string, number[]> } {
  const ev = evaluate(request);
  return {
    answers: dtypes.map((d) => rounded(ev, d)),
    ...(ev.error ? {} : { scales: Object.fromEntries(ev.scales) }),
  };
}
