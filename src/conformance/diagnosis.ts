/**
 * Where and why an answer differs: for every failing output of a case, the closest of
 *
 * - every output a framework recorded for the case (`expected`, in the case's dtype, and `expected_float64`, the
 *   framework's float64 run), and
 * - the case evaluated under the neighbouring conventions (epsilon outside the root, the other momentum reading,
 *   the other running-variance forms, the other frameworks' default epsilons, the other edge rules) and arithmetic
 *   (E[x²] − E[x]², y = x·α + β′ in the dtype, plain sums in the dtype, statistics in float32, running statistics
 *   where batch statistics were due, and the reverse),
 *
 * each measured by the judge's own unit: ULPs of the case's dtype at the error scale of the case's target (the exact
 * value's `exact_scale` when the fixture has one, else the target tensor's peak), as a share of the output's budget.
 *
 * The "what-if" answers are DIAGNOSES, NEVER EXPECTATIONS: they are computed here, by the reference with a changed
 * convention or by the small plain evaluator below, only to name the mistake an answer most resembles. No verdict
 * depends on them: a diagnosis never turns a failure into a pass (runner.ts's `faithfulTo` counts a match with a
 * framework's RECORDED output, and only when asked).
 *
 * @module
 */

import type { BatchNormConvention } from "../reference/convention.ts";
import { type DType, formatInfo, roundToDType, ulp } from "../reference/dtype.ts";
import type { Tensor } from "../reference/tensor.ts";
import { type FixtureCase, type FixtureStep, type Provenance, tensorDType } from "./fixture.ts";
import { caseRequests, referenceAdapter, type StepOutputs, type StepRequest } from "./harness.ts";
import { budget } from "./tolerance.ts";

/** What a witness is: a framework's recorded output, a neighbouring convention, or another arithmetic. */
export type WitnessKind = "framework" | "convention" | "arithmetic";

/** How close an answer is to one witness, in the judge's unit. */
export interface WitnessDistance {
  /** The witness, in words ("PyTorch 1.13.0's recorded output (float32)", "epsilon outside the square root"). */
  readonly witness: string;
  /** Its kind. */
  readonly kind: WitnessKind;
  /** The largest error, in ULPs of the case's dtype at the error scale of the case's target. */
  readonly distance: number;
  /** `distance` as a share of the output's budget (≤ 1: within it). */
  readonly share: number;
  /** Every element identical (NaN meets NaN). */
  readonly bitExact: boolean;
  /** For a framework's recorded output: its own share of the budget from the case's target. */
  readonly witnessShare?: number;
  /** For a framework's recorded output: the framework as `name version`. */
  readonly framework?: string;
  /** For a neighbouring convention: what the case expects instead. */
  readonly expects?: string;
  /** For a combination of mistakes (several what-ifs at once): each one's label, in the order applied. */
  readonly parts?: readonly string[];
}

/** The diagnosis of one failing output of one step. */
export interface OutputDiagnosis {
  /** Step index. */
  readonly step: number;
  /** Output name. */
  readonly output: string;
  /** The answer's share of the budget from the case's target (what failed it). */
  readonly share: number;
  /** The closest witness. */
  readonly closest?: WitnessDistance;
  /** The distance to the case's own framework's recorded output in the case's dtype, when there is one. */
  readonly recorded?: WitnessDistance;
  /** Whether the closest witness lies within the budget (the answer is explained by it). */
  readonly matched: boolean;
  /** The next closest witnesses, up to three. */
  readonly runnersUp: readonly WitnessDistance[];
  /** Where no witness explains it: the known finding of the register (findings.ts) on this case's output, if any. */
  readonly finding?: KnownFinding;
  /** One sentence. */
  readonly text: string;
}

/** A case's diagnosis: one entry per failing output, and one per step refused or answered against expectation. */
export interface CaseDiagnosis {
  /** Per failing output. */
  readonly outputs: readonly OutputDiagnosis[];
  /** Refusals where outputs were due, outputs where a refusal was due: what they resemble. */
  readonly steps: readonly string[];
}

/** A what-if: a label and how to answer one step request under it. */
interface WhatIf {
  readonly label: string;
  /** For a convention: what the case expects instead, in words. */
  readonly expects?: string;
  readonly kind: WitnessKind;
  /** `given`: the implementation's own answer to the step (for a what-if about values an engine left undefined). */
  readonly answer: (request: StepRequest, given?: StepOutputs) => StepOutputs | undefined;
  /** For a convention what-if: the change it makes, so that it can be combined with others. */
  readonly change?: (c: BatchNormConvention) => Partial<BatchNormConvention>;
  /** For a combination: the labels of the what-ifs it combines. */
  readonly parts?: readonly string[];
}

/** The other frameworks' default epsilons (PyTorch, ONNX: 1e-5; Keras, TF.js: 1e-3; their float32 roundings). */
const DEFAULT_EPSILONS: readonly [number, string][] = [
  [1e-5, "1e-5 (PyTorch's and ONNX's default)"],
  [Math.fround(1e-5), "float32(1e-5) (ONNX's attribute)"],
  [1e-3, "1e-3 (Keras' and TF.js' default)"],
  [Math.fround(1e-3), "float32(1e-3) (TensorFlow's attribute)"],
  [1e-4, "1e-4"],
  [0, "0"],
];

const RUNNING_VARIANCE_WORDS: Readonly<Record<BatchNormConvention["runningVariance"], string>> = {
  biased: "the biased running variance (batch variance as used to normalize)",
  bessel: "Bessel's running variance (n/(n−1))",
  "bessel-clamped": "the clamped Bessel running variance (n/max(n−1, 1))",
};

/** The reference under a changed convention, as a what-if (a diagnosis, never an expectation). */
function underConvention(
  label: string,
  change: (c: BatchNormConvention) => Partial<BatchNormConvention>,
  expects?: string,
): WhatIf {
  return {
    label,
    kind: "convention",
    ...(expects ? { expects } : {}),
    answer: (r) => referenceAdapter({ ...r, convention: { ...r.convention!, ...change(r.convention!) } }),
    change,
  };
}

