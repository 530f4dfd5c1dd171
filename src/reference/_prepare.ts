/**
 * Input checking and layout for the reference: a call's tensors, state and
 * convention validated once and turned into a {@linkcode Prepared} call (channel
 * layout, epsilon, parameters), caller-owned outputs, and the small helpers that
 * build outputs.
 *
 * @module
 */

import { type BatchNormConvention, centerOf, type ConventionInput, resolveConvention, scaleOf } from "./convention.ts";
import { allocate, type DType, isDType, roundToDType, type TensorArray } from "./dtype.ts";
import { BatchNormError } from "./errors.ts";
import { checkTensor, checkValues, type OutputTensor, type Tensor } from "./tensor.ts";
import type { BatchNormState } from "./state.ts";

/** How a tensor's elements group into channels: index = (o·channels + c)·inner + i. */
interface Layout {
  readonly outer: number;
  readonly channels: number;
  readonly inner: number;
  /** Elements per channel, outer · inner. */
  readonly count: number;
}
export interface Prepared {
  readonly c: BatchNormConvention;
  /** x's dtype: of x, dy, y and dx. */
  readonly dtype: DType;
  /** The dtype of each other group of tensors (x's when not given): see {@linkcode TensorDTypes}. */
  readonly dtypes: Required<TensorDTypes>;
  readonly layout: Layout;
  readonly shape: readonly number[];
  readonly x: ArrayLike<number>;
  readonly epsilon: number;
  readonly gamma: ArrayLike<number> | null;
  readonly beta: ArrayLike<number> | null;
}
/**
 * Mixed precision: the dtype of the tensors other than x, dy, y and dx, each group in its own (x's dtype where not
 * given). The call takes the state in these dtypes (every value must be a value of its group's dtype) and rounds each
 * output once, correctly, to its own group's dtype: y and dx to x's, batch statistics to `saved`, running statistics
 * to `running`, dgamma and dbeta to `params`. TensorFlow's fused kernel with float16 x is
 * `{ params: "float32", running: "float32", saved: "float32" }`.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { batchNormTrain, tensor, type TensorDTypes } from "../../mod.ts";
 * const dtypes: TensorDTypes = { params: "float32", running: "float32", saved: "float32" };
 * const r = batchNormTrain(tensor("float16", [2, 1], [1, 2]), { gamma: [1], beta: [0] }, "tensorflow", { dtypes });
 * assert(r.y.dtype === "float16" && r.batchVar.dtype === "float32" && r.state.runningVar instanceof Float32Array);
 * ```
 */
export interface TensorDTypes {
  /** gamma, beta (state) and dgamma, dbeta (outputs). */
  readonly params?: DType;
  /** runningMean, runningVar (state and outputs). */
  readonly running?: DType;
  /** batchMean, batchVar, invStd (outputs). */
  readonly saved?: DType;
}
/**
 * Options of the forward calls.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { batchNormInference, type ForwardOptions, tensor } from "../../mod.ts";
 * const y = new Float32Array(2);
 * const options: ForwardOptions = { out: y };
 * batchNormInference(tensor("float32", [2, 1], [1, 3]), { runningMean: [1], runningVar: [1] }, { affine: false, epsilon: 0 }, options);
 * assert(y[0] === 0 && y[1] === 2);
 * ```
 */
