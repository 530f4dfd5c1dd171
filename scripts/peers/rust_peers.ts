/**
 * The crates.io engines as matrix rows (group `rust`): candle (`candle-nn` 0.11.1, CPU) and burn (0.22.1, ndarray
 * backend, autodiff device for training), each a Rust program speaking the subprocess protocol (fixtures/PROTOCOL.md),
 * built from the Cargo workspace scripts/peers/rust/ (committed Cargo.lock) by `deno task rust`, that is
 * `cargo build --release --locked`. A row whose program is not built, or whose machine has no cargo, reads
 * `unavailable` with the reason. Checked by tests/rust_engines_test.ts (`deno task test:rust`).
 *
 * @module
 */

import { SubprocessImplementation } from "../../mod.ts";
import type { Peer } from "../reports/conformance_matrix.ts";

const workspace = new URL("rust/", import.meta.url);
/** Where `deno task rust` puts the programs (cargo's default target directory of the workspace). */
export const RUST_TARGET = new URL("target/release/", workspace);

/** The path of a built peer program. */
export const rustBinary = (name: "candle_peer" | "burn_peer"): string => new URL(name, RUST_TARGET).pathname;

/** Whether cargo runs here (PATH, then rustup's default place): its version line, or undefined. */
export async function cargoVersion(): Promise<string | undefined> {
  const home = Deno.env.get("HOME");
  for (const cargo of ["cargo", ...(home ? [`${home}/.cargo/bin/cargo`] : [])]) {
    try {
      const { success, stdout } = await new Deno.Command(cargo, {
        args: ["--version"],
        stdout: "piped",
        stderr: "null",
      })
        .output();
      if (success) return new TextDecoder().decode(stdout).trim();
    } catch {
      // not this one
    }
  }
  return undefined;
}

/** Why a peer program cannot run here: not built (and whether cargo could build it), or not executable. */
export async function rustUnavailable(name: "candle_peer" | "burn_peer"): Promise<string | undefined> {
  try {
    const info = await Deno.stat(rustBinary(name));
    if (info.isFile && ((info.mode ?? 0o111) & 0o111) !== 0) return undefined;
    return `scripts/peers/rust/target/release/${name} is not an executable file`;
  } catch {
    const cargo = await cargoVersion();
    return cargo
      ? `scripts/peers/rust/target/release/${name} is not built: run deno task rust (${cargo})`
      : `scripts/peers/rust/target/release/${name} is not built and no cargo runs here (install Rust, then deno task rust)`;
  }
}

const rustPeer = (label: string, name: "candle_peer" | "burn_peer"): Peer => ({
  label,
  group: "rust",
  unavailable: () => rustUnavailable(name),
  open: async () => {
    const impl = await SubprocessImplementation.start({ command: [rustBinary(name)] });
    return { impl, close: () => impl.close() };
  },
});

/** The Rust engines' rows, in table order. */
export const RUST_PEERS: readonly Peer[] = [
  rustPeer("candle-nn 0.11.1 BatchNorm (CPU), subprocess protocol (Rust)", "candle_peer"),
  rustPeer("burn 0.22.1 BatchNorm, ndarray backend (autodiff), subprocess protocol (Rust)", "burn_peer"),
];