/** The neighbouring conventions of a case's convention: each differs from it in one field. */
function conventionWhatIfs(k: BatchNormConvention): WhatIf[] {
  const out: WhatIf[] = [];
  out.push(
    underConvention(
      k.epsilonPlacement === "inside" ? "epsilon outside the square root" : "epsilon inside the square root",
      (c) => ({ epsilonPlacement: c.epsilonPlacement === "inside" ? "outside" : "inside" }),
      `epsilon ${k.epsilonPlacement} the square root`,
    ),
  );
  if (k.momentumKind !== "cumulative") {
    const other = k.momentumKind === "new" ? "old" : "new";
    out.push(
      underConvention(
        `momentum ${k.momentum} read the other way (${
          other === "old" ? "weight of the running value, as Keras and ONNX" : "weight of the batch value, as PyTorch"
        })`,
        () => ({ momentumKind: other }),
        `momentum ${k.momentum} as the weight of the ${k.momentumKind === "new" ? "batch" : "running"} value`,
      ),
    );
    out.push(underConvention("the cumulative average (PyTorch's momentum=None)", () => ({
      momentumKind: "cumulative",
      momentum: null,
    }), `momentum ${k.momentum}`));
  } else {
    out.push(underConvention("momentum 0.1 (PyTorch's default) instead of the cumulative average", () => ({
      momentumKind: "new",
      momentum: 0.1,
    }), "the cumulative average"));
  }
  for (const form of ["biased", "bessel", "bessel-clamped"] as const) {
    if (form !== k.runningVariance) {
      out.push(underConvention(RUNNING_VARIANCE_WORDS[form], () => ({ runningVariance: form })));
    }
  }
  for (const [eps, words] of DEFAULT_EPSILONS) {
    if (eps !== k.epsilon) {
      out.push(underConvention(`epsilon ${words}`, () => ({ epsilon: eps }), `epsilon ${k.epsilon}`));
    }
  }
  // ONNX's epsilon and momentum are FLOAT attributes: a float64 runtime computes with their float32 roundings.
  if (Math.fround(k.epsilon) !== k.epsilon) {
    out.push(underConvention(
      `epsilon rounded to float32, ${Math.fround(k.epsilon)} (an ONNX FLOAT attribute)`,
      () => ({ epsilon: Math.fround(k.epsilon) }),
      `epsilon ${k.epsilon}`,
    ));
  }
  if (k.momentum !== null && Math.fround(k.momentum) !== k.momentum) {
    out.push(underConvention(
      `momentum rounded to float32, ${Math.fround(k.momentum)} (an ONNX FLOAT attribute)`,
      () => ({ momentum: Math.fround(k.momentum!) }),
      `momentum ${k.momentum}`,
    ));
    if (k.momentumKind !== "cumulative") {
      const other = k.momentumKind === "new" ? "old" : "new";
      out.push(underConvention(
        `momentum rounded to float32 and read the other way (${other})`,
        () => ({ momentum: Math.fround(k.momentum!), momentumKind: other }),
        `momentum ${k.momentum} read as ${k.momentumKind}`,
      ));
    }
  }
  if (Math.fround(k.epsilon) !== k.epsilon && k.momentum !== null && Math.fround(k.momentum) !== k.momentum) {
    out.push(underConvention(
      "epsilon and momentum rounded to float32 (ONNX FLOAT attributes)",
      () => ({ epsilon: Math.fround(k.epsilon), momentum: Math.fround(k.momentum!) }),
      `epsilon ${k.epsilon} and momentum ${k.momentum}`,
    ));
  }
  if (k.epsilonFloor !== 0) out.push(underConvention("no floor on epsilon", () => ({ epsilonFloor: 0 })));
  else {out.push(
      underConvention("epsilon floored at 1.001e-5 (TensorFlow's fused wrapper)", () => ({ epsilonFloor: 1.001e-5 })),
    );}
  out.push(underConvention(
    k.zeroVarianceInvStd === "zero"
      ? "1/sqrt(0) = Infinity (IEEE)"
      : "invstd 0 for a zero variance (PyTorch's CPU rule)",
    (c) => ({ zeroVarianceInvStd: c.zeroVarianceInvStd === "zero" ? "ieee" : "zero" }),
  ));
  out.push(underConvention(
    k.singleValueTraining === "error" ? "one value per channel computed (variance 0)" : "one value per channel refused",
    // Computing one value per channel with Bessel's n/(n-1) needs the clamped factor (the reference refuses 1/0).
    (c) =>
      c.singleValueTraining === "error"
        ? {
          singleValueTraining: "allow",
          ...(c.runningVariance === "bessel" ? { runningVariance: "bessel-clamped" } : {}),
        }
        : { singleValueTraining: "error" },
  ));
  for (const rule of ["unchanged", "zero", "nan", "error"] as const) {
    if (rule !== k.emptyBatch) out.push(underConvention(`empty batch: ${rule}`, () => ({ emptyBatch: rule })));
  }
  return out;
}

/** The arithmetic what-ifs: other ways of computing the same convention. */
function arithmeticWhatIfs(dtype: DType): WhatIf[] {
  const out: WhatIf[] = [];
  if (dtype !== "float64") {
    // First, so that it wins a tie (the least claim about arithmetic): a port computing in double and rounding once;
    // also the stand-in for the reference's arithmetic in a combination on a step the reference refuses (a negative
    // running variance in the recorded state).
    out.push({
      label: `computed in float64, rounded to ${dtype} once`,
      kind: "arithmetic",
      answer: (r) => plain(r, { dtype: "float64" }),
    });
  }
  out.push(
    {
      label: `plain sums in ${dtype} (every operation rounded to ${dtype})`,
      kind: "arithmetic",
      answer: (r) => plain(r, {}),
    },
    {
      label: `E[x²] − E[x]² in ${dtype}`,
      kind: "arithmetic",
      answer: (r) => plain(r, { variance: "moments" }),
    },
    {
      label: `y = x·α + β′ in ${dtype} (α = γ·invstd, β′ = β − mean·α, as CPU and GPU kernels compute it)`,
      kind: "arithmetic",
      answer: (r) => plain(r, { yForm: "affine" }),
    },
    {
      label: `sums in float64, statistics rounded to ${dtype}, y = x·α + β′ in ${dtype} (PyTorch's CPU kernel)`,
      kind: "arithmetic",
      answer: (r) => plain(r, { accumulate: "float64", yForm: "affine" }),
    },
    {
      label: "normalized with the running statistics where batch statistics were due",
      kind: "arithmetic",
      answer: (r) => {
        if (r.mode === "eval" && r.convention!.trackRunningStats) return undefined;
        const C = r.x.shape.at(r.convention!.axis) ?? 1;
        const fill = (v: number): Tensor => ({ shape: [C], data: new Array(C).fill(v), dtype: r.dtype });
        return referenceAdapter({
          ...r,
          mode: "eval",
          convention: { ...r.convention!, trackRunningStats: true },
          state: {
            ...r.state,
            running_mean: r.state.running_mean ?? fill(0),
            running_var: r.state.running_var ?? fill(1),
          },
        });
      },
    },
    {
      label: "normalized with batch statistics where the running statistics were due",
      kind: "arithmetic",
      answer: (r) =>
        r.mode === "eval" && r.convention!.trackRunningStats
          ? referenceAdapter({ ...r, convention: { ...r.convention!, trackRunningStats: false } })
          : undefined,
    },
  );
  out.push(...engineWhatIfs());
  // The "fast" variance, its sums in float32, the rest in binary64 rounded once (a port of a float32 kernel).
  out.push({
    label: "mean and E[x²] − E[x]² summed in float32, the rest in float64",
    kind: "arithmetic",
    answer: (r) => plain(r, { dtype: "float64", accumulate: "float32", variance: "moments" }),
  });
  if (dtype !== "float32") {
    out.push({
      label: "computed in float32",
      kind: "arithmetic",
      answer: (r) => plain(r, { dtype: "float32" }),
    });
  }
  if (dtype === "float32" || dtype === "float64") {
    // Half-precision inference of a float32 model (OpenVINO's bf16 hint, float16 GPU kernels): every operation
    // rounded to the half type, the answer widened back.
    for (const half of ["float16", "bfloat16"] as const) {
      out.push({
        label: `computed in ${half} (half-precision arithmetic, the answer widened to ${dtype})`,
        kind: "arithmetic",
        answer: (r) => plain(r, { dtype: half }),
      });
    }
  }
  if (dtype === "float16" || dtype === "bfloat16") {
    out.push({
      label: `statistics in ${dtype} (PyTorch accumulates them in float32)`,
      kind: "arithmetic",
      answer: (r) => plain(r, { dtype }),
    });
  }
  return out;
}

