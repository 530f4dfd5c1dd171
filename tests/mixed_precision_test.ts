/**
 * Mixed precision and center/scale (format 1.3), tested both ways. Cases built here from seeded data, with their
 * expectations from the exact evaluator (src/conformance/exact.ts, not the reference): float16 and bfloat16 data with
 * float32 parameters, running and saved statistics (TensorFlow's fused kernel), float64 data with float32 running
 * statistics (flax.nnx), and the four center/scale combinations. The reference (correctly rounded per output) passes
 * every one; an implementation that rounds the float32 running statistics to the data's float16 fails, as do one that
 * ignores center/scale and one that swaps them. The reference refuses state of the wrong dtype, naming the tensor.
 */
import { assert, assertEquals, assertThrows } from "@std/assert";
import {
  BatchNormError,
  batchNormTrain,
  budget,
  caseRequests,
  compareExact,
  exactStepWithScales,
  type FixtureCase,
  randomCase,
  referenceAdapter,
  roundToDType,
  runCase,
  runSuite,
  type StepOutputs,
  type StepRequest,
  type StepState,
  tensor,
  tensorDType,
} from "../mod.ts";
import { CENTER_SCALE, F32_STATE, MIXED } from "./_mixed_cases.ts";

Deno.test("the reference passes mixed-precision cases, each output correctly rounded to its own dtype", async () => {
  for (const c of MIXED) {
    const r = await runCase(c, referenceAdapter);
    assert(r.pass, `${c.name}: ${r.reason}`);
    // Correctly rounded: every output equals the exact value rounded into its own dtype, bit for bit.
    for (const [i, step] of c.steps.entries()) {
      const got = referenceAdapter(
        {
          mode: step.mode,
          dtype: c.dtype,
          dtypes: c.dtypes,
          convention: c.convention,
          ...step.inputs,
          state: state(c, i),
        },
      );
      for (const [k, want] of Object.entries(step.expected!)) {
        if (typeof want === "number") continue;
        const have = got.outputs![k];
        assertEquals(have.dtype, tensorDType(c, k), `${c.name} ${k}`);
        assertEquals(Array.from(have.data), Array.from(want.data), `${c.name} step ${i} ${k}`);
      }
    }
    // The worst share of budget, for the record: far inside.
    const worst = Math.max(...r.checks.map((k) => k.comparison.maxError / Math.max(1e-300, k.comparison.tolerance)));
    assert(worst <= 0.1, `${c.name}: worst share ${worst}`);
  }
});

/** The state step i starts from (the recorded one, as the harness gives it). */
function state(c: FixtureCase, i: number): StepState {
  const s = c.initialState;
  const prev = i > 0 ? c.steps[i - 1].expected! : undefined;
  return {
    gamma: s.gamma,
    beta: s.beta,
    running_mean: (prev?.running_mean as ReturnType<typeof tensor>) ?? s.runningMean,
    running_var: (prev?.running_var as ReturnType<typeof tensor>) ?? s.runningVar,
    num_batches_tracked: i,
  };
}

