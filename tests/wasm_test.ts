/**
 * The WebAssembly kernels: the binary embedded in src/reference/_wasm_kernels.ts is exactly what
 * `deno task wasm` assembles from src/reference/_kernels.wat (so the shipped bytes are the reviewed source),
 * and it loads here. Their results are held bit for bit to the plain path by tests/fast_path_test.ts.
 */
import { assert, assertEquals, assertThrows } from "@std/assert";
import {
  allocate,
  batchNormBackward,
  BatchNormError,
  batchNormInference,
  batchNormTrain,
  KernelArena,
  tensor,
} from "../mod.ts";
import { assemble, moduleText, OUT, WAT } from "../scripts/generators/build_wasm.ts";
import { KERNELS_BASE64, KERNELS_SHARED_BASE64 } from "../src/reference/_wasm_kernels.ts";
import {
  channelBackwardSumsF32,
  channelDeviationsF32,
  channelSumF32,
  setWasmEnabled,
  stageF32,
  wasmAvailable,
} from "../src/reference/_wasm.ts";
import { backwardRun, BLOCK, combine, deviationRun, sumRun } from "../src/reference/_lanes.ts";
import { uniformStream } from "../scripts/generators/_fixture_io.ts";

const root = new URL("../", import.meta.url);

Deno.test("the embedded WebAssembly is the committed .wat, assembled by the pinned wabt, byte for byte", async () => {
  const wat = await Deno.readTextFile(new URL(WAT, root));
  const bytes = await assemble(wat), shared = await assemble(wat, true);
  const embedded = Uint8Array.from(atob(KERNELS_BASE64), (ch) => ch.charCodeAt(0));
  const embeddedShared = Uint8Array.from(atob(KERNELS_SHARED_BASE64), (ch) => ch.charCodeAt(0));
  assertEquals(embedded, bytes, "run `deno task wasm`");
  assertEquals(embeddedShared, shared, "run `deno task wasm`");
  assertEquals(await Deno.readTextFile(new URL(OUT, root)), moduleText(bytes, shared), "run `deno task wasm`");
  // The shared build differs from the plain one only in its memory import (shared, with a maximum).
  assert(shared.length === bytes.length + 3 && !bytes.every((b, i) => shared[i] === b));
});

Deno.test("the kernels validate and load in this runtime (WebAssembly SIMD; the shared build with threads)", () => {
  const embedded = Uint8Array.from(atob(KERNELS_BASE64), (ch) => ch.charCodeAt(0));
  assert(WebAssembly.validate(embedded));
  assert(wasmAvailable());
  const shared = Uint8Array.from(atob(KERNELS_SHARED_BASE64), (ch) => ch.charCodeAt(0));
  assert(WebAssembly.validate(shared));
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
  assert(new WebAssembly.Instance(new WebAssembly.Module(shared), { env: { memory } }).exports.sum_f32);
});

Deno.test("the statistics kernels fill every lane exactly as the TypeScript loops do (raw accumulators)", () => {
  const u = uniformStream(7);
  let compared = 0;
  for (const inner of [0, 1, 5, 7, 8, 9, 16, 23, 40, 61]) {
    for (const outer of [1, 3]) {
      const channels = 2, n = outer * channels * inner;
      // float32 values spread over 2^±40, with an infinity or NaN in some runs
      const x = Float32Array.from({ length: n }, () => (u() - 0.5) * 2 ** Math.round(80 * (u() - 0.5)));
      if (inner === 9) x[3] = Infinity;
      if (inner === 23) x[5] = NaN;
      const st = stageF32(x, null, null, inner)!;
      for (let c = 0; c < channels; c++) {
        const m = u() - 0.5;
        const ts = new Float64Array(3 * BLOCK).map(() => u() - 0.5), kernel = ts.slice();
        for (let o = 0; o < outer; o++) sumRun(x, (o * channels + c) * inner, inner, ts, 0);
        channelSumF32(st, outer, channels, inner, c, kernel);
        for (let o = 0; o < outer; o++) deviationRun(x, (o * channels + c) * inner, inner, m, ts, BLOCK, 2 * BLOCK);
        channelDeviationsF32(st, outer, channels, inner, c, m, kernel);
        ts.forEach((v, i) => assert(Object.is(v, kernel[i]), `inner ${inner} channel ${c}: lane value ${i}`));
        compared += ts.length;
      }
    }
  }
  assert(compared > 1000);
});

Deno.test("backward's sum kernel fills every lane exactly as the TypeScript loop does (raw accumulators)", () => {
  const u = uniformStream(9);
  let compared = 0;
  for (const inner of [0, 1, 6, 8, 13, 16, 29, 64]) {
    const outer = 3, channels = 2, n = outer * channels * inner;
    const spread = () => (u() - 0.5) * 2 ** Math.round(60 * (u() - 0.5));
    const x = Float32Array.from({ length: n }, spread), dy = Float32Array.from({ length: n }, spread);
    if (inner === 13) dy[4] = -Infinity;
    if (inner === 29) x[7] = NaN;
    const st = stageF32(x, dy, null, inner)!;
    for (let c = 0; c < channels; c++) {
      const [m, low, inv] = [u() - 0.5, (u() - 0.5) * 1e-9, u() + 0.5];
      const ts = new Float64Array(2 * BLOCK).map(() => u() - 0.5), kernel = ts.slice();
      for (let o = 0; o < outer; o++) backwardRun(x, dy, (o * channels + c) * inner, inner, m, low, inv, ts, 0, BLOCK);
      channelBackwardSumsF32(st, outer, channels, inner, c, m, low, inv, kernel);
      ts.forEach((v, i) => assert(Object.is(v, kernel[i]), `inner ${inner} channel ${c}: lane value ${i}`));
      compared += ts.length;
    }
  }
  assert(compared > 500);
});

