/**
 * Runs an implementation over a selection of fixture cases and reports, case by
 * case, pass / fail / skip with the reason, the worst error and the first
 * mismatching element. Implementations declare what they support; a case they
 * cannot run is reported as skipped, never as passed.
 *
 * @module
 */

import { type BatchNormConvention, centerOf, scaleOf } from "../reference/convention.ts";
import { type DType, formatInfo, isRepresentable, roundToDType } from "../reference/dtype.ts";
import {
  type CaseDTypes,
  type FixtureCase,
  type FixtureFile,
  type FixtureStep,
  isUniform,
  OUTPUT_NAMES,
  TENSOR_GROUP,
  tensorDType,
} from "./fixture.ts";
import { type Adapter, type CaseAdapter, type CaseResult, runCase, type StepOutputs } from "./harness.ts";
import { REDUCTION_OUTPUTS, TOLERANCE } from "./tolerance.ts";
import { declaredConvention, equivalentValue, RUNNING_ONLY_FIELDS, runningSubstitution } from "./relevance.ts";
import { type CaseDiagnosis, diagnoseCase, type KnownFinding } from "./diagnosis.ts";

/** What an implementation can run. Every field is optional: absent means "everything". */
export interface Capabilities {
  /** Modes it runs. */
  readonly modes?: readonly ("train" | "eval")[];
  /** Whether it computes dx, dgamma and dbeta. If not, gradients are not judged (and the report says so). */
  readonly backward?: boolean;
  /** Element types it runs. */
  readonly dtypes?: readonly DType[];
  /** Channel layouts: axis 1 (`channels-first`) and/or the last axis (`channels-last`). */
  readonly layouts?: readonly ("channels-first" | "channels-last")[];
  /** Per convention field, the values it can be configured for, e.g. `{ momentumKind: ["old"] }`. */
  readonly conventions?: { readonly [K in keyof BatchNormConvention]?: readonly BatchNormConvention[K][] };
  /** Whether it reports refusals (steps that expect an error) as errors. */
  readonly errors?: boolean;
  /** The outputs it produces; others are not judged (and the report lists them as unchecked). */
  readonly outputs?: readonly string[];
  /**
   * Format 1.3, mixed precision: the dtype combinations it takes (a case whose groups are not all its dtype runs only
   * when its `{data, params, running, saved}` is listed), or `"any"`. Absent: any (in process; a subprocess program
   * that declares none takes none, PROTOCOL.md 1.2). `[]`: uniform cases only.
   */
  readonly mixedDtypes?: "any" | readonly MixedDTypes[];
  /**
   * Format 1.3: whether it takes `center` and `scale` apart (beta without gamma, or gamma without beta). If `false`,
   * only cases where they agree are run. Absent: true in process; false for a subprocess program that does not say.
   */
  readonly centerScale?: boolean;
  /**
   * Whether it takes a training batch split into shards (format 1.3 `shards`: group statistics across devices). Absent
   * means yes, as for every capability. With `false`, a split case is sent unsplit and judged the same (the group's
   * statistics are the whole batch's), never skipped.
   */
  readonly shards?: boolean;
  /**
   * Format 1.3: whether it computes `dmean` and `dvar`, the gradients with respect to the running mean and variance of
   * an eval step with dy. **Absent means no** (unlike the other capabilities: few implementations differentiate with
   * respect to their statistics): a step is then not asked for them, they are not judged (the report lists them as
   * unchecked), and every other output is judged as before.
   */
  readonly statGradients?: boolean;
}

/**
 * One mixed-precision combination an implementation takes: the dtype of each group of tensors (FORMAT.md 1.3).
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import type { MixedDTypes } from "./runner.ts";
 * const fused: MixedDTypes = { data: "float16", params: "float32", running: "float32", saved: "float32" };
 * assert(fused.data === "float16");
 * ```
 */
export interface MixedDTypes {
  /** x, dy, y, dx. */
  readonly data: DType;
  /** gamma, beta, dgamma, dbeta. */
  readonly params: DType;
  /** running_mean, running_var. */
  readonly running: DType;
  /** batch_mean, batch_var, saved_invstd. */
  readonly saved: DType;
}

