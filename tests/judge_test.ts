/**
 * The policy is complete as written: a second judge written from fixtures/FORMAT.md alone
 * (tests/second_judge/judge.py) agrees with the TypeScript judge on every judge vector and on every case of every
 * fixture file, for three sets of answers: the reference's, the frameworks' own recorded outputs (PyTorch's, TF.js's,
 * onnxruntime's), and a wrong implementation's (epsilon outside the root and momentum read the other way).
 */
import { assert, assertEquals } from "@std/assert";
import {
  type Adapter,
  caseRequests,
  type FixtureCase,
  type FixtureFile,
  judgeCase,
  loadAllFixtures,
  referenceAdapter,
  type StepOutputs,
} from "../mod.ts";
import { judgeVectors } from "../scripts/generators/judge_vectors.ts";
import { fixtureText } from "../scripts/generators/_fixture_io.ts";
import { fixtureText as caseFileText, roundToDType } from "../mod.ts";
import { CENTER_SCALE, MIXED } from "./_mixed_cases.ts";

const PYTHON = "/usr/bin/python3";
const JUDGE = new URL("./second_judge/judge.py", import.meta.url).pathname;
const VECTORS = new URL("../fixtures/judge_vectors.json", import.meta.url);

async function python(args: string[]): Promise<unknown> {
  const { code, stdout, stderr } = await new Deno.Command(PYTHON, { args: [JUDGE, ...args] }).output();
  const err = new TextDecoder().decode(stderr);
  assertEquals(code, 0, err);
  return JSON.parse(new TextDecoder().decode(stdout));
}

const num = (v: number | string) => (typeof v === "string" ? Number(v) : v);

Deno.test("judge vectors: the TypeScript judge gives the recorded verdicts and shares (fixtures/judge_vectors.json)", () => {
  assertEquals(Deno.readTextFileSync(VECTORS), fixtureText(judgeVectors()));
});

Deno.test("judge vectors: the second judge, written from FORMAT.md alone, agrees on every vector", async () => {
  const ts = judgeVectors().vectors as { name: string; pass: boolean; share: number }[];
  const py = await python(["vectors", VECTORS.pathname]) as { name: string; pass: boolean; share: number | string }[];
  assertEquals(py.length, ts.length);
  assert(ts.some((v) => v.pass) && ts.some((v) => !v.pass));
  for (const [i, v] of ts.entries()) {
    assertEquals([py[i].name, py[i].pass, num(py[i].share)], [v.name, v.pass, v.share], v.name);
  }
});

const wrong: Adapter = (req) =>
  referenceAdapter({
    ...req,
    convention: {
      ...req.convention!,
      epsilonPlacement: "outside",
      momentumKind: req.convention!.momentumKind === "new" ? "old" : "new",
    },
  });

/** The frameworks' own recorded outputs as answers. */
const recorded = (c: FixtureCase): StepOutputs[] =>
  c.steps.map((s) =>
    s.expectedError ? { error: { code: s.expectedError.code, message: s.expectedError.message } } : {
      outputs: Object.fromEntries(
        Object.entries(s.expected!).filter(([, t]) => typeof t === "object").map(([k, t]) => [k, t as never]),
      ),
      ...(typeof s.expected!.num_batches_tracked === "number"
        ? { num_batches_tracked: s.expected!.num_batches_tracked }
        : {}),
    }
  );

const ANSWERS: { name: string; answer: (c: FixtureCase) => StepOutputs[] }[] = [
  { name: "the reference", answer: (c) => caseRequests(c).map(referenceAdapter) },
  { name: "the frameworks' recorded outputs", answer: recorded },
  {
    name: "a wrong implementation",
    answer: (c) => {
      const out: StepOutputs[] = [];
      for (const r of caseRequests(c)) {
        try {
          out.push(wrong(r) as StepOutputs);
        } catch (e) {
          out.push({ error: { code: "invalid_option", message: (e as Error).message } });
        }
      }
      return out;
    },
  },
];

