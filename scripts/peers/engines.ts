/**
 * The engines people deploy BatchNorm on, as in-process peers: onnxruntime-web's
 * WebAssembly build, TF.js's wasm backend and TF.js's webgpu backend (on Deno's
 * navigator.gpu). Each says whether it can start here and, when it cannot, why.
 * OpenCV DNN is a subprocess peer (scripts/peers/opencv_peer.py). Outside mod.ts's
 * import graph.
 *
 * @module
 */

import type { Implementation, StepOutputs, StepRequest } from "../../mod.ts";
import { runOnnxWebBatchNorm } from "../runners/onnxruntime_web.ts";
import { TfjsLayer } from "../runners/tfjs.ts";
import { backendUnavailable, disposeLayer, layerCall, type TfjsBackend, useBackend } from "../runners/tfjs_backends.ts";
import { onnxAdapter, onnxruntimeImplementation, per, shaped, tfjsImplementation } from "./inprocess.ts";

/**
 * onnxruntime-web 1.30.0, WebAssembly CPU execution provider, one thread, opset 15:
 * the same ONNX models and capabilities as onnxruntime-node.
 */
export const onnxruntimeWebImplementation: Implementation = {
  name: "onnxruntime-web 1.30.0 wasm (opset 15)",
  supports: onnxruntimeImplementation.supports,
  adapter: onnxAdapter(runOnnxWebBatchNorm),
};

/** TF.js's tf.layers.batchNormalization on a deployed backend: the cpu peer's conventions, float32, channels-last. */
export function tfjsBackendImplementation(backend: TfjsBackend): Implementation {
  return {
    name: `TensorFlow.js 4.22.0 layers.batchNormalization (${backend})`,
    supports: tfjsImplementation.supports,
    adapter: async (req: StepRequest): Promise<StepOutputs> => {
      await useBackend(backend);
      const c = req.convention ?? req.defaultsExcept; // a fingerprint probe sets only a few options
      const layer = new TfjsLayer(req.x.shape, {
        axis: c?.axis ?? -1,
        momentum: c?.momentum ?? undefined,
        epsilon: c?.epsilon,
      });
      try {
        const C = req.x.shape.at(layer.config.axis)!;
        layer.state = {
          gamma: per(req.state.gamma, C, 1),
          beta: per(req.state.beta, C, 0),
          movingMean: per(req.state.running_mean, C, 0),
          movingVariance: per(req.state.running_var, C, 1),
        };
        const o = await layerCall(
          layer,
          req.mode,
          req.x.shape,
          Array.from(req.x.data),
          req.dy ? Array.from(req.dy.data) : null,
        );
        const outputs: Record<string, { shape: number[]; data: ArrayLike<number> }> = {};
        for (const [k, v] of Object.entries(o)) outputs[k] = shaped(k === "y" || k === "dx" ? req.x.shape : [C], v);
        return { outputs };
      } finally {
        disposeLayer(layer);
      }
    },
  };
}

/** Why a TF.js backend cannot start here, or undefined when it can. */
export function tfjsBackendUnavailable(backend: TfjsBackend): Promise<string | undefined> {
  return backendUnavailable(backend);
}