/** An implementation under test. */
export interface Implementation {
  /** Its name in reports. */
  readonly name: string;
  /** One step at a time, or a whole case at once (the subprocess protocol). */
  readonly adapter: Adapter | { readonly wholeCase: CaseAdapter };
  /** What it supports; absent means everything. */
  readonly supports?: Capabilities;
  /**
   * Told before a run which cases will be asked for, in order, so that it can send them ahead (the subprocess
   * protocol's batches, `fixtures/PROTOCOL.md`). Optional.
   */
  readonly upcoming?: (cases: readonly FixtureCase[]) => void;
}

/** Which cases to run. Every field narrows the selection; absent means no narrowing. */
export interface Selection {
  /** Provenance sources (`pytorch`, `tfjs`, `onnxruntime`, ...). */
  readonly sources?: readonly string[];
  /** Cases with at least one of these features. */
  readonly features?: readonly string[];
  /** Cases with none of these features. */
  readonly excludeFeatures?: readonly string[];
  /** Case dtypes. */
  readonly dtypes?: readonly DType[];
  /** Case names matching this pattern. */
  readonly name?: RegExp;
}

/** A case the implementation is known to fail, and why. */
export interface ExpectedFailure {
  /** The case's exact name. */
  readonly case: string;
  /** Why it fails. */
  readonly reason: string;
}

/** How one case went. */
export type CaseStatus = "pass" | "fail" | "skip" | "xfail" | "xpass";

/** One case in a report. */
export interface CaseReport {
  /** The case's name. */
  readonly name: string;
  /** Its fixture source. */
  readonly source: string;
  /** Its file. */
  readonly file: string;
  /** Its dtype. */
  readonly dtype: DType;
  /** Format 1.3: its groups' dtypes, for a mixed-precision case (absent for a uniform one). */
  readonly dtypes?: CaseDTypes;
  /** The verdict. */
  readonly status: CaseStatus;
  /** Why it failed, was skipped, or is an expected failure. */
  readonly reason?: string;
  /** Outputs not judged (for instance gradients of an implementation without backward). */
  readonly unchecked?: readonly string[];
  /** The largest error, as a share of its budget (1 = at the limit), over every output compared. */
  readonly worstShare?: number;
  /** The first element outside the tolerance. */
  readonly firstMismatch?: CaseResult["firstMismatch"];
  /** Every output that failed its comparison, each with its error, its budget and how the budget was formed. */
  readonly failures?: readonly OutputFailure[];
  /**
   * Every other reason the case failed, in words: no answer, a crash or timeout, a refusal, a missing output,
   * a wrong shape or dtype. Any of these fails the case, whatever the numbers (a defect case included).
   */
  readonly problems?: readonly string[];
  /** For a failing case: what each failing output, refusal or unexpected answer matches (diagnosis.ts). */
  readonly diagnosis?: CaseDiagnosis;
  /**
   * Set when the case passed only because `faithfulTo` was asked and every failing output equals, within the
   * budget, the recorded output of that framework: the framework's name and version. Never set without `faithfulTo`.
   */
  readonly faithfulTo?: string;
  /**
   * Set when the case was run under a running-statistics convention the implementation declares instead of the
   * case's (relevance.ts, runningSubstitution): what was substituted, and the outputs that went unchecked.
   */
  readonly substituted?: { readonly note: string; readonly unchecked: readonly string[] };
  /** Set on cases labelled `framework_defect`: reported apart (see FORMAT.md, "Running a case"). */
  readonly defect?: { readonly issue: string; readonly summary: string };
  /** Wall time of the case, in milliseconds. */
  readonly ms: number;
}

