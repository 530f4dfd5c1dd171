/**
 * Reading golden fixtures: the JSON format of `fixtures/FORMAT.md`, decoded into
 * tensors and conventions, with every malformation refused by a
 * {@linkcode FixtureError} that names the file and the JSON path.
 *
 * Fixtures are found relative to this module (`new URL("../../fixtures/", import.meta.url)`),
 * so they resolve from a local checkout and from an `https://` import alike.
 * Loading needs read permission (file:) or net permission (http:, https:).
 *
 * @module
 */

import { type BatchNormConvention, CONVENTION_VALUES } from "../reference/convention.ts";
import { type DType, isDType, isRepresentable } from "../reference/dtype.ts";
import type { Mode } from "../reference/state.ts";
import type { Tensor } from "../reference/tensor.ts";

/**
 * The `format` string every fixture file carries.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { FIXTURE_FORMAT } from "../../mod.ts";
 * assert(FIXTURE_FORMAT === "batchnorm-conformance-fixture");
 * ```
 */
export const FIXTURE_FORMAT = "batchnorm-conformance-fixture";
/**
 * The format version this loader reads (major.minor; a new major is refused).
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { FIXTURE_FORMAT_VERSION } from "../../mod.ts";
 * assert(FIXTURE_FORMAT_VERSION.startsWith("1."));
 * ```
 */
export const FIXTURE_FORMAT_VERSION = "1.2";
/**
 * What each minor version of the format added, beyond 1.0: the case fields, config fields, step fields and features
 * it introduced. A file declares the version whose fields it uses; a reader refuses a file that uses a field newer
 * than the version it declares (`parseFixture` does). A new version adds its row here (and to FORMAT.md's changes).
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { FORMAT_ADDITIONS } from "../../mod.ts";
 * assert(FORMAT_ADDITIONS["1.1"].config!.includes("empty_batch"));
 * ```
 */
export const FORMAT_ADDITIONS: Readonly<
  Record<
    string,
    {
      readonly case?: readonly string[];
      readonly config?: readonly string[];
      readonly step?: readonly string[];
      readonly features?: readonly string[];
    }
  >
> = Object.freeze({
  "1.1": {
    case: ["framework_call", "framework_defect"],
    config: ["empty_batch"],
    features: [
      "shared-initializers",
      "known-framework-defect",
      "official-test-data",
      "edge-case",
      "zero-variance",
      "momentum-out-of-range",
      "non-finite",
      "large-mean",
      "denormal",
      "overflow",
      "empty-batch",
      "channel-count",
    ],
  },
  "1.2": { step: ["expected_exact", "exact_scale"] },
});

/** Versions compared as numbers: "1.10" is after "1.9". */
const minorOf = (version: string) => Number(version.split(".")[1] ?? NaN);

/**
 * The first field a file uses that is newer than the version it declares, as a JSON path and the version that
 * added it; `undefined` when every field it uses is in its declared version.
 *
 * @param json The file's parsed JSON.
 * @param declared Its `format_version`.
 * @returns `{ path, field, version }` of the first newer field, or `undefined`.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { newerField } from "./fixture.ts";
 * const file = { cases: [{ features: ["training"], config: { empty_batch: "error" } }] };
 * assert(newerField(file, "1.0")?.path === "$.cases[0].config.empty_batch");
 * assert(newerField(file, "1.1") === undefined);
 * ```
 */
export function newerField(
  json: unknown,
  declared: string,
): { path: string; field: string; version: string } | undefined {
  const cases = (json as { cases?: unknown })?.cases;
  if (!Array.isArray(cases)) return undefined;
  const newer = Object.entries(FORMAT_ADDITIONS).filter(([v]) => minorOf(v) > minorOf(declared));
  const find = (kind: "case" | "config" | "step" | "features", name: string) =>
    newer.find(([, added]) => added[kind]?.includes(name))?.[0];
  for (const [i, c] of cases.entries()) {
    if (c === null || typeof c !== "object") continue;
    const o = c as Record<string, unknown>;
    const at = `$.cases[${i}]`;
    for (const k of Object.keys(o)) {
      const v = find("case", k);
      if (v) return { path: `${at}.${k}`, field: k, version: v };
    }
    for (const k of Object.keys((o.config ?? {}) as object)) {
      const v = find("config", k);
      if (v) return { path: `${at}.config.${k}`, field: k, version: v };
    }
    for (const [j, f] of (Array.isArray(o.features) ? o.features : []).entries()) {
      const v = typeof f === "string" ? find("features", f) : undefined;
      if (v) return { path: `${at}.features[${j}]`, field: `feature "${f}"`, version: v };
    }
    for (const [j, st] of (Array.isArray(o.steps) ? o.steps : []).entries()) {
      for (const k of Object.keys((st ?? {}) as object)) {
        const v = find("step", k);
        if (v) return { path: `${at}.steps[${j}].${k}`, field: k, version: v };
      }
    }
  }
  return undefined;
}

