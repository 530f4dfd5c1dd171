/**
 * The speed section of docs/matrix.md: each engine of the matrix that runs here, timed inside its own process on the
 * benchmark shapes (float32 NCHW 32x64x56x56 and 8x16x8x8): inference, training forward, and backward where the
 * engine has it. Median of `runs` calls after warm-up; no pipe or copy is counted but the engine's own.
 *
 *     deno task matrix:speed           # prints the section
 *     deno task matrix:speed --write   # writes it between docs/matrix.md's speed markers
 *     … --save FILE / --from FILE       # keep a run's rows as JSON / lay out a kept run again, timing nothing
 *
 * Who times what: scripts/bench/native_peers.py (onnxruntime and PyTorch 2 and 1.13 from Python, on the bench's own
 * ONNX models and data: scripts/bench/native.ts), each engine peer program's `--bench` mode
 * (scripts/bench/engine_peers.ts: OpenVINO, onnx.reference, LiteRT, PaddlePaddle, MLX, tinygrad, ncnn, candle, burn),
 * and this Deno process for the npm engines (onnxruntime-node, onnxruntime-web wasm, TF.js cpu and wasm) and the
 * reference. An engine that cannot run here keeps its row with the reason. Not part of `deno task test`:
 * tests/speed_table_test.ts checks the section's rows, not its times.
 *
 * @module
 */

import * as ort from "onnxruntime-node";
import { batchNormBackward, batchNormInference, batchNormTrain, KernelArena } from "../../mod.ts";
import { buildBatchNormModel } from "../runners/onnx_model.ts";
import {
  BENCH_SHAPES,
  NATIVE_PEERS,
  nativeRequest,
  type PeerReport,
  runNativePeer,
  timed,
  type Timing,
} from "../bench/native.ts";
import { ENGINE_PEERS, runEnginePeer } from "../bench/engine_peers.ts";
import { runWasmPeers, tfjsBackend, type WasmPeerShape } from "../bench/wasm_peers.ts";
import { NOT_TIMED, SPEED_END, SPEED_START, speedColumns } from "./_speed_rows.ts";

const root = new URL("../../", import.meta.url);

/** One row: an engine, where and how it was timed, and its report. */
interface Row {
  readonly report: PeerReport;
  readonly where: string;
  readonly threads: string;
}

function data(shape: readonly number[]): { x: Float32Array; dy: Float32Array } {
  const n = shape.reduce((a, b) => a * b, 1);
  const x = new Float32Array(n), dy = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = Math.sin(i * 0.37) * 2 + (i % 7) * 0.25;
  for (let i = 0; i < n; i++) dy[i] = Math.cos(i * 0.11);
  return { x, dy };
}

/** onnxruntime-node in this process: the bench's models, default session options, tensors wrapping the same buffers. */
async function onnxruntimeNode(runs: number): Promise<PeerReport> {
  const peer = "onnxruntime-node";
  try {
    const results: PeerReport["results"] = [];
    for (const [label, shape] of BENCH_SHAPES) {
      const C = shape[1], { x } = data(shape);
      const ones = new Float32Array(C).fill(1), zeros = new Float32Array(C);
      const feeds = {
        X: new ort.Tensor("float32", x, [...shape]),
        scale: new ort.Tensor("float32", ones, [C]),
        B: new ort.Tensor("float32", zeros, [C]),
        input_mean: new ort.Tensor("float32", zeros, [C]),
        input_var: new ort.Tensor("float32", ones, [C]),
      };
      for (const what of ["inference", "training"] as const) {
        const session = await ort.InferenceSession.create(
          buildBatchNormModel({ opset: 15, dtype: "float32", shape: [...shape], training: what === "training" }),
        );
        // session.run is asynchronous: timed as wasm_peers.ts times onnxruntime-web, awaiting each call.
        const ms: number[] = [];
        for (let i = 0; i < 3 + runs; i++) {
          const t = performance.now();
          await session.run(feeds);
          if (i >= 3) ms.push(performance.now() - t);
        }
        ms.sort((a, b) => a - b);
        const mid = ms.length >> 1;
        const median = ms.length % 2 ? ms[mid] : (ms[mid - 1] + ms[mid]) / 2;
        results.push({ label, what, ms: [median, ms[0], ms[ms.length - 1]] as Timing });
        await session.release();
      }
    }
    return { peer, version: ort.env.versions.node ?? "1.30.0", results };
  } catch (e) {
    return { peer, missing: String(e), results: [] };
  }
}

