/**
 * Regenerates the benchmark section of docs/performance.md: runs `deno bench --json` on
 * tests/batch_norm_bench.ts, turns it into ratios measured in the same run, and
 * adds the accuracy table (float32 error against a float64 computation, in ULP of
 * max(|y|, 1)) and the reference's peak extra memory on the big shape.
 *
 *     deno run -A --v8-flags=--expose-gc scripts/reports/bench_report.ts [--write]
 *
 * @module
 */

import * as ort from "onnxruntime-node";
import * as tf from "@tensorflow/tfjs";
import { batchNormBackward, batchNormInference, batchNormTrain, loadAllFixtures, ulp } from "../../mod.ts";
import { buildBatchNormModel } from "../runners/onnx_model.ts";
import { markdownTable } from "./_markdown.ts";
import { writeAtomic } from "../generators/_fixture_io.ts";

const root = new URL("../../", import.meta.url);

if (Deno.args[0] === "--memory-probe") {
  const hwm = () => Number(Deno.readTextFileSync("/proc/self/status").match(/VmHWM:\s*(\d+) kB/)![1]) * 1024;
  const [N, C, H, W] = [32, 64, 56, 56], count = N * C * H * W;
  const data = Float32Array.from({ length: count }, (_, i) => Math.sin(i));
  const dy = Float32Array.from({ length: count }, (_, i) => Math.cos(i));
  const x = { dtype: "float32" as const, shape: [N, C, H, W], data };
  const st = {
    gamma: new Float32Array(C).fill(1),
    beta: new Float32Array(C),
    runningMean: new Float32Array(C),
    runningVar: new Float32Array(C).fill(1),
  };
  const small = { dtype: "float32" as const, shape: [2, C, 2, 2], data: new Float32Array(2 * C * 4).fill(1) };
  // Warm the code paths on a small input so compilation does not count.
  batchNormInference(small, st, "onnx"),
    batchNormTrain(small, st, "onnx"),
    batchNormBackward(small, small, st, "train", "onnx");
  const before = hwm();
  const what = Deno.args[1];
  const keep = what === "inference"
    ? batchNormInference(x, st, "onnx")
    : what === "training forward"
    ? batchNormTrain(x, st, "onnx")
    : batchNormBackward(x, { ...x, data: dy }, st, "train", "onnx");
  console.log(hwm() - before, keep ? "" : "");
  Deno.exit(0);
}

// ---------------------------------------------------------------- timings

const bench = await new Deno.Command(Deno.execPath(), {
  args: [
    "bench",
    "--json",
    "--allow-read=.",
    // The same peers as `deno task bench` (deno.json): one list of the native peers' programs.
    (JSON.parse(Deno.readTextFileSync(new URL("deno.json", root))).tasks.bench as string).split(" ")
      .find((w) => w.startsWith("--allow-run="))!,
    "--allow-ffi",
    "--allow-env",
    "--allow-sys",
    "tests/batch_norm_bench.ts",
  ],
  cwd: root,
  stdout: "piped",
  stderr: "piped",
}).output();
const benchErr = new TextDecoder().decode(bench.stderr);
console.error(benchErr.split("\n").filter((l) => !l.startsWith("NATIVE_PEERS_JSON ")).join("\n"));
if (!bench.success) throw new Error("deno bench failed");
const json = JSON.parse(new TextDecoder().decode(bench.stdout));
const avg = new Map<string, number>();
for (const b of json.benches) avg.set(b.name, b.results[0].ok.avg / 1e6); // ns -> ms
const nativeLine = benchErr.split("\n").find((l) => l.startsWith("NATIVE_PEERS_JSON "));
if (!nativeLine) throw new Error("the bench printed no native-peer results");
type Timing = [number, number, number];
const native: {
  runs: number;
  reference: { label: string; what: string; ms: Timing }[];
  peers: { peer: string; version?: string; missing?: string; results: { label: string; what: string; ms: Timing }[] }[];
  wasmPeers: {
    peer: string;
    version?: string;
    missing?: string;
    results: { label: string; what: string; ms: Timing }[];
  }[];
} = JSON.parse(nativeLine.slice("NATIVE_PEERS_JSON ".length));

