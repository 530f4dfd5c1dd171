/**
 * The what-ifs of real engines' mistakes (src/conformance/diagnosis.ts, `engineWhatIfs`), tested both ways: each
 * mistake, written here apart from diagnosis.ts as a mutant of the reference, is diagnosed as itself on every output it
 * fails; the reference's own answers are never diagnosed; and no diagnosis changes a verdict (the same run without
 * diagnoses has the same statuses, and nothing is passed as faithful).
 */
import { assert, assertEquals } from "@std/assert";
import {
  type Adapter,
  type FixtureCase,
  type FixtureFile,
  loadAllFixtures,
  referenceAdapter,
  resolveConvention,
  roundToDType,
  runSuite,
  type StepOutputs,
  type StepRequest,
} from "../mod.ts";

const files: FixtureFile[] = await loadAllFixtures();

/** The fixtures, narrowed to the cases a mutant changes. */
const only = (keep: (c: FixtureCase) => boolean): FixtureFile[] =>
  files.map((f) => ({ ...f, cases: f.cases.filter(keep) })).filter((f) => f.cases.length > 0);

/** Elements per channel of a request. */
function perChannel(r: StepRequest): { C: number; n: number; channel: (i: number) => number } {
  const k = resolveConvention(r.convention), shape = r.x.shape;
  const axis = k.axis < 0 ? k.axis + shape.length : k.axis;
  const C = shape[axis] ?? 1, inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  return { C, n: r.x.data.length / Math.max(C, 1), channel: (i) => Math.floor(i / inner) % C };
}

/** PaddlePaddle 3.3.1 on one value per channel in training: y = x, nothing else computed. */
const copyThrough: Adapter = (r) => {
  const { C, n } = perChannel(r);
  const own = referenceAdapter(r);
  if (r.mode !== "train" || n !== 1 || !own.outputs) return own;
  const outputs: Record<string, { shape: readonly number[]; data: ArrayLike<number> }> = {
    y: { shape: r.x.shape, data: r.x.data },
  };
  if (own.outputs.running_mean) outputs.running_mean = r.state.running_mean ?? { shape: [C], data: Array(C).fill(0) };
  if (own.outputs.running_var) outputs.running_var = r.state.running_var ?? { shape: [C], data: Array(C).fill(1) };
  if (r.dy) outputs.dx = { shape: r.x.shape, data: r.dy.data };
  if (own.outputs.dgamma) outputs.dgamma = { shape: [C], data: new Float64Array(C) };
  if (own.outputs.dbeta) outputs.dbeta = { shape: [C], data: new Float64Array(C) };
  return { ...own, outputs };
};

/** onnx.reference's opset 9: inference normalized with m·running + (1 − m)·batch statistics, m the momentum or 0.9. */
const blended: Adapter = (r) => {
  const k = resolveConvention(r.convention);
  if (r.mode !== "eval" || !k.trackRunningStats || !r.state.running_mean || !r.state.running_var) {
    return referenceAdapter(r);
  }
  const { C, n, channel } = perChannel(r);
  const sum = new Float64Array(C), sq = new Float64Array(C);
  Array.from(r.x.data).forEach((v, i) => (sum[channel(i)] += v));
  const mean = Array.from(sum, (s) => s / n); // the statistics in the case's dtype, as the engine keeps them
  Array.from(r.x.data).forEach((v, i) => (sq[channel(i)] += (v - mean[channel(i)]) ** 2));
  const m = Math.fround(k.momentum ?? 0.9), rest = Math.fround(1 - m);
  const blend = (run: ArrayLike<number>, batch: ArrayLike<number>) =>
    Array.from(run, (v, c) => roundToDType(m * v + rest * roundToDType(batch[c], r.dtype), r.dtype));
  return referenceAdapter({
    ...r,
    convention: { ...k, epsilon: Math.fround(k.epsilon) },
    state: {
      ...r.state,
      running_mean: { ...r.state.running_mean, data: blend(r.state.running_mean.data, mean) },
      running_var: { ...r.state.running_var, data: blend(r.state.running_var.data, Array.from(sq, (s) => s / n)) },
    },
  });
};

