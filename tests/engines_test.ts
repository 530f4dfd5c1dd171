/**
 * The deployed engines (onnxruntime-web wasm, TF.js wasm and webgpu backends,
 * OpenCV DNN): their rows of docs/matrix.md are what a fresh run computes, and the
 * evidence behind each finding of docs/findings.md ("Findings from deployed engines")
 * still holds. An engine that cannot start here is reported as ignored with the reason.
 * Run by `deno task test:engines` (CI runs it after `deno task test`: about a minute on 2 cores).
 */
import { assert, assertEquals, assertGreater, assertStringIncludes } from "@std/assert";
import * as tf from "@tensorflow/tfjs";
import { caseRequests, loadAllFixtures, type StepOutputs, type StepRequest } from "../mod.ts";
import { PEERS } from "../scripts/reports/conformance_matrix.ts";
import { peerRowTests } from "./_coverage.ts";
import { onnxruntimeWebImplementation } from "../scripts/peers/engines.ts";
import { onnxruntimeImplementation } from "../scripts/peers/inprocess.ts";
import { buildBatchNormModel, type OnnxBatchNormSpec } from "../scripts/runners/onnx_model.ts";
import { encodeBase64 } from "../scripts/runners/_base64.ts";
import { backendUnavailable, useBackend } from "../scripts/runners/tfjs_backends.ts";
import { runOnnxWebBatchNorm } from "../scripts/runners/onnxruntime_web.ts";

const files = await loadAllFixtures();
const engines = PEERS.filter((p) => p.group === "engine");
const reasons = new Map<string, string | undefined>();
for (const p of engines) reasons.set(p.label, await p.unavailable?.()); // one at a time: TF.js switches backends

for (const peer of engines) {
  const reason = reasons.get(peer.label);
  peerRowTests(peer, files, reason);
}

// ---- TF.js wasm: tf.moments over an empty axis reads uninitialised memory ----

Deno.test({
  name: "tfjs-backend-wasm: the mean over an empty axis is whatever the heap held (Mean kernel skipped for size 0)",
  ignore: (await backendUnavailable("wasm")) !== undefined,
  fn: async () => {
    await useBackend("wasm");
    const empty = tf.zeros([0, 4096]);
    let stale = 0;
    for (let attempt = 0; attempt < 3 && stale < 2048; attempt++) {
      const junk = tf.fill([4096], 7.25);
      await junk.data();
      junk.dispose(); // its wasm heap block is freed, not cleared
      const mean = tf.mean(empty, 0);
      stale = Array.from(await mean.data()).filter((v) => v === 7.25).length;
      mean.dispose();
    }
    // A correct kernel returns 0 (the cpu backend) or NaN (0/0) in every element, never a disposed tensor's values.
    assertGreater(stale, 2048, "expected most of the mean over an empty axis to be the disposed tensor's 7.25");
    const { mean } = tf.moments(tf.zeros([0, 2, 3]), [0, 1]);
    const m = Array.from(await mean.data());
    assert(m.some((v) => v !== 0 && !Number.isNaN(v)), `moments of an empty batch: ${m}`);
    await useBackend("wasm");
    await tf.setBackend("cpu");
    assertEquals(Array.from(await tf.moments(tf.zeros([0, 2, 3]), [0, 1]).mean.data()), [0, 0, 0]);
  },
});

// ---- TF.js wasm and webgpu: float32 accumulation overflows where the cpu backend's float64 does not ----

Deno.test("TF.js: the mean of values near the float32 maximum is finite on cpu (float64 sum), Infinity on wasm and webgpu (float32 sum)", async () => {
  const big = [3e38, 3e38, 3e38];
  const means: Record<string, number> = {};
  for (const backend of ["cpu", "wasm", "webgpu"] as const) {
    if (backend !== "cpu" && (await backendUnavailable(backend))) continue;
    if (backend === "cpu") await tf.setBackend("cpu");
    else await useBackend(backend);
    means[backend] = (await tf.mean(tf.tensor1d(big)).data())[0];
  }
  await tf.setBackend("cpu");
  assertEquals(means.cpu, Math.fround(3e38));
  assert("wasm" in means, "the wasm backend did not start");
  assertEquals(means.wasm, Infinity);
  if ("webgpu" in means) assertEquals(means.webgpu, Infinity);
});

// ---- TF.js webgpu: reductions over an empty axis throw ----

