/**
 * `deno task conform`: runs an implementation against the fixtures and reports.
 * `deno task conform --help` lists the flags and the exit codes.
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  type DType,
  DTYPES,
  type ExpectedFailure,
  FEATURES,
  findingLookup,
  fingerprint,
  FixtureError,
  type FixtureFile,
  formatFingerprint,
  formatSummary,
  frameworkErrors,
  type Implementation,
  loadAllFixtures,
  loadFindings,
  loadFixturesAt,
  ProtocolError,
  runSuite,
  type Selection,
  selects,
  SubprocessImplementation,
  type SuiteReport,
  toJSON,
  toJUnit,
} from "../../mod.ts";
import { REFERENCE_XFAIL } from "./reference_xfail.ts";
import type { CaseDetail } from "../reports/html_report.ts";
import type { Peer as MatrixPeer } from "../reports/conformance_matrix.ts";
import { freshFlags, randomFile, runHeader, saveFailures, shardFiles, UsageError } from "./_fresh.ts";
import { exhaustiveRun } from "./_exhaustive.ts";

/** The exit codes, one per outcome (also in fixtures/PROTOCOL.md and --help). */
export const EXIT = {
  /** Every selected case that ran passed (or failed as expected), and at least one was checked. */
  ok: 0,
  /** A case failed, or an expected failure passed. */
  failed: 1,
  /** A usage error: unknown flag, bad value, unreadable --xfail file, a selection that matches nothing. */
  usage: 2,
  /** The implementation could not be started: the command failed, no hello, another protocol or major version. */
  noStart: 3,
  /** The fixtures could not be read: missing, malformed, or a hash that differs from the index. */
  fixtures: 4,
  /** Nothing was checked: every selected case was skipped. */
  nothingChecked: 5,
  /** Interrupted (SIGINT, SIGTERM); the implementation was stopped. */
  interrupted: 130,
  /** A bug in the runner itself. */
  internal: 70,
} as const;

const USAGE = `deno task conform [implementation] [selection] [reports]

Runs an implementation against the fixtures and reports, case by case.

Implementation (default: the reference):
  --exec "COMMAND"      a program speaking fixtures/PROTOCOL.md, run through sh -c in its own process group
  --module PATH|URL     an implementation module (exports adapter, supports, name; docs/browser.md), e.g. a WebGPU
                        kernel under Deno's own navigator.gpu
  --peer NAME           a built-in peer: reference, onnxruntime, tfjs (these two load npm packages), pytorch, naive;
                        deployed engines: onnxruntime-web, tfjs-wasm, tfjs-webgpu (npm), opencv (python3-opencv);
                        from PyPI (deno task envs): onnx-reference, onnx-reference-opset9, onnxruntime-python, openvino,
                        openvino-f32, litert, litert-float16, pytorch2, paddle, mlx, tinygrad, ncnn; from crates.io
                        (deno task rust): candle, burn
  --fingerprint         probe the implementation's conventions instead of running fixtures
  --timeout SECONDS     per case and per hello (default 30)
Fixtures (default: the suite's own, hash-checked):
  --fixtures PATH       a fixture file, or a folder of them (with an index.json its hashes are checked)
Fresh cases, with expectations from the exact evaluator (docs/fresh-cases.md):
  --random N            N random cases instead of fixtures (those the selection keeps and the implementation can run)
  --seed S              their seed, a decimal integer in 0..2^64-1 (drawn and printed when absent)
  --extremes            float64 random data down to the subnormals and up to the largest finite value
  --save-failures DIR   write the failing cases as a fixture file in DIR (judge them again with --fixtures)
  --exhaustive D        every bit pattern of D (float16 or bfloat16) as a variance and as x
  --shard K/N           run every N-th selected case from the K-th (exhaustive: the K-th of N ranges)
  deno task conform merge A.json B.json ... [--json OUT] [--junit OUT] [--expect FULL.json]
                        merge the shards' JSON reports into the unsharded run's
Selection (repeatable or comma-separated; a value that matches no case is an error that lists the values that exist):
  --source S  --feature F  --exclude-feature F  --dtype D  --name REGEX
  --xfail FILE          a JSON list of {"case": "...", "reason": "..."} expected to fail
Reports:
  --json FILE  --junit FILE  --html FILE (pictures: docs/browser.md)  --quiet (no progress line)  --help
Verdicts (every failing output carries a diagnosis: the framework output, neighbouring convention or arithmetic it
matches, and the known finding from fixtures/findings.json):
  --faithful-to FRAMEWORK[@VERSION]   count a case whose every failing output equals that framework's recorded
                        output (within its budget) as passed, labelled as such in every report (default: strict)

Exit codes: 0 every case checked passed; 1 a case failed (or an expected failure passed); 2 usage error;
3 the implementation could not be started (no hello); 4 the fixtures could not be read; 5 nothing was checked
(every selected case skipped); 130 interrupted; 70 a bug in the runner.`;

