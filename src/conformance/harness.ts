/**
 * Runs an implementation over fixture cases and judges each output with the
 * tolerance policy of {@linkcode compareTensor}.
 *
 * An implementation is an adapter: a function from one step's request (mode,
 * convention, inputs and the current state) to that step's outputs. The harness
 * carries the state between steps (the running statistics the implementation
 * returned become the next step's), so adapters can be stateless.
 *
 * @module
 */

import { batchNormInference, batchNormTrain } from "../reference/batch_norm.ts";
import { batchNormBackward } from "../reference/backward.ts";
import { groupStatistics } from "../reference/group.ts";
import type { Mode } from "../reference/state.ts";
import { type BatchNormConvention, resolveConvention } from "../reference/convention.ts";
import { type DType, formatInfo, roundToDType } from "../reference/dtype.ts";
import { BatchNormError } from "../reference/errors.ts";
import { type CaseDTypes, type FixtureCase, type FixtureStep, TENSOR_GROUP, tensorDType } from "./fixture.ts";
import type { Tensor } from "../reference/tensor.ts";
import { budget, compareExact, compareTensor, type Comparison } from "./tolerance.ts";

/**
 * The state the harness hands to each step, in snake_case like the fixtures.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { type StepState, tensor } from "../../mod.ts";
 * const s: StepState = { gamma: tensor("float32", [1], [1]), beta: tensor("float32", [1], [0]), num_batches_tracked: 0 };
 * assert(s.running_mean === undefined);
 * ```
 */
export interface StepState {
  /** Scale, or undefined when not affine. */
  readonly gamma?: Tensor;
  /** Shift, or undefined when not affine. */
  readonly beta?: Tensor;
  /** Running mean, or undefined when not tracked. */
  readonly running_mean?: Tensor;
  /** Running variance, or undefined when not tracked. */
  readonly running_var?: Tensor;
  /** Training calls so far. */
  readonly num_batches_tracked: number;
}

/**
 * What an adapter is asked to compute.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { referenceAdapter, resolveConvention, type StepRequest, tensor } from "../../mod.ts";
 * const request: StepRequest = {
 *   mode: "train",
 *   dtype: "float64",
 *   convention: resolveConvention("onnx"),
 *   x: tensor("float64", [2, 1], [0, 2]),
 *   state: { gamma: tensor("float64", [1], [1]), beta: tensor("float64", [1], [0]), num_batches_tracked: 0 },
 * };
 * assert(referenceAdapter(request).outputs!.batch_mean.data[0] === 1);
 * ```
 */
export interface StepRequest {
  /** `train` (batch statistics, update the running ones) or `eval`. */
  readonly mode: Mode;
  /** The case's dtype: of x, dy, y, dx, and of every other tensor unless `dtypes` says otherwise. */
  readonly dtype: DType;
  /**
   * Format 1.3, mixed precision: each group's dtype (`params`: gamma, beta, dgamma, dbeta; `running`: the running
   * statistics; `saved`: batch_mean, batch_var, saved_invstd). Each input comes in its group's dtype and each output
   * is answered in it. Absent: every tensor in `dtype`.
   */
  readonly dtypes?: CaseDTypes;
  /**
   * The convention to follow, complete. Absent only in fingerprint probes, which ask for the implementation's
   * own defaults: then `defaultsExcept` may name the few options to set as the implementation's API takes them.
   */
  readonly convention?: BatchNormConvention;
  /** Fingerprint probes only (with no `convention`): these options set, every other one the implementation's default. */
  readonly defaultsExcept?: Partial<BatchNormConvention>;
  /** The input. */
  readonly x: Tensor;
  /** The output gradient, when gradients are expected. */
  readonly dy?: Tensor;
  /** The state before this step. */
  readonly state: StepState;
  /**
   * Format 1.3: a training batch split into shards along axis 0, as rows per shard in batch order (uneven and empty
   * shards allowed). Not sent to an implementation that declares `shards: false`. Its statistics are the group's,
   * combined across shards, which equal the whole batch's.
   */
  readonly shards?: readonly number[];
  /**
   * Format 1.3: the step (eval, with dy) expects `dmean` and `dvar`, the gradients of sum(y·dy) with respect to the
   * running mean and variance it normalizes with. Sent only to an implementation that declares `statGradients`.
   */
  readonly statGradients?: boolean;
}

