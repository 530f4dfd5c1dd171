/**
 * Diagnosis coverage: per peer of the conformance matrix, how many failing outputs its run has, and what explains
 * each (src/conformance/diagnosis.ts): a framework's recorded output, a neighbouring convention or arithmetic (a
 * what-if), a known finding of the register (fixtures/findings.json) on that case and output, or nothing. A failing
 * case without a judged output (a refusal, a missing output, an answer problem) counts as one failure, explained when
 * its step diagnosis names what it resembles.
 *
 *     deno run -A scripts/reports/diagnosis_coverage.ts [--write] [LABEL-SUBSTRING ...]
 *
 * `--write` replaces the table under "## Diagnosis coverage" of docs/findings.md (run over every peer; a peer that
 * cannot start here keeps a row that says why). Without `--write` it prints the table and every unexplained failure.
 *
 * @module
 */

import { findingLookup, type FixtureFile, loadAllFixtures, loadFindings, runSuite } from "../../mod.ts";
import type { SuiteReport } from "../../src/conformance/runner.ts";
import type { KnownFinding } from "../../src/conformance/diagnosis.ts";
import { REFERENCE_XFAIL } from "../cli/reference_xfail.ts";
import { type Peer, PEERS } from "./conformance_matrix.ts";
import { markdownTable } from "./_markdown.ts";
import { referenceImplementation } from "../peers/inprocess.ts";

/** What explains one failure. */
export type Explanation = "framework" | "convention" | "finding" | "step" | "unexplained";

/** One failure of a run and what explains it. */
export interface Failure {
  readonly case: string;
  /** `step N output`, or `case` for a failure without a judged output. */
  readonly where: string;
  readonly by: Explanation;
  readonly text: string;
}

/** A peer's coverage. */
export interface Coverage {
  readonly label: string;
  readonly failures: readonly Failure[];
  /** Why the peer cannot run here. */
  readonly unavailable?: string;
}

/**
 * Every failure of a run, each with what explains it.
 *
 * @param report The run (with diagnoses: runSuite's default, and the findings register's lookup).
 * @returns One entry per failing output, and one per failing case that has no failing output diagnosed.
 */
export function classifyFailures(report: SuiteReport): Failure[] {
  const out: Failure[] = [];
  for (const c of report.cases) {
    if (c.status !== "fail" && c.status !== "xpass") continue;
    const d = c.diagnosis;
    for (const o of d?.outputs ?? []) {
      const by: Explanation = o.matched
        ? (o.closest!.kind === "framework" ? "framework" : "convention")
        : o.finding
        ? "finding"
        : "unexplained";
      out.push({ case: c.name, where: `step ${o.step} ${o.output}`, by, text: o.text });
    }
    if ((d?.outputs.length ?? 0) === 0) {
      const said = d?.steps ?? [];
      const explained = said.length > 0 && !said.some((s) => /no witness explains/.test(s));
      out.push({
        case: c.name,
        where: "case",
        by: explained ? "step" : "unexplained",
        text: said.join("; ") || c.reason || "no diagnosis",
      });
    }
  }
  return out;
}

/** Runs one peer and classifies its failures. */
export async function peerCoverage(
  peer: Peer,
  files: readonly FixtureFile[],
  finding: (caseName: string, output: string) => KnownFinding | undefined,
): Promise<Coverage> {
  const reason = await peer.unavailable?.();
  if (reason) return { label: peer.label, failures: [], unavailable: reason };
  const { impl, close } = await peer.open();
  try {
    const report = await runSuite(files, impl, {
      ...(impl === referenceImplementation ? { expectedFailures: REFERENCE_XFAIL } : {}),
      findingFor: finding,
    });
    return { label: peer.label, failures: classifyFailures(report) };
  } finally {
    await close();
  }
}

/** The table's header. */
export const COVERAGE_HEADER: readonly string[] = [
  "peer",
  "failures",
  "framework's record",
  "convention / arithmetic",
  "known finding",
  "refusal / step",
  "unexplained",
];

/** One row of the table. */
export function coverageRow(c: Coverage): string[] {
  if (c.unavailable) return [c.label, ...COVERAGE_HEADER.slice(1).map(() => "unavailable")];
  const n = (by: Explanation) => String(c.failures.filter((f) => f.by === by).length);
  return [
    c.label,
    String(c.failures.length),
    n("framework"),
    n("convention"),
    n("finding"),
    n("step"),
    n("unexplained"),
  ];
}

/** The table as markdown. */
export function coverageTable(rows: readonly Coverage[]): string {
  return markdownTable(COVERAGE_HEADER, rows.map(coverageRow));
}

const HEADING = "## Diagnosis coverage";

/** The rows of the coverage table of a page (docs/findings.md), as cells. */
export function parseCoverageTable(page: string): string[][] {
  const lines = page.split("\n");
  const at = lines.indexOf(HEADING);
  if (at < 0) throw new Error(`no heading ${JSON.stringify(HEADING)}`);
  const start = lines.findIndex((l, i) => i > at && l.startsWith("| peer "));
  if (start < 0) throw new Error(`no table under ${HEADING}`);
  const rows: string[][] = [];
  for (let i = start + 2; i < lines.length && lines[i].startsWith("|"); i++) {
    rows.push(lines[i].slice(1, -1).split(" | ").map((c) => c.trim()));
  }
  return rows;
}

/** The page with its coverage table replaced (the first table after the heading). */
export function replaceCoverageTable(page: string, table: string): string {
  const lines = page.split("\n");
  const at = lines.indexOf(HEADING);
  if (at < 0) throw new Error(`docs/findings.md has no heading ${JSON.stringify(HEADING)}`);
  const start = lines.findIndex((l, i) => i > at && l.startsWith("| peer "));
  if (start < 0) throw new Error(`no table under ${HEADING}`);
  let end = start;
  while (end < lines.length && lines[end].startsWith("|")) end++;
  return [...lines.slice(0, start), ...table.trimEnd().split("\n"), ...lines.slice(end)].join("\n");
}

if (import.meta.main) {
  const write = Deno.args.includes("--write");
  const wanted = Deno.args.filter((a) => !a.startsWith("--"));
  if (write && wanted.length) throw new Error("--write runs every peer: give no label filter with it");
  const peers = PEERS.filter((p) => wanted.length === 0 || wanted.some((w) => p.label.includes(w)));
  const files = await loadAllFixtures();
  const finding = findingLookup(await loadFindings());
  const rows: Coverage[] = [];
  for (const peer of peers) {
    const started = performance.now();
    const c = await peerCoverage(peer, files, finding);
    rows.push(c);
    console.error(`${coverageRow(c).join(" | ")}  (${((performance.now() - started) / 1000).toFixed(0)} s)`);
    if (!write) {
      for (const f of c.failures.filter((f) => f.by === "unexplained" || f.by === "finding")) {
        console.error(`  ${f.by}: ${f.case} ${f.where}: ${f.text}`);
      }
    }
  }
  const table = coverageTable(rows);
  if (write) {
    const page = new URL("../../docs/findings.md", import.meta.url);
    await Deno.writeTextFile(page, replaceCoverageTable(await Deno.readTextFile(page), table));
    console.log("wrote docs/findings.md");
  } else console.log(table);
}
