/**
 * The conformance matrix as a picture (SVG): one tile per implementation ×
 * fixture source, coloured by verdict (all passed, some failed, skipped,
 * unavailable), with the counts, the worst error as a share of its budget and a
 * bar of that share on a log scale (the budget is the mark at the middle), and
 * the fingerprint per row. Drawn from the table's cells alone, so that
 * docs/matrix.svg shows exactly docs/matrix.md's table (tests/matrix_picture_test.ts).
 *
 * @module
 */

const TILE_W = 176, TILE_H = 46, FP_W = 300, HEAD_H = 40, PAD = 10, CHAR_W = 6.5;
const COLORS = { pass: "#cdeccd", fail: "#f6c9c4", skip: "#eeeeee", unavailable: "#d9d9d9" } as const;

const escape = (s: string) =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/** What a table cell says: verdict, the counts and the worst share of budget (NaN when none). */
export function readCell(cell: string): { verdict: keyof typeof COLORS; counts: string; worst: number } {
  if (cell === "skipped") return { verdict: "skip", counts: "skipped", worst: NaN };
  if (cell.startsWith("unavailable")) return { verdict: "unavailable", counts: "unavailable", worst: NaN };
  const [counts, worstText] = cell.split("; worst ");
  const worst = worstText === "∞" ? Infinity : Number(worstText);
  return { verdict: /\d+ fail/.test(counts) ? "fail" : "pass", counts, worst };
}

/** A bar of the worst share on a log scale: 1e-3 at the left, the budget (1) at the middle, 1e3 and beyond full. */
function bar(x: number, y: number, worst: number): string {
  if (Number.isNaN(worst)) return "";
  const w = TILE_W - 2 * PAD;
  const pos = worst <= 0 ? 0 : Math.min(1, Math.max(0, (Math.log10(worst) + 3) / 6));
  const color = worst > 1 ? "#c0392b" : "#2e7d32";
  return `<rect x="${x + PAD}" y="${y + TILE_H - 9}" width="${w}" height="4" fill="#ffffff"/>` +
    `<rect x="${x + PAD}" y="${y + TILE_H - 9}" width="${(w * pos).toFixed(1)}" height="4" fill="${color}"/>` +
    `<rect x="${x + PAD + w / 2 - 0.5}" y="${y + TILE_H - 11}" width="1" height="8" fill="#333333"/>`;
}

/**
 * The SVG picture of a matrix table.
 *
 * @param header The table's header row (implementation, one column per source, fingerprint).
 * @param rows The table's rows, cells as in docs/matrix.md.
 * @returns The SVG document.
 */
export function matrixPicture(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const sources = header.slice(1, -1);
  // Room for the longest label at about 6.5 px a character (11 px sans-serif).
  const LABEL_W = Math.max(300, Math.ceil(Math.max(...rows.map((r) => [...r[0]].length)) * CHAR_W) + 2 * PAD);
  const width = LABEL_W + sources.length * TILE_W + FP_W;
  const height = HEAD_H + rows.length * TILE_H + 40;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ` +
    `font-family="DejaVu Sans, Arial, sans-serif" font-size="11">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
  ];
  sources.forEach((s, j) =>
    out.push(
      `<text x="${LABEL_W + j * TILE_W + TILE_W / 2}" y="${HEAD_H - 14}" text-anchor="middle" font-weight="bold">${
        escape(s)
      }</text>`,
    )
  );
  out.push(
    `<text x="${LABEL_W + sources.length * TILE_W + PAD}" y="${HEAD_H - 14}" font-weight="bold">${
      escape(header.at(-1)!)
    }</text>`,
  );
  rows.forEach((row, i) => {
    const y = HEAD_H + i * TILE_H;
    out.push(`<text x="${PAD}" y="${y + TILE_H / 2 + 4}">${escape(row[0])}</text>`);
    row.slice(1, -1).forEach((cell, j) => {
      const x = LABEL_W + j * TILE_W;
      const { verdict, counts, worst } = readCell(cell);
      out.push(
        `<rect x="${x + 1}" y="${y + 1}" width="${TILE_W - 2}" height="${TILE_H - 2}" fill="${COLORS[verdict]}">` +
          `<title>${escape(cell)}</title></rect>`,
      );
      out.push(`<text x="${x + PAD}" y="${y + 15}">${escape(counts)}</text>`);
      if (!Number.isNaN(worst)) {
        const w = !Number.isFinite(worst) ? "∞" : String(worst);
        out.push(`<text x="${x + PAD}" y="${y + 29}" fill="#333333">worst ${escape(w)} of budget</text>`);
      }
      out.push(bar(x, y, worst));
    });
    const fp = row.at(-1)!;
    out.push(
      `<text x="${LABEL_W + sources.length * TILE_W + PAD}" y="${y + TILE_H / 2 + 4}">${
        escape(fp.length > 48 ? fp.slice(0, 47) + "…" : fp)
      }<title>${escape(fp)}</title></text>`,
    );
  });
  const legendY = HEAD_H + rows.length * TILE_H + 24;
  let lx = PAD;
  for (
    const [name, color] of Object.entries({
      "all passed": COLORS.pass,
      "some failed": COLORS.fail,
      skipped: COLORS.skip,
      unavailable: COLORS.unavailable,
    })
  ) {
    out.push(`<rect x="${lx}" y="${legendY - 10}" width="12" height="12" fill="${color}" stroke="#999999"/>`);
    out.push(`<text x="${lx + 16}" y="${legendY}">${name}</text>`);
    lx += 110;
  }
  out.push(
    `<text x="${lx}" y="${legendY}">bar: worst error as a share of its budget, log scale 0.001 … 1000; the tick is the budget</text>`,
  );
  out.push("</svg>");
  return out.join("\n") + "\n";
}
