/** docs/matrix.svg is the picture of docs/matrix.md's table, and the table is laid out as the generator lays it out. */
import { assert, assertEquals } from "@std/assert";
import { HEADER, matrixTable, parseMatrixTable } from "../scripts/reports/_matrix_table.ts";
import { matrixPicture, readCell } from "../scripts/reports/matrix_picture.ts";

const docs = new URL("../docs/", import.meta.url);
const page = await Deno.readTextFile(new URL("matrix.md", docs));
const rows = parseMatrixTable(page);

Deno.test("docs/matrix.md's table is laid out exactly as scripts/reports/_matrix_table.ts writes it", () => {
  assert(rows.length >= 9, `only ${rows.length} rows`);
  for (const r of rows) assertEquals(r.length, HEADER.length, r[0]);
  assert(page.includes(matrixTable(rows)));
});

Deno.test("docs/matrix.svg is the picture of docs/matrix.md's table (deno task matrix --write)", async () => {
  assertEquals(await Deno.readTextFile(new URL("matrix.svg", docs)), matrixPicture(HEADER, rows));
});

Deno.test("the picture reads each cell's verdict and worst share both ways", () => {
  assertEquals(readCell("37 pass, 5 fail; worst ∞"), { verdict: "fail", counts: "37 pass, 5 fail", worst: Infinity });
  assertEquals(readCell("4 pass; worst 0.33"), { verdict: "pass", counts: "4 pass", worst: 0.33 });
  assertEquals(readCell("21 pass, 1 xfail; worst 0.58").verdict, "pass");
  assertEquals(readCell("0 pass, 4 fail; worst 4e+5"), { verdict: "fail", counts: "0 pass, 4 fail", worst: 4e5 });
  assertEquals(readCell("skipped").verdict, "skip");
  assertEquals(readCell("unavailable").verdict, "unavailable");
  // A failing row is drawn in the failing colour, a passing one not.
  const svg = matrixPicture(HEADER, [[
    "x",
    "1 pass, 1 fail; worst 2.0",
    "1 pass; worst 0.5",
    "skipped",
    "unavailable",
    "skipped",
    "none",
  ]]);
  assert(svg.includes('fill="#f6c9c4"><title>1 pass, 1 fail; worst 2.0</title>'));
  assert(svg.includes('fill="#cdeccd"><title>1 pass; worst 0.5</title>'));
});
