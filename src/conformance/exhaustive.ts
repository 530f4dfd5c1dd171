/**
 * Exhaustive sweeps over a 16-bit dtype (float16, bfloat16), with the exact
 * evaluator's expectations, as XLA's exhaustive tests do for unary operations:
 *
 * - every finite non-negative bit pattern as a channel's (running) variance,
 *   with epsilon 1e-5, 1e-3 and 0: an inference step on x = [1, -3, 0.375] with
 *   mean 0, gamma 1, beta 0, so y[0] is the inverse standard deviation itself;
 * - every finite bit pattern p as x, for fixed (mean, variance, gamma, beta)
 *   sets in inference, and in training as the batch [p, a, b] with fixed a, b
 *   and a gradient (so batch statistics, running statistics, dx, dgamma, dbeta
 *   are judged too).
 *
 * Each pattern is its own case, so each is judged at its own magnitude.
 *
 * @module
 */

import { type BatchNormConvention, PRESETS } from "../reference/convention.ts";
import { roundToDType } from "../reference/dtype.ts";
import type { Tensor } from "../reference/tensor.ts";
import { exactStepWithScales } from "./exact.ts";
import type { FixtureCase, FixtureStep } from "./fixture.ts";
import type { StepOutputs, StepRequest, StepState } from "./harness.ts";
import { exactFields } from "./random.ts";

/** The dtypes an exhaustive sweep covers. */
export type SweepDType = "float16" | "bfloat16";

/**
 * The value of a 16-bit pattern.
 *
 * @param dtype float16 or bfloat16.
 * @param bits 0..0xffff.
 * @returns The value, as a binary64 number.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { fromBits16 } from "../../mod.ts";
 * assert(fromBits16("float16", 0x3c00) === 1 && fromBits16("bfloat16", 0x3f80) === 1);
 * assert(fromBits16("float16", 0x7bff) === 65504);
 * ```
 */
export function fromBits16(dtype: SweepDType, bits: number): number {
  if (dtype === "float16") return new Float16Array(new Uint16Array([bits]).buffer)[0];
  return new Float32Array(new Uint32Array([bits << 16]).buffer)[0];
}

/**
 * The finite non-negative patterns of a dtype: 0 up to the largest finite value.
 *
 * @param dtype float16 or bfloat16.
 * @returns The last finite pattern (0x7bff or 0x7f7f).
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { lastFinitePattern } from "../../mod.ts";
 * assert(lastFinitePattern("float16") === 0x7bff && lastFinitePattern("bfloat16") === 0x7f7f);
 * ```
 */
export function lastFinitePattern(dtype: SweepDType): number {
  return dtype === "float16" ? 0x7bff : 0x7f7f;
}

const hex = (b: number) => `0x${b.toString(16).padStart(4, "0")}`;

function t(dtype: string, shape: number[], data: number[]): Tensor {
  return { dtype: dtype as Tensor["dtype"], shape, data: Float64Array.from(data) };
}

function outputsOf(o: StepOutputs, dtype: string): Record<string, Tensor | number> {
  const e: Record<string, Tensor | number> = {};
  for (const [name, v] of Object.entries(o.outputs ?? {})) e[name] = t(dtype, [...v.shape], Array.from(v.data));
  if (o.num_batches_tracked !== undefined) e.num_batches_tracked = o.num_batches_tracked;
  return e;
}

function oneStep(
  name: string,
  dtype: SweepDType,
  convention: BatchNormConvention,
  mode: "train" | "eval",
  x: Tensor,
  dy: Tensor | undefined,
  state: StepState,
  features: string[],
): FixtureCase {
  const request: StepRequest = { mode, dtype, convention, x, ...(dy ? { dy } : {}), state };
  const { answers: [own, twin], scales } = exactStepWithScales(request, [dtype, "float64"]);
  const step: FixtureStep = own.error
    ? {
      mode,
      inputs: dy ? { x, dy } : { x },
      expectedError: { code: own.error.code, type: "BatchNormError", message: own.error.message },
    }
    : {
      mode,
      inputs: dy ? { x, dy } : { x },
      expected: outputsOf(own, dtype),
      expectedFloat64: outputsOf(twin, "float64"),
      ...exactFields(twin, scales!),
    };
  return {
    name,
    description: `${name}: expectations from the exact evaluator`,
    features,
    api: "exact evaluator",
    seed: 0,
    dtype,
    convention,
    initialState: {
      gamma: state.gamma,
      beta: state.beta,
      runningMean: state.running_mean,
      runningVar: state.running_var,
      numBatchesTracked: state.num_batches_tracked,
    },
    steps: [step],
  };
}