/** A deliberate end of the run, with its exit code and a one-paragraph message. */
class Exit extends Error {
  constructor(readonly code: number, message: string) {
    super(message);
  }
}
const usage = (message: string) => new Exit(EXIT.usage, `${message}\nRun "deno task conform --help" for the flags.`);

const FLAGS = {
  exec: { type: "string" },
  peer: { type: "string" },
  fingerprint: { type: "boolean" },
  fixtures: { type: "string" },
  source: { type: "string", multiple: true },
  feature: { type: "string", multiple: true },
  "exclude-feature": { type: "string", multiple: true },
  dtype: { type: "string", multiple: true },
  name: { type: "string" },
  xfail: { type: "string" },
  json: { type: "string" },
  junit: { type: "string" },
  html: { type: "string" },
  module: { type: "string" },
  timeout: { type: "string" },
  quiet: { type: "boolean" },
  "faithful-to": { type: "string" },
  help: { type: "boolean", short: "h" },
  random: { type: "string" },
  seed: { type: "string" },
  extremes: { type: "boolean" },
  "save-failures": { type: "string" },
  exhaustive: { type: "string" },
  shard: { type: "string" },
} as const;

/** `--random -1` as `--random=-1`, so the value is judged (and refused) by its flag, not taken for an option. */
function joinNegativeValues(args: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (["--random", "--seed", "--shard"].includes(args[i]) && /^-[0-9.]/.test(args[i + 1] ?? "")) {
      out.push(`${args[i]}=${args[++i]}`);
    } else out.push(args[i]);
  }
  return out;
}

function parse(args: string[]) {
  try {
    return parseArgs({ args: joinNegativeValues(args), options: FLAGS, strict: true, allowPositionals: false }).values;
  } catch (e) {
    // node:util's messages name the flag: "Unknown option '--bogus'", "Option '--dtype <value>' argument missing".
    throw usage(`conform: ${(e as Error).message.split(". To specify")[0]}.`);
  }
}

const list = (v?: string[]) => v?.flatMap((s) => s.split(",")).map((s) => s.trim()).filter(Boolean);

/** The selection, each value checked against what the fixtures hold. */
function selection(values: ReturnType<typeof parse>, files: readonly FixtureFile[]): Selection {
  const cases = files.flatMap((f) => f.cases.map((c) => ({ c, source: f.provenance.source })));
  const known = {
    source: new Set(files.map((f) => f.provenance.source)),
    feature: new Set(cases.flatMap(({ c }) => c.features)),
    dtype: new Set(cases.map(({ c }) => c.dtype as string)),
  };
  const check = (flag: "source" | "feature" | "exclude-feature" | "dtype", given?: string[]) => {
    const exist = known[flag === "exclude-feature" ? "feature" : flag];
    const unknown = given?.filter((v) => !exist.has(v)) ?? [];
    if (unknown.length) {
      throw usage(
        `conform: --${flag} ${unknown.join(",")} matches no case. The ${
          flag === "exclude-feature" ? "feature" : flag
        }s in these fixtures are: ${[...exist].sort().join(", ")}.`,
      );
    }
    return given;
  };
  let name: RegExp | undefined;
  if (values.name !== undefined) {
    try {
      name = new RegExp(values.name);
    } catch (e) {
      throw usage(
        `conform: --name ${JSON.stringify(values.name)} is not a regular expression: ${(e as Error).message}`,
      );
    }
    if (!cases.some(({ c }) => name!.test(c.name))) {
      throw usage(
        `conform: --name ${JSON.stringify(values.name)} matches no case name (${cases.length} cases, e.g. ${
          JSON.stringify(cases[0]?.c.name ?? "")
        }).`,
      );
    }
  }
  const select: Selection = {
    sources: check("source", list(values.source)),
    features: check("feature", list(values.feature)),
    excludeFeatures: check("exclude-feature", list(values["exclude-feature"])),
    dtypes: check("dtype", list(values.dtype)) as DType[] | undefined,
    name,
  };
  if (!cases.some(({ c, source }) => selects(c, source, select))) {
    const given = ["source", "feature", "exclude-feature", "dtype", "name"].filter((k) =>
      values[k as keyof typeof values] !== undefined
    ).map((k) => `--${k}`);
    throw usage(
      `conform: the selection ${given.join(" ")} matches no case: each value exists, but no case has them all. ` +
        "Drop a flag to widen it.",
    );
  }
  return select;
}