/** One output of one step outside its budget. */
export interface OutputFailure {
  /** Step index. */
  readonly step: number;
  /** Output name. */
  readonly output: string;
  /** The largest error, in ULPs of the case's dtype (Infinity for a special value against a finite one). */
  readonly error: number;
  /** The budget, in the same unit. */
  readonly budget: number;
  /** How the budget was formed, in words. */
  readonly basis: string;
  /** Index of the worst element. */
  readonly index: number;
  /** The implementation's value there. */
  readonly actual?: number;
  /** The value it was judged against (an expectation beyond the dtype's range is the dtype's infinity). */
  readonly expected?: number;
  /** The expectation as stored, when rounding it to the case's dtype changed it. */
  readonly stored?: number;
}

/** A whole run. */
export interface SuiteReport {
  /** The implementation's name. */
  readonly implementation: string;
  /** What the implementation declared it supports (absent: everything). */
  readonly capabilities?: Capabilities;
  /** Every selected case. */
  readonly cases: readonly CaseReport[];
  /** Counts by status. */
  readonly totals: Readonly<Record<CaseStatus, number>>;
}

/** Options of {@linkcode runSuite}. */
export interface RunOptions {
  /** Which cases. */
  readonly select?: Selection;
  /** Cases expected to fail (an expected failure that passes is reported as `xpass`). */
  readonly expectedFailures?: readonly ExpectedFailure[];
  /** Called after each case (progress reporting). */
  readonly onCase?: (report: CaseReport, done: number, total: number) => void;
  /** Diagnose failing cases (default true). */
  readonly diagnose?: boolean;
  /** The known findings (findings.ts): named beside a failure that equals a framework's recorded output. */
  readonly findingFor?: (caseName: string, output: string) => KnownFinding | undefined;
  /**
   * `pytorch` or `pytorch@1.13`: count a failing case as passed when every failing output equals, within its budget,
   * that framework's recorded output (and nothing else is wrong), labelled `faithfulTo` in the report. The default
   * is strict: absent, no diagnosis changes a verdict.
   */
  readonly faithfulTo?: string;
}

/**
 * Whether a framework's provenance is the one a `--faithful-to` value names: the name case-insensitively and without
 * punctuation (`pytorch` names PyTorch, `tfjs` TensorFlow.js), and a version prefix when `@version` is given.
 *
 * @param wanted E.g. `pytorch`, `pytorch@1.13`.
 * @param framework The framework's name, e.g. `PyTorch`.
 * @param version Its version, e.g. `1.13.0a0`.
 * @returns Whether it is named.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { namesFramework } from "./runner.ts";
 * assert(namesFramework("pytorch@1.13", "PyTorch", "1.13.0a0") && !namesFramework("pytorch@2", "PyTorch", "1.13.0a0"));
 * assert(namesFramework("tfjs", "TensorFlow.js", "4.22.0") && !namesFramework("onnx", "PyTorch", "1.13"));
 * ```
 */
export function namesFramework(wanted: string, framework: string, version: string): boolean {
  const [name, at] = wanted.split("@");
  const key = (s: string) => s.toLowerCase().replace(/[^a-z0-9]/g, "");
  const aliases: Record<string, string> = { tfjs: "tensorflowjs", torch: "pytorch", ort: "onnxruntime" };
  const want = aliases[key(name)] ?? key(name);
  if (!key(framework).startsWith(want)) return false;
  if (at === undefined) return true;
  return version === at || version.startsWith(`${at}.`) || (version.startsWith(at) && !/\d/.test(version[at.length]));
}

const GRADIENTS = ["dx", "dgamma", "dbeta", "dmean", "dvar"];
const STAT_GRADIENTS = ["dmean", "dvar"];

/** A step without dmean and dvar in its expectations (for an implementation that does not compute them). */
function withoutStatGradients(s: FixtureStep): FixtureStep {
  if (!s.expected) return s;
  const { dmean: _m, dvar: _v, ...expected } = s.expected;
  if (!s.expectedExact) return { ...s, expected };
  const { dmean: _em, dvar: _ev, ...expectedExact } = s.expectedExact;
  const { dmean: _sm, dvar: _sv, ...exactScale } = s.exactScale ?? {};
  return { ...s, expected, expectedExact, ...(s.exactScale ? { exactScale } : {}) };
}

