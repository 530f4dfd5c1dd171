/**
 * Judge test vectors (fixtures/judge_vectors.json): one output each, with what the policy of FORMAT.md needs to judge
 * it (dtype, output name, n the values per channel, the exact values, each element's error scale, the answer) and the
 * verdict and share of budget the TypeScript judge gives. Each vector is built to show one rule of the policy, and its
 * intended verdict is asserted here. tests/judge_test.ts checks that the TypeScript judge still gives these verdicts
 * and shares, and that the second judge (tests/second_judge/judge.py, written from FORMAT.md alone) agrees.
 *
 * Written by `deno task fixtures` (byte for byte), or alone: `deno run --allow-read=. --allow-write=fixtures scripts/generators/judge_vectors.ts`.
 *
 * @module
 */

import { budget, compareExact, type DType } from "../../mod.ts";
import { fixtureText, writeAtomic } from "./_fixture_io.ts";

/** One vector, before judging. */
interface Vector {
  readonly name: string;
  readonly why: string;
  readonly dtype: DType;
  readonly output: string;
  readonly n: number;
  readonly exact: readonly number[];
  readonly scale: readonly number[];
  readonly actual: readonly number[];
  /** The verdict the rule intends. */
  readonly intended: boolean;
}

const F32_MAX = 3.4028234663852886e38;
const u32 = 2 ** -23;

/** The vectors. */
export const VECTORS: readonly Vector[] = [
  {
    name: "correctly rounded float32 passes",
    why: "0.5 ULP at most",
    dtype: "float32",
    output: "y",
    n: 4,
    exact: [0.1, -1.5, 2.75],
    scale: [2.75, 2.75, 2.75],
    actual: [Math.fround(0.1), -1.5, 2.75],
    intended: true,
  },
  {
    name: "identically zero dx: noise of a few ULPs of the terms' scale passes",
    why: "two values per channel with eps 0: dx is 0, its terms are of size 2",
    dtype: "float32",
    output: "dx",
    n: 2,
    exact: [0, 0],
    scale: [2, 2],
    actual: [2 * u32, -4 * u32],
    intended: true,
  },
  {
    name: "identically zero dx: an error of 1e-3 fails",
    why: "1e-3 is 4194 ULP of float32 at 2",
    dtype: "float32",
    output: "dx",
    n: 2,
    exact: [0, 0],
    scale: [2, 2],
    actual: [1e-3, 0],
    intended: false,
  },
  {
    name: "scale 0: an exact zero is judged at the smallest subnormal",
    why: "ulp_float64(0) is 2^-1074: 1e-30 is far outside",
    dtype: "float64",
    output: "dgamma",
    n: 4,
    exact: [0],
    scale: [0],
    actual: [1e-30],
    intended: false,
  },
  {
    name: "the unit is the larger of |exact| and the scale",
    why: "|exact| = 8 > scale 1: 6 ULP of float32 at 8 pass, 7 fail",
    dtype: "float32",
    output: "y",
    n: 9,
    exact: [8, 8],
    scale: [1, 1],
    actual: [8 + 6 * 8 * u32, 8],
    intended: true,
  },
  {
    name: "7 ULP at the larger magnitude fail",
    why: "budget 6 for y",
    dtype: "float32",
    output: "y",
    n: 9,
    exact: [8],
    scale: [1],
    actual: [8 + 7 * 8 * u32],
    intended: false,
  },
  {
    name: "a per-channel output's budget is B·ceil(sqrt(n))",
    why: "n = 40: 6·7 = 42 ULP; 42 pass",
    dtype: "float32",
    output: "dgamma",
    n: 40,
    exact: [1],
    scale: [1],
    actual: [1 + 42 * u32],
    intended: true,
  },
  {
    name: "a per-channel output beyond B·ceil(sqrt(n)) fails",
    why: "n = 40: 43 ULP > 42",
    dtype: "float32",
    output: "running_var",
    n: 40,
    exact: [1],
    scale: [1],
    actual: [1 + 43 * u32],
    intended: false,
  },
  {
    name: "the ULP is the gap above: below a power of two the unit stays that of the power",
    why: "exact 1 in float16, answer 1 − 2^-11 (the next value below) is 0.5 ULP (the gap above 1 is 2^-10)",
    dtype: "float16",
    output: "y",
    n: 4,
    exact: [1],
    scale: [0],
    actual: [1 - 2 ** -11],
    intended: true,
  },
  {
    name: "bfloat16 precision 8",
    why: "ulp_bfloat16(1) = 2^-7: 6 ULP = 0.046875 passes",
    dtype: "bfloat16",
    output: "y",
    n: 4,
    exact: [1],
    scale: [1],
    actual: [1.046875],
    intended: true,
  },
  {
    name: "subnormal float32: the unit is 2^-149",
    why: "exact 2^-140, answer 2^-140 + 7·2^-149 (7 ULP) fails",
    dtype: "float32",
    output: "y",
    n: 4,
    exact: [2 ** -140],
    scale: [0],
    actual: [2 ** -140 + 7 * 2 ** -149],
    intended: false,
  },
  {
    name: "NaN against a finite value fails",
    why: "never a pass for a non-finite answer to a finite exact value",
    dtype: "float32",
    output: "y",
    n: 4,
    exact: [1],
    scale: [1],
    actual: [NaN],
    intended: false,
  },
  {
    name: "a finite value against NaN fails",
    why: "the exact value is NaN (NaN input)",
    dtype: "float32",
    output: "y",
    n: 4,
    exact: [NaN],
    scale: [0],
    actual: [0],
    intended: false,
  },
  {
    name: "NaN meets NaN",
    why: "any NaN answer to a NaN exact value",
    dtype: "float64",
    output: "batch_mean",
    n: 4,
    exact: [NaN, 2],
    scale: [0, 2],
    actual: [NaN, 2],
    intended: true,
  },
  {
    name: "an infinity must be the same infinity",
    why: "-Infinity against +Infinity",
    dtype: "float32",
    output: "saved_invstd",
    n: 4,
    exact: [Infinity],
    scale: [0],
    actual: [-Infinity],
    intended: false,
  },
  {
    name: "+0 equals -0",
    why: "",
    dtype: "float32",
    output: "y",
    n: 4,
    exact: [0],
    scale: [0],
    actual: [-0],
    intended: true,
  },
  {
    name: "an exact value beyond float32's range rounds to Infinity first",
    why: "3.5e38 rounds to float32's +Infinity: Infinity passes",
    dtype: "float32",
    output: "batch_var",
    n: 6,
    exact: [3.5e38],
    scale: [3.5e38],
    actual: [Infinity],
    intended: true,
  },
  {
    name: "beyond the range, the largest finite value fails",
    why: "3.5e38 is Infinity in float32; 3.4028234663852886e38 is not",
    dtype: "float32",
    output: "batch_var",
    n: 6,
    exact: [3.5e38],
    scale: [3.5e38],
    actual: [F32_MAX],
    intended: false,
  },
  {
    name: "float16: 65519.99 rounds to 65504, within range",
    why: "below the midpoint 65520 between 65504 and 2^16",
    dtype: "float16",
    output: "y",
    n: 4,
    exact: [65519.99],
    scale: [65519.99],
    actual: [65504],
    intended: true,
  },
  {
    name: "float16: 65520 (the midpoint) rounds to Infinity",
    why: "ties to even: the even neighbour of 65504 is 2^16, beyond the range",
    dtype: "float16",
    output: "y",
    n: 4,
    exact: [65520],
    scale: [65520],
    actual: [Infinity],
    intended: true,
  },
  {
    name: "float64 at the largest finite value: the unit is clamped there",
    why: "ulp_float64(1.7976931348623157e308) = 2^971; 16 ULP pass",
    dtype: "float64",
    output: "y",
    n: 4,
    exact: [1.7976931348623157e308],
    scale: [1.7976931348623157e308],
    actual: [1.7976931348623157e308 - 16 * 2 ** 971],
    intended: true,
  },
  {
    name: "mixed precision (1.3): a float16 case's float32 running_var, correctly rounded to float32, passes",
    why: "each output is judged in its own group's dtype: running float32, budget 6 × ceil(√16) = 24 ULP of float32",
    dtype: "float32",
    output: "running_var",
    n: 16,
    exact: [1.2345678901234567],
    scale: [1.3],
    actual: [Math.fround(1.2345678901234567)],
    intended: true,
  },
  {
    name: "mixed precision (1.3): the same running_var rounded to the data's float16 fails",
    why: "1.234375 is 1620 ULP of float32 from the exact value (in float16's own unit it would be 0.2 ULP)",
    dtype: "float32",
    output: "running_var",
    n: 16,
    exact: [1.2345678901234567],
    scale: [1.3],
    actual: [1.234375],
    intended: false,
  },
  {
    name: "dvar (1.3) is a per-channel output: n = 40, 42 ULP pass",
    why: "the gradient with respect to the running variance is a sum over the channel: budget 6 × ceil(√40) = 42",
    dtype: "float32",
    output: "dvar",
    n: 40,
    exact: [-2.8284271247461903],
    scale: [3],
    actual: [Math.fround(-2.8284271247461903) - 42 * 2 * u32],
    intended: true,
  },
  {
    name: "dvar (1.3) with the wrong power of the root fails",
    why: "−½γ·P/(v + ε) for −½γ·P/(v + ε)^(3/2) with P = 2, v + ε = 0.5: −2 for −2.83, 3.5 million ULP off",
    dtype: "float32",
    output: "dvar",
    n: 40,
    exact: [-2.8284271247461903],
    scale: [3],
    actual: [-2],
    intended: false,
  },
];