/**
 * The features a case may name, a controlled list (see FORMAT.md).
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { FEATURES } from "../../mod.ts";
 * assert(FEATURES.includes("momentum-cumulative"));
 * ```
 */
export const FEATURES: readonly string[] = Object.freeze([
  "training",
  "inference",
  "multi-step",
  "backward",
  "momentum-cumulative",
  "momentum-extreme",
  "no-affine",
  "untracked-stats",
  "epsilon-value",
  "epsilon-placement",
  "initial-running-stats",
  "batch-size-1",
  "single-value-per-channel",
  "expected-error",
  "functional-api",
  "shared-initializers",
  "known-framework-defect",
  "official-test-data",
  "zero-variance",
  "momentum-out-of-range",
  "non-finite",
  "large-mean",
  "denormal",
  "overflow",
  "empty-batch",
  "channel-count",
  "edge-case",
]);
/**
 * The outputs a step may expect, by name. Per-channel ones have shape [C].
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { OUTPUT_NAMES } from "../../mod.ts";
 * assert(OUTPUT_NAMES.includes("saved_invstd"));
 * ```
 */
export const OUTPUT_NAMES: readonly string[] = Object.freeze([
  "y",
  "batch_mean",
  "batch_var",
  "saved_invstd",
  "running_mean",
  "running_var",
  "dx",
  "dgamma",
  "dbeta",
]);

/**
 * Where a fixture came from.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { FIXTURES_URL, loadFixture, type Provenance } from "../../mod.ts";
 * const p: Provenance = (await loadFixture(new URL("pytorch/functional.json", FIXTURES_URL))).provenance;
 * assert(p.framework === "PyTorch" && p.composed === false);
 * ```
 */
export interface Provenance {
  /** Short source id: `pytorch`, `tfjs`, `onnxruntime`, `onnx-testdata`, `composed`. */
  readonly source: string;
  /** Framework name as its authors write it. */
  readonly framework: string;
  /** Framework version that computed the expectations. */
  readonly version: string;
  /** The API called. */
  readonly api: string;
  /** Repository path of the script that wrote the file. */
  readonly generator: string;
  /** The one command that regenerates it. */
  readonly command: string;
  /** Base seed of the generator. */
  readonly seed: number;
  /** True when no framework call produced the expectations as such (see notes). */
  readonly composed: boolean;
  /** Anything else worth knowing; free-form. */
  readonly [key: string]: unknown;
}

/**
 * An error a step expects instead of outputs.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { type ExpectedError, FIXTURES_URL, loadFixture } from "../../mod.ts";
 * const file = await loadFixture(new URL("pytorch/batchnorm1d.json", FIXTURES_URL));
 * const errors: ExpectedError[] = file.cases.flatMap((c) => c.steps.flatMap((s) => s.expectedError ?? []));
 * assert(errors.some((e) => e.message.startsWith("Expected more than 1 value per channel")));
 * ```
 */
export interface ExpectedError {
  /** The suite's error code (matches {@linkcode BatchNormErrorCode}). */
  readonly code: string;
  /** The framework's exception type. */
  readonly type: string;
  /** The framework's message, verbatim. */
  readonly message: string;
}

/**
 * One call of an implementation within a case.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { FIXTURES_URL, loadFixture, type FixtureStep } from "../../mod.ts";
 * const file = await loadFixture(new URL("pytorch/functional.json", FIXTURES_URL));
 * const step: FixtureStep = file.cases[0].steps[0];
 * assert(step.mode === "eval" && step.expected!.y !== undefined);
 * ```
 */
