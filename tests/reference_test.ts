/**
 * Behaviour of the reference checked against closed forms and independent
 * float64 arithmetic written here (not against the reference itself).
 */
import { assert, assertAlmostEquals, assertEquals } from "@std/assert";
import {
  batchNormBackward,
  batchNormInference,
  batchNormTrain,
  type ConventionInput,
  type DType,
  type OutputTensor,
  type Tensor,
  tensor,
} from "../mod.ts";
import { uniformStream } from "../scripts/generators/_fixture_io.ts";

/** Deterministic inputs, uniform in [-0.5, 0.5). */
function stream(seed: number): () => number {
  const u = uniformStream(seed);
  return () => u() - 0.5;
}

function randomTensor(
  dtype: DType,
  shape: number[],
  seed: number,
  offset = 0,
  spread = 4,
): OutputTensor {
  const r = stream(seed);
  return tensor(
    dtype,
    shape,
    Array.from(
      { length: shape.reduce((a, b) => a * b, 1) },
      () => offset + spread * r(),
    ),
  );
}

/** Channel values of x for channel c with the channel axis `axis`. */
function channelValues(t: Tensor, axis: number, c: number): number[] {
  const a = axis < 0 ? axis + t.shape.length : axis;
  const inner = t.shape.slice(a + 1).reduce((p, q) => p * q, 1);
  const C = t.shape[a];
  const out: number[] = [];
  for (let i = 0; i < t.data.length; i++) {
    if (Math.floor(i / inner) % C === c) out.push(t.data[i]);
  }
  return out;
}

const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
const variance = (v: number[]) => {
  const m = mean(v);
  return v.reduce((a, b) => a + (b - m) ** 2, 0) / v.length;
};

Deno.test("batchNormTrain() output has per-channel mean beta and variance gamma²·var/(var+eps)", async (t) => {
  for (
    const [label, shape, axis] of [
      ["NCHW", [3, 4, 5, 2], 1],
      ["NHWC", [3, 5, 2, 4], -1],
      ["NCL", [4, 4, 6], 1],
      ["NC", [9, 4], 1],
    ] as const
  ) {
    await t.step(label, () => {
      const x = randomTensor("float64", [...shape], 7, 3, 6);
      const gamma = [0.5, 2, -1, 1.5], beta = [0, 1, -2, 0.25], eps = 1e-3;
      const { y } = batchNormTrain(x, { gamma, beta }, { axis, epsilon: eps });
      for (let c = 0; c < 4; c++) {
        const v = variance(channelValues(x, axis, c));
        assertAlmostEquals(mean(channelValues(y, axis, c)), beta[c], 1e-12);
        assertAlmostEquals(
          variance(channelValues(y, axis, c)),
          gamma[c] ** 2 * v / (v + eps),
          1e-12,
        );
      }
    });
  }
});

Deno.test("batchNormTrain() epsilon placement: inside the root vs outside", () => {
  const x = tensor("float64", [2, 1], [-1, 1]); // variance 1, mean 0
  const inside = batchNormTrain(x, { gamma: [1], beta: [0] }, {
    epsilon: 0.44,
  });
  const outside = batchNormTrain(x, { gamma: [1], beta: [0] }, {
    epsilon: 0.44,
    epsilonPlacement: "outside",
  });
  assertAlmostEquals(inside.y.data[1], 1 / Math.sqrt(1.44), 1e-15);
  assertAlmostEquals(outside.y.data[1], 1 / 1.44, 1e-15);
});

const ONNX_M = Math.fround(0.9), TF_F = Math.fround(1 - 0.99); // float32 attribute values