/** ONNX's default momentum (a FLOAT attribute: rounded to float32 where it is used). */
const ONNX_DEFAULT_MOMENTUM = 0.9;

/**
 * Mistakes real engines make (docs/findings.md names each engine): computing nothing, training where inference was
 * due, the running-statistic weights in float32, the folded scale and shift quantised to float16. Diagnoses only.
 */
function engineWhatIfs(): WhatIf[] {
  return [
    {
      label: COPY_THROUGH,
      kind: "arithmetic",
      answer: copyThrough,
    },
    {
      label: "inference computed as a training step: normalized with momentum·running + (1 − momentum)·batch " +
        "statistics, momentum the node's attribute (ONNX's default 0.9), in float32 (onnx.reference's opset-9 " +
        "BatchNormalization)",
      kind: "arithmetic",
      answer: blendedInference,
    },
    {
      label: "an empty batch's statistics left undefined (whatever the buffer held, neither 0 nor NaN), the running " +
        "statistics updated from undefined values (TF.js wasm's mean over an empty axis)",
      kind: "arithmetic",
      answer: undefinedEmptyBatch,
    },
    {
      label: "the running-statistic weights in float32: momentum and 1 − momentum each rounded to float32 " +
        "(an ONNX FLOAT attribute as a numpy float32 scalar, onnx.reference)",
      kind: "arithmetic",
      answer: (r) => float32Weights(r),
    },
    {
      label: "y = x·α + β′ with α and β′ folded in float32 and stored as float16 (float16 weight quantisation, LiteRT)",
      kind: "arithmetic",
      answer: (
        r,
      ) => (r.mode === "eval" && r.convention!.trackRunningStats
        ? plain(r, { yForm: "affine", store: "float16" })
        : undefined),
    },
  ];
}

/** The label of the copy-through what-if. */
const COPY_THROUGH = "y = x copied through, the running statistics left unchanged, dx = dy, dgamma = dbeta = 0 " +
  "(nothing computed: PaddlePaddle's one-value-per-channel shortcut)";

/** y = x, the running statistics as given, dx = dy, dgamma = dbeta = 0: an engine that skips the normalization. */
function copyThrough(r: StepRequest): StepOutputs | undefined {
  const k = r.convention!, C = r.x.shape.at(k.axis) ?? 1;
  const outputs: Record<string, { shape: readonly number[]; data: ArrayLike<number> }> = {
    y: { shape: r.x.shape, data: Array.from(r.x.data) },
  };
  if (r.mode === "train" && k.trackRunningStats) {
    outputs.running_mean = { shape: [C], data: Array.from(r.state.running_mean?.data ?? new Array(C).fill(0)) };
    outputs.running_var = { shape: [C], data: Array.from(r.state.running_var?.data ?? new Array(C).fill(1)) };
  }
  if (r.dy) {
    outputs.dx = { shape: r.x.shape, data: Array.from(r.dy.data) };
    if (k.scale ?? k.affine) outputs.dgamma = { shape: [C], data: new Array(C).fill(0) };
    if (k.center ?? k.affine) outputs.dbeta = { shape: [C], data: new Array(C).fill(0) };
  }
  return { outputs };
}

/**
 * An empty training batch whose batch statistics the engine never wrote: it answered values that no convention gives
 * (neither 0 nor NaN nor absent, TF.js wasm's uninitialised memory), so the batch term of the running update is
 * undefined too; the running statistics are then whatever finite value the update produced. Only for an empty batch,
 * where the data define no value of the statistics, and only once the answer's batch statistics show the garbage.
 */
function undefinedEmptyBatch(r: StepRequest, given?: StepOutputs): StepOutputs | undefined {
  const k = r.convention!, mean = given?.outputs?.batch_mean?.data, variance = given?.outputs?.batch_var?.data;
  if (r.mode !== "train" || r.x.data.length !== 0 || !mean || !variance) return undefined;
  const garbage = (v: ArrayLike<number>) => Array.from(v).some((e) => Number.isFinite(e) && e !== 0);
  if (!garbage(mean) && !garbage(variance)) return undefined; // 0, NaN: the conventions' own answers
  const C = mean.length;
  const outputs: Record<string, { shape: readonly number[]; data: ArrayLike<number> }> = {
    y: { shape: r.x.shape, data: [] },
    batch_mean: { shape: [C], data: Array.from(mean) },
    batch_var: { shape: [C], data: Array.from(variance) },
  };
  for (const name of k.trackRunningStats ? ["running_mean", "running_var"] : []) {
    const run = given?.outputs?.[name]?.data;
    if (run && Array.from(run).every(Number.isFinite)) outputs[name] = { shape: [C], data: Array.from(run) };
  }
  return { outputs };
}

/** The batch's mean and biased variance of a request, by the reference (correctly rounded to its dtype). */
function batchMoments(r: StepRequest): { mean: ArrayLike<number>; variance: ArrayLike<number> } | undefined {
  const got = referenceAdapter({
    ...r,
    mode: "train",
    dy: undefined,
    convention: { ...r.convention!, trackRunningStats: true, singleValueTraining: "allow", runningVariance: "biased" },
  });
  const mean = got.outputs?.batch_mean?.data, variance = got.outputs?.batch_var?.data;
  return mean && variance ? { mean, variance } : undefined;
}

/**
 * onnx.reference's opset-9 BatchNormalization (`BatchNormalization_9._run`): the schema's default momentum makes every
 * node a training step, normalized with m·input + (1 − m)·batch statistics, m the node's momentum (the case's, as a
 * peer passes it on, else 0.9); an eval step with running statistics only.
 */
