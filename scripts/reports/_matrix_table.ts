/**
 * The conformance matrix's table: its columns, its layout, and reading it back
 * from a page. Imports no peer, so tests without permissions can check the page.
 *
 * @module
 */

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

/** The matrix as markdown, padded as `deno fmt` lays tables out. */
export function matrixTable(rows: readonly (readonly string[])[]): string {
  return markdownTable(HEADER, rows);
}

function tableStart(lines: readonly string[]): number {
  const start = lines.findIndex((l) => l.startsWith("| implementation "));
  if (start < 0) throw new Error("no conformance matrix table (a line starting with '| implementation ')");
  return start;
}

/** The rows of the matrix table in a markdown page (cells trimmed), without the header and separator. */
export function parseMatrixTable(page: string): string[][] {
  const lines = page.split("\n");
  const rows: string[][] = [];
  for (const line of lines.slice(tableStart(lines) + 2)) {
    if (!line.startsWith("|")) break;
    rows.push(line.slice(1, -1).split(" | ").map((c) => c.trim()));
  }
  return rows;
}

/** The page with its matrix table replaced by one laid out from rows. */
export function replaceMatrixTable(page: string, rows: readonly (readonly string[])[]): string {
  const lines = page.split("\n");
  const start = tableStart(lines);
  let end = start;
  while (end < lines.length && lines[end].startsWith("|")) end++;
  return [...lines.slice(0, start), matrixTable(rows), ...lines.slice(end)].join("\n");
}