/**
 * What an adapter returns: outputs by fixture name, or the error it raised.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { type StepOutputs } from "../../mod.ts";
 * const refused: StepOutputs = { error: { code: "single_value_per_channel", message: "one value per channel" } };
 * assert(refused.outputs === undefined);
 * ```
 */
export interface StepOutputs {
  /** Outputs named as in a fixture's `expected` (y, batch_mean, ..., dbeta). */
  readonly outputs?: Readonly<
    Record<
      string,
      {
        /** The answer's dtype, when the implementation states it (the protocol always does); must be the output's. */
        readonly dtype?: string;
        readonly shape: readonly number[];
        readonly data: ArrayLike<number>;
      }
    >
  >;
  /** num_batches_tracked after a training step. */
  readonly num_batches_tracked?: number;
  /** The implementation refused the call. */
  readonly error?: { readonly code: string; readonly message: string };
}

/**
 * An implementation under test.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { type Adapter, FIXTURES_URL, loadFixture, runCase } from "../../mod.ts";
 * const refuseEverything: Adapter = () => ({ error: { code: "invalid_option", message: "not implemented" } });
 * const file = await loadFixture(new URL("pytorch/functional.json", FIXTURES_URL));
 * assert(!(await runCase(file.cases[0], refuseEverything)).pass);
 * ```
 */
export type Adapter = (
  request: StepRequest,
) => StepOutputs | Promise<StepOutputs>;

/**
 * The verdict on one output of one step.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { FIXTURES_URL, loadFixture, type OutputCheck, referenceAdapter, runCase } from "../../mod.ts";
 * const file = await loadFixture(new URL("pytorch/functional.json", FIXTURES_URL));
 * const checks: readonly OutputCheck[] = (await runCase(file.cases[0], referenceAdapter)).checks;
 * assert(checks.length === 1 && checks[0].output === "y");
 * ```
 */
export interface OutputCheck {
  /** Step index. */
  readonly step: number;
  /** Output name. */
  readonly output: string;
  /** The comparison (for num_batches_tracked, exact: 0 or Infinity). */
  readonly comparison: Comparison;
  /**
   * What the output was judged against: `exact` (format 1.2's `expected_exact`, at the error scale of
   * `exact_scale`), `float64 twin` (`expected_float64`, at the tensor's peak) or `expected` (the framework's own
   * output, at the peak; float64 cases and defect cases of files without exact values). Absent for num_batches_tracked.
   */
  readonly basis?: "exact" | "float64 twin" | "expected";
  /**
   * How the budget was formed, in words, when judged against exact values, e.g. `6 ULP (float32) × ceil(√40) = 42 ULP
   * at max(|exact|, the channel's error scale): a reduction over 40 values per channel`.
   */
  readonly budgetRule?: string;
}

/**
 * The verdict on one case.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { type CaseResult, FIXTURES_URL, loadFixture, referenceAdapter, runCase } from "../../mod.ts";
 * const file = await loadFixture(new URL("pytorch/functional.json", FIXTURES_URL));
 * const r: CaseResult = await runCase(file.cases[0], referenceAdapter);
 * assert(r.pass && r.reason === undefined);
 * ```
 */
export interface CaseResult {
  /** The case's name. */
  readonly name: string;
  /** Whether every step matched. */
  readonly pass: boolean;
  /** Every output compared. */
  readonly checks: readonly OutputCheck[];
  /** Why the case failed, in words, when it did. */
  readonly reason?: string;
  /** The first element, in step and output order, outside the tolerance. */
  readonly firstMismatch?: {
    readonly step: number;
    readonly output: string;
    readonly index: number;
    readonly actual: number;
    readonly expected: number;
  };
}

/**
 * The reference as an adapter: what `deno task conform` runs.
 *
 * @param request One step.
 * @returns The reference's outputs, or its error code and message.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { referenceAdapter, resolveConvention, tensor } from "../../mod.ts";
 * const out = referenceAdapter({
 *   mode: "eval", dtype: "float32", convention: resolveConvention("onnx"),
 *   x: tensor("float32", [1, 1], [2]),
 *   state: { gamma: tensor("float32", [1], [1]), beta: tensor("float32", [1], [0]),
 *     running_mean: tensor("float32", [1], [1]), running_var: tensor("float32", [1], [1]), num_batches_tracked: 0 },
 * });
 * assert(out.outputs!.y.data[0] > 0.99);
 * ```
 */
