/**
 * Epsilon outside the square root on every source's kinds of data and edge cases (fixtures/composed/epsilon_outside.json,
 * scripts/generators/gen_epsilon_outside.py): the cases are there for every source and edge kind, composed and labelled
 * so, the reference passes them, the reference with epsilon inside (a deliberate mistake) fails every one whose outputs
 * depend on the placement, and the coverage of a declared `epsilonPlacement: ["outside"]` rises with them.
 */
import { assert, assertEquals } from "@std/assert";
import {
  type Adapter,
  batchNormBackward,
  type FixtureCase,
  loadAllFixtures,
  referenceAdapter,
  runSuite,
  tensor,
} from "../mod.ts";
import { coverage } from "../scripts/reports/coverage.ts";

const all = await loadAllFixtures();
const files = all.filter((f) => f.url.endsWith("composed/epsilon_outside.json"));
const cases = files.flatMap((f) => f.cases);
const PREFIX = "composed epsilon outside of: ";

/** The original case's name: what follows the prefix. */
const original = (c: FixtureCase) => c.name.slice(PREFIX.length);
const eps = (c: FixtureCase) => Math.max(c.convention.epsilon, c.convention.epsilonFloor);

Deno.test("the epsilon-outside file is composed, labelled so, and names each original case, its source and seed", () => {
  assertEquals(files.length, 1);
  const p = files[0].provenance;
  assert(p.composed && p.source === "composed" && p.generator === "scripts/generators/gen_epsilon_outside.py");
  assert(cases.length >= 40, `${cases.length} cases`);
  for (const c of cases) {
    assert(c.name.startsWith(PREFIX), c.name);
    assertEquals(c.convention.epsilonPlacement, "outside", c.name);
    assert(c.description.includes(`"${original(c)}" (seed ${c.seed})`), c.name);
    assert(/fixtures\/[a-z-]+\/[a-z_0-9]+\.json/.test(c.description), `${c.name}: no source file named`);
    assert(c.api.startsWith("composed: "), c.name);
  }
  // Each original exists in the source it names, with the same seed and inputs.
  const byName = new Map(all.filter((f) => !f.provenance.composed).flatMap((f) => f.cases).map((c) => [c.name, c]));
  for (const c of cases) {
    const o = byName.get(original(c));
    if (!o) throw new Error(`no original for ${c.name}`);
    assertEquals(o.seed, c.seed);
    assertEquals(o.convention.epsilonPlacement, "inside");
    assertEquals({ ...o.convention, epsilonPlacement: "outside" }, c.convention, c.name);
    assertEquals(o.steps.map((s) => s.inputs), c.steps.map((s) => s.inputs), c.name);
  }
});

Deno.test("epsilon outside has cases on every listed source's data and on each edge kind", () => {
  const sources = [
    "pytorch BatchNorm1d",
    "pytorch BatchNorm2d",
    "pytorch BatchNorm3d",
    "pytorch edge",
    "tfjs",
    "onnxruntime BatchNormalization opset 15",
    "onnxruntime edge",
    "tensorflow fused",
    "keras 3 tensorflow",
    "flax linen",
  ];
  for (const s of sources) {
    for (
      const dtype of s.startsWith("pytorch BatchNorm") || s.startsWith("onnxruntime Batch")
        ? ["float32", "float64"]
        : ["float32"]
    ) {
      assert(cases.some((c) => original(c).startsWith(s) && c.dtype === dtype), `no ${dtype} case on ${s} data`);
    }
  }
  const nhwc = cases.filter((c) => c.convention.axis === -1);
  assert(nhwc.some((c) => original(c).startsWith("tfjs")) && nhwc.some((c) => original(c).startsWith("tensorflow")));
  const kinds: [string, (c: FixtureCase) => boolean][] = [
    [
      "batch size 1 with spatial size > 1",
      (c) =>
        c.steps.some((s) =>
          s.mode === "train" && s.inputs.x.shape[0] === 1 &&
          s.inputs.x.data.length >
            s.inputs.x.shape[c.convention.axis < 0 ? s.inputs.x.shape.length - 1 : c.convention.axis]
        ),
    ],
    ["a constant channel, epsilon > 0", (c) => /constant.channel/.test(c.name) && eps(c) > 0],
    [
      "a constant channel, epsilon 0, zero_variance_invstd zero",
      (c) => /constant.channel/.test(c.name) && eps(c) === 0 && c.convention.zeroVarianceInvStd === "zero",
    ],
    [
      "a constant channel, epsilon 0, zero_variance_invstd ieee",
      (c) => /constant.channel/.test(c.name) && eps(c) === 0 && c.convention.zeroVarianceInvStd === "ieee",
    ],
    ["momentum 0", (c) => c.convention.momentum === 0 && c.steps.some((s) => s.mode === "train")],
    ["momentum 1", (c) => c.convention.momentum === 1 && c.steps.some((s) => s.mode === "train")],
    ["affine=False", (c) => !c.convention.affine && c.steps.some((s) => s.mode === "train")],
    [
      "track_running_stats=False, eval on batch statistics",
      (c) => !c.convention.trackRunningStats && c.steps.some((s) => s.mode === "eval"),
    ],
    [
      "inference from running statistics",
      (c) => c.convention.trackRunningStats && c.steps.some((s) => s.mode === "eval" && s.expected?.y),
    ],
    [
      "backward through batch statistics",
      (c) => c.steps.some((s) => s.mode === "train" && s.expected?.dx && s.expected?.dgamma && s.expected?.dbeta),
    ],
    [
      "backward with running statistics",
      (c) =>
        c.convention.trackRunningStats &&
        c.steps.some((s) => s.mode === "eval" && s.expected?.dx && s.expected?.dgamma),
    ],
  ];
  for (const [kind, has] of kinds) assert(cases.some(has), `no epsilon-outside case with ${kind}`);
});

