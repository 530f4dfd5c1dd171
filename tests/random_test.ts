/**
 * Random cases on demand (src/conformance/random.ts) and exhaustive sweeps
 * (src/conformance/exhaustive.ts): reproducible from (seed, index), seeds
 * checked, every convention / dtype / rank / layout / edge reached, written
 * back as a fixture file that reads to the same cases, the exact evaluator's
 * own answers pass, and convention mistakes fail.
 */
import { assert, assertEquals, assertThrows } from "@std/assert";
import {
  type Adapter,
  DTYPES,
  exactStep,
  exhaustiveCases,
  exhaustiveCount,
  type FixtureCase,
  fixtureText,
  fromBits16,
  MAX_SEED,
  parseFixture,
  parseSeed,
  randomCase,
  randomFixtureFile,
  referenceAdapter,
  runSuite,
} from "../mod.ts";
import { CONVENTION_VALUES } from "../src/reference/convention.ts";

const SEED = 424242n;
const cases: FixtureCase[] = Array.from({ length: 600 }, (_, i) => randomCase(SEED, i));

Deno.test("random: a case depends only on (seed, index); seeds cover 0..2^64-1", () => {
  assertEquals(randomCase(SEED, 17), cases[17]);
  assertEquals(randomFixtureFile(SEED, 3, { start: 17 }).cases[0], cases[17]);
  assert(randomCase(SEED + 1n, 17).name !== cases[17].name);
  assert(randomCase(MAX_SEED, 0).name.startsWith(`random ${MAX_SEED}#0 `));
  assertEquals(parseSeed("0"), 0n);
  assertEquals(parseSeed(" 18446744073709551615 "), MAX_SEED);
  for (const bad of ["-1", "18446744073709551616", "1.5", "0x10", "", "seven"]) {
    assertThrows(() => parseSeed(bad), RangeError, undefined, bad);
  }
});

Deno.test("random: the cases span every convention value, dtype, rank 2-5, layout and edge", () => {
  const seen = new Set<string>();
  for (const c of cases) {
    for (const [k, v] of Object.entries(c.convention)) seen.add(`${k}=${v}`);
    seen.add(`dtype=${c.dtype}`);
    const rank = c.steps[0].inputs.x.shape.length;
    seen.add(`rank=${rank}`);
    const axis = c.convention.axis < 0 ? c.convention.axis + rank : c.convention.axis;
    seen.add(axis === 1 ? "first" : axis === rank - 1 ? "last" : "middle");
    seen.add(c.convention.axis < 0 ? "negative-axis" : "positive-axis");
    for (const f of c.features) seen.add(f);
    seen.add(`steps=${c.steps.length}`);
    for (const s of c.steps) if (s.expectedError) seen.add(`refused:${s.expectedError.code}`);
  }
  const want = [
    ...Object.entries(CONVENTION_VALUES).flatMap(([k, vs]) => (vs as readonly string[]).map((v) => `${k}=${v}`)),
    ...DTYPES.map((d) => `dtype=${d}`),
    "rank=2",
    "rank=3",
    "rank=4",
    "rank=5",
    "first",
    "last",
    "middle",
    "negative-axis",
    "positive-axis",
    "affine=true",
    "affine=false",
    "trackRunningStats=true",
    "trackRunningStats=false",
    "momentum=0",
    "momentum=1",
    "epsilon=0",
    "steps=4",
    "large-mean",
    "denormal",
    "overflow",
    "zero-variance",
    "empty-batch",
    "single-value-per-channel",
    "multi-step",
    "backward",
    "inference",
    "refused:empty_batch",
    "refused:single_value_per_channel",
  ];
  const missing = want.filter((w) => !seen.has(w));
  assertEquals(missing, []);
});

Deno.test("random: written as a fixture file, the cases read back equal", () => {
  const some = cases.slice(0, 40);
  const back = parseFixture(fixtureText(some, SEED), "random.json");
  assertEquals(back.cases.length, some.length);
  for (const [i, c] of back.cases.entries()) {
    assertEquals(JSON.stringify(c, replacer), JSON.stringify(some[i], replacer), c.name);
  }
});

function replacer(_k: string, v: unknown) {
  if (v instanceof Float64Array) return Array.from(v, (x) => (Object.is(x, -0) ? "-0" : Number.isNaN(x) ? "NaN" : x));
  if (typeof v === "number" && !Number.isFinite(v)) return String(v);
  return v;
}

/** The exact evaluator itself as an implementation: correctly rounded, so it must pass everything. */
const exactAdapter: Adapter = (r) => exactStep(r);