export function referenceAdapter(request: StepRequest): StepOutputs {
  const { mode, x, dy } = request;
  // No convention (fingerprint probes): the reference's own default, PyTorch's, with the probe's options set.
  const convention = request.convention ?? resolveConvention({ ...request.defaultsExcept });
  const s = request.state;
  const d = request.dtypes;
  if (d) {
    // Each state tensor in its group's dtype: a disagreement is refused naming the tensor.
    for (const [name, t] of Object.entries(s)) {
      const group = TENSOR_GROUP[name];
      if (typeof t !== "object" || !group || t.dtype === d[group]) continue;
      return {
        error: {
          code: "shape_mismatch",
          message: `${name} is ${t.dtype} but the case's ${group} dtype is ${d[group]}`,
        },
      };
    }
  }
  const options = d ? { dtypes: { params: d.params, running: d.running, saved: d.saved } } : {};
  const state = {
    gamma: s.gamma?.data,
    beta: s.beta?.data,
    runningMean: s.running_mean?.data,
    runningVar: s.running_var?.data,
    numBatchesTracked: s.num_batches_tracked,
  };
  try {
    const outputs: Record<
      string,
      { dtype?: string; shape: readonly number[]; data: ArrayLike<number> }
    > = {};
    let tracked: number | undefined;
    if (mode === "train") {
      const r = batchNormTrain(x, state, convention, options);
      Object.assign(outputs, {
        y: r.y,
        batch_mean: r.batchMean,
        batch_var: r.batchVar,
        saved_invstd: r.invStd,
      });
      if (request.shards) {
        // The group form: the batch statistics combined across the shards (equal to the whole batch's).
        const g = groupStatistics(x, request.shards, { axis: convention.axis });
        const saved = r.batchMean.dtype; // the case's dtype, or its saved group's (mixed precision)
        const round = (v: Float64Array) => Array.from(v, (e) => roundToDType(e, saved));
        outputs.batch_mean = { dtype: saved, shape: r.batchMean.shape, data: round(g.mean) };
        outputs.batch_var = { dtype: saved, shape: r.batchVar.shape, data: round(g.variance) };
      }
      if (convention.trackRunningStats) {
        const c = r.batchMean.shape;
        const running = d?.running ?? x.dtype;
        outputs.running_mean = { dtype: running, shape: c, data: r.state.runningMean! };
        outputs.running_var = { dtype: running, shape: c, data: r.state.runningVar! };
        tracked = r.state.numBatchesTracked;
      }
    } else {
      outputs.y = batchNormInference(x, state, convention, options).y;
    }
    if (dy) {
      const g = batchNormBackward(x, dy, state, mode, convention, options);
      outputs.dx = g.dx;
      if (g.dgamma) outputs.dgamma = g.dgamma;
      if (g.dbeta) outputs.dbeta = g.dbeta;
      if (request.statGradients && g.dmean && g.dvar) {
        outputs.dmean = g.dmean;
        outputs.dvar = g.dvar;
      }
    }
    return tracked === undefined ? { outputs } : { outputs, num_batches_tracked: tracked };
  } catch (e) {
    if (e instanceof BatchNormError) {
      return { error: { code: e.code, message: e.message } };
    }
    throw e;
  }
}

function initialState(c: FixtureCase): StepState {
  const s = c.initialState;
  return {
    gamma: s.gamma,
    beta: s.beta,
    running_mean: s.runningMean,
    running_var: s.runningVar,
    num_batches_tracked: s.numBatchesTracked ?? 0,
  };
}

const exact = (
  pass: boolean,
  dtype: DType,
  actual: number,
  expected: number,
): Comparison => ({
  pass,
  maxError: pass ? 0 : Infinity,
  tolerance: 0,
  dtype,
  worstIndex: 0,
  actual,
  expected,
});