Deno.test("an answer that rounds the float32 statistics to the data's float16 fails, naming the output", async () => {
  const c = MIXED[0];
  // A float16 implementation that keeps its state in float16, as a uniform float16 layer does.
  const narrow = (r: StepRequest): StepOutputs => {
    const out = referenceAdapter(r);
    const outputs = Object.fromEntries(
      Object.entries(out.outputs!).map(([k, t]) => [
        k,
        { dtype: "float32", shape: t.shape, data: Array.from(t.data, (v) => roundToDType(v, "float16")) },
      ]),
    );
    for (const k of ["y", "dx"]) outputs[k] = out.outputs![k] as typeof outputs[string];
    return { ...out, outputs };
  };
  const r = await runCase(c, narrow);
  assert(!r.pass);
  const failed = new Set(r.checks.filter((k) => !k.comparison.pass).map((k) => k.output));
  for (const k of ["running_var", "batch_var", "saved_invstd", "dgamma"]) assert(failed.has(k), `${k} passed`);
  assert(/\(float32\)/.test(r.reason!), r.reason);
  // Through the runner, a float16-labelled running_var is an answer problem too: its group's dtype is float32.
  const labelled = (rq: StepRequest): StepOutputs => {
    const out = referenceAdapter(rq);
    return {
      ...out,
      outputs: {
        ...out.outputs,
        ...(out.outputs!.running_var ? { running_var: { ...out.outputs!.running_var, dtype: "float16" } } : {}),
      },
    };
  };
  const file = { url: "mixed.json", formatVersion: "1.3", provenance: PROVENANCE, cases: [c] };
  const report = await runSuite([file], { name: "labelled", adapter: labelled });
  assertEquals(report.totals.fail, 1);
  assert(
    report.cases[0].problems?.some((p) =>
      p.includes('running_var has dtype "float16", its group\'s (running) is "float32"')
    ),
    JSON.stringify(report.cases[0].problems),
  );
  // And the reference passes it through the runner.
  assertEquals((await runSuite([file], { name: "reference", adapter: referenceAdapter })).totals.pass, 1);
});

const PROVENANCE = {
  source: "test",
  framework: "exact evaluator",
  version: "-",
  api: "-",
  generator: "tests/mixed_precision_test.ts",
  command: "-",
  seed: 0,
  composed: true,
};

Deno.test("center and scale: the reference passes all four; ignoring or swapping them fails", async () => {
  for (const c of CENTER_SCALE) {
    const r = await runCase(c, referenceAdapter);
    assert(r.pass, `${c.name}: ${r.reason}`);
    const want = [c.convention.scale ? "dgamma" : "", c.convention.center ? "dbeta" : ""].filter(Boolean);
    assertEquals(Object.keys(c.steps[0].expected!).filter((k) => k === "dgamma" || k === "dbeta"), want);
  }
  // Ignoring center/scale: affine alone decides (so beta-only and gamma-only cases lose their shift or scale).
  const ignoring = (r: StepRequest): StepOutputs => {
    const { center: _c, scale: _s, ...plain } = r.convention!;
    return referenceAdapter({ ...r, convention: plain });
  };
  // Swapping them: gamma's values used as beta and beta's as gamma.
  const swapping = (r: StepRequest): StepOutputs => {
    const k = r.convention!;
    const out = referenceAdapter({
      ...r,
      convention: { ...k, center: k.scale, scale: k.center },
      state: { ...r.state, gamma: r.state.beta, beta: r.state.gamma },
    });
    if (!out.outputs) return out;
    const { dgamma, dbeta, ...rest } = out.outputs;
    return { ...out, outputs: { ...rest, ...(dbeta ? { dgamma: dbeta } : {}), ...(dgamma ? { dbeta: dgamma } : {}) } };
  };
  for (const c of CENTER_SCALE.filter((c) => c.convention.center !== c.convention.scale)) {
    for (const [what, wrong] of [["ignoring", ignoring], ["swapping", swapping]] as const) {
      const r = await runCase(c, wrong);
      assert(!r.pass, `${c.name}: ${what} center/scale passed`);
    }
  }
});

