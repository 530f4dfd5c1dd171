/**
 * Which convention fields a case can tell apart: a field whose situation never arises in a case (the empty-batch
 * rule in a case without an empty batch, the momentum in a case that never updates running statistics) does not
 * change any output, so an implementation that cannot be configured for the case's value of it is still judged on
 * the case. {@linkcode unsupportedReason} (runner.ts) skips a case only for the fields this module calls relevant.
 *
 * Each rule follows the text of the field in src/reference/convention.ts, and tests/relevance_test.ts holds each one
 * to the reference: changing an irrelevant field never changes an answer.
 *
 * @module
 */

import type { BatchNormConvention } from "../reference/convention.ts";
import type { Tensor } from "../reference/tensor.ts";
import type { FixtureCase, FixtureStep } from "./fixture.ts";

/** The channel axis of a case, non-negative, for an input of `rank`. */
function channelAxis(c: FixtureCase, rank: number): number {
  return c.convention.axis < 0 ? c.convention.axis + rank : c.convention.axis;
}

/**
 * Whether a step normalizes with its batch's statistics: every training step, and an inference step of a convention
 * that keeps no running statistics (`trackRunningStats: false`: "inference normalizes with the batch's statistics").
 *
 * @param c The case.
 * @param step One of its steps.
 * @returns `true` when the step computes batch statistics.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { FIXTURES_URL, loadFixture } from "../../mod.ts";
 * import { usesBatchStatistics } from "./relevance.ts";
 * const c = (await loadFixture(new URL("pytorch/functional.json", FIXTURES_URL))).cases[0];
 * assert(usesBatchStatistics(c, c.steps[0]) === (c.steps[0].mode === "train" || !c.convention.trackRunningStats));
 * ```
 */
export function usesBatchStatistics(c: FixtureCase, step: FixtureStep): boolean {
  return step.mode === "train" || !c.convention.trackRunningStats;
}

/** Per channel, the values of x in that channel. */
function channels(x: Tensor, axis: number): number[][] {
  const C = x.shape[axis] ?? 1;
  const inner = x.shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const out: number[][] = Array.from({ length: C }, () => []);
  for (let i = 0; i < x.data.length; i++) out[Math.floor(i / inner) % C].push(x.data[i]);
  return out;
}

/**
 * Whether some step that normalizes may meet a variance of exactly 0: a batch-statistics step with an empty, a
 * one-value or a constant channel, or an inference step with running statistics whose running variance (the state
 * the step starts from: the initial state, then each training step's recorded running variance) holds a 0.
 */
function zeroVarianceArises(c: FixtureCase): boolean {
  let runningVar = c.initialState.runningVar?.data;
  for (const step of c.steps) {
    const x = step.inputs.x;
    if (usesBatchStatistics(c, step)) {
      const chs = channels(x, channelAxis(c, x.shape.length));
      if (chs.some((v) => v.length === 0 || v.every((e) => e === v[0]))) return true;
    } else if (runningVar && Array.prototype.some.call(runningVar, (v: number) => v === 0)) return true;
    const rv = step.expected?.running_var;
    if (step.mode === "train" && c.convention.trackRunningStats && typeof rv === "object") runningVar = rv.data;
  }
  return false;
}

/** Elements per channel of a step's input. */
function perChannel(c: FixtureCase, step: FixtureStep): number {
  const x = step.inputs.x;
  return x.data.length / Math.max(1, x.shape[channelAxis(c, x.shape.length)] ?? 1);
}

/**
 * For each convention field, whether the case can tell its values apart (`false`: no output of the case depends on
 * it). The rules, from the fields' definitions:
 *
 * - `emptyBatch`: some batch-statistics step has no value per channel (training, or inference without running
 *   statistics, which computes batch statistics too);
 * - `singleValueTraining`: some batch-statistics step has exactly one value per channel (an inference step without
 *   running statistics included: it refuses or computes like training);
 * - `zeroVarianceInvStd`: the epsilon in effect, max(epsilon, epsilonFloor), is 0 and a variance of 0 arises;
 * - `epsilonFloor`: epsilon is below the floor (otherwise max(epsilon, floor) is epsilon; another floor can still
 *   take effect, see {@linkcode equivalentValue});
 * - `epsilonPlacement`: the epsilon in effect is not 0 (sqrt(v) + 0 = sqrt(v + 0)), or a variance of 0 arises (the
 *   derivatives of sqrt(v) + 0 and sqrt(v + 0) at v = 0 meet the infinities differently);
 * - `momentum`, `momentumKind`, `runningVariance`: some training step updates running statistics (a tracked
 *   training step on a non-empty batch, or on an empty one unless the statistics stay unchanged); `momentum` is
 *   moreover irrelevant to the cumulative average, which has none;
 * - every other field (`axis`, `epsilon`, `affine`, `trackRunningStats`): always.
 *
 * @param c The case.
 * @returns Per field, whether it is relevant.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { FIXTURES_URL, loadFixture } from "../../mod.ts";
 * import { relevantFields } from "./relevance.ts";
 * const file = await loadFixture(new URL("pytorch/functional.json", FIXTURES_URL));
 * const evalOnly = file.cases.find((c) => c.steps.every((s) => s.mode === "eval") && c.convention.trackRunningStats)!;
 * assert(!relevantFields(evalOnly).momentumKind && relevantFields(evalOnly).axis);
 * ```
 */
export function relevantFields(c: FixtureCase): Record<keyof BatchNormConvention, boolean> {
  const k = c.convention;
  const batchSteps = c.steps.filter((s) => usesBatchStatistics(c, s));
  const eps = Math.max(k.epsilon, k.epsilonFloor);
  const updates = k.trackRunningStats &&
    c.steps.some((s) => s.mode === "train" && (perChannel(c, s) > 0 || k.emptyBatch !== "unchanged"));
  return {
    axis: true,
    epsilon: true,
    affine: true,
    trackRunningStats: true,
    epsilonFloor: k.epsilon < k.epsilonFloor,
    epsilonPlacement: eps !== 0 || zeroVarianceArises(c),
    emptyBatch: batchSteps.some((s) => perChannel(c, s) === 0),
    singleValueTraining: batchSteps.some((s) => perChannel(c, s) === 1),
    zeroVarianceInvStd: eps === 0 && zeroVarianceArises(c),
    momentum: updates && k.momentumKind !== "cumulative",
    momentumKind: updates,
    runningVariance: updates,
  };
}

/**
 * Whether an implementation configured with `value` for `key`, and the case's values for every other field, computes
 * what the case's convention computes: the value is the case's own, or the field is irrelevant to the case, or (for
 * `epsilonFloor`) it leaves the epsilon in effect, max(epsilon, floor), unchanged.
 *
 * @param c The case.
 * @param key A convention field.
 * @param value A value the implementation can be configured for.
 * @returns `true` when the case can judge such an implementation.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { FIXTURES_URL, loadFixture } from "../../mod.ts";
 * import { equivalentValue } from "./relevance.ts";
 * const c = (await loadFixture(new URL("pytorch/functional.json", FIXTURES_URL))).cases[0];
 * assert(equivalentValue(c, "axis", c.convention.axis) && !equivalentValue(c, "axis", c.convention.axis + 7));
 * ```
 */
export function equivalentValue(c: FixtureCase, key: keyof BatchNormConvention, value: unknown): boolean {
  const k = c.convention;
  if (Object.is(value, k[key])) return true;
  if (key === "epsilonFloor") {
    return typeof value === "number" && Math.max(k.epsilon, value) === Math.max(k.epsilon, k.epsilonFloor);
  }
  return !relevantFields(c)[key];
}