/** onnx.reference's training step: `mean * momentum + saved_mean * (1 - momentum)` with a numpy float32 momentum. */
const float32Weights: Adapter = (r) => {
  const own = referenceAdapter(r), k = resolveConvention(r.convention);
  const o = own.outputs;
  if (r.mode !== "train" || !o?.running_mean || !o.running_var || k.momentum === null) return own;
  if (k.momentumKind === "cumulative") return own;
  const { n } = perChannel(r);
  const m = Math.fround(k.momentum), rest = Math.fround(1 - m);
  const [keep, take] = k.momentumKind === "old" ? [m, rest] : [rest, m];
  const factor = k.runningVariance === "biased" ? 1 : n / Math.max(n - 1, 1);
  const rd = (v: number) => roundToDType(v, r.dtype);
  const upd = (run: ArrayLike<number> | undefined, batch: ArrayLike<number>, init: number, f: number) =>
    Array.from(batch, (b, c) => rd(rd(keep * (run?.[c] ?? init)) + rd(take * rd(b * f))));
  return {
    ...own,
    outputs: {
      ...o,
      running_mean: { ...o.running_mean, data: upd(r.state.running_mean?.data, o.batch_mean!.data, 0, 1) },
      running_var: { ...o.running_var, data: upd(r.state.running_var?.data, o.batch_var!.data, 1, factor) },
    },
  };
};

/** LiteRT with float16 weights: scale and shift folded in float32, stored as float16, y = x·a + b in float32. */
const float16Folded: Adapter = (r) => {
  const k = resolveConvention(r.convention);
  if (r.mode !== "eval" || !k.trackRunningStats || r.dtype !== "float32" || r.dy) return referenceAdapter(r);
  const f = Math.fround, h = (v: number) => roundToDType(v, "float16");
  const { C, channel } = perChannel(r);
  const at = (t: { data: ArrayLike<number> } | undefined, c: number, d: number) => t?.data[c] ?? d;
  const a = new Array<number>(C), b = new Array<number>(C);
  for (let c = 0; c < C; c++) {
    const v = at(r.state.running_var, c, 1), mu = at(r.state.running_mean, c, 0);
    const sc = f(at(r.state.gamma, c, 1) * f(1 / f(Math.sqrt(f(v + f(k.epsilon))))));
    a[c] = h(sc);
    b[c] = h(f(at(r.state.beta, c, 0) - f(mu * sc)));
  }
  const y = Array.from(r.x.data, (x, i) => f(f(x * a[channel(i)]) + b[channel(i)]));
  return { outputs: { y: { dtype: "float32", shape: r.x.shape, data: y } } };
};

/** TF.js wasm on an empty batch: batch statistics are uninitialised memory (tiny denormals here). */
const garbageEmpty: Adapter = (r) => {
  const own = referenceAdapter(r);
  const o = own.outputs;
  if (r.mode !== "train" || r.x.data.length !== 0 || !o?.batch_mean || !o.batch_var) return own;
  const junk = (s: number) => Array.from(o.batch_mean!.data, (_, c) => roundToDType((c + s) * 3e-41, r.dtype));
  const out: Record<string, { shape: readonly number[]; data: ArrayLike<number> }> = {
    ...o,
    batch_mean: { ...o.batch_mean, data: junk(1) },
    batch_var: { ...o.batch_var, data: junk(2) },
  };
  if (o.running_mean) {
    out.running_mean = {
      ...o.running_mean,
      data: junk(3).map((v) => roundToDType(v / 100, r.dtype)),
    };
  }
  return { ...own, outputs: out } as StepOutputs;
};

/** A float32 step computed in bfloat16 throughout: every operation rounded to bfloat16 (OpenVINO's bf16 hint). */
const bfloat16Arithmetic: Adapter = (r) => {
  const k = resolveConvention(r.convention);
  if (r.mode !== "eval" || !k.trackRunningStats || r.dy) return referenceAdapter(r);
  const b = (v: number) => roundToDType(v, "bfloat16");
  const { channel } = perChannel(r);
  const at = (t: { data: ArrayLike<number> } | undefined, c: number, d: number) => t?.data[c] ?? d;
  const y = Array.from(r.x.data, (x, i) => {
    const c = channel(i);
    const inv = b(1 / b(Math.sqrt(b(at(r.state.running_var, c, 1) + b(k.epsilon)))));
    return b(b(b(b(x - at(r.state.running_mean, c, 0)) * inv) * at(r.state.gamma, c, 1)) + at(r.state.beta, c, 0));
  });
  return { outputs: { y: { dtype: r.dtype, shape: r.x.shape, data: y } } };
};