function blendedInference(r: StepRequest): StepOutputs | undefined {
  const k = r.convention!;
  if (r.mode !== "eval" || !k.trackRunningStats || !r.state.running_mean || !r.state.running_var) return undefined;
  const m = batchMoments(r);
  if (!m) return undefined;
  const [old, nu] = float32WeightPair(k.momentum ?? ONNX_DEFAULT_MOMENTUM, "old");
  const blend = (run: ArrayLike<number>, batch: ArrayLike<number>) =>
    Array.from(run, (v, c) => roundToDType(old * v + nu * batch[c], r.dtype));
  return referenceAdapter({
    ...r,
    convention: { ...k, epsilon: Math.fround(k.epsilon) },
    state: {
      ...r.state,
      running_mean: { ...r.state.running_mean, data: blend(r.state.running_mean.data, m.mean) },
      running_var: { ...r.state.running_var, data: blend(r.state.running_var.data, m.variance) },
    },
  });
}

/** The weights (of the running value, of the batch value) of a momentum read as `kind`, each rounded to float32. */
function float32WeightPair(momentum: number, kind: "old" | "new"): [number, number] {
  const m = Math.fround(momentum), rest = Math.fround(1 - m);
  return kind === "old" ? [m, rest] : [rest, m];
}

/**
 * The running statistics updated with float32 weights: momentum and 1 − momentum each rounded to float32 (numpy's
 * `mean * momentum + saved_mean * (1 - momentum)` with a float32 momentum, onnx.reference's training step), the rest
 * as the reference computes it.
 */
function float32Weights(r: StepRequest): StepOutputs | undefined {
  const k = r.convention!;
  if (r.mode !== "train" || !k.trackRunningStats || k.momentumKind === "cumulative" || k.momentum === null) return;
  const got = referenceAdapter(r);
  const mean = got.outputs?.batch_mean?.data, variance = got.outputs?.batch_var?.data;
  if (!mean || !variance || !got.outputs) return undefined;
  const C = mean.length, n = r.x.data.length / Math.max(C, 1);
  const f = k.runningVariance === "biased" ? 1 : k.runningVariance === "bessel" ? n / (n - 1) : n / Math.max(n - 1, 1);
  const [old, nu] = float32WeightPair(k.momentum, k.momentumKind);
  const d = r.dtype, rd = (v: number) => roundToDType(v, d);
  const upd = (run: ArrayLike<number> | undefined, batch: ArrayLike<number>, init: number, factor: number) =>
    Array.from(batch, (b, c) => rd(rd(old * (run?.[c] ?? init)) + rd(nu * rd(b * factor))));
  return {
    outputs: {
      ...got.outputs,
      running_mean: { shape: [C], data: upd(r.state.running_mean?.data, mean, 0, 1) },
      running_var: { shape: [C], data: upd(r.state.running_var?.data, variance, 1, f) },
    },
  };
}

/** How many of an output's closest single what-ifs a combination draws from, and how many it combines at most. */
const COMBINE = { conventions: 4, arithmetic: 12, size: 3 } as const;

/**
 * Several mistakes at once, bounded: every subset of up to `COMBINE.size` of an output's closest convention what-ifs
 * (each changing other fields of the convention), evaluated by the reference or by one of the output's closest
 * arithmetic what-ifs (a plain evaluator under the changed convention). Diagnoses only, like every what-if.
 */
function combinedWhatIfs(
  conventions: readonly WhatIf[],
  arithmetic: readonly WhatIf[],
  k: BatchNormConvention,
): WhatIf[] {
  const subsets: WhatIf[][] = [];
  const grow = (start: number, chosen: WhatIf[]) => {
    if (chosen.length) subsets.push(chosen);
    if (chosen.length === COMBINE.size) return;
    for (let i = start; i < conventions.length; i++) grow(i + 1, [...chosen, conventions[i]]);
  };
  grow(0, []);
  const out: WhatIf[] = [];
  for (const set of subsets) {
    const fields = set.flatMap((w) => Object.keys(w.change!(k)));
    if (new Set(fields).size !== fields.length) continue; // two readings of one field are no combination
    const merged = (c: BatchNormConvention) => Object.assign({}, ...set.map((w) => w.change!(c)));
    const expects = set.map((w) => w.expects).filter((e) => e !== undefined).join("; ");
    for (const via of [undefined, ...arithmetic]) {
      if (set.length === 1 && !via) continue; // a single what-if: measured already
      const parts = [...set.map((w) => w.label), ...(via ? [via.label] : [])];
      out.push({
        label: parts.join(" + "),
        kind: "convention",
        ...(expects ? { expects } : {}),
        parts,
        answer: (r, given) => {
          const changed = { ...r, convention: { ...r.convention!, ...merged(r.convention!) } };
          return via ? via.answer(changed, given) : referenceAdapter(changed);
        },
      });
    }
  }
  return out;
}

/** A plain evaluator's choices. */
interface Plain {
  /** The arithmetic's dtype (default: the case's); results are rounded to the case's dtype at the end. */
  readonly dtype?: DType;
  /** Two-pass (default) or E[x²] − E[x]². */
  readonly variance?: "two-pass" | "moments";
  /** (x − mean)·invstd·γ + β (default) or x·α + β′. */
  readonly yForm?: "direct" | "affine";
  /** The dtype sums are accumulated in (default: the arithmetic's); the statistics are then rounded to it. */
  readonly accumulate?: DType;
  /** With `yForm: "affine"`: the dtype α and β′ are stored in once folded (a quantised model's constants). */
  readonly store?: DType;
}

/**
 * A plain BatchNorm, every operation rounded to one dtype, for diagnoses only (NEVER an expectation): the arithmetic
 * a straightforward port uses. Answers undefined where it has nothing to say (an empty batch, a refusal).
 */