/**
 * Whether a case is in a selection.
 *
 * @param c The case.
 * @param source Its fixture source.
 * @param s The selection.
 * @returns `true` when every given criterion holds.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { FIXTURES_URL, loadFixture, selects } from "../../mod.ts";
 * const file = await loadFixture(new URL("pytorch/functional.json", FIXTURES_URL));
 * assert(selects(file.cases[0], "pytorch", { features: ["epsilon-placement"], dtypes: ["float64"] }));
 * assert(!selects(file.cases[0], "pytorch", { sources: ["onnxruntime"] }));
 * ```
 */
export function selects(c: FixtureCase, source: string, s: Selection): boolean {
  if (s.sources && !s.sources.includes(source)) return false;
  if (s.features && !s.features.some((f) => c.features.includes(f))) return false;
  if (s.excludeFeatures && s.excludeFeatures.some((f) => c.features.includes(f))) return false;
  if (s.dtypes && !s.dtypes.includes(c.dtype)) return false;
  if (s.name && !s.name.test(c.name)) return false;
  return true;
}

/**
 * Why an implementation cannot run a case, or `undefined` when it can.
 *
 * @param c The case.
 * @param caps The implementation's capabilities.
 * @returns The reason to skip, in words.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { FIXTURES_URL, loadFixture, unsupportedReason } from "../../mod.ts";
 * const file = await loadFixture(new URL("pytorch/functional.json", FIXTURES_URL));
 * assert(unsupportedReason(file.cases[0], { dtypes: ["float32"] })!.includes("float64"));
 * ```
 */
export function unsupportedReason(c: FixtureCase, caps: Capabilities = {}): string | undefined {
  const modes = new Set(c.steps.map((s) => s.mode));
  for (const m of modes) if (caps.modes && !caps.modes.includes(m)) return `mode "${m}" not supported`;
  if (caps.dtypes && !caps.dtypes.includes(c.dtype)) return `dtype ${c.dtype} not supported`;
  if (!isUniform(c) && caps.mixedDtypes !== undefined && caps.mixedDtypes !== "any") {
    const d = c.dtypes!;
    const want = `{data: ${d.data}, params: ${d.params}, running: ${d.running}, saved: ${d.saved}}`;
    if (
      !caps.mixedDtypes.some((m) =>
        m.data === d.data && m.params === d.params && m.running === d.running && m.saved === d.saved
      )
    ) {
      return caps.mixedDtypes.length === 0
        ? `mixed precision ${want} not supported: it declares no mixed_dtypes (uniform cases only)`
        : `mixed precision ${want} not among its mixed_dtypes`;
    }
  }
  if (caps.centerScale === false && centerOf(c.convention) !== scaleOf(c.convention)) {
    return `center=${centerOf(c.convention)} with scale=${scaleOf(c.convention)} not supported ` +
      "(it does not declare center_scale: beta and gamma apart)";
  }
  const rank = c.steps[0].inputs.x.shape.length;
  const axis = c.convention.axis < 0 ? c.convention.axis + rank : c.convention.axis;
  // Axis 1 is channels-first, the last axis channels-last; (N, C) is both.
  const first = axis === 1, last = axis === rank - 1;
  if (
    caps.layouts && !(first && caps.layouts.includes("channels-first")) &&
    !(last && caps.layouts.includes("channels-last"))
  ) {
    return `layout (axis ${c.convention.axis} of a rank-${rank} input) not supported`;
  }
  // A field matters only when its situation arises in the case (relevance.ts, rule by rule).
  for (const [key, allowed] of Object.entries(caps.conventions ?? {})) {
    const field = key as keyof BatchNormConvention;
    if (!(allowed as readonly unknown[]).some((a) => equivalentValue(c, field, a))) {
      return `convention ${key}=${JSON.stringify(c.convention[field])} not supported`;
    }
  }
  if (caps.errors === false && c.steps.some((s) => s.expectedError)) return "refusals (expected errors) not supported";
  return undefined;
}

