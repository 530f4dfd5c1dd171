/**
 * Convention fingerprinting: probes an unknown implementation with a few
 * designed calls and reports, axis by axis, which convention it follows.
 *
 * @module
 */

import { type PresetName, PRESETS } from "../reference/convention.ts";
import type { DType } from "../reference/dtype.ts";
import type { FixtureCase } from "./fixture.ts";
import type { StepOutputs, StepRequest, StepState } from "./harness.ts";
import type { Implementation } from "./runner.ts";
import type { Tensor } from "../reference/tensor.ts";

/** What the probes found. Each axis carries the numbers it was read from. */
export interface Fingerprint {
  /** The dtype the probes ran in (float64 when supported). */
  readonly dtype: DType;
  /** Where epsilon sits and its default value. */
  readonly epsilon: {
    readonly placement: "inside" | "outside" | "undetermined";
    readonly value: number | null;
    readonly evidence: string;
  };
  /** Weight of the batch value in the running-statistics update, by default and when momentum 0.3 is passed. */
  readonly momentum: {
    readonly defaultNewWeight: number;
    readonly parameterisation: "new" | "old" | "cumulative" | "ignores the option" | "unknown";
    readonly evidence: string;
  };
  /** What multiplies the batch variance entering the running variance (n = 4 probe; one-value probe for clamping). */
  readonly runningVariance: {
    readonly correction: "biased" | "bessel" | "bessel-clamped" | "unknown";
    readonly factor: number;
    readonly evidence: string;
  };
  /** Training with one value per channel. */
  readonly singleValue: {
    readonly behaviour: "error" | "variance 0, y = beta" | "NaN" | "other";
    readonly evidence: string;
  };
  /** Accuracy of the batch variance on 1e4 + 1e-2·noise, probed in float32 where supported. */
  readonly variance: {
    /**
     * `stable`: relative error < 5% (a float32 two-pass is about 3e-3 off on this data, float64 exact);
     * `inexact`: 5% to 50% (float32 accumulation that loses most digits);
     * `catastrophic`: 50% or more (E[x²] − E[x]², whose float32 terms of 1e8 leave nothing of a 1e-5 variance).
     */
    readonly algorithm: "stable" | "inexact" | "catastrophic";
    readonly relativeError: number;
    readonly evidence: string;
  };
  /** Training on an empty batch. */
  readonly emptyBatch: {
    readonly behaviour: "error" | "unchanged" | "zero" | "nan" | "other";
    readonly evidence: string;
  };
  /** The preset whose defaults match every axis, or null. */
  readonly preset: PresetName | null;
}

const t = (dtype: DType, shape: number[], data: number[]): Tensor => ({ dtype, shape, data: Float64Array.from(data) });

async function call(
  impl: Implementation,
  dtype: DType,
  request: Omit<StepRequest, "dtype">,
  label: string,
): Promise<StepOutputs> {
  const req = { ...request, dtype } as StepRequest;
  try {
    if (typeof impl.adapter === "function") return await impl.adapter(req);
    const pseudo = { name: `fingerprint: ${label}`, dtype } as FixtureCase;
    return (await impl.adapter.wholeCase([req], pseudo))[0];
  } catch (e) {
    return { error: { code: "exception", message: (e as Error).message } };
  }
}

const state = (dtype: DType, C: number, mean: number[], variance: number[], tracked = 0): StepState => ({
  gamma: t(dtype, [C], new Array(C).fill(1)),
  beta: t(dtype, [C], new Array(C).fill(0)),
  running_mean: t(dtype, [C], mean),
  running_var: t(dtype, [C], variance),
  num_batches_tracked: tracked,
});

const spread = (v: number[]) =>
  (Math.max(...v) - Math.min(...v)) / Math.max(Math.abs(v.reduce((a, b) => a + b) / v.length), 1e-30);
const near = (a: number, b: number, rel = 1e-3) => Math.abs(a - b) <= rel * Math.max(Math.abs(b), 1e-12);