const fmtMs = (v: number) => (v >= 1 ? `${v.toFixed(1)} ms` : `${(v * 1000).toFixed(1)} µs`);
const fmtRange = (t: Timing) => `${fmtMs(t[0])} (${fmtMs(t[1])}–${fmtMs(t[2])})`;
// Issue 23's targets: ≤ 1.5x the fastest native peer (inference, training forward), ≤ 1.5x PyTorch 2 (backward).
const nativeRows: string[][] = [];
for (const label of ["32x64x56x56", "8x16x8x8"]) {
  for (const row of ["inference", "training", "backward", "backward saved"]) {
    // "backward saved": backward given the forward's statistics, as the peer (PyTorch's backward) is given them.
    const what = row === "backward saved" ? "backward" : row;
    const ref = native.reference.find((r) => r.label === label && r.what === row)!;
    // Backward's target is PyTorch 2's autograd kernel; where PyTorch 2 is missing, the fastest peer stands in.
    const torch2 = native.peers.some((p) => p.peer.startsWith("PyTorch 2") && p.results.length);
    const candidates = native.peers.filter((p) => what !== "backward" || !torch2 || p.peer.startsWith("PyTorch 2"))
      .flatMap((p) =>
        p.results.filter((r) => r.label === label && r.what === what).map((r) => ({
          ...r,
          peer: `${p.peer} ${p.version}`,
        }))
      );
    const best = candidates.sort((a, b) => a.ms[0] - b.ms[0])[0];
    const name = row === "training"
      ? "training forward"
      : row === "backward saved"
      ? "backward, saved statistics"
      : row;
    if (!best) {
      nativeRows.push([label, name, fmtRange(ref.ms), "no native peer ran", "", "", "", "≤ 1.5", ""]);
      continue;
    }
    const ratio = ref.ms[0] / best.ms[0];
    const before = native.reference.find((r) => r.label === label && r.what === `${what} before`)!;
    const one = native.reference.find((r) => r.label === label && r.what === `${row} one thread`);
    nativeRows.push([
      label,
      name,
      fmtRange(ref.ms),
      `${best.peer} ${fmtRange(best.ms)}`,
      ratio.toFixed(2),
      one ? `${(one.ms[0] / best.ms[0]).toFixed(2)} (${fmtMs(one.ms[0])})` : "",
      `${(before.ms[0] / best.ms[0]).toFixed(2)} (${fmtMs(before.ms[0])})`,
      "≤ 1.5",
      ratio <= 1.5 ? "met" : "missed",
    ]);
  }
}
// The same-technology peers: WebAssembly in the bench's process, one thread, timed as the native peers.
const wasmRows: string[][] = [];
for (const label of ["32x64x56x56", "8x16x8x8"]) {
  for (const what of ["inference", "training", "backward"]) {
    const ref = native.reference.find((r) => r.label === label && r.what === what)!;
    for (const p of native.wasmPeers) {
      const r = p.results.find((q) => q.label === label && q.what === what);
      if (!r) continue;
      wasmRows.push([
        label,
        what === "training" ? "training forward" : what,
        fmtRange(ref.ms),
        `${p.peer} ${p.version} ${fmtRange(r.ms)}`,
        (ref.ms[0] / r.ms[0]).toFixed(2),
      ]);
    }
  }
}
const missingWasm = native.wasmPeers.filter((p) => p.missing).map((p) => `${p.peer}: missing (${p.missing})`);
const missingPeers = native.peers.filter((p) => p.missing).map((p) => `${p.peer}: missing (${p.missing})`);