/**
 * The value an expectation is judged as in `dtype`: itself, or, beyond the dtype's range, the dtype's infinity.
 *
 * @param expected The stored (float64) expectation.
 * @param dtype The case's dtype.
 * @returns The value the comparison used.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { judgedExpectation } from "./runner.ts";
 * assert(judgedExpectation(2.6e76, "float32") === Infinity && judgedExpectation(0.1, "float32") === 0.1);
 * ```
 */
export function judgedExpectation(expected: number, dtype: DType): number {
  return Math.abs(expected) > formatInfo(dtype).maxFinite ? roundToDType(expected, dtype) : expected;
}

/**
 * How an output's budget was formed, in words, from the policy's parts (src/tolerance.ts).
 *
 * @param dtype The case's dtype.
 * @param output The output's name.
 * @param perChannel n, the elements per channel of the step's input.
 * @param tolerance The budget the judge applied.
 * @returns E.g. "6 ULP (float32) × ceil(√40) = 42 ULP: a reduction over 40 values per channel".
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { budgetBasis } from "./runner.ts";
 * assert(budgetBasis("float32", "dgamma", 40, 42).includes("ceil(√40)"));
 * ```
 */
export function budgetBasis(dtype: DType, output: string, perChannel: number, tolerance: number): string {
  const k = REDUCTION_OUTPUTS.includes(output) ? Math.max(1, Math.ceil(Math.sqrt(perChannel))) : 1;
  const base = TOLERANCE[dtype];
  // Should the policy form budgets otherwise, say so rather than print a formula it did not use.
  if (base * k !== tolerance) return `${tolerance} ULP (the policy of src/tolerance.ts)`;
  return REDUCTION_OUTPUTS.includes(output)
    ? `${base} ULP (${dtype}) × ceil(√${perChannel}) = ${tolerance} ULP: a reduction over ${perChannel} values per channel`
    : `${base} ULP (${dtype}) at the tensor's peak: an elementwise output`;
}

/** n, the elements per channel of a step's input. */
function perChannel(c: FixtureCase, step: FixtureStep): number {
  return step.inputs.x.data.length / Math.max(1, step.inputs.x.shape.at(c.convention.axis) ?? 1);
}

/**
 * Every reason, other than numbers outside a budget, that an answer to a case fails: a step not answered, a
 * refusal where outputs were due (or outputs where a refusal was, or another code), an output missing, of
 * another shape, of another dtype, or holding a value that is not a value of the case's dtype.
 *
 * The dtype rule, stated once (FORMAT.md, "Running a case"): an answer is in the case's dtype. A tensor that
 * names its dtype names the case's; every value is exactly a value of that dtype. A float64 answer to a float32
 * case fails: round it to float32 first, as a float32 implementation does.
 *
 * @param c The case.
 * @param answers The implementation's answers, one per step, in order.
 * @param ignore Outputs not judged.
 * @returns The problems, in step order; empty when the answers are complete and well-typed.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { answerProblems, caseRequests, FIXTURES_URL, loadFixture, referenceAdapter } from "../../mod.ts";
 * const c = (await loadFixture(new URL("pytorch/functional.json", FIXTURES_URL))).cases[0];
 * assert(answerProblems(c, caseRequests(c).map(referenceAdapter)).length === 0);
 * assert(answerProblems(c, [])[0] === "step 0: no answer");
 * ```
 */