/** The vectors with the TypeScript judge's verdict and share of budget. */
export function judgeVectors(): Record<string, unknown> {
  return {
    format: "batchnorm-conformance-judge-vectors",
    format_version: "1.3",
    generator: "scripts/generators/judge_vectors.ts",
    command: "deno task fixtures",
    notes: [
      "Each vector is one output of one step: dtype (the output's own: the case's, or in a mixed-precision case of " +
      "format 1.3 its group's), output, n (values per channel), exact (expected_exact), scale " +
      "(each element's error scale, from its channel's exact_scale), actual (the answer). pass and share are the " +
      "verdict and the worst error as a share of the budget under fixtures/FORMAT.md's policy.",
    ],
    vectors: VECTORS.map((v) => {
      const c = compareExact(v.actual, v.exact, (i) => v.scale[i], v.dtype, budget(v.dtype, v.output, v.n));
      if (c.pass !== v.intended) {
        throw new Error(`judge vector "${v.name}": the judge says ${c.pass}, intended ${v.intended}`);
      }
      const { intended: _, ...rest } = v;
      return { ...rest, pass: c.pass, share: c.maxError / c.tolerance };
    }),
  };
}

if (import.meta.main) {
  writeAtomic(new URL("../../fixtures/judge_vectors.json", import.meta.url), fixtureText(judgeVectors()));
  console.log(`fixtures/judge_vectors.json: ${VECTORS.length} vectors`);
}
