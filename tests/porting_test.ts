/**
 * The README's porting table is computed from real PyTorch and TF.js fixtures;
 * this checks what it claims and that README.md holds exactly the computed table.
 */
import { assert, assertStringIncludes } from "@std/assert";
import { portingRows, portingTable } from "../scripts/reports/porting_table.ts";

const root = new URL("../", import.meta.url);
const FLOAT32_NOISE = 1e-6;

Deno.test("porting PyTorch -> TF: defaults disagree, momentum and epsilon mapped fix all but the running variance", () => {
  const rows = new Map(portingRows(root).map((r) => [r.quantity, r.values]));
  for (const [q, [defaults, mapped, complete]] of rows) {
    // dbeta = sum(dy) depends on no convention.
    if (q.startsWith("dbeta")) assert(defaults < FLOAT32_NOISE, q);
    else assert(defaults > 1e-4, `${q}: TF defaults should visibly differ (${defaults})`);
    if (q.startsWith("running variance") || q.startsWith("y, inference")) {
      assert(mapped > 1e-3, `${q}: the Bessel factor should still show (${mapped})`);
    } else assert(mapped < FLOAT32_NOISE, `${q}: mapped momentum and epsilon should agree (${mapped})`);
    assert(complete < FLOAT32_NOISE, `${q}: the complete mapping should agree (${complete})`);
  }
});

Deno.test("docs/porting.md holds the porting table as scripts/reports/porting_table.ts computes it", async () => {
  const readme = await Deno.readTextFile(new URL("docs/porting.md", root));
  assertStringIncludes(readme, portingTable(root));
});
