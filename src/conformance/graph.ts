/**
 * Graph cases (fixtures/FORMAT.md, "Graph cases"): a Conv → BatchNormalization graph in float32, its exact
 * unfused values and their error scale, the budget, and the engines' recorded runs. This module reads such a file
 * (refusing a malformed one with the path of what is wrong) and judges an answer against a case.
 *
 * Pure: no permissions; the caller reads the file.
 *
 * @module
 */

/** A float32 or float64 tensor of a graph case: row-major data. */
export interface GraphTensor {
  /** `float32` for inputs and answers, `float64` for exact values. */
  dtype: "float32" | "float64";
  /** The dimensions. */
  shape: number[];
  /** The values, row-major, `prod(shape)` of them. */
  data: number[];
}

/** One recorded run of an engine, or one composed wrong fold. */
export interface GraphRun {
  /** The route id (`onnxruntime`, `torch-fused`, …) or the mistake's name. */
  name: string;
  /** The engine's output. */
  y: GraphTensor;
  /** What the generator's judge gave: the largest error and the verdict. */
  maxErrorUlp: number | null;
  /** `pass` or `fail`. */
  verdict: "pass" | "fail";
  /** Precision of the route (`float32`, `default hint, resolved bf16`, …); absent for wrong folds. */
  precision?: string;
  /** Why it fails, where it does. */
  cause?: string;
}

/** One Conv → BatchNormalization case. */
export interface GraphCase {
  /** Unique in the file. */
  id: string;
  /** Inputs: x, w, b, gamma, beta, mean, var (all float32). */
  inputs: Record<string, GraphTensor>;
  /** The convolution's kernel, pads [top, left, bottom, right] and the BatchNormalization's epsilon. */
  kernel: [number, number];
  /** Zero padding, ONNX order. */
  pads: number[];
  /** The float32 epsilon. */
  epsilon: number;
  /** The exact y of the unfused graph, each element rounded once to binary64. */
  expectedExact: GraphTensor;
  /** Per output channel: the magnitude of the terms every form of the graph rounds. */
  exactScale: number[];
  /** Cin·kH·kW. */
  terms: number;
  /** The most float32 ULP (of max(|t|, scale)) an element may be off. */
  budgetUlp: number;
  /** The engines' recorded runs. */
  runs: GraphRun[];
  /** Composed wrong folds, each of which the budget fails. */
  wrongFolds: GraphRun[];
}

/** A graph-case file. */
export interface GraphFile {
  /** `1.0`. */
  formatVersion: string;
  /** The file's provenance, as written. */
  provenance: Record<string, unknown>;
  /** The cases. */
  cases: GraphCase[];
}

/** A malformed graph file or answer: names the file and the JSON path of what is wrong. */
export class GraphError extends Error {
  /**
   * @param where The file or answer.
   * @param path A JSON path into it.
   * @param problem What is wrong.
   */
  constructor(where: string, path: string, problem: string) {
    super(`${where}: ${path} ${problem}`);
    this.name = "GraphError";
  }
}

const FORMAT = "batchnorm-conformance-graph";
const INPUTS = ["x", "w", "b", "gamma", "beta", "mean", "var"];

// deno-lint-ignore no-explicit-any
type Json = any;

function tensor(where: string, path: string, v: Json, dtype: "float32" | "float64"): GraphTensor {
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new GraphError(where, path, "must be a tensor object");
  }
  if (v.dtype !== dtype) {
    throw new GraphError(where, `${path}.dtype`, `must be "${dtype}", not ${JSON.stringify(v.dtype)}`);
  }
  if (!Array.isArray(v.shape) || !v.shape.every((d: unknown) => Number.isInteger(d) && (d as number) >= 0)) {
    throw new GraphError(where, `${path}.shape`, "must be an array of non-negative integers");
  }
  if (!Array.isArray(v.data)) throw new GraphError(where, `${path}.data`, "must be an array");
  const size = v.shape.reduce((a: number, d: number) => a * d, 1);
  if (v.data.length !== size) {
    throw new GraphError(where, `${path}.data`, `holds ${v.data.length} values, shape [${v.shape}] needs ${size}`);
  }
  v.data.forEach((e: unknown, i: number) => {
    if (typeof e !== "number" || !Number.isFinite(e)) {
      throw new GraphError(where, `${path}.data[${i}]`, `must be a finite number, not ${JSON.stringify(e)}`);
    }
    if (dtype === "float32" && Math.fround(e) !== e) {
      throw new GraphError(where, `${path}.data[${i}]`, `${e} is not a float32 value`);
    }
  });
  return { dtype, shape: v.shape, data: v.data };
}

