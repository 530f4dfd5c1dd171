/**
 * The float32 training forward normalizes each channel right after its statistics, while the channel's runs are in
 * cache (batchStats' `fuse`, where the one-thread WebAssembly kernels run): y and every other output must be the
 * plain path's bits (tests/testdata/plain_batch_norm.ts) wherever x and y live: fresh y (x copied through the
 * staging runs), a caller-owned y, x and y in a KernelArena, y written over x in the arena, and y outside x's arena
 * (the fused pass cannot write it; normalize does). Conventions of the fast-path test, values spread over 2^±40,
 * infinities and NaNs.
 */
import { assert } from "@std/assert";
import { batchNormInference, batchNormTrain, KernelArena } from "../mod.ts";
import * as plain from "./testdata/plain_batch_norm.ts";
import { wasmAvailable } from "../src/reference/_wasm.ts";
import { uniformStream } from "../scripts/generators/_fixture_io.ts";
import { FAST_PATH_CONVENTIONS, fastPathState } from "./_fast_path_conventions.ts";

const same = (a: ArrayLike<number> | null | undefined, b: ArrayLike<number> | null | undefined) =>
  a === b ||
  (!!a && !!b && a.length === b.length && Array.prototype.every.call(a, (v: number, i: number) => Object.is(v, b[i])));

Deno.test("the fused float32 training forward gives the plain path's bits wherever x and y live", async (t) => {
  assert(wasmAvailable(), "WebAssembly SIMD is available in Deno: the kernels must be tested");
  let compared = 0;
  for (const shape of [[2, 3, 4, 5], [3, 5, 9, 7], [1, 2, 8], [4, 7, 33]]) {
    const n = shape.reduce((a, b) => a * b, 1), C = shape[1];
    using arena = new KernelArena(3 * (4 * n + 16));
    const ax = arena.float32(shape), ay = arena.float32(shape);
    for (const [ci, conv] of FAST_PATH_CONVENTIONS.entries()) {
      await t.step(`[${shape}] convention ${ci}`, () => {
        const u = uniformStream(shape.length * 100 + C * 10 + ci), r = () => u() - 0.5;
        const values = Float32Array.from(
          { length: n },
          (_, i) => (i % 17 === 3 ? 7 : ci === 1 || ci === 2 ? r() * 2 ** Math.round(80 * r()) : 50 * r() + (i % 5)),
        );
        if (ci === 3) values[5] = Infinity;
        if (ci === 4) values[n - 2] = NaN;
        const vec = (f: () => number) => Float32Array.from({ length: C }, f);
        const state = fastPathState(vec, r);
        const convention = typeof conv === "string" ? conv : { ...conv, axis: conv.axis ?? 1 };
        const x = { dtype: "float32" as const, shape, data: values };
        const expected = plain.batchNormTrain(x, state, convention);
        // Inference without tracked running statistics normalizes with the batch's: fused the same way.
        const trackless = {
          ...(typeof convention === "string" ? { base: convention } : convention),
          trackRunningStats: false,
        };
        const inference = plain.batchNormInference(x, state, trackless).y.data;
        const yi = new Float32Array(n);
        ax.data.set(values);
        batchNormInference(ax, state, trackless, { out: yi });
        assert(same(batchNormInference(x, state, trackless).y.data, inference), "inference (batch statistics) differs");
        assert(same(yi, inference), "inference (batch statistics), x in an arena, y outside it, differs");
        assert(
          same(batchNormInference(ax, state, trackless, { out: ay.data }).y.data, inference),
          "inference in the arena differs",
        );
        compared += 3;
        const check = (got: ReturnType<typeof batchNormTrain>, y: ArrayLike<number>, where: string) => {
          assert(same(y, expected.y.data), `${where}: y differs`);
          assert(same(got.batchMean.data, expected.batchMean.data), `${where}: batchMean differs`);
          assert(same(got.batchVar.data, expected.batchVar.data), `${where}: batchVar differs`);
          assert(same(got.invStd.data, expected.invStd.data), `${where}: invStd differs`);
          compared += 4;
        };
        let res = batchNormTrain(x, state, convention);
        check(res, res.y.data, "fresh y");
        const own = new Float32Array(n);
        res = batchNormTrain(x, state, convention, { out: own });
        check(res, own, "caller-owned y");
        ax.data.set(values);
        res = batchNormTrain(ax, state, convention, { out: ay.data });
        check(res, ay.data, "x and y in an arena");
        const outside = new Float32Array(n);
        res = batchNormTrain(ax, state, convention, { out: outside });
        check(res, outside, "y outside x's arena");
        res = batchNormTrain(ax, state, convention, { out: ax.data });
        check(res, ax.data, "y over x in the arena");
      });
    }
  }
  assert(compared > 500, `only ${compared} outputs compared`);
});