function plain(req: StepRequest, p: Plain): StepOutputs | undefined {
  const k = req.convention!, d = p.dtype ?? req.dtype, r = (v: number) => roundToDType(v, d);
  const acc = (v: number) => roundToDType(v, p.accumulate ?? d);
  const x = req.x, rank = x.shape.length, axis = k.axis < 0 ? k.axis + rank : k.axis;
  const C = x.shape[axis] ?? 1, inner = x.shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const n = x.data.length / Math.max(C, 1);
  if (n === 0 || C === 0) return undefined;
  const batch = req.mode === "train" || !k.trackRunningStats;
  if (batch && n === 1 && k.singleValueTraining === "error") return undefined;
  const g = (c: number) => ((k.scale ?? k.affine) ? req.state.gamma?.data[c] ?? 1 : 1);
  const b = (c: number) => ((k.center ?? k.affine) ? req.state.beta?.data[c] ?? 0 : 0);
  const eps = r(Math.max(k.epsilon, k.epsilonFloor));
  const chan = (i: number) => Math.floor(i / inner) % C;
  const idx: number[][] = Array.from({ length: C }, () => []);
  for (let i = 0; i < x.data.length; i++) idx[chan(i)].push(i);
  const mean = new Array<number>(C), variance = new Array<number>(C), invstd = new Array<number>(C);
  for (let c = 0; c < C; c++) {
    if (batch) {
      let s = 0, s2 = 0;
      for (const i of idx[c]) s = acc(s + x.data[i]);
      const m = acc(s / n);
      mean[c] = r(m);
      if (p.variance === "moments") {
        for (const i of idx[c]) s2 = acc(s2 + acc(x.data[i] * x.data[i]));
        variance[c] = Math.max(0, r(acc(acc(s2 / n) - acc(m * m))));
      } else {
        for (const i of idx[c]) s2 = acc(s2 + acc(acc(x.data[i] - m) ** 2));
        variance[c] = r(acc(s2 / n));
      }
    } else {
      mean[c] = req.state.running_mean?.data[c] ?? 0;
      variance[c] = req.state.running_var?.data[c] ?? 1;
    }
    const v = variance[c];
    invstd[c] = v === 0 && eps === 0 && k.zeroVarianceInvStd === "zero"
      ? 0
      : k.epsilonPlacement === "inside"
      ? r(1 / r(Math.sqrt(r(v + eps))))
      : r(1 / r(r(Math.sqrt(v)) + eps));
  }
  const out = (data: number[], shape: readonly number[]) => ({
    shape,
    data: data.map((v) => roundToDType(v, req.dtype)),
  });
  const y = new Array<number>(x.data.length);
  for (let i = 0; i < x.data.length; i++) {
    const c = chan(i);
    if (p.yForm === "affine") {
      const a = r(g(c) * invstd[c]), shift = r(b(c) - r(mean[c] * a));
      const st = (v: number) => (p.store ? roundToDType(v, p.store) : v);
      y[i] = r(r(x.data[i] * st(a)) + st(shift));
    } else y[i] = r(r(r(r(x.data[i] - mean[c]) * invstd[c]) * g(c)) + b(c));
  }
  const outputs: Record<string, { shape: readonly number[]; data: ArrayLike<number> }> = { y: out(y, x.shape) };
  let tracked: number | undefined;
  if (req.mode === "train") {
    outputs.batch_mean = out(mean, [C]);
    outputs.batch_var = out(variance, [C]);
    outputs.saved_invstd = out(invstd, [C]);
    if (k.trackRunningStats) {
      tracked = req.state.num_batches_tracked + 1;
      const w = k.momentumKind === "cumulative"
        ? r(1 / tracked)
        : k.momentumKind === "new"
        ? k.momentum!
        : r(1 - k.momentum!);
      const f = k.runningVariance === "biased"
        ? 1
        : k.runningVariance === "bessel"
        ? n / (n - 1)
        : n / Math.max(n - 1, 1);
      const upd = (old: number, v: number) => r(r(r(1 - w) * old) + r(w * v));
      outputs.running_mean = out(mean.map((m, c) => upd(req.state.running_mean?.data[c] ?? 0, m)), [C]);
      outputs.running_var = out(variance.map((v, c) => upd(req.state.running_var?.data[c] ?? 1, r(v * f))), [C]);
    }
  }
  if (req.dy) {
    const dy = req.dy.data;
    const dx = new Array<number>(x.data.length), dgamma = new Array<number>(C), dbeta = new Array<number>(C);
    for (let c = 0; c < C; c++) {
      let sdy = 0, sdyx = 0;
      const xhat = (i: number) => r(r(x.data[i] - mean[c]) * invstd[c]);
      for (const i of idx[c]) {
        sdy = acc(sdy + dy[i]);
        sdyx = acc(sdyx + acc(dy[i] * xhat(i)));
      }
      dgamma[c] = r(sdyx);
      dbeta[c] = r(sdy);
      const a = r(g(c) * invstd[c]);
      // Epsilon outside the root: y = γ·(x − mean)/s + β with s = σ + eps, so the variance term carries s/σ (0 where
      // σ is 0, as the term's own limit); inside, s = σ and the factor is 1.
      const sigma = r(Math.sqrt(variance[c])), s = r(sigma + eps);
      const factor = k.epsilonPlacement === "inside" ? 1 : sigma === 0 ? 0 : r(s / sigma);
      for (const i of idx[c]) {
        dx[i] = batch ? r(r(a / n) * r(r(r(n * dy[i]) - sdy) - r(r(xhat(i) * sdyx) * factor))) : r(dy[i] * a);
      }
    }
    outputs.dx = out(dx, x.shape);
    if (k.scale ?? k.affine) outputs.dgamma = out(dgamma, [C]);
    if (k.center ?? k.affine) outputs.dbeta = out(dbeta, [C]);
  }
  return tracked === undefined ? { outputs } : { outputs, num_batches_tracked: tracked };
}

/** A step with format 1.2's exact values, where the fixture has them. */
type ExactStep = FixtureStep & {
  readonly expectedExact?: Readonly<Record<string, Tensor | number>>;
  readonly exactScale?: Readonly<Record<string, readonly number[]>>;
};

/** The values an output is judged against: the exact value (format 1.2), else the float64 twin, else `expected`. */
function targetOf(c: FixtureCase, step: ExactStep, name: string): ArrayLike<number> | undefined {
  const exact = step.expectedExact?.[name];
  if (typeof exact === "object") return exact.data;
  const twin = c.frameworkDefect ? undefined : step.expectedFloat64?.[name];
  if (typeof twin === "object") return twin.data;
  const own = step.expected?.[name];
  return typeof own === "object" ? own.data : undefined;
}

/** Element index → channel index, for an output of a step (y and dx are shaped like x; the rest are [C]). */
function channelOf(c: FixtureCase, step: FixtureStep, name: string): (i: number) => number {
  if (name !== "y" && name !== "dx") return (i) => i;
  const shape = step.inputs.x.shape;
  const axis = c.convention.axis < 0 ? c.convention.axis + shape.length : c.convention.axis;
  const channels = shape[axis] ?? 1, inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  return (i) => Math.floor(i / inner) % channels;
}

/**
 * The judge's measure of `have` against `want`: per element, ULPs of the output's dtype (its group's, format 1.3) at
 * max(|want_i|, scale_i),
 * with scale_i the exact value's error scale of the element's channel (format 1.2) or else the peak of the case's
 * target; NaN meets NaN; an infinity meets only itself; values of `want` beyond the dtype's range are rounded to it.
 */
