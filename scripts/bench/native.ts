/**
 * Native peers for `deno task bench`: onnxruntime from Python (.envs/bench, installed by `deno task envs bench`
 * from envs/bench.txt, pinned with hashes), PyTorch 2 (.envs/torch2, `deno task envs torch2`) and PyTorch 1.13
 * (Debian's python3-torch), each timed in its own process by scripts/bench/native_peers.py on the bench's data
 * and ONNX models, and the reference timed the same way (median of `runs` calls after 3 warm-ups) in
 * this process, in the same run. A missing peer is reported as missing; the bench still runs.
 *
 * @module
 */

function encodeBase64(bytes: Uint8Array): string {
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin);
}

import { buildBatchNormModel } from "../runners/onnx_model.ts";

/** One timing: median, min and max, in ms. */
export type Timing = [median: number, min: number, max: number];

/** A native peer's answer, or why there is none. */
export interface PeerReport {
  readonly peer: string;
  readonly version?: string;
  readonly missing?: string;
  readonly results: { label: string; what: string; ms: Timing }[];
}

/** The shapes and models the peers time. */
export interface NativeRequest {
  readonly shapes: { label: string; shape: number[]; models: { inference: Uint8Array; training: Uint8Array } }[];
  readonly runs: number;
}

const root = new URL("../../", import.meta.url);

/** The benchmark shapes (float32 NCHW): a ResNet layer's activations, and a small batch. */
export const BENCH_SHAPES = [["32x64x56x56", [32, 64, 56, 56]], ["8x16x8x8", [8, 16, 8, 8]]] as const;

/** The request every native peer is timed on: `runs` calls of the opset-15 inference and training models per shape. */
export function nativeRequest(runs: number): NativeRequest {
  return {
    runs,
    shapes: BENCH_SHAPES.map(([label, shape]) => ({
      label,
      shape: [...shape],
      models: {
        inference: buildBatchNormModel({ opset: 15, dtype: "float32", shape: [...shape], training: false }),
        training: buildBatchNormModel({ opset: 15, dtype: "float32", shape: [...shape], training: true }),
      },
    })),
  };
}

/** The native peers, the interpreter each runs under, and how to install it when it is missing. */
export const NATIVE_PEERS = [
  {
    name: "onnxruntime",
    title: "onnxruntime (Python)",
    python: ".envs/bench/bin/python",
    setup: "deno task envs bench",
  },
  { name: "pytorch", title: "PyTorch 2 (Python)", python: ".envs/torch2/bin/python", setup: "deno task envs torch2" },
  { name: "pytorch", title: "PyTorch 1 (Python)", python: "/usr/bin/python3", setup: "apt-get install python3-torch" },
] as const;

/** Runs one native peer in its own process; a missing interpreter or package is reported, not thrown. */
export async function runNativePeer(peer: (typeof NATIVE_PEERS)[number], req: NativeRequest): Promise<PeerReport> {
  const body = JSON.stringify({
    runs: req.runs,
    shapes: req.shapes.map((s) => ({
      ...s,
      models: { inference: encodeBase64(s.models.inference), training: encodeBase64(s.models.training) },
    })),
  });
  try {
    const child = new Deno.Command(peer.python, {
      args: ["scripts/bench/native_peers.py", peer.name],
      cwd: root,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const timer = setTimeout(() => child.kill("SIGKILL"), 600_000);
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(body));
    await writer.close();
    const out = await child.output();
    clearTimeout(timer);
    if (!out.success) {
      const err = new TextDecoder().decode(out.stderr).trim().split("\n").at(-1) ?? "";
      return { peer: peer.title, missing: `exit ${out.code}: ${err}`, results: [] };
    }
    return { ...JSON.parse(new TextDecoder().decode(out.stdout)), peer: peer.title };
  } catch (e) {
    const why = e instanceof Deno.errors.NotFound ? `${peer.python} not found (install it: ${peer.setup})` : String(e);
    return { peer: peer.title, missing: why, results: [] };
  }
}

/** Times `fn` as native_peers.py does: 3 warm-up calls, then `runs` calls; median, min, max in ms. */
export function timed(fn: () => void, runs: number): Timing {
  for (let i = 0; i < 3; i++) fn();
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    fn();
    ms.push(performance.now() - t);
  }
  ms.sort((a, b) => a - b);
  const mid = ms.length >> 1;
  return [ms.length % 2 ? ms[mid] : (ms[mid - 1] + ms[mid]) / 2, ms[0], ms[ms.length - 1]];
}
