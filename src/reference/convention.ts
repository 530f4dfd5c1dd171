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
export type PresetName = "pytorch" | "tensorflow" | "tensorflow@<=2.11" | "keras" | "onnx";

/** TensorFlow 2.12–2.21's fused kernel; `PRESETS.tensorflow` (see there). */
const TENSORFLOW: BatchNormConvention = Object.freeze({
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
});

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
 *   `"tensorflow@2.15"` names it by version too.
 * - `tensorflow@<=2.11`: the same kernel as TensorFlow 2.11 and earlier called it: the Python
 *   wrapper (`nn_impl.py`, up to 2.11.0; gone from 2.12.0) clamped epsilon up to 1.001e-5, passed
 *   on as a float32 attribute, so `epsilonFloor` is `Math.fround(1.001e-5)`. No TensorFlow ≤ 2.11
 *   runs here: its fixtures are composed (`fixtures/tensorflow-composed/`). `"tensorflow@2.11"`,
 *   `"tensorflow@1.15"` name it by version.
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
    tensorflow: TENSORFLOW,
    // TensorFlow <= 2.11's nn_impl.py: epsilon = max(epsilon, 1.001e-5), then the float32 attribute.
    "tensorflow@<=2.11": Object.freeze({ ...TENSORFLOW, epsilonFloor: Math.fround(1.001e-5) }),
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
  | `${string}@${string}`
  | (Partial<BatchNormConvention> & { readonly base?: PresetName | `${string}@${string}` });

/**
 * What each preset describes and where it was witnessed: the framework versions it holds for (`describes`, with the
 * range where a convention changed between versions) and the runs of this suite's fixtures that show it (`witnessed`:
 * framework, versions, and `composed` where no run of that version was possible here and the fixtures are composed).
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { PRESET_WITNESSES } from "./convention.ts";
 * assert(PRESET_WITNESSES.tensorflow.witnessed.some((w) => w.framework === "TensorFlow" && w.versions.includes("2.21.0")));
 * assert(PRESET_WITNESSES["tensorflow@<=2.11"].witnessed.every((w) => w.composed));
 * ```
 */
export const PRESET_WITNESSES: Readonly<
  Record<PresetName, {
    /** The framework and versions the preset describes, in words. */
    readonly describes: string;
    /** The framework whose versions `name@version` resolves among, and the range of them this preset covers. */
    readonly versions: { readonly family: string; readonly from?: string; readonly to?: string };
    /** The fixture runs that witness it. */
    readonly witnessed: readonly {
      readonly framework: string;
      readonly versions: readonly string[];
      /** Fixture files (under fixtures/) with cases of this convention from that run. */
      readonly fixtures: readonly string[];
      readonly composed?: boolean;
    }[];
  }>
> = Object.freeze({
  pytorch: {
    describes: "PyTorch torch.nn.BatchNorm{1,2,3}d and F.batch_norm (no change between versions known)",
    versions: { family: "pytorch" },
    witnessed: [{
      framework: "PyTorch",
      versions: ["1.13.0a0"],
      fixtures: [
        "pytorch/batchnorm1d.json",
        "pytorch/batchnorm2d.json",
        "pytorch/batchnorm3d.json",
        "pytorch/edge_cases.json",
        "pytorch/functional.json",
        "pytorch-sweep/random.json",
      ],
    }],
  },
  tensorflow: {
    describes: "TensorFlow 2.12 to 2.21: FusedBatchNormV3 through tf.nn.fused_batch_norm, epsilon passed through",
    versions: { family: "tensorflow", from: "2.12", to: "2.21" },
    witnessed: [
      {
        framework: "TensorFlow",
        versions: ["2.21.0"],
        fixtures: ["tensorflow/fused_batch_norm.json", "tensorflow/edge_cases.json"],
      },
      {
        framework: "tf-keras (Keras 2), fused layers",
        versions: ["2.21.0"],
        fixtures: ["tf-keras/batch_normalization.json"],
      },
    ],
  },
  "tensorflow@<=2.11": {
    describes: "TensorFlow 2.11 and earlier: the same kernel, epsilon clamped to 1.001e-5 by nn_impl.py",
    versions: { family: "tensorflow", to: "2.11" },
    witnessed: [{
      framework: "TensorFlow <= 2.11 (composed: PyTorch float64 ops following its code)",
      versions: ["1.13.0a0 (PyTorch)"],
      fixtures: ["tensorflow-composed/fused_batch_norm.json", "tensorflow-composed/edge_cases.json"],
      composed: true,
    }],
  },
  keras: {
    describes: "Keras 3 (every backend), tf-keras' non-fused path, tf.nn.batch_normalization, Flax, TensorFlow.js",
    // Keras 2 (tf-keras) is not one convention: its fused layers (rank-4/5 inputs, the default) are TensorFlow's
    // kernel, the others Keras'. `keras@2.x` is refused with that choice; `keras@3.x` is this preset.
    versions: { family: "keras", from: "3" },
    witnessed: [
      {
        framework: "Keras 3 (tensorflow, jax and torch backends)",
        versions: ["3.15.1"],
        fixtures: ["keras/tensorflow_backend.json", "keras/jax_backend.json", "keras/torch_backend.json"],
      },
      {
        framework: "tf-keras (Keras 2), non-fused layers",
        versions: ["2.21.0"],
        fixtures: ["tf-keras/batch_normalization.json"],
      },
      {
        framework: "TensorFlow tf.nn.moments + batch_normalization",
        versions: ["2.21.0"],
        fixtures: ["tensorflow/moments.json"],
      },
      {
        framework: "Flax (linen and nnx)",
        versions: ["0.12.8"],
        fixtures: ["flax/batch_norm.json", "flax/sync_batch_norm.json"],
      },
      {
        framework: "TensorFlow.js",
        versions: ["4.22.0"],
        fixtures: ["tfjs/batch_normalization.json", "tfjs/edge_cases.json"],
      },
    ],
  },
  onnx: {
    describes: "ONNX BatchNormalization (opset 15) and onnxruntime",
    versions: { family: "onnx" },
    witnessed: [
      {
        framework: "onnxruntime-node",
        versions: ["1.30.0"],
        fixtures: ["onnxruntime/batch_normalization.json", "onnxruntime/edge_cases.json"],
      },
      {
        framework: "ONNX backend node test data",
        versions: ["1.12.0"],
        fixtures: ["onnx-testdata/batch_normalization.json"],
      },
    ],
  },
});

