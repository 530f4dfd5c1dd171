/**
 * A reference Batch Normalization and a conformance suite for it.
 *
 * The reference computes training and inference forward, running-statistic
 * updates and backward under any framework's convention (PyTorch, TensorFlow's
 * fused kernel, Keras/TF.js, ONNX, or your own mix), in float64, float32,
 * float16 and bfloat16, with binary64 accumulation and one rounding per output.
 * The golden fixtures it is checked against come from the real frameworks; the
 * fixture loader, the harness and the tolerance policy are exported so other
 * implementations can be checked the same way.
 *
 * This module and everything it imports use relative imports only and need no
 * permissions; only loading fixtures (fetch) needs read or net access.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { batchNormInference, batchNormTrain, tensor } from "./mod.ts";
 *
 * const x = tensor("float32", [2, 3], [1, 2, 3, 4, 5, 6]);
 * const state = { gamma: [1, 1, 1], beta: [0, 0, 0] };
 * const trained = batchNormTrain(x, state, "pytorch");
 * const { y } = batchNormInference(x, trained.state, "pytorch");
 * assert(y.shape.length === 2);
 * ```
 *
 * @module
 */

export * from "./src/reference/mod.ts";
export * from "./src/conformance/mod.ts";
