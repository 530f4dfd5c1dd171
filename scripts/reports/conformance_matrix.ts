/**
 * The conformance matrix (docs/matrix.md): each peer implementation × each fixture
 * source → passed / failed / skipped and the worst error as a share of its budget,
 * with the peer's fingerprint (closest preset), and the same matrix as a picture
 * (docs/matrix.svg, scripts/reports/matrix_picture.ts). A peer that cannot start
 * on this machine gets a row that says why.
 *
 *     deno task matrix            # prints the table
 *     deno task matrix --write    # one run: the table into docs/matrix.md, the picture into docs/matrix.svg
 *     deno task matrix --html F   # also the HTML report of that run (html_report.ts: its matrix picture, every case)
 *
 * tests/matrix_test.ts (the framework peers) and tests/engines_test.ts (the
 * deployed engines) check that each row of docs/matrix.md is what a fresh run
 * computes; tests/matrix_picture_test.ts that the picture shows that table.
 *
 * @module
 */

import {
  fingerprint,
  type FixtureFile,
  type Implementation,
  loadAllFixtures,
  runSuite,
  SubprocessImplementation,
} from "../../mod.ts";
import { onnxruntimeImplementation, referenceImplementation, tfjsImplementation } from "../peers/inprocess.ts";
import { onnxruntimeWebImplementation, tfjsBackendImplementation, tfjsBackendUnavailable } from "../peers/engines.ts";
import { PYPI_PEERS } from "../peers/pypi_framework_peers.ts";
import { REFERENCE_XFAIL } from "../cli/reference_xfail.ts";
import { PYPI_ONNX_PEERS } from "../peers/pypi_onnx_peers.ts";
import { RUST_PEERS } from "../peers/rust_peers.ts";
import { HEADER, matrixCell, matrixTable, replaceMatrixTable, SOURCES, unavailableRow } from "./_matrix_table.ts";
import { matrixPicture } from "./matrix_picture.ts";
import { type HtmlRun, recordDetails, renderHtmlReport } from "./html_report.ts";

const root = new URL("../../", import.meta.url);

/** A row of the matrix: how to start the implementation, and why it cannot start here (if it cannot). */
export interface Peer {
  /** The row's label. */
  readonly label: string;
  /**
   * `framework` peers are checked by tests/matrix_test.ts, `engine` peers by tests/engines_test.ts, `pypi` peers (the
   * ONNX-family engines from PyPI) by tests/pypi_onnx_engines_test.ts, `pypi-frameworks` peers (the framework engines
   * from PyPI) by tests/pypi_framework_engines_test.ts, `rust` peers (scripts/peers/rust_peers.ts, from crates.io) by
   * tests/rust_engines_test.ts.
   */
  readonly group: "framework" | "engine" | "pypi" | "pypi-frameworks" | "rust";
  /** Why it cannot run on this machine, or undefined when it can. */
  readonly unavailable?: () => Promise<string | undefined>;
  /** Starts it. */
  readonly open: () => Promise<{ impl: Implementation; close: () => Promise<void> }>;
}

const inProcess = (
  label: string,
  group: Peer["group"],
  impl: () => Implementation,
  extra: Partial<Peer> = {},
): Peer => ({
  label,
  group,
  open: () => Promise.resolve({ impl: impl(), close: () => Promise.resolve() }),
  ...extra,
});
const subprocess = (label: string, group: Peer["group"], command: string[], extra: Partial<Peer> = {}): Peer => ({
  label,
  group,
  open: async () => {
    const impl = await SubprocessImplementation.start({
      command: command.map((c) => c.startsWith("scripts/") ? new URL(c, root).pathname : c),
    });
    return { impl, close: () => impl.close() };
  },
  ...extra,
});

/** Whether `/usr/bin/python3` runs a snippet successfully here; the error when it cannot run at all. */
async function python(code: string): Promise<boolean | string> {
  try {
    const { success } = await new Deno.Command("/usr/bin/python3", {
      args: ["-c", code],
      stdout: "null",
      stderr: "null",
    })
      .output();
    return success;
  } catch (e) {
    return `/usr/bin/python3 does not run: ${(e as Error).message}`;
  }
}

/** Why the OpenCV peer cannot start here: no cv2 for /usr/bin/python3, or no deno for its model builder. */
async function opencvUnavailable(): Promise<string | undefined> {
  const cv2 = await python("import cv2");
  if (typeof cv2 === "string") return cv2;
  if (!cv2) return "/usr/bin/python3 cannot import cv2 (Debian package python3-opencv)";
  const deno = await python(
    "import os, shutil, sys; sys.exit(0 if os.environ.get('DENO') or shutil.which('deno') else 1)",
  );
  return deno === true ? undefined : "the OpenCV peer's model builder needs deno on PATH (or DENO set to its path)";
}

