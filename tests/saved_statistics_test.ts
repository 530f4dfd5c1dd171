/**
 * Backward with the forward's statistics (`batchNormBackward(…, { saved })`, `saved` from `batchNormTrain`) gives
 * the same bits as backward recomputing them from x, on every configuration of the fast-path test
 * (tests/_fast_path_conventions.ts): every dtype, the WebAssembly kernels on and off, one and two threads, values
 * spread over 2^±40, infinities and NaNs, empty batches; and a handle that does not belong to the call is refused
 * with the code `saved_mismatch`, naming what differs.
 */
import { assert, assertThrows } from "@std/assert";
import {
  batchNormBackward,
  BatchNormError,
  batchNormTrain,
  type ConventionInput,
  KernelArena,
  type SavedStatistics,
  type Tensor,
  tensor,
} from "../mod.ts";
import { setThreadMinimum, setWasmEnabled, wasmAvailable } from "../src/reference/_wasm.ts";
import { uniformStream } from "../scripts/generators/_fixture_io.ts";
import { FAST_PATH_CONVENTIONS, FAST_PATH_DTYPES, fastPathState } from "./_fast_path_conventions.ts";

const same = (a: ArrayLike<number> | null | undefined, b: ArrayLike<number> | null | undefined) =>
  a === b ||
  (!!a && !!b && a.length === b.length && Array.prototype.every.call(a, (v: number, i: number) => Object.is(v, b[i])));

type State = {
  gamma: ArrayLike<number>;
  beta: ArrayLike<number>;
  runningMean: ArrayLike<number>;
  runningVar: ArrayLike<number>;
  numBatchesTracked: number;
};

/** Every output of backward, with and without `saved`, must be the same bits; returns the number compared. */
function compare(x: Tensor, dy: Tensor, state: State, convention: ConventionInput, where: string): number {
  let saved: SavedStatistics;
  try {
    saved = batchNormTrain(x, state, convention).saved;
  } catch (e) {
    // The forward refuses (e.g. one value per channel): no statistics to save; backward must refuse as well.
    assert(e instanceof BatchNormError, `${where}: ${e}`);
    assertThrows(() => batchNormBackward(x, dy, state, "train", convention), BatchNormError);
    return 1;
  }
  let compared = 0;
  for (const mode of ["train", "eval"] as const) {
    const recomputed = batchNormBackward(x, dy, state, mode, convention);
    let given;
    try {
      given = batchNormBackward(x, dy, state, mode, convention, { saved });
    } catch (e) {
      // Only an eval step with tracked running statistics refuses them (it does not use batch statistics).
      assert(e instanceof BatchNormError && e.code === "saved_mismatch" && mode === "eval", `${where} ${mode}: ${e}`);
      continue;
    }
    const pairs = [
      [given.dx.data, recomputed.dx.data],
      [given.dgamma?.data, recomputed.dgamma?.data],
      [given.dbeta?.data, recomputed.dbeta?.data],
      [given.dmean?.data, recomputed.dmean?.data],
      [given.dvar?.data, recomputed.dvar?.data],
    ];
    pairs.forEach(([a, b], i) => assert(same(a, b), `${where} ${mode}: output ${i} differs`));
    compared += pairs.length;
  }
  return compared;
}

Deno.test("backward with the forward's statistics is bit-identical to recomputing them (every fast-path configuration)", async (t) => {
  assert(wasmAvailable(), "WebAssembly SIMD is available in Deno: the kernels must be tested");
  let compared = 0;
  for (
    const [dtype, useWasm] of FAST_PATH_DTYPES
  ) {
    for (
      const [shape, axis] of [
        [[5, 3], 1],
        [[3, 4, 6], 1],
        [[2, 3, 4, 9], 1],
        [[2, 4, 5, 3], -1],
        [[2, 2, 3, 2, 2], 1],
        [[1, 3], 1],
        [[0, 3], 1],
      ] as const
    ) {
      for (const [ci, conv] of FAST_PATH_CONVENTIONS.entries()) {
        await t.step(`${dtype}${useWasm ? "" : " (no wasm)"} [${shape}] axis ${axis} convention ${ci}`, () => {
          const previous = setWasmEnabled(useWasm);
          try {
            const u = uniformStream(dtype.length * 1000 + shape.length * 100 + ci), r = () => u() - 0.5;
            const n = shape.reduce((a: number, b: number) => a * b, 1), C = shape.at(axis)!;
            const spread = ci === 1 || ci === 2;
            const values = Array.from(
              { length: n },
              (_, i) => (i % 17 === 3 ? 7 : spread ? r() * 2 ** Math.round(80 * r()) : 50 * r() + (i % 5)),
            );
            if (n > 8) values[5] = ci === 3 ? Infinity : ci === 4 ? NaN : ci === 5 ? -Infinity : values[5];
            const x = tensor(dtype, [...shape], values);
            const dy = tensor(dtype, [...shape], Array.from({ length: n }, () => r()));
            const vec = (f: () => number) => tensor(dtype, [C], Array.from({ length: C }, f)).data;
            const state = fastPathState(vec, r);
            const convention = typeof conv === "string"
              ? conv
              : { ...conv, axis: typeof conv === "object" && conv.axis !== undefined ? conv.axis : axis };
            compared += compare(x, dy, state, convention, `${dtype} [${shape}] convention ${ci}`);
          } finally {
            setWasmEnabled(previous);
          }
        });
      }
    }
  }
  assert(compared > 1500, `only ${compared} outputs compared`);
});

