/**
 * Conventions: the orthogonal choices on which frameworks' BatchNorms differ,
 * and named presets for the real ones.
 *
 * Facts and sources: `shared/research/batchnorm-conventions.md` of this project,
 * summarised in README.md.
 *
 * @module
 */

import { BatchNormError } from "./errors.ts";

/**
 * Every choice that changes a BatchNorm's results. A convention is plain data;
 * start from a preset and override what differs:
 * `{ ...PRESETS.keras, epsilon: 1e-5 }`.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { type BatchNormConvention, PRESETS } from "../../mod.ts";
 * const c: BatchNormConvention = { ...PRESETS.onnx, momentum: 0.99 };
 * assert(c.momentumKind === "old" && c.runningVariance === "biased");
 * ```
 */
export interface BatchNormConvention {
  /** The channel axis; negative counts from the end (`-1` is channels-last, NHWC). */
  readonly axis: number;
  /** Added to the variance (or to the standard deviation, see {@linkcode epsilonPlacement}). Finite, >= 0. */
  readonly epsilon: number;
  /**
   * A lower bound applied to `epsilon` before use, as TensorFlow's Python wrapper
   * of the fused kernel did up to TensorFlow 2.11 (`max(epsilon, 1.001e-5)`). 0 for no clamp.
   */
  readonly epsilonFloor: number;
  /**
   * `"inside"`: `(x - mean) / sqrt(var + eps)` (every current framework);
   * `"outside"`: `(x - mean) / (sqrt(var) + eps)` (Darknet, Keras' old Theano/CNTK backends).
   */
  readonly epsilonPlacement: "inside" | "outside";
  /**
   * The running-statistics momentum, read according to {@linkcode momentumKind};
   * `null` exactly when `momentumKind` is `"cumulative"`.
   */
  readonly momentum: number | null;
  /**
   * `"new"`: `r = (1 - m)·r + m·batch` (PyTorch, TF fused `exponential_avg_factor`);
   * `"old"`: `r = m·r + (1 - m)·batch` (Keras, TF.js, ONNX, Flax);
   * `"cumulative"`: the mean over all batches so far, `m = 1 / numBatchesTracked`
   * (PyTorch `momentum=None`).
   */
  readonly momentumKind: "new" | "old" | "cumulative";
  /**
   * What enters the running variance: `"biased"` (the batch variance as used to
   * normalize), `"bessel"` (`· n/(n-1)`, PyTorch), `"bessel-clamped"` (`· n/max(n-1, 1)`, TF fused).
   */
  readonly runningVariance: "biased" | "bessel" | "bessel-clamped";
  /** Whether gamma (scale) and beta (shift) apply; if not, gamma = 1 and beta = 0. */
  readonly affine: boolean;
  /**
   * Whether beta (the shift) applies, separately from gamma (Keras `center`, Flax `use_bias`); absent: `affine`.
   * When given with {@linkcode scale}, `affine` is `center && scale`. Without it, beta = 0 and dbeta is not computed.
   */
  readonly center?: boolean;
  /**
   * Whether gamma (the scale) applies, separately from beta (Keras `scale`, Flax `use_scale`); absent: `affine`.
   * Without it, gamma = 1 and dgamma is not computed.
   */
  readonly scale?: boolean;
  /**
   * Whether running statistics are kept. If not (PyTorch `track_running_stats=False`),
   * training leaves them alone and inference normalizes with the batch's statistics.
   */
  readonly trackRunningStats: boolean;
  /**
   * Training with one value per channel (N·spatial = 1): `"error"` refuses it, as
   * PyTorch's Python API does; `"allow"` computes it (variance 0, y = beta).
   */
  readonly singleValueTraining: "error" | "allow";
  /**
   * The inverse standard deviation when variance and epsilon are both 0:
   * `"zero"` defines it as 0 so y = beta (PyTorch's CPU kernel, `InvStd` in
   * ATen's Normalization.cpp); `"ieee"` gives 1/0 = Infinity and y = NaN.
   */
  readonly zeroVarianceInvStd: "zero" | "ieee";
  /**
   * Training on an empty batch (no value per channel, e.g. N = 0). y is empty in
   * every case; what differs is the statistics: `"unchanged"` leaves the running
   * statistics as they were (PyTorch's nn.BatchNorm; batch statistics NaN);
   * `"zero"` takes batch mean and variance as 0 and updates with them (TF.js);
   * `"nan"` takes them as NaN, so the running statistics become NaN (onnxruntime,
   * TensorFlow's kernels); `"error"` refuses the call.
   */
  readonly emptyBatch: "unchanged" | "zero" | "nan" | "error";
}

/**
 * The names of the built-in presets.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { type PresetName, PRESETS } from "../../mod.ts";
 * const names: PresetName[] = ["pytorch", "tensorflow", "keras", "onnx"];
 * assert(names.every((n) => n in PRESETS));
 * ```
 */
export type PresetName = "pytorch" | "tensorflow" | "keras" | "onnx";