export interface FixtureStep {
  /** Normalize with batch statistics (`train`) or running ones (`eval`). */
  readonly mode: Mode;
  /** x, and dy when gradients are expected. */
  readonly inputs: { readonly x: Tensor; readonly dy?: Tensor };
  /** The framework's outputs, in the case's dtype. */
  readonly expected?: Readonly<Record<string, Tensor | number>>;
  /** The same call run by the framework in float64 (only for narrower dtypes). */
  readonly expectedFloat64?: Readonly<Record<string, Tensor | number>>;
  /** The framework refused the call. */
  readonly expectedError?: ExpectedError;
  /**
   * Format 1.2: the exact value of every tensor output of `expected`, correctly rounded to binary64, from the exact
   * oracle (scripts/generators/exact_oracle.py), whatever the case's dtype. What the judge compares with.
   */
  readonly expectedExact?: Readonly<Record<string, Tensor>>;
  /** Format 1.2: each output's error scale per channel (the magnitude of the terms forming it; FORMAT.md). */
  readonly exactScale?: Readonly<Record<string, readonly number[]>>;
}

/**
 * A named, self-contained sequence of calls with its convention and initial state.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { type FixtureCase, FIXTURES_URL, loadFixture } from "../../mod.ts";
 * const file = await loadFixture(new URL("pytorch/functional.json", FIXTURES_URL));
 * const c: FixtureCase = file.cases[0];
 * assert(c.convention.epsilon === 0.75 && c.features.includes("epsilon-placement"));
 * ```
 */
export interface FixtureCase {
  /** Unique, readable name stating what the case shows. */
  readonly name: string;
  /** What the case shows and why. */
  readonly description: string;
  /** Features from {@linkcode FEATURES}. */
  readonly features: readonly string[];
  /** The framework API called. */
  readonly api: string;
  /** Seed of this case's inputs. */
  readonly seed: number;
  /** Element type of x and of every expected tensor. */
  readonly dtype: DType;
  /** The convention the framework followed. */
  readonly convention: BatchNormConvention;
  /** Parameters and running statistics before the first step. */
  readonly initialState: {
    readonly gamma?: Tensor;
    readonly beta?: Tensor;
    readonly runningMean?: Tensor;
    readonly runningVar?: Tensor;
    readonly numBatchesTracked?: number;
  };
  /** The calls, in order; running statistics carry from one to the next. */
  readonly steps: readonly FixtureStep[];
  /**
   * Set when the framework's output is known to contradict its own specification:
   * `expected` records what it did, and a correct implementation does not match it.
   */
  readonly frameworkDefect?: { readonly issue: string; readonly summary: string };
}

/**
 * A decoded fixture file.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { type FixtureFile, FIXTURES_URL, loadFixture } from "../../mod.ts";
 * const file: FixtureFile = await loadFixture(new URL("pytorch/functional.json", FIXTURES_URL));
 * assert(file.formatVersion === "1.2" && file.cases.length > 0);
 * ```
 */
export interface FixtureFile {
  /** Where it was loaded from. */
  readonly url: string;
  /** Format version. */
  readonly formatVersion: string;
  /** Where the expectations came from. */
  readonly provenance: Provenance;
  /** The cases. */
  readonly cases: readonly FixtureCase[];
}

/**
 * A fixture that does not follow the format. The message starts with the file and
 * the JSON path of the offending value.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { FixtureError } from "./fixture.ts";
 * const e = new FixtureError("a.json", "$.cases[0].dtype", "unknown dtype \"int8\"");
 * assert(e.message === 'a.json: $.cases[0].dtype: unknown dtype "int8"');
 * ```
 */
export class FixtureError extends Error {
  /** The file. */
  readonly file: string;
  /** JSON path of the offending value, `$` for the root. */
  readonly path: string;
  /**
   * Creates the error; the message is built from the arguments.
   *
   * @param file The file's name or URL.
   * @param path JSON path of the offending value.
   * @param reason What is wrong.
   */
  constructor(file: string, path: string, reason: string) {
    super(`${file}: ${path}: ${reason}`);
    this.name = "FixtureError";
    this.file = file;
    this.path = path;
  }
}

type Json = unknown;