/** Why a framework's versions need more than a version to name a preset, where they do. */
const FAMILY_NOTES: Readonly<Record<string, string>> = {
  keras: 'Keras 2 (tf-keras) follows "tensorflow" in its fused layers, rank-4/5 inputs by default, and "keras" in ' +
    "the others: name the preset",
};
/** "2.11" ≤ "2.12" as version numbers (each dot-separated part compared as an integer; missing parts are 0). */
function versionAtMost(a: string, b: string): boolean {
  const pa = a.split(".").map(Number), pb = b.split(".").map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? 0, y = pb[i] ?? 0;
    if (x !== y) return x < y;
  }
  return true;
}
/** Where `to` is "2.11", "2.11.3" is still within (the range names minor versions). */
function withinTo(v: string, to: string): boolean {
  return versionAtMost(v.split(".").slice(0, to.split(".").length).join("."), to);
}

/**
 * The preset a name stands for: a preset name, or `framework@version` (e.g. `tensorflow@2.11`, `pytorch@1.13`), the
 * preset of that framework whose version range holds the version. A version no preset describes is refused with the
 * choices; so is a malformed one.
 */
function presetFor(name: unknown, field: string): PresetName {
  if (typeof name === "string" && Object.hasOwn(PRESETS, name)) return name as PresetName;
  const known = `known: ${Object.keys(PRESETS).join(", ")}, or framework@version`;
  if (typeof name !== "string") throw new BatchNormError("invalid_option", field, name, `unknown preset; ${known}`);
  const at = name.indexOf("@");
  if (at < 0) throw new BatchNormError("invalid_option", field, name, `unknown preset; ${known}`);
  const family = name.slice(0, at), version = name.slice(at + 1);
  const choices = (Object.entries(PRESET_WITNESSES) as [PresetName, (typeof PRESET_WITNESSES)[PresetName]][])
    .filter(([, w]) => w.versions.family === family);
  const list = choices.map(([n, w]) => `"${n}" (${w.describes})`).join("; ");
  if (choices.length === 0) throw new BatchNormError("invalid_option", field, name, `unknown framework; ${known}`);
  if (!/^[0-9]+(\.[0-9]+)*$/.test(version)) {
    throw new BatchNormError(
      "invalid_option",
      field,
      name,
      `"${version}" is not a version like 2.11; the ${family} presets: ${list}`,
    );
  }
  const hit = choices.find(([, w]) =>
    (w.versions.from === undefined || versionAtMost(w.versions.from, version)) &&
    (w.versions.to === undefined || withinTo(version, w.versions.to))
  );
  if (!hit) {
    throw new BatchNormError(
      "invalid_option",
      field,
      name,
      `no preset describes ${family} ${version}${
        FAMILY_NOTES[family] ? ` (${FAMILY_NOTES[family]})` : " (its convention there is not known here)"
      }; the ${family} presets: ${list}`,
    );
  }
  return hit[0];
}

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
  if (typeof input === "string") return PRESETS[presetFor(input, "convention")];
  if (input === null || typeof input !== "object") {
    throw new BatchNormError(
      "invalid_option",
      "convention",
      input,
      "must be a preset name or an object",
    );
  }
  const { base: named = "pytorch", ...overrides } = input;
  const base = presetFor(named, "convention.base");
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
