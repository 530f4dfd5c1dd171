/**
 * The findings table (docs/findings-table.md): where a framework's recorded output is far from the exact value of its
 * own convention (the witness bound of FORMAT.md), with the size and the cause. Findings are never charged to an
 * implementation under test (it is judged against exact values); they are what the frameworks themselves get wrong.
 *
 * One source: the findings register, fixtures/findings.json (written by scripts/generators/findings_register.ts
 * from its curated causes, `deno task fixtures`). This page is laid out from it and repeats none of its texts by
 * hand; tests/verdict_test.ts keeps the page equal to a fresh layout, tests/findings_register_test.ts the register
 * equal to a fresh computation from the fixtures.
 *
 *     deno run --allow-read=. --allow-write=docs scripts/reports/findings.ts
 *
 * @module
 */

import { type FindingsRegister, type FixtureFile, loadAllFixtures, loadFindings } from "../../mod.ts";
import { markdownTable } from "./_markdown.ts";

const cell = (s: string) => s.replaceAll("|", "\\|");

/** The framework whose record a case holds: its file's, or for a re-labelled case (gen_relabel.py) its original's. */
function recordedBy(files: readonly FixtureFile[]): (caseName: string) => string {
  const by = new Map(files.flatMap((f) => f.cases.map((c) => [c.name, f.provenance] as const)));
  return (name) => {
    const original = /^composed relabel \(.*?\) of: (.*)$/.exec(name)?.[1];
    const p = (original && by.get(original)) || by.get(name);
    return p ? `${p.framework} ${p.version}` : "?";
  };
}

/**
 * docs/findings-table.md's text: one row per case and output of each finding, then each finding's cause and source.
 *
 * @param register The findings register (fixtures/findings.json).
 * @param files The fixtures, for the framework that recorded each case.
 * @returns The page.
 */
export function findingsMarkdown(register: FindingsRegister, files: readonly FixtureFile[]): string {
  const who = recordedBy(files);
  const rows = register.findings.flatMap((f) =>
    f.cases.flatMap((c) =>
      c.outputs.map((o) => [
        f.id,
        who(c.case),
        cell(c.case),
        o.record === "expected" ? o.dtype : "float64 run",
        o.output,
        o.share === null ? "non-finite" : `${o.share}×`,
      ])
    )
  );
  const causes = register.findings.map((f) => [
    f.id,
    cell(f.title),
    f.frameworks.map((x) => `${x.framework} ${x.version}`).join(", "),
    cell(f.cause),
    f.source.split(" ; ").map((s) => `<${s}>`).join(" ; "),
  ]);
  return [
    "# Findings: where the frameworks are far from exact",
    "",
    "Laid out by `scripts/reports/findings.ts` from the findings register, `fixtures/findings.json` (the one source: written",
    "by `scripts/generators/findings_register.ts` with `deno task fixtures`; tests/verdict_test.ts keeps this page current).",
    "Each row is a framework's recorded output (`expected`, in the case's dtype, or its float64 run) outside the witness",
    "bound: the budget of FORMAT.md's policy against the exact value of the convention the case states. The size is the worst",
    "share of that budget over the case's steps (1× is the edge; non-finite: NaN or an infinity where the exact value is",
    "finite). An implementation under test is judged against the exact values, so none of these is charged to it; a failure",
    "whose answer equals such a record is reported with the finding's id. Every other framework output in the fixtures lies",
    "within its bound.",
    "",
    markdownTable(["finding", "framework", "case", "dtype", "output", "size"], rows),
    "",
    "## Causes",
    "",
    markdownTable(["finding", "title", "frameworks", "cause", "source"], causes),
    "",
  ].join("\n");
}

if (import.meta.main) {
  const text = findingsMarkdown(await loadFindings(), await loadAllFixtures());
  const url = new URL("../../docs/findings-table.md", import.meta.url);
  const tmp = new URL("../../docs/findings-table.md.tmp", import.meta.url);
  Deno.writeTextFileSync(tmp, text);
  Deno.renameSync(tmp, url);
  console.log(`docs/findings-table.md: ${text.split("\n").length} lines`);
}
