/**
 * The findings table: where a framework's recorded output is far from the exact value of its own convention (the
 * witness bound of FORMAT.md), with the size and the cause. Findings are never charged to an implementation under
 * test (it is judged against exact values); they are what the frameworks themselves get wrong.
 *
 * `deno run --allow-read=. --allow-write=docs scripts/reports/findings.ts` writes docs/findings-table.md; tests/verdict_test.ts
 * checks that it is current, that every framework output outside its bound is listed here with a cause, and that
 * every listed finding still fails (no stale entry).
 *
 * @module
 */

import { type FixtureCase, type FixtureFile, loadAllFixtures, tensorDType, witnessErrors } from "../../mod.ts";
import { markdownTable } from "./_markdown.ts";

/** One finding: a case, the record (the framework's own output or its float64 run), the outputs, the cause. */
export interface Finding {
  readonly case: string;
  readonly record: "expected" | "float64 twin";
  readonly outputs: readonly string[];
  readonly cause: string;
}

/**
 * A rule for the random sweeps (fixtures/pytorch-sweep/random.json, fixtures/pytorch2/sweep.json): every case whose name matches, for the records and outputs
 * listed, where the output is outside its bound. A rule that matches no failing output is stale (the test says so).
 */
export interface FindingRule {
  readonly cases: RegExp;
  readonly records: readonly ("expected" | "float64 twin")[];
  readonly outputs: readonly string[];
  readonly cause: string;
}

/** The sweep's rules. */
export const SWEEP_RULES: readonly FindingRule[] = [
  {
    cases: /^pytorch2? sweep \d+ .* ratio=/,
    records: ["expected", "float64 twin"],
    outputs: ["batch_var", "saved_invstd", "running_var"],
    cause: "large |mean|/std (the ratio in the name): the variance loses digits to cancellation, in torch.var " +
      "(batch_var, the expectation of every dtype's float64 run) and in the bfloat16/float32 kernels' statistics " +
      "(saved_invstd, running_var); the exact variance is well defined.",
  },
  {
    cases: /^pytorch2? sweep \d+ .* eps=0\.0 .* constant-channel$/,
    records: ["expected", "float64 twin"],
    outputs: ["y", "dx", "dgamma"],
    cause: "inference with running_var 0 and epsilon 0: PyTorch's eval path computes invstd = 1/sqrt(running_var + " +
      "eps) = Infinity (aten/src/ATen/native/cpu/batch_norm_kernel.cpp), so y and dx are NaN; the case's convention " +
      "zero_variance_invstd: zero gives invstd 0 (y = beta). PyTorch's zero rule (ATen's InvStd) holds for batch " +
      "statistics only: a convention the format cannot state yet.",
  },
];

const NEAR_OVERFLOW_32 =
  "float32 intermediates overflow: the sum of six values near 3e38 (and their squares) leave float32's range, so " +
  "the statistics and everything after them are infinite or NaN; the exact values are finite.";

const KERAS_F64_JAX = "Keras 3 casts a layer's inputs, variables and statistics to backend.result_type(x.dtype, " +
  "'float32'), which maps float64 to float32 on every backend but TensorFlow (keras/src/backend/common/dtypes.py " +
  "BIT64_TO_BIT32_DTYPE), even with jax x64 enabled: a float64 layer on JAX computes in float32 and widens its results.";