export function answerProblems(
  c: FixtureCase,
  answers: readonly StepOutputs[],
  ignore: readonly string[] = [],
): string[] {
  const problems: string[] = [];
  for (const [i, step] of c.steps.entries()) {
    const got = answers[i];
    if (!got) {
      problems.push(`step ${i}: no answer`);
      break;
    }
    if (step.expectedError) {
      if (!got.error) problems.push(`step ${i}: expected the refusal "${step.expectedError.code}", got outputs`);
      else if (got.error.code !== step.expectedError.code) {
        problems.push(`step ${i}: expected the refusal "${step.expectedError.code}", got "${got.error.code}"`);
      }
      continue;
    }
    if (got.error) {
      problems.push(`step ${i}: refused ("${got.error.code}": ${got.error.message}) where outputs were expected`);
      break;
    }
    for (const [name, want] of Object.entries(step.expected ?? {})) {
      if (ignore.includes(name)) continue;
      if (typeof want === "number") {
        if (typeof got.num_batches_tracked !== "number") problems.push(`step ${i}: ${name} is missing`);
        continue;
      }
      const have = got.outputs?.[name];
      if (!have) {
        problems.push(`step ${i}: output ${name} is missing`);
        continue;
      }
      if (have.shape.length !== want.shape.length || have.shape.some((d, k) => d !== want.shape[k])) {
        problems.push(`step ${i}: ${name} has shape [${have.shape.join(", ")}], expected [${want.shape.join(", ")}]`);
        continue;
      }
      // In a mixed-precision case (format 1.3), each output in its own group's dtype.
      const d = tensorDType(c, name);
      const whose = isUniform(c) ? "the case's" : `its group's (${TENSOR_GROUP[name]})`;
      if (have.dtype !== undefined && have.dtype !== d) {
        problems.push(`step ${i}: ${name} has dtype ${JSON.stringify(have.dtype)}, ${whose} is "${d}"`);
        continue;
      }
      for (let k = 0; k < have.data.length; k++) {
        const v = have.data[k];
        if (typeof v !== "number" || !isRepresentable(v, d)) {
          problems.push(`step ${i}: ${name}[${k}] = ${v} is not a ${d} value (answer in ${whose} dtype)`);
          break;
        }
      }
    }
  }
  return problems;
}

/** The adapter, recording every answer it gives. */
function recording(
  adapter: Adapter | { readonly wholeCase: CaseAdapter },
  answers: StepOutputs[],
): Adapter | { readonly wholeCase: CaseAdapter } {
  if (typeof adapter === "function") {
    return async (request) => {
      const got = await adapter(request);
      answers.push(got);
      return got;
    };
  }
  return {
    wholeCase: async (requests, c) => {
      const got = await adapter.wholeCase(requests, c);
      answers.push(...got);
      return got;
    },
  };
}

/**
 * Runs an implementation over fixture files and reports every selected case.
 *
 * No crash, refusal, timeout, missing output or answer of another dtype ever counts as a pass, in any case.
 * Cases labelled with a known framework defect are reported apart (`defect`): one passes when the
 * implementation answers completely and does NOT reproduce the framework's output there, and fails when it
 * does or when its answer is incomplete. A case in which nothing is left to judge (every output it expects is
 * outside what the implementation declared) is skipped, never passed.
 *
 * @param files Decoded fixture files (see {@linkcode loadAllFixtures}).
 * @param impl The implementation.
 * @param options Selection, expected failures, progress callback.
 * @returns The report.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { loadAllFixtures, referenceAdapter, runSuite } from "../../mod.ts";
 * const files = await loadAllFixtures();
 * const report = await runSuite(files, { name: "reference", adapter: referenceAdapter }, {
 *   select: { sources: ["onnx-testdata"] },
 * });
 * assertEquals(report.totals.pass, 4);
 * ```
 */
