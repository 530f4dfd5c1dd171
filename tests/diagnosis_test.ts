/**
 * The diagnosis, tested both ways: each deliberate mistake is diagnosed as itself on every output it fails, the
 * reference is never diagnosed (it fails nothing), and no diagnosis turns a failure into a pass unless
 * `faithfulTo` asks for it and the answer equals that framework's recorded output.
 */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import {
  type Adapter,
  caseRequests,
  type FixtureFile,
  formatSummary,
  loadAllFixtures,
  referenceAdapter,
  resolveConvention,
  runSuite,
  type StepRequest,
  type SuiteReport,
  toJUnit,
} from "../mod.ts";
import { renderHtmlReport } from "../scripts/reports/html_report.ts";

const files: FixtureFile[] = await loadAllFixtures();

/** The reference with one convention field changed: a deliberate convention mistake. */
const wrong = (change: (r: StepRequest) => object): Adapter => (req) =>
  referenceAdapter({ ...req, convention: { ...req.convention!, ...change(req) } });

/** A float32 textbook forward with E[x²] − E[x]², every operation rounded (written apart from diagnosis.ts). */
const fastVariance: Adapter = (req) => {
  const out = referenceAdapter(req);
  if (req.mode !== "train" || !out.outputs || req.dtype !== "float32") return out;
  const f = Math.fround, c = resolveConvention(req.convention);
  const { x } = req, axis = c.axis < 0 ? c.axis + x.shape.length : c.axis;
  const C = x.shape[axis], inner = x.shape.slice(axis + 1).reduce((a, b) => a * b, 1), n = x.data.length / C;
  if (n < 2) return out;
  const variance = new Float32Array(C);
  for (let ch = 0; ch < C; ch++) {
    let s = 0, s2 = 0;
    for (let i = 0; i < x.data.length; i++) {
      if (Math.floor(i / inner) % C !== ch) continue;
      s = f(s + x.data[i]);
      s2 = f(s2 + f(x.data[i] * x.data[i]));
    }
    const mean = f(s / n);
    variance[ch] = Math.max(0, f(f(s2 / n) - f(mean * mean)));
  }
  return { ...out, outputs: { ...out.outputs, batch_var: { shape: [C], data: variance } } };
};

const MISTAKES: { name: string; adapter: Adapter; diagnosed: RegExp }[] = [
  { name: "epsilon outside", adapter: wrong(() => ({ epsilonPlacement: "outside" })), diagnosed: /^epsilon outside/ },
  {
    name: "momentum read the other way",
    adapter: wrong((r) => ({ momentumKind: r.convention!.momentumKind === "new" ? "old" : "new" })),
    diagnosed: /read the other way/,
  },
  { name: "no Bessel factor", adapter: wrong(() => ({ runningVariance: "biased" })), diagnosed: /^the biased running/ },
  { name: "Keras' default epsilon", adapter: wrong(() => ({ epsilon: 1e-3 })), diagnosed: /^epsilon 1e-3/ },
  { name: "E[x²] − E[x]² in float32", adapter: fastVariance, diagnosed: /^E\[x²\] − E\[x\]²|^plain sums/ },
];

for (const m of MISTAKES) {
  Deno.test(`a deliberate mistake is diagnosed as itself on every output it fails: ${m.name}`, async () => {
    const r = await runSuite(files, { name: m.name, adapter: m.adapter });
    const failing = r.cases.filter((c) => c.status === "fail" && !c.reason?.includes("known framework defect"));
    assert(failing.length > 0, `${m.name} fails nothing`);
    let outputs = 0;
    for (const c of failing) {
      assert(c.diagnosis, `${c.name}: no diagnosis`);
      for (const o of c.diagnosis!.outputs) {
        outputs++;
        assert(o.matched, `${c.name}: ${o.text}`);
        // The mistake is the closest witness, or tied with it (e.g. momentum 0.5 read either way).
        const tied = [o.closest!, ...o.runnersUp].filter((w) => w.distance === o.closest!.distance);
        assert(tied.some((w) => m.diagnosed.test(w.witness)), `${c.name}: ${o.text}`);
      }
    }
    assert(outputs > 0, `${m.name}: no failing output diagnosed`);
    // Strict by default: a diagnosis explains a failure, it never passes it.
    assertEquals(r.cases.filter((c) => c.faithfulTo).length, 0);
  });
}

Deno.test("faithfulTo never passes a mistake that differs from the framework's recorded output", async () => {
  const adapter = wrong(() => ({ epsilonPlacement: "outside" }));
  const strict = await runSuite(files, { name: "outside", adapter });
  const faithful = await runSuite(files, { name: "outside", adapter }, { faithfulTo: "pytorch" });
  assertEquals(faithful.totals, strict.totals);
});

/** An implementation that answers with the recorded framework output where it exists (PyTorch's own answers). */
function recordedAdapter(source: string): Adapter {
  const byRequest = new Map<string, Record<string, unknown>>();
  for (const f of files.filter((f) => f.provenance.source === source)) {
    for (const c of f.cases) {
      caseRequests(c).forEach((r, i) => {
        const e = c.steps[i].expected;
        if (e) byRequest.set(key(r), e);
      });
    }
  }
  return (req) => {
    const recorded = byRequest.get(key(req));
    const own = referenceAdapter(req);
    if (!recorded || !own.outputs) return own;
    const outputs = { ...own.outputs };
    for (const [name, v] of Object.entries(recorded)) if (typeof v === "object" && v) outputs[name] = v as never;
    return { ...own, outputs };
  };
}
/** A request's identity: its input, convention, mode and state (cases share inputs under other conventions). */
const key = (r: StepRequest) =>
  JSON.stringify([
    r.mode,
    r.convention,
    Array.from(r.x.data),
    r.state.running_mean ? Array.from(r.state.running_mean.data) : null,
    r.state.num_batches_tracked,
  ]);

