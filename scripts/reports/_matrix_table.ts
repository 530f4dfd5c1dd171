/**
 * The conformance matrix's table: its columns, its layout, and reading it back
 * from a page. Imports no peer, so tests without permissions can check the page.
 *
 * @module
 */

import type { SuiteReport } from "../../src/conformance/runner.ts";
import { markdownTable } from "./_markdown.ts";

/** The fixture sources, in column order. */
export const SOURCES: readonly string[] = [
  "pytorch",
  "tensorflow",
  "tf-keras",
  "keras",
  "flax",
  "tensorflow-composed",
  "tfjs",
  "onnxruntime",
  "onnx-testdata",
];
/** The table's header row. */
export const HEADER: readonly string[] = ["implementation", ...SOURCES.map((s) => `${s} fixtures`), "fingerprint"];

/**
 * One cell: a run's cases of one source, "N pass, N fail, N xfail, N skip; worst W" (W the worst error as a share of
 * its budget, ∞ where an output was NaN or infinite against a finite expectation), or "skipped" when all were.
 */
export function matrixCell(report: SuiteReport, source: string): string {
  const cs = report.cases.filter((c) => c.source === source);
  const n = (s: string) => cs.filter((c) => c.status === s).length;
  if (n("skip") === cs.length) return "skipped";
  const parts = [`${n("pass")} pass`];
  if (n("fail") + n("xpass")) parts.push(`${n("fail") + n("xpass")} fail`);
  if (n("xfail")) parts.push(`${n("xfail")} xfail`);
  if (n("skip")) parts.push(`${n("skip")} skip`);
  const worst = Math.max(
    0,
    ...cs.filter((c) => c.status === "pass" || c.status === "fail").map((c) => c.worstShare ?? 0),
  );
  const w = !Number.isFinite(worst) ? "∞" : worst >= 1e4 ? worst.toExponential(0) : worst.toPrecision(2);
  return `${parts.join(", ")}; worst ${w}`;
}

/** A row for an implementation that could not start: every cell "unavailable", the reason in the last. */
export function unavailableRow(label: string, reason: string): string[] {
  return [label, ...SOURCES.map(() => "unavailable"), `unavailable: ${reason.replace(/^unavailable: /, "")}`];
}

/** The matrix as markdown, padded as `deno fmt` lays tables out. */
export function matrixTable(rows: readonly (readonly string[])[]): string {
  return markdownTable(HEADER, rows);
}

function tableStart(lines: readonly string[], heading?: string): number {
  const from = heading === undefined ? 0 : lines.indexOf(heading);
  if (from < 0) throw new Error(`no heading ${JSON.stringify(heading)}`);
  const start = lines.findIndex((l, i) => i >= from && l.startsWith("| implementation "));
  if (start < 0) throw new Error("no conformance matrix table (a line starting with '| implementation ')");
  return start;
}

/**
 * The rows of the matrix table in a markdown page (cells trimmed), without the header and separator: the page's
 * first table, or the first after a heading line.
 */
export function parseMatrixTable(page: string, heading?: string): string[][] {
  const lines = page.split("\n");
  const rows: string[][] = [];
  for (const line of lines.slice(tableStart(lines, heading) + 2)) {
    if (!line.startsWith("|")) break;
    rows.push(line.slice(1, -1).split(" | ").map((c) => c.trim()));
  }
  return rows;
}

/** The page with its matrix table (the first, or the first after a heading line) replaced by one laid out from rows. */
export function replaceMatrixTable(page: string, rows: readonly (readonly string[])[], heading?: string): string {
  const lines = page.split("\n");
  const start = tableStart(lines, heading);
  let end = start;
  while (end < lines.length && lines[end].startsWith("|")) end++;
  return [...lines.slice(0, start), matrixTable(rows), ...lines.slice(end)].join("\n");
}
