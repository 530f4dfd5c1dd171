/**
 * The error scales of format 1.2 (`exact_scale`, FORMAT.md "Scale") computed twice, independently: by the Python
 * oracle (scripts/generators/exact_oracle.py, stored in every fixture step) and by the TypeScript exact evaluator
 * (`exactStepWithScales`, which random and exhaustive cases carry). They agree bit for bit on every step of every
 * fixture; and random cases are judged by the 1.2 rule (against the exact value at the scale of its terms).
 */
import { assert, assertEquals } from "@std/assert";
import {
  caseRequests,
  exactStepWithScales,
  fixtureText,
  judgeCase,
  loadAllFixtures,
  parseFixture,
  randomFixtureFile,
  referenceAdapter,
  runCase,
  runSuite,
} from "../mod.ts";

const files = await loadAllFixtures();
const withExact = files.flatMap((f) => f.cases).filter((c) => c.steps.some((s) => s.exactScale));

Deno.test("exact_scale: the TypeScript evaluator's scales equal the Python oracle's, bit for bit, on every fixture step", () => {
  let same = 0, steps = 0, nonzero = 0;
  const refused = new Set<string>();
  for (const c of withExact) {
    const requests = caseRequests(c);
    for (const [i, step] of c.steps.entries()) {
      if (!step.exactScale) continue;
      const { answers: [got], scales } = exactStepWithScales(requests[i], ["float64"]);
      if (got.error) {
        // The TypeScript evaluator refuses a negative running variance (momentum outside [0, 1]); see verdict_test.ts.
        assertEquals(got.error.code, "negative_variance", `${c.name} step ${i}`);
        refused.add(c.name);
        continue;
      }
      steps++;
      for (const [name, want] of Object.entries(step.exactScale)) {
        const have = scales![name];
        assert(have, `${c.name} step ${i}: no scale for ${name}`);
        assertEquals(have.length, want.length, `${c.name} step ${i} ${name}`);
        for (let j = 0; j < want.length; j++) {
          assert(
            Object.is(have[j], want[j]) || (have[j] === 0 && want[j] === 0),
            `${c.name} step ${i} ${name}[${j}]: ${have[j]} vs ${want[j]}`,
          );
          same++;
          if (want[j] !== 0) nonzero++;
        }
      }
    }
  }
  console.log(
    `${same} scales (${nonzero} non-zero) on ${steps} steps of ${withExact.length} cases; ${refused.size} cases refused`,
  );
  assert(same > 2000 && nonzero > same / 2, `${same} scales, ${nonzero} non-zero`);
  assert(refused.size <= 4, [...refused].join("\n"));
});

Deno.test("random cases carry exact values and scales (format 1.2) and are judged by the 1.2 rule", async () => {
  const file = randomFixtureFile(2n, 300);
  assertEquals(file.formatVersion, "1.2");
  let steps = 0;
  for (const c of file.cases) {
    for (const step of c.steps) {
      if (!step.expected) continue;
      steps++;
      const tensors = Object.keys(step.expected).filter((k) => k !== "num_batches_tracked");
      assertEquals(Object.keys(step.expectedExact ?? {}).sort(), tensors.sort(), c.name);
      for (const k of tensors) {
        assertEquals(
          step.exactScale![k].length,
          c.convention.axis < 0 ? step.inputs.x.shape.at(c.convention.axis) : step.inputs.x.shape[c.convention.axis],
        );
        assert(step.exactScale![k].every((v) => Number.isFinite(v) && v >= 0), `${c.name} ${k}`);
      }
    }
  }
  assert(steps > 500, `${steps}`);
  // Case 2#196 (float64, two values per channel, eps 0): dx is exactly 0 and its terms are of size ~370. Under the 1.1
  // rule (error at the tensor's peak, here 0) the reference's rounding noise of 3.6e-15 was "Infinity ULP"; under the
  // 1.2 rule it is judged at the scale of the terms: the reference passes, noise passes, a real error fails.
  const c = file.cases[196];
  assert(c.name.startsWith("random 2#196 float64 [2, 2, 1]"), c.name);
  const result = await runCase(c, referenceAdapter);
  assert(result.pass, result.reason);
  assert(result.checks.filter((k) => k.output !== "num_batches_tracked").every((k) => k.basis === "exact"));
  const step = c.steps.findIndex((s) =>
    s.expectedExact?.dx !== undefined && Array.from(s.expectedExact.dx.data).every((v) => v === 0)
  );
  assert(step >= 0, "a step with dx exactly 0");
  const [scale, constant] = c.steps[step].exactScale!.dx;
  assert(scale > 0.1 && constant === 0, `${scale} ${constant}`);
  const answerWith = async (noise: number) => {
    const answers = [];
    for (const r of caseRequests(c)) answers.push(await referenceAdapter(r));
    const dx = answers[step].outputs!.dx.data as Float64Array;
    // [2, 2, 1] channels first: element i is of channel i % 2; channel 1 is constant (invstd 0, scale 0: dx must be 0).
    for (let i = 0; i < dx.length; i += 2) dx[i] = noise * (i % 4 ? -1 : 1);
    return judgeCase(c, answers);
  };
  assert((await answerWith(0)).pass);
  assert((await answerWith(3.57e-15)).pass, "rounding noise at the terms' scale passes");
  assert(!(await answerWith(1e-3 * scale)).pass, "an error of 1e-3 of the terms fails");
  // Written as a fixture file (--save-failures) and read back, the exact fields survive and judge the same.
  const back = parseFixture(fixtureText([c], 2n), "saved.json");
  assertEquals(back.formatVersion, "1.2");
  assertEquals(back.cases[0].steps[step].exactScale, c.steps[step].exactScale);
  assertEquals(back.cases[0].steps[step].expectedExact?.dx.data, c.steps[step].expectedExact?.dx.data);
  assert((await runCase(back.cases[0], referenceAdapter)).pass);
  // The whole run under the 1.2 rule (under the 1.1 rule two float64 cases failed on finite values, 2#196 among them):
  // every finite output of every case passes. The only failures are outputs whose target or answer is NaN or infinite
  // (a zero-variance channel with epsilon 0 and invstd = +∞, where the reference's float64 path and the exact
  // evaluator follow different IEEE formulas: a policy question recorded in docs/fresh-cases.md).
  let failed = 0;
  for (const k of file.cases) {
    const r = await runCase(k, referenceAdapter);
    if (r.pass) continue;
    failed++;
    for (const check of r.checks) {
      if (check.comparison.pass) continue;
      const { actual, expected } = check.comparison;
      assert(
        actual !== undefined && expected !== undefined && (!Number.isFinite(actual) || !Number.isFinite(expected)),
        `${k.name} step ${check.step} ${check.output}: ${actual} vs ${expected} (finite)`,
      );
    }
  }
  assert(failed <= 3, `${failed} of 300 cases fail`);
  const report = await runSuite([file], { name: "reference", adapter: referenceAdapter });
  assertEquals(report.totals.fail, failed);
  assertEquals(report.totals.pass, 300 - failed);
});
