/**
 * Runs an implementation over a selection of fixture cases and reports, case by
 * case, pass / fail / skip with the reason, the worst error and the first
 * mismatching element. Implementations declare what they support; a case they
 * cannot run is reported as skipped, never as passed.
 *
 * @module
 */

import type { BatchNormConvention } from "../reference/convention.ts";
import type { DType } from "../reference/dtype.ts";
import { type FixtureCase, type FixtureFile, OUTPUT_NAMES } from "./fixture.ts";
import { type Adapter, type CaseAdapter, type CaseResult, runCase } from "./harness.ts";

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
}

/** An implementation under test. */
export interface Implementation {
  /** Its name in reports. */
  readonly name: string;
  /** One step at a time, or a whole case at once (the subprocess protocol). */
  readonly adapter: Adapter | { readonly wholeCase: CaseAdapter };
  /** What it supports; absent means everything. */
  readonly supports?: Capabilities;
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
  /** Wall time of the case, in milliseconds. */
  readonly ms: number;
}

/** A whole run. */
export interface SuiteReport {
  /** The implementation's name. */
  readonly implementation: string;
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
}

const GRADIENTS = ["dx", "dgamma", "dbeta"];

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
  // Three fields only matter when their situation arises in the case.
  const perChannel = (x: { data: ArrayLike<number>; shape: readonly number[] }) => x.data.length / (x.shape[axis] || 1);
  const relevant: Partial<Record<keyof BatchNormConvention, boolean>> = {
    emptyBatch: c.steps.some((s) => s.inputs.x.data.length === 0),
    singleValueTraining: c.steps.some((s) => s.mode === "train" && perChannel(s.inputs.x) === 1),
    zeroVarianceInvStd: Math.max(c.convention.epsilon, c.convention.epsilonFloor) === 0,
  };
  for (const [key, allowed] of Object.entries(caps.conventions ?? {})) {
    if (relevant[key as keyof BatchNormConvention] === false) continue;
    const v = c.convention[key as keyof BatchNormConvention];
    if (!(allowed as readonly unknown[]).includes(v)) return `convention ${key}=${JSON.stringify(v)} not supported`;
  }
  if (caps.errors === false && c.steps.some((s) => s.expectedError)) return "refusals (expected errors) not supported";
  return undefined;
}

/**
 * Runs an implementation over fixture files and reports every selected case.
 *
 * Cases labelled with a known framework defect pass when the implementation does
 * NOT reproduce the framework's output there, and fail when it does.
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
    (caps.backward === false && GRADIENTS.includes(o)) || (caps.outputs !== undefined && !caps.outputs.includes(o))
  );
  for (const { c, f } of selected) {
    const started = performance.now();
    const base = {
      name: c.name,
      source: f.provenance.source,
      file: f.url.split("/fixtures/").pop() ?? f.url,
      dtype: c.dtype,
    };
    const skip = unsupportedReason(c, caps);
    let report: CaseReport;
    if (skip) report = { ...base, status: "skip", reason: skip, ms: 0 };
    else {
      let r: CaseResult;
      try {
        r = await runCase(c, impl.adapter, ignore);
      } catch (e) {
        r = { name: c.name, pass: false, checks: [], reason: `the implementation threw: ${(e as Error).message}` };
      }
      // Errors of defect cases are large by design: they do not count toward the worst error.
      const shares = c.frameworkDefect
        ? []
        : r.checks.filter((k) => k.comparison.tolerance > 0).map((k) => k.comparison.maxError / k.comparison.tolerance);
      const unchecked = ignore.filter((o) => c.steps.some((s) => s.expected?.[o] !== undefined));
      const expectedFailure = options.expectedFailures?.find((x) => x.case === c.name);
      let status: CaseStatus = r.pass ? "pass" : "fail";
      let reason = r.reason;
      if (c.frameworkDefect) {
        // The framework's output is wrong here: a correct implementation differs from it.
        status = r.pass ? "fail" : "pass";
        reason = r.pass
          ? `reproduces a known framework defect (${c.frameworkDefect.issue})`
          : `differs from a known framework defect, as it should (${c.frameworkDefect.issue})`;
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
        ms: performance.now() - started,
      };
    }
    cases.push(report);
    options.onCase?.(report, cases.length, selected.length);
  }
  const totals = { pass: 0, fail: 0, skip: 0, xfail: 0, xpass: 0 };
  for (const c of cases) totals[c.status]++;
  return { implementation: impl.name, cases, totals };
}
