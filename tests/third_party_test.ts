/**
 * The suite played by a third party: tests/third_party/numpy_batchnorm.py, a BatchNorm written from FORMAT.md and
 * PROTOCOL.md alone in Python with Debian's python3-numpy, run over the subprocess protocol. It must pass every
 * case (it declares support for everything), and each of its deliberate mutants must fail the cases aimed at its
 * mistake, on the numbers or the refusal, never on the protocol.
 */
import { assert, assertEquals } from "@std/assert";
import {
  type FixtureCase,
  isUniform,
  loadAllFixtures,
  runSuite,
  SubprocessImplementation,
  type SuiteReport,
} from "../mod.ts";

const root = new URL("../", import.meta.url);
const files = await loadAllFixtures();
const all = files.flatMap((f) => f.cases);
// The curated cases: the random sweep's are not built to catch one mistake each (tests/verdict_test.ts checks that each
// mistake fails some of them).
const curated = files.filter((f) => f.provenance.generator !== "scripts/generators/gen_sweep.py").flatMap((f) =>
  f.cases
);
const program = new URL("tests/third_party/numpy_batchnorm.py", root).pathname;

async function run(...args: string[]): Promise<SuiteReport> {
  const impl = await SubprocessImplementation.start({ command: ["/usr/bin/python3", program, ...args] });
  try {
    return await runSuite(files, impl);
  } finally {
    await impl.close();
  }
}

/**
 * Format 1.3's cases beyond what the program declares: it was written before 1.3 and declares neither
 * supports.mixed_dtypes nor center_scale, so mixed-precision cases and cases with center != scale are skipped.
 */
const beyondIt = (c: FixtureCase) =>
  !isUniform(c) || (c.convention.center ?? c.convention.affine) !== (c.convention.scale ?? c.convention.affine);

Deno.test("the third-party numpy BatchNorm passes every case, over the protocol", async () => {
  const r = await run();
  const beyond = new Set(all.filter(beyondIt).map((c) => c.name));
  assert(beyond.size > 0, "no format 1.3 case beyond the program's declared support");
  const bad = r.cases.filter((c) => c.status !== "pass" && !(beyond.has(c.name) && c.status === "skip"))
    .map((c) => `${c.name}: ${c.reason}`);
  assertEquals(bad, [], `python3-numpy must be installed (apt-get install python3-numpy)`);
  // Skipped exactly those, never passed: a case it did not declare is not judged.
  assertEquals(r.cases.filter((c) => c.status === "skip").map((c) => c.name).sort(), [...beyond].sort());
  assertEquals(r.totals.pass, all.length - beyond.size);
  // It was judged on numbers: every case that expects outputs compared some.
  assert(r.cases.filter((c) => !c.defect).every((c) => c.worstShare !== undefined || c.problems === undefined));
});

const trainsTracked = (c: FixtureCase) =>
  c.convention.trackRunningStats && c.steps.some((s) => s.mode === "train" && s.expected?.running_var !== undefined);
/** Per mutant, the cases built to catch its mistake (where the budget of the dtype can see it). */
const aimed: Record<string, (c: FixtureCase) => boolean> = {
  "epsilon-outside": (c) => c.features.includes("epsilon-placement") && c.convention.epsilonPlacement === "inside",
  "momentum-flipped": (c) => c.features.includes("momentum-extreme"),
  // A Bessel factor n/(n-1) moves the running variance by momentum/n: float32 and float64 see it on ordinary data.
  "no-bessel": (c) =>
    trainsTracked(c) && c.convention.runningVariance === "bessel" && c.convention.momentum !== 0 &&
    ["float32", "float64"].includes(c.dtype) && !c.features.includes("edge-case"),
  "default-epsilon": (c) => c.features.includes("epsilon-value") && Math.abs(c.convention.epsilon - 1e-3) > 1e-9,
  "accept-single": (c) => c.steps.some((s) => s.expectedError?.code === "single_value_per_channel"),
};

for (const [mutant, isAimed] of Object.entries(aimed)) {
  Deno.test(`the numpy mutant "${mutant}" fails every case aimed at it, on its answers`, async () => {
    const r = await run("--mutant", mutant);
    const targets = curated.filter(isAimed).map((c) => c.name);
    assert(targets.length > 0, "no case is aimed at this mistake");
    const status = new Map(r.cases.map((c) => [c.name, c]));
    const missed = targets.filter((n) => status.get(n)!.status !== "fail");
    assertEquals(missed, [], `${mutant} passed cases aimed at it`);
    // Failed on what it answered, not because the process died or broke the protocol.
    const broken = r.cases.filter((c) => c.problems?.some((p) => p.startsWith("the implementation failed")));
    assertEquals(broken.map((c) => c.name), []);
  });
}
