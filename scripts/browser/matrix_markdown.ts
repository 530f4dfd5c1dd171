/**
 * The browser runs as rows of a markdown conformance matrix, in the cell format
 * of docs/matrix.md (scripts/reports/conformance_matrix.ts): "N pass, N fail,
 * N xfail, N skip; worst W", "skipped", or the run's "unavailable: ..." reason.
 *
 * @module
 */

import type { SuiteReport } from "../../mod.ts";
import { markdownTable } from "../reports/_markdown.ts";

/** The fixture sources, in the column order of docs/matrix.md. */
export const SOURCES: readonly string[] = ["pytorch", "tensorflow-composed", "tfjs", "onnxruntime", "onnx-testdata"];

/**
 * One cell: the run's cases of one source.
 *
 * @param report The run.
 * @param source The fixture source.
 * @returns The cell's text.
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

/**
 * The table.
 *
 * @param runs Each run with the label of its row, and its reason when it could not start.
 * @returns Markdown, laid out as `deno fmt` lays tables out.
 */
export function matrixMarkdown(runs: readonly { label: string; report: SuiteReport; unavailable?: string }[]): string {
  // docs/matrix.md's columns first, then any other source the runs saw.
  const sources = [...new Set([...SOURCES, ...runs.flatMap((r) => r.report.cases.map((c) => c.source))])];
  return markdownTable(
    ["implementation", ...sources.map((s) => `${s} fixtures`)],
    runs.map((r) => [
      r.label,
      ...sources.map((s, i) =>
        r.unavailable ? (i === 0 ? r.unavailable.replaceAll("|", "\\|") : "") : matrixCell(r.report, s)
      ),
    ]),
  );
}