/** The listed findings, PyTorch 1.13's once (fixtures/pytorch/); FINDINGS adds them for PyTorch 2 (fixtures/pytorch2/). */
const LISTED: readonly Finding[] = [
  {
    case: "tensorflow fused edge float32 6x1x1x2 near-overflow",
    record: "expected",
    outputs: ["y", "batch_mean", "running_mean", "dx", "dgamma"],
    cause: NEAR_OVERFLOW_32,
  },
  {
    case: "tensorflow fused edge float32 64x1x1x2 large-mean",
    record: "expected",
    outputs: ["batch_var"],
    cause: "TensorFlow 2.21's CPU FusedBatchNormV3 accumulates the statistics in float32 (fused_batch_norm_op.cc: " +
      "mean = x.sum(reduce_dims) * rest_size_inv): at |mean|/std ~ 1e7 the deviations from a float32 mean carry its " +
      "rounding, and the variance is far off.",
  },
  {
    case: "tensorflow fused edge float32 6x1x1x2 denormal",
    record: "expected",
    outputs: ["batch_mean", "running_mean", "dgamma"],
    cause: "float32 sums of subnormals (~1e-40) lose their low bits in FusedBatchNormV3's float32 accumulation, and " +
      "the mean is taken as sum * float32(1/n).",
  },
  {
    case: "flax linen.BatchNorm float32 2x4x5x3 NHWC defaults train x3 then eval",
    record: "expected",
    outputs: ["y", "dx"],
    cause: "Flax's default use_fast_variance=True: var = max(0, E[x^2] - E[x]^2) in float32 (_compute_stats, " +
      "flax/linen/normalization.py) cancels when |mean|/std is a few units; the same inputs with " +
      "use_fast_variance=False lie within the bound.",
  },
  {
    case: "flax nnx.BatchNorm float32 6x3 rank 2 defaults train x3 then eval",
    record: "expected",
    outputs: ["y", "dx"],
    cause: "Flax's default use_fast_variance=True: var = max(0, E[x^2] - E[x]^2) in float32 (_compute_stats, " +
      "flax/nnx/nn/normalization.py) cancels; the same inputs with use_fast_variance=False lie within the bound.",
  },
  {
    case: "pytorch edge BatchNorm1d float32 6x2 values near float32 overflow",
    record: "expected",
    outputs: ["y", "batch_mean", "saved_invstd", "running_mean", "dx", "dgamma"],
    cause: NEAR_OVERFLOW_32,
  },
  {
    case: "onnxruntime edge opset 15 float32 6x2 near-overflow",
    record: "expected",
    outputs: ["y", "running_mean"],
    cause: NEAR_OVERFLOW_32,
  },
  {
    case: "tfjs edge layers.batchNormalization float32 6x2 near-overflow",
    record: "expected",
    outputs: ["y", "dx", "dgamma"],
    cause: NEAR_OVERFLOW_32,
  },
  {
    case: "pytorch edge BatchNorm1d float32 64x2 large mean tiny spread",
    record: "float64 twin",
    outputs: ["batch_var"],
    cause: "torch.var in float64 at |mean|/std ~ 1e7 loses digits to cancellation (relative error ~1e-9 where exact " +
      "rounding gives 1e-16); the module's own saved statistics are exact to float64 here.",
  },
  {
    case: "pytorch edge BatchNorm1d float32 64x2 large mean tiny spread",
    record: "expected",
    outputs: ["saved_invstd"],
    cause: "|mean|/std ~ 1e7: the float32 invstd follows a variance that has lost digits to cancellation " +
      "(8.8 times the budget, 0.01% relative).",
  },
  {
    case: "tfjs edge layers.batchNormalization float32 64x2 large-mean",
    record: "expected",
    outputs: ["batch_var"],
    cause: "tf.moments in float32 at |mean|/std ~ 1e7: the squared deviations from a float32-rounded mean carry " +
      "(ulp(mean)/2)² and cancellation; the variance is 26% off.",
  },
  ...["float64", "float32"].map((dtype): Finding => ({
    case: `pytorch2 SyncBatchNorm arithmetic ${dtype} 8x2 shards 2+2+2+2 even shards large mean`,
    record: "expected",
    outputs: ["batch_var", "saved_invstd"],
    cause:
      "SyncBatchNorm's combination of device statistics (batch_norm_gather_stats_with_counts, Normalization.cuh: " +
      "avg = n/(n+c)·avg + c/(n+c)·m, var_n += v + (avg − m)²·n·c/(n+c)) at |mean|/std ~ 1e6: the differences " +
      "avg − m carry the rounding of the means (ulp(1e4) ≈ 1.8e-12 against 1e-2), and the variance with them; " +
      "the kernel's formula replayed on CPU over gloo.",
  })),
  {
    case: "pytorch edge BatchNorm1d float32 6x2 denormal inputs",
    record: "expected",
    outputs: ["dgamma"],
    cause: "float32 products dy·xhat of subnormal size keep fewer than 24 significant bits (gradual underflow).",
  },
  {
    case: "tfjs edge layers.batchNormalization float32 6x2 denormal",
    record: "expected",
    outputs: ["dgamma"],
    cause: "float32 products dy·xhat of subnormal size keep fewer than 24 significant bits (gradual underflow).",
  },
  {
    case: "keras 3 jax BatchNormalization dtype=float64 6x3 rank 2 train x3 then eval (computed in float32)",
    record: "expected",
    outputs: ["y", "running_mean", "running_var", "dx", "dgamma", "dbeta"],
    cause: KERAS_F64_JAX,
  },
  ...["jax", "tensorflow"].map((b) => ({
    case: `keras 3 ${b} ops.moments float16 8x2 channel 1 variance beyond 65504 clipped to 65504`,
    record: "expected" as const,
    outputs: ["y", "batch_var"],
    cause: "keras.ops.moments on float16 data computes in float32, then clips the mean and variance to float16's " +
      "finite range before casting back (keras/src/backend/" + b + "/nn.py moments): a variance beyond 65504, " +
      "+Infinity once rounded to float16, comes back as 65504, and y is normalized with it.",
  })),
  {
    case: "flax linen.BatchNorm dtype=float64 param_dtype=float64 6x3 rank 2 train x3 then eval",
    record: "expected",
    outputs: ["running_var"],
    cause:
      "linen creates batch_stats as float32 ones (force_float32_reductions=True, flax/linen/normalization.py) and " +
      "the first update momentum * ra_var + (1 - momentum) * var multiplies the Python float by that float32 array in " +
      "float32 (JAX weak types): float32(0.99) − 0.99 ≈ 9.5e-9 enters the float64 running variance.",
  },
  ...["float16", "bfloat16"].map((d) => ({
    case: `flax nnx.BatchNorm dtype=${d} 2x4x5x3 NHWC train x3 then eval`,
    record: "expected" as const,
    outputs: ["dgamma", "dbeta"],
    cause: "nnx.BatchNorm casts scale and bias to the module's dtype (self.promote_dtype(..., dtype=self.dtype), " +
      "flax/nnx/nn/normalization.py), so their gradients are summed in " + d + ": float32 tensors of half-precision " +
      "accuracy (linen keeps them float32).",
  })),
];

