/**
 * The tensor type the reference takes and returns: a dtype, a shape and
 * row-major (C order) data.
 *
 * @module
 */

import { allocate, type DType, isDType, isRepresentable, roundToDType, type TensorArray } from "./dtype.ts";
import { BatchNormError } from "./errors.ts";

/**
 * A dense tensor in row-major order. Every value of `data` must be a value of `dtype`.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { batchNormTrain, type Tensor } from "../../mod.ts";
 * const x: Tensor = { dtype: "float64", shape: [2, 1], data: [1, 3] };
 * assert(batchNormTrain(x, { gamma: [1], beta: [0] }).y.data[1] > 0.99);
 * ```
 */
export interface Tensor {
  /** Element format. */
  readonly dtype: DType;
  /** Dimensions, outermost first. */
  readonly shape: readonly number[];
  /** `shape.reduce((a, b) => a * b, 1)` values in row-major order. */
  readonly data: ArrayLike<number>;
}

/**
 * A tensor the reference produced: its data is a typed array of its dtype.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { type OutputTensor, tensor } from "../../mod.ts";
 * const t: OutputTensor = tensor("float16", [2], [1, 1e-8]);
 * assert(t.data instanceof Float16Array && t.data[1] === 0);
 * ```
 */
export interface OutputTensor extends Tensor {
  /** The values, rounded once from the float64 result. */
  readonly data: TensorArray;
}

/**
 * Builds a tensor from plain numbers, rounding each to `dtype` (the only place
 * where the reference rounds input on your behalf).
 *
 * @param dtype Element format.
 * @param shape Dimensions.
 * @param values Row-major values, any binary64 numbers.
 * @returns A tensor whose data is a typed array of `dtype`.
 * @throws {BatchNormError} When the shape is malformed or the count does not match it.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { tensor } from "./tensor.ts";
 * const x = tensor("float32", [2, 2], [0.1, 0.2, 0.3, 0.4]);
 * assert(x.data[0] === Math.fround(0.1));
 * ```
 */
export function tensor(
  dtype: DType,
  shape: readonly number[],
  values: ArrayLike<number>,
): OutputTensor {
  if (!isDType(dtype)) {
    throw new BatchNormError(
      "unsupported_dtype",
      "dtype",
      dtype,
      "unknown dtype",
    );
  }
  const size = checkShape(shape, "shape");
  if (values.length !== size) {
    throw new BatchNormError(
      "shape_mismatch",
      "values",
      values.length,
      `length must be ${size}, the product of shape [${shape.join(", ")}]`,
    );
  }
  const data = allocate(dtype, size);
  for (let i = 0; i < size; i++) data[i] = roundToDType(values[i], dtype);
  return { dtype, shape: [...shape], data };
}

/** Checks a shape's entries and returns its element count. */
export function checkShape(shape: unknown, field: string): number {
  if (!Array.isArray(shape)) {
    throw new BatchNormError(
      "invalid_shape",
      field,
      shape,
      "must be an array of non-negative integers",
    );
  }
  let size = 1;
  shape.forEach((d, i) => {
    if (!Number.isSafeInteger(d) || d < 0) {
      throw new BatchNormError(
        "invalid_shape",
        `${field}[${i}]`,
        d,
        "must be a non-negative integer",
      );
    }
    size *= d;
  });
  return size;
}

/**
 * Validates a tensor input: known dtype, well-formed shape, data length matching
 * it, and every value a value of the dtype.
 */
export function checkTensor(t: unknown, field: string): asserts t is Tensor {
  if (t === null || typeof t !== "object") {
    throw new BatchNormError(
      "invalid_shape",
      field,
      t,
      "must be a tensor { dtype, shape, data }",
    );
  }
  const { dtype, shape, data } = t as Tensor;
  if (!isDType(dtype)) {
    throw new BatchNormError(
      "unsupported_dtype",
      `${field}.dtype`,
      dtype,
      "must be one of float64, float32, float16, bfloat16",
    );
  }
  const size = checkShape(shape, `${field}.shape`);
  if (
    data === null || typeof data !== "object" || typeof data.length !== "number"
  ) {
    throw new BatchNormError(
      "shape_mismatch",
      `${field}.data`,
      data,
      "must be an array of numbers",
    );
  }
  if (data.length !== size) {
    throw new BatchNormError(
      "shape_mismatch",
      `${field}.data`,
      data.length,
      `length must be ${size}, the product of shape [${shape.join(", ")}]`,
    );
  }
  checkValues(data, dtype, `${field}.data`);
}

/** Checks that every entry is a number representable in `dtype`. */
export function checkValues(
  data: ArrayLike<number>,
  dtype: DType,
  field: string,
): void {
  if (holdsOnly(data, dtype)) return;
  for (let i = 0; i < data.length; i++) checkValue(data[i], dtype, field, i);
}

/** Whether the container's own type guarantees that every value is a value of `dtype`. */
function holdsOnly(data: ArrayLike<number>, dtype: DType): boolean {
  if (data instanceof Float64Array) return dtype === "float64";
  if (data instanceof Float32Array) {
    return dtype === "float64" || dtype === "float32";
  }
  if (data instanceof Float16Array) return dtype !== "bfloat16";
  return false;
}

function checkValue(v: number, dtype: DType, field: string, i: number): void {
  if (typeof v !== "number") {
    throw new BatchNormError(
      "not_representable",
      `${field}[${i}]`,
      v,
      "must be a number",
    );
  }
  if (!isRepresentable(v, dtype)) {
    throw new BatchNormError(
      "not_representable",
      `${field}[${i}]`,
      v,
      `is not a ${dtype} value; round it first (e.g. with tensor())`,
    );
  }
}
