/**
 * Where onnxruntime-node's time goes under Deno, beside onnxruntime from Python on the same model and data:
 *
 *     deno run -A scripts/bench/ort_node_profile.ts [runs] [N,C,H,W]
 *
 * For the bench's big shape (float32 32x64x56x56, or the shape given), inference and training_mode, and intra-op thread counts 0
 * (onnxruntime's default), 1 and 2, it runs each session `runs` times (default 30) after 3 warm-ups with onnxruntime's
 * own profiler on and prints, per engine: the median wall time of one run as JavaScript (or Python) sees it, the
 * profiler's `model_run` (the whole run inside onnxruntime's C++) and the BatchNormalization node's `kernel_time`.
 * wall − model_run is the binding's share (tensors across N-API or pybind, the output's copy, the event loop).
 * Then the pieces of that share measured alone in this process: a fresh ArrayBuffer of the output's bytes filled by
 * a copy (what onnxruntime-node 1.30's binding does with each output: `napi_create_arraybuffer` + `memcpy`; its
 * binary imports no external-ArrayBuffer call), and one `setImmediate` hop (the node backend's `run` defers the
 * native call to one), and the same runs with Y preallocated through `fetches`. Python's side: scripts/bench/ort_profile.py under .envs/bench/bin/python.
 *
 * @module
 */

import * as ort from "onnxruntime-node";
import { setImmediate } from "node:timers";
import { buildBatchNormModel } from "../runners/onnx_model.ts";

const runs = Number(Deno.args[0] ?? 30);
const shape = (Deno.args[1] ?? "32,64,56,56").split(",").map(Number);
const n = shape.reduce((a, b) => a * b, 1), C = shape[1];
const dir = await Deno.makeTempDir({ prefix: "ortprof" });
const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b), m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const x = new Float32Array(n);
for (let i = 0; i < n; i++) x[i] = Math.sin(i * 0.37) * 2 + (i % 7) * 0.25;
const ones = new Float32Array(C).fill(1), zeros = new Float32Array(C);
const feeds = {
  X: new ort.Tensor("float32", x, shape),
  scale: new ort.Tensor("float32", ones, [C]),
  B: new ort.Tensor("float32", zeros, [C]),
  input_mean: new ort.Tensor("float32", zeros, [C]),
  input_var: new ort.Tensor("float32", ones, [C]),
};

/** The profiler's trace written last under `dir` with `prefix`. */
async function trace(prefix: string): Promise<{ name?: string; dur?: number }[]> {
  const files = [...Deno.readDirSync(dir)].map((e) => e.name).filter((f) => f.startsWith(prefix)).sort();
  return JSON.parse(await Deno.readTextFile(`${dir}/${files.at(-1)}`));
}

const lines: string[] = [];
try {
  for (const training of [false, true]) {
    const model = buildBatchNormModel({ opset: 15, dtype: "float32", shape, training });
    const what = training ? "training" : "inference";
    for (const threads of [0, 1, 2]) {
      const prefix = `node_${what}_${threads}`;
      const session = await ort.InferenceSession.create(model, {
        intraOpNumThreads: threads,
        enableProfiling: true,
        profileFilePrefix: `${dir}/${prefix}`,
      });
      const wall: number[] = [];
      for (let i = 0; i < 3 + runs; i++) {
        const t = performance.now();
        await session.run(feeds);
        if (i >= 3) wall.push(performance.now() - t);
      }
      session.endProfiling();
      await session.release();
      const events = await trace(prefix);
      const modelRun = events.filter((e) => e.name === "model_run").map((e) => e.dur! / 1e3).slice(3);
      const kernel = events.filter((e) => e.name?.endsWith("_kernel_time")).map((e) => e.dur! / 1e3).slice(3);
      lines.push(JSON.stringify({
        engine: "onnxruntime-node",
        version: ort.env.versions.node,
        what,
        threads,
        wall_ms: median(wall),
        model_run_ms: median(modelRun),
        kernel_ms: median(kernel),
      }));
      console.log(lines.at(-1));
    }
    {
      // The same run with Y preallocated (`fetches` naming a tensor): onnxruntime writes into the caller's buffer.
      const session = await ort.InferenceSession.create(model);
      const y = new ort.Tensor("float32", new Float32Array(n), shape);
      const fetches = training ? { Y: y, running_mean: null, running_var: null } : { Y: y };
      const wall: number[] = [];
      for (let i = 0; i < 3 + runs; i++) {
        const t = performance.now();
        await session.run(feeds, fetches as never);
        if (i >= 3) wall.push(performance.now() - t);
      }
      const out = await session.run(feeds, fetches as never);
      await session.release();
      lines.push(JSON.stringify({
        engine: "onnxruntime-node",
        what,
        threads: 0,
        preallocated_y: true,
        same_buffer_returned: out.Y.data === y.data,
        wall_ms: median(wall),
      }));
      console.log(lines.at(-1));
    }
    const py = new Deno.Command(".envs/bench/bin/python", {
      args: ["scripts/bench/ort_profile.py"],
      cwd: new URL("../../", import.meta.url),
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const w = py.stdin.getWriter();
    let bin = "";
    for (let i = 0; i < model.length; i += 0x8000) bin += String.fromCharCode(...model.subarray(i, i + 0x8000));
    await w.write(new TextEncoder().encode(JSON.stringify({ model: btoa(bin), shape, runs, threads: [0, 1, 2], dir })));
    await w.close();
    const out = await py.output();
    for (const l of new TextDecoder().decode(out.stdout).trim().split("\n")) {
      const r = JSON.parse(l);
      console.log(JSON.stringify({ ...r, what }));
    }
  }
  // The binding's share, piece by piece.
  const copy: number[] = [], hop: number[] = [], reuse: number[] = [];
  const target = new Uint8Array(4 * n), src = new Uint8Array(x.buffer);
  for (let i = 0; i < 3 + runs; i++) {
    let t = performance.now();
    new Uint8Array(new ArrayBuffer(4 * n)).set(src);
    if (i >= 3) copy.push(performance.now() - t);
    t = performance.now();
    target.set(src);
    if (i >= 3) reuse.push(performance.now() - t);
  }
  for (let i = 0; i < 3 + runs; i++) {
    const t = performance.now();
    await new Promise((r) => setImmediate(r));
    if (i >= 3) hop.push(performance.now() - t);
  }
  console.log(JSON.stringify({
    fresh_buffer_and_copy_ms: median(copy),
    copy_into_reused_buffer_ms: median(reuse),
    set_immediate_hop_ms: median(hop),
  }));
} finally {
  await Deno.remove(dir, { recursive: true });
}