function run(where: string, path: string, v: Json, shape: number[]): GraphRun {
  const name = v.route ?? v.mistake;
  if (typeof name !== "string") throw new GraphError(where, path, "needs a route (or mistake) name");
  const y = tensor(where, `${path}.y`, v.y, "float32");
  if (y.shape.join() !== shape.join()) throw new GraphError(where, `${path}.y.shape`, `must be [${shape}]`);
  if (v.verdict !== "pass" && v.verdict !== "fail") {
    throw new GraphError(where, `${path}.verdict`, 'must be "pass" or "fail"');
  }
  return { name, y, maxErrorUlp: v.max_error_ulp, verdict: v.verdict, precision: v.precision, cause: v.cause };
}

/**
 * Reads a graph-case file's text.
 *
 * @param text The file's JSON text.
 * @param where The file's name, for messages.
 * @returns The decoded file.
 * @throws {GraphError} When it is not a graph-case file of a version this reader knows, or a field is malformed.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { parseGraphFile } from "./graph.ts";
 * const text = await Deno.readTextFile(new URL("../../fixtures/graphs/conv_bn.json", import.meta.url));
 * assertEquals(parseGraphFile(text, "conv_bn.json").cases[0].id, "conv1x1_bn");
 * ```
 */
export function parseGraphFile(text: string, where: string): GraphFile {
  let doc: Json;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new GraphError(where, "$", `is not valid JSON: ${(e as Error).message}`);
  }
  if (doc?.format !== FORMAT) {
    throw new GraphError(where, "$.format", `must be "${FORMAT}", not ${JSON.stringify(doc?.format)}`);
  }
  if (typeof doc.format_version !== "string" || !doc.format_version.startsWith("1.")) {
    throw new GraphError(where, "$.format_version", `${JSON.stringify(doc.format_version)}: this reader knows 1.x`);
  }
  if (!Array.isArray(doc.cases) || doc.cases.length === 0) {
    throw new GraphError(where, "$.cases", "must be a non-empty array");
  }
  const ids = new Set<string>();
  const cases = doc.cases.map((c: Json, i: number): GraphCase => {
    const p = `$.cases[${i}]`;
    if (typeof c.id !== "string" || ids.has(c.id)) throw new GraphError(where, `${p}.id`, "must be a unique string");
    ids.add(c.id);
    if (c.dtype !== "float32") throw new GraphError(where, `${p}.dtype`, 'must be "float32"');
    const [conv, bn] = Array.isArray(c.graph) ? c.graph : [];
    if (conv?.op !== "Conv" || bn?.op !== "BatchNormalization" || c.graph.length !== 2) {
      throw new GraphError(where, `${p}.graph`, "must be [Conv, BatchNormalization]");
    }
    if (conv.group !== 1 || String(conv.strides) !== "1,1" || String(conv.dilations) !== "1,1") {
      throw new GraphError(where, `${p}.graph[0]`, "this reader knows group 1, strides [1, 1], dilations [1, 1]");
    }
    const inputs: Record<string, GraphTensor> = {};
    for (const k of INPUTS) inputs[k] = tensor(where, `${p}.inputs.${k}`, c.inputs?.[k], "float32");
    const [n, , h, w] = inputs.x.shape;
    const [cout, , kh, kw] = inputs.w.shape;
    const pads: number[] = conv.pads;
    const shape = [n, cout, h + pads[0] + pads[2] - kh + 1, w + pads[1] + pads[3] - kw + 1];
    const expectedExact = tensor(where, `${p}.expected_exact`, c.expected_exact, "float64");
    if (expectedExact.shape.join() !== shape.join()) {
      throw new GraphError(where, `${p}.expected_exact.shape`, `must be [${shape}] (the Conv's output shape)`);
    }
    if (!Array.isArray(c.exact_scale) || c.exact_scale.length !== cout || !c.exact_scale.every((s: number) => s > 0)) {
      throw new GraphError(where, `${p}.exact_scale`, `must hold ${cout} positive numbers, one per output channel`);
    }
    if (!Number.isInteger(c.budget_ulp) || c.budget_ulp <= 0) {
      throw new GraphError(where, `${p}.budget_ulp`, "must be a positive integer");
    }
    return {
      id: c.id,
      inputs,
      kernel: [kh, kw],
      pads,
      epsilon: bn.epsilon,
      expectedExact,
      exactScale: c.exact_scale,
      terms: c.terms,
      budgetUlp: c.budget_ulp,
      runs: (c.runs ?? []).map((r: Json, j: number) => run(where, `${p}.runs[${j}]`, r, shape)),
      wrongFolds: (c.wrong_folds ?? []).map((r: Json, j: number) => run(where, `${p}.wrong_folds[${j}]`, r, shape)),
    };
  });
  return { formatVersion: doc.format_version, provenance: doc.provenance ?? {}, cases };
}

