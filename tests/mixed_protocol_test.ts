/**
 * Protocol 1.2 (fixtures/PROTOCOL.md): a case request carries `dtypes`; a program that declares no
 * `supports.mixed_dtypes` is sent uniform cases only and one without `center_scale` only cases where center and scale
 * agree (the others reported skipped, with the reason); a program that declares them is sent them and, answering
 * each output in its group's dtype, passes. The program is tests/testdata/peers/mixed_peer.ts (the reference behind
 * the protocol).
 */
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { type FixtureFile, PRESETS, runSuite, SubprocessImplementation } from "../mod.ts";
import { CENTER_SCALE, MIXED, mixedCase } from "./_mixed_cases.ts";

const PEER = new URL("testdata/peers/mixed_peer.ts", import.meta.url).pathname;
const uniform = mixedCase(
  "uniform float32",
  { data: "float32", params: "float32", running: "float32", saved: "float32" },
  { ...PRESETS.keras, axis: 1 },
  30,
);
const file: FixtureFile = {
  url: "mixed.json",
  formatVersion: "1.3",
  provenance: {
    source: "test",
    framework: "exact evaluator",
    version: "-",
    api: "-",
    generator: "tests/_mixed_cases.ts",
    command: "-",
    seed: 0,
    composed: true,
  },
  cases: [uniform, ...MIXED, ...CENTER_SCALE],
};

for (const declare of [false, true]) {
  Deno.test(`a protocol program ${declare ? "that declares" : "without"} mixed_dtypes and center_scale`, async () => {
    const impl = await SubprocessImplementation.start({
      command: ["deno", "run", "--no-lock", "--quiet", PEER, ...(declare ? ["--declare"] : [])],
      timeoutMs: 60_000,
    });
    try {
      assertEquals(impl.supports.centerScale, declare);
      assertEquals((impl.supports.mixedDtypes as unknown[]).length, declare ? 3 : 0);
      const report = await runSuite([file], impl);
      const status = Object.fromEntries(report.cases.map((c) => [c.name, c]));
      for (const c of report.cases) {
        const mixed = MIXED.some((m) => m.name === c.name);
        const apart = /center=(true scale=false|false scale=true)/.test(c.name);
        // The report names a mixed case's dtypes (JSON reports carry them).
        assertEquals(c.dtypes?.running, mixed ? "float32" : undefined, c.name);
        if (!declare && (mixed || apart)) {
          assertEquals(c.status, "skip", c.name);
          assertStringIncludes(
            c.reason!,
            mixed ? "declares no mixed_dtypes (uniform cases only)" : "does not declare center_scale",
          );
        } else {
          // The "keras-like float16" combination is declared too (same dtypes as the fused one).
          assertEquals(c.status, "pass", `${c.name}: ${c.reason}`);
        }
      }
      assert(status["uniform float32"].status === "pass");
      assertEquals(report.totals.pass, declare ? file.cases.length : 1 + 2);
    } finally {
      await impl.close();
    }
  });
}
