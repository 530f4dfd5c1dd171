/**
 * The crates.io engines (scripts/peers/rust_peers.ts): candle (`candle-nn` 0.11.1) and burn (0.22.1, ndarray
 * backend), Rust programs over the subprocess protocol. Their rows of docs/matrix.md are what a fresh run computes,
 * and the evidence behind each of their findings (docs/rust-engines.md) still holds, asked of the programs
 * themselves. A program that is not built here is reported as ignored with the reason.
 * Run by `deno task test:rust` (`deno task rust` builds the programs first; CI runs both after `deno task test`).
 */
import { assert, assertAlmostEquals, assertEquals, assertGreater, assertStringIncludes } from "@std/assert";
import { loadAllFixtures } from "../mod.ts";
import { peerRowTests } from "./_coverage.ts";
import { RUST_PEERS, rustBinary, rustUnavailable } from "../scripts/peers/rust_peers.ts";

const files = await loadAllFixtures();
const candleReason = await rustUnavailable("candle_peer");
const burnReason = await rustUnavailable("burn_peer");

for (const peer of RUST_PEERS) {
  const reason = await peer.unavailable?.();
  peerRowTests(peer, files, reason);
}

type Tensor = { dtype: string; shape: number[]; data: (number | string)[] };
type StepAnswer = { outputs?: Record<string, Tensor>; error?: { code: string; message: string } };

/** One case through a peer program, as the runner would send it; the step answers. */
async function ask(
  program: "candle_peer" | "burn_peer",
  dtype: string,
  config: Record<string, unknown>,
  x: number[],
  shape: number[],
  opts: { mode?: string; dy?: number[] } = {},
): Promise<StepAnswer> {
  const c = shape[1];
  const t = (data: number[], s = [c]) => ({ dtype, shape: s, data });
  const full = {
    axis: 1,
    epsilon: 1e-5,
    epsilon_floor: 0,
    epsilon_placement: "inside",
    momentum: 0.1,
    momentum_kind: "new",
    running_variance: "bessel",
    affine: true,
    track_running_stats: true,
    single_value_training: "allow",
    zero_variance_invstd: "ieee",
    ...config,
  };
  const step = {
    mode: opts.mode ?? "train",
    x: t(x, shape),
    ...(opts.dy ? { dy: t(opts.dy, shape) } : {}),
    state: {
      gamma: t(Array(c).fill(1)),
      beta: t(Array(c).fill(0)),
      running_mean: t(Array(c).fill(0)),
      running_var: t(Array(c).fill(1)),
      num_batches_tracked: 0,
    },
  };
  const lines = [
    { type: "hello", protocol: "batchnorm-conformance", version: "1.1" },
    { type: "case", id: 1, name: "probe", dtype, config: full, steps: [step] },
    { type: "bye" },
  ];
  const child = new Deno.Command(rustBinary(program), { stdin: "piped", stdout: "piped", stderr: "piped" }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(lines.map((l) => JSON.stringify(l)).join("\n") + "\n"));
  await w.close();
  const { success, stdout, stderr } = await child.output();
  assert(success, new TextDecoder().decode(stderr));
  const replies = new TextDecoder().decode(stdout).trim().split("\n").map((l) => JSON.parse(l));
  assertEquals(replies[0].type, "hello");
  return replies[1].steps[0];
}

const x4 = [1, 2, 3, 4, 5, 6, 7, 8]; // [4, 2]: channel 0 holds 1, 3, 5, 7 (mean 4, biased variance 5, unbiased 20/3)

// ---- candle ----

Deno.test({
  name: "candle 0.11.1 refuses a negative epsilon and a momentum outside [0, 1] (batch_norm.rs check_validity)",
  ignore: candleReason !== undefined,
  fn: async () => {
    const eps = await ask("candle_peer", "float32", { epsilon: -1e-5 }, x4, [4, 2]);
    assertEquals(eps.error?.code, "invalid_epsilon");
    assertEquals(eps.error?.message, "batch-norm eps cannot be negative -0.00001");
    const m = await ask("candle_peer", "float32", { momentum: 1.5 }, x4, [4, 2]);
    assertEquals(m.error?.code, "invalid_momentum");
    assertEquals(m.error?.message, "batch-norm momentum must be between 0 and 1, is 1.5");
    // epsilon 0 is accepted (only `eps < 0.` is refused).
    assertEquals((await ask("candle_peer", "float64", { epsilon: 0 }, x4, [4, 2])).error, undefined);
  },
});

Deno.test({
  name: "candle 0.11.1: the running variance takes Bessel's factor n/(n-1), momentum weighs the new value",
  ignore: candleReason !== undefined,
  fn: async () => {
    const r = await ask("candle_peer", "float64", {}, x4, [4, 2]);
    assertAlmostEquals(r.outputs!.running_var.data[0] as number, 0.9 + 0.1 * 20 / 3, 1e-15);
    assertAlmostEquals(r.outputs!.running_mean.data[0] as number, 0.4, 1e-15);
  },
});