/**
 * The requests of a case's steps. Each step starts from the framework's recorded
 * state (see {@linkcode nextState}), so the requests do not depend on what an
 * implementation answers and can be sent together.
 *
 * @param c The case.
 * @returns One request per step.
 *
 * @example
 * ```ts ignore
 * import { caseRequests, loadAllFixtures } from "../../mod.ts";
 * const [file] = await loadAllFixtures();
 * console.log(caseRequests(file.cases[0]).length);
 * ```
 */
export function caseRequests(c: FixtureCase): StepRequest[] {
  let state = initialState(c);
  return c.steps.map((step) => {
    const request: StepRequest = {
      mode: step.mode,
      dtype: c.dtype,
      ...(c.dtypes ? { dtypes: c.dtypes } : {}),
      convention: c.convention,
      x: step.inputs.x,
      dy: step.inputs.dy,
      state,
      ...(step.shards ? { shards: step.shards } : {}),
      ...(step.expected?.dmean !== undefined || step.expected?.dvar !== undefined ? { statGradients: true } : {}),
    };
    state = nextState(state, step, c.convention);
    return request;
  });
}

/** An implementation that takes a whole case at once (all its step requests), as the subprocess protocol does. */
export type CaseAdapter = (requests: readonly StepRequest[], c: FixtureCase) => Promise<StepOutputs[]>;

/**
 * Judges an implementation's answers to a case's steps against the expectations.
 *
 * @param c The case.
 * @param answers One answer per step, in order (fewer means the rest are missing).
 * @param ignore Output names not to judge (e.g. gradients an implementation does not compute).
 * @returns Pass or fail, every comparison, and the first reason for failing.
 *
 * @example
 * ```ts ignore
 * import { caseRequests, judgeCase, loadAllFixtures, referenceAdapter } from "../../mod.ts";
 * const [file] = await loadAllFixtures();
 * const c = file.cases[0];
 * console.log(judgeCase(c, caseRequests(c).map(referenceAdapter)).pass);
 * ```
 */
export function judgeCase(c: FixtureCase, answers: readonly StepOutputs[], ignore: readonly string[] = []): CaseResult {
  const checks: OutputCheck[] = [];
  let reason: string | undefined;
  let mismatch: CaseResult["firstMismatch"];
  const fail = (why: string) => (reason ??= why);
  for (const [i, step] of c.steps.entries()) {
    const got = answers[i];
    if (!got) {
      fail(`step ${i}: no answer`);
      break;
    }
    if (step.expectedError) {
      if (!got.error) {
        fail(`step ${i}: expected error "${step.expectedError.code}" (${step.expectedError.message}), got outputs`);
      } else if (got.error.code !== step.expectedError.code) {
        fail(`step ${i}: expected error "${step.expectedError.code}", got "${got.error.code}": ${got.error.message}`);
      }
      continue; // a refused call leaves the state as it was
    }
    if (got.error) {
      fail(`step ${i}: unexpected error "${got.error.code}": ${got.error.message}`);
      break;
    }
    for (const [name, want] of Object.entries(step.expected!)) {
      if (ignore.includes(name)) continue;
      if (typeof want === "number") {
        const have = got.num_batches_tracked;
        const ok = have === want;
        checks.push({ step: i, output: name, comparison: exact(ok, c.dtype, have ?? NaN, want) });
        if (!ok) fail(`step ${i}: ${name} is ${have}, expected ${want}`);
        continue;
      }
      const have = got.outputs?.[name];
      if (!have) {
        fail(`step ${i}: output ${name} is missing`);
        continue;
      }
      if (have.shape.length !== want.shape.length || have.shape.some((d, k) => d !== want.shape[k])) {
        fail(`step ${i}: ${name} has shape [${have.shape.join(", ")}], expected [${want.shape.join(", ")}]`);
        continue;
      }
      const judged = judgeOutput(c, step, name, have.data, want);
      const comparison = judged.comparison;
      checks.push({ step: i, output: name, ...judged });
      if (!comparison.pass) {
        const first = comparison.firstMismatch!;
        mismatch ??= { step: i, output: name, index: first.index, actual: first.actual, expected: first.expected };
        // Shown as judged: an expectation beyond the dtype's range is the dtype's infinity.
        const e = comparison.expected!, d = tensorDType(c, name);
        const shown = Math.abs(e) > formatInfo(d).maxFinite ? `${roundToDType(e, d)} (${e} rounded)` : e;
        fail(
          `step ${i}: ${name}[${comparison.worstIndex}] = ${comparison.actual}, expected ${shown}: ` +
            `${comparison.maxError.toPrecision(3)} ULP > ${comparison.tolerance} (${d})`,
        );
      }
    }
  }
  const base = { name: c.name, checks, ...(mismatch ? { firstMismatch: mismatch } : {}) };
  return reason === undefined ? { ...base, pass: true } : { ...base, pass: false, reason };
}

