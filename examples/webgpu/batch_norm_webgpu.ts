/**
 * An example WebGPU BatchNorm kernel, as an implementation module the suite can
 * judge: in a browser with `deno task browser --module examples/webgpu/batch_norm_webgpu.ts`,
 * under Deno's own WebGPU with `deno task conform --module examples/webgpu/batch_norm_webgpu.ts`.
 *
 * The contract of an implementation module (docs/browser.md): it exports
 * `adapter` (one step at a time, see {@linkcode Adapter}), `supports` (its
 * {@linkcode Capabilities}) and optionally `name`. Setup may use top-level
 * await; a module that cannot start throws, and the runner reports why.
 *
 * Inference and training forward run on the GPU (shaders in `wgsl.ts`): float32
 * always, float16 where the adapter offers `shader-f16`. Every convention of the
 * suite is a uniform of the kernel; the host only validates arguments (the
 * refusals a framework would raise) and moves buffers. Backward is not
 * implemented, so gradients are reported unchecked.
 *
 * @module
 */

import type { Adapter, BatchNormConvention, Capabilities, StepOutputs, StepRequest } from "../../mod.ts";
import { resolveConvention } from "../../mod.ts";
import { batchNormWgsl, FLAG, PARAMS_BYTES, WORKGROUP } from "./wgsl.ts";

const gpu = (globalThis.navigator as Navigator | undefined)?.gpu;
if (!gpu) throw new Error("WebGPU unavailable: navigator.gpu is undefined");
const gpuAdapter = await gpu.requestAdapter();
if (!gpuAdapter) throw new Error("WebGPU unavailable: navigator.gpu.requestAdapter() returned null");
const hasF16 = gpuAdapter.features.has("shader-f16");
const device = await gpuAdapter.requestDevice({ requiredFeatures: hasF16 ? ["shader-f16"] : [] });
const info = gpuAdapter.info;

/** The adapter the kernel runs on, e.g. "llvmpipe (LLVM 15.0.6, 256 bits)" or "SwiftShader". */
export const adapterDescription: string = [info.description || info.vendor, info.architecture, info.device]
  .filter((s) => s && s !== "0").join(" ") || "unknown adapter";

/** Name in reports. */
export const name = `WebGPU example kernel (${adapterDescription}${hasF16 ? ", shader-f16" : ""})`;

/** What the kernel runs: forward only, float32 (and float16 with shader-f16), every convention. */
export const supports: Capabilities = {
  modes: ["train", "eval"],
  backward: false,
  dtypes: hasF16 ? ["float32", "float16"] : ["float32"],
  layouts: ["channels-first", "channels-last"],
  errors: true,
  outputs: ["y", "batch_mean", "batch_var", "saved_invstd", "running_mean", "running_var", "num_batches_tracked"],
};

const pipelines = new Map<"f32" | "f16", { stats: GPUComputePipeline; normalize: GPUComputePipeline }>();

async function pipelinesFor(storage: "f32" | "f16") {
  let p = pipelines.get(storage);
  if (!p) {
    const module = device.createShaderModule({ code: batchNormWgsl(storage) });
    const info = await module.getCompilationInfo();
    const errors = info.messages.filter((m) => m.type === "error");
    if (errors.length) {
      throw new Error(
        `WGSL (${storage}) does not compile: ${errors.map((m) => `${m.lineNum}:${m.message}`).join("; ")}`,
      );
    }
    const layout = "auto";
    p = {
      stats: await device.createComputePipelineAsync({ layout, compute: { module, entryPoint: "stats" } }),
      normalize: await device.createComputePipelineAsync({ layout, compute: { module, entryPoint: "normalize" } }),
    };
    pipelines.set(storage, p);
  }
  return p;
}

const refuse = (code: string, message: string): StepOutputs => ({ error: { code, message } });

