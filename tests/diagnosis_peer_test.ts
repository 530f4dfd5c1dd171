/**
 * A faithful PyTorch port (scripts/peers/pytorch_peer.py, real PyTorch 1.13 over the protocol) is diagnosed as
 * matching PyTorch on every output it fails, and passes those cases only when asked to be faithful to PyTorch.
 */
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { loadAllFixtures, runSuite, SubprocessImplementation } from "../mod.ts";

const files = await loadAllFixtures();
const torchAvailable = (() => {
  try {
    return new Deno.Command("/usr/bin/python3", { args: ["-c", "import torch"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
})();

Deno.test({
  name: "the PyTorch peer's failures are each diagnosed as PyTorch's own output; --faithful-to pytorch passes them",
  ignore: !torchAvailable,
  fn: async () => {
    const impl = await SubprocessImplementation.start({
      command: ["/usr/bin/python3", "scripts/peers/pytorch_peer.py"],
      timeoutMs: 60_000,
    });
    try {
      const select = { sources: ["pytorch"] };
      const strict = await runSuite(files, impl, { select });
      const numeric = strict.cases.filter((c) => c.status === "fail" && (c.diagnosis?.outputs.length ?? 0) > 0);
      assert(numeric.length >= 4, `only ${numeric.length} numeric failures`);
      for (const c of numeric) {
        for (const o of c.diagnosis!.outputs) {
          assertEquals(o.closest?.kind, "framework", `${c.name}: ${o.text}`);
          assertStringIncludes(o.text, "equals PyTorch 1.13.0a0's recorded output");
        }
      }
      const faithful = await runSuite(files, impl, { select, faithfulTo: "pytorch" });
      const passed = faithful.cases.filter((c) => c.faithfulTo);
      assert(passed.length >= numeric.length - 1 && passed.length > 0, `${passed.length} faithful passes`);
      assertEquals(faithful.totals.pass, strict.totals.pass + passed.length);
      // Failures that are not numbers (a missing output) stay failures.
      assert(faithful.totals.fail >= strict.totals.fail - numeric.length);
    } finally {
      await impl.close();
    }
  },
});
