/**
 * Floating-point formats the suite knows, and exact rounding into them.
 *
 * Every number in this suite is carried as a JavaScript number (IEEE binary64).
 * A value "of dtype d" is a binary64 number that is exactly representable in d;
 * {@linkcode roundToDType} maps any binary64 value to the nearest such value
 * (round to nearest, ties to even, overflow to ±Infinity), which is what a
 * single IEEE rounding of the exact result would give.
 *
 * @module
 */

/**
 * A floating-point format of tensor data.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { type DType, isDType } from "../../mod.ts";
 * const d: DType = "bfloat16";
 * assert(isDType(d));
 * ```
 */
export type DType = "float64" | "float32" | "float16" | "bfloat16";

/**
 * Every dtype this suite knows, widest first.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { DTYPES } from "../../mod.ts";
 * assert(DTYPES.includes("float16") && DTYPES[0] === "float64");
 * ```
 */
export const DTYPES: readonly DType[] = Object.freeze([
  "float64",
  "float32",
  "float16",
  "bfloat16",
]);

/**
 * A typed array holding the values of a tensor. bfloat16 values live in a Float32Array.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { allocate, type TensorArray } from "../../mod.ts";
 * const a: TensorArray = allocate("bfloat16", 2);
 * assert(a instanceof Float32Array && a.length === 2);
 * ```
 */
export type TensorArray = Float64Array | Float32Array | Float16Array;

/**
 * Parameters of a binary floating-point format.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { formatInfo, type FormatInfo } from "../../mod.ts";
 * const f: FormatInfo = formatInfo("float32");
 * assert(f.precision === 24 && f.minExponent === -126);
 * ```
 */
export interface FormatInfo {
  /** Significand precision in bits, the implicit bit included. */
  readonly precision: number;
  /** Exponent of the smallest normal number. */
  readonly minExponent: number;
  /** Largest finite value. */
  readonly maxFinite: number;
}

const FORMATS: Readonly<Record<DType, FormatInfo>> = Object.freeze({
  float64: { precision: 53, minExponent: -1022, maxFinite: Number.MAX_VALUE },
  float32: {
    precision: 24,
    minExponent: -126,
    maxFinite: 3.4028234663852886e38,
  },
  float16: { precision: 11, minExponent: -14, maxFinite: 65504 },
  bfloat16: {
    precision: 8,
    minExponent: -126,
    maxFinite: 3.3895313892515355e38,
  },
});

/**
 * Whether a value names a dtype this suite knows.
 *
 * @param value Any value.
 * @returns `true` when `value` is one of {@linkcode DTYPES}.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { isDType } from "./dtype.ts";
 * assert(isDType("float32") && !isDType("int8"));
 * ```
 */
export function isDType(value: unknown): value is DType {
  return typeof value === "string" &&
    (DTYPES as readonly string[]).includes(value);
}

/**
 * The parameters of a dtype's binary format.
 *
 * @param dtype A known dtype.
 * @returns Its precision, smallest normal exponent and largest finite value.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { formatInfo } from "./dtype.ts";
 * assert(formatInfo("float16").maxFinite === 65504);
 * ```
 */
export function formatInfo(dtype: DType): FormatInfo {
  return FORMATS[dtype];
}

/** floor(log2(|v|)) for finite non-zero v, exact (Math.log2 can be off by one near powers of two). */
function exponentOf(abs: number): number {
  let e = Math.floor(Math.log2(abs));
  if (2 ** e > abs) e -= 1;
  else if (2 ** (e + 1) <= abs) e += 1;
  return e;
}

function roundTiesEven(v: number): number {
  const lower = Math.floor(v);
  const diff = v - lower;
  if (diff > 0.5) return lower + 1;
  if (diff < 0.5) return lower;
  return lower % 2 === 0 ? lower : lower + 1;
}

/** Rounds a binary64 value into a narrower binary format, by exact scaling. */
function roundToFormat(v: number, info: FormatInfo): number {
  if (v === 0 || !Number.isFinite(v)) return v;
  const e = Math.max(exponentOf(Math.abs(v)), info.minExponent);
  const quantum = 2 ** (e - info.precision + 1);
  // v / quantum is exact: a power-of-two scaling that stays in binary64's normal range.
  const r = roundTiesEven(v / quantum) * quantum;
  if (Math.abs(r) > info.maxFinite) return r > 0 ? Infinity : -Infinity;
  return r === 0 ? (v < 0 ? -0 : 0) : r;
}

/**
 * Rounds a binary64 value to the nearest value of `dtype` (ties to even).
 *
 * @param value Any number; NaN, ±Infinity and ±0 pass through.
 * @param dtype The target format.
 * @returns The nearest representable value, or ±Infinity on overflow.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { roundToDType } from "./dtype.ts";
 * assert(roundToDType(0.1, "float32") === Math.fround(0.1));
 * assert(roundToDType(1 + 2 ** -8, "bfloat16") === 1);
 * ```
 */
export function roundToDType(value: number, dtype: DType): number {
  switch (dtype) {
    case "float64":
      return value;
    case "float32":
      return Math.fround(value);
    case "float16":
      return Math.f16round(value);
    case "bfloat16":
      return roundToFormat(value, FORMATS.bfloat16);
  }
}

/**
 * Whether a number is exactly a value of `dtype` (NaN and ±Infinity count as values).
 *
 * @param value Any number.
 * @param dtype The format to test against.
 * @returns `true` when rounding to `dtype` leaves `value` unchanged.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { isRepresentable } from "./dtype.ts";
 * assert(isRepresentable(0.5, "float16") && !isRepresentable(0.1, "float32"));
 * ```
 */
export function isRepresentable(value: number, dtype: DType): boolean {
  return Number.isNaN(value) || Object.is(roundToDType(value, dtype), value);
}

/**
 * The unit in the last place of `dtype` at magnitude `|value|`: the gap between
 * consecutive values of the format in the binade of `value`. For 0 and for
 * subnormals it is the smallest subnormal; beyond the largest finite value it
 * stays the ulp of the largest finite value.
 *
 * @param value A finite number (NaN or ±Infinity give NaN).
 * @param dtype The format.
 * @returns The ulp, a positive power of two.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { ulp } from "./dtype.ts";
 * assert(ulp(1, "float32") === 2 ** -23);
 * assert(ulp(0, "float16") === 2 ** -24);
 * ```
 */
export function ulp(value: number, dtype: DType): number {
  if (!Number.isFinite(value)) return NaN;
  const info = FORMATS[dtype];
  const abs = Math.min(Math.abs(value), info.maxFinite);
  const e = abs === 0 ? info.minExponent : Math.max(exponentOf(abs), info.minExponent);
  return 2 ** (e - info.precision + 1);
}

/**
 * Allocates a zeroed typed array able to hold `length` values of `dtype`.
 *
 * @param dtype The element format (bfloat16 values are held in a Float32Array).
 * @param length Number of elements.
 * @returns A new typed array.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { allocate } from "./dtype.ts";
 * assert(allocate("float16", 3) instanceof Float16Array);
 * ```
 */
export function allocate(dtype: DType, length: number): TensorArray {
  switch (dtype) {
    case "float64":
      return new Float64Array(length);
    case "float32":
    case "bfloat16":
      return new Float32Array(length);
    case "float16":
      return new Float16Array(length);
  }
}
