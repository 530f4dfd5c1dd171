/**
 * Conventions as fixtures write them: the `config` object's field names
 * ({@linkcode CONFIG_KEYS}), a convention written as a `config`, and a `config`
 * read back into a convention.
 *
 * @module
 */

import { type BatchNormConvention, CONVENTION_VALUES } from "../reference/convention.ts";
import type { Json, Reader } from "./_reader.ts";

/** The fixture format's (snake_case) name of each convention field. */
export const CONFIG_KEYS: Readonly<Record<keyof BatchNormConvention, string>> = Object.freeze({
  axis: "axis",
  epsilon: "epsilon",
  epsilonFloor: "epsilon_floor",
  epsilonPlacement: "epsilon_placement",
  momentum: "momentum",
  momentumKind: "momentum_kind",
  runningVariance: "running_variance",
  affine: "affine",
  center: "center",
  scale: "scale",
  trackRunningStats: "track_running_stats",
  singleValueTraining: "single_value_training",
  zeroVarianceInvStd: "zero_variance_invstd",
  emptyBatch: "empty_batch",
});
/**
 * A convention as a fixture's (and the subprocess protocol's) `config` object: the inverse of reading one.
 *
 * @param c A complete convention.
 * @returns Its fields under their snake_case names.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { conventionToConfig, PRESETS } from "../../mod.ts";
 * assert(conventionToConfig(PRESETS.onnx).momentum_kind === "old");
 * ```
 */
export function conventionToConfig(c: BatchNormConvention): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(CONFIG_KEYS).filter(([k]) => c[k as keyof BatchNormConvention] !== undefined)
      .map(([k, snake]) => [snake, c[k as keyof BatchNormConvention]]),
  );
}
export function readConvention(r: Reader, v: Json, path: string): BatchNormConvention {
  const o = r.object(v, path);
  const e = <K extends keyof typeof CONVENTION_VALUES>(
    k: K,
  ): (typeof CONVENTION_VALUES)[K][number] =>
    r.oneOf(o[CONFIG_KEYS[k]], `${path}.${CONFIG_KEYS[k]}`, CONVENTION_VALUES[k]);
  const momentumKind = e("momentumKind");
  const momentum = o.momentum === null ? null : r.number(o.momentum, `${path}.momentum`);
  if ((momentum === null) !== (momentumKind === "cumulative")) {
    r.fail(
      `${path}.momentum`,
      'must be null exactly when momentum_kind is "cumulative"',
    );
  }
  if (!Number.isInteger(o.axis)) r.fail(`${path}.axis`, "must be an integer");
  const affine = r.boolean(o.affine, `${path}.affine`);
  // Optional since format 1.3: beta and gamma switched separately; absent means `affine`.
  const center = o.center === undefined ? undefined : r.boolean(o.center, `${path}.center`);
  const scale = o.scale === undefined ? undefined : r.boolean(o.scale, `${path}.scale`);
  if ((center !== undefined || scale !== undefined) && affine !== ((center ?? affine) && (scale ?? affine))) {
    r.fail(
      `${path}.affine`,
      `must be center && scale (${center ?? affine} && ${scale ?? affine} = ${
        (center ?? affine) && (scale ?? affine)
      })`,
    );
  }
  return {
    axis: o.axis as number,
    epsilon: r.number(o.epsilon, `${path}.epsilon`),
    epsilonFloor: r.number(o.epsilon_floor, `${path}.epsilon_floor`),
    epsilonPlacement: e("epsilonPlacement"),
    momentum,
    momentumKind,
    runningVariance: e("runningVariance"),
    affine,
    ...(center === undefined ? {} : { center }),
    ...(scale === undefined ? {} : { scale }),
    trackRunningStats: r.boolean(
      o.track_running_stats,
      `${path}.track_running_stats`,
    ),
    singleValueTraining: e("singleValueTraining"),
    zeroVarianceInvStd: e("zeroVarianceInvStd"),
    // Optional since format 1.1; absent means the case never trains on an empty batch.
    emptyBatch: o.empty_batch === undefined ? "error" : e("emptyBatch"),
  };
}
