/** The conformance matrix (docs/matrix.md) is computed by running the peers; that page must hold exactly that. */
import { assertStringIncludes } from "@std/assert";
import { conformanceMatrix } from "../scripts/reports/conformance_matrix.ts";

const available = (cmd: string, args: string[]) => {
  try {
    return new Deno.Command(cmd, { args, stdout: "null", stderr: "null" }).outputSync().success;
  } catch {
    return false;
  }
};

Deno.test({
  name: "docs/matrix.md holds the conformance matrix as scripts/reports/conformance_matrix.ts computes it",
  // Runs PyTorch (Debian python3-torch) and Node.js peers: CI installs both; elsewhere say so instead of failing.
  ignore: !available("/usr/bin/python3", ["-c", "import torch"]) || !available("node", ["--version"]),
  fn: async () => {
    const readme = await Deno.readTextFile(new URL("../docs/matrix.md", import.meta.url));
    assertStringIncludes(readme, await conformanceMatrix());
  },
});
