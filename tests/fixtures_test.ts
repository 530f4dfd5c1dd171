/**
 * The reference against every golden fixture, one named step per case; the
 * stricter correct-rounding bound; and proof that the fixtures catch the
 * convention mistakes they are meant to catch.
 */
import { assert, assertEquals } from "@std/assert";
import {
  type Adapter,
  type BatchNormConvention,
  type FixtureCase,
  formatInfo,
  frameworkErrors,
  loadAllFixtures,
  referenceAdapter,
  roundToDType,
  runCase,
  type Tensor,
  ulpError,
} from "../mod.ts";
import { REFERENCE_XFAIL } from "../scripts/cli/reference_xfail.ts";

const everyFile = await loadAllFixtures();
/**
 * The curated fixtures. The random sweep (scripts/generators/gen_sweep.py) is judged in tests/verdict_test.ts against exact
 * values (the reference passes every case; PyTorch's outputs lie within their witness bounds or are findings); its
 * cases are not built to show one mistake each, and its zero outputs are noise to the 1.1 rules checked below.
 */
const files = everyFile.filter((f) => f.provenance.generator !== "scripts/generators/gen_sweep.py");
const allCases = files.flatMap((f) => f.cases);

for (const file of everyFile) {
  const name = file.url.split("/fixtures/")[1];
  Deno.test(`reference passes ${name} (${file.provenance.framework} ${file.provenance.version})`, async (t) => {
    for (const c of file.cases) {
      await t.step(c.name, async () => {
        const r = await runCase(c, referenceAdapter);
        const xfail = REFERENCE_XFAIL.find((x) => x.case === c.name);
        if (xfail) {
          assert(
            !r.pass && r.reason!.includes(xfail.expect),
            `expected to fail with "${xfail.expect}": ${r.reason ?? "pass"}`,
          );
          return;
        }
        if (c.frameworkDefect && c.steps.some((s) => s.expectedExact)) {
          // Format 1.2: an ordinary case judged against exact values; the defect is recorded beside it. Where the
          // framework's own output is outside its witness bound, docs/findings-table.md lists it (tests/verdict_test.ts).
          assert(r.pass, r.reason);
          return;
        }
        if (c.frameworkDefect) {
          // The framework's recorded output contradicts its spec; the reference must not reproduce it.
          assert(!r.pass, `matches output labelled defective by ${c.frameworkDefect.issue}`);
          assert(r.reason!.includes(": y["), r.reason);
          return;
        }
        assert(r.pass, r.reason);
        assert(
          r.checks.length > 0 || c.steps.every((s) => s.expectedError),
          "a case with nothing compared",
        );
      });
    }
  });
}

Deno.test("reference is correctly rounded against every float64 twin (<= 0.5 ULP + 0.01 per element)", () => {
  let worst = 0, where = "";
  // Not large-mean cases: there the float64 twin itself cancels (PyTorch's x*alpha + beta' in float64 is ~0.1 float32
  // ULP off), so it cannot judge correct rounding; reference_test.ts checks that case against exact values instead.
  const judged = allCases.filter((c) =>
    c.dtype !== "float64" && !c.frameworkDefect && !c.features.includes("large-mean") &&
    !REFERENCE_XFAIL.some((x) => x.case === c.name)
  );
  for (const c of judged) {
    let state = { ...c.initialState };
    for (const [i, step] of c.steps.entries()) {
      if (!step.expectedFloat64) continue;
      const out = referenceAdapter({
        mode: step.mode,
        dtype: c.dtype,
        convention: c.convention,
        x: step.inputs.x,
        dy: step.inputs.dy,
        state: {
          gamma: state.gamma,
          beta: state.beta,
          running_mean: state.runningMean,
          running_var: state.runningVar,
          num_batches_tracked: state.numBatchesTracked ?? 0,
        },
      });
      for (const [k, want] of Object.entries(step.expectedFloat64)) {
        if (typeof want === "number") continue;
        const have = out.outputs![k].data;
        for (let j = 0; j < want.data.length; j++) {
          // Beyond the dtype's range the correctly rounded result is an infinity (as the policy says).
          const exact = Math.abs(want.data[j]) > formatInfo(c.dtype).maxFinite
            ? roundToDType(want.data[j], c.dtype)
            : want.data[j];
          const e = ulpError(have[j], exact, c.dtype, 0);
          if (e > worst) [worst, where] = [e, `${c.name} step ${i} ${k}[${j}]`];
        }
      }
      const e = step.expected!;
      if (
        step.mode === "train" && typeof e.running_mean === "object" &&
        typeof e.running_var === "object"
      ) {
        state = {
          ...state,
          runningMean: e.running_mean,
          runningVar: e.running_var,
          numBatchesTracked: e.num_batches_tracked as number,
        };
      }
    }
  }
  assert(worst <= 0.51, `worst ${worst} ULP at ${where}`);
});