export interface ForwardOptions {
  /**
   * Where to write y (caller-owned, reused across calls: no allocation, no first touch): a typed array of
   * x's length, of the kind `allocate(x.dtype, n)` returns. In a {@linkcode KernelArena} beside x, the
   * WebAssembly kernels write it in place. It may be x's own data (in place). Backward takes it for dx.
   */
  readonly out?: TensorArray;
  /** Mixed precision: the dtypes of the state and outputs other than x's (see {@linkcode TensorDTypes}). */
  readonly dtypes?: TensorDTypes;
}
export function checkOut(options: ForwardOptions, p: Prepared): TensorArray | null {
  if (options === null || typeof options !== "object") {
    throw new BatchNormError("invalid_option", "options", options, "must be an object");
  }
  const out = options.out;
  if (out === undefined) return null;
  const kind = p.dtype === "float64" ? Float64Array : p.dtype === "float16" ? Float16Array : Float32Array;
  if (!(out instanceof kind) || out.length !== p.x.length) {
    throw new BatchNormError(
      "invalid_option",
      "options.out",
      out === null ? null : `${(out as object).constructor?.name}(${(out as { length?: number }).length})`,
      `must be a ${kind.name} of ${p.x.length} values (x's dtype "${p.dtype}" and size)`,
    );
  }
  return out;
}
export function prepare(
  x: Tensor,
  state: BatchNormState,
  convention: ConventionInput,
  options: ForwardOptions = {},
): Prepared {
  const c = resolveConvention(convention);
  checkTensor(x, "x");
  const dtypes = checkDTypes(options?.dtypes, x.dtype);
  const rank = x.shape.length;
  // Rank 1 (WebNN's batchNormalization, TF.js's tf.batchNorm): axis 0 is the channel axis, each value its own channel.
  if (rank < 1) {
    throw new BatchNormError(
      "invalid_shape",
      "x.shape",
      [...x.shape],
      "must have rank >= 1 ((C) or (N, C, ...))",
    );
  }
  if (c.axis < -rank || c.axis >= rank) {
    throw new BatchNormError(
      "invalid_axis",
      "convention.axis",
      c.axis,
      `is out of range for a rank-${rank} input (allowed ${-rank}..${rank - 1})`,
    );
  }
  const axis = c.axis < 0 ? c.axis + rank : c.axis;
  if (axis === 0 && rank > 1) {
    throw new BatchNormError(
      "invalid_axis",
      "convention.axis",
      c.axis,
      "must not be the batch axis 0",
    );
  }
  if (state === null || typeof state !== "object") {
    throw new BatchNormError(
      "missing_state",
      "state",
      state,
      "must be an object",
    );
  }
  const channels = x.shape[axis];
  const outer = x.shape.slice(0, axis).reduce((a, b) => a * b, 1);
  const inner = x.shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const dtype = x.dtype;
  const gamma = scaleOf(c) ? checkVector(state.gamma, "state.gamma", channels, dtypes.params, true) : null;
  const beta = centerOf(c) ? checkVector(state.beta, "state.beta", channels, dtypes.params, true) : null;
  return {
    c,
    dtype,
    dtypes,
    layout: { outer, channels, inner, count: outer * inner },
    shape: x.shape,
    x: x.data,
    epsilon: Math.max(c.epsilon, c.epsilonFloor),
    gamma,
    beta,
  };
}
function checkDTypes(d: TensorDTypes | undefined, x: DType): Required<TensorDTypes> {
  if (d === undefined) return { params: x, running: x, saved: x };
  if (d === null || typeof d !== "object") {
    throw new BatchNormError("invalid_option", "options.dtypes", d, "must be an object of dtypes");
  }
  for (const [k, v] of Object.entries(d)) {
    if (k !== "params" && k !== "running" && k !== "saved") {
      throw new BatchNormError(
        "invalid_option",
        `options.dtypes.${k}`,
        k,
        "unknown group; known: params, running, saved",
      );
    }
    if (v !== undefined && !isDType(v)) {
      throw new BatchNormError(
        "unsupported_dtype",
        `options.dtypes.${k}`,
        v,
        "must be one of float64, float32, float16, bfloat16",
      );
    }
  }
  return { params: d.params ?? x, running: d.running ?? x, saved: d.saved ?? x };
}
export function checkVector(
  v: ArrayLike<number> | null | undefined,
  field: string,
  channels: number,
  dtype: DType,
  required: true,
): ArrayLike<number>;
export function checkVector(
  v: ArrayLike<number> | null | undefined,
  field: string,
  channels: number,
  dtype: DType,
  required: false,
): ArrayLike<number> | null;
export function checkVector(
  v: ArrayLike<number> | null | undefined,
  field: string,
  channels: number,
  dtype: DType,
  required: boolean,
): ArrayLike<number> | null {
  if (v === undefined || v === null) {
    if (required) {
      throw new BatchNormError(
        "missing_state",
        field,
        v,
        `is required (one value per channel, ${channels} channels)`,
      );
    }
    return null;
  }
  if (typeof v !== "object" || typeof v.length !== "number") {
    throw new BatchNormError(
      "channel_mismatch",
      field,
      v,
      `must be an array of ${channels} numbers`,
    );
  }
  if (v.length !== channels) {
    throw new BatchNormError(
      "channel_mismatch",
      field,
      v.length,
      `must have one value per channel: ${channels} values, the size of the channel axis`,
    );
  }
  checkValues(v, dtype, field);
  return v;
}
export function checkVariance(v: ArrayLike<number>, field: string): void {
  for (let i = 0; i < v.length; i++) {
    if (v[i] < 0) {
      throw new BatchNormError(
        "negative_variance",
        `${field}[${i}]`,
        v[i],
        "a variance must not be negative",
      );
    }
  }
}
export function checkCount(v: number | undefined): number {
  if (v === undefined) return 0;
  if (!Number.isSafeInteger(v) || v < 0) {
    throw new BatchNormError(
      "invalid_option",
      "state.numBatchesTracked",
      v,
      "must be a non-negative integer",
    );
  }
  return v;
}
export function allocateFrom(dtype: DType, values: ArrayLike<number>): TensorArray {
  const out = allocate(dtype, values.length);
  for (let i = 0; i < values.length; i++) out[i] = values[i];
  return out;
}
export function vector(dtype: DType, values: Float64Array): OutputTensor {
  return rounded(dtype, [values.length], values);
}
function rounded(
  dtype: DType,
  shape: readonly number[],
  values: Float64Array,
): OutputTensor {
  const data = allocate(dtype, values.length);
  for (let i = 0; i < values.length; i++) {
    data[i] = roundToDType(values[i], dtype);
  }
  return { dtype, shape: [...shape], data };
}
