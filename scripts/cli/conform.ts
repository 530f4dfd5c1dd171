/**
 * `deno task conform`: runs an implementation against the fixtures and reports.
 *
 * With no implementation flag it runs the reference, and also prints each
 * framework's own error against its float64 run. `--exec "<command>"` runs any
 * program speaking fixtures/PROTOCOL.md; `--peer NAME` runs a built-in peer
 * (reference, onnxruntime, tfjs, pytorch, naive). `--fingerprint` probes the
 * implementation's conventions instead of running fixtures. Selection:
 * --source, --feature, --exclude-feature, --dtype, --name REGEX (repeatable or
 * comma-separated); --xfail FILE (JSON list of {case, reason}); reports:
 * --json FILE, --junit FILE; --timeout SECONDS per case (subprocesses).
 * Exits 1 when a case fails or an expected failure passes.
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  type DType,
  type ExpectedFailure,
  fingerprint,
  formatFingerprint,
  formatSummary,
  frameworkErrors,
  type Implementation,
  loadAllFixtures,
  runSuite,
  type Selection,
  SubprocessImplementation,
  toJUnit,
} from "../../mod.ts";
import { REFERENCE_XFAIL } from "./reference_xfail.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    exec: { type: "string" },
    peer: { type: "string" },
    fingerprint: { type: "boolean" },
    source: { type: "string", multiple: true },
    feature: { type: "string", multiple: true },
    "exclude-feature": { type: "string", multiple: true },
    dtype: { type: "string", multiple: true },
    name: { type: "string" },
    xfail: { type: "string" },
    json: { type: "string" },
    junit: { type: "string" },
    timeout: { type: "string" },
    quiet: { type: "boolean" },
  },
});
const list = (v?: string[]) => v?.flatMap((s) => s.split(",")).map((s) => s.trim()).filter(Boolean);
const select: Selection = {
  sources: list(values.source),
  features: list(values.feature),
  excludeFeatures: list(values["exclude-feature"]),
  dtypes: list(values.dtype) as DType[] | undefined,
  name: values.name ? new RegExp(values.name) : undefined,
};
const timeoutMs = values.timeout ? Number(values.timeout) * 1000 : 30_000;

async function implementation(): Promise<{ impl: Implementation; close: () => Promise<void>; isReference: boolean }> {
  const start = async (command: string[]) => {
    const impl = await SubprocessImplementation.start({ command, timeoutMs });
    return { impl, close: () => impl.close(), isReference: false };
  };
  if (values.exec) return start(["sh", "-c", values.exec]);
  const peer = values.peer ?? "reference";
  if (peer === "pytorch") return start(["/usr/bin/python3", "scripts/peers/pytorch_peer.py"]);
  if (peer === "naive") return start(["node", "scripts/peers/naive_peer.mjs"]);
  const peers = await import("../peers/inprocess.ts"); // loads npm packages only when asked for
  const impl = {
    reference: peers.referenceImplementation,
    onnxruntime: peers.onnxruntimeImplementation,
    tfjs: peers.tfjsImplementation,
  }[peer];
  if (!impl) throw new Error(`unknown peer "${peer}"; known: reference, onnxruntime, tfjs, pytorch, naive`);
  return { impl, close: () => Promise.resolve(), isReference: peer === "reference" };
}

const { impl, close, isReference } = await implementation();
let failed = false;
try {
  if (values.fingerprint) {
    console.log(`${impl.name}\n${formatFingerprint(await fingerprint(impl))}`);
  } else {
    const files = await loadAllFixtures();
    const expectedFailures: ExpectedFailure[] = values.xfail
      ? JSON.parse(await Deno.readTextFile(values.xfail))
      : isReference
      ? [...REFERENCE_XFAIL]
      : [];
    const progress = !values.quiet && Deno.stderr.isTerminal();
    const report = await runSuite(files, impl, {
      select,
      expectedFailures,
      onCase: progress
        ? (c, done, total) =>
          Deno.stderr.writeSync(new TextEncoder().encode(`\r\x1b[K[${done}/${total}] ${c.name.slice(0, 100)}`))
        : undefined,
    });
    if (progress) Deno.stderr.writeSync(new TextEncoder().encode("\r\x1b[K"));
    if (isReference) console.log(frameworksOwn(files, select) + "\n");
    console.log(formatSummary(report));
    if (values.json) await Deno.writeTextFile(values.json, JSON.stringify(report, null, 2) + "\n");
    if (values.junit) await Deno.writeTextFile(values.junit, toJUnit(report));
    failed = report.totals.fail + report.totals.xpass > 0;
  }
} finally {
  await close();
}
if (failed) Deno.exit(1);

/** Each framework's own low-precision output against its float64 run, as a share of the budget. */
function frameworksOwn(files: Awaited<ReturnType<typeof loadAllFixtures>>, s: Selection): string {
  const rows = new Map<string, Map<DType, number>>();
  for (const f of files) {
    if (s.sources && !s.sources.includes(f.provenance.source)) continue;
    const row = rows.get(`${f.provenance.framework} ${f.provenance.version}`) ?? new Map<DType, number>();
    rows.set(`${f.provenance.framework} ${f.provenance.version}`, row);
    for (const c of f.cases) {
      if (c.frameworkDefect) continue;
      for (const { comparison } of frameworkErrors(c)) {
        row.set(c.dtype, Math.max(row.get(c.dtype) ?? 0, comparison.maxError / comparison.tolerance));
      }
    }
  }
  const lines = [
    "Each framework's own output against its float64 run, worst share of the budget (edge cases included):",
  ];
  for (const [name, m] of rows) {
    if (m.size) lines.push(`  ${name}: ${[...m].map(([d, v]) => `${d} ${v.toPrecision(3)}`).join(", ")}`);
  }
  return lines.join("\n");
}
