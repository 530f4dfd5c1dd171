/**
 * Golden fixtures from live onnxruntime-node runs of ONNX BatchNormalization
 * models (opsets 9, 14, 15) built with onnx-proto. Every expected value is what
 * onnxruntime computed; `expected_float64` is onnxruntime running the float64
 * model with the same attributes on the same inputs widened exactly.
 *
 * Run by `deno task fixtures`; also imported by tests/onnxruntime_test.ts, which
 * replays every case live and checks that onnxruntime still gives these bytes.
 *
 * @module
 */

import { conventionToConfig, type DType, PRESETS, type Tensor } from "../../mod.ts";
import {
  channelData,
  encodeTensor,
  fixtureText,
  hashName,
  type InputFn,
  makeTensor,
  normalStream,
  writeAtomic,
} from "./_fixture_io.ts";
import { EDGE_SCENARIOS } from "./_edge_scenarios.ts";
import { nodeOutputs, ONNX_PROTO_VERSION, type OnnxBatchNormSpec } from "../runners/onnx_model.ts";
import { ORT_VERSION, runOnnxBatchNorm } from "../runners/onnxruntime.ts";

/** Base seed; each case's seed is SEED ^ hash(seed key). */
export const SEED = 20261122;

/** One case: a sequence of onnxruntime calls on one node configuration. */
export interface OrtCase {
  readonly name: string;
  readonly description: string;
  readonly features: readonly string[];
  readonly opset: 9 | 14 | 15;
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly epsilon?: number;
  readonly momentum?: number;
  readonly steps: readonly ("train" | "eval")[];
  /** onnxruntime#29790 set-up: parameters as initializers (1, 0, 0, 1), Y the only graph output. */
  readonly sharedInitializers?: boolean;
  /** Cases sharing a seed key get identical inputs, so their outputs can be compared directly. */
  readonly seedKey: string;
  /** Known to disagree with the ONNX spec: the issue and what goes wrong. */
  readonly defect?: { readonly issue: string; readonly summary: string };
  /** Edge cases: the scenario shared with other frameworks' edge fixtures. */
  readonly scenario?: string;
  /** Overrides the inputs: values for one step, from the seeded stream. */
  readonly xFn?: InputFn;
  /** Overrides initial state entries (per-channel values). */
  readonly init?: {
    readonly gamma?: number[];
    readonly beta?: number[];
    readonly mean?: number[];
    readonly var?: number[];
  };
}

const dims = (s: readonly number[]) => s.join("x");
const SEQ = ["train", "train", "eval"] as const;
const ISSUE_29790 = "https://github.com/microsoft/onnxruntime/issues/29790";

