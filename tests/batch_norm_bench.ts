/**
 * `deno task bench`: the reference beside its peers in one run, float32 NCHW
 * 32x64x56x56 (a ResNet layer) and 8x16x8x8. Peers: onnxruntime-node (inference
 * and training_mode; session reused, tensors wrapping the same buffers), TF.js cpu
 * (inference op and training-mode gradients, channels-last: the layout its kernels
 * handle), and the memory floor: copying the same bytes (Float32Array.prototype.set).
 * Native peers (onnxruntime, PyTorch 2 and 1.13 from Python, each in its own process: scripts/bench/native.ts; the
 * matrix's other native engines through their peer programs' --bench modes: scripts/bench/engine_peers.ts) and the
 * same-technology peers (onnxruntime-web wasm, TF.js wasm backend: scripts/bench/wasm_peers.ts) are timed first,
 * beside the reference timed the same way; their ratios go to stderr.
 * scripts/reports/bench_report.ts turns a run into the README's table of ratios.
 */
import * as ort from "onnxruntime-node";
import * as tf from "@tensorflow/tfjs";
import { batchNormBackward, batchNormInference, batchNormTrain, KernelArena } from "../mod.ts";
import { setWasmEnabled } from "../src/reference/_wasm.ts";
import { buildBatchNormModel } from "../scripts/runners/onnx_model.ts";
import "../scripts/runners/onnxruntime.ts"; // float16 mapping, harmless here
import {
  BENCH_SHAPES,
  NATIVE_PEERS,
  nativeRequest,
  runNativePeer,
  timed,
  type Timing,
} from "../scripts/bench/native.ts";
import { runWasmPeers } from "../scripts/bench/wasm_peers.ts";
import { ENGINE_PEERS, runEnginePeer } from "../scripts/bench/engine_peers.ts";

await tf.setBackend("cpu");