/** The peers, in table order. */
export const PEERS: readonly Peer[] = [
  inProcess("reference (this suite)", "framework", () => referenceImplementation),
  subprocess("PyTorch 1.13, subprocess protocol (Python)", "framework", [
    "/usr/bin/python3",
    "scripts/peers/pytorch_peer.py",
  ]),
  inProcess("onnxruntime-node 1.30, opset 15, in-process", "framework", () => onnxruntimeImplementation),
  inProcess("TF.js 4.22 layers.batchNormalization, in-process", "framework", () => tfjsImplementation),
  subprocess("naive (deliberately wrong), subprocess protocol (Node.js)", "framework", [
    "node",
    "scripts/peers/naive_peer.mjs",
  ]),
  inProcess("onnxruntime-web 1.30 wasm (1 thread), opset 15, in-process", "engine", () => onnxruntimeWebImplementation),
  inProcess(
    "TF.js 4.22 layers.batchNormalization, wasm backend, in-process",
    "engine",
    () => tfjsBackendImplementation("wasm"),
    { unavailable: () => tfjsBackendUnavailable("wasm") },
  ),
  inProcess(
    "TF.js 4.22 layers.batchNormalization, webgpu backend (Deno navigator.gpu), in-process",
    "engine",
    () => tfjsBackendImplementation("webgpu"),
    { unavailable: () => tfjsBackendUnavailable("webgpu") },
  ),
  subprocess(
    "OpenCV 4.6 DNN readNetFromONNX, subprocess protocol (Python)",
    "engine",
    ["/usr/bin/python3", "scripts/peers/opencv_peer.py"],
    { unavailable: opencvUnavailable },
  ),
  ...PYPI_ONNX_PEERS,
  ...PYPI_PEERS,
  ...RUST_PEERS,
];

/**
 * One peer's row: its cells over every source and its fingerprint, or "unavailable" with the reason.
 * With `runs`, the run is also kept for the HTML report (scripts/reports/html_report.ts), per-element details included.
 */
export async function matrixRow(peer: Peer, files: readonly FixtureFile[], runs?: HtmlRun[]): Promise<string[]> {
  const reason = await peer.unavailable?.();
  if (reason) {
    runs?.push({
      report: { implementation: peer.label, cases: [], totals: { pass: 0, fail: 0, skip: 0, xfail: 0, xpass: 0 } },
      details: new Map(),
      unavailable: `unavailable: ${reason}`,
    });
    return unavailableRow(peer.label, reason);
  }
  const { impl: opened, close } = await peer.open();
  try {
    const recorded = runs ? recordDetails(opened, files) : undefined;
    const report = await runSuite(files, recorded?.impl ?? opened, {
      ...(opened === referenceImplementation ? { expectedFailures: REFERENCE_XFAIL } : {}),
      onCase: recorded?.onCase,
    });
    runs?.push({ report: { ...report, implementation: peer.label }, details: recorded!.details });
    const fp = await fingerprint(opened);
    return [peer.label, ...SOURCES.map((s) => matrixCell(report, s)), fp.preset ?? "none"];
  } finally {
    await close();
  }
}

/** Runs the peers (all, or those given) over every fixture and returns the table rows (and, given `runs`, the runs). */
export async function matrixRows(peers: readonly Peer[] = PEERS, runs?: HtmlRun[]): Promise<string[][]> {
  const files = await loadAllFixtures();
  const rows: string[][] = [];
  for (const peer of peers) rows.push(await matrixRow(peer, files, runs));
  return rows;
}

/** The matrix as markdown, from a fresh run of every peer. */
export async function conformanceMatrix(): Promise<string> {
  return matrixTable(await matrixRows());
}

/** Writes a file through a temporary sibling and a rename, so that no half-written page is left behind. */
async function writeAtomically(url: URL, text: string): Promise<void> {
  const tmp = new URL(`${url.pathname.split("/").pop()}.tmp-${Deno.pid}`, url);
  await Deno.writeTextFile(tmp, text);
  try {
    await Deno.rename(tmp, url);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}

if (import.meta.main) {
  const htmlAt = Deno.args.indexOf("--html");
  const runs: HtmlRun[] | undefined = htmlAt >= 0 ? [] : undefined;
  const rows = await matrixRows(PEERS, runs);
  if (runs) {
    const file = Deno.args[htmlAt + 1];
    if (!file) throw new Error("--html needs a file name");
    await writeAtomically(
      new URL(file, `file://${Deno.cwd()}/`),
      renderHtmlReport(runs, "BatchNorm conformance matrix"),
    );
    console.log(`wrote ${file}`);
  }
  if (Deno.args.includes("--write")) {
    const page = new URL("docs/matrix.md", root);
    await writeAtomically(page, replaceMatrixTable(await Deno.readTextFile(page), rows));
    await writeAtomically(new URL("docs/matrix.svg", root), matrixPicture(HEADER, rows));
    console.log("wrote docs/matrix.md and docs/matrix.svg");
  } else {
    console.log(matrixTable(rows));
  }
}
