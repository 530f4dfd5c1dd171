/**
 * Protocol 1.1's batches (`fixtures/PROTOCOL.md`, "Batches"): a 1.0 program is still served one case a line; a 1.1
 * program gets many cases a message and the same verdicts; a crash, a garbled line, an unknown id or a hang inside
 * a batch fails exactly the cases left without their answer (never a pass), the program is started again and the
 * run goes on; answers may come in any order; the timeout scales with the batch.
 * `deno test --allow-read=. --allow-run tests/batch_protocol_test.ts`
 */
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import {
  exhaustiveCases,
  type FixtureFile,
  randomFixtureFile,
  runSuite,
  SubprocessImplementation,
  type SuiteReport,
} from "../mod.ts";

const NUMPY = new URL("third_party/numpy_batchnorm.py", import.meta.url).pathname;
const FAULTS = new URL("batch_faults.py", import.meta.url).pathname;

function sweepFile(from: number, to: number): FixtureFile {
  return {
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
    cases: [...exhaustiveCases("float16", from, to)],
  };
}

async function run(
  args: string[],
  files: FixtureFile[],
  options: { batchCases?: number; batchBytes?: number; timeoutMs?: number } = {},
): Promise<{ report: SuiteReport; impl: SubprocessImplementation }> {
  const impl = await SubprocessImplementation.start({ command: ["/usr/bin/python3", ...args], ...options });
  try {
    return { report: await runSuite(files, impl), impl };
  } finally {
    await impl.close();
  }
}

const statuses = (r: SuiteReport) => r.cases.map((c) => `${c.name}: ${c.status}`);

Deno.test("a protocol 1.0 program is served one case a line; a 1.1 program gets batches, with the same verdicts", async () => {
  const files = [randomFixtureFile(20261130n, 60)];
  const old = await run([NUMPY, "--protocol", "1.0"], files);
  assert(!old.impl.batching);
  assertEquals(old.impl.batches, 0);
  const batched = await run([NUMPY], files, { batchCases: 16 });
  assert(batched.impl.batching);
  const ran = batched.report.cases.filter((c) => c.status !== "skip").length;
  assert(ran > 40, `${ran} cases ran`);
  assertEquals(batched.impl.batches, Math.ceil(ran / 16));
  assertEquals(statuses(batched.report), statuses(old.report));
  assertEquals(batched.report.totals, old.report.totals);
  assertEquals(batched.impl.restarts, 0);
  // A mutant fails the same cases either way: batching hides no failure.
  const mutantOld = await run([NUMPY, "--protocol", "1.0", "--mutant", "no-bessel"], files);
  const mutantNew = await run([NUMPY, "--mutant", "no-bessel"], files, { batchCases: 16 });
  assert(mutantOld.report.totals.fail > 0);
  assertEquals(statuses(mutantNew.report), statuses(mutantOld.report));
});

Deno.test("the batch bounds: batchCases 1 sends single case lines; the hello's max_cases and batchBytes split batches", async () => {
  const files = [sweepFile(0, 10)];
  const single = await run([NUMPY], files, { batchCases: 1 });
  assert(!single.impl.batching);
  assertEquals(single.impl.batches, 0);
  assertEquals(single.report.totals.pass, 10);
  // The program declares batch.max_cases 4 (and exits on a larger batch): 10 cases go in 3 batches.
  const lowered = await run([FAULTS, "--max-cases", "4"], files, { batchCases: 512 });
  assertEquals(lowered.report.totals.pass, 10);
  assertEquals(lowered.impl.batches, 3);
  assertEquals(lowered.impl.restarts, 0);
  // The byte bound: a sweep case's message is under 1,000 bytes, so 3,000 bytes hold a few of them (not all ten), and a
  // bound below one case's size still sends each case (alone).
  const bytes = await run([NUMPY], files, { batchBytes: 3000 });
  assertEquals(bytes.report.totals.pass, 10);
  assert(bytes.impl.batches >= 2 && bytes.impl.batches < 10, `${bytes.impl.batches} batches`);
  const alone = await run([NUMPY], files, { batchBytes: 1 });
  assertEquals(alone.report.totals.pass, 10);
  assertEquals(alone.impl.batches, 10);
});

Deno.test("answers in any order within a batch are matched by id", async () => {
  const { report, impl } = await run([FAULTS, "--reverse"], [sweepFile(0, 40)], { batchCases: 16 });
  assertEquals(report.totals.pass, 40);
  assertEquals(impl.batches, 3);
});

for (
  const [fault, reason] of [
    ["--crash-at", "exited with code 3"],
    ["--garbage-at", "malformed output: not JSON"],
    ["--wrong-id", "not an unanswered case of the batch"],
    ["--hang-at", "timeout"],
  ]
) {
  Deno.test(`${fault} inside a batch fails only the unanswered cases; the program restarts and the run goes on`, async () => {
    const file = sweepFile(0, 40);
    const at = 5; // the 6th case of the first batch of 16
    const { report, impl } = await run([FAULTS, fault, file.cases[at].name], [file], {
      batchCases: 16,
      timeoutMs: 1500,
    });
    const failed = report.cases.flatMap((c, i) => c.status === "fail" ? [i] : []);
    // The answered cases before it pass; it and the rest of its batch fail; the next batches pass.
    assertEquals(failed, Array.from({ length: 16 - at }, (_, i) => at + i));
    assertEquals(report.totals.pass, 40 - (16 - at));
    assertStringIncludes(report.cases[at].reason ?? "", reason);
    assertStringIncludes(report.cases[at + 1].reason ?? "", reason);
    assertStringIncludes(report.cases[at + 1].reason ?? "", "broke off before this case's answer");
    assertEquals(impl.restarts, 1);
  });
}

Deno.test("the timeout scales with the batch: the k-th answer is due k timeouts after the batch was sent", async () => {
  // 8 answers 300 ms apart take 2.4 s in all, well over one 500 ms timeout, but each is within its share.
  const { report, impl } = await run([FAULTS, "--slow-ms", "300"], [sweepFile(0, 8)], {
    batchCases: 8,
    timeoutMs: 500,
  });
  assertEquals(report.totals.pass, 8);
  assertEquals(impl.restarts, 0);
});