/** The reference with one convention field overridden: a deliberately wrong implementation. */
function wrong(override: Partial<BatchNormConvention>): Adapter {
  return (req) =>
    referenceAdapter({
      ...req,
      convention: { ...req.convention!, ...override },
    });
}

/**
 * Runs the selected cases through an adapter. Edge cases are left out: they show
 * frameworks' behaviour at the limits (NaN statistics, overflow) where convention
 * mistakes can be invisible; tests/naive_test.ts covers what they are built to catch.
 */
async function failing(
  adapter: Adapter,
  select: (c: FixtureCase) => boolean,
): Promise<{ failed: number; of: number; reasons: string[] }> {
  const chosen = allCases.filter((c) => !c.features.includes("edge-case") && select(c));
  const results = await Promise.all(chosen.map((c) => runCase(c, adapter)));
  const bad = results.filter((r) => !r.pass);
  return {
    failed: bad.length,
    of: chosen.length,
    reasons: bad.map((r) => r.reason!),
  };
}

/** Cases with a training step whose running statistics are tracked, move, and are expected. */
const updatesRunningStats = (c: FixtureCase) =>
  c.convention.trackRunningStats && c.convention.momentum !== 0 &&
  c.steps.some((s) => s.mode === "train" && s.expected?.running_var);
/**
 * bfloat16's 6-ULP budget is 2-5% relative: the default bfloat16 sequences cannot see a
 * Bessel factor of 1.025-1.07 damped by momentum 0.1, nor epsilon 1e-3 vs 1e-5. One
 * bfloat16 case is built to show them (n = 4, momentum 1, epsilon 0.5) and is checked apart.
 */
const BF16_VISIBLE =
  "pytorch BatchNorm2d bfloat16 2x3x1x2 momentum=1 eps=0.5 conventions visible at bfloat16 precision";