class Reader {
  constructor(readonly file: string) {}
  fail(path: string, reason: string): never {
    throw new FixtureError(this.file, path, reason);
  }
  object(v: Json, path: string): Record<string, Json> {
    if (v === null || typeof v !== "object" || Array.isArray(v)) {
      this.fail(path, "must be an object");
    }
    return v as Record<string, Json>;
  }
  string(v: Json, path: string): string {
    if (typeof v !== "string") this.fail(path, "must be a string");
    return v;
  }
  integer(v: Json, path: string): number {
    if (!Number.isSafeInteger(v) || (v as number) < 0) {
      this.fail(path, "must be a non-negative integer");
    }
    return v as number;
  }
  boolean(v: Json, path: string): boolean {
    if (typeof v !== "boolean") this.fail(path, "must be true or false");
    return v;
  }
  oneOf<T extends string>(v: Json, path: string, allowed: readonly T[]): T {
    if (!(allowed as readonly Json[]).includes(v)) {
      this.fail(
        path,
        `must be one of ${allowed.map((a) => JSON.stringify(a)).join(", ")}`,
      );
    }
    return v as T;
  }
  /** A finite JSON number, or one of the strings "NaN", "Infinity", "-Infinity". */
  number(v: Json, path: string): number {
    if (typeof v === "number") return v;
    if (v === "NaN") return NaN;
    if (v === "Infinity") return Infinity;
    if (v === "-Infinity") return -Infinity;
    this.fail(
      path,
      `must be a number or "NaN", "Infinity", "-Infinity" (got ${JSON.stringify(v)})`,
    );
  }
  tensor(v: Json, path: string, dtype?: DType): Tensor {
    const o = this.object(v, path);
    const d = o.dtype;
    if (!isDType(d)) {
      this.fail(`${path}.dtype`, `unknown dtype ${JSON.stringify(d)}`);
    }
    if (dtype && d !== dtype && d !== "float64") {
      this.fail(
        `${path}.dtype`,
        `must be "${dtype}" or "float64" (got "${d}")`,
      );
    }
    if (!Array.isArray(o.shape)) this.fail(`${path}.shape`, "must be an array");
    const shape = o.shape.map((s, i) => this.integer(s, `${path}.shape[${i}]`));
    if (!Array.isArray(o.data)) this.fail(`${path}.data`, "must be an array");
    const size = shape.reduce((a, b) => a * b, 1);
    if (o.data.length !== size) {
      this.fail(
        `${path}.data`,
        `has ${o.data.length} values, shape [${shape.join(", ")}] needs ${size}`,
      );
    }
    const data = new Float64Array(size);
    o.data.forEach((x, i) => {
      const n = this.number(x, `${path}.data[${i}]`);
      if (!isRepresentable(n, d)) {
        this.fail(`${path}.data[${i}]`, `${n} is not a ${d} value`);
      }
      data[i] = n;
    });
    return { dtype: d, shape, data };
  }
}

/** The fixture format's (snake_case) name of each convention field. */
export const CONFIG_KEYS: Readonly<Record<keyof BatchNormConvention, string>> = Object.freeze({
  axis: "axis",
  epsilon: "epsilon",
  epsilonFloor: "epsilon_floor",
  epsilonPlacement: "epsilon_placement",
  momentum: "momentum",
  momentumKind: "momentum_kind",
  runningVariance: "running_variance",
  affine: "affine",
  trackRunningStats: "track_running_stats",
  singleValueTraining: "single_value_training",
  zeroVarianceInvStd: "zero_variance_invstd",
  emptyBatch: "empty_batch",
});

/**
 * A convention as a fixture's (and the subprocess protocol's) `config` object: the inverse of reading one.
 *
 * @param c A complete convention.
 * @returns Its fields under their snake_case names.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { conventionToConfig, PRESETS } from "../../mod.ts";
 * assert(conventionToConfig(PRESETS.onnx).momentum_kind === "old");
 * ```
 */
export function conventionToConfig(c: BatchNormConvention): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(CONFIG_KEYS).map(([k, snake]) => [snake, c[k as keyof BatchNormConvention]]),
  );
}

function readConvention(r: Reader, v: Json, path: string): BatchNormConvention {
  const o = r.object(v, path);
  const e = <K extends keyof typeof CONVENTION_VALUES>(
    k: K,
  ): (typeof CONVENTION_VALUES)[K][number] =>
    r.oneOf(o[CONFIG_KEYS[k]], `${path}.${CONFIG_KEYS[k]}`, CONVENTION_VALUES[k]);
  const momentumKind = e("momentumKind");
  const momentum = o.momentum === null ? null : r.number(o.momentum, `${path}.momentum`);
  if ((momentum === null) !== (momentumKind === "cumulative")) {
    r.fail(
      `${path}.momentum`,
      'must be null exactly when momentum_kind is "cumulative"',
    );
  }
  if (!Number.isInteger(o.axis)) r.fail(`${path}.axis`, "must be an integer");
  return {
    axis: o.axis as number,
    epsilon: r.number(o.epsilon, `${path}.epsilon`),
    epsilonFloor: r.number(o.epsilon_floor, `${path}.epsilon_floor`),
    epsilonPlacement: e("epsilonPlacement"),
    momentum,
    momentumKind,
    runningVariance: e("runningVariance"),
    affine: r.boolean(o.affine, `${path}.affine`),
    trackRunningStats: r.boolean(
      o.track_running_stats,
      `${path}.track_running_stats`,
    ),
    singleValueTraining: e("singleValueTraining"),
    zeroVarianceInvStd: e("zeroVarianceInvStd"),
    // Optional since format 1.1; absent means the case never trains on an empty batch.
    emptyBatch: o.empty_batch === undefined ? "error" : e("emptyBatch"),
  };
}