Deno.test({
  name: "candle 0.11.1: one value per channel is not refused; the running variance becomes NaN (0·n/(n-1) = 0·∞)",
  ignore: candleReason !== undefined,
  fn: async () => {
    for (const dtype of ["float64", "float32", "bfloat16"]) {
      const r = await ask("candle_peer", dtype, {}, [1, 2], [1, 2], { dy: [1, 1] });
      assertEquals(r.error, undefined);
      assertEquals(r.outputs!.y.data, [0, 0]); // variance 0: y = beta
      assertEquals(r.outputs!.running_var.data, ["NaN", "NaN"], dtype);
      assertEquals(
        r.outputs!.running_mean.data,
        dtype === "bfloat16" ? [0.10009765625, 0.2001953125] : r.outputs!.running_mean.data,
      );
    }
  },
});

Deno.test({
  name: "candle 0.11.1 trains float16 in float32: a batch whose variance overflows float16 still normalizes",
  ignore: candleReason !== undefined,
  fn: async () => {
    // Variance 3.6e9 is far above float16's maximum 65504; computed in float16 it would be infinite and y 0.
    const r = await ask("candle_peer", "float16", {}, [60000, -60000, 60000, -60000], [4, 1]);
    assertEquals(r.outputs!.y.data, [1, -1, 1, -1]);
    assertEquals(r.outputs!.running_var.data, ["Infinity"]); // rounded back to float16 from float32
  },
});

Deno.test({
  name: "candle 0.11.1: gradients by its backprop equal the closed form on a small case",
  ignore: candleReason !== undefined,
  fn: async () => {
    const dy = [1, 0, 0, 1, 0.5, 0.5, -1, 2];
    const r = await ask("candle_peer", "float64", {}, x4, [4, 2], { dy });
    // Channel 0: x̂ = (x - 4)/sqrt(5 + 1e-5); dbeta = Σdy, dgamma = Σdy·x̂.
    const inv = 1 / Math.sqrt(5 + 1e-5);
    const xh = [1, 3, 5, 7].map((v) => (v - 4) * inv);
    const d0 = [1, 0, 0.5, -1];
    assertAlmostEquals(r.outputs!.dbeta.data[0] as number, 0.5, 1e-14);
    assertAlmostEquals(r.outputs!.dgamma.data[0] as number, d0.reduce((s, d, i) => s + d * xh[i], 0), 1e-14);
    const mdy = d0.reduce((s, d) => s + d, 0) / 4;
    const mdyx = d0.reduce((s, d, i) => s + d * xh[i], 0) / 4;
    const dx = d0.map((d, i) => inv * (d - mdy - xh[i] * mdyx));
    dx.forEach((v, i) => assertAlmostEquals(r.outputs!.dx.data[2 * i] as number, v, 1e-14));
  },
});

// ---- burn ----

Deno.test({
  name: "burn 0.22.1 refuses epsilon 0 as well as a negative one (BatchNormConfig::init asserts epsilon > 0)",
  ignore: burnReason !== undefined,
  fn: async () => {
    for (const epsilon of [0, -1e-5]) {
      const r = await ask("burn_peer", "float32", { epsilon }, x4, [4, 2]);
      assertEquals(r.error?.code, "invalid_epsilon");
      assertStringIncludes(r.error!.message, "epsilon must be finite and positive.");
    }
    const m = await ask("burn_peer", "float32", { momentum: 1.5 }, x4, [4, 2]);
    assertEquals(m.error?.code, "invalid_momentum");
    assertStringIncludes(m.error!.message, "momentum must be finite and within [0, 1].");
  },
});

Deno.test({
  name: "burn 0.22.1: the running variance takes the biased batch variance (no Bessel factor)",
  ignore: burnReason !== undefined,
  fn: async () => {
    const r = await ask("burn_peer", "float64", {}, x4, [4, 2]);
    assertAlmostEquals(r.outputs!.running_var.data[0] as number, 0.9 + 0.1 * 5, 1e-15);
    assertAlmostEquals(r.outputs!.batch_var.data[0] as number, 5, 1e-15);
    assertAlmostEquals(r.outputs!.running_mean.data[0] as number, 0.4, 1e-15);
  },
});

Deno.test({
  name: "burn 0.22.1's ndarray backend has no float16 or bfloat16",
  ignore: burnReason !== undefined,
  fn: async () => {
    for (const dtype of ["float16", "bfloat16"]) {
      assertEquals((await ask("burn_peer", dtype, {}, x4, [4, 2])).error?.code, "unsupported_dtype");
    }
  },
});

// ---- speed, inside each program ----

for (const program of ["candle_peer", "burn_peer"] as const) {
  const reason = program === "candle_peer" ? candleReason : burnReason;
  Deno.test({
    name: `${program} --bench times eval and train inside its own process (median of N)`,
    ignore: reason !== undefined,
    fn: async () => {
      const { success, stdout, stderr } = await new Deno.Command(rustBinary(program), {
        args: ["--bench", "2,3,4,4", "3"],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert(success, new TextDecoder().decode(stderr));
      const r = JSON.parse(new TextDecoder().decode(stdout));
      assertEquals(r.shape, [2, 3, 4, 4]);
      for (const k of ["eval_ms", "train_forward_ms", "train_forward_backward_ms"]) assertGreater(r[k], 0);
    },
  });
}