Deno.test("batchNormTrain() running statistics under each momentum parameterisation", async (t) => {
  const x = tensor("float64", [4, 1], [1, 2, 3, 6]); // mean 3, biased var 3.5, n = 4
  const state = { gamma: [1], beta: [0], runningMean: [10], runningVar: [2] };
  const cases: [string, ConventionInput, number, number][] = [
    [
      "new 0.1, Bessel",
      "pytorch",
      0.9 * 10 + 0.1 * 3,
      0.9 * 2 + 0.1 * 3.5 * 4 / 3,
    ],
    ["old fround(0.9), biased (onnx)", "onnx", ONNX_M * 10 + (1 - ONNX_M) * 3, ONNX_M * 2 + (1 - ONNX_M) * 3.5],
    [
      "old 0.99, biased (keras)",
      { base: "keras", axis: 1 },
      0.99 * 10 + 0.01 * 3,
      0.99 * 2 + 0.01 * 3.5,
    ],
    [
      "new 1-0.99, clamped Bessel (tensorflow)",
      { base: "tensorflow", axis: 1 },
      (1 - TF_F) * 10 + TF_F * 3,
      (1 - TF_F) * 2 + TF_F * 3.5 * 4 / 3,
    ],
    ["new 0 freezes", { momentum: 0 }, 10, 2],
    ["new 1 replaces", { momentum: 1 }, 3, 3.5 * 4 / 3],
    ["old 0 replaces", { base: "onnx", momentum: 0 }, 3, 3.5],
  ];
  for (const [name, convention, m, v] of cases) {
    await t.step(name, () => {
      const r = batchNormTrain(x, state, convention).state;
      assertAlmostEquals(r.runningMean![0], m, 1e-14);
      assertAlmostEquals(r.runningVar![0], v, 1e-14);
      assertEquals(r.numBatchesTracked, 1);
    });
  }
});

Deno.test("batchNormTrain() cumulative momentum averages every batch so far", () => {
  const conv: ConventionInput = {
    momentum: null,
    momentumKind: "cumulative",
    runningVariance: "biased",
  };
  let state = {
    gamma: [1],
    beta: [0],
    runningMean: [123],
    runningVar: [456],
    numBatchesTracked: 0,
  };
  const means: number[] = [], vars: number[] = [];
  for (let k = 0; k < 5; k++) {
    const x = randomTensor("float64", [6, 1], 100 + k, k, 3);
    means.push(mean([...x.data]));
    vars.push(variance([...x.data]));
    const r = batchNormTrain(x, state, conv).state;
    state = {
      ...state,
      runningMean: Array.from(r.runningMean!),
      runningVar: Array.from(r.runningVar!),
      numBatchesTracked: r.numBatchesTracked,
    };
  }
  assertAlmostEquals(state.runningMean[0], mean(means), 1e-14);
  assertAlmostEquals(state.runningVar[0], mean(vars), 1e-14);
  assertEquals(state.numBatchesTracked, 5);
});

Deno.test("batchNormTrain() TF's clamped Bessel factor gives variance 0 for one value per channel", () => {
  const r = batchNormTrain(tensor("float32", [1, 1, 1, 2], [5, -3]), {
    gamma: [2, 2],
    beta: [0.5, -1],
  }, "tensorflow");
  assertEquals([...r.y.data], [0.5, -1]);
  assertEquals([...r.batchVar.data], [0, 0]);
  assertAlmostEquals(r.state.runningVar![0], 0.99, 1e-7);
});

Deno.test("batchNormTrain() zero variance and zero epsilon: PyTorch's invstd 0 vs IEEE", () => {
  const x = tensor("float64", [3, 1], [2, 2, 2]);
  const pt = batchNormTrain(x, { gamma: [3], beta: [0.5] }, { epsilon: 0 });
  assertEquals([...pt.y.data], [0.5, 0.5, 0.5]);
  assertEquals(pt.invStd.data[0], 0);
  const ieee = batchNormTrain(x, { gamma: [3], beta: [0.5] }, {
    epsilon: 0,
    zeroVarianceInvStd: "ieee",
  });
  assert(ieee.y.data.every(Number.isNaN));
});