/**
 * Findings with their causes (defect cases are listed from their `framework_defect` label, see {@linkcode findingsOf}).
 * PyTorch 2.15 runs the same cases on the same inputs (fixtures/pytorch2/, named "pytorch2 ...") and shows each of
 * PyTorch 1.13's, from the same cause.
 */
export const FINDINGS: readonly Finding[] = [
  ...LISTED,
  ...LISTED.filter((f) => f.case.startsWith("pytorch ")).map((f) => ({ ...f, case: `pytorch2${f.case.slice(7)}` })),
];

/** Every finding: the listed ones, the sweep's by rule, and, for each defect case, its label's summary. */
export function findingsOf(files: readonly FixtureFile[]): Finding[] {
  const out: Finding[] = [...FINDINGS];
  for (const c of files.flatMap((f) => f.cases)) {
    const failing = witnessErrors(c).filter((k) => !k.comparison.pass);
    for (const rule of SWEEP_RULES.filter((r) => r.cases.test(c.name))) {
      for (const record of rule.records) {
        const outputs = rule.outputs.filter((o) => failing.some((k) => k.basis === record && k.output === o));
        if (outputs.length && !out.some((f) => f.case === c.name && f.record === record)) {
          out.push({ case: c.name, record, outputs, cause: rule.cause });
        }
      }
    }
  }
  for (const c of files.flatMap((f) => f.cases)) {
    if (!c.frameworkDefect) continue;
    for (const record of ["expected", "float64 twin"] as const) {
      const failing = [
        ...new Set(witnessErrors(c).filter((k) => k.basis === record && !k.comparison.pass).map((k) => k.output)),
      ];
      if (failing.length) {
        out.push({
          case: c.name,
          record,
          outputs: failing,
          cause: `labelled defect (${c.frameworkDefect.issue}): ${c.frameworkDefect.summary}`,
        });
      }
    }
  }
  return out;
}

/** The worst share of budget of a case's record and output against exact (Infinity for a non-finite miss). */
export function worstShare(c: FixtureCase, record: string, output: string): number {
  return Math.max(
    0,
    ...witnessErrors(c).filter((k) => k.basis === record && k.output === output).map((k) =>
      k.comparison.maxError / k.comparison.tolerance
    ),
  );
}

/** docs/findings-table.md's text. */
export function findingsMarkdown(files: readonly FixtureFile[]): string {
  const cases = new Map(files.flatMap((f) => f.cases.map((c) => [c.name, { c, f }] as const)));
  const rows = findingsOf(files).flatMap((x) =>
    x.outputs.map((o) => {
      const { c, f } = cases.get(x.case)!;
      const share = worstShare(c, x.record, o);
      const dtype = x.record === "expected" ? tensorDType(c, o) : "float64";
      return [
        `${f.provenance.framework} ${f.provenance.version}`,
        x.case,
        dtype,
        o,
        Number.isFinite(share) ? `${share.toPrecision(3)}×` : "non-finite",
        x.cause.replaceAll("|", "\\|"),
      ];
    })
  );
  return [
    "# Findings: where the frameworks are far from exact",
    "",
    "Generated by `scripts/reports/findings.ts` from the fixtures (tests/verdict_test.ts keeps it current). Each row is a",
    "framework's recorded output (`expected`, in the case's dtype, or its float64 run) outside the witness bound: the budget",
    "of FORMAT.md's policy against the exact value of the convention the case states. The size is the worst share of that",
    "budget (1× is the edge; non-finite: NaN or an infinity where the exact value is finite). An implementation under test is",
    "judged against the exact values, so none of these is charged to it. Every other framework output in the fixtures lies",
    "within its bound.",
    "",
    markdownTable(["framework", "case", "dtype", "output", "size", "cause"], rows),
    "",
  ].join("\n");
}

if (import.meta.main) {
  const text = findingsMarkdown(await loadAllFixtures());
  const url = new URL("../../docs/findings-table.md", import.meta.url);
  Deno.writeTextFileSync(new URL("../../docs/findings-table.md.tmp", import.meta.url), text);
  Deno.renameSync(new URL("../../docs/findings-table.md.tmp", import.meta.url), url);
  console.log(`docs/findings-table.md: ${text.split("\n").length} lines`);
}
