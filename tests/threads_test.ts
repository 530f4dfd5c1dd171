/**
 * Two threads (a KernelArena with `threads: 2`): every call on the arena's tensors gives the same bits as the plain
 * path (tests/testdata/plain_batch_norm.ts), with the helper thread taking half of the channels of every call
 * (setThreadMinimum(0)), over the conventions of tests/fast_path_test.ts, shapes whose runs reach the kernels
 * (inner ≥ 8) and whose channel counts split evenly and unevenly, values spread over 2^±40 (where the compensated
 * sums' last bits depend on the order of the terms), and infinities and NaNs. float16 and bfloat16 never reach the
 * kernels (an arena holds float32), so threads cannot change them; tests/fast_path_test.ts holds them to the plain path.
 * No permission is asked for: the helper is a module from a blob URL.
 */
import { assert, assertEquals, assertThrows } from "@std/assert";
import { batchNormBackward, batchNormInference, batchNormTrain, KernelArena } from "../mod.ts";
import * as plain from "./testdata/plain_batch_norm.ts";
import { setThreadMinimum, stageF32, threadedF32, threadedRun } from "../src/reference/_wasm.ts";
import { Kind, setStaticSplit } from "../src/reference/_threads.ts";
import { backwardRun, BLOCK, deviationRun, sumRun } from "../src/reference/_lanes.ts";
import { uniformStream } from "../scripts/generators/_fixture_io.ts";
import { FAST_PATH_CONVENTIONS, fastPathState } from "./_fast_path_conventions.ts";

const same = (a: ArrayLike<number> | null | undefined, b: ArrayLike<number> | null | undefined) =>
  a === b ||
  (!!a && !!b && a.length === b.length && Array.prototype.every.call(a, (v: number, i: number) => Object.is(v, b[i])));

const CONVENTIONS = FAST_PATH_CONVENTIONS;

Deno.test("two threads give the plain path's bits on every configuration (float32, non-finite inputs included)", async (t) => {
  const previous = setThreadMinimum(0), previousSplit = setStaticSplit(true);
  let compared = 0, helped = 0;
  try {
    // Static split: the helper takes the upper half of every call's channels; dynamic (the default): each thread the
    // next channel not yet taken (the helper may then take none of a small call's).
    for (
      const [shape, split] of [
        [[2, 3, 4, 5], true],
        [[2, 2, 3, 2, 2], true],
        [[3, 5, 9, 7], true],
        [[1, 2, 8], true],
        [[4, 7, 33], true],
        [[2, 64, 3, 3], true],
        [[3, 5, 9, 7], false],
        [[2, 64, 3, 3], false],
      ] as [number[], boolean][]
    ) {
      setStaticSplit(split);
      const n = shape.reduce((a, b) => a * b, 1), C = shape[1];
      using arena = new KernelArena(3 * (4 * n + 16), { threads: 2 });
      assert(await arena.whenThreaded(), "the helper thread must start (no permission is needed)");
      const x = arena.float32(shape), dy = arena.float32(shape), y = arena.float32(shape);
      for (const [ci, conv] of CONVENTIONS.entries()) {
        await t.step(`[${shape}] convention ${ci}`, () => {
          const u = uniformStream(shape.length * 100 + C * 10 + ci), r = () => u() - 0.5;
          const spread = ci === 1 || ci === 2;
          for (let i = 0; i < n; i++) {
            x.data[i] = i % 17 === 3 ? 7 : spread ? r() * 2 ** Math.round(80 * r()) : 50 * r() + (i % 5);
            dy.data[i] = r();
          }
          if (ci === 3) x.data[5] = Infinity;
          if (ci === 4) x.data[n - 2] = NaN;
          if (ci === 5) dy.data[3] = -Infinity;
          const vec = (f: () => number) => Float32Array.from({ length: C }, f);
          const state = fastPathState(vec, r);
          const convention = typeof conv === "string" ? conv : { ...conv, axis: 1 };
          const px = { ...x, data: x.data.slice() }, pdy = { ...dy, data: dy.data.slice() };
          const outputs = (threaded: boolean) => {
            const out: (ArrayLike<number> | null | undefined)[] = [];
            const copy = (a: ArrayLike<number> | null | undefined) => a && Array.from(a);
            try {
              const tr = threaded
                ? batchNormTrain(x, state, convention, { out: y.data })
                : plain.batchNormTrain(px, state, convention);
              out.push(
                copy(tr.y.data),
                tr.batchMean.data,
                tr.batchVar.data,
                tr.invStd.data,
                tr.state.runningMean,
                tr.state.runningVar,
              );
            } catch (e) {
              out.push([String((e as Error).message).length]);
            }
            for (const mode of ["train", "eval"] as const) {
              try {
                const g = threaded
                  ? batchNormBackward(x, dy, state, mode, convention, { out: y.data })
                  : plain.batchNormBackward(px, pdy, state, mode, convention);
                out.push(copy(g.dx.data), g.dgamma?.data, g.dbeta?.data);
              } catch (e) {
                out.push([String((e as Error).message).length]);
              }
            }
            try {
              out.push(
                copy(
                  threaded
                    ? batchNormInference(x, state, convention, { out: y.data }).y.data
                    : plain.batchNormInference(px, state, convention).y.data,
                ),
              );
            } catch (e) {
              out.push([String((e as Error).message).length]);
            }
            return out;
          };
          const before = arena.helperChannels;
          const fast = outputs(true);
          if (split) assert(arena.helperChannels > before, "the helper thread took part in the calls");
          const slow = outputs(false);
          slow.forEach((v, i) => assert(same(fast[i], v), `output ${i} differs`));
          compared += slow.length;
        });
      }
      helped += arena.helperChannels;
    }
  } finally {
    setThreadMinimum(previous);
    setStaticSplit(previousSplit);
  }
  assert(compared >= 8 * CONVENTIONS.length * 13 && helped > 0);
});