/** The reference in this process, tensors in kernel memory, one thread. */
function reference(runs: number): PeerReport {
  const results: PeerReport["results"] = [];
  for (const [label, shape] of BENCH_SHAPES) {
    const n = shape.reduce((a, b) => a * b, 1), C = shape[1];
    using one = new KernelArena(3 * 4 * n + 48);
    const x = one.float32([...shape]), y = one.float32([...shape]), dy = one.float32([...shape]);
    const d = data(shape);
    x.data.set(d.x), dy.data.set(d.dy);
    const ones = new Float32Array(C).fill(1), zeros = new Float32Array(C);
    const state = { gamma: ones, beta: zeros, runningMean: zeros, runningVar: ones };
    results.push(
      { label, what: "inference", ms: timed(() => batchNormInference(x, state, "onnx", { out: y.data }), runs) },
      { label, what: "training", ms: timed(() => batchNormTrain(x, state, "onnx", { out: y.data }), runs) },
      {
        label,
        what: "backward",
        ms: timed(() => batchNormBackward(x, dy, state, "train", "onnx", { out: y.data }), runs),
      },
    );
  }
  return { peer: "reference (this suite), tensors in kernel memory", version: "", results };
}

/** Times every engine; one row each, missing ones included. */
export async function speedRows(runs: number): Promise<Row[]> {
  const rows: Row[] = [];
  const req = nativeRequest(runs);
  for (const peer of NATIVE_PEERS) {
    console.error(`timing ${peer.title}`);
    rows.push({ report: await runNativePeer(peer, req), where: "own process (Python)", threads: "engine default" });
  }
  const shapes = BENCH_SHAPES.map(([label, shape]) => ({ label, shape }));
  for (const peer of ENGINE_PEERS) {
    console.error(`timing ${peer.title}`);
    const report = await runEnginePeer(peer, shapes, runs);
    rows.push({ report, where: `own process (${peer.style === "rust" ? "Rust" : "Python"})`, threads: report.threads });
  }
  console.error("timing the in-process engines");
  rows.push({ report: await onnxruntimeNode(runs), where: "this Deno process (N-API)", threads: "engine default" });
  const wasmShapes: WasmPeerShape[] = BENCH_SHAPES.map(([label, shape]) => ({ label, shape, ...data(shape) }));
  for (const report of await runWasmPeers(wasmShapes, runs, 3)) {
    rows.push({ report, where: "this Deno process (WebAssembly)", threads: "1" });
  }
  rows.push({
    report: await tfjsBackend("cpu", wasmShapes, runs, 0),
    where: "this Deno process (JavaScript)",
    threads: "1",
  });
  rows.push({ report: reference(runs), where: "this Deno process (WebAssembly)", threads: "1" });
  return rows;
}

const fmt = (ms: number) =>
  ms >= 100 ? `${ms.toFixed(0)} ms` : ms >= 1 ? `${ms.toPrecision(3)} ms` : `${(ms * 1e3).toPrecision(3)} µs`;