function readOutputs(
  r: Reader,
  v: Json,
  path: string,
  dtype: DType,
): Record<string, Tensor | number> {
  const o = r.object(v, path);
  const out: Record<string, Tensor | number> = {};
  for (const [k, t] of Object.entries(o)) {
    if (k === "num_batches_tracked") out[k] = r.integer(t, `${path}.${k}`);
    else if (OUTPUT_NAMES.includes(k)) {
      out[k] = r.tensor(t, `${path}.${k}`, dtype);
    } else {r.fail(
        `${path}.${k}`,
        `unknown output; known: ${OUTPUT_NAMES.join(", ")}, num_batches_tracked`,
      );}
  }
  return out;
}

function readCase(r: Reader, v: Json, path: string): FixtureCase {
  const o = r.object(v, path);
  const dtype = o.dtype;
  if (!isDType(dtype)) {
    r.fail(`${path}.dtype`, `unknown dtype ${JSON.stringify(dtype)}`);
  }
  if (!Array.isArray(o.features)) {
    r.fail(`${path}.features`, "must be an array");
  }
  const features = o.features.map((f, i) => r.oneOf(f, `${path}.features[${i}]`, FEATURES));
  const s = r.object(o.initial_state, `${path}.initial_state`);
  const opt = (
    k: string,
  ) => (s[k] === undefined ? undefined : r.tensor(s[k], `${path}.initial_state.${k}`, dtype));
  if (!Array.isArray(o.steps) || o.steps.length === 0) {
    r.fail(`${path}.steps`, "must be a non-empty array");
  }
  const steps = o.steps.map((st, i): FixtureStep => {
    const p = `${path}.steps[${i}]`;
    const so = r.object(st, p);
    const mode = r.oneOf(so.mode, `${p}.mode`, ["train", "eval"] as const);
    const inputs = r.object(so.inputs, `${p}.inputs`);
    const x = r.tensor(inputs.x, `${p}.inputs.x`, dtype);
    if (x.dtype !== dtype) {
      r.fail(`${p}.inputs.x.dtype`, `must be the case's dtype "${dtype}"`);
    }
    const dy = inputs.dy === undefined ? undefined : r.tensor(inputs.dy, `${p}.inputs.dy`, dtype);
    const hasExpected = so.expected !== undefined,
      hasError = so.expected_error !== undefined;
    if (hasExpected === hasError) {
      r.fail(p, "must have exactly one of expected and expected_error");
    }
    let expectedError: ExpectedError | undefined;
    if (hasError) {
      const eo = r.object(so.expected_error, `${p}.expected_error`);
      expectedError = {
        code: r.string(eo.code, `${p}.expected_error.code`),
        type: r.string(eo.type, `${p}.expected_error.type`),
        message: r.string(eo.message, `${p}.expected_error.message`),
      };
      if (expectedError.message === "") {
        r.fail(`${p}.expected_error.message`, "must not be empty");
      }
    }
    return {
      mode,
      inputs: dy ? { x, dy } : { x },
      expected: hasExpected ? readOutputs(r, so.expected, `${p}.expected`, dtype) : undefined,
      expectedFloat64: so.expected_float64 === undefined ? undefined : readOutputs(
        r,
        so.expected_float64,
        `${p}.expected_float64`,
        "float64",
      ),
      expectedError,
      ...readExact(r, so, p, hasExpected ? so.expected : undefined),
    };
  });
  checkConsistency(r, steps, s.num_batches_tracked, path, dtype);
  return {
    name: r.string(o.name, `${path}.name`),
    description: r.string(o.description, `${path}.description`),
    features,
    api: r.string(o.api, `${path}.api`),
    seed: r.integer(o.seed, `${path}.seed`),
    dtype,
    convention: readConvention(r, o.config, `${path}.config`),
    initialState: {
      gamma: opt("gamma"),
      beta: opt("beta"),
      runningMean: opt("running_mean"),
      runningVar: opt("running_var"),
      numBatchesTracked: s.num_batches_tracked === undefined ? undefined : r.integer(
        s.num_batches_tracked,
        `${path}.initial_state.num_batches_tracked`,
      ),
    },
    steps,
    ...(o.framework_defect === undefined
      ? {}
      : { frameworkDefect: readDefect(r, o.framework_defect, `${path}.framework_defect`) }),
  };
}