Deno.test("batchNormInference() with the batch's statistics as running statistics equals training output", () => {
  const x = randomTensor("float64", [5, 3, 4], 11, 1, 5);
  const state = { gamma: [1.5, 0.5, 2], beta: [0, -1, 1] };
  const train = batchNormTrain(x, state, { affine: true });
  const inf = batchNormInference(x, {
    ...state,
    runningMean: train.batchMean.data,
    runningVar: train.batchVar.data,
  });
  for (let i = 0; i < x.data.length; i++) {
    assertAlmostEquals(inf.y.data[i], train.y.data[i], 1e-13);
  }
});

Deno.test("batchNormInference() without tracked statistics normalizes with the batch's", () => {
  const x = randomTensor("float32", [6, 2], 3);
  const state = { gamma: [1, 1], beta: [0, 0] };
  const a = batchNormInference(x, state, { trackRunningStats: false }).y;
  const b = batchNormTrain(x, state, { trackRunningStats: false });
  assertEquals([...a.data], [...b.y.data]);
  assertEquals(b.state.runningMean, null);
  assertEquals(b.state.numBatchesTracked, 0);
});

Deno.test("batchNormTrain() float32 output is correctly rounded on a large-mean input", () => {
  // 1e4 + small noise: E[x²]-E[x]² would cancel completely in float32.
  const r = stream(5);
  const values = Array.from(
    { length: 64 },
    () => Math.fround(1e4 + 1e-3 * r()),
  );
  const x = tensor("float32", [64, 1], values);
  const { y } = batchNormTrain(x, { gamma: [1], beta: [0] }, { epsilon: 0 });
  const m = mean(values), sd = Math.sqrt(variance(values));
  for (let i = 0; i < 64; i++) {
    assertEquals(y.data[i], Math.fround((values[i] - m) / sd));
  }
});

/** Central finite differences of L = sum(y·dy) in float64. */
function numericGradient(
  f: (x: number[]) => number,
  at: number[],
  h = 1e-6,
): number[] {
  return at.map((_, i) => {
    const p = [...at], q = [...at];
    p[i] += h;
    q[i] -= h;
    return (f(p) - f(q)) / (2 * h);
  });
}

Deno.test("batchNormBackward() agrees with finite differences", async (t) => {
  const conventions: [string, ConventionInput, "train" | "eval"][] = [
    ["train, eps inside", { epsilon: 1e-3 }, "train"],
    [
      "train, eps outside",
      { epsilon: 1e-3, epsilonPlacement: "outside" },
      "train",
    ],
    ["eval, running statistics", { epsilon: 1e-3 }, "eval"],
    ["eval, untracked (batch statistics)", {
      epsilon: 1e-3,
      trackRunningStats: false,
    }, "eval"],
  ];
  const shape = [3, 2, 2];
  const x0 = [...randomTensor("float64", shape, 21, 0.5, 3).data];
  const dy = tensor("float64", shape, [
    ...randomTensor("float64", shape, 22).data,
  ]);
  const gamma = [1.5, -0.7], beta = [0.2, 0.1];
  const state = {
    gamma,
    beta,
    runningMean: [0.3, -0.2],
    runningVar: [1.3, 0.6],
  };
  for (const [name, conv, mode] of conventions) {
    await t.step(name, () => {
      const loss = (xs: number[], g = gamma, b = beta) => {
        const xt = tensor("float64", shape, xs);
        const s = { ...state, gamma: g, beta: b };
        const y = mode === "train" ? batchNormTrain(xt, s, conv).y : batchNormInference(xt, s, conv).y;
        return Array.from(y.data).reduce((a, v, i) => a + v * dy.data[i], 0);
      };
      const got = batchNormBackward(
        tensor("float64", shape, x0),
        dy,
        state,
        mode,
        conv,
      );
      const dx = numericGradient((xs) => loss(xs), x0);
      dx.forEach((v, i) => assertAlmostEquals(got.dx.data[i], v, 1e-7));
      const dg = numericGradient((g) => loss(x0, g), gamma);
      dg.forEach((v, i) => assertAlmostEquals(got.dgamma!.data[i], v, 1e-7));
      const db = numericGradient((b) => loss(x0, gamma, b), beta);
      db.forEach((v, i) => assertAlmostEquals(got.dbeta!.data[i], v, 1e-7));
    });
  }
});

