/**
 * The browser runs as rows of the conformance matrix (docs/matrix.md, section "In a browser"), in the columns and
 * cell format of its table: the cells and the layout are scripts/reports/_matrix_table.ts's, shared with
 * `deno task matrix`. A browser run probes no fingerprint, so its last cell says so.
 *
 * @module
 */

import type { SuiteReport } from "../../mod.ts";
import { matrixCell, matrixTable, SOURCES, unavailableRow } from "../reports/_matrix_table.ts";

/** The heading of docs/matrix.md's section that holds the browser rows. */
export const BROWSER_HEADING = "## In a browser";

/** The fingerprint cell of a browser row: the browser run does not probe one. */
export const NOT_PROBED = "not probed";

/**
 * One browser run's row.
 *
 * @param run The run, its row's label, and its reason when it could not start.
 * @returns The cells, in the matrix's columns.
 */
export function browserRow(run: { label: string; report: SuiteReport; unavailable?: string }): string[] {
  if (run.unavailable) return unavailableRow(run.label, run.unavailable.replaceAll("|", "\\|"));
  return [run.label, ...SOURCES.map((s) => matrixCell(run.report, s)), NOT_PROBED];
}

/**
 * The table.
 *
 * @param runs Each run with the label of its row, and its reason when it could not start.
 * @returns Markdown, laid out as `deno fmt` lays tables out.
 */
export function matrixMarkdown(runs: readonly { label: string; report: SuiteReport; unavailable?: string }[]): string {
  return matrixTable(runs.map(browserRow));
}