function measure(
  c: FixtureCase,
  step: ExactStep,
  name: string,
  have: ArrayLike<number>,
  want: ArrayLike<number>,
  dtype: DType = tensorDType(c, name),
): { distance: number; bitExact: boolean } {
  if (have.length !== want.length) return { distance: Infinity, bitExact: false };
  const scale = step.exactScale?.[name], ch = channelOf(c, step, name);
  let peak = 0;
  for (const v of Array.from(targetOf(c, step, name) ?? [])) if (Number.isFinite(v)) peak = Math.max(peak, Math.abs(v));
  const max = formatInfo(dtype).maxFinite;
  let distance = 0, bitExact = true;
  for (let i = 0; i < have.length; i++) {
    const a = have[i], w = Math.abs(want[i]) > max ? roundToDType(want[i], dtype) : want[i];
    if (!(a === w || (Number.isNaN(a) && Number.isNaN(w)))) bitExact = false;
    let e: number;
    if (Number.isNaN(a) || Number.isNaN(w)) e = Number.isNaN(a) && Number.isNaN(w) ? 0 : Infinity;
    else if (!Number.isFinite(a) || !Number.isFinite(w)) e = a === w ? 0 : Infinity;
    else e = a === w ? 0 : Math.abs(a - w) / ulp(Math.max(Math.abs(w), scale ? scale[ch(i)] : peak), dtype);
    if (e > distance || Number.isNaN(e)) distance = e;
  }
  return { distance, bitExact };
}

/** One of a framework's records of one output, measured against the case's target. */
export interface RecordCheck {
  /** Step index. */
  readonly step: number;
  /** Output name. */
  readonly output: string;
  /** `expected` (the framework's output in the case's dtype) or `float64 twin` (its float64 run). */
  readonly record: "expected" | "float64 twin";
  /** The record's dtype, whose ULP is the unit. */
  readonly dtype: DType;
  /** Its largest error from the target, in ULPs of `dtype` at the target's error scale. */
  readonly ulps: number;
  /** `ulps` as a share of the budget of `dtype` for the output. */
  readonly share: number;
}

/**
 * Each framework record of a case against the case's target, by the judge's measure: the framework's own output
 * (in the case's dtype) against the exact value, or, in files without exact values, against the float64 twin; the
 * float64 twin (in float64, with float64's budget) against the exact value where there is one. A record whose share
 * exceeds 1 lies outside its witness bound: a finding (findings.ts), never charged to an implementation.
 *
 * @param c The case.
 * @returns One check per step, output and record that has a target other than itself.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { FIXTURES_URL, loadFixture, recordChecks } from "../../mod.ts";
 * const file = await loadFixture(new URL("pytorch/batchnorm3d.json", FIXTURES_URL));
 * const checks = file.cases.filter((c) => c.dtype === "float32").flatMap(recordChecks);
 * assert(checks.length > 0 && checks.every((k) => k.share <= 1));
 * ```
 */
export function recordChecks(c: FixtureCase): RecordCheck[] {
  const out: RecordCheck[] = [];
  for (const [i, s] of c.steps.entries()) {
    const step = s as ExactStep;
    const n = perChannel(c, step);
    for (const [name, own] of Object.entries(step.expected ?? {})) {
      if (typeof own !== "object") continue;
      const exact = step.expectedExact?.[name];
      const twin = step.expectedFloat64?.[name];
      const target = typeof exact === "object"
        ? exact.data
        : typeof twin === "object" && c.dtype !== "float64"
        ? twin.data
        : undefined;
      if (target) {
        // Format 1.3: each output in its own group's dtype (tensorDType), budgeted by it, as the judge does.
        const dtype = tensorDType(c, name);
        const ulps = measure(c, step, name, own.data, target, dtype).distance;
        out.push({
          step: i,
          output: name,
          record: "expected",
          dtype,
          ulps,
          share: ulps / budget(dtype, name, n),
        });
      }
      if (typeof exact === "object" && typeof twin === "object") {
        const ulps = measure(c, step, name, twin.data, exact.data, "float64").distance;
        out.push({
          step: i,
          output: name,
          record: "float64 twin",
          dtype: "float64",
          ulps,
          share: ulps / budget("float64", name, n),
        });
      }
    }
  }
  return out;
}

/** n, the elements per channel of a step's input. */
function perChannel(c: FixtureCase, step: FixtureStep): number {
  return step.inputs.x.data.length / Math.max(1, step.inputs.x.shape.at(c.convention.axis) ?? 1);
}

/** The fixture's own framework, as `name version`. */
function frameworkOf(p: Provenance): string {
  return `${p.framework} ${p.version}`;
}

/** A known finding of a framework on a case's output (see findings.ts). */
export interface KnownFinding {
  /** Its id, e.g. `F-3`. */
  readonly id: string;
  /** Its cause, in words. */
  readonly cause: string;
}

/** Options of {@linkcode diagnoseCase}. */
export interface DiagnoseOptions {
  /** The case's file provenance (whose framework recorded `expected`). */
  readonly provenance: Provenance;
  /** Outputs the implementation does not produce (not judged, never called missing). */
  readonly ignore?: readonly string[];
  /** Known findings on a (case, output) of a framework; absent: none known. */
  readonly findingFor?: (caseName: string, output: string) => KnownFinding | undefined;
  /**
   * What was wrong with the answers before any value was judged (runner.ts: an answer not in the case's dtype, an
   * implementation that threw); each gets a step diagnosis, so that no failing case goes without one.
   */
  readonly problems?: readonly string[];
}

/**
 * Diagnoses a failing case: for each failing output, the closest witness and its distance, and what each refusal
 * or unexpected answer resembles.
 *
 * @param c The case.
 * @param answers The implementation's answers, one per step.
 * @param failing The failing outputs, as (step, output) pairs.
 * @param options The file's provenance, and the findings register.
 * @returns The diagnosis.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { caseRequests, diagnoseCase, FIXTURES_URL, loadFixture, referenceAdapter } from "../../mod.ts";
 * const file = await loadFixture(new URL("pytorch/functional.json", FIXTURES_URL));
 * const c = file.cases.find((c) => c.features.includes("epsilon-placement"))!;
 * const outside = caseRequests(c).map((r) =>
 *   referenceAdapter({ ...r, convention: { ...r.convention!, epsilonPlacement: "outside" } })
 * );
 * const d = diagnoseCase(c, outside, [{ step: 0, output: "y" }], { provenance: file.provenance });
 * assert(d.outputs[0].matched && d.outputs[0].closest!.witness === "epsilon outside the square root");
 * ```
 */