/**
 * The conventions of real frameworks, with their defaults.
 *
 * - `pytorch`: `torch.nn.BatchNorm{1,2,3}d` (momentum 0.1 on the new value, eps 1e-5,
 *   Bessel-corrected running variance, one value per channel refused).
 * - `tensorflow`: TensorFlow's fused kernel (`FusedBatchNormV3`, used by Keras 2 for
 *   rank-4/5 inputs) as TensorFlow 2.12 to 2.21 run it (witnessed on 2.21.0, CPU):
 *   channels-last, eps 1e-3 used as given, `exponential_avg_factor = 1 - 0.99` on the new
 *   value, variance · n/max(n-1, 1). Epsilon and the factor are float32 attributes of the
 *   op, so the preset holds their float32 values, as the kernel computes with them.
 *   TensorFlow 2.11 and earlier clamped epsilon up to 1.001e-5 in the Python wrapper
 *   (`nn_impl.py`; gone from 2.12.0): `{ ...PRESETS.tensorflow, epsilonFloor: Math.fround(1.001e-5) }`.
 *   (Version-keyed presets: issue 19.)
 * - `keras`: Keras 3 (all backends), Keras 2's non-fused path and TensorFlow.js:
 *   channels-last, eps 1e-3, momentum 0.99 on the old value, biased running variance.
 * - `onnx`: ONNX `BatchNormalization` and onnxruntime: eps 1e-5, momentum 0.9 on the
 *   old value, biased ("population") running variance. Both are FLOAT attributes, so
 *   the preset holds their float32 values (9.99999974737875e-6 and 0.8999999761581421).
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { PRESETS } from "./convention.ts";
 * const mine = { ...PRESETS.keras, epsilon: 1e-5 };
 * assert(mine.momentum === 0.99 && mine.momentumKind === "old");
 * ```
 */
export const PRESETS: Readonly<Record<PresetName, BatchNormConvention>> = Object
  .freeze({
    pytorch: Object.freeze({
      axis: 1,
      epsilon: 1e-5,
      epsilonFloor: 0,
      epsilonPlacement: "inside",
      momentum: 0.1,
      momentumKind: "new",
      runningVariance: "bessel",
      affine: true,
      trackRunningStats: true,
      singleValueTraining: "error",
      zeroVarianceInvStd: "zero",
      emptyBatch: "unchanged",
    }),
    tensorflow: Object.freeze({
      axis: -1,
      // FusedBatchNormV3's epsilon and exponential_avg_factor are float (float32) attributes:
      // the kernel computes with fround(1e-3) and fround(1 - 0.99), Keras' momentum 0.99.
      // No floor: TensorFlow >= 2.12 passes epsilon through (<= 2.11 clamped it to 1.001e-5).
      epsilon: Math.fround(1e-3),
      epsilonFloor: 0,
      epsilonPlacement: "inside",
      momentum: Math.fround(1 - 0.99),
      momentumKind: "new",
      runningVariance: "bessel-clamped",
      affine: true,
      trackRunningStats: true,
      singleValueTraining: "allow",
      zeroVarianceInvStd: "ieee",
      emptyBatch: "nan",
    }),
    keras: Object.freeze({
      axis: -1,
      epsilon: 1e-3,
      epsilonFloor: 0,
      epsilonPlacement: "inside",
      momentum: 0.99,
      momentumKind: "old",
      runningVariance: "biased",
      affine: true,
      trackRunningStats: true,
      singleValueTraining: "allow",
      zeroVarianceInvStd: "ieee",
      emptyBatch: "zero",
    }),
    onnx: Object.freeze({
      // epsilon and momentum are FLOAT attributes: runtimes compute with their float32 roundings.
      axis: 1,
      epsilon: Math.fround(1e-5),
      epsilonFloor: 0,
      epsilonPlacement: "inside",
      momentum: Math.fround(0.9),
      momentumKind: "old",
      runningVariance: "biased",
      affine: true,
      trackRunningStats: true,
      singleValueTraining: "allow",
      zeroVarianceInvStd: "ieee",
      emptyBatch: "nan",
    }),
  });

/**
 * Whether beta applies under a convention: `center` when given, else `affine`.
 *
 * @param c A convention.
 * @returns True when beta (the shift) applies.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { centerOf, PRESETS } from "./convention.ts";
 * assert(centerOf(PRESETS.keras) && !centerOf({ ...PRESETS.keras, affine: false, center: false, scale: true }));
 * ```
 */
export function centerOf(c: Pick<BatchNormConvention, "affine" | "center" | "scale">): boolean {
  return c.center ?? c.affine;
}
/**
 * Whether gamma applies under a convention: `scale` when given, else `affine`.
 *
 * @param c A convention.
 * @returns True when gamma (the scale) applies.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { PRESETS, scaleOf } from "./convention.ts";
 * assert(scaleOf(PRESETS.keras) && scaleOf({ ...PRESETS.keras, affine: false, center: false, scale: true }));
 * ```
 */