Deno.test("random: a correctly rounded implementation passes every case; convention mistakes fail", async () => {
  const file = randomFixtureFile(SEED, 300);
  const exact = await runSuite([file], { name: "exact", adapter: exactAdapter });
  assertEquals(exact.totals.fail, 0);
  assertEquals(exact.totals.pass, 300);
  // Mutants: each reads one convention field the other way; the random cases must catch each.
  const mutants: Record<string, (r: Parameters<Adapter>[0]) => Parameters<Adapter>[0]> = {
    "epsilon on the other side of the root": (r) => ({
      ...r,
      convention: {
        ...r.convention!,
        epsilonPlacement: r.convention!.epsilonPlacement === "inside" ? "outside" : "inside",
      },
    }),
    "momentum read the other way": (r) => ({
      ...r,
      convention: {
        ...r.convention!,
        momentumKind: r.convention!.momentumKind === "new"
          ? "old"
          : r.convention!.momentumKind === "old"
          ? "new"
          : "cumulative",
      },
    }),
    "no Bessel factor": (r) => ({ ...r, convention: { ...r.convention!, runningVariance: "biased" } }),
    "epsilon ignored": (r) => ({ ...r, convention: { ...r.convention!, epsilon: 0, epsilonFloor: 0 } }),
    "one value per channel accepted": (r) => ({ ...r, convention: { ...r.convention!, singleValueTraining: "allow" } }),
  };
  for (const [name, mutate] of Object.entries(mutants)) {
    const report = await runSuite([file], { name, adapter: (r) => referenceAdapter(mutate(r)) });
    assert(report.totals.fail >= 5, `${name}: only ${report.totals.fail} of 300 random cases fail`);
  }
  // A numerical mutant: the batch variance as E[x²] − E[x]² summed in float32 (catastrophic at large |mean|/std).
  const naiveVariance: Adapter = (r) => {
    const out = referenceAdapter(r);
    if (!out.outputs?.batch_var || r.mode !== "train") return out;
    const rank = r.x.shape.length, axis = r.convention!.axis < 0 ? r.convention!.axis + rank : r.convention!.axis;
    const channels = r.x.shape[axis], inner = r.x.shape.slice(axis + 1).reduce((a, b) => a * b, 1);
    const s = new Float32Array(channels), q = new Float32Array(channels), n = new Float32Array(channels);
    Array.from(r.x.data).forEach((v, k) => {
      const c = Math.floor(k / inner) % channels;
      s[c] = Math.fround(s[c] + v);
      q[c] = Math.fround(q[c] + Math.fround(v * v));
      n[c]++;
    });
    const data = Array.from(s, (sc, c) => Math.fround(q[c] / n[c] - Math.fround(sc / n[c]) ** 2));
    return { ...out, outputs: { ...out.outputs, batch_var: { shape: [channels], data } } };
  };
  const naive = await runSuite([file], { name: "E[x²] − E[x]² in float32", adapter: naiveVariance });
  assert(naive.totals.fail >= 20, `E[x²] − E[x]²: only ${naive.totals.fail} of 300 fail`);
});

Deno.test("exhaustive: every finite float16 and bfloat16 pattern, decoded exactly", () => {
  assertEquals(fromBits16("float16", 0x0001), 2 ** -24);
  assertEquals(fromBits16("float16", 0x8001), -(2 ** -24));
  assertEquals(fromBits16("bfloat16", 0x0001), 2 ** -133);
  assertEquals(fromBits16("bfloat16", 0x7f7f), 3.3895313892515355e38);
  assertEquals(exhaustiveCount("bfloat16"), 32640 * 3 + 65280 * 5);
  const names = [...exhaustiveCases("float16", 31744 * 3 - 1, 31744 * 3 + 2)].map((c) => c.name);
  assertEquals(names, [
    "exhaustive float16 variance 0x7bff (65504) eps 0.00000",
    "exhaustive float16 x 0x0000 (0) inference set 0",
    "exhaustive float16 x 0x0001 (5.960464477539063e-8) inference set 0",
  ]);
  const last = [...exhaustiveCases("float16", exhaustiveCount("float16") - 1)][0];
  assertEquals(last.name, "exhaustive float16 x 0xfbff (-65504) training set 1");
});

Deno.test("exhaustive: the reference passes a float16 slice of each kind; a mutant fails", async () => {
  const n = exhaustiveCount("float16");
  const slice = (from: number, count: number) => [...exhaustiveCases("float16", from, from + count)];
  const file = {
    url: "exhaustive:float16",
    formatVersion: "1.1",
    provenance: {
      source: "exhaustive",
      framework: "exact evaluator",
      version: "-",
      api: "-",
      generator: "src/conformance/exhaustive.ts",
      command: "-",
      seed: 0,
      composed: true,
    },
    cases: [...slice(0, 300), ...slice(31744 * 2, 300), ...slice(31744 * 3 + 15000, 300), ...slice(n - 300, 300)],
  };
  const ok = await runSuite([file], { name: "reference", adapter: referenceAdapter });
  assertEquals(ok.totals.fail, 0);
  const wrong = await runSuite([file], {
    name: "epsilon outside",
    adapter: (r) => referenceAdapter({ ...r, convention: { ...r.convention!, epsilonPlacement: "outside" } }),
  });
  assert(wrong.totals.fail > 100, `${wrong.totals.fail}`);
});
