/**
 * The ONNX-family engines from PyPI (scripts/peers/pypi_onnx_peers.ts, group `pypi`): their rows of docs/matrix.md are
 * what a fresh run computes, and the evidence behind their findings (docs/findings.md, "Findings from the PyPI ONNX
 * engines") still holds. An engine whose environment is not installed (`deno task envs onnx openvino litert`) is
 * reported as ignored with the reason. Run by `deno task test:pypi-onnx`.
 */
import { assert, assertAlmostEquals, assertEquals, assertNotEquals, assertStringIncludes } from "@std/assert";
import { loadAllFixtures } from "../mod.ts";
import { PEERS } from "../scripts/reports/conformance_matrix.ts";
import { parseMatrixTable } from "../scripts/reports/_matrix_table.ts";
import { envPython, PYPI_ENGINES, pypiEngineUnavailable } from "../scripts/peers/pypi_onnx_peers.ts";
import { buildBatchNormModel, type OnnxBatchNormSpec } from "../scripts/runners/onnx_model.ts";
import { encodeBase64 } from "../scripts/runners/_base64.ts";
import { peerRowTests } from "./_coverage.ts";

const files = await loadAllFixtures();
const page = parseMatrixTable(await Deno.readTextFile(new URL("../docs/matrix.md", import.meta.url)));
const peers = PEERS.filter((p) => p.group === "pypi");
const reasons = new Map<string, string | undefined>();
for (const e of PYPI_ENGINES) reasons.set(e.engine, await pypiEngineUnavailable(e));

Deno.test("every PyPI ONNX engine has its row in PEERS and in docs/matrix.md", () => {
  assertEquals(peers.map((p) => p.label), PYPI_ENGINES.map((e) => e.label));
  for (const p of peers) assert(page.some((r) => r[0] === p.label), `docs/matrix.md has no row for ${p.label}`);
});

for (const peer of peers) {
  peerRowTests(peer, files, reasons.get(PYPI_ENGINES.find((e) => e.label === peer.label)!.engine));
}

// ---- running one model through an engine (pypi_onnx_peer.py ENGINE --run-model) ----

type Outputs = Record<string, { shape: number[]; data: number[] }>;