function answersText(file: FixtureFile, answer: (c: FixtureCase) => StepOutputs[]): string {
  const cases: Record<string, unknown> = {};
  for (const c of file.cases) {
    cases[c.name] = answer(c).map((a) =>
      a.error ? { error: a.error.code } : {
        outputs: Object.fromEntries(Object.entries(a.outputs ?? {}).map(([k, t]) => [k, Array.from(t.data)])),
        ...(a.num_batches_tracked === undefined ? {} : { num_batches_tracked: a.num_batches_tracked }),
      }
    );
  }
  return fixtureText({ cases });
}

Deno.test("the second judge agrees with the TypeScript judge on every case, for three sets of answers", async (t) => {
  const files = await loadAllFixtures();
  const dir = await Deno.makeTempDir({ dir: new URL("./testdata", import.meta.url).pathname, prefix: "judge-" });
  try {
    for (const { name, answer } of ANSWERS) {
      await t.step(name, async () => {
        let passed = 0, failed = 0, outputs = 0;
        for (const file of files) {
          const path = `${dir}/answers.json`;
          Deno.writeTextFileSync(path, answersText(file, answer));
          const py = await python(["cases", new URL(file.url).pathname, path]) as Record<
            string,
            { pass: boolean; shares: Record<string, number | string> }
          >;
          for (const c of file.cases) {
            const r = judgeCase(c, answer(c));
            const p = py[c.name];
            assertEquals(p.pass, r.pass, `${name}, ${c.name}: TypeScript ${r.reason ?? "pass"}`);
            if (r.pass) passed++;
            else failed++;
            for (const k of r.checks.filter((k) => k.basis === "exact")) {
              const share = k.comparison.maxError / k.comparison.tolerance;
              assertEquals(num(p.shares[`${k.step}/${k.output}`]), share, `${name}, ${c.name} ${k.step}/${k.output}`);
              outputs++;
            }
          }
        }
        assert(outputs > 500, `${outputs} outputs compared`);
        if (name === "a wrong implementation") assert(failed > passed, `${failed} failed, ${passed} passed`);
        if (name === "the reference") assert(passed > failed, `${failed} failed, ${passed} passed`);
      });
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("format 1.3: the second judge agrees on mixed-precision and center/scale cases, output dtype by output dtype", async () => {
  const cases = [...MIXED, ...CENTER_SCALE];
  const dir = await Deno.makeTempDir({ dir: new URL("./testdata", import.meta.url).pathname, prefix: "judge13-" });
  try {
    const fixture = `${dir}/mixed.json`;
    Deno.writeTextFileSync(fixture, caseFileText(cases, 0n));
    const file: FixtureFile = { url: fixture, formatVersion: "1.3", provenance: {} as never, cases };
    // The statistics rounded to the data's float16, as a uniform float16 layer keeps them: fails where they are float32.
    const narrow = (c: FixtureCase) =>
      caseRequests(c).map(referenceAdapter).map((a) => ({
        ...a,
        outputs: Object.fromEntries(
          Object.entries(a.outputs ?? {}).map((
            [k, t],
          ) => [
            k,
            k === "y" || k === "dx" ? t : { ...t, data: Array.from(t.data, (v) => roundToDType(v, "float16")) },
          ]),
        ),
      }));
    for (const [name, answer] of [["the reference", ANSWERS[0].answer], ["float16 statistics", narrow]] as const) {
      const path = `${dir}/answers.json`;
      Deno.writeTextFileSync(path, answersText(file, answer));
      const py = await python(["cases", fixture, path]) as Record<string, { pass: boolean }>;
      for (const c of cases) {
        const r = judgeCase(c, answer(c));
        assertEquals(py[c.name].pass, r.pass, `${name}, ${c.name}: TypeScript ${r.reason ?? "pass"}`);
        if (name === "the reference") assert(r.pass, `${c.name}: ${r.reason}`);
        else if (MIXED.slice(0, 3).includes(c)) assert(!r.pass, `${c.name}: float16 statistics passed`);
      }
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