Deno.test("a two-thread arena: one thread below the size limit and after close, bad options refused", async () => {
  using arena = new KernelArena(3 * (4 * 2 * 4 * 16 + 16), { threads: 2 });
  assert(await arena.whenThreaded());
  const x = arena.float32([2, 4, 16]), y = arena.float32([2, 4, 16]);
  x.data.set(Float32Array.from({ length: 128 }, (_, i) => Math.sin(i)));
  const state = {
    gamma: [1, 2, 3, 4],
    beta: [0, 1, 0, 1],
    runningMean: new Float32Array(4),
    runningVar: new Float32Array(4).fill(1),
  };
  batchNormInference(x, state, "onnx", { out: y.data }); // 128 elements: below the default minimum
  assertEquals(arena.helperChannels, 0);
  const previous = setThreadMinimum(0), previousSplit = setStaticSplit(true);
  try {
    batchNormInference(x, state, "onnx", { out: y.data });
    assertEquals(arena.helperChannels, 2);
    arena.close();
    assert(!arena.twoThreads);
    const expected = plain.batchNormInference({ ...x, data: x.data.slice() }, state, "onnx").y.data;
    assert(same(batchNormInference(x, state, "onnx", { out: y.data }).y.data, expected));
    assertEquals(arena.helperChannels, 2, "after close, calls run on this thread alone");
  } finally {
    setThreadMinimum(previous);
    setStaticSplit(previousSplit);
  }
  assertThrows(() => new KernelArena(64, { threads: 3 as 2 }), RangeError, "threads must be 1 or 2");
});

Deno.test("two threads fill every channel's lane accumulators exactly as the TypeScript loops do (raw sums)", async () => {
  const previous = setThreadMinimum(0), previousSplit = setStaticSplit(true);
  try {
    const u = uniformStream(23);
    let compared = 0;
    for (const [outer, channels, inner] of [[3, 5, 16], [4, 2, 61], [1, 3, 8], [5, 4, 9]]) {
      const n = outer * channels * inner;
      using arena = new KernelArena(2 * (4 * n + 16), { threads: 2 });
      assert(await arena.whenThreaded());
      const x = arena.float32([outer, channels, inner]), dy = arena.float32([outer, channels, inner]);
      // values spread over 2^±40: the sums' last bits (kept in the raw accumulators) depend on the order of the terms
      for (let i = 0; i < n; i++) x.data[i] = (u() - 0.5) * 2 ** Math.round(80 * (u() - 0.5)), dy.data[i] = u() - 0.5;
      const st = stageF32(x.data, dy.data, null, inner)!;
      const th = threadedF32(st, outer, channels, inner)!;
      assert(th !== null);
      const m = Float64Array.from({ length: channels }, () => u() - 0.5);
      const mli = Float64Array.from({ length: 3 * channels }, (_, i) => i % 3 === 2 ? 1 + u() : (u() - 0.5) * 1e-3);
      const sums = threadedRun(th, Kind.Sum, null, 0);
      const devs = threadedRun(th, Kind.Deviations, m, 1);
      const bsums = threadedRun(th, Kind.BackwardSums, mli, 3);
      for (let c = 0; c < channels; c++) {
        const ts = new Float64Array(2 * BLOCK), dv = new Float64Array(2 * BLOCK), bs = new Float64Array(2 * BLOCK);
        for (let o = 0; o < outer; o++) {
          const start = (o * channels + c) * inner;
          sumRun(x.data, start, inner, ts, 0);
          deviationRun(x.data, start, inner, m[c], dv, 0, BLOCK);
          backwardRun(x.data, dy.data, start, inner, mli[3 * c], mli[3 * c + 1], mli[3 * c + 2], bs, 0, BLOCK);
        }
        const at = (t: Float64Array, k: number) => Array.from(t.subarray(2 * BLOCK * c, 2 * BLOCK * c + k));
        assertEquals(at(sums, BLOCK), Array.from(ts.subarray(0, BLOCK)), `sums, channel ${c}`);
        assertEquals(at(devs, 2 * BLOCK), Array.from(dv), `deviations, channel ${c}`);
        assertEquals(at(bsums, 2 * BLOCK), Array.from(bs), `backward sums, channel ${c}`);
        compared += 3;
      }
      assert(arena.helperChannels >= 3 * (channels - (channels >> 1)));
    }
    assertEquals(compared, 3 * (5 + 2 + 3 + 4));
  } finally {
    setThreadMinimum(previous);
    setStaticSplit(previousSplit);
  }
});
