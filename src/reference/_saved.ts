/**
 * The forward's batch statistics handed to backward (PyTorch's `save_mean`/`save_invstd`): `batchNormTrain` returns
 * them as an opaque {@linkcode SavedStatistics}, and `batchNormBackward(…, { saved })` takes them instead of
 * recomputing them from x. They are the very binary64 (float64: double-double) values the recomputation would give,
 * so the results are bit-identical; a handle that does not belong to the call (another x, shape, dtype or
 * convention, or x overwritten by the forward itself) is refused with the code `saved_mismatch`.
 *
 * @module
 */

import type { BatchNormConvention } from "./convention.ts";
import type { DType } from "./dtype.ts";
import { BatchNormError } from "./errors.ts";
import type { Prepared } from "./_prepare.ts";
import type { Stats } from "./_statistics.ts";

/**
 * The batch statistics of one training forward call, for its backward: an opaque handle (only `batchNormTrain`
 * makes one), valid for the same x (the same data array, unchanged since), shape, dtype and convention.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { batchNormBackward, batchNormTrain, tensor } from "../../mod.ts";
 * const x = tensor("float32", [2, 1], [1, 3]), dy = tensor("float32", [2, 1], [1, -1]);
 * const state = { gamma: [1], beta: [0] };
 * const { saved } = batchNormTrain(x, state, "pytorch");
 * const g = batchNormBackward(x, dy, state, "train", "pytorch", { saved });
 * assert(g.dx.data[0] === batchNormBackward(x, dy, state, "train", "pytorch").dx.data[0]);
 * ```
 */
export interface SavedStatistics {
  /** Always `"batch-statistics"`. */
  readonly kind: "batch-statistics";
  /** x's dtype at the forward call. */
  readonly dtype: DType;
  /** x's shape at the forward call. */
  readonly shape: readonly number[];
}

interface Record {
  readonly stats: Stats;
  readonly x: ArrayLike<number>;
  readonly convention: BatchNormConvention;
  readonly epsilon: number;
  /** The forward wrote y over x (`out` was x's data): the statistics no longer describe x. */
  readonly overwritten: boolean;
}
// Only handles made here are in this map: a forged or copied object is not, and is refused.
const records = new WeakMap<SavedStatistics, Record>();

/** A handle for the statistics of a training forward call on `p` (`overwritten`: y was written over x). */
export function save(p: Prepared, stats: Stats, overwritten: boolean): SavedStatistics {
  const handle: SavedStatistics = Object.freeze({
    kind: "batch-statistics" as const,
    dtype: p.dtype,
    shape: Object.freeze([...p.shape]),
  });
  records.set(handle, { stats, x: p.x, convention: p.c, epsilon: p.epsilon, overwritten });
  return handle;
}

const refuse = (why: string, value: unknown = "a SavedStatistics"): never => {
  throw new BatchNormError("saved_mismatch", "options.saved", value, why);
};

/**
 * The statistics behind `saved`, after checking that they are those `batchStats(p)` would compute: the same x data
 * array (not overwritten by the forward), shape, dtype and resolved convention. `useBatch`: whether this backward
 * uses batch statistics at all (not in eval with tracked running statistics).
 */
export function restore(saved: unknown, p: Prepared, useBatch: boolean): Stats {
  const r = typeof saved === "object" && saved !== null ? records.get(saved as SavedStatistics) : undefined;
  if (!r) return refuse("must be the `saved` of a batchNormTrain result", saved);
  const s = saved as SavedStatistics;
  if (!useBatch) {
    refuse("an eval step with tracked running statistics uses them, not the batch's: pass no saved statistics");
  }
  if (s.dtype !== p.dtype) refuse(`were computed on a ${s.dtype} x; this x is ${p.dtype}`);
  if (s.shape.length !== p.shape.length || s.shape.some((d, i) => d !== p.shape[i])) {
    refuse(`were computed on an x of shape [${s.shape.join(", ")}]; this x is [${p.shape.join(", ")}]`);
  }
  if (r.x !== p.x) refuse("were computed on another x (x.data must be the very array given to batchNormTrain)");
  if (r.overwritten) refuse("describe an x that the forward call overwrote with y (options.out was x.data)");
  const a = r.convention as unknown as { [k: string]: unknown }, b = p.c as unknown as { [k: string]: unknown };
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
    if (!Object.is(a[k], b[k])) {
      refuse(`were computed under convention.${k} = ${String(a[k])}; this call's is ${String(b[k])}`);
    }
  }
  if (!Object.is(r.epsilon, p.epsilon)) refuse(`were computed with epsilon ${r.epsilon}; this call's is ${p.epsilon}`);
  return r.stats;
}
