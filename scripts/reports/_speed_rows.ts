/**
 * The layout of docs/matrix.md's speed section (scripts/reports/speed_table.ts writes it; tests/speed_table_test.ts
 * reads it): its markers, its columns, the rows it must hold, and the matrix's engines it does not time, with why.
 * No imports beyond the peer lists, so a test can read it with --allow-read only.
 *
 * @module
 */

import { NATIVE_PEERS } from "../bench/native.ts";
import { ENGINE_PEERS } from "../bench/engine_peers.ts";

/** The section's first line. */
export const SPEED_START = "<!-- speed:start -->";
/** The section's last line. */
export const SPEED_END = "<!-- speed:end -->";

/** The table's header. */
export const speedColumns: readonly string[] = [
  "engine",
  "timed in",
  "threads",
  "32x64x56x56 inference",
  "training",
  "backward",
  "8x16x8x8 inference",
  "training",
  "backward",
  "why not",
];

/** The start of each row's engine cell, in table order (a version may follow). */
export const SPEED_ROWS: readonly string[] = [
  ...NATIVE_PEERS.map((p) => p.title),
  ...ENGINE_PEERS.map((p) => p.title),
  "onnxruntime-node",
  "onnxruntime-web (wasm)",
  "TF.js wasm backend",
  "TF.js cpu backend",
  "reference (this suite), tensors in kernel memory",
];

/** Matrix engines without a row, and why. */
export const NOT_TIMED: readonly (readonly [string, string])[] = [
  [
    "TF.js webgpu backend",
    "its device here is lavapipe, Mesa's software Vulkan rasterizer on the same 2 cores: a time would measure the " +
    "emulation, not a GPU",
  ],
  ["OpenCV DNN", "its peer program has no timing mode yet"],
  [
    "onnx.reference at opset 9, LiteRT with float16 weights",
    "the same engines' kernels as their rows above, with another model",
  ],
  ["onnxruntime 1.31.1 (Python) at one thread", "timed at its default threads in the onnxruntime (Python) row"],
  ["PyTorch 2.15 behind the protocol", "the PyTorch 2 (Python) row times the same library"],
  ["naive", "deliberately wrong, not an engine"],
];
