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
 * - `epsilonPlacement`: the epsilon in effect is not 0 (sqrt(v) + 0 = sqrt(v + 0): one function, every output equal,
 *   a variance of 0 included, where FORMAT.md has the zero-variance rule govern both placements alike);
 * - `momentum`, `momentumKind`, `runningVariance`: some training step updates running statistics (a tracked
 *   training step on a non-empty batch, or on an empty one unless the statistics stay unchanged); `momentum` is
 *   moreover irrelevant to the cumulative average, which has none;
 * - every other field (`axis`, `epsilon`, `affine`, `center`, `scale`, `trackRunningStats`): always.
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
    center: true,
    scale: true,
    trackRunningStats: true,
    epsilonFloor: k.epsilon < k.epsilonFloor,
    epsilonPlacement: eps !== 0,
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

/** The convention fields that change nothing but the running statistics a training step returns. */
export const RUNNING_ONLY_FIELDS: readonly (keyof BatchNormConvention)[] = Object.freeze([
  "momentum",
  "momentumKind",
  "runningVariance",
]);

/** A case run under another running-statistics convention, with the running statistics left unchecked. */
export interface RunningSubstitution {
  /** The convention sent to the implementation. */
  readonly convention: BatchNormConvention;
  /** The outputs not judged: `running_mean` and `running_var`. */
  readonly unchecked: readonly string[];
  /** What was substituted, in words, e.g. `momentumKind "new" → "old"`. */
  readonly note: string;
}

/**
 * How an implementation that cannot be configured for a case's momentum, momentum reading or running-variance form
 * is still judged on the case: each of those fields only changes the running statistics a training step returns
 * (`running_mean`, `running_var`; the next step starts from the case's recorded state, not from the answer), so the
 * case is sent with a value the implementation declares instead, and every other output is judged while the running
 * statistics go unchecked, said so in the report. Undefined when nothing needs substituting, or when another field
 * is unsupported (the case is then skipped, see {@linkcode equivalentValue}). The running statistics of each value
 * are judged on the cases that state it (fixtures/composed/ holds them for every source's data).
 *
 * @param c The case.
 * @param allowed Per field, the values the implementation declares (absent: every value).
 * @returns The substitution, or undefined.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { FIXTURES_URL, loadFixture } from "../../mod.ts";
 * import { runningSubstitution } from "./relevance.ts";
 * const file = await loadFixture(new URL("pytorch/batchnorm2d.json", FIXTURES_URL));
 * const c = file.cases.find((c) => c.convention.momentumKind === "new" && c.steps.some((s) => s.mode === "train"))!;
 * const s = runningSubstitution(c, { momentumKind: ["old"] })!;
 * assert(s.convention.momentumKind === "old" && s.unchecked.includes("running_var"));
 * ```
 */
export function runningSubstitution(
  c: FixtureCase,
  allowed: { readonly [K in keyof BatchNormConvention]?: readonly BatchNormConvention[K][] },
): RunningSubstitution | undefined {
  const changes: Partial<Record<keyof BatchNormConvention, unknown>> = {};
  for (const field of RUNNING_ONLY_FIELDS) {
    const values = allowed[field] as readonly unknown[] | undefined;
    if (!values || values.some((v) => equivalentValue(c, field, v))) continue;
    if (!values.length) return undefined;
    changes[field] = values[0];
  }
  if (!Object.keys(changes).length) return undefined;
  const k = c.convention;
  let kind = (changes.momentumKind ?? k.momentumKind) as BatchNormConvention["momentumKind"];
  let momentum = (changes.momentum ?? k.momentum) as number | null;
  // The cumulative average has no momentum, the others need one: the declared one, else 0.1 (or 0.9 read "old").
  if (kind === "cumulative") momentum = null;
  else if (momentum === null) {
    const declared = (allowed.momentum ?? []).find((m) => m !== null);
    momentum = declared ?? (kind === "old" ? 0.9 : 0.1);
  }
  if (kind !== "cumulative" && allowed.momentumKind && !allowed.momentumKind.includes(kind)) {
    kind = allowed.momentumKind[0];
  }
  const convention = { ...k, ...changes, momentumKind: kind, momentum } as BatchNormConvention;
  // Bessel's n/(n-1) is undefined for one value per channel: a case that computes it cannot be run under Bessel.
  if (
    convention.runningVariance === "bessel" && k.singleValueTraining === "allow" &&
    c.steps.some((s) => s.mode === "train" && perChannel(c, s) === 1)
  ) return undefined;
  const note = RUNNING_ONLY_FIELDS.filter((f) => !Object.is(convention[f], k[f]))
    .map((f) => `${f} ${JSON.stringify(k[f])} → ${JSON.stringify(convention[f])}`).join(", ");
  return { convention, unchecked: ["running_mean", "running_var"], note };
}

/**
 * The convention to send an implementation for a case: the case's own, with each field the implementation cannot
 * be configured for replaced by a declared value that computes the same on this case ({@linkcode equivalentValue}),
 * so that an honest implementation is not asked for a value it would refuse where the value changes nothing (an
 * inference-only case sent to an engine of the other momentum reading). Fields with no equivalent declared value
 * are left as they are (the runner skips or substitutes such cases first).
 *
 * @param c The case.
 * @param convention The convention to start from (the case's, or a running substitution of it).
 * @param allowed Per field, the values the implementation declares.
 * @returns The convention to send.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { FIXTURES_URL, loadFixture } from "../../mod.ts";
 * import { declaredConvention } from "./relevance.ts";
 * const file = await loadFixture(new URL("pytorch/functional.json", FIXTURES_URL));
 * const c = file.cases.find((c) => c.steps.every((s) => s.mode === "eval") && c.convention.trackRunningStats)!;
 * assert(declaredConvention(c, c.convention, { momentumKind: ["old"] }).momentumKind === "old");
 * ```
 */
export function declaredConvention(
  c: FixtureCase,
  convention: BatchNormConvention,
  allowed: { readonly [K in keyof BatchNormConvention]?: readonly BatchNormConvention[K][] },
): BatchNormConvention {
  const out: Record<string, unknown> = { ...convention };
  for (const [key, values] of Object.entries(allowed)) {
    const field = key as keyof BatchNormConvention;
    const list = values as readonly unknown[];
    if (list.some((v) => Object.is(v, convention[field]))) continue;
    const same = list.find((v) => equivalentValue(c, field, v));
    if (same !== undefined) out[field] = same;
  }
  // Keep momentum and its reading consistent: the cumulative average has none, the others need one.
  if (out.momentumKind === "cumulative") out.momentum = null;
  else if (out.momentum === null) {
    out.momentum = (allowed.momentum ?? []).find((m) => m !== null) ?? (out.momentumKind === "old" ? 0.9 : 0.1);
  }
  return out as unknown as BatchNormConvention;
}