/** float32's ULP of a magnitude (FORMAT.md "ULP"). */
export function ulp32(v: number): number {
  const m = Math.min(Math.abs(v), 3.4028234663852886e38);
  const e = m < 2 ** -126 ? -126 : Math.floor(Math.log2(m));
  // Math.log2 can round up just below a power of two: keep 2^e <= m.
  const exp = 2 ** e > m ? e - 1 : e;
  return 2 ** (exp - 23);
}

/** A verdict on one answer. */
export interface GraphVerdict {
  /** Every element within the budget. */
  pass: boolean;
  /** The largest error in float32 ULP of max(|t|, the channel's scale); Infinity for a non-finite answer. */
  maxErrorUlp: number;
  /** Where the largest error is: flat index, the answer, the exact value. */
  worst: { index: number; got: number; exact: number } | null;
}

/**
 * Judges an answer (y, row-major, the case's output shape) against a case: each element's error is |a − t| /
 * ulp_float32(max(|t|, exact_scale[channel])), 0 where a == t; the answer passes when every error is at most
 * `budget_ulp`. A non-finite answer, or one of the wrong length, fails.
 *
 * @param c The case.
 * @param y The answer's values.
 * @returns The verdict.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { judgeGraph, parseGraphFile } from "./graph.ts";
 * const text = await Deno.readTextFile(new URL("../../fixtures/graphs/conv_bn.json", import.meta.url));
 * const c = parseGraphFile(text, "conv_bn.json").cases[0];
 * assert(judgeGraph(c, c.expectedExact.data.map(Math.fround)).pass);
 * ```
 */
export function judgeGraph(c: GraphCase, y: ArrayLike<number>): GraphVerdict {
  const t = c.expectedExact.data;
  if (y.length !== t.length) return { pass: false, maxErrorUlp: Infinity, worst: null };
  const [, cout, ho, wo] = c.expectedExact.shape;
  let worst: GraphVerdict["worst"] = null;
  let max = 0;
  for (let i = 0; i < t.length; i++) {
    const a = y[i];
    let err: number;
    if (!Number.isFinite(a)) err = Infinity;
    else if (a === t[i]) err = 0;
    else err = Math.abs(a - t[i]) / ulp32(Math.max(Math.abs(t[i]), c.exactScale[Math.floor(i / (ho * wo)) % cout]));
    if (err > max) {
      max = err;
      worst = { index: i, got: a, exact: t[i] };
    }
  }
  return { pass: max <= c.budgetUlp, maxErrorUlp: max, worst };
}