function failingWith(r: SuiteReport) {
  return r.cases.filter((c) => c.status === "fail" && c.diagnosis && c.diagnosis.outputs.length > 0);
}

/** The curated PyTorch files (the random sweep repeats inputs across steps, which the recording adapter keys on). */
const curated = files.filter((f) => !f.url.includes("sweep"));

Deno.test("an answer equal to PyTorch's recorded output is diagnosed as PyTorch's, and passes only with faithfulTo", async () => {
  const impl = { name: "PyTorch's records", adapter: recordedAdapter("pytorch") };
  const strict = await runSuite(curated, impl, { select: { sources: ["pytorch"] } });
  const failing = failingWith(strict);
  assert(failing.length >= 3, `only ${failing.length} failing cases`);
  for (const c of failing) {
    for (const o of c.diagnosis!.outputs) {
      assertEquals(o.closest?.kind, "framework", `${c.name}: ${o.text}`);
      assert(o.closest!.bitExact, o.text);
      assertMatch(o.text, /equals PyTorch 1\.13\.0a0's recorded output \((float32|float64|bfloat16)\) bit for bit/);
    }
  }
  const text = formatSummary(strict);
  assertStringIncludes(text, "diagnosis: ");
  assertStringIncludes(toJUnit(strict), "bit for bit");

  for (const other of ["onnx", "tfjs", "pytorch@2.15"]) {
    const r = await runSuite(curated, impl, { select: { sources: ["pytorch"] }, faithfulTo: other });
    assertEquals(r.totals, strict.totals, `--faithful-to ${other} changed a verdict`);
  }
  const faithful = await runSuite(curated, impl, { select: { sources: ["pytorch"] }, faithfulTo: "pytorch@1.13" });
  const passed = faithful.cases.filter((c) => c.faithfulTo);
  assertEquals(passed.length, failing.length);
  assert(passed.every((c) => c.status === "pass" && c.faithfulTo === "PyTorch 1.13.0a0"));
  assertEquals(faithful.totals.pass, strict.totals.pass + failing.length);
  const summary = formatSummary(faithful);
  assertStringIncludes(summary, `${failing.length} only as faithful to PyTorch 1.13.0a0, not to exact`);
  assertStringIncludes(summary, "NOT to the exact values");
  assertStringIncludes(toJUnit(faithful), `<property name="faithful-to" value="PyTorch 1.13.0a0"/>`);
  assertStringIncludes(renderHtmlReport([{ report: strict, details: new Map() }]), `class="diagnosis">diagnosis: `);
  assertStringIncludes(
    renderHtmlReport([{ report: faithful, details: new Map() }]),
    "passed only as faithful to PyTorch 1.13.0a0, not to exact",
  );
  assert(JSON.stringify(faithful).includes(`"faithfulTo":"PyTorch 1.13.0a0"`));
});

Deno.test("the reference fails nothing there, so nothing is diagnosed", async () => {
  const r = await runSuite(files, { name: "reference", adapter: referenceAdapter }, {
    select: { sources: ["pytorch"] },
  });
  assert(r.cases.every((c) => c.status !== "pass" || c.diagnosis === undefined));
});

Deno.test("an answer left unrounded but within the budget once rounded is diagnosed by its rounding, not by a what-if", async () => {
  // A kernel answering float16 cases in float32, unrounded: where float16 overflows to ±Infinity, its ±70000 is finite
  // (judged unrounded, it is infinitely far from the target), but rounds to the infinity the case expects.
  const unrounded: Adapter = (req) => {
    const out = referenceAdapter(req);
    if (req.dtype !== "float16" || !out.outputs) return out;
    const outputs = Object.fromEntries(
      Object.entries(out.outputs).map(([k, t]) => [k, {
        ...t,
        data: Array.from(t.data, (v) => (v === Infinity ? 70000 : v === -Infinity ? -70000 : v)),
      }]),
    );
    return { ...out, outputs };
  };
  const r = await runSuite(files, { name: "float16 unrounded", adapter: unrounded });
  const overflowing = r.cases.filter((c) => c.problems?.some((p) => / = -?70000 is not a float16 value/.test(p)));
  assert(overflowing.length > 0);
  for (const c of overflowing) {
    assertEquals(c.status, "fail", c.name);
    for (const p of c.problems!) {
      const [, step, output] = /^step (\d+): (\w+)\[/.exec(p)!;
      assertEquals(c.diagnosis!.outputs.filter((o) => o.step === Number(step) && o.output === output), [], c.name);
      assert(
        c.diagnosis!.steps.some((s) =>
          s.startsWith(`step ${step}: ${output} was not rounded to float16`) && s.endsWith("(within the budget)")
        ),
        `${c.name}: ${c.diagnosis!.steps}`,
      );
    }
  }
});