export function diagnoseCase(
  c: FixtureCase,
  answers: readonly StepOutputs[],
  failing: readonly { readonly step: number; readonly output: string }[],
  options: DiagnoseOptions,
): CaseDiagnosis {
  const requests = caseRequests(c);
  const whatIfs = [...conventionWhatIfs(c.convention), ...arithmeticWhatIfs(c.dtype)];
  const byLabel = new Map(whatIfs.map((w) => [w.label, w]));
  const memo = new Map<string, StepOutputs | undefined>();
  const whatIfAnswer = (w: WhatIf, i: number) => {
    const key = `${w.label}#${i}`;
    if (!memo.has(key)) {
      let got: StepOutputs | undefined;
      try {
        got = w.answer(requests[i], answers[i]);
      } catch {
        got = undefined; // a what-if that cannot be evaluated explains nothing
      }
      memo.set(key, got);
    }
    return memo.get(key);
  };
  const framework = frameworkOf(options.provenance);
  const outputs: OutputDiagnosis[] = [];
  for (const { step: i, output: name } of failing) {
    const step = c.steps[i] as ExactStep;
    const have = answers[i]?.outputs?.[name];
    const target = targetOf(c, step, name);
    if (!have || !target) continue;
    const limit = budget(tensorDType(c, name), name, perChannel(c, step));
    const share = measure(c, step, name, have.data, target).distance / limit;
    // An answer not rounded to its dtype (an answer problem, which problemDiagnoses names) that is within the budget
    // once rounded: the rounding is the whole failure, and no what-if is compared with the unrounded values.
    const unrounded = (options.problems ?? []).some((p) => p.startsWith(`step ${i}: ${name}[`) && NOT_A_VALUE.test(p));
    const dtype = tensorDType(c, name);
    if (
      unrounded &&
      measure(c, step, name, Array.from(have.data, (v) => roundToDType(v, dtype)), target).distance <= limit
    ) continue;
    const found: WitnessDistance[] = [];
    const add = (witness: string, kind: WitnessKind, data: ArrayLike<number>, extra: Partial<WitnessDistance> = {}) => {
      const m = measure(c, step, name, have.data, data);
      found.push({ witness, kind, distance: m.distance, share: m.distance / limit, bitExact: m.bitExact, ...extra });
    };
    const own = step.expected?.[name], twin = step.expectedFloat64?.[name];
    if (typeof own === "object") {
      add(`${framework}'s recorded output (${c.dtype})`, "framework", own.data, {
        framework,
        witnessShare: measure(c, step, name, own.data, target).distance / limit,
      });
    }
    if (typeof twin === "object" && c.dtype !== "float64") {
      add(`${framework}'s float64 run`, "framework", twin.data, {
        framework,
        witnessShare: measure(
          c,
          step,
          name,
          Array.from(twin.data, (v) => roundToDType(v, tensorDType(c, name))),
          target,
        ).distance /
          limit,
      });
    }
    const measureWhatIfs = (list: readonly WhatIf[]) => {
      for (const w of list) {
        const got = whatIfAnswer(w, i)?.outputs?.[name];
        if (got && got.data.length === have.data.length) {
          add(w.label, w.kind, got.data, {
            ...(w.expects ? { expects: w.expects } : {}),
            ...(w.parts ? { parts: w.parts } : {}),
          });
        }
      }
    };
    measureWhatIfs(whatIfs);
    // Closest first; on a tie, fewer mistakes before more, then a framework's recorded output before a what-if (the
    // list's order).
    const rank = () =>
      found.map((w, order) => ({ w, order })).sort((a, b) =>
        (a.w.distance === b.w.distance ? 0 : a.w.distance < b.w.distance || Number.isNaN(b.w.distance) ? -1 : 1) ||
        (a.w.parts?.length ?? 1) - (b.w.parts?.length ?? 1) ||
        a.order - b.order
      ).map((x) => x.w);
    let ranked = rank();
    if (!(ranked[0]?.share <= 1)) {
      // No single witness explains it: several mistakes at once, drawn from the closest single ones.
      const k = requests[i].convention ?? c.convention;
      const closestOf = (list: readonly (WhatIf | undefined)[], n: number) => {
        // The closest what-if of each field (or set of fields) it changes: one epsilon, one momentum reading, ...
        const seen = new Set<string>();
        return list.filter((w) => {
          if (w === undefined) return false;
          const fields = w.change ? Object.keys(w.change(k)).sort().join() : w.label;
          return !seen.has(fields) && seen.add(fields);
        }).slice(0, n) as WhatIf[];
      };
      const measured = (kind: WitnessKind) =>
        ranked.filter((w) => w.kind === kind).map((w) => byLabel.get(w.witness)).filter((w) => w !== undefined);
      // The closest arithmetic what-ifs, in the list's order: on a tie the combination with the earlier one wins
      // (the least claim about arithmetic first).
      const arithmetic = closestOf(measured("arithmetic"), COMBINE.arithmetic)
        .sort((a, b) => whatIfs.indexOf(a) - whatIfs.indexOf(b));
      // A convention what-if that changes this output neither under the reference nor under any of those arithmetic
      // what-ifs (epsilon's placement for a running mean) explains no part of the difference: it comes after every one
      // that does. One that changes it only under an arithmetic (IEEE's 1/sqrt(0) where float32's E[x²] − E[x]² gives
      // a zero variance) counts as one that does.
      const outputOf = (answer: () => StepOutputs | undefined) => {
        try {
          return answer()?.outputs?.[name]?.data;
        } catch {
          return undefined;
        }
      };
      const changes = (w: WhatIf) => {
        const changed = { ...requests[i], convention: { ...k, ...w.change!(k) } };
        const pairs: [ArrayLike<number> | undefined, ArrayLike<number> | undefined][] = [
          [outputOf(() => whatIfAnswer(w, i)), outputOf(() => referenceAdapter(requests[i]))],
          ...arithmetic.map((via) =>
            [outputOf(() => via.answer(changed, answers[i])), outputOf(() => whatIfAnswer(via, i))] as [
              ArrayLike<number> | undefined,
              ArrayLike<number> | undefined,
            ]
          ),
        ];
        return pairs.some(([got, base]) => got !== undefined && base !== undefined && !sameValues(got, base));
      };
      // Where the reference refuses the step (a negative running variance in the recorded state), a convention what-if
      // measures nothing alone: it is ranked by whether it changes the output under an arithmetic what-if (which does
      // not refuse), after the measured ones, in the list's order.
      const conventions = [
        ...measured("convention"),
        ...whatIfs.filter((w) => w.kind === "convention" && whatIfAnswer(w, i)?.outputs?.[name] === undefined),
      ].filter((w) => w.change !== undefined);
      const active = new Map(conventions.map((w) => [w, changes(w)]));
      measureWhatIfs(combinedWhatIfs(
        closestOf(
          [...conventions.filter((w) => active.get(w)), ...conventions.filter((w) => !active.get(w))],
          COMBINE.conventions,
        ),
        arithmetic,
        k,
      ));
      ranked = rank();
    }
    const closest = ranked[0];
    const matched = closest !== undefined && closest.share <= 1;
    // A known finding on this output: beside a match with a framework's record, or where nothing matches (the
    // frameworks' own records miss the target there too).
    const known = options.findingFor?.(c.name, name);
    const finding = closest?.kind === "framework" || !matched ? known : undefined;
    const recorded = found.find((w) => w.kind === "framework" && w.witness.endsWith(`(${c.dtype})`));
    outputs.push({
      step: i,
      output: name,
      share,
      ...(closest ? { closest } : {}),
      ...(recorded ? { recorded } : {}),
      matched,
      ...(finding && !matched ? { finding } : {}),
      runnersUp: ranked.slice(1, 4),
      text: sentence(c, name, i, share, closest, matched, finding),
    });
  }
  const steps = stepDiagnoses(c, answers, whatIfs, whatIfAnswer, framework, options.ignore ?? []);
  return { outputs, steps: [...steps, ...problemDiagnoses(c, answers, options.problems ?? [], steps)] };
}

