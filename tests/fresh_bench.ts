/**
 * Cases per second of fresh cases, in one run (ratios are the reliable part on a shared machine):
 * the exact evaluator alone (generating random cases evaluates every step exactly), the reference
 * judged in process, and the third-party numpy implementation judged over the subprocess protocol,
 * speaking 1.0 (one case a line) and 1.1 (batches of cases, `fixtures/PROTOCOL.md`), on random cases
 * and on a slice of the exhaustive float16 sweep (`--exhaustive float16`).
 * `deno bench --allow-read=. --allow-run tests/fresh_bench.ts` (unscoped --allow-run: the runner ends process groups)
 */
import {
  exhaustiveCases,
  type FixtureFile,
  randomCase,
  randomFixtureFile,
  referenceAdapter,
  runSuite,
  SubprocessImplementation,
} from "../mod.ts";

const SEED = 20261130n;
const COUNT = 200;
const SLICE = 2000;
const file = randomFixtureFile(SEED, COUNT);
// Cases 0..1999 of the float16 sweep (variance patterns with eps 1e-5), generated once: the benches time the judging.
const sweep: FixtureFile = {
  url: "exhaustive:float16",
  formatVersion: "1.1",
  provenance: {
    source: "exhaustive",
    framework: "exact evaluator",
    version: "src/conformance/exact.ts",
    api: "exactStepIn",
    generator: "src/conformance/exhaustive.ts",
    command: "deno task conform --exhaustive float16",
    seed: 0,
    composed: true,
  },
  cases: [...exhaustiveCases("float16", 0, SLICE)],
};
const program = new URL("third_party/numpy_batchnorm.py", import.meta.url).pathname;
const numpy10 = await SubprocessImplementation.start({ command: ["/usr/bin/python3", program, "--protocol", "1.0"] });
const numpy11 = await SubprocessImplementation.start({ command: ["/usr/bin/python3", program] });
globalThis.addEventListener("unload", () => void Promise.all([numpy10.close(), numpy11.close()]));
if (numpy10.batching || !numpy11.batching) throw new Error("the numpy program did not declare the expected version");

Deno.bench(`exact evaluator: generate ${COUNT} random cases (every step evaluated exactly)`, { group: "fresh" }, () => {
  for (let i = 0; i < COUNT; i++) randomCase(SEED, i);
});

Deno.bench(`reference in process: judge ${COUNT} random cases`, { group: "fresh", baseline: true }, async () => {
  await runSuite([file], { name: "reference", adapter: referenceAdapter });
});

Deno.bench(`numpy, protocol 1.0 (a case a line): judge ${COUNT} random cases`, { group: "fresh" }, async () => {
  await runSuite([file], numpy10);
});

Deno.bench(`numpy, protocol 1.1 (batches): judge ${COUNT} random cases`, { group: "fresh" }, async () => {
  await runSuite([file], numpy11);
});

Deno.bench(`reference in process: judge ${SLICE} exhaustive float16 cases`, {
  group: "sweep",
  baseline: true,
}, async () => {
  await runSuite([sweep], { name: "reference", adapter: referenceAdapter });
});

Deno.bench(`numpy, protocol 1.0 (a case a line): judge ${SLICE} exhaustive float16 cases`, {
  group: "sweep",
}, async () => {
  await runSuite([sweep], numpy10);
});

Deno.bench(`numpy, protocol 1.1 (batches): judge ${SLICE} exhaustive float16 cases`, { group: "sweep" }, async () => {
  await runSuite([sweep], numpy11);
});