/**
 * Probes an implementation and reports the convention it follows, axis by axis.
 * The probes ask for the implementation's own defaults (no config), except one that
 * passes momentum 0.3 to learn how the option is read.
 *
 * @param impl The implementation (in-process adapter or subprocess).
 * @returns The fingerprint.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { fingerprint, referenceAdapter } from "../../mod.ts";
 * const fp = await fingerprint({ name: "reference", adapter: referenceAdapter });
 * assertEquals([fp.epsilon.placement, fp.momentum.parameterisation, fp.runningVariance.correction, fp.preset], ["inside", "new", "bessel", "pytorch"]);
 * ```
 */
export async function fingerprint(impl: Implementation): Promise<Fingerprint> {
  const dtypes = impl.supports?.dtypes;
  const dtype: DType = !dtypes || dtypes.includes("float64")
    ? "float64"
    : dtypes.includes("float32")
    ? "float32"
    : dtypes[0];
  const yOf = (o: StepOutputs) => Array.from(o.outputs?.y?.data ?? []);

  // Epsilon: inference with running variances 0.01, 0.04, 0.09 and x = 1: y = 1/sqrt(v + eps) or 1/(sqrt(v) + eps).
  const v = [0.01, 0.04, 0.09];
  const p1 = await call(impl, dtype, {
    mode: "eval",
    x: t(dtype, [1, 3], [1, 1, 1]),
    state: state(dtype, 3, [0, 0, 0], v),
  }, "epsilon");
  const y1 = yOf(p1);
  let epsilon: Fingerprint["epsilon"] = {
    placement: "undetermined",
    value: null,
    evidence: p1.error ? `error: ${p1.error.message}` : "no y",
  };
  if (y1.length === 3) {
    const inside = y1.map((y, i) => 1 / (y * y) - v[i]), outside = y1.map((y, i) => 1 / y - Math.sqrt(v[i]));
    const [si, so] = [spread(inside), spread(outside)];
    const evidence = `eps if inside: ${inside.map((e) => e.toExponential(3)).join(", ")}; if outside: ${
      outside.map((e) => e.toExponential(3)).join(", ")
    }`;
    const zero = inside.every((e) => Math.abs(e) < 1e-9);
    epsilon = zero
      ? { placement: "undetermined", value: 0, evidence: `${evidence} (epsilon 0: placement cannot show)` }
      : si < so && si < 0.05
      ? { placement: "inside", value: inside.reduce((a, b) => a + b) / 3, evidence }
      : so < 0.05
      ? { placement: "outside", value: outside.reduce((a, b) => a + b) / 3, evidence }
      : { placement: "undetermined", value: null, evidence };
  }

  // Momentum and Bessel: one training step, n = 4 values [1, 3, 1, 3] (mean 2, biased variance 1), from (0, 0).
  const x4 = t(dtype, [4, 1], [1, 3, 1, 3]);
  const train = (tracked: number, defaultsExcept?: StepRequest["defaultsExcept"]) =>
    call(
      impl,
      dtype,
      {
        mode: "train",
        x: x4,
        state: state(dtype, 1, [0], [0], tracked),
        ...(defaultsExcept ? { defaultsExcept } : {}),
      },
      "momentum",
    );
  const weight = (o: StepOutputs) => (o.outputs?.running_mean ? Number(o.outputs.running_mean.data[0]) / 2 : NaN);
  const p2 = await train(0);
  const w = weight(p2);
  const p2b = await train(3);
  const p2c = await train(0, { momentum: 0.3 });
  const w3 = weight(p2b), wOpt = weight(p2c);
  let parameterisation: Fingerprint["momentum"]["parameterisation"] = "unknown";
  if (near(w, 1) && near(w3, 0.25)) parameterisation = "cumulative";
  else if (near(wOpt, 0.3)) parameterisation = "new";
  else if (near(wOpt, 0.7)) parameterisation = "old";
  else if (near(wOpt, w)) parameterisation = "ignores the option";
  const momentum = {
    defaultNewWeight: w,
    parameterisation,
    evidence: `batch weight ${w} by default, ${w3} after 3 tracked batches, ${wOpt} when momentum 0.3 is passed` +
      (Number.isFinite(w)
        ? ` (as PyTorch momentum ${w.toPrecision(3)}, as Keras/ONNX momentum ${(1 - w).toPrecision(3)})`
        : ""),
  };
  const factor = p2.outputs?.running_var ? Number(p2.outputs.running_var.data[0]) / w : NaN;

  // One value per channel: x = [[5, -3]] in training.
  const p4 = await call(impl, dtype, {
    mode: "train",
    x: t(dtype, [1, 2], [5, -3]),
    state: state(dtype, 2, [0, 0], [1, 1]),
  }, "one value");
  const y4 = yOf(p4);
  const singleValue: Fingerprint["singleValue"] = p4.error
    ? { behaviour: "error", evidence: `${p4.error.code}: ${p4.error.message}` }
    : y4.length === 2 && y4.every((y) => y === 0)
    ? { behaviour: "variance 0, y = beta", evidence: `y = ${y4.join(", ")}` }
    : y4.some(Number.isNaN)
    ? { behaviour: "NaN", evidence: `y = ${y4.join(", ")}` }
    : { behaviour: "other", evidence: `y = ${y4.join(", ")}` };
  const rv1 = p4.outputs?.running_var ? Number(p4.outputs.running_var.data[0]) : NaN;
  let correction: Fingerprint["runningVariance"]["correction"] = "unknown";
  if (near(factor, 1)) correction = "biased";
  else if (near(factor, 4 / 3)) {
    correction = Number.isFinite(rv1) && singleValue.behaviour !== "error" ? "bessel-clamped" : "bessel";
  }
  const runningVariance = {
    correction,
    factor,
    evidence:
      `running variance ${p2.outputs?.running_var?.data[0]} = weight ${w} x factor ${
        factor.toPrecision(6)
      } x batch variance 1 (n = 4: ` +
      `Bessel 1.33333); with one value per channel: ${Number.isNaN(rv1) ? (p4.error ? "refused" : "NaN") : rv1}`,
  };

  // Variance accuracy: 64 values 1e4 + 1e-2·noise, float32-representable, so E[x²] - E[x]² cancels in float32.
  const xs: number[] = [];
  let seed = 12345;
  for (let i = 0; i < 64; i++) {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    xs.push(Math.fround(1e4 + 1e-2 * (seed / 2147483648 - 0.5)));
  }
  const mean = xs.reduce((a, b) => a + b) / 64;
  const exactVar = xs.reduce((a, b) => a + (b - mean) ** 2, 0) / 64;
  // A float32 hazard: probed in float32 wherever the implementation runs float32.
  const vtype: DType = !dtypes || dtypes.includes("float32") ? "float32" : dtype;
  const p5 = await call(
    impl,
    vtype,
    { mode: "train", x: t(vtype, [64, 1], xs), state: state(vtype, 1, [0], [1]) },
    "variance",
  );
  let got = p5.outputs?.batch_var ? Number(p5.outputs.batch_var.data[0]) : NaN;
  let how = "batch_var";
  if (Number.isNaN(got) && epsilon.value !== null && yOf(p5).length === 64) {
    // No batch_var output: read the variance off y's spread, s² = var/(var + eps).
    const y = yOf(p5), m = y.reduce((a, b) => a + b) / 64, s2 = y.reduce((a, b) => a + (b - m) ** 2, 0) / 64;
    got = epsilon.placement === "outside"
      ? (Math.sqrt(s2) * epsilon.value / (1 - Math.sqrt(s2))) ** 2
      : (s2 * epsilon.value) / (1 - s2);
    how = "the spread of y";
  }
  const relativeError = Math.abs(got - exactVar) / exactVar;
  const variance = {
    algorithm: relativeError < 0.05
      ? "stable" as const
      : relativeError < 0.5
      ? "inexact" as const
      : "catastrophic" as const,
    relativeError,
    evidence:
      `variance ${got.toExponential(4)} (from ${how}) against ${exactVar.toExponential(4)}: relative error ${
        relativeError.toExponential(2)
      }` +
      (relativeError >= 0.5 ? " (E[x²] - E[x]²)" : relativeError >= 0.05 ? " (float32 accumulation)" : ""),
  };

  // Empty batch: shape [0, 2] in training from running statistics (0.5, 2).
  const p6 = await call(impl, dtype, {
    mode: "train",
    x: t(dtype, [0, 2], []),
    state: state(dtype, 2, [0.5, 0.5], [2, 2]),
  }, "empty batch");
  const rm6 = p6.outputs?.running_mean ? Array.from(p6.outputs.running_mean.data) : [];
  const emptyBatch: Fingerprint["emptyBatch"] = p6.error
    ? { behaviour: "error", evidence: `${p6.error.code}: ${p6.error.message}` }
    : rm6.length === 0
    ? { behaviour: "other", evidence: "no running statistics returned" }
    : rm6.every(Number.isNaN)
    ? { behaviour: "nan", evidence: `running mean ${rm6.join(", ")}` }
    : rm6.every((r) => r === 0.5)
    ? { behaviour: "unchanged", evidence: `running mean ${rm6.join(", ")}` }
    : rm6.every((r) => near(r, 0.5 * (1 - w)))
    ? { behaviour: "zero", evidence: `running mean ${rm6.join(", ")} = 0.5 x (1 - ${w})` }
    : { behaviour: "other", evidence: `running mean ${rm6.join(", ")}` };

  const preset = (Object.keys(PRESETS) as PresetName[]).find((name) => {
    const p = PRESETS[name];
    const presetWeight = p.momentumKind === "new" ? p.momentum! : 1 - p.momentum!;
    return epsilon.placement === p.epsilonPlacement && epsilon.value !== null &&
      near(epsilon.value, Math.max(p.epsilon, p.epsilonFloor), 1e-2) &&
      near(w, presetWeight, 1e-3) && correction === p.runningVariance &&
      (singleValue.behaviour === "error") === (p.singleValueTraining === "error");
  }) ?? null;

  return { dtype, epsilon, momentum, runningVariance, singleValue, variance, emptyBatch, preset };
}

