/**
 * The README's generated tables (porting, edge cases, conformance matrix,
 * benchmarks), laid out as `deno fmt` lays markdown tables out, so that a
 * regenerated table is byte-identical to the formatted README.
 *
 * @module
 */

/** A markdown table: a header row, a separator, the rows; columns padded to their widest cell (in code points). */
export function markdownTable(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const all = [head, ...rows];
  const width = head.map((_, i) => Math.max(...all.map((r) => [...r[i]].length)));
  const line = (cells: readonly string[]) =>
    `| ${cells.map((c, i) => c + " ".repeat(width[i] - [...c].length)).join(" | ")} |`;
  return [line(head), line(width.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}
