/**
 * Regenerates only the Rust engines' rows of docs/matrix.md (and the picture), leaving every other row as the page
 * has it: `deno task matrix --write` reruns every peer, which is slow on a loaded 2-core machine.
 * tests/rust_engines_test.ts checks each of these rows the same way (equal to a fresh `matrixRow`).
 *
 *     deno run --allow-read --allow-write --allow-run --allow-ffi --allow-env --allow-sys scripts/peers/rust_rows.ts
 *
 * @module
 */

import { loadAllFixtures } from "../../mod.ts";
import { matrixRow, PEERS } from "../reports/conformance_matrix.ts";
import { HEADER, parseMatrixTable, replaceMatrixTable } from "../reports/_matrix_table.ts";
import { matrixPicture } from "../reports/matrix_picture.ts";
import { RUST_PEERS } from "./rust_peers.ts";

const root = new URL("../../", import.meta.url);
const pageUrl = new URL("docs/matrix.md", root);
const page = await Deno.readTextFile(pageUrl);
const old = parseMatrixTable(page);
const files = await loadAllFixtures();
const fresh = new Map<string, string[]>();
for (const peer of RUST_PEERS) fresh.set(peer.label, await matrixRow(peer, files));
// Table order is PEERS order; a row the page lacks and that is not a Rust row is left out (not ours to compute).
const rows = PEERS.map((p) => fresh.get(p.label) ?? old.find((r) => r[0] === p.label)).filter((r) => r !== undefined);
for (const r of fresh.values()) console.log(r.join(" | "));
for (
  const [url, text] of [
    [pageUrl, replaceMatrixTable(page, rows)],
    [new URL("docs/matrix.svg", root), matrixPicture(HEADER, rows)],
  ] as const
) {
  const tmp = new URL(`${url.pathname.split("/").pop()}.tmp-${Deno.pid}`, url);
  await Deno.writeTextFile(tmp, text);
  await Deno.rename(tmp, url);
}
