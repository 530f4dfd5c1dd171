/**
 * The runner's verdicts that must never be green by accident: answers of another dtype, a case with nothing left
 * to judge, a defect case answered badly; and what the summary says about what it did not check or measure.
 */
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { CONFIG_KEYS } from "../src/conformance/config.ts";
import {
  type Adapter,
  describeFailure,
  fingerprint,
  formatSummary,
  type Implementation,
  judgedExpectation,
  loadAllFixtures,
  referenceAdapter,
  runSuite,
  type StepOutputs,
  type StepRequest,
  toJSON,
} from "../mod.ts";

const files = await loadAllFixtures();
const float32Case = { select: { sources: ["pytorch"], name: /^pytorch BatchNorm2d float32 2x3x4x5 train x3/ } };

/** The reference's answer, every output relabelled (and optionally re-valued). */
const relabel = (dtype: string, value?: (v: number) => number): Adapter => (request) => {
  const out = referenceAdapter(request);
  if (!out.outputs) return out;
  const outputs = Object.fromEntries(
    Object.entries(out.outputs).map((
      [k, t],
    ) => [k, { dtype, shape: t.shape, data: Array.from(t.data, value ?? Number) }]),
  );
  return { ...out, outputs } as StepOutputs;
};

Deno.test("runSuite(): an answer labelled with another dtype fails, whatever its numbers", async () => {
  for (const dtype of ["int8", "float16", "float64"]) {
    const r = await runSuite(files, { name: dtype, adapter: relabel(dtype) }, float32Case);
    assertEquals(r.cases.map((c) => c.status), ["fail"], dtype);
    assertStringIncludes(r.cases[0].reason!, `has dtype "${dtype}", the case's is "float32"`);
  }
  // The same answer, labelled right, passes: the label alone decided.
  const right = await runSuite(files, { name: "float32", adapter: relabel("float32") }, float32Case);
  assertEquals(right.cases.map((c) => c.status), ["pass"]);
});

Deno.test("runSuite(): float64 values in a float32 answer fail (the one dtype rule: round to the case's dtype)", async () => {
  // Each value nudged off the float32 grid by far less than the budget: the numbers would pass, the dtype does not.
  const nudge = (v: number) => (Number.isFinite(v) && v !== 0 ? v * (1 + 2 ** -40) : v);
  const r = await runSuite(files, { name: "wide", adapter: relabel("float32", nudge) }, float32Case);
  assertEquals(r.cases[0].status, "fail");
  assertStringIncludes(r.cases[0].reason!, "is not a float32 value (answer in the case's dtype)");
});

Deno.test("runSuite(): a case with nothing left to judge is skipped, not passed", async () => {
  const impl: Implementation = { name: "dx only", adapter: referenceAdapter, supports: { outputs: ["dx"] } };
  const r = await runSuite(files, impl, { select: { sources: ["onnx-testdata"] } });
  assertEquals(r.totals.pass, 0);
  assert(r.cases.every((c) => c.status === "skip" && c.reason!.startsWith("nothing to judge")));
});

Deno.test("runSuite(): a defect case passes only a complete answer that differs from the defect", async () => {
  const select = { select: { features: ["known-framework-defect"] } };
  const refuse: Implementation = {
    name: "refuses",
    adapter: () => ({ error: { code: "invalid_option", message: "no" } }),
  };
  // Right numbers, but y left out: incomplete, so it fails although it "differs from the defect".
  const noY: Implementation = {
    name: "forgets y",
    adapter: (req) => {
      const out = referenceAdapter(req);
      const { y: _, ...rest } = out.outputs ?? {};
      return { ...out, outputs: rest };
    },
  };
  for (const impl of [refuse, noY]) {
    const r = await runSuite(files, impl, select);
    assert(r.cases.length > 0);
    assertEquals(r.totals.pass, 0, `${impl.name}: ${r.cases.map((c) => c.reason).join("; ")}`);
  }
  const reference = await runSuite(files, { name: "reference", adapter: referenceAdapter }, select);
  assertEquals(reference.totals.pass, reference.cases.length);
});

