/**
 * The matrix's other native engines as timing peers: each engine's own peer program in its `--bench` mode, which times
 * the engine inside that program's process (model built and compiled once, 3 warm-ups in Python, 1 in Rust, then the
 * median of `runs` calls; no pipe or copy counted but the engine's own) and prints one JSON line. Used by the speed
 * section of docs/matrix.md (scripts/reports/speed_table.ts) and, as anchors, by `deno task bench`
 * (tests/batch_norm_bench.ts), beside the native peers of native.ts. An engine that cannot run here is reported
 * with the reason, never thrown.
 *
 * The peer programs report medians only, so a result's `ms` is `[median, median, median]`. Their `--bench` inputs are
 * their own deterministic float32 data (pseudo-random; BatchNorm's time does not depend on the values).
 *
 * @module
 */

import type { PeerReport } from "./native.ts";

/** One engine timed by its own peer program's `--bench` mode. */
export interface EnginePeer {
  /** The row's name. */
  readonly title: string;
  /** Executable, relative to the repository root. */
  readonly exe: string;
  /** Arguments before the shape. */
  readonly args: readonly string[];
  /** How the program takes the shape and repeats. */
  readonly style: "onnx" | "framework" | "rust";
  /** Threads the engine was given (the program's own setting). */
  readonly threads: string;
  /** The command that installs it. */
  readonly setup: string;
}

const onnxPy = (title: string, env: string, engine: string, threads: string): EnginePeer => ({
  title,
  exe: `.envs/${env}/bin/python`,
  args: ["scripts/peers/pypi_onnx_peer.py", engine],
  style: "onnx",
  threads,
  setup: `deno task envs ${env}`,
});
const frameworkPy = (title: string, env: string, engine: string): EnginePeer => ({
  title,
  exe: `.envs/${env}/bin/python`,
  args: ["scripts/peers/pypi_framework_peer.py", engine],
  style: "framework",
  threads: "engine default",
  setup: `deno task envs ${env}`,
});
const rust = (title: string, name: string, threads: string): EnginePeer => ({
  title,
  exe: `scripts/peers/rust/target/release/${name}`,
  args: [],
  style: "rust",
  threads,
  setup: "deno task rust",
});

/** The engines, in table order. */
export const ENGINE_PEERS: readonly EnginePeer[] = [
  onnxPy("OpenVINO CPU, default precision hint", "openvino", "openvino", "1 (INFERENCE_NUM_THREADS)"),
  onnxPy("OpenVINO CPU, INFERENCE_PRECISION_HINT=f32", "openvino", "openvino-f32", "1 (INFERENCE_NUM_THREADS)"),
  onnxPy("onnx.reference", "onnx", "onnx-reference", "1 (numpy)"),
  onnxPy("LiteRT, TF converter", "litert", "litert", "1 (num_threads)"),
  frameworkPy("PaddlePaddle", "paddle", "paddle"),
  frameworkPy("MLX (mlx[cpu])", "mlx", "mlx"),
  frameworkPy("tinygrad (CPU, clang)", "tinygrad", "tinygrad"),
  frameworkPy("ncnn", "ncnn", "ncnn"),
  rust("candle-nn", "candle_peer", "engine default"),
  rust("burn (ndarray)", "burn_peer", "engine default"),
];

const root = new URL("../../", import.meta.url);

/** The results of one `--bench` line, under native.ts's `what` names (inference, training, training+backward). */
export function benchResults(line: Record<string, unknown>): { what: string; median: number }[] {
  const m = (line.median_ms ?? {}) as Record<string, number | undefined>;
  const pick: [string, unknown][] = [
    ["inference", line.eval_ms ?? m.eval],
    ["training", line.train_ms ?? line.train_forward_ms ?? m.train],
    ["training+backward", line.train_forward_backward_ms],
  ];
  return pick.filter((p): p is [string, number] => typeof p[1] === "number" && Number.isFinite(p[1]))
    .map(([what, median]) => ({ what, median }));
}

/** The version an engine's `--bench` line names (its first dotted number: "OpenVINO 2026.4.1-22982-… CPU" → 2026.4.1). */
export function versionOf(line: Record<string, unknown>): string {
  const text = String(line.version ?? line.engine ?? "");
  return text.match(/\d+\.\d+(\.\d+)?/)?.[0] ?? text;
}

/** Runs one engine's `--bench` on each shape in its own process; a missing or failing engine is reported. */
export async function runEnginePeer(
  peer: EnginePeer,
  shapes: readonly { label: string; shape: readonly number[] }[],
  runs: number,
): Promise<PeerReport & { threads: string }> {
  const results: PeerReport["results"] = [];
  let version = "";
  for (const { label, shape } of shapes) {
    const args = peer.style === "onnx"
      ? [...peer.args, "--bench", ...shape.map(String), String(runs)]
      : peer.style === "framework"
      ? [...peer.args, "--bench", shape.join(","), "--repeat", String(runs)]
      : [...peer.args, "--bench", shape.join(","), String(runs)];
    let out: Deno.CommandOutput;
    try {
      const child = new Deno.Command(peer.exe, {
        args,
        cwd: root,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const timer = setTimeout(() => child.kill("SIGKILL"), 600_000);
      out = await child.output();
      clearTimeout(timer);
    } catch (e) {
      const why = e instanceof Deno.errors.NotFound ? `${peer.exe} not found (install it: ${peer.setup})` : String(e);
      return { peer: peer.title, threads: peer.threads, missing: why, results: [] };
    }
    const text = new TextDecoder().decode(out.stdout).trim().split("\n").at(-1) ?? "";
    if (!out.success) {
      const err = new TextDecoder().decode(out.stderr).trim().split("\n").at(-1) ?? "";
      return { peer: peer.title, threads: peer.threads, missing: `exit ${out.code} on ${label}: ${err}`, results: [] };
    }
    let line: Record<string, unknown>;
    try {
      line = JSON.parse(text);
    } catch {
      return { peer: peer.title, threads: peer.threads, missing: `no JSON line on ${label}: ${text}`, results: [] };
    }
    version = versionOf(line);
    const got = benchResults(line);
    if (!got.length) {
      return { peer: peer.title, threads: peer.threads, missing: `no timing on ${label}: ${text}`, results: [] };
    }
    for (const r of got) results.push({ label, what: r.what, ms: [r.median, r.median, r.median] });
  }
  return { peer: peer.title, version, threads: peer.threads, results };
}