export async function runSuite(
  files: readonly FixtureFile[],
  impl: Implementation,
  options: RunOptions = {},
): Promise<SuiteReport> {
  const selected = files.flatMap((f) =>
    f.cases.filter((c) => selects(c, f.provenance.source, options.select ?? {})).map((c) => ({ c, f }))
  );
  const cases: CaseReport[] = [];
  const caps = impl.supports ?? {};
  const ignore = [...OUTPUT_NAMES, "num_batches_tracked"].filter((o) =>
    (caps.backward === false && GRADIENTS.includes(o)) || (caps.outputs !== undefined && !caps.outputs.includes(o)) ||
    (caps.statGradients !== true && STAT_GRADIENTS.includes(o))
  );
  // What each case is run as (its convention possibly substituted or replaced by a declared equivalent) and whether it
  // is skipped, decided before the run: an implementation that sends cases ahead (protocol 1.1's batches) is told the
  // cases it will be asked for, in order.
  const plans = selected.map(({ c, f }) => {
    const unchecked = ignore.filter((o) => c.steps.some((s) => s.expected?.[o] !== undefined));
    // A momentum, momentum reading or running-variance form the implementation cannot take: run the case under one
    // it declares, judging every output but the running statistics (relevance.ts, runningSubstitution).
    const sub = runningSubstitution(c, caps.conventions ?? {});
    const capsHere: Capabilities = sub
      ? {
        ...caps,
        conventions: Object.fromEntries(
          Object.entries(caps.conventions ?? {}).filter(([k]) => !RUNNING_ONLY_FIELDS.includes(k as never)),
        ),
      }
      : caps;
    const judgedOut = sub ? [...ignore, ...sub.unchecked] : ignore;
    // The convention sent: the case's (or its substitution), fields the implementation cannot take replaced by
    // declared values that compute the same here (relevance.ts, declaredConvention).
    const unsplit = caps.shards === false && c.steps.some((s) => s.shards);
    // dmean and dvar are asked only of an implementation that declares them (the request's statGradients follows
    // the step's expectations, so they leave the expectations it is run with; they are unchecked anyway).
    const noStatGradients = caps.statGradients !== true &&
      c.steps.some((s) => s.expected?.dmean !== undefined || s.expected?.dvar !== undefined);
    const run: FixtureCase = {
      ...c,
      convention: declaredConvention(c, sub ? sub.convention : c.convention, caps.conventions ?? {}),
      // Shards go only to an implementation that takes them; the others get the unsplit batch (same expectations).
      ...(unsplit || noStatGradients
        ? {
          steps: c.steps.map(({ shards, ...s }) => {
            const step = unsplit || shards === undefined ? s : { ...s, shards };
            return noStatGradients ? withoutStatGradients(step) : step;
          }),
        }
        : {}),
    };
    const judgeable = c.steps.some((s) =>
      s.expectedError || Object.keys(s.expected ?? {}).some((o) => !judgedOut.includes(o))
    );
    const skip = (sub && !judgeable ? `convention ${sub.note} not supported` : undefined) ??
      unsupportedReason(c, capsHere) ??
      (judgeable ? undefined : `nothing to judge: every output it expects (${unchecked.join(", ")}) is undeclared`);
    return { c, f, unchecked, sub, judgedOut, run, skip };
  });
  impl.upcoming?.(plans.filter((p) => !p.skip).map((p) => p.run));
  for (const { c, f, unchecked, sub, judgedOut, run, skip } of plans) {
    const started = performance.now();
    const base = {
      name: c.name,
      source: f.provenance.source,
      file: fileLabel(f.url),
      dtype: c.dtype,
      ...(isUniform(c) ? {} : { dtypes: c.dtypes }),
      ...(c.frameworkDefect ? { defect: c.frameworkDefect } : {}),
    };
    let report: CaseReport;
    if (skip) report = { ...base, status: "skip", reason: skip, ms: 0 };
    else {
      let r: CaseResult;
      const answers: StepOutputs[] = [];
      const problems: string[] = [];
      try {
        r = await runCase(run, recording(impl.adapter, answers), judgedOut);
        problems.push(...answerProblems(c, answers, judgedOut));
      } catch (e) {
        const why = `the implementation failed: ${(e as Error).message}`;
        r = { name: c.name, pass: false, checks: [], reason: why };
        problems.push(why);
      }
      const failures: OutputFailure[] = r.checks.filter((k) => !k.comparison.pass).map(
        ({ step, output, comparison, budgetRule }) => {
          const stored = comparison.expected;
          const d = tensorDType(c, output);
          const judged = stored === undefined ? undefined : judgedExpectation(stored, d);
          return {
            step,
            output,
            error: comparison.maxError,
            budget: comparison.tolerance,
            // The judge says how it formed the budget (against exact values: at the output's error scale).
            basis: output === "num_batches_tracked"
              ? "exact: an integer"
              : budgetRule ?? budgetBasis(d, output, perChannel(c, c.steps[step]), comparison.tolerance),
            index: comparison.worstIndex,
            ...(comparison.actual !== undefined ? { actual: comparison.actual } : {}),
            ...(judged !== undefined ? { expected: judged } : {}),
            ...(judged !== undefined && !Object.is(judged, stored) ? { stored } : {}),
          };
        },
      );
      // A defect case of a file with exact values (format 1.2) is an ordinary case: judged against exact, the defect
      // recorded beside it. Without exact values it is judged against what the framework did, and inverted below.
      const againstDefect = c.frameworkDefect !== undefined && !c.steps.some((s) => s.expectedExact);
      // Errors of defect cases judged against the framework are large by design: they do not count toward the worst.
      const shares = againstDefect
        ? []
        : r.checks.filter((k) => k.comparison.tolerance > 0).map((k) => k.comparison.maxError / k.comparison.tolerance);
      const expectedFailure = options.expectedFailures?.find((x) => x.case === c.name);
      let status: CaseStatus;
      let reason = r.reason ?? problems[0];
      if (problems.length) status = "fail"; // never a pass, defect case or not
      else if (againstDefect && c.frameworkDefect) {
        // The framework's output is wrong here: a correct (and complete) implementation differs from it.
        status = r.pass ? "fail" : "pass";
        reason = r.pass
          ? `reproduces a known framework defect (${c.frameworkDefect.issue})`
          : `differs from a known framework defect, as it should (${c.frameworkDefect.issue})`;
      } else status = r.pass ? "pass" : "fail";
      let diagnosis: CaseDiagnosis | undefined;
      let faithfulTo: string | undefined;
      if (status === "fail" && !againstDefect && options.diagnose !== false) {
        const failing = r.checks.filter((k) => !k.comparison.pass).map(({ step, output }) => ({ step, output }));
        diagnosis = diagnoseCase(c, answers, failing, {
          provenance: f.provenance,
          ignore,
          problems,
          ...(options.findingFor ? { findingFor: options.findingFor } : {}),
        });
        // --faithful-to: every failure is a match with that framework's recorded output, and nothing else failed.
        const p = f.provenance;
        if (
          // A composed file's expectations are no framework's recorded output: never faithful to them.
          options.faithfulTo && !p.composed && namesFramework(options.faithfulTo, p.framework, p.version) &&
          failing.length > 0 &&
          problems.length === 0 && diagnosis.steps.length === 0 && diagnosis.outputs.length === failing.length &&
          diagnosis.outputs.every((o) => o.recorded !== undefined && o.recorded.share <= 1)
        ) {
          status = "pass";
          faithfulTo = `${p.framework} ${p.version}`;
          reason = `faithful to ${faithfulTo}, not to the exact values`;
        }
      }
      if (expectedFailure) {
        reason = status === "fail"
          ? `${expectedFailure.reason} (${reason})`
          : `expected to fail (${expectedFailure.reason}) but passed`;
        status = status === "fail" ? "xfail" : "xpass";
      }
      report = {
        ...base,
        status,
        ...(reason ? { reason } : {}),
        ...(unchecked.length ? { unchecked } : {}),
        ...(shares.length ? { worstShare: Math.max(...shares) } : {}),
        ...(r.firstMismatch && status !== "pass" ? { firstMismatch: r.firstMismatch } : {}),
        ...(failures.length && status !== "pass" ? { failures } : {}),
        ...(problems.length ? { problems } : {}),
        ...(diagnosis ? { diagnosis } : {}),
        ...(faithfulTo ? { faithfulTo } : {}),
        ...(sub ? { substituted: { note: sub.note, unchecked: sub.unchecked } } : {}),
        ms: performance.now() - started,
      };
    }
    cases.push(report);
    options.onCase?.(report, cases.length, selected.length);
  }
  const totals = { pass: 0, fail: 0, skip: 0, xfail: 0, xpass: 0 };
  for (const c of cases) totals[c.status]++;
  return { implementation: impl.name, ...(impl.supports ? { capabilities: impl.supports } : {}), cases, totals };
}

/** A fixture file's name in reports: its path under a `fixtures/` folder, else its last two path segments. */
function fileLabel(url: string): string {
  const under = url.split("/fixtures/");
  return under.length > 1 ? under.pop()! : url.split("/").slice(-2).join("/");
}