Deno.test("the lanes are as _lanes.ts states: offset i of a run in lane i mod 8 while a group of 8 remains", () => {
  const x = Float64Array.from({ length: 21 }, (_, i) => 2 ** i);
  const acc = new Float64Array(BLOCK);
  sumRun(x, 0, 21, acc, 0);
  // lanes 0..7: offsets j, j + 8; tail lane 8: offsets 16..20 (powers of two: every sum exact)
  for (let j = 0; j < 8; j++) assertEquals(acc[j], 2 ** j + 2 ** (j + 8));
  assertEquals(acc[8], 2 ** 16 + 2 ** 17 + 2 ** 18 + 2 ** 19 + 2 ** 20);
  assertEquals(combine(acc, 0), 2 ** 21 - 1);
});

Deno.test("tensors in kernel memory and caller-owned outputs give the same bits as fresh ones", () => {
  const u = uniformStream(11);
  const shape = [3, 5, 7, 3], n = 3 * 5 * 7 * 3, C = 5;
  const values = Array.from({ length: n }, (_, i) => i === 17 ? Infinity : (u() - 0.5) * 2 ** Math.round(20 * u()));
  const params = [0.5, -0.5, -0.5, 0.5].map((shift) => Array.from({ length: C }, () => u() + shift));
  for (const useWasm of [true, false]) {
    const previous = setWasmEnabled(useWasm);
    try {
      for (const dtype of ["float32", "float64", "float16", "bfloat16"] as const) {
        const x = tensor(dtype, shape, values);
        const [gamma, beta, runningMean, runningVar] = params.map((p) => tensor(dtype, [C], p).data);
        const state = { gamma, beta, runningMean, runningVar };
        const fresh = [batchNormInference(x, state).y.data, batchNormTrain(x, state).y.data];
        const same = (got: ArrayLike<number>, want: ArrayLike<number>, what: string) =>
          assert(Array.prototype.every.call(want, (v, i) => Object.is(v, got[i])), `${dtype} ${what} wasm ${useWasm}`);
        // caller-owned output, reused
        const out = allocate(dtype, n);
        assert(batchNormInference(x, state, "pytorch", { out }).y.data === out);
        same(out, fresh[0], "inference into out");
        assert(batchNormTrain(x, state, "pytorch", { out }).y.data === out);
        same(out, fresh[1], "training into out");
        // backward into a caller-owned output
        const dyT = tensor(dtype, shape, values.map((v, i) => Number.isFinite(v) ? Math.cos(i) : v));
        for (const mode of ["train", "eval"] as const) {
          const want = batchNormBackward(x, dyT, state, mode).dx.data;
          assert(batchNormBackward(x, dyT, state, mode, "pytorch", { out }).dx.data === out);
          same(out, want, `backward ${mode} into out`);
        }
        // in place
        const inPlace = x.data.slice();
        batchNormInference({ ...x, data: inPlace }, state, "pytorch", { out: inPlace });
        same(inPlace, fresh[0], "inference in place");
        if (dtype !== "float32") continue;
        // x and y in a KernelArena: read and written in place by the kernels
        const arena = new KernelArena(2 * 4 * n + 32), arena2 = new KernelArena(3 * 4 * n + 48);
        const ax = arena.float32(shape), ay = arena.float32(shape);
        ax.data.set(x.data);
        assert(batchNormInference(ax, state, "pytorch", { out: ay.data }).y.data === ay.data);
        same(ay.data, fresh[0], "arena inference");
        assert(batchNormTrain(ax, state, "pytorch", { out: ay.data }).y.data === ay.data);
        same(ay.data, fresh[1], "arena training");
        // backward with x, dy and dx in the arena
        const ag = arena2.float32(shape), adx = arena2.float32(shape), ax2 = arena2.float32(shape);
        ax2.data.set(x.data), ag.data.set(dyT.data);
        for (const mode of ["train", "eval"] as const) {
          const want = batchNormBackward(x, dyT, state, mode).dx.data;
          assert(batchNormBackward(ax2, ag, state, mode, "pytorch", { out: adx.data }).dx.data === adx.data);
          same(adx.data, want, `arena backward ${mode}`);
          same(batchNormBackward(ax2, ag, state, mode).dx.data, want, `arena backward ${mode}, fresh dx`);
        }
        // x in the arena, y not: fresh output, and a plain caller-owned one
        same(batchNormTrain(ax, state).y.data, fresh[1], "arena x, fresh y");
        same(batchNormInference(ax, state, "pytorch", { out }).y.data, fresh[0], "arena x, plain out");
      }
    } finally {
      setWasmEnabled(previous);
    }
  }
});

Deno.test("a wrong output is refused with a clear error, and an arena refuses what it cannot hold", () => {
  const x = tensor("float32", [2, 2], [1, 2, 3, 4]);
  const state = { runningMean: [0, 0], runningVar: [1, 1], gamma: [1, 1], beta: [0, 0] };
  for (const out of [new Float32Array(3), new Float64Array(4), [0, 0, 0, 0]]) {
    assertThrows(
      () => batchNormInference(x, state, "pytorch", { out: out as Float32Array }),
      BatchNormError,
      "options.out",
    );
  }
  const arena = new KernelArena(64);
  arena.float32([4, 4]);
  assertThrows(() => arena.float32([2]), RangeError, "no room");
  assertThrows(() => new KernelArena(-1), RangeError);
});
