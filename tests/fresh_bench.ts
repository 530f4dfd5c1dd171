/**
 * Cases per second of fresh cases, in one run (ratios are the reliable part on a shared machine):
 * the exact evaluator alone (generating random cases evaluates every step exactly), the reference
 * judged in process, and the third-party numpy implementation judged over the subprocess protocol.
 * `deno bench --allow-read=. --allow-run tests/fresh_bench.ts` (unscoped --allow-run: the runner ends process groups)
 */
import { randomCase, randomFixtureFile, referenceAdapter, runSuite, SubprocessImplementation } from "../mod.ts";

const SEED = 20261130n;
const COUNT = 200;
const file = randomFixtureFile(SEED, COUNT);
const numpy = await SubprocessImplementation.start({
  command: ["/usr/bin/python3", new URL("third_party/numpy_batchnorm.py", import.meta.url).pathname],
});
globalThis.addEventListener("unload", () => void numpy.close());

Deno.bench(`exact evaluator: generate ${COUNT} random cases (every step evaluated exactly)`, { group: "fresh" }, () => {
  for (let i = 0; i < COUNT; i++) randomCase(SEED, i);
});

Deno.bench(`reference in process: judge ${COUNT} random cases`, { group: "fresh", baseline: true }, async () => {
  await runSuite([file], { name: "reference", adapter: referenceAdapter });
});

Deno.bench(`numpy third party over the protocol: judge ${COUNT} random cases`, { group: "fresh" }, async () => {
  await runSuite([file], numpy);
});