/**
 * What the format's structure cannot say but a case must satisfy: num_batches_tracked
 * advances by one per training step that reports it (steps in order), every tensor of a
 * step is shaped as its input says, and a float64 twin answers exactly the outputs expected.
 */
function checkConsistency(
  r: Reader,
  steps: readonly FixtureStep[],
  initialTracked: Json,
  path: string,
  dtype: DType,
): void {
  let tracked = typeof initialTracked === "number" ? initialTracked : 0;
  steps.forEach((step, i) => {
    const p = `${path}.steps[${i}]`;
    const x = step.inputs.x;
    const rank = x.shape.length;
    if (rank < 2) r.fail(`${p}.inputs.x.shape`, `must have rank >= 2 (got [${x.shape.join(", ")}])`);
    if (step.inputs.dy && step.inputs.dy.shape.join() !== x.shape.join()) {
      r.fail(
        `${p}.inputs.dy.shape`,
        `must equal x's [${x.shape.join(", ")}] (got [${step.inputs.dy.shape.join(", ")}])`,
      );
    }
    for (const [key, outputs] of [["expected", step.expected], ["expected_float64", step.expectedFloat64]] as const) {
      for (const [name, t] of Object.entries(outputs ?? {})) {
        if (typeof t === "number") continue;
        if ((name === "y" || name === "dx") && t.shape.join() !== x.shape.join()) {
          r.fail(`${p}.${key}.${name}.shape`, `must equal x's [${x.shape.join(", ")}] (got [${t.shape.join(", ")}])`);
        }
        if (name !== "y" && name !== "dx" && t.shape.length !== 1) {
          r.fail(`${p}.${key}.${name}.shape`, "a per-channel output must have rank 1");
        }
      }
    }
    if (step.expectedFloat64) {
      if (dtype === "float64") r.fail(`${p}.expected_float64`, "a float64 case has no float64 twin");
      const want = Object.keys(step.expected ?? {}).filter((k) => k !== "num_batches_tracked").sort().join();
      const twin = Object.keys(step.expectedFloat64).filter((k) => k !== "num_batches_tracked").sort().join();
      if (want !== twin) {
        r.fail(`${p}.expected_float64`, `must answer the outputs of expected (${want}), not (${twin})`);
      }
    }
    const nbt = step.expected?.num_batches_tracked;
    if (typeof nbt === "number") {
      if (step.mode !== "train") r.fail(`${p}.expected.num_batches_tracked`, "only a training step counts batches");
      if (nbt !== tracked + 1) {
        r.fail(
          `${p}.expected.num_batches_tracked`,
          `is ${nbt} after ${tracked}: steps out of order (each training step adds one)`,
        );
      }
      tracked = nbt;
    }
  });
}

/** Format 1.2's `expected_exact` and `exact_scale`: both or neither, answering exactly the tensor outputs of `expected`. */
function readExact(
  r: Reader,
  so: Record<string, Json>,
  p: string,
  expected: Json | undefined,
): { expectedExact?: Record<string, Tensor>; exactScale?: Record<string, number[]> } {
  if (so.expected_exact === undefined && so.exact_scale === undefined) return {};
  if (expected === undefined) r.fail(`${p}.expected_exact`, "only a step with expected has exact values");
  if (so.expected_exact === undefined || so.exact_scale === undefined) {
    r.fail(
      `${p}.${so.expected_exact === undefined ? "expected_exact" : "exact_scale"}`,
      "expected_exact and exact_scale come together",
    );
  }
  const want = Object.entries(r.object(expected, `${p}.expected`)).filter(([, v]) => typeof v === "object")
    .map(([k]) => k).sort().join();
  const eo = r.object(so.expected_exact, `${p}.expected_exact`);
  const so2 = r.object(so.exact_scale, `${p}.exact_scale`);
  for (const [key, o] of [["expected_exact", eo], ["exact_scale", so2]] as const) {
    const have = Object.keys(o).sort().join();
    if (have !== want) r.fail(`${p}.${key}`, `must answer the tensor outputs of expected (${want}), not (${have})`);
  }
  const exact: Record<string, Tensor> = {}, scale: Record<string, number[]> = {};
  for (const k of Object.keys(eo)) {
    exact[k] = r.tensor(eo[k], `${p}.expected_exact.${k}`, "float64");
    const sv = so2[k];
    if (!Array.isArray(sv)) r.fail(`${p}.exact_scale.${k}`, "must be an array of numbers, one per channel");
    scale[k] = sv.map((v, i) => {
      if (typeof v !== "number" || !(v >= 0) || !Number.isFinite(v)) {
        r.fail(`${p}.exact_scale.${k}[${i}]`, "must be a finite number >= 0");
      }
      return v;
    });
  }
  return { expectedExact: exact, exactScale: scale };
}

