/**
 * Runs ONNX BatchNormalization models in onnxruntime-web's WebAssembly build
 * (CPU execution provider, one thread) under Deno. Outside mod.ts's import graph;
 * needs --allow-read (the .wasm file ships in the npm package) and --allow-env.
 *
 * float16 tensors go in as Uint16Array bit patterns, which onnxruntime-web
 * accepts beside Float16Array, and are read back from either array type. The
 * package bundles its own onnxruntime-common, so onnxruntime-node's Uint16Array
 * mapping (scripts/runners/onnxruntime.ts) does not reach it; its conversions are
 * not reused here.
 *
 * @module
 */

import * as ort from "onnxruntime-web";
import type { DType, Tensor } from "../../mod.ts";
import { buildBatchNormModel, nodeOutputs, type OnnxBatchNormSpec } from "./onnx_model.ts";
import type { OnnxBatchNormInputs } from "./onnxruntime.ts";

ort.env.wasm.numThreads = 1;

/** The onnxruntime-web version in use. */
export const ORT_WEB_VERSION: string = ort.env.versions.web ?? "unknown";

function toOrt(dtype: DType, shape: readonly number[], values: ArrayLike<number>): ort.Tensor {
  const dims = [...shape];
  switch (dtype) {
    case "float64":
      return new ort.Tensor("float64", Float64Array.from(values), dims);
    case "float32":
      return new ort.Tensor("float32", Float32Array.from(values), dims);
    case "float16":
      return new ort.Tensor("float16", new Uint16Array(Float16Array.from(values).buffer), dims);
    case "bfloat16":
      throw new Error("bfloat16 is not run in onnxruntime-web here");
  }
}

/** A tensor's values as float64, whatever typed array onnxruntime-common handed back. */
export function ortValues(t: { type: string; data: unknown }): Float64Array {
  const data = t.data;
  if (t.type === "float16" && data instanceof Uint16Array) {
    return Float64Array.from(new Float16Array(data.slice().buffer));
  }
  if (ArrayBuffer.isView(data) && !(data instanceof DataView)) return Float64Array.from(data as Float32Array);
  throw new Error(`onnxruntime-web returned a ${t.type} tensor with unreadable data`);
}

const sessions = new Map<string, Promise<ort.InferenceSession>>();

/**
 * Runs one BatchNormalization call, as runOnnxBatchNorm does in onnxruntime-node.
 *
 * @returns The graph's outputs by ONNX name (Y, running_mean, running_var, saved_mean, saved_var).
 */
export async function runOnnxWebBatchNorm(
  spec: OnnxBatchNormSpec,
  inputs: OnnxBatchNormInputs,
): Promise<Record<string, Tensor>> {
  const key = JSON.stringify(spec);
  let session = sessions.get(key);
  if (!session) {
    session = ort.InferenceSession.create(buildBatchNormModel(spec), {
      executionProviders: ["wasm"],
      graphOptimizationLevel: "all",
    });
    sessions.set(key, session);
  }
  const c = [spec.shape[1]];
  const feeds: Record<string, ort.Tensor> = { X: toOrt(spec.dtype, spec.shape, inputs.x) };
  if (!spec.initializers) {
    Object.assign(feeds, {
      scale: toOrt(spec.dtype, c, inputs.scale),
      B: toOrt(spec.dtype, c, inputs.B),
      input_mean: toOrt(spec.dtype, c, inputs.mean),
      input_var: toOrt(spec.dtype, c, inputs.var),
    });
  }
  const result = await (await session).run(feeds);
  const out: Record<string, Tensor> = {};
  for (const name of spec.graphOutputs === "Y" ? ["Y"] : nodeOutputs(spec)) {
    out[name] = { dtype: spec.dtype, shape: result[name].dims.map(Number), data: ortValues(result[name]) };
  }
  return out;
}
