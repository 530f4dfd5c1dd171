/**
 * In-process peers for the runner and the fingerprint: onnxruntime-node and
 * TensorFlow.js as implementations, plus the reference itself. Outside mod.ts's
 * import graph (they load npm packages).
 *
 * @module
 */

import { type Implementation, referenceAdapter, type StepOutputs, type StepRequest, type Tensor } from "../../mod.ts";
import { runOnnxBatchNorm } from "../runners/onnxruntime.ts";
import { TfjsLayer, useCpu } from "../runners/tfjs.ts";

/** The reference as an implementation (every capability). */
export const referenceImplementation: Implementation = {
  name: "reference",
  adapter: referenceAdapter,
  // It differentiates with respect to the running statistics too (format 1.3's dmean and dvar).
  supports: { statGradients: true },
};

/** A per-channel state tensor as plain numbers, or C copies of its default when the state lacks it. */
export const per = (t: Tensor | undefined, C: number, fill: number): number[] =>
  t ? Array.from(t.data) : new Array(C).fill(fill);
/** An output tensor of StepOutputs. */
export const shaped = (
  shape: readonly number[],
  data: ArrayLike<number>,
): { shape: number[]; data: ArrayLike<number> } => ({ shape: [...shape], data });

/**
 * An adapter around one ONNX BatchNormalization runner (onnxruntime-node, onnxruntime-web):
 * opset 15, the step's state as inputs, training_mode=1 for training steps.
 */
export function onnxAdapter(run: typeof runOnnxBatchNorm): (req: StepRequest) => Promise<StepOutputs> {
  return async (req: StepRequest): Promise<StepOutputs> => {
    const C = req.x.shape[1];
    const c = req.convention ?? req.defaultsExcept; // a fingerprint probe sets only a few options
    const out = await run(
      {
        opset: 15,
        dtype: req.dtype,
        shape: req.x.shape,
        epsilon: c?.epsilon,
        momentum: c?.momentum ?? undefined,
        training: req.mode === "train",
      },
      {
        x: req.x.data,
        scale: per(req.state.gamma, C, 1),
        B: per(req.state.beta, C, 0),
        mean: per(req.state.running_mean, C, 0),
        var: per(req.state.running_var, C, 1),
      },
    );
    const outputs: Record<string, { shape: number[]; data: ArrayLike<number> }> = {
      y: shaped(out.Y.shape, out.Y.data),
    };
    if (out.running_mean) outputs.running_mean = shaped([C], out.running_mean.data);
    if (out.running_var) outputs.running_var = shaped([C], out.running_var.data);
    return { outputs };
  };
}

/** onnxruntime-node, opset 15: momentum on the old value, biased running variance, float32/64/16, channels-first. */
export const onnxruntimeImplementation: Implementation = {
  name: "onnxruntime-node 1.30.0 (opset 15)",
  supports: {
    dtypes: ["float32", "float64", "float16"],
    layouts: ["channels-first"],
    backward: false,
    errors: false,
    // Uniform cases only, beta and gamma together: the adapter passes one dtype and affine (format 1.3).
    mixedDtypes: [],
    centerScale: false,
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
  },
  adapter: onnxAdapter(runOnnxBatchNorm),
};

/** TensorFlow.js's tf.layers.batchNormalization, cpu backend: Keras conventions, float32, channels-last. */
export const tfjsImplementation: Implementation = {
  name: "TensorFlow.js 4.22.0 layers.batchNormalization (cpu)",
  supports: {
    dtypes: ["float32"],
    layouts: ["channels-last"],
    backward: true,
    errors: false,
    // Uniform cases only, beta and gamma together: the adapter passes one dtype and affine (format 1.3).
    mixedDtypes: [],
    centerScale: false,
    outputs: ["y", "batch_mean", "batch_var", "running_mean", "running_var", "dx", "dgamma", "dbeta"],
    conventions: {
      epsilonPlacement: ["inside"],
      epsilonFloor: [0],
      momentumKind: ["old"],
      runningVariance: ["biased"],
      affine: [true],
      trackRunningStats: [true],
      zeroVarianceInvStd: ["ieee"],
      emptyBatch: ["zero"],
    },
  },
  adapter: async (req: StepRequest): Promise<StepOutputs> => {
    await useCpu();
    const c = req.convention ?? req.defaultsExcept; // a fingerprint probe sets only a few options
    const layer = new TfjsLayer(req.x.shape, {
      axis: c?.axis ?? -1,
      momentum: c?.momentum ?? undefined,
      epsilon: c?.epsilon,
    });
    const C = req.x.shape.at(layer.config.axis)!;
    layer.state = {
      gamma: per(req.state.gamma, C, 1),
      beta: per(req.state.beta, C, 0),
      movingMean: per(req.state.running_mean, C, 0),
      movingVariance: per(req.state.running_var, C, 1),
    };
    const o = layer.call(req.mode, req.x.shape, Array.from(req.x.data), req.dy ? Array.from(req.dy.data) : null);
    const outputs: Record<string, { shape: number[]; data: ArrayLike<number> }> = {};
    for (const [k, v] of Object.entries(o)) outputs[k] = shaped(k === "y" || k === "dx" ? req.x.shape : [C], v);
    return { outputs };
  },
};