function readDefect(r: Reader, v: Json, path: string): { issue: string; summary: string } {
  const o = r.object(v, path);
  return { issue: r.string(o.issue, `${path}.issue`), summary: r.string(o.summary, `${path}.summary`) };
}

/**
 * Decodes a fixture file's text, refusing anything off the format.
 *
 * @param text The file's JSON text.
 * @param file The name used in error messages.
 * @returns The decoded fixture.
 * @throws {FixtureError} Naming the file and JSON path of the first problem.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { FixtureError, parseFixture } from "./fixture.ts";
 * try {
 *   parseFixture('{"format": "x"}', "bad.json");
 * } catch (e) {
 *   assert(e instanceof FixtureError && e.path === "$.format");
 * }
 * ```
 */
export function parseFixture(text: string, file: string): FixtureFile {
  const r: Reader = new Reader(file);
  let json: Json;
  try {
    json = JSON.parse(text);
  } catch (e) {
    r.fail("$", `not valid JSON: ${(e as Error).message}`);
  }
  const o = r.object(json, "$");
  if (o.format !== FIXTURE_FORMAT) {
    r.fail("$.format", `must be "${FIXTURE_FORMAT}"`);
  }
  const version = r.string(o.format_version, "$.format_version");
  if (version.split(".")[0] !== FIXTURE_FORMAT_VERSION.split(".")[0]) {
    r.fail(
      "$.format_version",
      `unsupported version "${version}"; this loader reads ${FIXTURE_FORMAT_VERSION.split(".")[0]}.x`,
    );
  }
  if (!/^[0-9]+\.[0-9]+$/.test(version)) r.fail("$.format_version", `must be "major.minor" (got "${version}")`);
  const newer = newerField(o, version);
  if (newer) {
    r.fail(
      newer.path,
      `${newer.field} was added in format ${newer.version}, but the file declares format_version "${version}": ` +
        `declare "${newer.version}" or later`,
    );
  }
  const p = r.object(o.provenance, "$.provenance");
  for (
    const k of ["source", "framework", "version", "api", "generator", "command"]
  ) r.string(p[k], `$.provenance.${k}`);
  r.integer(p.seed, "$.provenance.seed");
  r.boolean(p.composed, "$.provenance.composed");
  if (!Array.isArray(o.cases)) r.fail("$.cases", "must be an array");
  const cases = o.cases.map((c, i) => readCase(r, c, `$.cases[${i}]`));
  const seen = new Set<string>();
  cases.forEach((c, i) => {
    if (seen.has(c.name)) {
      r.fail(
        `$.cases[${i}].name`,
        `duplicate case name ${JSON.stringify(c.name)}`,
      );
    }
    seen.add(c.name);
  });
  return {
    url: file,
    formatVersion: version,
    provenance: p as unknown as Provenance,
    cases,
  };
}

/**
 * One entry of `fixtures/index.json`.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { type FixtureIndexEntry, loadFixtureIndex } from "../../mod.ts";
 * const entries: FixtureIndexEntry[] = await loadFixtureIndex();
 * assert(entries.every((e) => /^[0-9a-f]{64}$/.test(e.sha256)));
 * ```
 */
export interface FixtureIndexEntry {
  /** Path relative to the fixtures folder. */
  readonly path: string;
  /** The provenance source id. */
  readonly source: string;
  /** Number of cases in the file. */
  readonly cases: number;
  /** Lower-case hex SHA-256 of the file's bytes. */
  readonly sha256: string;
}

/**
 * The default fixtures folder: `../../fixtures/` next to this module, wherever it was loaded from.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { FIXTURES_URL } from "../../mod.ts";
 * assert(FIXTURES_URL.href.endsWith("/fixtures/"));
 * ```
 */