/**
 * One output of one step under the policy: against the exact values when the step has them (format 1.2), in every
 * dtype and for defect cases too; otherwise against the float64 twin (except for defect cases) or the expectation.
 * Budgeted in the output's own dtype (its group's in a mixed-precision case, format 1.3).
 */
function judgeOutput(
  c: FixtureCase,
  step: FixtureStep,
  name: string,
  data: ArrayLike<number>,
  want: Tensor,
): { comparison: Comparison; basis: "exact" | "float64 twin" | "expected"; budgetRule?: string } {
  const n = perChannel(c, step);
  const d = tensorDType(c, name);
  const tolerance = budget(d, name, n);
  const base = budget(d, "y", n);
  const exact = step.expectedExact?.[name], scale = step.exactScale?.[name];
  if (exact && scale) {
    const channelOf = channelIndex(c, step, name);
    return {
      comparison: compareExact(data, exact.data, (i) => scale[channelOf(i)], d, tolerance),
      basis: "exact",
      budgetRule: tolerance > base
        ? `${base} ULP (${d}) × ceil(√${n}) = ${tolerance} ULP at max(|exact|, the channel's error scale): ` +
          `a reduction over ${n} values per channel`
        : `${base} ULP (${d}) at max(|exact|, the channel's error scale): an elementwise output`,
    };
  }
  // Without exact values (1.1 files): the float64 twin, except where the framework is known to be defective: there
  // the twin may follow the specification (a composed twin does), and the question is whether the output reproduces
  // what the framework actually did. Judged at the tensor's peak (the runner's budgetBasis says so).
  const twin = c.frameworkDefect ? undefined : step.expectedFloat64?.[name];
  const target = typeof twin === "object" ? twin : want;
  return {
    comparison: compareTensor(data, target.data, d, tolerance),
    basis: typeof twin === "object" ? "float64 twin" : "expected",
  };
}

/** Element index → channel index, for an output of a step (y and dx are shaped like x; the rest are [C]). */
export function channelIndex(c: FixtureCase, step: FixtureStep, name: string): (i: number) => number {
  if (name !== "y" && name !== "dx") return (i) => i;
  const shape = step.inputs.x.shape;
  const axis = c.convention.axis < 0 ? c.convention.axis + shape.length : c.convention.axis;
  const channels = shape[axis] ?? 1;
  const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  return (i) => Math.floor(i / inner) % channels;
}

/** n, the elements per channel of a step's input: what a per-channel reduction sums over. */
function perChannel(c: FixtureCase, step: FixtureStep): number {
  return step.inputs.x.data.length / Math.max(1, step.inputs.x.shape.at(c.convention.axis) ?? 1);
}

/**
 * The framework's own low-precision output against its float64 twin, output by
 * output and step by step, judged with the same budgets as an implementation.
 * Empty for float64 cases and cases without twins.
 *
 * @param c The case.
 * @returns One check per (step, output) that has a twin.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { FIXTURES_URL, frameworkErrors, loadFixture } from "../../mod.ts";
 * const file = await loadFixture(new URL("pytorch/batchnorm3d.json", FIXTURES_URL));
 * const checks = file.cases.filter((c) => c.dtype === "float32").flatMap(frameworkErrors);
 * assert(checks.length > 0 && checks.every((k) => k.comparison.pass));
 * ```
 */
export function frameworkErrors(c: FixtureCase): OutputCheck[] {
  return c.steps.flatMap((step, i) =>
    Object.entries(step.expectedFloat64 ?? {}).flatMap(([name, twin]) => {
      const own = step.expected?.[name];
      if (typeof twin !== "object" || typeof own !== "object") return [];
      return [{
        step: i,
        output: name,
        comparison: compareTensor(
          own.data,
          twin.data,
          tensorDType(c, name),
          budget(tensorDType(c, name), name, perChannel(c, step)),
        ),
      }];
    })
  );
}