async function readXfail(path: string, files: readonly FixtureFile[]): Promise<ExpectedFailure[]> {
  let json: unknown;
  try {
    json = JSON.parse(await Deno.readTextFile(path));
  } catch (e) {
    throw usage(`conform: --xfail ${path}: cannot be read as JSON: ${(e as Error).message.replace(/\s+/g, " ")}`);
  }
  const names = new Set(files.flatMap((f) => f.cases.map((c) => c.name)));
  if (!Array.isArray(json)) throw usage(`conform: --xfail ${path}: must be a JSON list of {"case", "reason"}.`);
  json.forEach((x, i) => {
    const o = x as Record<string, unknown> | null;
    if (!o || typeof o !== "object" || typeof o.case !== "string" || typeof o.reason !== "string") {
      throw usage(`conform: --xfail ${path}: entry ${i} must be {"case": "<name>", "reason": "<why>"}.`);
    }
    if (!names.has(o.case)) {
      throw usage(`conform: --xfail ${path}: entry ${i} names no case: ${JSON.stringify(o.case)}.`);
    }
  });
  return json as ExpectedFailure[];
}

/**
 * `--peer` names of the engines from PyPI and crates.io: the module that holds their matrix rows, and the row's label.
 * Each needs its environment (`deno task envs NAME`) or binary (`deno task rust`); without it the run stops, saying why.
 */
export const ENGINE_PEERS: Record<string, readonly ["pypi_onnx" | "pypi_frameworks" | "rust", RegExp]> = {
  "onnx-reference": ["pypi_onnx", /^onnx\.reference .*opset 15/],
  "onnx-reference-opset9": ["pypi_onnx", /^onnx\.reference .*opset 9,/],
  "onnxruntime-python": ["pypi_onnx", /^onnxruntime .*\(Python\)/],
  "openvino": ["pypi_onnx", /^OpenVINO .*default precision hint/],
  "openvino-f32": ["pypi_onnx", /^OpenVINO .*INFERENCE_PRECISION_HINT=f32/],
  "litert": ["pypi_onnx", /^LiteRT (?!.*float16)/],
  "litert-float16": ["pypi_onnx", /^LiteRT .*float16 weights/],
  "pytorch2": ["pypi_frameworks", /^PyTorch 2/],
  "paddle": ["pypi_frameworks", /^PaddlePaddle/],
  "mlx": ["pypi_frameworks", /^MLX/],
  "tinygrad": ["pypi_frameworks", /^tinygrad/],
  "ncnn": ["pypi_frameworks", /^ncnn/],
  "candle": ["rust", /^candle/],
  "burn": ["rust", /^burn/],
};
let closeImpl: () => Promise<void> = () => Promise.resolve();