Deno.test("fixtures catch convention mistakes", async (t) => {
  await t.step(
    "epsilon outside the square root fails the epsilon-placement cases (PyTorch F.batch_norm, TF.js tf.batchNorm, tf.nn.batch_normalization)",
    async () => {
      const r = await failing(
        wrong({ epsilonPlacement: "outside" }),
        (c) => c.features.includes("epsilon-placement") && c.convention.epsilonPlacement === "inside",
      );
      // PyTorch 1.13's and 2.15's F.batch_norm, TF.js, tf.nn.batch_normalization; and the four epsilon=0.75 cases of
      // format 1.3's dmean and dvar (TF.js, TensorFlow float32 and float64, Flax).
      assertEquals([r.failed, r.of], [9, 9]);
      assert(r.reasons.every((s) => s.includes(": y[")), r.reasons.join("\n"));
    },
  );
  await t.step(
    "momentum read as the weight of the old value fails every momentum=0.1 sequence",
    async () => {
      const r = await failing(
        wrong({ momentumKind: "old" }),
        (c) => c.convention.momentum === 0.1 && c.convention.momentumKind === "new" && updatesRunningStats(c),
      );
      assert(r.of >= 12 && r.failed === r.of, `${r.failed} of ${r.of}`);
      assert(
        r.reasons.every((s) => s.includes("running_mean") || s.includes("running_var")),
        r.reasons.join("\n"),
      );
    },
  );
  await t.step(
    "a biased running variance (no Bessel factor) fails every tracked training sequence",
    async () => {
      const r = await failing(
        wrong({ runningVariance: "biased" }),
        (c) =>
          c.convention.runningVariance === "bessel" && updatesRunningStats(c) && c.dtype !== "float16" &&
          (c.dtype !== "bfloat16" || c.name === BF16_VISIBLE),
      );
      assert(r.of >= 20 && r.failed === r.of, `${r.failed} of ${r.of}`);
      assert(
        r.reasons.every((s) => s.includes("running_var")),
        r.reasons.join("\n"),
      );
    },
  );
  await t.step(
    "TF's default epsilon 1e-3 in place of 1e-5 fails the default sequences",
    async () => {
      const r = await failing(
        wrong({ epsilon: 1e-3 }),
        (c) =>
          // float16's 6 ULP (0.6%) cannot see 1e-3 against 1e-5 at unit variance, as bfloat16's cannot.
          c.convention.epsilon === 1e-5 && c.dtype !== "bfloat16" && c.dtype !== "float16" &&
          c.steps.some((s) => s.expected),
      );
      assert(r.of >= 20 && r.failed === r.of, `${r.failed} of ${r.of}`);
    },
  );
  await t.step(
    "in bfloat16, epsilon 1e-3 in place of 0.5 fails the case built to show it",
    async () => {
      const r = await failing(
        wrong({ epsilon: 1e-3 }),
        (c) => c.name === BF16_VISIBLE,
      );
      assertEquals([r.failed, r.of], [1, 1]);
    },
  );
  await t.step(
    "accepting one value per channel fails PyTorch's refusal cases",
    async () => {
      const r = await failing(
        wrong({
          singleValueTraining: "allow",
          runningVariance: "bessel-clamped",
        }),
        (c) => c.features.includes("expected-error"),
      );
      assert(r.of >= 3 && r.failed === r.of, `${r.failed} of ${r.of}`);
      assert(
        r.reasons.every((s) => s.includes('expected error "single_value_per_channel"')),
      );
    },
  );
  await t.step(
    "an implementation computing in float64 without rounding passes the float32 cases (the twin is the target)",
    async () => {
      const widen = (t?: Tensor) => t && { ...t, dtype: "float64" as const };
      const float64: Adapter = (req) =>
        referenceAdapter({
          ...req,
          dtype: "float64",
          x: widen(req.x)!,
          dy: widen(req.dy),
          state: {
            ...req.state,
            gamma: widen(req.state.gamma),
            beta: widen(req.state.beta),
            running_mean: widen(req.state.running_mean),
            running_var: widen(req.state.running_var),
          },
        });
      const r = await failing(float64, (c) => c.dtype === "float32" && !c.frameworkDefect);
      assert(r.of >= 30, `${r.of}`);
      assertEquals(r.failed, 0, r.reasons.join("\n"));
    },
  );
  await t.step("momentum read as the weight of the new value fails every ONNX training sequence", async () => {
    const r = await failing(
      wrong({ momentumKind: "new" }),
      (c) =>
        c.convention.momentumKind === "old" && c.convention.momentum !== 0.5 && updatesRunningStats(c) &&
        !c.frameworkDefect,
    );
    assert(r.of >= 15 && r.failed === r.of, `${r.failed} of ${r.of}`);
    assert(r.reasons.every((s) => s.includes("running_mean") || s.includes("running_var")), r.reasons.join("\n"));
  });
});

/**
 * Framework outputs that exceed the policy against their float64 twin: findings, kept
 * and listed with the reason. The policy is not loosened for them.
 */
