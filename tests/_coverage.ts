/**
 * A test helper (not a test file): one test per peer of a matrix group that every failure of the peer's row carries a
 * diagnosis, none unexplained, and that docs/findings.md's diagnosis-coverage row is what a fresh run computes.
 */
import { assertEquals } from "@std/assert";
import { findingLookup, type FixtureFile, loadFindings } from "../mod.ts";
import { matrixRow, type Peer } from "../scripts/reports/conformance_matrix.ts";
import { parseMatrixTable } from "../scripts/reports/_matrix_table.ts";
import { coverageRow, parseCoverageTable, peerCoverage } from "../scripts/reports/diagnosis_coverage.ts";
import { foreignCpuNote, readCpuClass } from "./_cpu.ts";

const page = parseCoverageTable(await Deno.readTextFile(new URL("../docs/findings.md", import.meta.url)));
const finding = findingLookup(await loadFindings());
const matrixPage = parseMatrixTable(await Deno.readTextFile(new URL("../docs/matrix.md", import.meta.url)));
/**
 * docs/matrix.md was run on the recording CPU (docs/fixtures.md "On another CPU"): an engine's last bits may differ on
 * another one (OpenVINO's worst share on the ONNX test data: 0.15 on the recording Intel, 0.17 on an AMD EPYC). There,
 * CI included, a row is compared without its worst shares; its pass, fail and skip counts and its fingerprint still
 * must match.
 */
const CPU_NOTE = foreignCpuNote(readCpuClass("/usr/bin/python3"), "worst shares not compared");

/** A matrix row without the worst shares of its cells ("12 pass, 1 fail; worst 0.5" → "12 pass, 1 fail"). */
function withoutWorst(row: readonly string[] | undefined): string[] | undefined {
  return row?.map((cell) => cell.replace(/; worst [^;]*$/, ""));
}

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
    name: `docs/matrix.md holds the row of ${peer.label}${reason ? ` (ignored: ${reason})` : CPU_NOTE}`,
    ignore: reason !== undefined,
    fn: async () => {
      const recorded = matrixPage.find((r) => r[0] === peer.label), fresh = await matrixRow(peer, files);
      if (CPU_NOTE === "") assertEquals(recorded, fresh);
      else assertEquals(withoutWorst(recorded), withoutWorst(fresh));
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