async function implementation(
  values: ReturnType<typeof parse>,
  timeoutMs: number,
): Promise<{ impl: Implementation; isReference: boolean }> {
  const start = async (command: string[]) => {
    let impl: SubprocessImplementation;
    try {
      impl = await SubprocessImplementation.start({ command, timeoutMs });
    } catch (e) {
      if (!(e instanceof ProtocolError)) throw e;
      throw new Exit(
        EXIT.noStart,
        `conform: the implementation could not be started: ${e.message}. It must answer the runner's hello ` +
          `within ${
            timeoutMs / 1000
          } s with {"type": "hello", "protocol": "batchnorm-conformance", "version": "1.0"} ` +
          "on one line of standard output (fixtures/PROTOCOL.md).",
      );
    }
    closeImpl = () => impl.close();
    return { impl, isReference: false };
  };
  if (values.exec !== undefined && values.peer !== undefined) throw usage("conform: give --exec or --peer, not both.");
  if (values.exec !== undefined) return await start(["sh", "-c", values.exec]);
  if (values.module !== undefined) {
    const { importImplementation } = await import("../browser/implementation_module.ts");
    try {
      return { impl: await importImplementation(values.module, `file://${Deno.cwd()}/`), isReference: false };
    } catch (e) {
      throw new Exit(EXIT.noStart, `${values.module}: unavailable: ${(e as Error).message}`);
    }
  }
  const peer = values.peer ?? "reference";
  if (peer === "pytorch") return await start(["/usr/bin/python3", "scripts/peers/pytorch_peer.py"]);
  if (peer === "naive") return await start(["node", "scripts/peers/naive_peer.mjs"]);
  if (peer === "opencv") return await start(["/usr/bin/python3", "scripts/peers/opencv_peer.py"]);
  if (["onnxruntime-web", "tfjs-wasm", "tfjs-webgpu"].includes(peer)) {
    const enginesModule = "../peers/engines.ts"; // loaded only when asked for, as the in-process peers below
    const engines: typeof import("../peers/engines.ts") = await import(enginesModule);
    if (peer === "onnxruntime-web") return { impl: engines.onnxruntimeWebImplementation, isReference: false };
    const backend = peer === "tfjs-wasm" ? "wasm" : "webgpu";
    const reason = await engines.tfjsBackendUnavailable(backend);
    if (reason) throw new Exit(EXIT.noStart, `conform: the peer ${peer} cannot start here: ${reason}.`);
    return { impl: engines.tfjsBackendImplementation(backend), isReference: false };
  }
  if (peer in ENGINE_PEERS) {
    // The PyPI and crates.io engines: the matrix's own rows (their environments and binaries are checked first).
    const [file, pattern] = ENGINE_PEERS[peer];
    const modules: Record<string, () => Promise<readonly MatrixPeer[]>> = {
      pypi_onnx: async () => (await import("../peers/pypi_onnx_peers.ts")).PYPI_ONNX_PEERS,
      pypi_frameworks: async () => (await import("../peers/pypi_framework_peers.ts")).PYPI_PEERS,
      rust: async () => (await import("../peers/rust_peers.ts")).RUST_PEERS,
    };
    const row = (await modules[file]()).find((p) => pattern.test(p.label));
    if (!row) throw new Error(`conform: no matrix row matches ${pattern} for the peer ${peer}`);
    const reason = await row.unavailable?.();
    if (reason) throw new Exit(EXIT.noStart, `conform: the peer ${peer} cannot start here: ${reason}.`);
    const { impl, close } = await row.open();
    closeImpl = close;
    return { impl, isReference: false };
  }
  if (!["reference", "onnxruntime", "tfjs"].includes(peer)) {
    throw usage(
      `conform: unknown peer ${JSON.stringify(peer)}; known: reference, onnxruntime, tfjs, pytorch, naive, ` +
        `onnxruntime-web, tfjs-wasm, tfjs-webgpu, opencv, ${Object.keys(ENGINE_PEERS).join(", ")}.`,
    );
  }
  // A specifier Deno cannot see before the run, so that the npm packages of the in-process peers (onnxruntime-node,
  // TF.js: some 600 MB in node_modules/) are installed only when one of them is asked for, never for --exec.
  const inprocess = "../peers/inprocess.ts";
  const peers: typeof import("../peers/inprocess.ts") = await import(inprocess);
  const impl = {
    reference: peers.referenceImplementation,
    onnxruntime: peers.onnxruntimeImplementation,
    tfjs: peers.tfjsImplementation,
  }[peer]!;
  return { impl, isReference: peer === "reference" };
}

