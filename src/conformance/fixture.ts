/**
 * The fixture format of `fixtures/FORMAT.md` as types: files, cases, steps,
 * provenance, expected errors; its versions and the fields each added
 * ({@linkcode FORMAT_ADDITIONS}); the controlled feature list and output names;
 * and {@linkcode FixtureError}. Parsing is in `parse_fixture.ts`, loading in
 * `load_fixtures.ts`, conventions ⇄ `config` in `config.ts`.
 *
 * @module
 */

import type { BatchNormConvention } from "../reference/convention.ts";
import type { DType } from "../reference/dtype.ts";
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
export const FIXTURE_FORMAT_VERSION = "1.3";
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
      readonly outputs?: readonly string[];
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
  "1.3": {
    // Mixed precision and center/scale apart; rank 1 (WebNN); group statistics (a training batch split into shards, SyncBatchNorm).
    case: ["dtypes"],
    config: ["center", "scale"],
    step: ["shards"],
    features: ["group-statistics", "rank-1"],
    // Gradients with respect to the running mean and variance an eval step normalizes with (TF.js, TensorFlow autodiff).
    outputs: ["dmean", "dvar"],
  },
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
  const find = (kind: "case" | "config" | "step" | "features" | "outputs", name: string) =>
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
      const expected = (st as { expected?: unknown } | null)?.expected;
      for (const k of Object.keys(expected !== null && typeof expected === "object" ? expected : {})) {
        const v = find("outputs", k);
        if (v) return { path: `${at}.steps[${j}].expected.${k}`, field: `output "${k}"`, version: v };
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
  "group-statistics",
  "rank-1",
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
  "dmean",
  "dvar",
]);
/**
 * The groups of tensors that carry their own dtype in a mixed-precision case (format 1.3's `dtypes`).
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { DTYPE_GROUPS } from "./fixture.ts";
 * assert(DTYPE_GROUPS.join() === "data,params,running,saved");
 * ```
 */
export const DTYPE_GROUPS: readonly DTypeGroup[] = Object.freeze(["data", "params", "running", "saved"]);
/** A group of tensors sharing one dtype: see {@linkcode TENSOR_GROUP}. */
export type DTypeGroup = "data" | "params" | "running" | "saved";
/**
 * The group of each tensor a case holds (inputs, state, outputs): `data` x, dy, y, dx; `params` gamma, beta and their
 * gradients; `running` the running statistics (state and outputs) and the gradients with respect to them (`dmean`,
 * `dvar`, format 1.3); `saved` the batch statistics and inverse std.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { TENSOR_GROUP } from "./fixture.ts";
 * assert(TENSOR_GROUP.running_var === "running" && TENSOR_GROUP.dgamma === "params");
 * ```
 */
export const TENSOR_GROUP: Readonly<Record<string, DTypeGroup>> = Object.freeze({
  x: "data",
  dy: "data",
  y: "data",
  dx: "data",
  gamma: "params",
  beta: "params",
  dgamma: "params",
  dbeta: "params",
  running_mean: "running",
  running_var: "running",
  dmean: "running",
  dvar: "running",
  batch_mean: "saved",
  batch_var: "saved",
  saved_invstd: "saved",
});
/**
 * Format 1.3: the dtype of each group of tensors of a mixed-precision case, and the precision the framework states
 * it computes in (`compute`, information only, never judged).
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import type { CaseDTypes } from "./fixture.ts";
 * const fused: CaseDTypes = { data: "float16", params: "float32", running: "float32", saved: "float32" };
 * assert(fused.compute === undefined);
 * ```
 */
export interface CaseDTypes {
  /** x, dy, y, dx: always the case's `dtype`. */
  readonly data: DType;
  /** gamma, beta, dgamma, dbeta. */
  readonly params: DType;
  /** running_mean, running_var (initial state and outputs), dmean, dvar. */
  readonly running: DType;
  /** batch_mean, batch_var, saved_invstd. */
  readonly saved: DType;
  /** The precision the framework states it computes in; information only. */
  readonly compute?: DType;
}
/**
 * The dtype of a named tensor of a case: its group's under format 1.3's `dtypes`, else the case's `dtype`.
 *
 * @param c The case (its `dtype` and optional `dtypes`).
 * @param name A tensor name: an input (`x`, `dy`), state (`gamma`, `running_var`, …) or output (`dgamma`, …).
 * @returns The dtype that tensor has in the case.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { tensorDType } from "./fixture.ts";
 * const c = { dtype: "float16", dtypes: { data: "float16", params: "float32", running: "float32", saved: "float32" } } as const;
 * assert(tensorDType(c, "y") === "float16" && tensorDType(c, "running_var") === "float32");
 * assert(tensorDType({ dtype: "float32" }, "dgamma") === "float32");
 * ```
 */
export function tensorDType(c: { readonly dtype: DType; readonly dtypes?: CaseDTypes }, name: string): DType {
  const group = TENSOR_GROUP[name];
  return c.dtypes && group ? c.dtypes[group] : c.dtype;
}
/**
 * Whether a case's tensors all share its `dtype` (no `dtypes`, or `dtypes` naming the same dtype everywhere).
 *
 * @param c The case.
 * @returns True for a uniform case.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { isUniform } from "./fixture.ts";
 * assert(isUniform({ dtype: "float32" }));
 * assert(!isUniform({ dtype: "float16", dtypes: { data: "float16", params: "float32", running: "float32", saved: "float32" } }));
 * ```
 */
export function isUniform(c: { readonly dtype: DType; readonly dtypes?: CaseDTypes }): boolean {
  return c.dtypes === undefined || DTYPE_GROUPS.every((g) => c.dtypes![g] === c.dtype);
}
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
  /**
   * Format 1.3, training steps only: the batch split into shards along axis 0, as rows per shard in batch order (one
   * per device; uneven and empty shards allowed; they add up to `x.shape[0]`). The statistics are the group's, combined
   * across the shards, which are those of the whole batch: the expectations are the unsplit step's.
   */
  readonly shards?: readonly number[];
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
  /** Element type of x, dy, y, dx, and of every other tensor unless `dtypes` says otherwise. */
  readonly dtype: DType;
  /** Format 1.3: each group's dtype in a mixed-precision case ({@linkcode tensorDType}); absent: uniform. */
  readonly dtypes?: CaseDTypes;
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