/**
 * A fingerprint as lines of text, one per axis.
 *
 * @param fp A fingerprint.
 * @returns The report.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { fingerprint, formatFingerprint, referenceAdapter } from "../../mod.ts";
 * const text = formatFingerprint(await fingerprint({ name: "reference", adapter: referenceAdapter }));
 * assert(text.includes("closest preset: pytorch"));
 * ```
 */
export function formatFingerprint(fp: Fingerprint): string {
  const w = fp.momentum.defaultNewWeight;
  return [
    `epsilon: ${fp.epsilon.placement} the square root, default ${
      fp.epsilon.value === null ? "unknown" : fp.epsilon.value.toPrecision(4)
    }`,
    `  ${fp.epsilon.evidence}`,
    `momentum: default batch weight ${
      Number.isFinite(w) ? w.toPrecision(4) : "unknown"
    }; an explicit momentum is read as the weight of the ${fp.momentum.parameterisation} value`,
    `  ${fp.momentum.evidence}`,
    `running variance: ${fp.runningVariance.correction} (factor ${fp.runningVariance.factor.toPrecision(6)})`,
    `  ${fp.runningVariance.evidence}`,
    `one value per channel in training: ${fp.singleValue.behaviour}`,
    `  ${fp.singleValue.evidence}`,
    `variance algorithm: ${fp.variance.algorithm} (relative error ${fp.variance.relativeError.toExponential(2)})`,
    `  ${fp.variance.evidence}`,
    `empty batch: ${fp.emptyBatch.behaviour}`,
    `  ${fp.emptyBatch.evidence}`,
    `closest preset: ${fp.preset ?? "none matches every axis"} (probes in ${fp.dtype})`,
  ].join("\n");
}