export function scaleOf(c: Pick<BatchNormConvention, "affine" | "center" | "scale">): boolean {
  return c.scale ?? c.affine;
}
/**
 * A convention given as a preset name, or as a partial convention layered over `base` (default `"pytorch"`).
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { type ConventionInput, resolveConvention } from "../../mod.ts";
 * const inputs: ConventionInput[] = ["keras", { base: "onnx", epsilon: 1e-3 }];
 * assert(resolveConvention(inputs[1]).epsilon === 1e-3);
 * ```
 */
export type ConventionInput =
  | PresetName
  | (Partial<BatchNormConvention> & { readonly base?: PresetName });

/** The values each enumerated convention field can take (the fixture format's enums are the same). */
export const CONVENTION_VALUES = {
  epsilonPlacement: ["inside", "outside"],
  momentumKind: ["new", "old", "cumulative"],
  runningVariance: ["biased", "bessel", "bessel-clamped"],
  singleValueTraining: ["error", "allow"],
  zeroVarianceInvStd: ["zero", "ieee"],
  emptyBatch: ["unchanged", "zero", "nan", "error"],
} as const;

/**
 * Resolves a preset name or a partial convention into a complete, validated one.
 *
 * @param input A preset name, or options over a base preset (default `"pytorch"`).
 * @returns A frozen, complete convention.
 * @throws {BatchNormError} When an option has a value the convention cannot take.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { resolveConvention } from "./convention.ts";
 * const c = resolveConvention({ base: "onnx", momentum: 0.99 });
 * assert(c.momentumKind === "old" && c.epsilon === Math.fround(1e-5));
 * ```
 */
export function resolveConvention(
  input: ConventionInput = "pytorch",
): BatchNormConvention {
  if (typeof input === "string") {
    if (!Object.hasOwn(PRESETS, input)) {
      throw new BatchNormError(
        "invalid_option",
        "convention",
        input,
        `unknown preset; known: ${Object.keys(PRESETS).join(", ")}`,
      );
    }
    return PRESETS[input];
  }
  if (input === null || typeof input !== "object") {
    throw new BatchNormError(
      "invalid_option",
      "convention",
      input,
      "must be a preset name or an object",
    );
  }
  const { base = "pytorch", ...overrides } = input;
  if (!Object.hasOwn(PRESETS, base)) {
    throw new BatchNormError(
      "invalid_option",
      "convention.base",
      base,
      `unknown preset; known: ${Object.keys(PRESETS).join(", ")}`,
    );
  }
  for (const key of Object.keys(overrides)) {
    if (!Object.hasOwn(PRESETS.pytorch, key) && key !== "center" && key !== "scale") {
      throw new BatchNormError(
        "invalid_option",
        `convention.${key}`,
        key,
        "unknown option",
      );
    }
  }
  const c = { ...PRESETS[base], ...withoutUndefined(overrides) };
  validateConvention(c);
  return Object.freeze(c);
}

function withoutUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(
    Object.entries(o).filter(([, v]) => v !== undefined),
  ) as Partial<T>;
}

function validateConvention(c: BatchNormConvention): void {
  if (!Number.isInteger(c.axis)) {
    throw new BatchNormError(
      "invalid_axis",
      "convention.axis",
      c.axis,
      "must be an integer",
    );
  }
  for (const key of ["epsilon", "epsilonFloor"] as const) {
    const v = c[key];
    if (typeof v !== "number" || !Number.isFinite(v) || v < 0) {
      throw new BatchNormError("invalid_epsilon", `convention.${key}`, v, "must be a finite number >= 0");
    }
  }
  for (const [key, allowed] of Object.entries(CONVENTION_VALUES)) {
    const v = c[key as keyof typeof CONVENTION_VALUES];
    if (!(allowed as readonly string[]).includes(v)) {
      throw new BatchNormError(
        "invalid_option",
        `convention.${key}`,
        v,
        `must be one of ${allowed.map((a) => `"${a}"`).join(", ")}`,
      );
    }
  }
  for (const key of ["center", "scale"] as const) {
    if (c[key] !== undefined && typeof c[key] !== "boolean") {
      throw new BatchNormError("invalid_option", `convention.${key}`, c[key], "must be a boolean (or absent: affine)");
    }
  }
  for (const key of ["affine", "trackRunningStats"] as const) {
    if (typeof c[key] !== "boolean") {
      throw new BatchNormError(
        "invalid_option",
        `convention.${key}`,
        c[key],
        "must be a boolean",
      );
    }
  }
  if (c.momentumKind === "cumulative") {
    if (c.momentum !== null) {
      throw new BatchNormError(
        "invalid_momentum",
        "convention.momentum",
        c.momentum,
        'must be null with momentumKind "cumulative" (the factor is 1/numBatchesTracked)',
      );
    }
  } else if (typeof c.momentum !== "number" || !Number.isFinite(c.momentum)) {
    throw new BatchNormError(
      "invalid_momentum",
      "convention.momentum",
      c.momentum,
      `must be a finite number with momentumKind "${c.momentumKind}" (null means "cumulative")`,
    );
  }
}