async function runModel(
  engine: string,
  model: Uint8Array,
  feeds: Record<string, { shape: number[]; data: number[] }>,
  outputs: string[],
): Promise<{ outputs?: Outputs; error?: string }> {
  const env = engine === "onnxruntime-unoptimized" ? "onnx" : PYPI_ENGINES.find((e) => e.engine === engine)!.env;
  const child = new Deno.Command(envPython(env), {
    args: [new URL("../scripts/peers/pypi_onnx_peer.py", import.meta.url).pathname, engine, "--run-model"],
    env: { DENO: Deno.execPath() },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  const f: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(feeds)) f[k] = { dtype: "float32", ...v };
  await writer.write(
    new TextEncoder().encode(JSON.stringify({ model: encodeBase64(model), feeds: f, outputs }) + "\n"),
  );
  await writer.close();
  const { stdout, stderr, success } = await child.output();
  assert(success, new TextDecoder().decode(stderr));
  return JSON.parse(new TextDecoder().decode(stdout));
}

const x = [1, 2, 3, 4, 5, 7]; // 2×3: channel means 2.5, 3.5, 5; biased variances 2.25, 2.25, 4
const params = { scale: [1, 2, 3], B: [0, 1, 2], mean: [0.5, 1, 2], var: [1, 2, 3] };
const paramFeeds = {
  scale: { shape: [3], data: params.scale },
  B: { shape: [3], data: params.B },
  input_mean: { shape: [3], data: params.mean },
  input_var: { shape: [3], data: params.var },
};
const spec = (opset: 9 | 15, training: boolean, extra: Partial<OnnxBatchNormSpec> = {}): OnnxBatchNormSpec => ({
  opset,
  dtype: "float32",
  shape: [2, 3],
  training,
  ...extra,
});
/** y of inference with the given statistics, in float64 (the engines' float32 answers lie within a few ULP). */
const inference = (mean: number[], v: number[]) =>
  x.map((xi, i) => {
    const c = i % 3;
    return params.scale[c] * (xi - mean[c]) / Math.sqrt(v[c] + 1e-5) + params.B[c];
  });
const close = (got: number[], want: number[], rel = 1e-6) =>
  got.forEach((g, i) => assertAlmostEquals(g, want[i], rel * Math.max(1, Math.abs(want[i]))));

const onnxReason = reasons.get("onnx-reference");

Deno.test({
  name:
    "onnx.reference 1.23: a one-output opset-9 BatchNormalization normalizes with blended statistics (the schema's default momentum 0.9 makes `momentum is None` false)",
  ignore: onnxReason !== undefined,
  fn: async () => {
    const blendedMean = params.mean.map((m, c) => 0.9 * m + 0.1 * [2.5, 3.5, 5][c]);
    const blendedVar = params.var.map((v, c) => 0.9 * v + 0.1 * [2.25, 2.25, 4][c]);
    for (const extra of [{}, { momentum: 0.9 }]) {
      const got = await runModel("onnx-reference", buildBatchNormModel(spec(9, false, extra)), {
        X: { shape: [2, 3], data: x },
        ...paramFeeds,
      }, ["Y"]);
      close(got.outputs!.Y.data, inference(blendedMean, blendedVar));
    }
    // opset 15 (training_mode absent) and onnxruntime's opset 9 normalize with the given running statistics.
    const v15 = await runModel("onnx-reference", buildBatchNormModel(spec(15, false)), {
      X: { shape: [2, 3], data: x },
      ...paramFeeds,
    }, ["Y"]);
    close(v15.outputs!.Y.data, inference(params.mean, params.var));
  },
});

Deno.test({
  name:
    "onnx.reference 1.23: a five-output opset-9 BatchNormalization (training) raises: BatchNormalization_9 returns Y only",
  ignore: onnxReason !== undefined,
  fn: async () => {
    const got = await runModel(
      "onnx-reference",
      buildBatchNormModel(spec(9, true)),
      { X: { shape: [2, 3], data: x }, ...paramFeeds },
      ["Y", "running_mean", "running_var", "saved_mean", "saved_var"],
    );
    assertEquals(got.outputs, undefined);
    assertStringIncludes(got.error!, "Unable to find output name 'running_mean'");
  },
});

Deno.test({
  name:
    "opset 9's fifth output (saved_var): onnxruntime 1.31 answers the inverse std 1/sqrt(var + eps), OpenVINO 2026.4 the biased batch variance",
  ignore: reasons.get("onnxruntime") !== undefined,
  fn: async () => {
    const outs = ["Y", "running_mean", "running_var", "saved_mean", "saved_var"];
    const ort = await runModel("onnxruntime", buildBatchNormModel(spec(9, true)), {
      X: { shape: [2, 3], data: x },
      ...paramFeeds,
    }, outs);
    const batchVar = [2.25, 2.25, 4];
    close(ort.outputs!.saved_mean.data, [2.5, 3.5, 5]);
    close(ort.outputs!.saved_var.data, batchVar.map((v) => 1 / Math.sqrt(v + 1e-5)));
    close(ort.outputs!.running_mean.data, params.mean.map((m, c) => 0.9 * m + 0.1 * [2.5, 3.5, 5][c]));
    if (reasons.get("openvino-f32") === undefined) {
      const ov = await runModel(
        "openvino-f32",
        buildBatchNormModel({ ...spec(9, true), initializers: params }),
        { X: { shape: [2, 3], data: x } },
        outs,
      );
      close(ov.outputs!.saved_mean.data, [2.5, 3.5, 5]);
      close(ov.outputs!.saved_var.data, batchVar);
      // Y and the running statistics agree between the two.
      close(ov.outputs!.Y.data, ort.outputs!.Y.data);
      close(ov.outputs!.running_var.data, ort.outputs!.running_var.data);
    }
  },
});

// ---- OpenVINO: the default precision hint follows the CPU ----

Deno.test({
  name: "OpenVINO 2026.4: the default INFERENCE_PRECISION_HINT is bf16 exactly where the CPU has AMX-BF16",
  ignore: reasons.get("openvino") !== undefined,
  fn: async () => {
    // Deno reads /proc only with --allow-all: the environment's Python reads the CPU flags.
    const flags = await new Deno.Command(envPython("openvino"), {
      args: ["-c", "print(' '.join(l for l in open('/proc/cpuinfo') if l.startswith('flags')))"],
      stdout: "piped",
    }).output();
    const amx = /\bamx_bf16\b/.test(new TextDecoder().decode(flags.stdout));
    const hint = async (engine: string) => {
      const { stdout, success } = await new Deno.Command(envPython("openvino"), {
        args: [
          "-c",
          "import openvino as ov, sys; c = ov.Core(); cfg = {'INFERENCE_PRECISION_HINT': 'f32'} if sys.argv[1] == 'openvino-f32' else {}; " +
          "c.set_property('CPU', cfg) if cfg else None; print(c.get_property('CPU', 'INFERENCE_PRECISION_HINT'))",
          engine,
        ],
        stdout: "piped",
        stderr: "null",
      }).output();
      assert(success);
      return new TextDecoder().decode(stdout).trim();
    };
    assertEquals(await hint("openvino"), amx ? "<Type: 'bfloat16'>" : "<Type: 'float32'>");
    assertEquals(await hint("openvino-f32"), "<Type: 'float32'>");
  },
});

Deno.test("in CI (CI=true) every PyPI ONNX engine runs: none is left out as unavailable", () => {
  if (Deno.env.get("CI") !== "true") return;
  const missing = [...reasons].filter(([, r]) => r !== undefined);
  assertEquals(missing, [], `engines that cannot run: ${missing.map(([e, r]) => `${e}: ${r}`).join("; ")}`);
});

// ---- LiteRT: the converter folds BatchNormalization into MUL + ADD ----

Deno.test({
  name:
    "LiteRT 2.3 (TF 2.21 converter): BatchNormalization becomes MUL + ADD, sc = f32(rsqrt(var + eps)·gamma) with Eigen's fast rsqrt, sh = f32(beta − f32(mean·sc)), y = f32(f32(x·sc) + sh)",
  ignore: reasons.get("litert") !== undefined,
  fn: async () => {
    const { stdout, stderr, success } = await new Deno.Command(envPython("litert"), {
      args: [new URL("../scripts/peers/pypi_onnx_peer.py", import.meta.url).pathname, "litert", "--fold", "4096", "1"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert(success, new TextDecoder().decode(stderr));
    const r = JSON.parse(new TextDecoder().decode(stdout));
    assertEquals(r.ops, ["MUL", "ADD"]);
    assertEquals(r.sh_is_beta_minus_mean_sc, 1);
    assertEquals(r.y_is_two_roundings, 1); // two roundings, bit for bit: not a fused multiply-add
    assert(r.y_is_fma < 0.95, `y equals fma(x, sc, sh) in ${r.y_is_fma} of the elements`);
    // The scale is not gamma times a correctly rounded rsqrt: TF's Rsqrt kernel (Eigen's prsqrt, _mm256_rsqrt_ps and one
    // Newton step under EIGEN_FAST_MATH) is a few ULP off, and the constant folding runs that kernel.
    assert(r.sc_equals_correctly_rounded_rsqrt_times_gamma < 0.9, JSON.stringify(r));
    assert(r.sc_max_ulp_from_exact > 1 && r.sc_max_ulp_from_exact < 4, JSON.stringify(r));
  },
});

// ---- Conv → BatchNormalization: each engine against the exact values of the unfused graph ----

/** A seeded case: x 2×16×4×4, a 1×1 convolution to 8 channels with bias, then BatchNormalization; all float32 values. */
function convBnCase(seed: number) {
  let s = seed >>> 0;
  const rand = () => { // mulberry32
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const normal = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  const vec = (n: number, f: () => number) => Array.from({ length: n }, () => Math.fround(f()));
  const [N, Cin, H, W, Cout] = [2, 16, 4, 4, 8];
  const nest = (flat: number[], shape: number[]): unknown =>
    shape.length === 1 ? flat : Array.from(
      { length: shape[0] },
      (_, i) => nest(flat.slice(i * flat.length / shape[0], (i + 1) * flat.length / shape[0]), shape.slice(1)),
    );
  const xFlat = vec(N * Cin * H * W, normal);
  return {
    shape: [N, Cin, H, W],
    xFlat,
    x: nest(xFlat, [N, Cin, H, W]),
    w: nest(vec(Cout * Cin, () => normal() * 0.5), [Cout, Cin, 1, 1]),
    b: vec(Cout, () => normal() * 0.1),
    gamma: vec(Cout, () => rand() + 0.5),
    beta: vec(Cout, () => normal() * 0.1),
    mean: vec(Cout, () => normal() * 0.1),
    var: vec(Cout, () => rand() * 2 + 0.5),
    epsilon: 1e-5,
  };
}

async function pipe(cmd: string, args: string[], input: string): Promise<string> {
  const child = new Deno.Command(cmd, {
    args,
    env: { DENO: Deno.execPath() },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(input + "\n"));
  await writer.close();
  const { stdout, stderr, success } = await child.output();
  assert(success, `${cmd} ${args.join(" ")}: ${new TextDecoder().decode(stderr)}`);
  return new TextDecoder().decode(stdout);
}

/** The largest error in float32 ULP of each channel's peak |exact| (the error scale of an elementwise output). */
function ulpAtPeak(got: number[], exact: number[], shape: number[]): number {
  const [N, C, H, W] = shape;
  const ulp32 = (v: number) => {
    const f = Math.fround(Math.abs(v));
    const e = Math.max(Math.floor(Math.log2(f)), -126);
    return 2 ** (e - 23);
  };
  let worst = 0;
  for (let c = 0; c < C; c++) {
    let peak = 0;
    for (let n = 0; n < N; n++) {
      for (let i = 0; i < H * W; i++) peak = Math.max(peak, Math.abs(exact[(n * C + c) * H * W + i]));
    }
    for (let n = 0; n < N; n++) {
      for (let i = 0; i < H * W; i++) {
        const k = (n * C + c) * H * W + i;
        worst = Math.max(worst, Math.abs(got[k] - exact[k]) / ulp32(peak));
      }
    }
  }
  return worst;
}

const mpmathReason = await new Deno.Command("/usr/bin/python3", { args: ["-c", "import mpmath"], stderr: "null" })
  .output().then((o) => o.success ? undefined : "no mpmath for /usr/bin/python3").catch((e) => `${e}`);

Deno.test({
  name:
    "Conv → BatchNormalization (1×1, float32): distance of each engine from the exact unfused graph; OpenVINO's default bf16 hint and LiteRT's float16 weights are thousands of ULP away",
  ignore: onnxReason !== undefined || mpmathReason !== undefined,
  fn: async (t) => {
    const c = convBnCase(20);
    const exact: number[] = JSON.parse(
      await pipe(
        "/usr/bin/python3",
        [new URL("../scripts/generators/exact_conv_bn.py", import.meta.url).pathname],
        JSON.stringify(c),
      ),
    ).y.flat(3);
    const model = await pipe(envPython("onnx"), [
      new URL("../scripts/peers/_conv_bn_model.py", import.meta.url).pathname,
    ], JSON.stringify(c));
    const outShape = [2, 8, 4, 4];
    const distances: Record<string, number> = {};
    const ys: Record<string, number[]> = {};
    for (const engine of ["onnx-reference", "onnxruntime", "onnxruntime-unoptimized", "openvino", "openvino-f32"]) {
      if (reasons.get(engine === "onnxruntime-unoptimized" ? "onnxruntime" : engine) !== undefined) continue;
      const got = await runModel(engine, Uint8Array.from(atob(model.trim()), (ch) => ch.charCodeAt(0)), {
        X: { shape: c.shape, data: c.xFlat },
      }, ["Y"]);
      assert(got.outputs, `${engine}: ${got.error}`);
      distances[engine] = ulpAtPeak(got.outputs!.Y.data, exact, outShape);
      ys[engine] = got.outputs!.Y.data;
    }
    // onnxruntime folds BatchNormalization into the convolution (ConvBNFusion, from ORT_ENABLE_BASIC on): its default
    // answer differs from the unoptimized graph's.
    if ("onnxruntime" in ys) assertNotEquals(ys.onnxruntime, ys["onnxruntime-unoptimized"]);
    for (const engine of ["litert", "litert-fp16"]) {
      if (reasons.get(engine) !== undefined) continue;
      const r = JSON.parse(
        await pipe(envPython("litert"), [
          new URL("../scripts/peers/pypi_onnx_peer.py", import.meta.url).pathname,
          engine,
          "--conv-bn",
        ], JSON.stringify(c)),
      );
      // The converter folds BatchNormalization into the convolution's weights and bias: one CONV_2D remains.
      assertEquals(r.ops.filter((o: string) => o !== "DEQUANTIZE"), ["CONV_2D"]);
      distances[engine] = ulpAtPeak(r.y.flat(3), exact, outShape);
    }
    await t.step(`distances (float32 ULP at each channel's peak): ${JSON.stringify(distances)}`, () => {});
    for (const e of ["onnx-reference", "onnxruntime", "onnxruntime-unoptimized", "openvino-f32", "litert"]) {
      if (e in distances) assert(distances[e] < 8, `${e}: ${distances[e]} ULP`);
    }
    if ("litert-fp16" in distances) assert(distances["litert-fp16"] > 500, `litert-fp16: ${distances["litert-fp16"]}`);
    if ("openvino" in distances) {
      const flags = await new Deno.Command(envPython("openvino"), {
        args: ["-c", "print(' '.join(l for l in open('/proc/cpuinfo') if l.startswith('flags')))"],
        stdout: "piped",
      }).output();
      const amx = /\bamx_bf16\b/.test(new TextDecoder().decode(flags.stdout));
      // bf16 keeps 8 significant bits: an error of 2^-9 relative is 2^15 float32 ULP.
      if (amx) assert(distances.openvino > 1000, `OpenVINO default hint on an AMX-BF16 CPU: ${distances.openvino}`);
      else assertEquals(distances.openvino, distances["openvino-f32"]);
    }
  },
});

Deno.test({
  name:
    "a negative epsilon: OpenVINO 2026.4 refuses the model (BatchNormInference checks m_epsilon >= 0), onnx.reference and onnxruntime compute with it",
  ignore: reasons.get("openvino-f32") !== undefined || onnxReason !== undefined,
  fn: async () => {
    const s = spec(15, false, { epsilon: -1e-3 });
    const ov = await runModel("openvino-f32", buildBatchNormModel({ ...s, initializers: params }), {
      X: { shape: [2, 3], data: x },
    }, ["Y"]);
    assertEquals(ov.outputs, undefined);
    assertStringIncludes(ov.error!, "Attribute 'epsilon' must be non negative value. Got: -0.001");
    for (const engine of ["onnx-reference", "onnxruntime"]) {
      const got = await runModel(engine, buildBatchNormModel(s), { X: { shape: [2, 3], data: x }, ...paramFeeds }, [
        "Y",
      ]);
      const want = x.map((xi, i) => {
        const c = i % 3;
        return params.scale[c] * (xi - params.mean[c]) / Math.sqrt(params.var[c] + Math.fround(-1e-3)) + params.B[c];
      });
      close(got.outputs!.Y.data, want);
    }
  },
});