function cases(): OrtCase[] {
  const out: OrtCase[] = [];
  for (const opset of [9, 14, 15] as const) {
    for (const dtype of ["float32", "float64", "float16"] as const) {
      const attrs = opset === 9 ? { epsilon: 1e-5, momentum: 0.9 } : {};
      out.push({
        name: `onnxruntime BatchNormalization opset ${opset} ${dtype} 2x3x4x5 training x2 then inference`,
        description: opset === 9
          ? "Opset 9 has no training_mode: declaring all five outputs is what selects training. Two training calls feed " +
            "running_mean/running_var back as input_mean/input_var, then a one-output inference call. saved_mean is the " +
            "batch mean; saved_var is, in onnxruntime, the inverse standard deviation 1/sqrt(var + epsilon), not a variance."
          : `training_mode=1 (outputs Y, running_mean, running_var), default epsilon and momentum; two training calls ` +
            `feeding the running statistics back, then inference with them.`,
        features: ["training", "inference", "multi-step"],
        opset,
        dtype,
        shape: [2, 3, 4, 5],
        ...attrs,
        steps: SEQ,
        seedKey: `opsets ${dtype}`,
      });
    }
  }
  for (const shape of [[6, 3], [4, 3, 5], [2, 2, 3, 2, 3]]) {
    out.push({
      name: `onnxruntime BatchNormalization opset 15 float32 ${
        dims(shape)
      } rank ${shape.length} training x2 then inference`,
      description: `Rank ${shape.length}: statistics over every axis but axis 1.`,
      features: ["training", "inference", "multi-step"],
      opset: 15,
      dtype: "float32",
      shape,
      steps: SEQ,
      seedKey: `rank ${shape.length}`,
    });
  }
  for (const dtype of ["float32", "float64"] as const) {
    for (
      const [epsilon, momentum, note] of [[1e-3, 0.99, "Keras-like"], [0.1, 0, "momentum 0 replaces"], [
        1e-5,
        1,
        "momentum 1 freezes",
      ]] as const
    ) {
      out.push({
        name: `onnxruntime BatchNormalization opset 15 ${dtype} 2x3x4x5 epsilon=${epsilon} momentum=${momentum}`,
        description:
          `Attributes epsilon=${epsilon}, momentum=${momentum} (${note}): momentum weighs the OLD running value. ` +
          "Both attributes are FLOATs, so the values onnxruntime uses are their float32 roundings (see config).",
        features: [
          "training",
          "inference",
          "multi-step",
          momentum === 0 || momentum === 1 ? "momentum-extreme" : "epsilon-value",
        ],
        opset: 15,
        dtype,
        shape: [2, 3, 4, 5],
        epsilon,
        momentum,
        steps: SEQ,
        seedKey: `attributes ${dtype}`,
      });
    }
  }
  const pitfall = (opset: 9 | 14 | 15, momentum: number, shared: boolean): OrtCase => ({
    name: `onnxruntime BatchNormalization opset ${opset} float32 2x4x3 training momentum=${momentum} ` +
      (shared ? "shared initializers, Y the only output" : "parameters as inputs, Y the only output"),
    description: shared
      ? `scale=1, B=0, input_mean=0, input_var=1 as initializers (onnxruntime's ConstantSharing merges equal ones), ` +
        `training, running outputs unused. Per the spec Y uses the batch statistics only and cannot depend on momentum.` +
        (momentum === 1
          ? " At momentum 1 onnxruntime is right."
          : " onnxruntime's Y here depends on momentum (onnxruntime#29790).")
      : "The same call with the parameters as graph inputs: no aliasing, Y is right at any momentum (control case).",
    features: ["training", "shared-initializers", ...(shared && momentum !== 1 ? ["known-framework-defect"] : [])],
    opset,
    dtype: "float32",
    shape: [2, 4, 3],
    epsilon: 1e-5,
    momentum,
    steps: ["train"],
    seedKey: "onnxruntime#29790",
    sharedInitializers: true,
    ...(shared ? {} : { sharedInitializers: false }),
    ...(shared && momentum !== 1
      ? {
        defect: {
          issue: ISSUE_29790,
          summary:
            "onnxruntime writes running_mean/running_var into buffers aliased with scale/B before computing Y, " +
            "so Y is computed with corrupted scale and shift; the error scales with 1 - momentum.",
        },
      }
      : {}),
  });
  for (const opset of [9, 14, 15] as const) out.push(pitfall(opset, 0.5, true));
  out.push(pitfall(14, 0, true), pitfall(14, 1, true), pitfall(14, 0.5, false));
  return out;
}

/** The cases, in file order. */
export const ORT_CASES: readonly OrtCase[] = cases();

/** Edge cases: the scenarios of the edge-case matrix (scripts/generators/_edge_scenarios.ts), under ONNX's conventions. */
export const ORT_EDGE_CASES: readonly OrtCase[] = EDGE_SCENARIOS.map((e): OrtCase => ({
  name: `onnxruntime edge opset 15 float32 ${e.shape.join("x")} ${e.scenario}`,
  description: e.description,
  features: ["edge-case", ...e.features],
  opset: 15,
  dtype: "float32",
  shape: e.shape,
  steps: e.steps,
  seedKey: `edge ${e.scenario}`,
  scenario: e.scenario,
  xFn: e.xFn,
  epsilon: e.epsilon,
  momentum: e.momentum,
  init: e.init,
}));

const fround = Math.fround;

/** The fixture config of a case: ONNX semantics with the float32 values of the FLOAT attributes. */
function config(c: OrtCase) {
  return conventionToConfig({
    ...PRESETS.onnx,
    epsilon: fround(c.epsilon ?? 1e-5),
    momentum: fround(c.momentum ?? 0.9),
  });
}

function spec(c: OrtCase, mode: "train" | "eval", dtype: DType): OnnxBatchNormSpec {
  return {
    opset: c.opset,
    dtype,
    shape: c.shape,
    epsilon: c.epsilon,
    momentum: c.momentum,
    training: mode === "train",
    ...(c.sharedInitializers === true
      ? { graphOutputs: "Y" as const, initializers: { scale: ones(c), B: zeros(c), mean: zeros(c), var: ones(c) } }
      : {}),
    ...(c.sharedInitializers === false ? { graphOutputs: "Y" as const } : {}),
  };
}
const ones = (c: OrtCase) => new Array(c.shape[1]).fill(1);
const zeros = (c: OrtCase) => new Array(c.shape[1]).fill(0);

