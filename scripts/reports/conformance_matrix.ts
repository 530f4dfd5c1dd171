/**
 * The README's conformance matrix: each peer implementation × each fixture source
 * → passed / failed / skipped and the worst error as a share of its budget, with
 * the peer's fingerprint (closest preset). `deno task matrix` prints it;
 * tests/matrix_test.ts checks README.md holds exactly this output.
 *
 * @module
 */

import {
  fingerprint,
  type Implementation,
  loadAllFixtures,
  runSuite,
  SubprocessImplementation,
  type SuiteReport,
} from "../../mod.ts";
import { onnxruntimeImplementation, referenceImplementation, tfjsImplementation } from "../peers/inprocess.ts";
import { REFERENCE_XFAIL } from "../cli/reference_xfail.ts";
import { markdownTable } from "./_markdown.ts";

const SOURCES = [
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
const root = new URL("../../", import.meta.url);

interface Peer {
  label: string;
  open: () => Promise<{ impl: Implementation; close: () => Promise<void> }>;
}

const inProcess = (label: string, impl: Implementation): Peer => ({
  label,
  open: () => Promise.resolve({ impl, close: () => Promise.resolve() }),
});
const subprocess = (label: string, command: string[]): Peer => ({
  label,
  open: async () => {
    const impl = await SubprocessImplementation.start({
      command: command.map((c) => c.startsWith("scripts/") ? new URL(c, root).pathname : c),
    });
    return { impl, close: () => impl.close() };
  },
});

/** The peers, in table order. */
export const PEERS: readonly Peer[] = [
  inProcess("reference (this suite)", referenceImplementation),
  subprocess("PyTorch 1.13, subprocess protocol (Python)", ["/usr/bin/python3", "scripts/peers/pytorch_peer.py"]),
  inProcess("onnxruntime-node 1.30, opset 15, in-process", onnxruntimeImplementation),
  inProcess("TF.js 4.22 layers.batchNormalization, in-process", tfjsImplementation),
  subprocess("naive (deliberately wrong), subprocess protocol (Node.js)", ["node", "scripts/peers/naive_peer.mjs"]),
];

function cell(report: SuiteReport, source: string): string {
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

/** Runs every peer over every fixture and returns the table rows. */
export async function matrixRows(): Promise<string[][]> {
  const files = await loadAllFixtures();
  const rows: string[][] = [];
  for (const peer of PEERS) {
    const { impl, close } = await peer.open();
    try {
      const report = await runSuite(
        files,
        impl,
        impl === referenceImplementation ? { expectedFailures: REFERENCE_XFAIL } : {},
      );
      const fp = await fingerprint(impl);
      rows.push([peer.label, ...SOURCES.map((s) => cell(report, s)), fp.preset ?? "none"]);
    } finally {
      await close();
    }
  }
  return rows;
}

/** The matrix as README markdown, padded as `deno fmt` lays tables out. */
export async function conformanceMatrix(): Promise<string> {
  return markdownTable(["implementation", ...SOURCES.map((s) => `${s} fixtures`), "fingerprint"], await matrixRows());
}

if (import.meta.main) console.log(await conformanceMatrix());
