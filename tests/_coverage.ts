/**
 * A test helper (not a test file): one test per peer of a matrix group that every failure of the peer's row carries a
 * diagnosis, none unexplained, and that docs/findings.md's diagnosis-coverage row is what a fresh run computes.
 */
import { assertEquals } from "@std/assert";
import { findingLookup, type FixtureFile, loadFindings } from "../mod.ts";
import { matrixRow, type Peer } from "../scripts/reports/conformance_matrix.ts";
import { parseMatrixTable } from "../scripts/reports/_matrix_table.ts";
import { coverageRow, parseCoverageTable, peerCoverage } from "../scripts/reports/diagnosis_coverage.ts";

const page = parseCoverageTable(await Deno.readTextFile(new URL("../docs/findings.md", import.meta.url)));
const finding = findingLookup(await loadFindings());
const matrixPage = parseMatrixTable(await Deno.readTextFile(new URL("../docs/matrix.md", import.meta.url)));

/**
 * Registers the two tests of one engine peer: docs/matrix.md holds its row as a fresh run computes it, and
 * {@linkcode coverageTest}.
 *
 * @param peer The matrix peer.
 * @param files The fixtures.
 * @param reason Why it cannot run here (both tests are then ignored, with the reason in their names).
 */
export function peerRowTests(peer: Peer, files: readonly FixtureFile[], reason: string | undefined): void {
  Deno.test({
    name: `docs/matrix.md holds the row of ${peer.label}${reason ? ` (ignored: ${reason})` : ""}`,
    ignore: reason !== undefined,
    fn: async () => {
      assertEquals(matrixPage.find((r) => r[0] === peer.label), await matrixRow(peer, files));
    },
  });
  coverageTest(peer, files, reason);
}

/**
 * Registers the test of one peer.
 *
 * @param peer The matrix peer.
 * @param files The fixtures.
 * @param reason Why it cannot run here (the test is then ignored, with the reason in its name).
 */
export function coverageTest(
  peer: Peer,
  files: readonly FixtureFile[],
  reason: string | undefined,
): void {
  Deno.test({
    name: `every failure of ${peer.label} carries a diagnosis, none unexplained, as docs/findings.md's coverage row ` +
      `says${reason ? ` (ignored: ${reason})` : ""}`,
    ignore: reason !== undefined,
    fn: async () => {
      const c = await peerCoverage(peer, files, finding);
      assertEquals(
        c.failures.filter((f) => f.by === "unexplained").map((f) => `${f.case} ${f.where}: ${f.text}`),
        [],
      );
      assertEquals(page.find((r) => r[0] === peer.label), coverageRow(c));
    },
  });
}