// ------------------------------------------------------------------ native peers, in their own processes
// Timed before the in-process benches start (nothing else running), with the reference timed the same way
// right after, so the ratios below come from one run. Printed to stderr (bench_report.ts reads the JSON line).
{
  const runs = 25;
  const req = nativeRequest(runs);
  const peers = [];
  for (const peer of NATIVE_PEERS) peers.push(await runNativePeer(peer, req));
  // The matrix's other native engines (OpenVINO, onnx.reference, LiteRT, PaddlePaddle, MLX, tinygrad, ncnn, candle,
  // burn), each timed by its own peer program's --bench mode (medians only); a missing one is reported as missing.
  for (const peer of ENGINE_PEERS) peers.push(await runEnginePeer(peer, req.shapes, runs));
  // The same-technology peers (WebAssembly in this process, one thread), on the same data; TF.js's gradients take
  // seconds a call on the big shape, so 5 of them are timed.
  const wasmPeers = await runWasmPeers(
    BENCH_SHAPES.map(([label, shape]) => {
      const n = shape.reduce((a, b) => a * b, 1);
      const x = new Float32Array(n), dy = new Float32Array(n);
      for (let i = 0; i < n; i++) x[i] = Math.sin(i * 0.37) * 2 + (i % 7) * 0.25;
      for (let i = 0; i < n; i++) dy[i] = Math.cos(i * 0.11);
      return { label, shape, x, dy };
    }),
    runs,
    5,
  );
  const reference: { label: string; what: string; ms: Timing }[] = [];
  for (const [label, shape] of BENCH_SHAPES) {
    const n = shape.reduce((a, b) => a * b, 1), C = shape[1];
    // The reference on two threads (the helper worker of a two-thread KernelArena; 2 cores here, as the native
    // peers use), and on one: the same data in an arena of each kind.
    const arena = new KernelArena(3 * 4 * n + 48, { threads: 2 }), one = new KernelArena(3 * 4 * n + 48);
    const x = arena.float32(shape), y = arena.float32(shape), dy = arena.float32(shape);
    for (let i = 0; i < n; i++) x.data[i] = Math.sin(i * 0.37) * 2 + (i % 7) * 0.25;
    for (let i = 0; i < n; i++) dy.data[i] = Math.cos(i * 0.11);
    const x1 = one.float32(shape), y1 = one.float32(shape), dy1 = one.float32(shape);
    x1.data.set(x.data), dy1.data.set(dy.data);
    await arena.whenThreaded();
    const ones = new Float32Array(C).fill(1), zeros = new Float32Array(C);
    const state = { gamma: ones, beta: zeros, runningMean: zeros, runningVar: ones };
    // The forward's statistics, for backward "saved" (made once: the forward is timed on its own).
    const { saved } = batchNormTrain(x, state, "onnx", { out: y.data });
    const saved1 = batchNormTrain(x1, state, "onnx", { out: y1.data }).saved;
    // "before": the same calls as before the kernels (TypeScript loops, fresh outputs, x in ordinary memory)
    const plainX = { ...x, data: x.data.slice() }, plainDy = { ...dy, data: dy.data.slice() };
    const before = (f: () => unknown) => () => {
      const previous = setWasmEnabled(false);
      try {
        f();
      } finally {
        setWasmEnabled(previous);
      }
    };
    reference.push(
      { label, what: "inference before", ms: timed(before(() => batchNormInference(plainX, state, "onnx")), runs) },
      { label, what: "training before", ms: timed(before(() => batchNormTrain(plainX, state, "onnx")), runs) },
      {
        label,
        what: "backward before",
        ms: timed(before(() => batchNormBackward(plainX, plainDy, state, "train", "onnx")), runs),
      },
    );
    reference.push(
      {
        label,
        what: "inference one thread",
        ms: timed(() => batchNormInference(x1, state, "onnx", { out: y1.data }), runs),
      },
      {
        label,
        what: "training one thread",
        ms: timed(() => batchNormTrain(x1, state, "onnx", { out: y1.data }), runs),
      },
      {
        label,
        what: "backward one thread",
        ms: timed(() => batchNormBackward(x1, dy1, state, "train", "onnx", { out: y1.data }), runs),
      },
      {
        // As PyTorch's backward (the peer) is given save_mean and save_invstd: the forward's statistics.
        label,
        what: "backward saved one thread",
        ms: timed(() => batchNormBackward(x1, dy1, state, "train", "onnx", { out: y1.data, saved: saved1 }), runs),
      },
    );
    reference.push(
      { label, what: "inference", ms: timed(() => batchNormInference(x, state, "onnx", { out: y.data }), runs) },
      { label, what: "training", ms: timed(() => batchNormTrain(x, state, "onnx", { out: y.data }), runs) },
      {
        label,
        what: "backward",
        ms: timed(() => batchNormBackward(x, dy, state, "train", "onnx", { out: y.data }), runs),
      },
      {
        label,
        what: "backward saved",
        ms: timed(() => batchNormBackward(x, dy, state, "train", "onnx", { out: y.data, saved }), runs),
      },
    );
    arena.close();
  }
  const f = (t: Timing) => `${t[0].toPrecision(3)} ms (${t[1].toPrecision(3)}–${t[2].toPrecision(3)})`;
  const lines = [
    "native peers (own process) vs the reference (tensors in kernel memory, two threads), medians of " + runs +
    " calls:",
  ];
  for (const p of [...peers, ...wasmPeers]) {
    if (p.missing) lines.push(`  ${p.peer}: MISSING (${p.missing})`);
    for (const r of p.results) {
      const ref = reference.find((q) => q.label === r.label && q.what === r.what);
      const old = reference.find((q) => q.label === r.label && q.what === `${r.what} before`);
      if (!ref || !old) {
        // A call the reference has no twin of (an engine's forward and backward timed together): the peer alone.
        lines.push(`  ${r.label} ${r.what} ${p.peer} ${p.version} ${f(r.ms)} (no reference call to compare)`);
        continue;
      }
      lines.push(
        `  ${r.label} ${r.what.padEnd(9)} reference ${f(ref.ms)}  ${p.peer} ${p.version} ${f(r.ms)}  ratio ${
          (ref.ms[0] / r.ms[0]).toFixed(2)
        } (before: ${f(old.ms)}, ratio ${(old.ms[0] / r.ms[0]).toFixed(2)})`,
      );
    }
  }
  console.error(lines.join("\n"));
  console.error("NATIVE_PEERS_JSON " + JSON.stringify({ runs, reference, peers, wasmPeers }));
}