/** ONNX output names to fixture output names. */
const OUTPUT_NAME: Record<string, string> = {
  Y: "y",
  running_mean: "running_mean",
  running_var: "running_var",
  saved_mean: "batch_mean",
  saved_var: "saved_invstd",
};

interface State {
  gamma: Tensor;
  beta: Tensor;
  mean: Tensor;
  var: Tensor;
}

async function call(
  c: OrtCase,
  mode: "train" | "eval",
  dtype: DType,
  x: Tensor,
  s: State,
): Promise<Record<string, Tensor>> {
  const widen = (t: Tensor) => t.data;
  const out = await runOnnxBatchNorm(spec(c, mode, dtype), {
    x: x.data,
    scale: widen(s.gamma),
    B: widen(s.beta),
    mean: widen(s.mean),
    var: widen(s.var),
  });
  const named: Record<string, Tensor> = {};
  for (const [k, v] of Object.entries(out)) named[OUTPUT_NAME[k]] = v;
  return named;
}

const as64 = (t: Tensor): Tensor => ({ ...t, dtype: "float64" });
const encodeAll = (o: Record<string, Tensor>) =>
  Object.fromEntries(Object.entries(o).map(([k, v]) => [k, encodeTensor(v)]));

/** Runs a case live in onnxruntime and returns it as a fixture case object. */
export async function runOrtCase(c: OrtCase): Promise<Record<string, unknown>> {
  const seed = (SEED ^ hashName(c.seedKey)) >>> 0;
  const next = normalStream(seed);
  const C = c.shape[1];
  const vec = (f: () => number) => makeTensor(c.dtype, [C], Array.from({ length: C }, f));
  let state: State = c.sharedInitializers !== undefined
    ? { gamma: vec(() => 1), beta: vec(() => 0), mean: vec(() => 0), var: vec(() => 1) }
    : {
      gamma: vec(() => next(1, 0.25)),
      beta: vec(() => next(0, 0.5)),
      mean: vec(() => next(0, 0.5)),
      var: vec(() => 1 + Math.abs(next(0, 0.5))),
    };
  for (const [k, v] of Object.entries(c.init ?? {})) state = { ...state, [k]: makeTensor(c.dtype, [C], v) };
  const initial = {
    gamma: encodeTensor(state.gamma),
    beta: encodeTensor(state.beta),
    running_mean: encodeTensor(state.mean),
    running_var: encodeTensor(state.var),
  };
  const means = Array.from({ length: C }, () => next(0, 2)),
    stds = Array.from({ length: C }, () => 0.5 + Math.abs(next(0, 1)));
  const steps = [];
  for (const mode of c.steps) {
    const x = makeTensor(c.dtype, c.shape, (c.xFn ?? channelData)(next, c.shape, means, stds));
    const expected = await call(c, mode, c.dtype, x, state);
    const step: Record<string, unknown> = { mode, inputs: { x: encodeTensor(x) }, expected: encodeAll(expected) };
    if (c.dtype !== "float64") {
      const wide = { gamma: as64(state.gamma), beta: as64(state.beta), mean: as64(state.mean), var: as64(state.var) };
      step.expected_float64 = encodeAll(await call(c, mode, "float64", as64(x), wide));
    }
    steps.push(step);
    if (mode === "train" && expected.running_mean) {
      state = { ...state, mean: expected.running_mean, var: expected.running_var };
    }
  }
  const graphOutputs = c.sharedInitializers === undefined ? nodeOutputs(spec(c, "train", c.dtype)) : ["Y"];
  return {
    name: c.name,
    description: c.description,
    features: c.features,
    api: `onnxruntime-node InferenceSession.run, ai.onnx BatchNormalization-${c.opset}`,
    seed,
    dtype: c.dtype,
    config: config(c),
    initial_state: initial,
    steps,
    framework_call: {
      opset: c.opset,
      attributes: {
        ...(c.epsilon !== undefined ? { epsilon: fround(c.epsilon) } : {}),
        ...(c.momentum !== undefined ? { momentum: fround(c.momentum) } : {}),
      },
      training_selected_by: c.opset === 9 ? "five node outputs" : "training_mode=1",
      training_outputs: graphOutputs,
      parameters: c.sharedInitializers === true ? "initializers" : "graph inputs",
      ...(c.scenario ? { scenario: c.scenario } : {}),
    },
    ...(c.defect ? { framework_defect: c.defect } : {}),
  };
}

