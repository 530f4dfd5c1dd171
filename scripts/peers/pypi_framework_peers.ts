/**
 * The framework engines from PyPI as matrix peers (group `pypi-frameworks`): PyTorch 2.15, PaddlePaddle 3.3.1, MLX 0.32.4
 * (`mlx[cpu]`), tinygrad 0.14.0 and ncnn 1.0.20261020, each over the subprocess protocol with
 * `scripts/peers/pypi_framework_peer.py ENGINE`, run by the Python of its own pinned environment `.envs/NAME/`
 * (`envs/NAME.txt`, installed by `deno task envs NAME`). An engine whose environment is missing, or cannot import,
 * or (tinygrad) has no C compiler, keeps its row with the reason. Outside mod.ts's import graph.
 *
 * @module
 */

import { SubprocessImplementation } from "../../mod.ts";
import type { Peer } from "../reports/conformance_matrix.ts";

const root = new URL("../../", import.meta.url);

/** One engine of scripts/peers/pypi_framework_peer.py and the environment it runs in. */
export interface PypiEngine {
  /** The engine's name on the peer's command line. */
  readonly engine: "torch" | "paddle" | "mlx" | "tinygrad" | "ncnn";
  /** The environment under .envs/ (envs/NAME.txt). */
  readonly env: string;
  /** The module the environment must import. */
  readonly module: string;
  /** The matrix row's label. */
  readonly label: string;
}

/** The engines, in table order. */
export const PYPI_ENGINES: readonly PypiEngine[] = [
  {
    engine: "torch",
    env: "torch2",
    module: "torch",
    label: "PyTorch 2.15 (PyPI), subprocess protocol (Python)",
  },
  {
    engine: "paddle",
    env: "paddle",
    module: "paddle",
    label: "PaddlePaddle 3.3.1 (PyPI) functional.batch_norm, subprocess protocol (Python)",
  },
  {
    engine: "mlx",
    env: "mlx",
    module: "mlx.core",
    label: "MLX 0.32.4 (PyPI, mlx[cpu]) nn.BatchNorm, subprocess protocol (Python)",
  },
  {
    engine: "tinygrad",
    env: "tinygrad",
    module: "tinygrad",
    label: "tinygrad 0.14.0 (PyPI, CPU device via clang) nn.BatchNorm, subprocess protocol (Python)",
  },
  {
    engine: "ncnn",
    env: "ncnn",
    module: "ncnn",
    label: "ncnn 1.0.20261020 (PyPI) BatchNorm layer, inference, subprocess protocol (Python)",
  },
];

/** The Python of an engine's environment (absolute path). */
export function enginePython(e: PypiEngine): string {
  return new URL(`.envs/${e.env}/bin/python`, root).pathname;
}

/** The peer program's command line for an engine. */
export function engineCommand(e: PypiEngine, ...args: string[]): string[] {
  return [enginePython(e), new URL("scripts/peers/pypi_framework_peer.py", root).pathname, e.engine, ...args];
}

async function runs(command: string, args: string[]): Promise<{ ok: boolean; stderr: string } | string> {
  try {
    const { success, stderr } = await new Deno.Command(command, { args, stdout: "null", stderr: "piped" }).output();
    return { ok: success, stderr: new TextDecoder().decode(stderr).trim().split("\n").slice(-1)[0] ?? "" };
  } catch (e) {
    return (e as Error).message;
  }
}

/** Why an engine cannot run here, or undefined when it can. */
export async function engineUnavailable(e: PypiEngine): Promise<string | undefined> {
  const python = enginePython(e);
  try {
    await Deno.stat(python);
  } catch {
    return `no .envs/${e.env}/bin/python: install it with deno task envs ${e.env} (envs/${e.env}.txt)`;
  }
  const imported = await runs(python, ["-c", `import ${e.module}`]);
  if (typeof imported === "string") return `.envs/${e.env}/bin/python does not run: ${imported}`;
  if (!imported.ok) return `.envs/${e.env}/bin/python cannot import ${e.module}: ${imported.stderr}`;
  if (e.engine === "tinygrad") {
    // tinygrad's CPU device compiles its kernels with clang; without it: "no usable devices".
    const clang = await runs("clang", ["--version"]);
    if (typeof clang === "string" || !clang.ok) {
      return "tinygrad's CPU device needs a C compiler: no clang on PATH (Debian package clang)";
    }
  }
  return undefined;
}

/** One engine as a matrix peer. */
export function pypiPeer(e: PypiEngine): Peer {
  return {
    label: e.label,
    group: "pypi-frameworks",
    unavailable: () => engineUnavailable(e),
    open: async () => {
      const impl = await SubprocessImplementation.start({ command: engineCommand(e) });
      return { impl, close: () => impl.close() };
    },
  };
}

/** The matrix rows of the PyPI framework engines. */
export const PYPI_PEERS: readonly Peer[] = PYPI_ENGINES.map(pypiPeer);

/** Median milliseconds of one engine on one shape, timed inside its own process (no pipe or copy counted). */
export interface EngineTiming {
  readonly engine: string;
  readonly shape: number[];
  readonly repeat: number;
  readonly median_ms: { eval?: number; train?: number };
}

/** Times an engine on a shape (`pypi_framework_peer.py ENGINE --bench`). */
export async function benchEngine(e: PypiEngine, shape: readonly number[], repeat = 30): Promise<EngineTiming> {
  const { success, stdout, stderr } = await new Deno.Command(engineCommand(e)[0], {
    args: [...engineCommand(e, "--bench", shape.join(","), "--repeat", String(repeat)).slice(1)],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!success) throw new Error(`${e.label}: --bench failed: ${new TextDecoder().decode(stderr).trim()}`);
  return JSON.parse(new TextDecoder().decode(stdout));
}