const LISTED_EXCEEDANCES: readonly { case: string; outputs: readonly string[]; reason: string }[] = [
  {
    case: "tfjs layers.batchNormalization float32 1x3 one value per channel in training",
    outputs: ["dx"],
    reason: "With one value per channel dx is exactly 0; TF.js's autodiff leaves 9.5e-7 in one element.",
  },
  {
    case: "tfjs layers.batchNormalization float32 1x2x2x3 NHWC batch size 1 with spatial size 4",
    outputs: ["dx"],
    reason: "TF.js's float32 autodiff dx is 7.3 ULP of the peak off (budget 6) at n = 4.",
  },
  {
    case: "pytorch edge BatchNorm1d float32 4x2x3 constant channel eps=1e-5",
    outputs: ["y"],
    reason: "PyTorch's y = x*alpha + beta' cancels: a constant channel's y misses beta by 65 ULP.",
  },
  {
    case: "pytorch edge BatchNorm1d float32 64x2 large mean tiny spread",
    outputs: ["y", "saved_invstd", "dx", "dgamma"],
    reason: "|mean|/std ~ 1e7: PyTorch's float32 y is off by 1.2e6 ULP (x*alpha + beta' cancels), dgamma by 5e5.",
  },
  {
    case: "pytorch edge BatchNorm1d float32 6x2 denormal inputs",
    outputs: ["dgamma"],
    reason: "Subnormal terms lose precision in PyTorch's float32 sums: dgamma 378 ULP off.",
  },
  {
    case: "pytorch edge BatchNorm1d float32 6x2 values near float32 overflow",
    outputs: ["y", "batch_mean", "saved_invstd", "running_mean", "dx", "dgamma"],
    reason: "PyTorch's float32 mean and variance overflow: mean Infinity, y and gradients NaN; float64 is finite.",
  },
  {
    case: "pytorch edge BatchNorm1d float32 4x2x3 Infinity in x",
    outputs: ["dgamma"],
    reason: "In the finite channel, PyTorch's float32 dgamma is 54 ULP off (budget 24).",
  },
  {
    case: "pytorch edge BatchNorm1d float32 4x256 many channels",
    outputs: ["dx"],
    reason: "PyTorch's float32 dx is 6.38 ULP of the peak off at n = 4 (budget 6).",
  },
  {
    case: "tfjs edge layers.batchNormalization float32 1x2 one-value-train",
    outputs: ["dx"],
    reason: "With one value per channel dx is exactly 0; TF.js's autodiff leaves 1.9e-6.",
  },
  {
    case: "tfjs edge layers.batchNormalization float32 6x2 momentum-above-1",
    outputs: ["dgamma"],
    reason: "TF.js's float32 dgamma is 18.8 ULP of the peak off (budget 18).",
  },
  {
    case: "tfjs edge layers.batchNormalization float32 64x2 large-mean",
    outputs: ["y", "batch_var", "dx", "dgamma"],
    reason: "|mean|/std ~ 1e7: TF.js's float32 tf.moments variance is 7% off, y by 7.3e5 ULP.",
  },
  {
    case: "tfjs edge layers.batchNormalization float32 6x2 denormal",
    outputs: ["dgamma"],
    reason: "Subnormal terms: TF.js's float32 dgamma is 167 ULP off.",
  },
  {
    case: "tfjs edge layers.batchNormalization float32 6x2 near-overflow",
    outputs: ["y", "dx", "dgamma"],
    reason: "TF.js's float32 variance overflows: y is 1.75 where 3.46 is right; gradients are 0.",
  },
  {
    case: "tfjs edge layers.batchNormalization float32 4x256 many-channels",
    outputs: ["y"],
    reason: "TF.js's float32 training y is 6.26 ULP of the peak off at n = 4 (budget 6).",
  },
  {
    case: "onnxruntime edge opset 15 float32 1x2 one-value-train",
    outputs: ["y"],
    reason: "onnxruntime's y = x*scale' + bias' misses B by 361 ULP with one value per channel (variance 0).",
  },
  {
    case: "onnxruntime edge opset 15 float32 4x2x3 constant-channel",
    outputs: ["y"],
    reason: "The same cancellation on a constant channel: 139 ULP.",
  },
  {
    case: "onnxruntime edge opset 15 float32 64x2 large-mean",
    outputs: ["y"],
    reason: "|mean|/std ~ 1e7: onnxruntime's float32 y is off by 1.6e6 ULP (the output's spread is 18% wrong).",
  },
  {
    case: "onnxruntime edge opset 15 float32 6x2 near-overflow",
    outputs: ["y", "running_mean"],
    reason: "onnxruntime's float32 statistics overflow: y NaN, running_mean -Infinity; float64 is finite.",
  },
  {
    case: "onnxruntime edge opset 15 float32 4x256 many-channels",
    outputs: ["y"],
    reason: "onnxruntime's float32 training y is 10.3 ULP of the peak off at n = 4 (budget 6).",
  },
  // TensorFlow 2.21's CPU FusedBatchNormV3 accumulates the batch statistics in float32 and takes the mean as
  // sum * float32(1/n) (fused_batch_norm_op.cc: `mean = x.sum(reduce_dims) * rest_size_inv`), so its statistics carry
  // float32 error that |mean|/std amplifies in y; NCHW and NHWC give the same bits (the kernel transposes to NHWC).
  {
    case: "tensorflow fused float32 2x3x4x5 NCHW data_format train x3 then eval",
    outputs: ["y"],
    reason:
      "Channel 2 has |mean|/std = 11 (n = 20): the float32 mean (1.35 ULP off) puts y 7.2 and 9.8 ULP of the peak " +
      "off (budget 6); with the kernel's own statistics its y is 1.6 ULP from the formula.",
  },
  {
    case: "tensorflow fused edge float32 4x1x1x256 many-channels",
    outputs: ["y", "dx"],
    reason: "n = 4 per channel over 256 channels: some channels' |mean|/std is large, y 17 ULP and dx 31 ULP off.",
  },
  {
    case: "tensorflow fused edge float32 64x1x1x2 large-mean",
    outputs: ["y", "batch_var", "dx", "dgamma"],
    reason: "|mean|/std ~ 1e7: float32 statistics; y 1.8e5 ULP off, batch_var 9e5, dgamma 1.1e7.",
  },
  {
    case: "tensorflow fused edge float32 6x1x1x2 denormal",
    outputs: ["batch_mean", "running_mean", "dgamma"],
    reason: "float32 subnormal sums lose bits (batch_mean 3.2e4 ULP of the peak off); the variance underflows.",
  },
  {
    case: "tensorflow fused edge float32 6x1x1x2 near-overflow",
    outputs: ["y", "batch_mean", "running_mean", "dx", "dgamma"],
    reason: "The float32 sum overflows: batch_mean Infinity, y NaN in channel 0; float64 is finite.",
  },
  // Keras 3 computes y as x * inv + (beta - mean * inv), inv = rsqrt(var + eps) * gamma (ops.batch_normalization:
  // keras/src/backend/jax/nn.py, tf.nn.batch_normalization on TensorFlow): with variance 0, inv = gamma / sqrt(eps) is
  // about 31, and beta - mean * inv rounds away beta's low bits, so y = beta is missed.
  {
    case: "keras 3 jax BatchNormalization float32 1x3 one value per channel in training",
    outputs: ["y"],
    reason: "One value per channel: y should be beta exactly; the folded form is 30 ULP of the peak off.",
  },
  {
    case: "keras 3 tensorflow BatchNormalization float32 1x3 one value per channel in training",
    outputs: ["y"],
    reason: "One value per channel: y should be beta exactly; the folded form is 44 ULP of the peak off.",
  },
  {
    case: "keras 3 jax BatchNormalization float32 1x2x2x3 momentum=0.5 epsilon=0.1",
    outputs: ["dgamma"],
    reason:
      "jax.vjp through the folded form gives dgamma as sum(dy * x) * inv' - mean * sum(dy) * inv': cancellation, " +
      "16.6 ULP of the peak at n = 4 (budget 12).",
  },
  // Keras 3's torch backend takes the batch variance as E[x^2] - E[x]^2 in float32 (keras/src/backend/torch/nn.py
  // moments; TensorFlow's tf.nn.moments and JAX's jnp.var are two-pass): the same inputs as the tensorflow and jax
  // cases above, where those backends pass. A scratch run with a two-pass torch moments passes (finding F-26).
  {
    case: "keras 3 torch BatchNormalization float32 6x3 rank 2 defaults train x3 then eval",
    outputs: ["y", "dx", "dgamma"],
    reason: "One-pass variance: y 17.2, dx 27.7, dgamma 23.8 ULP of the peak off; two-pass on the same inputs passes.",
  },
  // Flax's default use_fast_variance=True computes var = max(0, E[x^2] - E[x]^2) in float32 (flax/linen/normalization.py
  // and flax/nnx/nn/normalization.py, _compute_stats): cancellation when |mean|/std is a few units. The same inputs with
  // use_fast_variance=False stay within the policy (the "use_fast_variance=False" cases beside these).
  {
    case: "flax linen.BatchNorm float32 2x4x5x3 NHWC defaults train x3 then eval",
    outputs: ["y", "dx"],
    reason:
      "One-pass variance: y up to 44.8 ULP, dx up to 44.4 ULP of the peak off; two-pass on the same inputs passes.",
  },
  {
    case: "flax linen.BatchNorm float32 6x3 rank 2 defaults train x3 then eval",
    outputs: ["dx"],
    reason: "One-pass variance: dx 9.5 ULP of the peak off at step 2; two-pass on the same inputs passes.",
  },
  {
    case: "flax nnx.BatchNorm float32 2x4x5x3 NHWC defaults train x3 then eval",
    outputs: ["y", "dx"],
    reason:
      "One-pass variance: y up to 10.4 ULP, dx up to 11.9 ULP of the peak off; two-pass on the same inputs passes.",
  },
  {
    case: "flax nnx.BatchNorm float32 6x3 rank 2 defaults train x3 then eval",
    outputs: ["y", "dx", "dgamma"],
    reason: "One-pass variance: y 27.4, dx 48.8, dgamma 36.6 ULP of the peak off; two-pass on the same inputs passes.",
  },
  {
    case: "flax linen.BatchNorm float32 64x2 large mean tiny spread use_fast_variance=True",
    outputs: ["y", "dx", "dgamma"],
    reason: "|mean|/std ~ 1e7: E[x^2] - E[x]^2 loses the variance (x^2 ~ 1e8 has ULP 8); y 7.5e5 ULP off.",
  },
  {
    case: "flax linen.BatchNorm float32 64x2 large mean tiny spread use_fast_variance=False",
    outputs: ["y", "dx", "dgamma"],
    reason: "|mean|/std ~ 1e7: even the two-pass variance rests on a float32 mean 1e-3 off; y 4.2e5 ULP off.",
  },
  {
    case: "flax nnx.BatchNorm float32 64x2 large mean tiny spread use_fast_variance=True",
    outputs: ["y", "dx", "dgamma"],
    reason: "|mean|/std ~ 1e7: E[x^2] - E[x]^2 loses the variance; y 1.3e6 ULP off.",
  },
  {
    case: "flax nnx.BatchNorm float32 64x2 large mean tiny spread use_fast_variance=False",
    outputs: ["y", "dx", "dgamma"],
    reason: "|mean|/std ~ 1e7: the float32 mean is 1e-3 off; y 1.8e5 ULP off.",
  },
];