/** The section's markdown from one run. */
export function speedSection(rows: readonly Row[], runs: number, note: string): string {
  const table: string[][] = [];
  for (const { report, where, threads } of rows) {
    const name = report.version ? `${report.peer} ${report.version}` : report.peer;
    if (report.missing) {
      table.push([
        name,
        where,
        threads,
        ...BENCH_SHAPES.flatMap(() => ["", "", ""]),
        `cannot run here: ${report.missing}`,
      ]);
      continue;
    }
    const cells = BENCH_SHAPES.flatMap(([label]) =>
      ["inference", "training", "backward"].map((what) => {
        const r = report.results.find((r) => r.label === label && r.what === what);
        if (r) return fmt(r.ms[0]);
        const both = report.results.find((r) => r.label === label && r.what === "training+backward");
        return what === "backward" && both ? `${fmt(both.ms[0])} (fwd+bwd)` : "—";
      })
    );
    table.push([name, where, threads, ...cells, ""]);
  }
  const widths = speedColumns.map((h, i) => Math.max(h.length, 3, ...table.map((r) => r[i].length)));
  const line = (cells: readonly string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
  return [
    SPEED_START,
    "",
    "## Speed beside conformance",
    "",
    `Each engine timed inside its own process on float32 NCHW batches, median of ${runs} calls after warm-up (no pipe or`,
    "copy counted but the engine's own), by `deno task matrix:speed --write` (`scripts/reports/speed_table.ts`). " +
    note,
    "Inference: the running-statistics normalization; training: the forward with batch statistics; backward: dx, dγ,",
    "dβ from dy (PyTorch: aten's `native_batch_norm_backward` given the saved statistics; the reference: from x; TF.js:",
    "`tf.grads`; (fwd+bwd): the engine's forward and autograd backward timed together). — where an engine has no such",
    "call. The machine is shared: only times from one run compare, and multi-threaded engines suffer most. Why",
    "onnxruntime-node takes longer than onnxruntime from Python on the same kernel (its binding copies each output into",
    "a new JavaScript buffer; the kernel's own time is the same): docs/performance.md, measured by",
    "`scripts/bench/ort_node_profile.ts`.",
    "",
    line(speedColumns),
    line(widths.map((w) => "-".repeat(w))),
    ...table.map(line),
    "",
    "Not timed: " + NOT_TIMED.map(([e, why]) => `${e} (${why})`).join("; ") + ".",
    "",
    SPEED_END,
  ].join("\n");
}

/** Replaces docs/matrix.md's speed section (or appends it). */
export function replaceSpeedSection(page: string, section: string): string {
  const a = page.indexOf(SPEED_START), b = page.indexOf(SPEED_END);
  if (a < 0 || b < 0) return page.trimEnd() + "\n\n" + section + "\n";
  return page.slice(0, a) + section + page.slice(b + SPEED_END.length);
}

/** Laid out by `deno fmt` (the project's config), so that `deno fmt --check` stays clean. */
async function formatted(markdown: string): Promise<string> {
  const fmt = new Deno.Command(Deno.execPath(), {
    args: ["fmt", "--ext=md", "-"],
    cwd: root,
    stdin: "piped",
    stdout: "piped",
  })
    .spawn();
  const writer = fmt.stdin.getWriter();
  await writer.write(new TextEncoder().encode(markdown));
  await writer.close();
  const out = await fmt.output();
  if (!out.success) throw new Error("deno fmt could not format the new docs/matrix.md; left unchanged");
  return new TextDecoder().decode(out.stdout);
}

if (import.meta.main) {
  const runs = 30;
  // /proc/cpuinfo needs --allow-all under Deno 2.9 ("Requires all access"); without it, the architecture only.
  const cpu = (() => {
    try {
      return Deno.readTextFileSync("/proc/cpuinfo").match(/model name\s*:\s*(.*)/)?.[1] ?? `${Deno.build.arch} CPU`;
    } catch {
      return `${Deno.build.arch} CPU (model not readable without -A)`;
    }
  })();
  // --from FILE: the rows of an earlier run (written by --save FILE), laid out again without timing anything.
  const from = Deno.args.indexOf("--from"), save = Deno.args.indexOf("--save");
  let run: { rows: Row[]; note: string };
  if (from >= 0) run = JSON.parse(await Deno.readTextFile(Deno.args[from + 1]));
  else {
    const before = Deno.loadavg()[0];
    const rows = await speedRows(runs);
    const after = Deno.loadavg()[0];
    const note = `Measured ${new Date().toISOString().slice(0, 10)} on ${cpu}, ${navigator.hardwareConcurrency} ` +
      `cores, Deno ${Deno.version.deno}, load average ${before.toFixed(1)} before and ${
        after.toFixed(1)
      } after the run.`;
    run = { rows, note };
  }
  if (save >= 0) await Deno.writeTextFile(Deno.args[save + 1], JSON.stringify(run));
  const section = speedSection(run.rows, runs, run.note);
  if (Deno.args.includes("--write")) {
    const page = new URL("docs/matrix.md", root);
    const text = await formatted(replaceSpeedSection(await Deno.readTextFile(page), section));
    const tmp = new URL(`matrix.md.tmp-${Deno.pid}`, page);
    await Deno.writeTextFile(tmp, text);
    await Deno.rename(tmp, page);
    console.log("wrote the speed section of docs/matrix.md");
  } else {
    console.log(section);
  }
}
