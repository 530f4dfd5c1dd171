/** The conformance matrix (docs/matrix.md) is computed by running the peers; each framework peer's row must be what a fresh run gives. */
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { type HtmlRun, renderHtmlReport } from "../scripts/reports/html_report.ts";
import { matrixRow, matrixRows, PEERS } from "../scripts/reports/conformance_matrix.ts";
import { parseMatrixTable, SOURCES } from "../scripts/reports/_matrix_table.ts";
import { loadAllFixtures } from "../mod.ts";
import { coverageTest } from "./_coverage.ts";

const available = (cmd: string, args: string[]) => {
  try {
    return new Deno.Command(cmd, { args, stdout: "null", stderr: "null" }).outputSync().success;
  } catch {
    return false;
  }
};

Deno.test({
  name: "docs/matrix.md holds the framework peers' rows as scripts/reports/conformance_matrix.ts computes them",
  // Runs PyTorch (Debian python3-torch) and Node.js peers: CI installs both; elsewhere say so instead of failing.
  ignore: !available("/usr/bin/python3", ["-c", "import torch"]) || !available("node", ["--version"]),
  fn: async () => {
    const page = parseMatrixTable(await Deno.readTextFile(new URL("../docs/matrix.md", import.meta.url)));
    const peers = PEERS.filter((p) => p.group === "framework");
    const runs: HtmlRun[] = [];
    const fresh = await matrixRows(peers, runs);
    assertEquals(page.filter((r) => peers.some((p) => p.label === r[0])), fresh);
    // Where and why (diagnosis.ts): every failing case of every peer carries a diagnosis, none unexplained in words.
    for (const { report } of runs) {
      for (const c of report.cases.filter((c) => c.status === "fail")) {
        const d = c.diagnosis;
        assert(d && d.outputs.length + d.steps.length > 0, `${report.implementation}: ${c.name} has no diagnosis`);
      }
    }
  },
});

// Diagnosis coverage of the framework peers: PyTorch 1.13 needs Debian's python3-torch, the naive peer Node.js.
const files = await loadAllFixtures();
for (const peer of PEERS.filter((p) => p.group === "framework")) {
  const reason = peer.label.startsWith("PyTorch 1.13") && !available("/usr/bin/python3", ["-c", "import torch"])
    ? "/usr/bin/python3 cannot import torch (Debian python3-torch)"
    : peer.label.startsWith("naive") && !available("node", ["--version"])
    ? "no node on PATH"
    : undefined;
  coverageTest(peer, files, reason);
}

Deno.test("a peer that cannot start keeps its row, which says why, and is never opened", async () => {
  let opened = false;
  const row = await matrixRow({
    label: "engine X",
    group: "engine",
    unavailable: () => Promise.resolve("no adapter here"),
    open: () => {
      opened = true;
      throw new Error("must not be opened");
    },
  }, []);
  assertEquals(row, ["engine X", ...SOURCES.map(() => "unavailable"), "unavailable: no adapter here"]);
  assertEquals(opened, false);
});

Deno.test("the matrix run feeds the HTML report (html_report.ts): its matrix picture, an unavailable peer's reason", async () => {
  const runs: HtmlRun[] = [];
  const reference = PEERS.find((p) => p.label === "reference (this suite)")!;
  const missing = { ...reference, label: "engine Y", unavailable: () => Promise.resolve("no such engine here") };
  const rows = await matrixRows([reference, missing], runs);
  assertEquals(runs.map((r) => r.report.implementation), ["reference (this suite)", "engine Y"]);
  assertEquals(rows[1].at(-1), "unavailable: no such engine here");
  const html = renderHtmlReport(runs, "BatchNorm conformance matrix");
  assertStringIncludes(html, '<svg class="matrix"');
  assertStringIncludes(html, "unavailable: no such engine here");
  assertEquals(runs[0].report.totals.fail, 0);
  assert(runs[0].details.size > 0, "no per-element details were recorded");
});