Deno.test("formatSummary(): says which outputs went unchecked and why, and '-' where nothing was measured", async () => {
  const forward: Implementation = {
    name: "forward only",
    adapter: (req) => referenceAdapter({ ...req, dy: undefined }),
    supports: { backward: false },
  };
  const r = await runSuite(files, forward, { select: { sources: ["pytorch"], name: /^pytorch BatchNorm2d float32/ } });
  const text = formatSummary(r);
  assertStringIncludes(text, "Not checked (the implementation declared backward: false): dx in ");
  assertEquals(r.totals.fail, 0);
  const crash: Implementation = {
    name: "crash",
    adapter: () => {
      throw new Error("segfault");
    },
  };
  const c = formatSummary(await runSuite(files, crash, { select: { sources: ["onnx-testdata"] } }));
  assert(/onnx-testdata\s+4\s+0\s+4\s+0\s+0\s+0\s+-\n/.test(c), c);
  assertStringIncludes(c, "nothing measured");
  assert(!c.includes("0.00"));
});

Deno.test("reports show an expectation beyond the dtype's range as judged (Infinity), and JSON keeps Infinity", () => {
  assertEquals(judgedExpectation(2.6e76, "float32"), Infinity);
  assertEquals(judgedExpectation(-1e300, "bfloat16"), -Infinity);
  assertEquals(judgedExpectation(65504, "float16"), 65504);
  const line = describeFailure({
    step: 1,
    output: "y",
    error: Infinity,
    budget: 6,
    basis: "6 ULP (float32) at the tensor's peak: an elementwise output",
    index: 3,
    actual: 3.4e38,
    expected: Infinity,
    stored: 2.6e76,
  });
  assertStringIncludes(line, "step 1 y: Infinity ULP > budget 6 ULP");
  assertStringIncludes(line, "expected Infinity (stored 2.6e+76, beyond the dtype's range)");
  const json = toJSON({
    implementation: "x",
    cases: [{ name: "c", source: "s", file: "f", dtype: "float32", status: "fail", ms: 0, worstShare: Infinity }],
    totals: { pass: 0, fail: 1, skip: 0, xfail: 0, xpass: 0 },
  });
  assertEquals(JSON.parse(json).cases[0].worstShare, "Infinity");
});

Deno.test("the composed cases bite: epsilon inside fails the outside cases, accepting an empty batch fails its refusal", async () => {
  const composed = { select: { sources: ["composed"] } };
  const inside = await runSuite(files, {
    name: "inside",
    adapter: (req) => referenceAdapter({ ...req, convention: { ...req.convention!, epsilonPlacement: "inside" } }),
  }, composed);
  // composed/conventions.json's own two (those on the frameworks' data: tests/epsilon_outside_test.ts).
  const outside = inside.cases.filter((c) => c.name.includes("epsilon outside") && !c.name.includes("outside of: "));
  assertEquals(outside.length, 2);
  assert(outside.every((c) => c.status === "fail"), JSON.stringify(outside.map((c) => c.reason)));
  const accepting = await runSuite(files, {
    name: "accepts empty batches",
    adapter: (req) => referenceAdapter({ ...req, convention: { ...req.convention!, emptyBatch: "unchanged" } }),
  }, composed);
  const empty = accepting.cases.find((c) => c.name.includes("empty batch refused"))!;
  assertEquals(empty.status, "fail");
  assertStringIncludes(empty.reason!, 'expected error "empty_batch"');
  // And the options they exercise are no longer declared in vain: each has a case.
  const all = files.flatMap((f) => f.cases);
  assert(all.some((c) => c.convention.epsilonPlacement === "outside"));
  assert(all.some((c) => c.convention.emptyBatch === "error" && c.steps.some((s) => s.inputs.x.data.length === 0)));
});

Deno.test("fingerprint() sends a complete convention or none (its options in defaultsExcept): the types tell the truth", async () => {
  const seen: StepRequest[] = [];
  await fingerprint({
    name: "recorder",
    adapter: (req) => {
      seen.push(req);
      return referenceAdapter(req);
    },
  });
  assert(seen.length > 5);
  const keys = Object.keys(CONFIG_KEYS).sort().join();
  for (const req of seen) {
    if (req.convention) assertEquals(Object.keys(req.convention).sort().join(), keys);
  }
  // The momentum probe asks for the implementation's defaults with one option set, and says so in its own field.
  assert(seen.some((r) => r.convention === undefined && r.defaultsExcept?.momentum === 0.3));
});
