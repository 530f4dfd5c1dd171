/**
 * The one error type the reference throws for bad input.
 *
 * @module
 */

/**
 * Why an input was refused. One code per kind of mistake, stable across versions.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { BatchNormError, type BatchNormErrorCode, batchNormTrain, tensor } from "../../mod.ts";
 * let code: BatchNormErrorCode | undefined;
 * try {
 *   batchNormTrain(tensor("float32", [1, 2], [1, 2]), { gamma: [1, 1], beta: [0, 0] }, "pytorch");
 * } catch (e) {
 *   if (e instanceof BatchNormError) code = e.code;
 * }
 * assert(code === "single_value_per_channel");
 * ```
 */
export type BatchNormErrorCode =
  | "invalid_shape"
  | "shape_mismatch"
  | "channel_mismatch"
  | "invalid_axis"
  | "invalid_epsilon"
  | "invalid_momentum"
  | "invalid_option"
  | "negative_variance"
  | "missing_state"
  | "not_representable"
  | "unsupported_dtype"
  | "single_value_per_channel"
  | "empty_batch"
  | "saved_mismatch";

/**
 * Thrown by the reference when an input cannot be normalized. It names the
 * offending field (a dotted path such as `state.runningVar[2]`) and its value, so
 * the message says what is wrong and where.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { BatchNormError } from "./errors.ts";
 * const e = new BatchNormError("invalid_epsilon", "epsilon", -1, "must be finite and >= 0");
 * assert(e.message === "epsilon: must be finite and >= 0 (got -1)");
 * ```
 */
export class BatchNormError extends Error {
  /** The kind of mistake. */
  readonly code: BatchNormErrorCode;
  /** Dotted path of the offending input, e.g. `x.shape` or `state.gamma`. */
  readonly field: string;
  /** The offending value (as given, or a short summary of it). */
  readonly value: unknown;

  /**
   * Creates the error; the message is built from the arguments.
   *
   * @param code The kind of mistake.
   * @param field Dotted path of the offending input.
   * @param value The offending value.
   * @param reason What is wrong with it, in words.
   */
  constructor(
    code: BatchNormErrorCode,
    field: string,
    value: unknown,
    reason: string,
  ) {
    super(`${field}: ${reason} (got ${describe(value)})`);
    this.name = "BatchNormError";
    this.code = code;
    this.field = field;
    this.value = value;
  }
}

function describe(value: unknown): string {
  if (typeof value === "number") {
    return Object.is(value, -0) ? "-0" : String(value);
  }
  if (typeof value === "string") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(describe).join(", ")}]`;
  if (value === null || value === undefined) return String(value);
  if (ArrayBuffer.isView(value)) {
    return `${value.constructor.name}(${(value as Float64Array).length})`;
  }
  return typeof value === "object" ? "an object" : String(value);
}