for (const [label, [N, C, H, W]] of [["32x64x56x56", [32, 64, 56, 56]], ["8x16x8x8", [8, 16, 8, 8]]] as const) {
  const n = N * C * H * W;
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = Math.sin(i * 0.37) * 2 + (i % 7) * 0.25;
  const dyData = new Float32Array(n).map((_, i) => Math.cos(i * 0.11));
  const x = { dtype: "float32" as const, shape: [N, C, H, W], data };
  const dy = { dtype: "float32" as const, shape: [N, C, H, W], data: dyData };
  const ones = new Float32Array(C).fill(1), zeros = new Float32Array(C);
  const state = { gamma: ones, beta: zeros, runningMean: zeros, runningVar: ones };
  const dst = new Float32Array(n);

  const session = async (training: boolean) =>
    await ort.InferenceSession.create(
      buildBatchNormModel({ opset: 15, dtype: "float32", shape: [N, C, H, W], training }),
    );
  const [ortInfer, ortTrain] = [await session(false), await session(true)];
  const feeds = {
    X: new ort.Tensor("float32", data, [N, C, H, W]),
    scale: new ort.Tensor("float32", ones, [C]),
    B: new ort.Tensor("float32", zeros, [C]),
    input_mean: new ort.Tensor("float32", zeros, [C]),
    input_var: new ort.Tensor("float32", ones, [C]),
  };
  const xNhwc = tf.tensor4d(data, [N, H, W, C]); // the same bytes, read as channels-last
  const dyNhwc = tf.tensor4d(dyData, [N, H, W, C]);
  const [gamma, beta, mean, variance] = [tf.ones([C]), tf.zeros([C]), tf.zeros([C]), tf.ones([C])];

  // Tensors in the kernels' memory: x and y in a KernelArena, y written in place (no copy, no allocation).
  const arena = new KernelArena(3 * 4 * n + 48);
  const ax = arena.float32([N, C, H, W]), ay = arena.float32([N, C, H, W]), adY = arena.float32([N, C, H, W]);
  ax.data.set(data), adY.data.set(dyData);
  // The same on two threads (a two-thread arena; its helper leaves when idle and starts again on the next call).
  const arena2 = new KernelArena(3 * 4 * n + 48, { threads: 2 });
  const tx = arena2.float32([N, C, H, W]), ty = arena2.float32([N, C, H, W]), tdY = arena2.float32([N, C, H, W]);
  tx.data.set(data), tdY.data.set(dyData);
  await arena2.whenThreaded();
  Deno.bench({
    name: `reference inference, in kernel memory, two threads ${label}`,
    group: `inference ${label}`,
    fn: () => void batchNormInference(tx, state, "onnx", { out: ty.data }),
  });
  Deno.bench({
    name: `reference training, in kernel memory, two threads ${label}`,
    group: `training ${label}`,
    fn: () => void batchNormTrain(tx, state, "onnx", { out: ty.data }),
  });
  Deno.bench({
    name: `reference backward, in kernel memory, two threads ${label}`,
    group: `backward ${label}`,
    fn: () => void batchNormBackward(tx, tdY, state, "train", "onnx", { out: ty.data }),
  });
  const tSaved = batchNormTrain(tx, state, "onnx", { out: ty.data }).saved;
  Deno.bench({
    name: `reference backward, with the forward's statistics, in kernel memory, two threads ${label}`,
    group: `backward ${label}`,
    fn: () => void batchNormBackward(tx, tdY, state, "train", "onnx", { out: ty.data, saved: tSaved }),
  });

  Deno.bench({ name: `copy floor ${label}`, group: `inference ${label}`, fn: () => dst.set(data) });
  Deno.bench({
    name: `reference inference, in kernel memory ${label}`,
    group: `inference ${label}`,
    fn: () => void batchNormInference(ax, state, "onnx", { out: ay.data }),
  });
  Deno.bench({
    name: `reference inference, caller-owned output ${label}`,
    group: `inference ${label}`,
    fn: () => void batchNormInference(x, state, "onnx", { out: dst }),
  });
  Deno.bench({
    name: `reference training, in kernel memory ${label}`,
    group: `training ${label}`,
    fn: () => void batchNormTrain(ax, state, "onnx", { out: ay.data }),
  });
  Deno.bench({
    name: `reference inference ${label}`,
    group: `inference ${label}`,
    fn: () => void batchNormInference(x, state, "onnx"),
  });
  Deno.bench({
    // The same call with the WebAssembly kernels off: the TypeScript loop they replace (same bits).
    name: `reference inference, TypeScript loop ${label}`,
    group: `inference ${label}`,
    fn: () => {
      const previous = setWasmEnabled(false);
      try {
        batchNormInference(x, state, "onnx");
      } finally {
        setWasmEnabled(previous);
      }
    },
  });
  Deno.bench({
    name: `onnxruntime inference ${label}`,
    group: `inference ${label}`,
    baseline: true,
    fn: async () => void await ortInfer.run(feeds),
  });
  Deno.bench({
    name: `tfjs inference ${label}`,
    group: `inference ${label}`,
    fn: () => tf.tidy(() => void tf.batchNorm(xNhwc, mean, variance, beta, gamma, 1e-5).dataSync()),
  });
  Deno.bench({
    name: `reference training ${label}`,
    group: `training ${label}`,
    fn: () => void batchNormTrain(x, state, "onnx"),
  });
  Deno.bench({
    name: `reference training, TypeScript loop ${label}`,
    group: `training ${label}`,
    fn: () => {
      const previous = setWasmEnabled(false);
      try {
        batchNormTrain(x, state, "onnx");
      } finally {
        setWasmEnabled(previous);
      }
    },
  });
  Deno.bench({
    name: `onnxruntime training ${label}`,
    group: `training ${label}`,
    baseline: true,
    fn: async () => void await ortTrain.run(feeds),
  });
  Deno.bench({
    name: `reference backward, in kernel memory ${label}`,
    group: `backward ${label}`,
    fn: () => void batchNormBackward(ax, adY, state, "train", "onnx", { out: ay.data }),
  });
  const aSaved = batchNormTrain(ax, state, "onnx", { out: ay.data }).saved;
  Deno.bench({
    name: `reference backward, with the forward's statistics, in kernel memory ${label}`,
    group: `backward ${label}`,
    fn: () => void batchNormBackward(ax, adY, state, "train", "onnx", { out: ay.data, saved: aSaved }),
  });
  const fSaved = batchNormTrain(x, state, "onnx").saved;
  Deno.bench({
    name: `reference backward, with the forward's statistics ${label}`,
    group: `backward ${label}`,
    fn: () => void batchNormBackward(x, dy, state, "train", "onnx", { saved: fSaved }),
  });
  Deno.bench({
    name: `reference backward, TypeScript loop ${label}`,
    group: `backward ${label}`,
    fn: () => {
      const previous = setWasmEnabled(false);
      try {
        batchNormBackward(x, dy, state, "train", "onnx");
      } finally {
        setWasmEnabled(previous);
      }
    },
  });
  Deno.bench({
    name: `reference backward ${label}`,
    group: `backward ${label}`,
    fn: () => void batchNormBackward(x, dy, state, "train", "onnx"),
  });
  Deno.bench({
    name: `tfjs gradients ${label}`,
    group: `backward ${label}`,
    baseline: true,
    fn: () =>
      tf.tidy(() => {
        const grads = tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
          const m = tf.moments(a, [0, 1, 2]);
          return tf.sum(tf.mul(tf.batchNorm(a, m.mean, m.variance, b, g, 1e-5), dyNhwc));
        })([xNhwc, gamma, beta]);
        grads.forEach((t) => t.dataSync());
      }),
  });
}