Deno.test("backward with the forward's statistics is bit-identical on two threads (a two-thread KernelArena)", async () => {
  const previous = setThreadMinimum(0);
  let compared = 0;
  try {
    const shape = [3, 5, 9, 7], n = 3 * 5 * 9 * 7, C = 5;
    using arena = new KernelArena(3 * (4 * n + 16), { threads: 2 });
    assert(await arena.whenThreaded(), "the helper thread must start");
    const x = arena.float32(shape), dy = arena.float32(shape);
    for (const [ci, conv] of FAST_PATH_CONVENTIONS.entries()) {
      const u = uniformStream(700 + ci), r = () => u() - 0.5;
      for (let i = 0; i < n; i++) {
        x.data[i] = i % 17 === 3 ? 7 : ci === 1 ? r() * 2 ** Math.round(80 * r()) : 50 * r() + (i % 5);
        dy.data[i] = r();
      }
      if (ci === 3) x.data[5] = Infinity;
      if (ci === 4) x.data[n - 2] = NaN;
      const vec = (f: () => number) => Float32Array.from({ length: C }, f);
      const state = fastPathState(vec, r);
      const convention = typeof conv === "string" ? conv : { ...conv, axis: conv.axis ?? 1 };
      compared += compare(x, dy, state, convention, `two threads convention ${ci}`);
    }
  } finally {
    setThreadMinimum(previous);
  }
  assert(compared >= 50, `only ${compared} outputs compared`);
});

Deno.test("saved statistics that do not belong to the call are refused (saved_mismatch), naming what differs", () => {
  const x = tensor("float32", [2, 3, 4], Array.from({ length: 24 }, (_, i) => Math.round(Math.sin(i) * 24) / 8));
  const dy = tensor("float32", [2, 3, 4], Array.from({ length: 24 }, (_, i) => Math.round(Math.cos(i) * 16) / 8));
  const state = { gamma: [1, 2, 3], beta: [0, 0, 1], runningMean: [0, 0, 0], runningVar: [1, 1, 1] };
  const { saved } = batchNormTrain(x, state, "pytorch");
  const refused = (
    options: { saved?: unknown },
    reason: string,
    call = (o: object) => batchNormBackward(x, dy, state, "train", "pytorch", o),
  ) => {
    const e = assertThrows(() => call(options), BatchNormError);
    assert(e.code === "saved_mismatch" && e.field === "options.saved", `${e.code} ${e.field}`);
    assert(e.message.includes(reason), e.message);
  };
  // The handle itself works; a forged or copied one does not.
  batchNormBackward(x, dy, state, "train", "pytorch", { saved });
  refused({ saved: { kind: "batch-statistics", dtype: "float32", shape: [2, 3, 4] } }, "batchNormTrain result");
  refused({ saved: { ...saved } }, "batchNormTrain result");
  refused({ saved: null }, "batchNormTrain result");
  refused({ saved: 1 }, "batchNormTrain result");
  // Another x: equal values in another array; another shape over the same data; another dtype over the same data.
  refused(
    { saved },
    "another x",
    (o) => batchNormBackward({ ...x, data: x.data.slice() }, dy, state, "train", "pytorch", o),
  );
  refused(
    { saved },
    "shape [2, 3, 4]",
    (o) =>
      batchNormBackward({ ...x, shape: [2, 3, 2, 2] }, { ...dy, shape: [2, 3, 2, 2] }, state, "train", "pytorch", o),
  );
  refused(
    { saved },
    "float32",
    (o) => batchNormBackward({ ...x, dtype: "bfloat16" }, { ...dy, dtype: "bfloat16" }, state, "train", "pytorch", o),
  );
  // Another convention: epsilon, its placement, the zero-variance rule.
  refused({ saved }, "convention.epsilon", (o) => batchNormBackward(x, dy, state, "train", { epsilon: 1e-3 }, o));
  refused(
    { saved },
    "convention.epsilonPlacement",
    (o) => batchNormBackward(x, dy, state, "train", { epsilonPlacement: "outside" }, o),
  );
  refused({ saved }, "convention.", (o) => batchNormBackward(x, dy, state, "train", "onnx", o));
  // An eval step with tracked running statistics does not use batch statistics.
  refused({ saved }, "running statistics", (o) => batchNormBackward(x, dy, state, "eval", "pytorch", o));
  // The forward wrote y over x: the statistics no longer describe x.
  const x2 = tensor("float32", [2, 3, 4], x.data);
  const inPlace = batchNormTrain(x2, state, "pytorch", { out: x2.data as Float32Array }).saved;
  refused({ saved: inPlace }, "overwrote", (o) => batchNormBackward(x2, dy, state, "train", "pytorch", o));
  // The handle is frozen: its fields cannot be rewritten to pass the checks.
  assertThrows(() => ((saved as unknown as { shape: number[] }).shape = [1]), TypeError);
});
