/** The edge-case matrix (docs/edge-cases.md) is read off the fixtures; that page must hold exactly what scripts/reports/edge_table.ts computes. */
import { assertStringIncludes } from "@std/assert";
import { edgeTable } from "../scripts/reports/edge_table.ts";

Deno.test("docs/edge-cases.md holds the edge-case matrix as scripts/reports/edge_table.ts computes it from the fixtures", async () => {
  const readme = await Deno.readTextFile(new URL("../docs/edge-cases.md", import.meta.url));
  assertStringIncludes(readme, await edgeTable());
});
