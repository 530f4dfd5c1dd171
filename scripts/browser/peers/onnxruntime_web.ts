/**
 * onnxruntime-web's WebGPU execution provider as an implementation module, for
 * `deno task browser --peer onnxruntime-web`. One-node BatchNormalization models
 * (opset 15, built by scripts/runners/onnx_model.ts), run with
 * `executionProviders: ["webgpu"]` and CPU fallback disabled
 * (`session.disable_cpu_ep_fallback`), so every number judged comes from the
 * WebGPU provider. The package's files are served under `/ort/` by the runner.
 *
 * At load it asks the provider for a training-mode session once and records
 * what it says in `environment`; when it refuses, training cases are declared
 * unsupported (skipped with the reason) rather than counted as failures.
 *
 * @module
 */

/// <reference lib="dom" />

import type { Capabilities, StepOutputs, StepRequest } from "../../../mod.ts";
import { buildBatchNormModel, type OnnxBatchNormSpec } from "../../runners/onnx_model.ts";

// deno-lint-ignore no-explicit-any
type Ort = any;

const gpu = (navigator as Navigator & { gpu?: GPU }).gpu;
if (!gpu) throw new Error("navigator.gpu is undefined (WebGPU is off in this browser)");
const gpuAdapter = await gpu.requestAdapter();
if (!gpuAdapter) throw new Error("navigator.gpu.requestAdapter() returned null");
const f16 = gpuAdapter.features.has("shader-f16");

const ort: Ort = await import(new URL("/ort/ort.webgpu.min.mjs", location.href).href);
ort.env.wasm.wasmPaths = new URL("/ort/", location.href).href;
ort.env.wasm.numThreads = 1;

const SESSION_OPTIONS = {
  executionProviders: ["webgpu"],
  graphOptimizationLevel: "disabled",
  extra: { session: { disable_cpu_ep_fallback: "1" } },
};

type Data = Float32Array | Float16Array | Float64Array;
const typed = (dtype: string, values: ArrayLike<number>): Data =>
  dtype === "float16"
    ? Float16Array.from(values)
    : dtype === "float64"
    ? Float64Array.from(values)
    : Float32Array.from(values);

async function run(spec: OnnxBatchNormSpec, feeds: Record<string, ArrayLike<number>>, outputs: string[]) {
  const session = await ort.InferenceSession.create(buildBatchNormModel(spec), SESSION_OPTIONS);
  try {
    const C = spec.shape[1];
    const tensors: Record<string, unknown> = {};
    for (const [name, values] of Object.entries(feeds)) {
      tensors[name] = new ort.Tensor(spec.dtype, typed(spec.dtype, values), name === "X" ? [...spec.shape] : [C]);
    }
    const out = await session.run(tensors, outputs);
    const result: Record<string, { dims: number[]; data: number[] }> = {};
    for (const name of outputs) result[name] = { dims: [...out[name].dims], data: Array.from(out[name].data as Data) };
    return result;
  } finally {
    await session.release();
  }
}

// Ask once for training mode and keep the answer.
let trainingRefusal: string | undefined;
try {
  await run(
    { opset: 15, dtype: "float32", shape: [2, 3], training: true },
    { X: [1, 2, 3, 4, 5, 6], scale: [1, 1, 1], B: [0, 0, 0], input_mean: [0, 0, 0], input_var: [1, 1, 1] },
    ["Y", "running_mean", "running_var"],
  );
} catch (e) {
  trainingRefusal = (e as Error).message ?? String(e);
}

// The premise of this peer: no CPU fallback. A float64 BatchNormalization has no WebGPU kernel, so the
// provider must refuse it; if it ran, the numbers judged could come from the CPU provider.
let float64Refusal: string | undefined;
try {
  await run(
    { opset: 15, dtype: "float64", shape: [2, 3], training: false },
    { X: [1, 2, 3, 4, 5, 6], scale: [1, 1, 1], B: [0, 0, 0], input_mean: [0, 0, 0], input_var: [1, 1, 1] },
    ["Y"],
  );
} catch (e) {
  float64Refusal = (e as Error).message ?? String(e);
}
if (!float64Refusal) {
  throw new Error("a float64 session ran although no WebGPU kernel exists for it: CPU fallback is not disabled");
}

/** Name in reports. */
export const name = `onnxruntime-web ${ort.env.versions?.web ?? "?"} WebGPU EP (opset 15, no CPU fallback)`;

/** What was asked of the provider at load and what it answered. */
export const environment = `${navigator.userAgent}; adapter ${
  gpuAdapter.info?.description || gpuAdapter.info?.vendor || "?"
}${f16 ? " (shader-f16)" : ""}; training mode: ${
  trainingRefusal ? `refused: ${trainingRefusal.split("\n")[0]}` : "accepted"
}; CPU fallback off (a float64 session, which has no WebGPU kernel, was refused)`;

/** ONNX conventions; inference only when the provider refuses training mode; float32 (float16 with shader-f16). */
export const supports: Capabilities = {
  modes: trainingRefusal ? ["eval"] : ["train", "eval"],
  dtypes: f16 ? ["float32", "float16"] : ["float32"],
  layouts: ["channels-first"],
  backward: false,
  errors: false,
  outputs: ["y", "running_mean", "running_var"],
  conventions: {
    epsilonPlacement: ["inside"],
    epsilonFloor: [0],
    momentumKind: ["old"],
    runningVariance: ["biased"],
    affine: [true],
    trackRunningStats: [true],
    zeroVarianceInvStd: ["ieee"],
    emptyBatch: ["nan"],
  },
};

const per = (t: { data: ArrayLike<number> } | undefined, n: number, fill: number) =>
  t ? t.data : new Array(n).fill(fill);

/** One step through a fresh session. */
export async function adapter(req: StepRequest): Promise<StepOutputs> {
  const C = req.x.shape[1];
  const training = req.mode === "train";
  const outputs = training ? ["Y", "running_mean", "running_var"] : ["Y"];
  const out = await run(
    {
      opset: 15,
      dtype: req.dtype,
      shape: req.x.shape,
      epsilon: req.convention?.epsilon,
      momentum: req.convention?.momentum ?? undefined,
      training,
    },
    {
      X: req.x.data,
      scale: per(req.state.gamma, C, 1),
      B: per(req.state.beta, C, 0),
      input_mean: per(req.state.running_mean, C, 0),
      input_var: per(req.state.running_var, C, 1),
    },
    outputs,
  );
  const result: Record<string, { shape: number[]; data: number[] }> = {
    y: { shape: out.Y.dims, data: out.Y.data },
  };
  if (training) {
    result.running_mean = { shape: [C], data: out.running_mean.data };
    result.running_var = { shape: [C], data: out.running_var.data };
  }
  return { outputs: result };
}