Deno.test("the reference passes every epsilon-outside case", async () => {
  const r = await runSuite(files, { name: "reference", adapter: referenceAdapter });
  const bad = r.cases.filter((c) => c.status !== "pass").map((c) => `${c.name}: ${c.status} ${c.reason ?? ""}`);
  assertEquals(bad, []);
  assertEquals(r.totals.pass, cases.length);
});

Deno.test("the reference with epsilon inside fails every epsilon-outside case whose outputs depend on the placement", async () => {
  const inside: Adapter = (req) =>
    referenceAdapter({ ...req, convention: { ...req.convention!, epsilonPlacement: "inside" } });
  const r = await runSuite(files, { name: "epsilon inside", adapter: inside });
  // With epsilon 0, sqrt(var) + 0 = sqrt(var + 0): the placement changes nothing. Every other case normalizes
  // (y, dx or dgamma), so the placement moves it.
  const aimed = cases.filter((c) => eps(c) > 0).map((c) => c.name);
  assert(aimed.length >= cases.length - 6, `${aimed.length} of ${cases.length}`);
  const missed = r.cases.filter((c) => aimed.includes(c.name) && c.status !== "fail").map((c) => c.name);
  assertEquals(missed, []);
  // And where it changes nothing, the mistake is not one: those pass.
  const same = r.cases.filter((c) => !aimed.includes(c.name) && c.status !== "pass").map((c) => c.name);
  assertEquals(same, []);
});

Deno.test("a declared epsilonPlacement outside is judged on every epsilon-outside case", () => {
  const row = coverage(all.flatMap((f) => f.cases)).find((r) =>
    r.field === "epsilonPlacement" && r.value === "outside"
  )!;
  const outside = all.flatMap((f) => f.cases).filter((c) => c.convention.epsilonPlacement === "outside").length;
  assert(outside >= cases.length + 2);
  assert(row.full + row.partial >= outside, `judged on ${row.full}+${row.partial}, ${outside} place epsilon outside`);
});

Deno.test("outside the root, a constant channel with epsilon 0 follows the zero-variance rule in every dtype", () => {
  // Channel 0 constant, channel 1 not: under "ieee" x̂ = 0·Infinity is NaN on channel 0, so dx is NaN there (the second
  // term is not taken as 0); under "zero" invstd is 0 and dx is 0. Channel 1 is finite either way.
  for (const dtype of ["float32", "float64"] as const) {
    const x = tensor(dtype, [4, 2], [3, 1, 3, -2, 3, 0.5, 3, 4]);
    const dy = tensor(dtype, [4, 2], [1, 0.25, -2, 1, 0.5, -1, 4, 2]);
    for (const rule of ["ieee", "zero"] as const) {
      const r = batchNormBackward(x, dy, { gamma: [2, 1.5], beta: [1, 0] }, "train", {
        epsilon: 0,
        epsilonPlacement: "outside",
        zeroVarianceInvStd: rule,
      });
      const ch0 = [0, 2, 4, 6].map((i) => r.dx.data[i]);
      const ch1 = [1, 3, 5, 7].map((i) => r.dx.data[i]);
      if (rule === "ieee") assert(ch0.every(Number.isNaN), `${dtype} ieee: ${ch0}`);
      else assertEquals(ch0, [0, 0, 0, 0], `${dtype} zero`);
      assert(ch1.every(Number.isFinite), `${dtype} ${rule}: ${ch1}`);
    }
  }
});