/** Equal value for value, NaN equal to NaN. */
function sameValues(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let j = 0; j < a.length; j++) if (!Object.is(a[j], b[j]) && !(a[j] === 0 && b[j] === 0)) return false;
  return true;
}

/** runner.ts's answer problem for a value that is not of its dtype: the step, the output. */
const NOT_A_VALUE = /^step (\d+): (\w+)\[\d+\] = .* is not a \w+ value/;

/** What each answer problem (runner.ts) means, where the step diagnoses do not already say it. */
function problemDiagnoses(
  c: FixtureCase,
  answers: readonly StepOutputs[],
  problems: readonly string[],
  said: readonly string[],
): string[] {
  const out: string[] = [];
  for (const p of problems) {
    const unrounded = p.match(NOT_A_VALUE);
    const threw = p.match(/^the implementation failed: (.*)$/s);
    if (unrounded) {
      const i = Number(unrounded[1]), name = unrounded[2], step = c.steps[i] as ExactStep;
      const have = answers[i]?.outputs?.[name], target = targetOf(c, step, name), dtype = tensorDType(c, name);
      let rounded = "";
      if (have && target) {
        const d = measure(c, step, name, Array.from(have.data, (v) => roundToDType(v, dtype)), target).distance;
        const share = d / budget(dtype, name, perChannel(c, step));
        rounded = `; rounded to ${dtype} once it is ${ulps(d)} from the target (${
          share <= 1 ? "within" : Number.isFinite(share) ? `${share.toPrecision(3)}×` : "beyond"
        } the budget)`;
      }
      out.push(
        `step ${i}: ${name} was not rounded to ${dtype}: computed in a wider type and answered unrounded${rounded}`,
      );
    } else if (threw) {
      out.push(`the implementation threw instead of answering or refusing with a code: ${threw[1]}`);
    } else if (said.length === 0) {
      out.push(`answer problem: ${p}`); // the step diagnoses name missing outputs and refusals already
    }
  }
  return out;
}

const ulps = (d: number) => (Number.isFinite(d) ? `${d < 10 ? d.toPrecision(2) : d.toPrecision(3)} ULP` : "non-finite");

/** The one sentence of an output's diagnosis. */
function sentence(
  c: FixtureCase,
  name: string,
  step: number,
  share: number,
  w: WitnessDistance | undefined,
  matched: boolean,
  finding: KnownFinding | undefined,
): string {
  const where = `${name} (step ${step}, ${
    ulps(share * budget(tensorDType(c, name), name, perChannel(c, c.steps[step])))
  } from the target)`;
  if (!w) return `${where}: nothing to compare it with`;
  const how = w.bitExact ? "bit for bit" : `within ${ulps(w.distance)} (${w.share.toPrecision(2)}× the budget)`;
  if (!matched) {
    return `${where}: no witness explains it; the closest is ${w.witness}, ${ulps(w.distance)} away ` +
      `(${Number.isFinite(w.share) ? `${w.share.toPrecision(3)}×` : "beyond"} the budget)` +
      (finding ? `; this output is known finding ${finding.id} ${finding.cause}` : "");
  }
  if (w.kind === "framework") {
    const off = w.witnessShare !== undefined && w.witnessShare > 1
      ? `; ${w.framework} itself is ${
        Number.isFinite(w.witnessShare)
          ? `${w.witnessShare.toPrecision(3)}× the budget from the target here`
          : "non-finite here, where the target is finite"
      }${finding ? `: known finding ${finding.id} ${finding.cause}` : " (no finding recorded)"}`
      : "";
    return `${where}: equals ${w.witness} ${how}${off}`;
  }
  if (w.kind === "convention") {
    return `${where}: matches ${w.witness} ${how}; this case expects ${w.expects ?? "its own convention"}`;
  }
  return `${where}: matches ${w.witness} ${how}`;
}

/** What each refused step, or each step answered where a refusal was due, resembles. */
function stepDiagnoses(
  c: FixtureCase,
  answers: readonly StepOutputs[],
  whatIfs: readonly WhatIf[],
  whatIfAnswer: (w: WhatIf, i: number) => StepOutputs | undefined,
  framework: string,
  ignore: readonly string[],
): string[] {
  const out: string[] = [];
  for (const [i, step] of c.steps.entries()) {
    const got = answers[i];
    if (!got) break;
    if (step.expectedError && got.outputs) {
      // Which what-if computes outputs here, and which of them the answer's y resembles.
      const y = got.outputs.y;
      let best: { label: string; d: number } | undefined;
      for (const w of whatIfs) {
        const alt = whatIfAnswer(w, i)?.outputs?.y;
        if (!y || !alt || alt.data.length !== y.data.length) continue;
        const d = measure(c, step, "y", y.data, alt.data).distance;
        if (!best || d < best.d) best = { label: w.label, d };
      }
      out.push(
        `step ${i}: ${framework} refused it ("${step.expectedError.code}"); ` +
          (best
            ? `the answer's y ${best.d <= budget(c.dtype, "y", 1) ? "matches" : "is closest to"} ${best.label} (${
              ulps(best.d)
            })`
            : "the answer computed outputs that no witness explains"),
      );
    } else if (!step.expectedError && got.outputs) {
      const missing = Object.entries(step.expected ?? {}).filter(([name, want]) =>
        typeof want === "object" && !ignore.includes(name) && got.outputs?.[name] === undefined
      );
      for (const [name, want] of missing) {
        const shape = (want as Tensor).shape;
        out.push(`step ${i}: ${name} missing where ${framework} recorded one of shape [${shape.join(", ")}]`);
      }
    } else if (!step.expectedError && got.error) {
      const code = got.error.code;
      const same = whatIfs.filter((w) => whatIfAnswer(w, i)?.error?.code === code).map((w) => w.label);
      out.push(
        `step ${i}: refused ("${code}") where ${framework} computed the outputs` +
          (same.length === whatIfs.length
            ? `; the reference refuses this request too, under every neighbouring convention (a reference finding to check)`
            : same.length
            ? `; the reference refuses it under ${same.slice(0, 2).join(" / ")}`
            : ""),
      );
      break;
    }
  }
  return out;
}