/** The selection of a random run, each value checked against what random cases can hold. */
function randomSelection(values: ReturnType<typeof parse>): Selection {
  const check = (flag: string, given: string[] | undefined, exist: readonly string[]) => {
    const unknown = given?.filter((v) => !exist.includes(v)) ?? [];
    if (unknown.length) {
      throw usage(
        `conform: --${flag} ${unknown.join(",")} matches no random case. Random cases have: ${exist.join(", ")}.`,
      );
    }
    return given;
  };
  check("source", list(values.source), ["random"]);
  let name: RegExp | undefined;
  if (values.name !== undefined) {
    try {
      name = new RegExp(values.name);
    } catch (e) {
      throw usage(
        `conform: --name ${JSON.stringify(values.name)} is not a regular expression: ${(e as Error).message}`,
      );
    }
  }
  return {
    features: check("feature", list(values.feature), FEATURES),
    excludeFeatures: check("exclude-feature", list(values["exclude-feature"]), FEATURES),
    dtypes: check("dtype", list(values.dtype), DTYPES) as DType[] | undefined,
    name,
  };
}

async function main(args: string[]): Promise<number> {
  if (args[0] === "merge") {
    const { mergeMain } = await import("./_merge.ts");
    return await mergeMain(args.slice(1));
  }
  const values = parse(args);
  if (values.help) {
    console.log(USAGE);
    return EXIT.ok;
  }
  let fresh;
  try {
    fresh = freshFlags(values);
  } catch (e) {
    if (e instanceof UsageError) throw usage(`conform: ${e.message}`);
    throw e;
  }
  if (fresh.random !== undefined && values.fixtures !== undefined) {
    throw usage("conform: give --random or --fixtures, not both.");
  }
  const timeoutS = values.timeout === undefined ? 30 : Number(values.timeout);
  if (!(timeoutS > 0 && Number.isFinite(timeoutS))) {
    throw usage(`conform: --timeout ${JSON.stringify(values.timeout)} must be a positive number of seconds.`);
  }
  if (fresh.exhaustive) {
    const { impl } = await implementation(values, timeoutS * 1000);
    return (await exhaustiveRun(fresh.exhaustive, impl, console.log, fresh.shard)) ? EXIT.ok : EXIT.failed;
  }
  let files: FixtureFile[] = [];
  if (fresh.random === undefined) {
    try {
      files = values.fixtures === undefined ? await loadAllFixtures() : await loadFixturesAt(values.fixtures);
    } catch (e) {
      if (!(e instanceof FixtureError)) throw e;
      throw new Exit(EXIT.fixtures, `conform: the fixtures could not be read: ${e.message}`);
    }
  }
  const fingerprintOnly = values.fingerprint === true;
  const select = fingerprintOnly ? {} : fresh.random !== undefined ? randomSelection(values) : selection(values, files);
  const { impl, isReference } = await implementation(values, timeoutS * 1000);
  if (fingerprintOnly) {
    console.log(`${impl.name}\n${formatFingerprint(await fingerprint(impl))}`);
    return EXIT.ok;
  }
  if (fresh.random !== undefined) {
    console.log(
      `random seed ${fresh.seed}${fresh.seedDrawn ? " (drawn)" : ""}: reproduce with ` +
        `deno task conform --random ${fresh.random} --seed ${fresh.seed}${fresh.extremes ? " --extremes" : ""}`,
    );
    try {
      files = [randomFile(fresh.seed!, fresh.random, select, fresh.extremes, impl.supports)];
    } catch (e) {
      if (e instanceof UsageError) throw usage(`conform: ${e.message}`);
      throw e;
    }
  }
  if (fresh.shard) {
    files = shardFiles(files, select, fresh.shard);
    console.log(
      `shard ${fresh.shard.index}/${fresh.shard.count}: ${files.reduce((a, f) => a + f.cases.length, 0)} cases`,
    );
  }
  const expectedFailures = values.xfail !== undefined
    ? await readXfail(values.xfail, files)
    : isReference && values.fixtures === undefined && fresh.random === undefined
    ? [...REFERENCE_XFAIL]
    : [];
  const progress = !values.quiet && Deno.stderr.isTerminal();
  const html = values.html ? (await import("../reports/html_report.ts")).recordDetails(impl, files) : undefined;
  const report = await runSuite(files, html?.impl ?? impl, {
    select,
    expectedFailures,
    ...(values["faithful-to"] ? { faithfulTo: values["faithful-to"] } : {}),
    findingFor: findingLookup(await loadFindings()),
    onCase: (c, done, total) => {
      html?.onCase(c);
      if (progress) {
        Deno.stderr.writeSync(new TextEncoder().encode(`\r\x1b[K[${done}/${total}] ${c.name.slice(0, 100)}`));
      }
    },
  });
  if (progress) Deno.stderr.writeSync(new TextEncoder().encode("\r\x1b[K"));
  if (isReference && fresh.random === undefined) console.log(frameworksOwn(files, select) + "\n");
  console.log(formatSummary(report));
  if (impl instanceof SubprocessImplementation && impl.restarts) {
    console.log(`(the implementation was restarted ${impl.restarts} time${impl.restarts === 1 ? "" : "s"})`);
  }
  if (values.json) {
    // The run header says what ran, so that the reports of shards can be merged (conform merge).
    const run = runHeader(values, fresh, impl.name);
    await Deno.writeTextFile(values.json, JSON.stringify({ run, ...JSON.parse(toJSON(report)) }, null, 2) + "\n");
  }
  if (values.junit) await Deno.writeTextFile(values.junit, toJUnit(report));
  if (html) await writeHtml(values.html!, report, html.details);
  if (fresh.saveFailures) {
    const path = await saveFailures(fresh.saveFailures, report.cases, files, fresh.seed);
    console.log(
      path ? `failing cases written to ${path} (judge them again: --fixtures ${path})` : "no failing case to save",
    );
  }
  if (fresh.random !== undefined) console.log(`random seed ${fresh.seed}`);
  const t = report.totals;
  if (t.fail + t.xpass > 0) return EXIT.failed;
  if (t.pass + t.xfail === 0) {
    const reasons = Map.groupBy(report.cases, (c) => c.reason ?? "skipped");
    console.error(
      `conform: nothing was checked: all ${report.cases.length} selected cases were skipped (${
        [...reasons].map(([r, cs]) => `${cs.length} × ${r}`).join("; ")
      }). A run that checks nothing is not a pass.`,
    );
    return EXIT.nothingChecked;
  }
  return EXIT.ok;
}