/** PyTorch 2.15 (fixtures/pytorch2/) runs 1.13's edge cases on the same inputs and exceeds where 1.13 does. */
const FRAMEWORK_EXCEEDANCES = [
  ...LISTED_EXCEEDANCES,
  ...LISTED_EXCEEDANCES.filter((x) => x.case.startsWith("pytorch edge ")).map((x) => ({
    ...x,
    case: `pytorch2${x.case.slice("pytorch".length)}`,
    reason: `PyTorch 2.15 as 1.13: ${x.reason}`,
  })),
];

Deno.test("tolerance policy accepts each framework's own float32 and bfloat16 output against its float64 run", async (t) => {
  const withTwins = files.filter((f) => f.cases.some((c) => c.steps.some((s) => s.expectedFloat64)));
  const byFramework = Map.groupBy(withTwins, (f) => `${f.provenance.framework} ${f.provenance.version}`);
  for (const [framework, group] of byFramework) {
    await t.step(framework, () => {
      let checked = 0;
      for (const c of group.flatMap((f) => f.cases).filter((c) => !c.frameworkDefect)) {
        const exceeded = new Set<string>();
        for (const { step, output, comparison: r } of frameworkErrors(c)) {
          // A re-labelled case (gen_relabel.py) keeps its original's records, and their listed exceedances.
          const listed = FRAMEWORK_EXCEEDANCES.some((x) =>
            (x.case === c.name || c.name.endsWith(` of: ${x.case}`)) && x.outputs.includes(output)
          );
          if (!r.pass) exceeded.add(output);
          if (!listed) assert(r.pass, `${c.name} step ${step} ${output}: ${r.maxError} ULP > ${r.tolerance}`);
          checked++;
        }
        for (const x of FRAMEWORK_EXCEEDANCES.filter((x) => x.case === c.name)) {
          for (const k of x.outputs) {
            assert(exceeded.has(k), `${c.name} ${k} is listed as exceeding the policy but passes: unlist it`);
          }
        }
      }
      // A framework's fixtures compare dozens of outputs; the small composed file (3 cases) fewer.
      assert(
        checked > 50 || (checked > 0 && group.every((f) => f.provenance.composed)),
        `only ${checked} outputs compared`,
      );
    });
  }
});
