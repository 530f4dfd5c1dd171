/**
 * The same-technology peers of `deno task bench`: other BatchNorm kernels compiled to WebAssembly and run in this
 * Deno process, one thread each, as the reference is: onnxruntime-web's wasm execution provider (the bench's own ONNX
 * models; inference and training_mode) and TensorFlow.js's wasm backend (@tensorflow/tfjs-backend-wasm, SIMD:
 * tf.batchNorm for inference, tf.moments then tf.batchNorm for the training forward, tf.grads of that for backward,
 * channels-last, the layout its kernels handle). Timed like the native peers (scripts/bench/native.ts: 3 warm-ups,
 * then `runs` calls, median, min and max), each call reading its result back. A peer that cannot start is reported
 * as missing, not thrown. Needs --allow-read (the packages' .wasm files) and --allow-env.
 *
 * @module
 */

import * as ortWeb from "onnxruntime-web";
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import type { PeerReport, Timing } from "./native.ts";
import { buildBatchNormModel } from "../runners/onnx_model.ts";

/** As native.ts's timed, for a call that returns a promise. */
async function timedAsync(fn: () => Promise<unknown>, runs: number): Promise<Timing> {
  for (let i = 0; i < 3; i++) await fn();
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await fn();
    ms.push(performance.now() - t);
  }
  ms.sort((a, b) => a - b);
  const mid = ms.length >> 1;
  return [ms.length % 2 ? ms[mid] : (ms[mid - 1] + ms[mid]) / 2, ms[0], ms[ms.length - 1]];
}

/** A shape to time, with its float32 NCHW data (x and dy) in the bench's recipe. */
export interface WasmPeerShape {
  readonly label: string;
  readonly shape: readonly [number, number, number, number];
  readonly x: Float32Array;
  readonly dy: Float32Array;
}

/** onnxruntime-web, wasm execution provider, one thread. */
async function onnxruntimeWeb(shapes: readonly WasmPeerShape[], runs: number): Promise<PeerReport> {
  const peer = "onnxruntime-web (wasm)";
  try {
    ortWeb.env.wasm.numThreads = 1;
    const results: PeerReport["results"] = [];
    for (const { label, shape, x } of shapes) {
      const C = shape[1];
      const ones = new Float32Array(C).fill(1), zeros = new Float32Array(C);
      const feeds = {
        X: new ortWeb.Tensor("float32", x, [...shape]),
        scale: new ortWeb.Tensor("float32", ones, [C]),
        B: new ortWeb.Tensor("float32", zeros, [C]),
        input_mean: new ortWeb.Tensor("float32", zeros, [C]),
        input_var: new ortWeb.Tensor("float32", ones, [C]),
      };
      for (const what of ["inference", "training"] as const) {
        const session = await ortWeb.InferenceSession.create(
          buildBatchNormModel({ opset: 15, dtype: "float32", shape: [...shape], training: what === "training" }),
          { executionProviders: ["wasm"], graphOptimizationLevel: "all" },
        );
        results.push({ label, what, ms: await timedAsync(() => session.run(feeds), runs) });
        await session.release();
      }
    }
    return { peer, version: ortWeb.env.versions.web ?? "unknown", results };
  } catch (e) {
    return { peer, missing: String(e), results: [] };
  }
}

/** TensorFlow.js, wasm backend (SIMD, one thread); the previous backend is selected again afterwards. */
function tfjsWasm(shapes: readonly WasmPeerShape[], runs: number, backwardRuns: number): Promise<PeerReport> {
  return tfjsBackend("wasm", shapes, runs, backwardRuns);
}

/**
 * TensorFlow.js on `backend` ("wasm", "cpu"), timed as the wasm backend is; backward only where `backwardRuns` > 0.
 * The previous backend is selected again afterwards.
 */
export async function tfjsBackend(
  backend: string,
  shapes: readonly WasmPeerShape[],
  runs: number,
  backwardRuns: number,
): Promise<PeerReport> {
  const peer = `TF.js ${backend} backend`;
  let previous: string | undefined;
  try {
    previous = tf.getBackend();
    if (!(await tf.setBackend(backend))) {
      return { peer, missing: `tf.setBackend("${backend}") returned false`, results: [] };
    }
    await tf.ready();
    const results: PeerReport["results"] = [];
    for (const { label, shape, x, dy } of shapes) {
      const [N, C, H, W] = shape;
      const xs = tf.tensor4d(x, [N, H, W, C]), dys = tf.tensor4d(dy, [N, H, W, C]); // the same bytes, channels-last
      const [gamma, beta, mean, variance] = [tf.ones([C]), tf.zeros([C]), tf.zeros([C]), tf.ones([C])];
      const run = (f: () => tf.Tensor | tf.Tensor[]) => () =>
        Promise.resolve(tf.tidy(() => {
          const out = f();
          for (const t of Array.isArray(out) ? out : [out]) t.dataSync();
        }));
      const training = (a: tf.Tensor4D, g: tf.Tensor, b: tf.Tensor) => {
        const m = tf.moments(a, [0, 1, 2]);
        return tf.batchNorm(a, m.mean, m.variance, b, g, 1e-5);
      };
      results.push(
        {
          label,
          what: "inference",
          ms: await timedAsync(run(() => tf.batchNorm(xs, mean, variance, beta, gamma, 1e-5)), runs),
        },
        { label, what: "training", ms: await timedAsync(run(() => training(xs, gamma, beta)), runs) },
      );
      if (backwardRuns > 0) {
        results.push({
          label,
          what: "backward",
          ms: await timedAsync(
            run(() =>
              tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) =>
                tf.sum(tf.mul(training(a as tf.Tensor4D, g, b), dys))
              )([xs, gamma, beta])
            ),
            backwardRuns,
          ),
        });
      }
      tf.dispose([xs, dys, gamma, beta, mean, variance]);
    }
    return { peer, version: tf.version_core, results };
  } catch (e) {
    return { peer, missing: String(e), results: [] };
  } finally {
    if (previous && previous !== backend) await tf.setBackend(previous);
  }
}

/**
 * Times the same-technology peers on `shapes`.
 *
 * @param runs Calls timed per peer and call (after 3 warm-ups).
 * @param backwardRuns Calls timed for TF.js's gradients (slow: a graph of many ops).
 * @returns One report per peer, missing ones included.
 */
export async function runWasmPeers(
  shapes: readonly WasmPeerShape[],
  runs: number,
  backwardRuns: number,
): Promise<PeerReport[]> {
  return [await onnxruntimeWeb(shapes, runs), await tfjsWasm(shapes, runs, backwardRuns)];
}
