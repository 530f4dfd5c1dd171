/**
 * Cost per case of fresh cases: the exact evaluator alone (generation of a
 * random case, which evaluates every step exactly), and the reference judged
 * in process on already generated cases, in the same run.
 * `deno bench --allow-read=. tests/fresh_bench.ts`
 */
import { randomCase, randomFixtureFile, referenceAdapter, runSuite } from "../mod.ts";

const SEED = 20261130n;
const file = randomFixtureFile(SEED, 200);

Deno.bench("exact evaluator: generate 200 random cases (every step evaluated exactly)", { group: "fresh" }, () => {
  for (let i = 0; i < 200; i++) randomCase(SEED, i);
});

Deno.bench("reference in process: judge 200 random cases", { group: "fresh", baseline: true }, async () => {
  await runSuite([file], { name: "reference", adapter: referenceAdapter });
});