export const FIXTURES_URL: URL = new URL("../../fixtures/", import.meta.url);

async function fetchBytes(url: URL): Promise<Uint8Array> {
  let res: Response;
  try {
    res = await fetch(url);
  } catch (e) {
    throw new FixtureError(url.href, "$", `could not be loaded: ${(e as Error).message}`);
  }
  if (!res.ok) {
    await res.body?.cancel();
    throw new FixtureError(
      url.href,
      "$",
      `could not be loaded: HTTP ${res.status}`,
    );
  }
  return new Uint8Array(await res.arrayBuffer());
}

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest(
    "SHA-256",
    bytes as Uint8Array<ArrayBuffer>,
  );
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0"))
    .join("");
}

/**
 * Loads `index.json` of a fixtures folder: the list of fixture files with their hashes.
 *
 * @param base The fixtures folder; default {@linkcode FIXTURES_URL}.
 * @returns The entries, in the index's order.
 * @throws {FixtureError} When the index is missing or malformed.
 *
 * @example
 * ```ts ignore
 * import { loadFixtureIndex } from "./fixture.ts";
 * const files = await loadFixtureIndex();
 * console.log(files.map((f) => f.path));
 * ```
 */
export async function loadFixtureIndex(
  base: URL = FIXTURES_URL,
): Promise<FixtureIndexEntry[]> {
  const url = new URL("index.json", base);
  const r: Reader = new Reader(url.href);
  let json: Json;
  try {
    json = JSON.parse(new TextDecoder().decode(await fetchBytes(url)));
  } catch (e) {
    if (e instanceof FixtureError) throw e;
    r.fail("$", `not valid JSON: ${(e as Error).message}`);
  }
  const o = r.object(json, "$");
  if (!Array.isArray(o.files)) r.fail("$.files", "must be an array");
  return o.files.map((f, i) => {
    const e = r.object(f, `$.files[${i}]`);
    const sha = r.string(e.sha256, `$.files[${i}].sha256`);
    if (!/^[0-9a-f]{64}$/.test(sha)) {
      r.fail(`$.files[${i}].sha256`, "must be 64 lower-case hex digits");
    }
    return {
      path: r.string(e.path, `$.files[${i}].path`),
      source: r.string(e.source, `$.files[${i}].source`),
      cases: r.integer(e.cases, `$.files[${i}].cases`),
      sha256: sha,
    };
  });
}

/**
 * Loads and decodes one fixture file; when `sha256` is given, the bytes must hash to it.
 *
 * @param url The file's URL.
 * @param sha256 Expected lower-case hex SHA-256, or undefined to skip the check.
 * @returns The decoded fixture.
 * @throws {FixtureError} When it cannot be loaded, its hash differs, or it is malformed.
 *
 * @example
 * ```ts ignore
 * import { FIXTURES_URL, loadFixture } from "./fixture.ts";
 * const f = await loadFixture(new URL("pytorch/functional.json", FIXTURES_URL));
 * console.log(f.provenance.version, f.cases.length);
 * ```
 */
export async function loadFixture(
  url: URL,
  sha256?: string,
): Promise<FixtureFile> {
  const bytes = await fetchBytes(url);
  if (sha256 !== undefined) {
    const actual = await sha256Hex(bytes);
    if (actual !== sha256) {
      throw new FixtureError(
        url.href,
        "$",
        `SHA-256 ${actual} differs from the index's ${sha256}: the file was edited or damaged`,
      );
    }
  }
  return parseFixture(new TextDecoder().decode(bytes), url.href);
}

/**
 * Loads every fixture file listed in a folder's index, checking each file's hash.
 *
 * @param base The fixtures folder; default {@linkcode FIXTURES_URL}.
 * @returns The decoded files, in the index's order.
 *
 * @example
 * ```ts ignore
 * import { loadAllFixtures } from "./fixture.ts";
 * for (const f of await loadAllFixtures()) console.log(f.url, f.cases.length);
 * ```
 */
export async function loadAllFixtures(
  base: URL = FIXTURES_URL,
): Promise<FixtureFile[]> {
  const index = await loadFixtureIndex(base);
  const files: FixtureFile[] = [];
  for (const entry of index) {
    const file = await loadFixture(new URL(entry.path, base), entry.sha256);
    if (file.cases.length !== entry.cases) {
      throw new FixtureError(
        file.url,
        "$.cases",
        `has ${file.cases.length} cases, the index says ${entry.cases}`,
      );
    }
    files.push(file);
  }
  return files;
}