const oneValue = (c: FixtureCase) =>
  c.steps.some((s) => s.mode === "train" && s.inputs.x.data.length === (s.inputs.x.shape.at(c.convention.axis) ?? 0));

const MUTANTS: { name: string; adapter: Adapter; cases: FixtureFile[]; diagnosed: RegExp }[] = [
  {
    name: "y = x copied through on one value per channel (PaddlePaddle 3.3.1)",
    adapter: copyThrough,
    cases: only((c) => oneValue(c) && c.convention.singleValueTraining !== "error"),
    diagnosed: /^y = x copied through/,
  },
  {
    name: "inference as a training step with the node's momentum (onnx.reference opset 9)",
    adapter: blended,
    cases: only((c) =>
      (c.dtype === "float32" || c.dtype === "float64") && !c.dtypes && c.steps.some((s) => s.mode === "eval") &&
      !c.name.includes("NaN")
    ),
    diagnosed: /^inference computed as a training step/,
  },
  {
    name: "running-statistic weights in float32 (onnx.reference)",
    adapter: float32Weights,
    cases: only((c) => c.dtype === "float64" && c.convention.momentumKind !== "cumulative"),
    diagnosed: /^the running-statistic weights in float32/,
  },
  {
    name: "scale and shift stored as float16 (LiteRT float16 weights)",
    adapter: float16Folded,
    cases: only((c) => c.dtype === "float32" && c.steps.every((s) => s.mode === "eval" && !s.inputs.dy)),
    diagnosed: /stored as float16/,
  },
  {
    name: "a float32 step computed in bfloat16 (OpenVINO's bf16 precision hint)",
    adapter: bfloat16Arithmetic,
    cases: only((c) =>
      c.dtype === "float32" && !c.dtypes && c.steps.every((s) => s.mode === "eval" && !s.inputs.dy) &&
      c.convention.epsilonFloor === 0 && c.convention.epsilonPlacement === "inside"
    ),
    diagnosed: /^computed in bfloat16/,
  },
  {
    name: "an empty batch's statistics left as uninitialised memory (TF.js wasm)",
    adapter: garbageEmpty,
    cases: only((c) => c.steps.some((s) => s.inputs.x.data.length === 0)),
    diagnosed: /^an empty batch's statistics left undefined/,
  },
];

for (const m of MUTANTS) {
  Deno.test(`diagnoseCase() names an engine's mistake as itself: ${m.name}`, async () => {
    const impl = { name: m.name, adapter: m.adapter };
    const r = await runSuite(m.cases, impl);
    let outputs = 0, named = 0;
    for (const c of r.cases.filter((c) => c.status === "fail")) {
      assert(c.diagnosis, `${c.name}: no diagnosis`);
      const failing = new Set((c.failures ?? []).map((f) => `${f.step} ${f.output}`));
      for (const o of c.diagnosis!.outputs) {
        outputs++;
        // Only failing outputs are diagnosed.
        assert(failing.size === 0 || failing.has(`${o.step} ${o.output}`), `${c.name}: ${o.output} did not fail`);
        assert(o.matched, `${c.name}: ${o.text}`);
        const tied = [o.closest!, ...o.runnersUp].filter((w) => w.distance === o.closest!.distance);
        if (tied.some((w) => m.diagnosed.test(w.witness) || w.parts?.some((p) => m.diagnosed.test(p)))) named++;
      }
    }
    assert(outputs > 0, `${m.name} fails nothing it was meant to`);
    // Its own mistake, or one that answers the same here (the mutant's other outputs are the reference's).
    assert(named >= 0.9 * outputs, `${m.name}: ${named} of ${outputs} failing outputs named as the mistake`);
    // A diagnosis never changes a verdict.
    const blind = await runSuite(m.cases, impl, { diagnose: false });
    assertEquals(r.cases.map((c) => c.status), blind.cases.map((c) => c.status));
    assertEquals(r.cases.filter((c) => c.faithfulTo).length, 0);
  });
}

Deno.test("diagnoseCase() gives the reference's own answers no diagnosis on the cases the engine mutants change", async () => {
  for (const m of MUTANTS) {
    const r = await runSuite(m.cases, { name: "reference", adapter: referenceAdapter });
    for (const c of r.cases) assert(c.status !== "pass" || c.diagnosis === undefined, `${m.name}: ${c.name}`);
    assertEquals(r.cases.filter((c) => c.diagnosis?.outputs.length).map((c) => c.name), [], m.name);
  }
});