/**
 * The witness bound: each framework's recorded outputs (`expected`, in the case's dtype, and the float64 twin
 * `expected_float64`) against the exact values of the convention the case states, judged with the same budgets as
 * an implementation (the twin with float64's). A framework within its budget witnesses the convention; one
 * outside is a finding (docs/findings-table.md), never charged to an implementation. Empty for steps without exact values.
 *
 * @param c The case.
 * @returns One check per (step, output, record): `basis` is "expected" for the framework's own output and
 *   "float64 twin" for its float64 run.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { FIXTURES_URL, loadFixture, witnessErrors } from "../../mod.ts";
 * const file = await loadFixture(new URL("pytorch/functional.json", FIXTURES_URL));
 * assert(file.cases.flatMap(witnessErrors).every((k) => k.comparison.pass && k.basis === "expected"));
 * ```
 */
export function witnessErrors(c: FixtureCase): OutputCheck[] {
  return c.steps.flatMap((step, i) =>
    Object.entries(step.expectedExact ?? {}).flatMap(([name, exact]) => {
      const scale = step.exactScale![name], channelOf = channelIndex(c, step, name);
      const n = perChannel(c, step);
      const records: [Tensor | number | undefined, DType, "expected" | "float64 twin"][] = [
        [step.expected?.[name], tensorDType(c, name), "expected"],
        [step.expectedFloat64?.[name], "float64", "float64 twin"],
      ];
      return records.flatMap(([record, dtype, basis]) =>
        typeof record === "object"
          ? [{
            step: i,
            output: name,
            basis,
            budgetRule: `${budget(dtype, name, n)} ULP of ${dtype} at max(|exact|, error scale of the channel)`,
            comparison: compareExact(
              record.data,
              exact.data,
              (k) => scale[channelOf(k)],
              dtype,
              budget(dtype, name, n),
            ),
          }]
          : []
      );
    })
  );
}

/**
 * Runs one case through an adapter and judges every expected output.
 *
 * @param c The case.
 * @param adapter The implementation under test: one step at a time, or a whole case at once.
 * @param ignore Output names not to judge.
 * @returns Pass or fail with every comparison and, on failure, the first reason.
 *
 * @example
 * ```ts ignore
 * import { loadAllFixtures, referenceAdapter, runCase } from "../../mod.ts";
 * const [file] = await loadAllFixtures();
 * const result = await runCase(file.cases[0], referenceAdapter);
 * console.log(result.pass);
 * ```
 */
export async function runCase(
  c: FixtureCase,
  adapter: Adapter | { readonly wholeCase: CaseAdapter },
  ignore: readonly string[] = [],
): Promise<CaseResult> {
  const requests = caseRequests(c);
  if (typeof adapter !== "function") return judgeCase(c, await adapter.wholeCase(requests, c), ignore);
  const answers: StepOutputs[] = [];
  for (const [i, request] of requests.entries()) {
    const got = await adapter(request);
    answers.push(got);
    // Stop where the judge stops: after an error the framework did not raise.
    if (got.error && !c.steps[i].expectedError) break;
  }
  return judgeCase(c, answers, ignore);
}

/**
 * The state the next step starts from: the framework's own recorded state after
 * this step (its expected running statistics), as the float64 twin of the next
 * step was computed from it. An implementation's running statistics are judged at
 * the step that returns them; its rounding does not leak into later steps.
 */
function nextState(
  state: StepState,
  step: FixtureStep,
  convention: BatchNormConvention,
): StepState {
  if (
    step.mode !== "train" || !convention.trackRunningStats || !step.expected
  ) return state;
  const e = step.expected;
  const tensorOr = (
    v: Tensor | number | undefined,
    fallback: Tensor | undefined,
  ) => (typeof v === "object" ? v : fallback);
  return {
    ...state,
    running_mean: tensorOr(e.running_mean, state.running_mean),
    running_var: tensorOr(e.running_var, state.running_var),
    num_batches_tracked: typeof e.num_batches_tracked === "number"
      ? e.num_batches_tracked
      : state.num_batches_tracked + 1,
  };
}