Deno.test("batchNormBackward() constant channel: y = beta yet dx = gamma/sqrt(eps)·(dy - mean(dy))", () => {
  const x = tensor("float64", [4, 1], [3, 3, 3, 3]);
  const dy = tensor("float64", [4, 1], [1, -2, 0.5, 4]);
  const eps = 1e-3, gamma = 2;
  const { dx } = batchNormBackward(
    x,
    dy,
    { gamma: [gamma], beta: [1] },
    "train",
    { epsilon: eps },
  );
  const m = (1 - 2 + 0.5 + 4) / 4;
  [...dy.data].forEach((g, i) => assertAlmostEquals(dx.data[i], gamma / Math.sqrt(eps) * (g - m), 1e-12));
});

Deno.test("batchNormBackward() without affine has no dgamma or dbeta", () => {
  const x = randomTensor("float32", [4, 2], 9);
  const r = batchNormBackward(x, x, {}, "train", { affine: false });
  assertEquals([r.dgamma, r.dbeta], [null, null]);
});

Deno.test("batchNormTrain() on an empty batch under each emptyBatch convention", async (t) => {
  const x = tensor("float32", [0, 2], []);
  const state = { gamma: [1, 1], beta: [0, 0], runningMean: [0.5, -1], runningVar: [2, 3], numBatchesTracked: 4 };
  await t.step("unchanged (PyTorch): running statistics kept, the call counted", () => {
    const r = batchNormTrain(x, state, "pytorch");
    assertEquals(r.y.data.length, 0);
    assertEquals([Array.from(r.state.runningMean!), Array.from(r.state.runningVar!), r.state.numBatchesTracked], [
      [0.5, -1],
      [2, 3],
      5,
    ]);
  });
  await t.step("zero (TF.js): batch mean and variance 0 enter the moving averages", () => {
    const r = batchNormTrain(x, state, { base: "keras", axis: 1 });
    assertEquals(Array.from(r.state.runningMean!), [0.5 * 0.99, -1 * 0.99].map(Math.fround));
    assertEquals(Array.from(r.state.runningVar!), [2 * 0.99, 3 * 0.99].map(Math.fround));
  });
  await t.step("nan (onnxruntime, TensorFlow): running statistics become NaN", () => {
    const r = batchNormTrain(x, state, "onnx");
    assert([...Array.from(r.state.runningMean!), ...Array.from(r.state.runningVar!)].every(Number.isNaN));
  });
});

Deno.test("rank 1 (format 1.3): axis 0 is the channel axis, each value normalized with its own running statistics", () => {
  const x = tensor("float64", [3], [1, -2, 4]), dy = tensor("float64", [3], [1, 1, -2]);
  const state = { gamma: [2, 1, 0.5], beta: [0, 1, -1], runningMean: [0.5, 0, 1], runningVar: [4, 1, 0.25] };
  for (const axis of [0, -1]) {
    const convention = { base: "keras" as const, axis, epsilon: 0 };
    const { y } = batchNormInference(x, state, convention);
    // (x − m)/sqrt(v)·γ + β, exact here: sqrt of 4, 1 and 0.25.
    assertEquals(Array.from(y.data), [(1 - 0.5) / 2 * 2, -2 + 1, (4 - 1) / 0.5 * 0.5 - 1]);
    const { dx, dgamma, dbeta } = batchNormBackward(x, dy, state, "eval", convention);
    assertEquals(Array.from(dx.data), [1 / 2 * 2, 1, -2 / 0.5 * 0.5]);
    assertEquals(Array.from(dbeta!.data), [1, 1, -2]);
    assertEquals(Array.from(dgamma!.data), [0.25, -2, -12]);
  }
});
