/**
 * Mixed-precision and center/scale cases (format 1.3) built from seeded data, with expectations from the exact
 * evaluator (src/conformance/exact.ts, not the reference): shared by tests/mixed_precision_test.ts and
 * tests/mixed_oracle_test.ts.
 */
import {
  type BatchNormConvention,
  type CaseDTypes,
  type DType,
  exactStepMixed,
  exactStepWithScales,
  type FixtureCase,
  type FixtureStep,
  PRESETS,
  roundToDType,
  type StepRequest,
  type StepState,
  tensor,
  tensorDType,
} from "../mod.ts";
import { exactFields } from "../src/conformance/random.ts";

/** A small deterministic generator (xorshift), values rounded into a dtype. */
function values(seed: number, n: number, dtype: DType, center = 0, spread = 1): number[] {
  let s = seed >>> 0 || 1;
  return Array.from({ length: n }, () => {
    s ^= s << 13, s >>>= 0, s ^= s >>> 17, s ^= s << 5, s >>>= 0;
    return roundToDType(center + spread * (s / 2 ** 32 - 0.5) * 2, dtype);
  });
}

/**
 * A two-step case (train with gradients, then eval with gradients) in the given dtypes, expectations exact: the
 * exact evaluator's outputs, each rounded to its own group's dtype, and the exact values (binary64) with their scales.
 */
export function mixedCase(
  name: string,
  dtypes: CaseDTypes,
  convention: BatchNormConvention,
  seed: number,
): FixtureCase {
  const shape = [4, 3, 2, 2], C = 3, n = 48;
  const x = tensor(dtypes.data, shape, values(seed, n, dtypes.data, 0.5, 2));
  const dy = tensor(dtypes.data, shape, values(seed + 1, n, dtypes.data, 0, 1));
  const center = convention.center ?? convention.affine, scaled = convention.scale ?? convention.affine;
  let state: StepState = {
    ...(scaled ? { gamma: tensor(dtypes.params, [C], values(seed + 2, C, dtypes.params, 1, 0.3)) } : {}),
    ...(center ? { beta: tensor(dtypes.params, [C], values(seed + 3, C, dtypes.params, 0, 0.7)) } : {}),
    running_mean: tensor(dtypes.running, [C], values(seed + 4, C, dtypes.running, 0.2, 0.1)),
    running_var: tensor(dtypes.running, [C], values(seed + 5, C, dtypes.running, 1.3, 0.2)),
    num_batches_tracked: 0,
  };
  const initial = state;
  const steps: FixtureStep[] = [];
  for (const mode of ["train", "eval"] as const) {
    const request: StepRequest = { mode, dtype: dtypes.data, dtypes, convention, x, dy, state };
    const own = exactStepMixed(request);
    const { answers: [f64], scales } = exactStepWithScales(request, ["float64"]);
    const expected: Record<string, ReturnType<typeof tensor> | number> = {};
    for (const [k, t] of Object.entries(own.outputs!)) expected[k] = tensor(tensorDType(request, k), t.shape, t.data);
    if (own.num_batches_tracked !== undefined) expected.num_batches_tracked = own.num_batches_tracked;
    steps.push({ mode, inputs: { x, dy }, expected, ...exactFields(f64, scales!) });
    if (mode === "train") {
      state = {
        ...state,
        running_mean: expected.running_mean as ReturnType<typeof tensor>,
        running_var: expected.running_var as ReturnType<typeof tensor>,
        num_batches_tracked: 1,
      };
    }
  }
  return {
    name,
    description: name,
    features: ["training", "inference", "backward"],
    api: "test",
    seed,
    dtype: dtypes.data,
    dtypes,
    convention,
    initialState: {
      gamma: initial.gamma,
      beta: initial.beta,
      runningMean: initial.running_mean,
      runningVar: initial.running_var,
      numBatchesTracked: 0,
    },
    steps,
  };
}

// Channels first (axis 1) for the [4, 3, 2, 2] inputs built here.
const TF = { ...PRESETS.tensorflow, axis: 1 }, KERAS = { ...PRESETS.keras, axis: 1 };
export const F32_STATE = { params: "float32", running: "float32", saved: "float32" } as const;
export const MIXED: FixtureCase[] = [
  mixedCase("fused float16", { data: "float16", ...F32_STATE, compute: "float32" }, TF, 11),
  mixedCase("fused bfloat16", { data: "bfloat16", ...F32_STATE }, TF, 12),
  mixedCase("keras-like float16", { data: "float16", ...F32_STATE }, KERAS, 13),
  mixedCase(
    "float64 data, float32 running statistics",
    { data: "float64", params: "float64", running: "float32", saved: "float64" },
    KERAS,
    14,
  ),
];
export const CENTER_SCALE: FixtureCase[] = [[true, true], [true, false], [false, true], [false, false]].map((
  [center, scale],
) =>
  mixedCase(
    `center=${center} scale=${scale}`,
    { data: "float32", params: "float32", running: "float32", saved: "float32" },
    { ...KERAS, affine: center && scale, center, scale },
    20 + Number(center) * 2 + Number(scale),
  )
);
