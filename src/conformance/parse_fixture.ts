/**
 * Parsing a fixture file: the format's rules and the consistency the schema
 * cannot express (data length against shape, representable values, versions,
 * provenance, `num_batches_tracked`, twins and exact values answering the same
 * outputs), each failure a {@linkcode FixtureError} naming the JSON path.
 *
 * @module
 */

import { type DType, isDType } from "../reference/dtype.ts";
import type { Tensor } from "../reference/tensor.ts";
import { type Json, Reader } from "./_reader.ts";
import { readConvention } from "./config.ts";
import {
  type CaseDTypes,
  DTYPE_GROUPS,
  type ExpectedError,
  FEATURES,
  FIXTURE_FORMAT,
  FIXTURE_FORMAT_VERSION,
  type FixtureCase,
  type FixtureFile,
  type FixtureStep,
  newerField,
  OUTPUT_NAMES,
  type Provenance,
  TENSOR_GROUP,
} from "./fixture.ts";

/**
 * Reads a named tensor of a case. Uniform case: its dtype is the case's (or float64, as 1.0–1.2 allow). Mixed case
 * (format 1.3 `dtypes`): its dtype is exactly its group's, and a mismatch names the tensor and the group.
 */
type TensorReader = (v: Json, path: string, name: string) => Tensor;
function tensorReader(r: Reader, dtype: DType, dtypes: CaseDTypes | undefined): TensorReader {
  return (v, path, name) => {
    if (!dtypes) return r.tensor(v, path, dtype);
    const group = TENSOR_GROUP[name];
    const want = dtypes[group];
    const t = r.tensor(v, path);
    if (t.dtype !== want) {
      r.fail(`${path}.dtype`, `${name} is ${t.dtype} but the case's ${group} dtype is ${want}`);
    }
    return t;
  };
}
/** Format 1.3's `dtypes`: each group a dtype, `data` the case's own, `compute` optional. */
function readDTypes(r: Reader, v: Json, path: string, dtype: DType): CaseDTypes | undefined {
  if (v === undefined) return undefined;
  const o = r.object(v, path);
  for (const k of Object.keys(o)) {
    if (!(DTYPE_GROUPS as readonly string[]).includes(k) && k !== "compute") {
      r.fail(`${path}.${k}`, `unknown group; known: ${DTYPE_GROUPS.join(", ")}, compute`);
    }
  }
  const read = (k: string): DType => {
    if (o[k] === undefined) r.fail(`${path}.${k}`, "is required");
    if (!isDType(o[k])) r.fail(`${path}.${k}`, `unknown dtype ${JSON.stringify(o[k])}`);
    return o[k] as DType;
  };
  const out = {
    data: read("data"),
    params: read("params"),
    running: read("running"),
    saved: read("saved"),
    ...(o.compute === undefined ? {} : { compute: read("compute") }),
  };
  if (out.data !== dtype) r.fail(`${path}.data`, `must be the case's dtype "${dtype}" (got "${out.data}")`);
  return out;
}
function readOutputs(
  r: Reader,
  v: Json,
  path: string,
  tensor: TensorReader,
): Record<string, Tensor | number> {
  const o = r.object(v, path);
  const out: Record<string, Tensor | number> = {};
  for (const [k, t] of Object.entries(o)) {
    if (k === "num_batches_tracked") out[k] = r.integer(t, `${path}.${k}`);
    else if (OUTPUT_NAMES.includes(k)) {
      out[k] = tensor(t, `${path}.${k}`, k);
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
  const dtypes = readDTypes(r, o.dtypes, `${path}.dtypes`, dtype);
  const tensor = tensorReader(r, dtype, dtypes);
  const s = r.object(o.initial_state, `${path}.initial_state`);
  const opt = (
    k: string,
  ) => (s[k] === undefined ? undefined : tensor(s[k], `${path}.initial_state.${k}`, k));
  if (!Array.isArray(o.steps) || o.steps.length === 0) {
    r.fail(`${path}.steps`, "must be a non-empty array");
  }
  const convention = readConvention(r, o.config, `${path}.config`);
  checkCenterScale(r, convention, s, o.steps, path);
  const steps = o.steps.map((st, i): FixtureStep => {
    const p = `${path}.steps[${i}]`;
    const so = r.object(st, p);
    const mode = r.oneOf(so.mode, `${p}.mode`, ["train", "eval"] as const);
    const inputs = r.object(so.inputs, `${p}.inputs`);
    const x = tensor(inputs.x, `${p}.inputs.x`, "x");
    if (x.dtype !== dtype) {
      r.fail(`${p}.inputs.x.dtype`, `must be the case's dtype "${dtype}"`);
    }
    const dy = inputs.dy === undefined ? undefined : tensor(inputs.dy, `${p}.inputs.dy`, "dy");
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
      expected: hasExpected ? readOutputs(r, so.expected, `${p}.expected`, tensor) : undefined,
      expectedFloat64: so.expected_float64 === undefined ? undefined : readOutputs(
        r,
        so.expected_float64,
        `${p}.expected_float64`,
        tensorReader(r, "float64", undefined),
      ),
      expectedError,
      ...readExact(r, so, p, hasExpected ? so.expected : undefined),
      ...readShards(r, so.shards, p, mode, x.shape),
    };
  });
  checkConsistency(r, steps, s.num_batches_tracked, path, dtype, features);
  return {
    name: r.string(o.name, `${path}.name`),
    description: r.string(o.description, `${path}.description`),
    features,
    api: r.string(o.api, `${path}.api`),
    seed: r.integer(o.seed, `${path}.seed`),
    dtype,
    ...(dtypes ? { dtypes } : {}),
    convention,
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
  features: readonly string[],
): void {
  let tracked = typeof initialTracked === "number" ? initialTracked : 0;
  steps.forEach((step, i) => {
    const p = `${path}.steps[${i}]`;
    const x = step.inputs.x;
    const rank = x.shape.length;
    // Rank 1 (format 1.3): the case says so with the feature rank-1 (axis 0 is then the channel axis).
    if (rank < 2 && !(rank === 1 && features.includes("rank-1"))) {
      r.fail(
        `${p}.inputs.x.shape`,
        `must have rank >= 2, or rank 1 in a case with the feature "rank-1" (got [${x.shape.join(", ")}])`,
      );
    }
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
        // Format 1.3: the gradients with respect to the running statistics an eval step is given, so eval with dy.
        if ((name === "dmean" || name === "dvar") && (step.mode !== "eval" || !step.inputs.dy)) {
          r.fail(
            `${p}.${key}.${name}`,
            "only an eval step with dy has gradients with respect to the running statistics",
          );
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
/**
 * Format 1.3's `center` and `scale`, where a case gives either: the initial state holds gamma exactly when scale
 * applies and beta exactly when center does; no step expects dgamma without scale or dbeta without center.
 */
function checkCenterScale(
  r: Reader,
  c: { affine: boolean; center?: boolean; scale?: boolean },
  s: Record<string, Json>,
  steps: readonly Json[],
  path: string,
): void {
  if (c.center === undefined && c.scale === undefined) return;
  const center = c.center ?? c.affine, scale = c.scale ?? c.affine;
  for (const [name, applies, field] of [["gamma", scale, "scale"], ["beta", center, "center"]] as const) {
    if ((s[name] !== undefined) !== applies) {
      r.fail(
        `${path}.initial_state${applies ? "" : `.${name}`}`,
        `${applies ? "must hold" : "must not hold"} ${name}: config.${field} is ${applies}`,
      );
    }
  }
  steps.forEach((st, i) => {
    for (const [name, applies, field] of [["dgamma", scale, "scale"], ["dbeta", center, "center"]] as const) {
      const expected = (st as { expected?: Record<string, Json> } | null)?.expected;
      if (!applies && expected?.[name] !== undefined) {
        r.fail(`${path}.steps[${i}].expected.${name}`, `no ${name} without ${field}: config.${field} is false`);
      }
    }
  });
}
/** Format 1.3's `shards`: a training step's rows per shard, non-negative integers adding up to x.shape[0]. */
function readShards(
  r: Reader,
  v: Json | undefined,
  p: string,
  mode: string,
  shape: readonly number[],
): { shards?: number[] } {
  if (v === undefined) return {};
  if (mode !== "train") r.fail(`${p}.shards`, "only a training step splits its batch into shards");
  if (!Array.isArray(v) || v.length === 0) r.fail(`${p}.shards`, "must be a non-empty array of row counts");
  const shards = (v as Json[]).map((s, i) => {
    if (typeof s !== "number" || !Number.isInteger(s) || s < 0) r.fail(`${p}.shards[${i}]`, "must be an integer >= 0");
    return s as number;
  });
  const total = shards.reduce((a, b) => a + b, 0);
  if (total !== shape[0]) r.fail(`${p}.shards`, `add up to ${total}, not x.shape[0] = ${shape[0]}`);
  return { shards };
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
 * import { FixtureError, parseFixture } from "../../mod.ts";
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
