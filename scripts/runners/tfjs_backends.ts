/**
 * TensorFlow.js's BatchNormalization layer on the backends people deploy:
 * `wasm` (@tensorflow/tfjs-backend-wasm, SIMD, one thread) and `webgpu`
 * (@tensorflow/tfjs-backend-webgpu on Deno's navigator.gpu). The same layer
 * call as scripts/runners/tfjs.ts (cpu), read back asynchronously: the webgpu
 * backend cannot read synchronously under Deno (its readSync draws through a
 * canvas). Outside mod.ts's import graph.
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import "@tensorflow/tfjs-backend-webgpu";
import type { TfjsLayer } from "./tfjs.ts";

/** The deployed backends run here. */
export type TfjsBackend = "wasm" | "webgpu";

/** Whether a backend can start here; the reason when it cannot (e.g. no WebGPU adapter). */
export async function backendUnavailable(backend: TfjsBackend): Promise<string | undefined> {
  if (backend === "webgpu") {
    const gpu = (navigator as { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
    if (!gpu) return "navigator.gpu is undefined in this Deno";
    let adapter: unknown;
    try {
      adapter = await gpu.requestAdapter();
    } catch (e) {
      return `navigator.gpu.requestAdapter() threw: ${(e as Error).message}`;
    }
    if (!adapter) return "navigator.gpu.requestAdapter() returned null (no Vulkan driver: install mesa-vulkan-drivers)";
  }
  try {
    if (!(await tf.setBackend(backend))) return `tf.setBackend("${backend}") returned false`;
    await tf.ready();
  } catch (e) {
    return `tf.setBackend("${backend}") threw: ${(e as Error).message}`;
  }
  return undefined;
}

/** Selects the backend (throws when it cannot start) and returns its name. */
export async function useBackend(backend: TfjsBackend): Promise<string> {
  if (tf.getBackend() !== backend) {
    const reason = await backendUnavailable(backend);
    if (reason) throw new Error(reason);
  }
  return tf.getBackend();
}

/** The WebGPU adapter's description (e.g. "llvmpipe (LLVM 15.0.6, 256 bits)"), or undefined without one. */
export async function webgpuAdapterDescription(): Promise<string | undefined> {
  const gpu = (navigator as { gpu?: { requestAdapter(): Promise<{ info?: { description?: string } } | null> } }).gpu;
  const adapter = await gpu?.requestAdapter();
  return adapter?.info?.description;
}

const values = async (t: tf.Tensor) => Array.from(await t.data());

/**
 * One layer call on the current backend, as TfjsLayer.call does: y, the batch
 * moments (training), the updated moving statistics, and the gradients of sum(y·dy).
 */
export async function layerCall(
  layer: TfjsLayer,
  mode: "train" | "eval",
  shape: readonly number[],
  x: number[],
  dy: number[] | null,
): Promise<Record<string, number[]>> {
  const training = mode === "train";
  const weight = (name: string) =>
    layer.layer.weights.find((w) => w.name.split("/").pop()!.replace(/_\d+$/, "") === name)!;
  const before = {
    gamma: layer.config.scale ? await values(weight("gamma").read()) : undefined,
    beta: layer.config.center ? await values(weight("beta").read()) : undefined,
    movingMean: await values(weight("moving_mean").read()),
    movingVariance: await values(weight("moving_variance").read()),
  };
  const out: Record<string, number[]> = {};
  const kept: tf.Tensor[] = [];
  const xt = tf.tensor(x, [...shape], "float32");
  kept.push(xt);
  if (dy) {
    const dyt = tf.tensor(dy, [...shape], "float32");
    kept.push(dyt);
    const loss = (input: tf.Tensor) =>
      tf.sum(tf.mul(layer.layer.apply(input, { training }) as tf.Tensor, dyt)) as tf.Scalar;
    const dx = tf.grad(loss)(xt);
    out.dx = await values(dx);
    dx.dispose();
    layer.state = before; // a training apply updates the moving statistics: undo it
    const weights = layer.layer.trainableWeights;
    if (weights.length > 0) {
      const vars = weights.map((w) => (w as unknown as { val: tf.Variable }).val);
      const { value, grads } = tf.variableGrads(() => loss(xt), vars);
      for (let i = 0; i < weights.length; i++) {
        const name = weights[i].name.split("/").pop()!.replace(/_\d+$/, "");
        out[name === "gamma" ? "dgamma" : "dbeta"] = await values(grads[vars[i].name]);
      }
      value.dispose();
      for (const g of Object.values(grads)) g.dispose();
    }
    layer.state = before;
  }
  const y = layer.layer.apply(xt, { training }) as tf.Tensor;
  out.y = await values(y);
  y.dispose();
  if (training) {
    const axis = layer.config.axis < 0 ? layer.config.axis + shape.length : layer.config.axis;
    const reduce = shape.map((_, i) => i).filter((i) => i !== axis);
    const { mean, variance } = tf.moments(xt, reduce);
    out.batch_mean = await values(mean);
    out.batch_var = await values(variance);
    mean.dispose();
    variance.dispose();
    out.running_mean = await values(weight("moving_mean").read());
    out.running_var = await values(weight("moving_variance").read());
  }
  for (const t of kept) t.dispose();
  return out;
}

/** Releases the layer's weights (the webgpu backend holds GPU buffers). */
export function disposeLayer(layer: TfjsLayer): void {
  for (const w of layer.layer.weights) (w as unknown as { val: tf.Variable }).val.dispose();
}