/** The fixed (mean, variance, gamma, beta) sets of the x sweep in inference. */
const INFERENCE_SETS = [
  { mean: 0, variance: 1, gamma: 1, beta: 0 },
  { mean: 0.3, variance: 2.5, gamma: 1.5, beta: -0.25 },
  { mean: -100, variance: 0.01, gamma: -0.5, beta: 3 },
] as const;

/** The fixed companions (a, b) of p in the training batch [p, a, b], and the gradient. */
const TRAINING_SETS = [
  { others: [0, 1], dy: [1, -0.5, 0.25] },
  { others: [-2.5, 7], dy: [0.125, 2, -1] },
] as const;

/**
 * The number of cases of a sweep.
 *
 * @param dtype float16 or bfloat16.
 * @returns Cases in {@linkcode exhaustiveCases}.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { exhaustiveCount } from "../../mod.ts";
 * assert(exhaustiveCount("float16") === 31744 * 3 + 63488 * 5);
 * ```
 */
export function exhaustiveCount(dtype: SweepDType): number {
  const n = lastFinitePattern(dtype) + 1;
  return n * 3 + 2 * n * (INFERENCE_SETS.length + TRAINING_SETS.length);
}

/**
 * The cases of an exhaustive sweep, in order, case `from` to case `to - 1`
 * (so a run can be split into chunks or shards).
 *
 * @param dtype float16 or bfloat16.
 * @param from First case index (default 0).
 * @param to One past the last (default all).
 * @yields One single-step case per pattern and setting.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { exhaustiveCases } from "../../mod.ts";
 * const [first] = [...exhaustiveCases("float16", 0, 1)];
 * assert(first.name === "exhaustive float16 variance 0x0000 (0) eps 0.00001");
 * ```
 */
export function* exhaustiveCases(
  dtype: SweepDType,
  from = 0,
  to: number = exhaustiveCount(dtype),
): Generator<FixtureCase> {
  const n = lastFinitePattern(dtype) + 1;
  const one = (v: number) => t(dtype, [1], [roundToDType(v, dtype)]);
  const epsilons = [1e-5, 1e-3, 0];
  for (let i = from; i < to; i++) {
    if (i < 3 * n) {
      const bits = i % n, eps = epsilons[Math.floor(i / n)];
      const v = fromBits16(dtype, bits);
      const convention = { ...PRESETS.pytorch, epsilon: eps };
      yield oneStep(
        `exhaustive ${dtype} variance ${hex(bits)} (${v}) eps ${eps.toFixed(5)}`,
        dtype,
        convention,
        "eval",
        t(dtype, [3, 1], [1, -3, 0.375]),
        undefined,
        { gamma: one(1), beta: one(0), running_mean: one(0), running_var: one(v), num_batches_tracked: 0 },
        ["inference", "zero-variance", "epsilon-value", "edge-case"],
      );
      continue;
    }
    const k = i - 3 * n;
    const bits = k % (2 * n), set = Math.floor(k / (2 * n));
    const p = fromBits16(dtype, bits < n ? bits : (bits - n) | 0x8000);
    const label = hex(bits < n ? bits : (bits - n) | 0x8000);
    if (set < INFERENCE_SETS.length) {
      const s = INFERENCE_SETS[set];
      yield oneStep(
        `exhaustive ${dtype} x ${label} (${p}) inference set ${set}`,
        dtype,
        { ...PRESETS.pytorch },
        "eval",
        t(dtype, [1, 1], [p]),
        t(dtype, [1, 1], [1]),
        {
          gamma: one(s.gamma),
          beta: one(s.beta),
          running_mean: one(s.mean),
          running_var: one(s.variance),
          num_batches_tracked: 0,
        },
        ["inference", "backward", "edge-case"],
      );
    } else {
      const s = TRAINING_SETS[set - INFERENCE_SETS.length];
      yield oneStep(
        `exhaustive ${dtype} x ${label} (${p}) training set ${set - INFERENCE_SETS.length}`,
        dtype,
        { ...PRESETS.pytorch },
        "train",
        t(dtype, [3, 1], [p, ...s.others]),
        t(dtype, [3, 1], [...s.dy]),
        { gamma: one(1.5), beta: one(-0.25), running_mean: one(0), running_var: one(1), num_batches_tracked: 0 },
        ["training", "backward", "edge-case"],
      );
    }
  }
}