/** One step on the GPU. */
export const adapter: Adapter = async (req: StepRequest): Promise<StepOutputs> => {
  const c: BatchNormConvention = resolveConvention(req.convention ?? "pytorch");
  const shape = req.x.shape;
  const rank = shape.length;
  const axis = c.axis < 0 ? c.axis + rank : c.axis;
  // Rank 1 (WebNN's, format 1.3): axis 0 is the channel axis, one value per channel (outer = inner = 1).
  if (rank < 1 || axis < 0 || axis >= rank) {
    return refuse("invalid_shape", `x has shape [${shape}], no channel axis ${c.axis}`);
  }
  const channels = shape[axis];
  const outer = shape.slice(0, axis).reduce((a, b) => a * b, 1);
  const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const n = outer * inner;
  const storage = req.dtype === "float16" ? "f16" : "f32";
  if (req.dtype !== "float32" && !(req.dtype === "float16" && hasF16)) {
    return refuse("invalid_option", `dtype ${req.dtype} not supported by this kernel`);
  }
  const train = req.mode === "train";
  const batchStats = train || !c.trackRunningStats;
  const updateRunning = train && c.trackRunningStats;
  const tracked = req.state.num_batches_tracked + (updateRunning ? 1 : 0);
  // Argument checks a framework makes before it computes (host side, as in every real kernel).
  if (batchStats && n === 1 && c.singleValueTraining === "error") {
    return refuse("single_value_per_channel", "Expected more than 1 value per channel when training");
  }
  if (batchStats && n === 0 && c.emptyBatch === "error") {
    return refuse("empty_batch", "batch statistics need at least one value per channel");
  }
  if (updateRunning && n === 1 && c.runningVariance === "bessel") {
    return refuse("single_value_per_channel", "the Bessel factor n/(n-1) is undefined for one value per channel");
  }
  const eps = Math.max(c.epsilon, c.epsilonFloor);
  let keep = 0, take = 0;
  if (updateRunning) {
    take = c.momentumKind === "new" ? c.momentum! : c.momentumKind === "old" ? 1 - c.momentum! : 1 / tracked;
    keep = c.momentumKind === "old" ? c.momentum! : 1 - take;
  }
  const correction = c.runningVariance === "bessel"
    ? n / (n - 1)
    : c.runningVariance === "bessel-clamped"
    ? n / Math.max(n - 1, 1)
    : 1;
  const flags = (batchStats ? FLAG.batchStats : 0) | (c.epsilonPlacement === "outside" ? FLAG.epsOutside : 0) |
    (c.zeroVarianceInvStd === "zero" ? FLAG.zeroInvStd : 0) | (c.affine ? FLAG.affine : 0) |
    (updateRunning && !(n === 0 && c.emptyBatch === "unchanged") ? FLAG.updateRunning : 0) |
    (n === 0 ? FLAG.empty : 0);
  const params = new ArrayBuffer(PARAMS_BYTES);
  new Uint32Array(params, 0, 4).set([outer, channels, inner, flags]);
  new Float32Array(params, 16, 4).set([eps, keep, take, correction]);
  new Uint32Array(params, 32, 1)[0] = c.emptyBatch === "zero" ? 0 : 0x7fc00000;

  const per = (t: { data: ArrayLike<number> } | undefined, fill: number) => t ? t.data : new Array(channels).fill(fill);
  const total = outer * channels * inner;
  const elem = storage === "f16" ? 2 : 4;
  const size = (count: number) => Math.max(16, Math.ceil((count * elem) / 4) * 4);
  const upload = (data: ArrayLike<number>) => {
    const buffer = device.createBuffer({
      size: size(data.length),
      usage: GPUBufferUsage.STORAGE,
      mappedAtCreation: true,
    });
    const view = storage === "f16"
      ? new Float16Array(buffer.getMappedRange())
      : new Float32Array(buffer.getMappedRange());
    view.set(Array.from(data));
    buffer.unmap();
    return buffer;
  };
  const uniform = device.createBuffer({ size: PARAMS_BYTES, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  device.queue.writeBuffer(uniform, 0, params);
  const output = (count: number) =>
    device.createBuffer({ size: size(count), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
  const buffers = {
    x: upload(req.x.data),
    gamma: upload(per(req.state.gamma, 1)),
    beta: upload(per(req.state.beta, 0)),
    runningMean: upload(per(req.state.running_mean, 0)),
    runningVar: upload(per(req.state.running_var, 1)),
    stats: device.createBuffer({ size: Math.max(16, 16 * channels), usage: GPUBufferUsage.STORAGE }),
    statOut: output(5 * channels),
    y: output(total),
  };
  const readback = device.createBuffer({
    size: size(5 * channels) + size(total),
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
  });
  const all = [...Object.values(buffers), uniform, readback];
  try {
    device.pushErrorScope("validation");
    const { stats, normalize } = await pipelinesFor(storage);
    const entries = [
      uniform,
      buffers.x,
      buffers.gamma,
      buffers.beta,
      buffers.runningMean,
      buffers.runningVar,
      buffers.stats,
      buffers.statOut,
      buffers.y,
    ];
    const bind = (pipeline: GPUComputePipeline, bindings: number[]) =>
      device.createBindGroup({
        layout: pipeline.getBindGroupLayout(0),
        entries: bindings.map((b) => ({ binding: b, resource: { buffer: entries[b] } })),
      });
    const encoder = device.createCommandEncoder();
    if (channels > 0) {
      const pass = encoder.beginComputePass();
      pass.setPipeline(stats);
      pass.setBindGroup(0, bind(stats, [0, 1, 4, 5, 6, 7]));
      pass.dispatchWorkgroups(channels);
      if (total > 0) {
        pass.setPipeline(normalize);
        pass.setBindGroup(0, bind(normalize, [0, 1, 2, 3, 6, 8]));
        pass.dispatchWorkgroups(Math.min(Math.ceil(total / WORKGROUP), 65535));
      }
      pass.end();
    }
    encoder.copyBufferToBuffer(buffers.statOut, 0, readback, 0, size(5 * channels));
    encoder.copyBufferToBuffer(buffers.y, 0, readback, size(5 * channels), size(total));
    device.queue.submit([encoder.finish()]);
    const error = await device.popErrorScope();
    if (error) throw new Error(`WebGPU validation error: ${error.message}`);
    await readback.mapAsync(GPUMapMode.READ);
    const bytes = readback.getMappedRange().slice(0);
    readback.unmap();
    const read = (offset: number, count: number) =>
      Array.from(storage === "f16" ? new Float16Array(bytes, offset, count) : new Float32Array(bytes, offset, count));
    const rows = read(0, 5 * channels);
    const row = (k: number) => ({ shape: [channels], data: rows.slice(k * channels, (k + 1) * channels) });
    const outputs: Record<string, { shape: number[]; data: number[] }> = {
      y: { shape: [...shape], data: read(size(5 * channels), total) },
    };
    if (train) Object.assign(outputs, { batch_mean: row(0), batch_var: row(1), saved_invstd: row(2) });
    if (updateRunning) {
      if (n === 0 && c.emptyBatch === "unchanged") {
        outputs.running_mean = { shape: [channels], data: Array.from(per(req.state.running_mean, 0)) };
        outputs.running_var = { shape: [channels], data: Array.from(per(req.state.running_var, 1)) };
      } else Object.assign(outputs, { running_mean: row(3), running_var: row(4) });
    }
    return updateRunning ? { outputs, num_batches_tracked: tracked } : { outputs };
  } finally {
    for (const b of all) b.destroy();
  }
};