const timingRows: string[][] = [];
for (const label of ["32x64x56x56", "8x16x8x8"]) {
  const t = (name: string) => avg.get(`${name} ${label}`)!;
  const rows: [string, string, string][] = [
    ["inference", "reference inference, in kernel memory, two threads", "onnxruntime inference"],
    ["inference", "reference inference, in kernel memory", "onnxruntime inference"],
    ["inference", "reference inference, caller-owned output", "onnxruntime inference"],
    ["inference", "reference inference", "onnxruntime inference"],
    ["inference", "reference inference, TypeScript loop", "onnxruntime inference"],
    ["inference", "reference inference, in kernel memory", "copy floor"],
    ["inference", "reference inference, in kernel memory", "tfjs inference"],
    ["training forward", "reference training, in kernel memory, two threads", "onnxruntime training"],
    ["training forward", "reference training, in kernel memory", "onnxruntime training"],
    ["training forward", "reference training", "onnxruntime training"],
    ["training forward", "reference training, TypeScript loop", "onnxruntime training"],
    ["backward", "reference backward, in kernel memory, two threads", "tfjs gradients"],
    ["backward", "reference backward, with the forward's statistics, in kernel memory, two threads", "tfjs gradients"],
    ["backward", "reference backward, in kernel memory", "tfjs gradients"],
    ["backward", "reference backward, with the forward's statistics, in kernel memory", "tfjs gradients"],
    ["backward", "reference backward", "tfjs gradients"],
    ["backward", "reference backward, with the forward's statistics", "tfjs gradients"],
    ["backward", "reference backward, TypeScript loop", "tfjs gradients"],
  ];
  for (const [what, ref, peer] of rows) {
    timingRows.push([
      label,
      what,
      `${ref.slice("reference ".length)} ${fmtMs(t(ref))}`,
      `${peer} ${fmtMs(t(peer))}`,
      (t(ref) / t(peer)).toFixed(2),
    ]);
  }
}

// ---------------------------------------------------------------- accuracy

function stream(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648 - 0.5;
  };
}

/** Worst error in float32 ULP of max(|y|, 1). */
function ulps(actual: ArrayLike<number>, exact: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < exact.length; i++) {
    worst = Math.max(worst, Math.abs(actual[i] - exact[i]) / ulp(Math.max(Math.abs(exact[i]), 1), "float32"));
  }
  return worst;
}

const [N, C, H, W] = [8, 16, 16, 16];
const n = N * C * H * W;
const inputs = {
  "random": (() => {
    const r = stream(7);
    return Float32Array.from({ length: n }, (_, i) => 3 * r() + (Math.floor(i / (H * W)) % C) * 0.5);
  })(),
  "large mean (1e4 ± 1e-2)": (() => {
    const r = stream(11);
    return Float32Array.from({ length: n }, () => 1e4 + 1e-2 * r());
  })(),
};
const ones = (
  dtype: "float32" | "float64",
) => (dtype === "float32" ? new Float32Array(C).fill(1) : new Float64Array(C).fill(1));
const zeros = (dtype: "float32" | "float64") => (dtype === "float32" ? new Float32Array(C) : new Float64Array(C));
async function onnxruntime(
  data: Float32Array,
  dtype: "float32" | "float64",
  training: boolean,
  mean: Float64Array,
  variance: Float64Array,
) {
  const session = await ort.InferenceSession.create(
    buildBatchNormModel({ opset: 15, dtype, shape: [N, C, H, W], epsilon: 1e-5, training }),
  );
  const arr = dtype === "float32" ? Float32Array : Float64Array;
  const feeds = {
    X: new ort.Tensor(dtype, arr.from(data), [N, C, H, W]),
    scale: new ort.Tensor(dtype, ones(dtype), [C]),
    B: new ort.Tensor(dtype, zeros(dtype), [C]),
    input_mean: new ort.Tensor(dtype, arr.from(mean), [C]),
    input_var: new ort.Tensor(dtype, arr.from(variance), [C]),
  };
  return Float64Array.from((await session.run(feeds)).Y.data as Float32Array);
}
function tfjs(data: Float32Array, training: boolean, mean: Float64Array, variance: Float64Array): Float64Array {
  // channels-last: transpose in, compute, transpose back
  const y = tf.tidy(() => {
    const x = tf.transpose(tf.tensor4d(data, [N, C, H, W]), [0, 2, 3, 1]);
    const m = training
      ? tf.moments(x, [0, 1, 2])
      : { mean: tf.tensor1d(Float32Array.from(mean)), variance: tf.tensor1d(Float32Array.from(variance)) };
    return tf.transpose(tf.batchNorm(x, m.mean, m.variance, tf.zeros([C]), tf.ones([C]), Math.fround(1e-5)), [
      0,
      3,
      1,
      2,
    ]);
  });
  const out = Float64Array.from(y.dataSync());
  y.dispose();
  return out;
}
await tf.setBackend("cpu");
const accuracyRows: string[][] = [];
for (const [name, data] of Object.entries(inputs)) {
  const x32 = { dtype: "float32" as const, shape: [N, C, H, W], data };
  const eps = Math.fround(1e-5);
  // Running statistics for inference: the batch's own, rounded to float32, so the same values go everywhere.
  const stats = batchNormTrain({ ...x32, dtype: "float64", data: Float64Array.from(data) }, {}, {
    base: "onnx",
    affine: false,
  });
  const rm = Float64Array.from(stats.batchMean.data, Math.fround),
    rv = Float64Array.from(stats.batchVar.data, Math.fround);
  for (const training of [true, false]) {
    // The float64 computation: onnxruntime's float64 kernel on the same (float32) inputs.
    const exact = await onnxruntime(data, "float64", training, rm, rv);
    const conv = { base: "onnx" as const, epsilon: eps, affine: false };
    const ref = training
      ? batchNormTrain(x32, {}, conv).y.data
      : batchNormInference(x32, { runningMean: Float32Array.from(rm), runningVar: Float32Array.from(rv) }, conv).y.data;
    accuracyRows.push([
      name,
      training ? "training" : "inference",
      ulps(ref, exact).toFixed(3),
      ulps(await onnxruntime(data, "float32", training, rm, rv), exact).toPrecision(3),
      ulps(tfjs(data, training, rm, rv), exact).toPrecision(3),
    ]);
  }
}
// PyTorch, from its fixtures: float32 y against its float64 twin.
const files = await loadAllFixtures();
const pt = (caseName: string, step: number) => {
  const c = files.flatMap((f) => f.cases).find((k) => k.name === caseName)!;
  const s = c.steps[step];
  return ulps(
    (s.expected!.y as { data: ArrayLike<number> }).data,
    (s.expectedFloat64!.y as { data: ArrayLike<number> }).data,
  ).toPrecision(3);
};
const ptRandom = [
  pt("pytorch BatchNorm2d float32 2x3x4x5 train x3 then eval momentum=0.1", 0),
  pt("pytorch BatchNorm2d float32 2x3x4x5 train x3 then eval momentum=0.1", 3),
];
const ptLarge = pt("pytorch edge BatchNorm1d float32 64x2 large mean tiny spread", 0);

