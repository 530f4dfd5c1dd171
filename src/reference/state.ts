/**
 * The state a BatchNorm call starts from and returns: per-channel parameters,
 * running statistics and the count of training steps, and the two modes a step
 * runs in.
 *
 * @module
 */

/**
 * Per-channel parameters and running statistics. Each vector has one value per
 * channel, in the dtype of the input tensor.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { batchNormInference, type BatchNormState, tensor } from "../../mod.ts";
 * const state: BatchNormState = { gamma: [2], beta: [1], runningMean: [0], runningVar: [1] };
 * const { y } = batchNormInference(tensor("float64", [1, 1], [1]), state, { epsilon: 0 });
 * assert(y.data[0] === 3);
 * ```
 */
export interface BatchNormState {
  /** Scale (PyTorch `weight`, ONNX `scale`). Ignored, and may be absent, when the convention is not affine. */
  readonly gamma?: ArrayLike<number> | null;
  /** Shift (PyTorch `bias`, ONNX `B`). Ignored, and may be absent, when the convention is not affine. */
  readonly beta?: ArrayLike<number> | null;
  /** Running (moving) mean; training starts from zeros when absent. */
  readonly runningMean?: ArrayLike<number> | null;
  /** Running (moving) variance; training starts from ones when absent. Never negative. */
  readonly runningVar?: ArrayLike<number> | null;
  /** Training calls counted so far (PyTorch `num_batches_tracked`); 0 when absent. */
  readonly numBatchesTracked?: number;
}
/**
 * The state after a training call: the same parameters, updated running statistics.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { batchNormTrain, tensor, type UpdatedState } from "../../mod.ts";
 * const s: UpdatedState = batchNormTrain(tensor("float64", [2, 1], [0, 2]), { gamma: [1], beta: [0] }).state;
 * assert(s.numBatchesTracked === 1 && s.runningMean![0] === 0.1);
 * ```
 */
export interface UpdatedState extends BatchNormState {
  /** The running mean after the update, or `null` when statistics are not tracked. */
  readonly runningMean: ArrayLike<number> | null;
  /** The running variance after the update, or `null` when statistics are not tracked. */
  readonly runningVar: ArrayLike<number> | null;
  /** Incremented by one when statistics are tracked. */
  readonly numBatchesTracked: number;
}
/**
 * Which statistics a call normalizes with: the batch's (training) or the running ones (inference).
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { batchNormBackward, type Mode, tensor } from "../../mod.ts";
 * const x = tensor("float64", [2, 1], [0, 2]);
 * const state = { gamma: [1], beta: [0], runningMean: [0], runningVar: [1] };
 * const modes: Mode[] = ["train", "eval"];
 * assert(modes.every((m) => batchNormBackward(x, x, state, m).dx.data.length === 2));
 * ```
 */
export type Mode = "train" | "eval";