Deno.test({
  name: "tfjs-backend-webgpu: a reduction over an empty axis throws (NaN dispatch size from 0/0)",
  ignore: (await backendUnavailable("webgpu")) !== undefined,
  fn: async () => {
    await useBackend("webgpu");
    let message = "no error";
    try {
      await tf.mean(tf.zeros([0, 2, 3]), [0, 1]).data();
    } catch (e) {
      message = (e as Error).message;
    }
    assertEquals(message, "Dispatch size exceeds WebGPU limits in Y or Z dimension.");
    // tf.batchNorm itself (no reduction) accepts the empty batch.
    const y = tf.batchNorm(tf.zeros([0, 2, 3]), tf.zeros([3]), tf.ones([3]));
    assertEquals(y.shape, [0, 2, 3]);
    assertEquals((await y.data()).length, 0);
    await tf.setBackend("cpu");
  },
});

// ---- OpenCV DNN: training_mode ignored, parameters must be initializers ----

const opencvReason = reasons.get(engines.find((p) => p.label.startsWith("OpenCV"))!.label);

async function opencvRun(spec: OnnxBatchNormSpec, x: number[], outputs: string[]) {
  const child = new Deno.Command("/usr/bin/python3", {
    args: [new URL("../scripts/peers/opencv_peer.py", import.meta.url).pathname, "--run-model"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(
    JSON.stringify({ model: encodeBase64(buildBatchNormModel(spec)), x: { shape: spec.shape, data: x }, outputs }) +
      "\n",
  ));
  await writer.close();
  const { stdout, stderr, success } = await child.output();
  assert(success, new TextDecoder().decode(stderr));
  return JSON.parse(new TextDecoder().decode(stdout)) as {
    outputs?: Record<string, { shape: number[]; data: number[] }>;
    error?: string;
  };
}

const params = { scale: [1, 2], B: [0, 1], mean: [0.5, -1], var: [2, 3] };
const x8 = [1, 2, 3, 4, 5, 6, 7, 8];

Deno.test({
  name: "OpenCV DNN 4.6: training_mode=1 silently returns the inference output; running_mean/var are copies of Y",
  ignore: opencvReason !== undefined,
  fn: async () => {
    const base = { opset: 15, dtype: "float32", shape: [4, 2], epsilon: 1e-5, momentum: 0.9 } as const;
    const train = await opencvRun(
      { ...base, training: true, initializers: params },
      x8,
      ["Y", "running_mean", "running_var"],
    );
    const infer = await opencvRun({ ...base, training: false, initializers: params }, x8, ["Y"]);
    const y = train.outputs!.Y;
    // Training normalizes with the batch's statistics (mean 4 and 5 here), so y would have mean beta per channel.
    assertEquals(y, infer.outputs!.Y);
    assertEquals(train.outputs!.running_mean, y); // a [C] output came back with Y's shape and values
    assertEquals(train.outputs!.running_var, y);
    assertEquals(y.shape, [4, 2]);
    // Inference itself is the folded float32 form w·x + b, w = scale/sqrt(var + eps), b = B − w·mean.
    const w = Math.fround(1 / Math.sqrt(Math.fround(2 + Math.fround(1e-5))));
    assert(Math.abs(y.data[0] - w * (1 - 0.5)) < 1e-6, `y[0] = ${y.data[0]}`);
  },
});

Deno.test({
  name:
    "OpenCV DNN 4.6 refuses BatchNormalization whose scale/B/mean/var are graph inputs (as the official models have)",
  ignore: opencvReason !== undefined,
  fn: async () => {
    const r = await opencvRun({ opset: 15, dtype: "float32", shape: [4, 2], training: false }, x8, ["Y"]);
    assertStringIncludes(r.error ?? "no error", "not found in const blobs");
  },
});

Deno.test({
  name:
    "OpenCV's Python binding reads a rank-3 (N, C, L) array as an N x C image of L channels; the peer feeds (N, C, L, 1)",
  ignore: opencvReason !== undefined,
  fn: async () => {
    const p = { scale: [1, 1], B: [0, 0], mean: [0, 0], var: [1, 1] };
    const x12 = Array.from({ length: 12 }, (_, i) => i + 1);
    const rank3 = await opencvRun(
      { opset: 15, dtype: "float32", shape: [3, 2, 2], training: false, epsilon: 0.1, initializers: p },
      x12,
      ["Y"],
    );
    assertEquals(rank3.outputs!.Y.shape, [3, 2]); // not [3, 2, 2]: the L axis became Mat channels
    const rank4 = await opencvRun(
      { opset: 15, dtype: "float32", shape: [3, 2, 2, 1], training: false, epsilon: 0.1, initializers: p },
      x12,
      ["Y"],
    );
    assertEquals(rank4.outputs!.Y.shape, [3, 2, 2, 1]);
    assert(close1(rank4.outputs!.Y.data, x12.map((v) => v / Math.sqrt(1.1))), `${rank4.outputs!.Y.data}`);
  },
});

const close1 = (a: number[], b: number[]) =>
  a.every((v, i) => Math.abs(v - b[i]) <= 1e-6 * Math.max(1, Math.abs(b[i])));

// ---- onnxruntime-web wasm against onnxruntime-node ----

Deno.test("onnxruntime-web wasm: inference bit-identical to onnxruntime-node; training apart by a few ULP of the peak (Eigen reductions)", async () => {
  const node = onnxruntimeImplementation.adapter as (r: StepRequest) => Promise<StepOutputs>;
  const web = onnxruntimeWebImplementation.adapter as (r: StepRequest) => Promise<StepOutputs>;
  const counts = { evalSteps: 0, trainSteps: 0, trainDiffer: 0 };
  let worst = 0;
  for (const f of files.filter((f) => f.provenance.source === "onnxruntime")) {
    for (const c of f.cases) {
      if (c.dtype === "bfloat16" || c.convention.axis !== 1) continue;
      for (const r of caseRequests(c)) {
        const [a, b] = [await node(r), await web(r)];
        if (a.error || b.error) continue;
        let differ = false;
        for (const [k, t] of Object.entries(a.outputs!)) {
          const u = b.outputs![k].data;
          const peak = Math.max(...Array.from(t.data, Math.abs));
          for (let i = 0; i < t.data.length; i++) {
            if (Object.is(t.data[i], u[i])) continue;
            differ = true;
            const ulp = r.dtype === "float64" ? 2 ** -52 : r.dtype === "float32" ? 2 ** -23 : 2 ** -10;
            worst = Math.max(worst, Math.abs(t.data[i] - u[i]) / (peak * ulp));
          }
        }
        if (r.mode === "eval") {
          counts.evalSteps++;
          assert(!differ, `${c.name}: inference differs`);
        } else {
          counts.trainSteps++;
          if (differ) counts.trainDiffer++;
        }
      }
    }
  }
  assertGreater(counts.evalSteps, 10);
  assertGreater(counts.trainDiffer, 0); // the recorded finding: the training reductions sum in another order
  assert(worst < 16, `training outputs ${worst} ULP of the output's peak apart`);
  console.log(
    `onnxruntime-web vs -node: ${counts.evalSteps} inference steps identical; ${counts.trainDiffer} of ${counts.trainSteps} training steps differ, by at most ${
      worst.toFixed(2)
    } ULP of the peak`,
  );
});

Deno.test("onnxruntime-web: float16 alone in a process and beside onnxruntime-node's Uint16Array workaround give the same outputs", async () => {
  const { success, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read=.", "--allow-env", "tests/testdata/ort_web_float16.ts"],
    cwd: new URL("../", import.meta.url).pathname,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert(success, new TextDecoder().decode(stderr));
  const alone = JSON.parse(new TextDecoder().decode(stdout));
  assertEquals(alone.float16Array, "Float16Array");
  const beside = await runOnnxWebBatchNorm(
    { opset: 15, dtype: "float16", shape: [4, 2], training: true, epsilon: 1e-5, momentum: 0.9 },
    { x: [1, 2, 3, 4, 5, 6, 7, 8], scale: [1, 2], B: [0, 1], mean: [0.5, -1], var: [2, 3] },
  );
  assertEquals(Object.fromEntries(Object.entries(beside).map(([k, t]) => [k, Array.from(t.data)])), alone.outputs);
  // Training really normalized with the batch: channel 0 holds 1, 3, 5, 7 (mean 4, variance 5).
  assertEquals(alone.outputs.Y[0], Math.f16round((1 - 4) / Math.sqrt(5 + 1e-5)));
});

Deno.test({
  name: "conform --peer opencv runs the OpenCV peer from the command line",
  ignore: opencvReason !== undefined,
  fn: async () => {
    const { code, stdout } = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-read",
        "--allow-write",
        "--allow-run",
        "--allow-ffi",
        "--allow-env",
        "--allow-sys",
        "scripts/cli/conform.ts",
        "--peer",
        "opencv",
        "--source",
        "onnx-testdata",
      ],
      cwd: new URL("../", import.meta.url).pathname,
      stdout: "piped",
      stderr: "null",
    }).output();
    const text = new TextDecoder().decode(stdout);
    assertEquals(code, 0, text);
    assertStringIncludes(text, "2 passed, 0 failed, 2 skipped");
  },
});
