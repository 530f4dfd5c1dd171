/**
 * The ONNX-family engines from PyPI as matrix peers (group `pypi`): onnx.reference (onnx 1.23.2), onnxruntime 1.31.1
 * from Python, OpenVINO 2026.4.1 with its default precision hint and with `INFERENCE_PRECISION_HINT=f32`, and LiteRT
 * (ai-edge-litert 2.3.0) on models converted by TensorFlow 2.21's converter, in float32 and with float16 weights. Each
 * is `scripts/peers/pypi_onnx_peer.py ENGINE` over the subprocess protocol, run by the Python of its pinned environment
 * (`envs/onnx.txt`, `envs/openvino.txt`, `envs/litert.txt`; `deno task envs NAME`). A peer whose environment is not
 * installed keeps its row, reading `unavailable` with the reason. Checked by tests/pypi_onnx_engines_test.ts
 * (`deno task test:pypi-onnx`).
 *
 * @module
 */

import { SubprocessImplementation } from "../../mod.ts";
import type { Peer } from "../reports/conformance_matrix.ts";

const root = new URL("../../", import.meta.url);

/** One engine of pypi_onnx_peer.py: its protocol name, the environment that runs it, the module it must import. */
export interface PypiEngine {
  /** The matrix row's label. */
  readonly label: string;
  /** The ENGINE argument of scripts/peers/pypi_onnx_peer.py. */
  readonly engine: string;
  /** The environment under .envs/ (envs/NAME.txt). */
  readonly env: "onnx" | "openvino" | "litert";
  /** Modules the engine imports. */
  readonly imports: string;
  /** Also needs TensorFlow in .venv/ (the TFLite converter). */
  readonly converter?: boolean;
}

/** The engines, in table order. */
export const PYPI_ENGINES: readonly PypiEngine[] = [
  {
    label: "onnx.reference (onnx 1.23.2), opset 15, subprocess protocol (Python)",
    engine: "onnx-reference",
    env: "onnx",
    imports: "onnx.reference",
  },
  {
    label: "onnx.reference (onnx 1.23.2), opset 9, subprocess protocol (Python)",
    engine: "onnx-reference-opset9",
    env: "onnx",
    imports: "onnx.reference",
  },
  {
    label: "onnxruntime 1.31.1 (Python), opset 15, subprocess protocol (Python)",
    engine: "onnxruntime",
    env: "onnx",
    imports: "onnxruntime",
  },
  {
    label: "OpenVINO 2026.4.1 CPU, default precision hint, opset 15, subprocess protocol (Python)",
    engine: "openvino",
    env: "openvino",
    imports: "openvino",
  },
  {
    label: "OpenVINO 2026.4.1 CPU, INFERENCE_PRECISION_HINT=f32, opset 15, subprocess protocol (Python)",
    engine: "openvino-f32",
    env: "openvino",
    imports: "openvino",
  },
  {
    label: "LiteRT 2.3.0 (ai-edge-litert), TF 2.21 converter, subprocess protocol (Python)",
    engine: "litert",
    env: "litert",
    imports: "ai_edge_litert.interpreter",
    converter: true,
  },
  {
    label: "LiteRT 2.3.0 (ai-edge-litert), TF 2.21 converter, float16 weights, subprocess protocol (Python)",
    engine: "litert-fp16",
    env: "litert",
    imports: "ai_edge_litert.interpreter",
    converter: true,
  },
];

/** The Python of an environment under .envs/. */
export const envPython = (env: string): string => new URL(`.envs/${env}/bin/python`, root).pathname;

/** Whether `python` imports `modules`; the reason when it does not. */
async function importsReason(python: string, modules: string, what: string): Promise<string | undefined> {
  try {
    const { success, stderr } = await new Deno.Command(python, {
      args: ["-c", `import ${modules}`],
      stdout: "null",
      stderr: "piped",
    }).output();
    if (success) return undefined;
    const last = new TextDecoder().decode(stderr).trim().split("\n").at(-1);
    return `${what} cannot import ${modules}: ${last}`;
  } catch (e) {
    return `${what} does not run (${(e as Error).message})`;
  }
}

/**
 * Why an engine cannot run here: its environment not installed or not importing, or (LiteRT) no TensorFlow in .venv/.
 *
 * @param e The engine.
 * @returns The reason, or undefined when it can run.
 */
export async function pypiEngineUnavailable(e: PypiEngine): Promise<string | undefined> {
  const python = envPython(e.env);
  const own = await importsReason(python, e.imports, `.envs/${e.env}/bin/python (deno task envs ${e.env})`);
  if (own) return own;
  if (e.converter) {
    return await importsReason(
      new URL(".venv/bin/python", root).pathname,
      "tensorflow",
      ".venv/bin/python (deno task venv), the TFLite converter,",
    );
  }
  return undefined;
}

/** The command that runs an engine over the protocol (DENO set for its ONNX model builder). */
export function pypiEngineCommand(e: PypiEngine): string[] {
  return [
    "/usr/bin/env",
    `DENO=${Deno.execPath()}`,
    envPython(e.env),
    new URL("scripts/peers/pypi_onnx_peer.py", root).pathname,
    e.engine,
  ];
}

/** The engines as rows of the conformance matrix (scripts/reports/conformance_matrix.ts). */
export const PYPI_ONNX_PEERS: readonly Peer[] = PYPI_ENGINES.map((e) => ({
  label: e.label,
  group: "pypi",
  unavailable: () => pypiEngineUnavailable(e),
  open: async () => {
    const impl = await SubprocessImplementation.start({ command: pypiEngineCommand(e), timeoutMs: 60_000 });
    return { impl, close: () => impl.close() };
  },
}));