// ---------------------------------------------------------------- memory

/**
 * Peak extra memory of one reference call on 32x64x56x56, in a fresh process:
 * the growth of the peak resident set (VmHWM) from just before the call to just
 * after it. In-process heap readings undercount: the collector runs mid-call.
 */
async function peakExtra(what: string): Promise<number> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "scripts/reports/bench_report.ts", "--memory-probe", what], // /proc/self needs --allow-all
    cwd: root,
    stdout: "piped",
    stderr: "inherit",
  }).output();
  return Number(new TextDecoder().decode(out.stdout).trim());
}
const memoryRows: string[][] = [];
const tensorBytes = 32 * 64 * 56 * 56 * 4;
for (const what of ["inference", "training forward", "backward"]) {
  const extra = await peakExtra(what);
  memoryRows.push([
    what,
    `${(extra / 2 ** 20).toFixed(1)} MiB`,
    `${(extra / tensorBytes).toFixed(2)}x`,
    extra <= 3 * tensorBytes ? "met" : "missed",
  ]);
}

// ---------------------------------------------------------------- render

const cpu = (() => {
  try {
    return Deno.readTextFileSync("/proc/cpuinfo").match(/model name\s*:\s*(.*)/)?.[1] ?? "unknown CPU";
  } catch {
    return "unknown CPU";
  }
})();
const section = [
  `Measured ${
    new Date().toISOString().slice(0, 10)
  } on ${cpu}, ${navigator.hardwareConcurrency} cores, Deno ${Deno.version.deno}, ` +
  `by \`scripts/reports/bench_report.ts\` from one \`deno task bench\` run (float32, NCHW). Ratio: the reference's time divided by the peer's.`,
  "The machine is shared with other work: times vary run to run; brackets give the range (min–max).",
  "",
  `Against native kernels, each timed in its own process (scripts/bench/native.ts), medians of ${native.runs} calls, ` +
  "the reference with its tensors in kernel memory (`KernelArena` with `threads: 2`; y and dx into caller-owned outputs " +
  "there). One thread: the same in a one-thread arena. Before: the same calls as before the WebAssembly kernels " +
  "(TypeScript loops, fresh outputs, one thread), in the same run. The native peers are onnxruntime and PyTorch 2 and " +
  "1.13 from Python (scripts/bench/native_peers.py) and the matrix's other native engines, each timed by its own peer " +
  "program's `--bench` mode (scripts/bench/engine_peers.ts: OpenVINO, onnx.reference, LiteRT, PaddlePaddle, MLX, " +
  "tinygrad, ncnn, candle, burn; they report medians only, so their range reads median–median); the fastest is the anchor:",
  "",
  markdownTable([
    "shape",
    "what",
    "reference",
    "native peer (fastest; backward: PyTorch 2)",
    "ratio",
    "one thread",
    "before",
    "target",
    "",
  ], nativeRows),
  ...(missingPeers.length ? ["", ...missingPeers.map((m) => `- ${m}`)] : []),
  "",
  "Same-technology peers: BatchNorm kernels compiled to WebAssembly, run in the bench's process on one thread as the " +
  "reference is (scripts/bench/wasm_peers.ts; TF.js channels-last, its backward `tf.grads` of moments and batchNorm, " +
  "5 calls), timed the same way in the same run:",
  "",
  markdownTable(["shape", "what", "reference", "peer", "ratio"], wasmRows),
  ...(missingWasm.length ? ["", ...missingWasm.map((m) => `- ${m}`)] : []),
  "",
  "In-process peers (`deno bench` averages), and the reference's variants: in kernel memory (no copy, no allocation; " +
  "two threads, then one), " +
  "into a caller-owned output, fresh output (WebAssembly SIMD, x copied in and y out) and the TypeScript loop (kernels off):",
  "",
  markdownTable(["shape", "what", "reference", "peer", "ratio"], timingRows),
  "",
  "Accuracy: worst float32 error against onnxruntime's float64 kernel on the same inputs, in ULP of max(|y|, 1), " +
  `8x16x16x16. PyTorch from its fixtures (against its float64 twin): ${ptRandom[0]} (training) and ${ptRandom[1]} ` +
  `(inference) on random inputs, ${ptLarge} on the large-mean case.`,
  "",
  markdownTable(["inputs", "mode", "reference", "onnxruntime", "TF.js"], accuracyRows),
  "",
  ...(memoryRows.length
    ? [
      `Peak extra memory of the reference on 32x64x56x56 (the tensor is ${
        (32 * 64 * 56 * 56 * 4 / 2 ** 20).toFixed(1)
      } MiB of float32), ` +
      "target ≤ 3x the tensor's bytes (growth of the peak resident set over the call, in a fresh process):",
      "",
      markdownTable(["call", "extra memory", "of the tensor's bytes", ""], memoryRows),
    ]
    : ["(Memory not measured: run with --v8-flags=--expose-gc.)"]),
].join("\n");

if (Deno.args.includes("--write")) {
  const readme = Deno.readTextFileSync(new URL("docs/performance.md", root));
  const start = "<!-- bench:start -->", end = "<!-- bench:end -->";
  const a = readme.indexOf(start), b = readme.indexOf(end);
  if (a < 0 || b < 0) throw new Error("docs/performance.md has no bench markers");
  // Laid out by `deno fmt` (the project's config) before it replaces docs/performance.md, so `deno fmt --check` stays clean.
  const fmt = new Deno.Command(Deno.execPath(), {
    args: ["fmt", "--ext=md", "-"],
    cwd: root,
    stdin: "piped",
    stdout: "piped",
  }).spawn();
  const writer = fmt.stdin.getWriter();
  await writer.write(
    new TextEncoder().encode(`${readme.slice(0, a + start.length)}\n\n${section}\n\n${readme.slice(b)}`),
  );
  await writer.close();
  const out = await fmt.output();
  if (!out.success) throw new Error("deno fmt could not format the new docs/performance.md; left unchanged");
  writeAtomic(new URL("docs/performance.md", root), out.stdout);
  console.log("docs/performance.md updated");
} else console.log(section);