Deno.test("the reference takes mixed dtypes as options and refuses state outside them, naming the tensor", () => {
  const x = tensor("float16", [2, 2], [1, 2, 3, 5]); // channels last: 2 channels
  const r = batchNormTrain(x, { gamma: [Math.fround(0.1), 1], beta: [0, 0] }, "tensorflow", { dtypes: F32_STATE });
  assertEquals([r.y.dtype, r.batchMean.dtype, r.batchVar.dtype, r.invStd.dtype], [
    "float16",
    "float32",
    "float32",
    "float32",
  ]);
  assert(r.state.runningVar instanceof Float32Array);
  // 0.1 is no float32 value: gamma in params' float32 is checked as float32.
  const e = assertThrows(
    () => batchNormTrain(x, { gamma: [0.1, 1], beta: [0, 0] }, "tensorflow", { dtypes: { params: "float32" } }),
    BatchNormError,
  );
  assert(e.message.includes("state.gamma"), e.message);
  // Float32 running statistics into a float16 running group are refused.
  assertThrows(
    () =>
      batchNormTrain(x, { gamma: [1, 1], beta: [0, 0], runningVar: [Math.fround(1.1), 1] }, "tensorflow", {
        dtypes: { params: "float32", running: "float16" },
      }),
    BatchNormError,
    "state.runningVar",
  );
  assertThrows(
    () => batchNormTrain(x, {}, "tensorflow", { dtypes: { grads: "float32" } as never }),
    BatchNormError,
    "unknown group",
  );
  // The adapter refuses a state tensor whose dtype is not its group's, naming it.
  const c = MIXED[0];
  const out = referenceAdapter({
    mode: "train",
    dtype: c.dtype,
    dtypes: c.dtypes,
    convention: c.convention,
    x: c.steps[0].inputs.x,
    state: { ...state(c, 0), running_var: tensor("float16", [3], [1, 1, 1]) },
  });
  assertEquals(out.error?.message, "running_var is float16 but the case's running dtype is float32");
});

Deno.test("random cases made mixed: the reference passes every output, within a tenth of its budget where correctly rounded", () => {
  const combos = [
    { data: "float16", params: "float32", running: "float32", saved: "float32" },
    { data: "bfloat16", params: "float32", running: "float32", saved: "float32" },
    { data: "float32", params: "float64", running: "float64", saved: "float64" },
    { data: "float64", params: "float64", running: "float32", saved: "float64" },
  ] as const;
  let outputs = 0, worst = 0;
  for (let i = 0; i < 300; i++) {
    const c = randomCase(19n, i);
    for (const d of combos.filter((d) => d.data === c.dtype)) {
      for (const req of caseRequests(c)) {
        // The recorded state in its group's dtype (widening keeps the values; float64 into float32 rounds them).
        const group = (k: string) => (k === "gamma" || k === "beta" ? d.params : d.running);
        const state = Object.fromEntries(
          Object.entries(req.state).map(([k, v]) => [
            k,
            typeof v === "object"
              ? {
                ...v,
                dtype: group(k),
                data: Array.from(v.data as ArrayLike<number>, (x) => roundToDType(x, group(k))),
              }
              : v,
          ]),
        ) as unknown as StepState;
        const r: StepRequest = { ...req, dtypes: d, state };
        const { answers: [exact], scales } = exactStepWithScales(r, ["float64"]);
        const got = referenceAdapter(r);
        assertEquals(!!got.error, !!exact.error, `${c.name}: ${got.error?.message ?? exact.error?.message}`);
        if (got.error) continue;
        const axis = c.convention.axis < 0 ? c.convention.axis + r.x.shape.length : c.convention.axis;
        const C = r.x.shape[axis], inner = r.x.shape.slice(axis + 1).reduce((a, b) => a * b, 1);
        const n = r.x.data.length / Math.max(1, C);
        for (const [k, t] of Object.entries(exact.outputs!)) {
          const dt = tensorDType(r, k);
          assertEquals(got.outputs![k].dtype, dt, `${c.name} ${k}`);
          const ch = (j: number) => (k === "y" || k === "dx" ? Math.floor(j / inner) % C : j);
          const cmp = compareExact(got.outputs![k].data, t.data, (j) => scales![k][ch(j)], dt, budget(dt, k, n));
          assert(cmp.pass, `${c.name} (${d.data} data, ${d.running} running) ${k}: ${cmp.maxError} > ${cmp.tolerance}`);
          // Correctly rounded (a share <= 1/12) except a float64 output of narrower data: binary64 intermediates put
          // it within a few float64 ULP (docs/reference.md, "Mixed precision"), still far inside its budget.
          if (dt !== "float64" || d.data === "float64") worst = Math.max(worst, cmp.maxError / cmp.tolerance);
          outputs++;
        }
      }
    }
  }
  assert(outputs > 2000, `${outputs} outputs`);
  assert(worst <= 0.1, `worst share ${worst}`);
});
