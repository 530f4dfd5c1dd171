/**
 * The optimised reference (flat loops, direct typed-array stores) gives bit-identical
 * results to the plain path it replaced (tests/testdata/plain_batch_norm.ts), on
 * random inputs over dtypes, axes, modes and conventions. float64, now computed in
 * double-double, agrees with it on every non-finite value and closely elsewhere.
 */
import { assert } from "@std/assert";
import { batchNormBackward, batchNormInference, batchNormTrain, tensor } from "../mod.ts";
import * as plain from "./testdata/plain_batch_norm.ts";
import { setWasmEnabled, wasmAvailable } from "../src/reference/_wasm.ts";
import { uniformStream } from "../scripts/generators/_fixture_io.ts";
import { FAST_PATH_CONVENTIONS, FAST_PATH_DTYPES, fastPathState } from "./_fast_path_conventions.ts";

function stream(seed: number): () => number {
  const u = uniformStream(seed);
  return () => u() - 0.5;
}

const same = (a: ArrayLike<number> | null | undefined, b: ArrayLike<number> | null | undefined) =>
  a === b ||
  (!!a && !!b && a.length === b.length && Array.prototype.every.call(a, (v: number, i: number) => Object.is(v, b[i])));

/**
 * float64 is computed in double-double (src/reference/_exact64.ts), no longer as the binary64 plain path does:
 * there the two must agree on every infinity and NaN, and otherwise
 * lie within the plain path's own binary64 error (its exactness is tests/exact_reference_test.ts's subject).
 */
const close64 = (a: ArrayLike<number> | null | undefined, b: ArrayLike<number> | null | undefined) =>
  a === b ||
  (!!a && !!b && a.length === b.length && Array.prototype.every.call(a, (v: number, i: number) => {
    const w = b[i];
    if (!Number.isFinite(w) || !Number.isFinite(v)) return Object.is(v, w);
    return Math.abs(v - w) <= 1e-9 * Math.max(1, Math.abs(w));
  }));

const CONVENTIONS = FAST_PATH_CONVENTIONS;

Deno.test("the optimised reference is bit-identical to the plain path (float32: WebAssembly SIMD and fallback)", async (t) => {
  assert(wasmAvailable(), "WebAssembly SIMD is available in Deno: the kernels must be tested");
  let compared = 0;
  for (
    const [dtype, useWasm] of FAST_PATH_DTYPES
  ) {
    for (
      const [shape, axis] of [
        [[5, 3], 1],
        [[3, 4, 6], 1],
        [[2, 3, 4, 5], 1],
        [[2, 4, 5, 3], -1],
        [[2, 2, 3, 2, 2], 1],
        [[0, 3], 1],
      ] as const
    ) {
      for (const [ci, conv] of CONVENTIONS.entries()) {
        await t.step(`${dtype}${useWasm ? "" : " (no wasm)"} [${shape}] axis ${axis} convention ${ci}`, () => {
          const previous = setWasmEnabled(useWasm);
          const r = stream(dtype.length * 1000 + shape.length * 100 + ci);
          const n = shape.reduce((a, b) => a * b, 1);
          const C = shape.at(axis)!;
          // Conventions 1 and 2 get values spread over 2^±40: there the compensated sums' last bits depend on the
          // order of the terms, so a kernel summing in another order than the plain path is caught.
          const spread = ci === 1 || ci === 2;
          const values = Array.from(
            { length: n },
            (_, i) => (i % 17 === 3 ? 7 : spread ? r() * 2 ** Math.round(80 * r()) : 50 * r() + (i % 5)),
          );
          if (n > 8) values[5] = ci === 3 ? Infinity : ci === 4 ? NaN : values[5];
          const x = tensor(dtype, [...shape], values);
          const dy = tensor(dtype, [...shape], Array.from({ length: n }, () => r()));
          const vec = (f: () => number) => tensor(dtype, [C], Array.from({ length: C }, f)).data;
          const state = fastPathState(vec, r);
          const convention = typeof conv === "string"
            ? conv
            : { ...conv, axis: typeof conv === "object" && conv.axis !== undefined ? conv.axis : axis };
          const run = (impl: typeof plain) => {
            const out: (ArrayLike<number> | null | undefined)[] = [];
            try {
              const tr = impl.batchNormTrain(x, state, convention);
              out.push(
                tr.y.data,
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
                const g = impl.batchNormBackward(x, dy, state, mode, convention);
                out.push(g.dx.data, g.dgamma?.data, g.dbeta?.data);
              } catch (e) {
                out.push([String((e as Error).message).length]);
              }
            }
            try {
              out.push(impl.batchNormInference(x, state, convention).y.data);
            } catch (e) {
              out.push([String((e as Error).message).length]);
            }
            return out;
          };
          let fast;
          try {
            fast = run({ batchNormTrain, batchNormBackward, batchNormInference } as unknown as typeof plain);
          } finally {
            setWasmEnabled(previous);
          }
          const slow = run(plain);
          const agree = dtype === "float64" ? close64 : same;
          slow.forEach((v, i) => assert(agree(fast[i], v), `output ${i} differs`));
          compared += slow.length;
        });
      }
    }
  }
  assert(compared > 1000);
});