/** Writes the HTML report beside its target and renames it into place (nothing half-written is left). */
async function writeHtml(path: string, report: SuiteReport, details: ReadonlyMap<string, CaseDetail>) {
  const { renderHtmlReport } = await import("../reports/html_report.ts");
  const text = renderHtmlReport([{ report, details, environment: `Deno ${Deno.version.deno}, ${Deno.build.target}` }]);
  await Deno.writeTextFile(`${path}.partial`, text);
  await Deno.rename(`${path}.partial`, path);
}

/** Each framework's own low-precision output against its float64 run, as a share of the budget. */
function frameworksOwn(files: readonly FixtureFile[], s: Selection): string {
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

if (import.meta.main) {
  // An interrupted run stops the implementation (its whole process group) before it exits.
  for (const [signal, code] of [["SIGINT", EXIT.interrupted], ["SIGTERM", 143]] as const) {
    Deno.addSignalListener(signal, () => {
      closeImpl().finally(() => Deno.exit(code));
    });
  }
  let code: number;
  try {
    code = await main(Deno.args);
  } catch (e) {
    if (e instanceof Exit) {
      console.error(e.message);
      code = e.code;
    } else {
      console.error(`conform: internal error (a bug in the runner, please report it): ${(e as Error).message}`);
      code = EXIT.internal;
    }
  } finally {
    await closeImpl();
  }
  Deno.exit(code);
}
