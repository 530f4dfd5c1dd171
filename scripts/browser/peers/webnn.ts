/**
 * WebNN's `batchNormalization` as an implementation module, for
 * `deno task browser --peer webnn`: a probe that runs every time. Where the
 * browser has no WebNN (no `navigator.ml`, or `createContext` rejects) the
 * module throws the browser's own message and the runner records
 * "unavailable: <message>". Where it has one, inference cases run through
 * `MLGraphBuilder.batchNormalization` (WebNN normalizes with given mean and
 * variance: inference only) and are judged like any other implementation.
 *
 * Written against the W3C WebNN API (MLContext.createTensor / writeTensor /
 * dispatch / readTensor); not yet run on a browser with a WebNN backend.
 *
 * @module
 */

/// <reference lib="dom" />

import type { Capabilities, StepOutputs, StepRequest } from "../../../mod.ts";

// deno-lint-ignore no-explicit-any
type Any = any;

const ml = (navigator as Navigator & { ml?: Any }).ml;
if (!ml) throw new Error("navigator.ml is undefined (this browser exposes no WebNN API)");
let context: Any;
try {
  context = await ml.createContext({ deviceType: "gpu" });
} catch (gpuError) {
  try {
    context = await ml.createContext({ deviceType: "cpu" });
  } catch (cpuError) {
    throw new Error(
      `createContext rejected: gpu: ${(gpuError as Error).message ?? gpuError}; cpu: ${
        (cpuError as Error).message ?? cpuError
      }`,
    );
  }
}

/** Name in reports. */
export const name = "WebNN batchNormalization";

/** Inference with given statistics; float32 and float16; any channel axis. */
export const supports: Capabilities = {
  modes: ["eval"],
  dtypes: ["float32", "float16"],
  layouts: ["channels-first", "channels-last"],
  backward: false,
  errors: false,
  outputs: ["y"],
  conventions: { epsilonPlacement: ["inside"], epsilonFloor: [0], trackRunningStats: [true] },
};

/** One inference step as a one-operator graph. */
export async function adapter(req: StepRequest): Promise<StepOutputs> {
  const c = req.convention!;
  const shape = [...req.x.shape];
  const axis = c.axis < 0 ? c.axis + shape.length : c.axis;
  const C = shape[axis];
  const dataType = req.dtype;
  const Typed = req.dtype === "float16" ? Float16Array : Float32Array;
  const builder = new (globalThis as Any).MLGraphBuilder(context);
  const vec = (t: { data: ArrayLike<number> } | undefined, fill: number) =>
    builder.constant({ dataType, shape: [C] }, Typed.from(t ? Array.from(t.data) : new Array(C).fill(fill)));
  const x = builder.input("x", { dataType, shape });
  const y = builder.batchNormalization(x, vec(req.state.running_mean, 0), vec(req.state.running_var, 1), {
    axis,
    epsilon: c.epsilon,
    ...(c.affine ? { scale: vec(req.state.gamma, 1), bias: vec(req.state.beta, 0) } : {}),
  });
  const graph = await builder.build({ y });
  const input = await context.createTensor({ dataType, shape, writable: true });
  const output = await context.createTensor({ dataType, shape, readable: true });
  context.writeTensor(input, Typed.from(Array.from(req.x.data)));
  context.dispatch(graph, { x: input }, { y: output });
  const data = Array.from(new Typed(await context.readTensor(output)));
  return { outputs: { y: { shape, data } } };
}
