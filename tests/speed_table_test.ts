/**
 * docs/matrix.md's speed section (`deno task matrix:speed --write`): one row per engine in SPEED_ROWS, each with a
 * time in each cell the engine has, or the reason it cannot run here. Its times are not checked (they are measured
 * in `deno task matrix:speed`, never in a test).
 */
import { assert, assertEquals } from "@std/assert";
import { SPEED_END, SPEED_ROWS, SPEED_START, speedColumns } from "../scripts/reports/_speed_rows.ts";

const page = await Deno.readTextFile(new URL("../docs/matrix.md", import.meta.url));
const TIME = /^\d+(\.\d+)? (ms|µs)( \(fwd\+bwd\))?$/;

/** What is wrong with a page's speed section (empty when nothing is). */
function speedProblems(text: string): string[] {
  const a = text.indexOf(SPEED_START), b = text.indexOf(SPEED_END);
  if (a < 0 || b < a) return ["no speed section (deno task matrix:speed --write)"];
  const [header, rule, ...rows] = text.slice(a, b).split("\n").filter((l) => l.startsWith("|"))
    .map((l) => l.slice(1, -1).split("|").map((c) => c.trim()));
  const problems: string[] = [];
  if (JSON.stringify(header) !== JSON.stringify(speedColumns)) problems.push(`header ${header}`);
  if (!rule?.every((c) => /^-+$/.test(c))) problems.push("no header rule");
  if (rows.length !== SPEED_ROWS.length) problems.push(`${rows.length} rows, not ${SPEED_ROWS.length}`);
  SPEED_ROWS.forEach((name, i) => {
    const r = rows[i];
    if (!r?.[0].startsWith(name)) return problems.push(`row ${i + 1} is not ${name}`);
    const times = r.slice(3, 9), why = r[9];
    if (why) {
      if (!why.startsWith("cannot run here: ") || why.length < 20) problems.push(`${name}: reason "${why}"`);
      if (times.some((c) => c !== "")) problems.push(`${name}: times beside a reason`);
    } else {
      if (!times.every((c) => TIME.test(c) || c === "—")) problems.push(`${name}: ${times.join(", ")}`);
      if (!TIME.test(times[0]) || !TIME.test(times[3])) problems.push(`${name}: no inference time`);
    }
  });
  return problems;
}

Deno.test("docs/matrix.md's speed section: header, one row per engine in order, times or the reason", () => {
  assertEquals(speedProblems(page), []);
});

Deno.test("a speed section with a row missing, a time missing or a bare failure fails", () => {
  const row = page.slice(page.indexOf(SPEED_START)).split("\n").find((l) => l.startsWith("| onnxruntime-node "))!;
  assert(row, "no onnxruntime-node row");
  assert(speedProblems(page.replace(row + "\n", "")).length > 0);
  const cells = row.split("|");
  cells[4] = " ";
  assert(speedProblems(page.replace(row, cells.join("|"))).length > 0);
  cells[4] = " 1 ms ";
  cells[10] = " failed ";
  assert(speedProblems(page.replace(row, cells.join("|"))).length > 0);
  assert(speedProblems(page.replace(SPEED_START, "")).length > 0);
});