/** What onnxruntime refuses, captured live: training_mode=1 with a single declared output. */
async function refusals(): Promise<{ call: string; message: string }[]> {
  const { buildBatchNormModel } = await import("../runners/onnx_model.ts");
  const ort = await import("onnxruntime-node");
  const out = [];
  for (const opset of [14, 15] as const) {
    const bytes = buildBatchNormModel({ opset, dtype: "float32", shape: [2, 3], training: true });
    // Re-encode with a single node output: the builder always declares three in training.
    const { default: onnxProto } = await import("onnx-proto");
    const model = onnxProto.onnx.ModelProto.decode(bytes);
    model.graph!.node![0].output = ["Y"];
    model.graph!.output = model.graph!.output!.slice(0, 1);
    try {
      await ort.InferenceSession.create(onnxProto.onnx.ModelProto.encode(model).finish());
      out.push({ call: `opset ${opset} training_mode=1 with only Y declared`, message: "accepted" });
    } catch (e) {
      out.push({
        call: `opset ${opset} training_mode=1 with only Y declared`,
        message: String((e as Error).message ?? e),
      });
    }
  }
  return out;
}

/** Generates fixtures/onnxruntime/batch_normalization.json. */
export async function generate(root: URL): Promise<void> {
  const unsupported: { dtype: DType; type: string; message: string }[] = [];
  const out = [];
  for (const c of ORT_CASES) {
    try {
      out.push(await runOrtCase(c));
    } catch (e) {
      if (!unsupported.some((u) => u.dtype === c.dtype)) {
        unsupported.push({ dtype: c.dtype, type: (e as Error).name, message: (e as Error).message });
      }
    }
  }
  const doc = {
    format: "batchnorm-conformance-fixture",
    format_version: "1.1",
    provenance: {
      source: "onnxruntime",
      framework: "onnxruntime-node",
      version: ORT_VERSION,
      api:
        "InferenceSession.run on one-node ai.onnx BatchNormalization models (opsets 9, 14, 15), CPU execution provider, graph optimization level all",
      generator: "scripts/generators/gen_onnxruntime.ts",
      model_builder: "scripts/runners/onnx_model.ts",
      command: "deno task fixtures",
      seed: SEED,
      composed: false,
      environment:
        `onnxruntime-node ${ORT_VERSION} under Deno ${Deno.version.deno}; models built with onnx-proto ${ONNX_PROTO_VERSION} (protobufjs), IR version 8`,
      notes: [
        "expected: what onnxruntime computed in the case's dtype. expected_float64: onnxruntime running the float64 model with the same attributes on the same inputs widened exactly.",
        "epsilon and momentum are FLOAT attributes: onnxruntime uses their float32 roundings (epsilon 1e-5 is 9.99999974737875e-06, momentum 0.9 is 0.8999999761581421), also in float64 models. config records those values.",
        "Output names: Y -> y; opset 9 saved_mean -> batch_mean and saved_var -> saved_invstd, because onnxruntime's saved_var holds 1/sqrt(var + epsilon).",
        "Running statistics from each training call are fed back as input_mean/input_var of the next call.",
      ],
      unsupported,
      refused: await refusals(),
    },
    cases: out,
  };
  const dir = new URL("fixtures/onnxruntime/", root);
  Deno.mkdirSync(dir, { recursive: true });
  writeAtomic(new URL("batch_normalization.json", dir), fixtureText(doc));
  console.log(`fixtures/onnxruntime/batch_normalization.json: ${out.length} cases`);
  const edges = [];
  for (const c of ORT_EDGE_CASES) edges.push(await runOrtCase(c));
  const edgeDoc = {
    ...doc,
    provenance: {
      ...doc.provenance,
      notes: [
        ...doc.provenance.notes,
        "Edge cases: framework_call.scenario names the scenario shared with the other frameworks' edge fixtures.",
      ],
    },
    cases: edges,
  };
  writeAtomic(new URL("edge_cases.json", dir), fixtureText(edgeDoc));
  console.log(`fixtures/onnxruntime/edge_cases.json: ${edges.length} cases`);
}

if (import.meta.main) await generate(new URL("../../", import.meta.url));
