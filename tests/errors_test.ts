import { assert, assertEquals, assertThrows } from "@std/assert";
import {
  batchNormBackward,
  BatchNormError,
  batchNormInference,
  type BatchNormState,
  batchNormTrain,
  type ConventionInput,
  type Tensor,
  tensor,
} from "../mod.ts";

const x = tensor("float32", [2, 3], [1, 2, 3, 4, 5, 6]);
const ok: BatchNormState = {
  gamma: [1, 1, 1],
  beta: [0, 0, 0],
  runningMean: [0, 0, 0],
  runningVar: [1, 1, 1],
};

type Row = [name: string, call: () => unknown, field: string, code: string];

const rows: Row[] = [
  [
    "data shorter than the shape",
    () =>
      batchNormTrain(
        { dtype: "float32", shape: [2, 3], data: [1, 2, 3, 4, 5] },
        ok,
      ),
    "x.data",
    "shape_mismatch",
  ],
  [
    "negative dimension",
    () => batchNormTrain({ dtype: "float32", shape: [2, -3], data: [] }, ok),
    "x.shape[1]",
    "invalid_shape",
  ],
  [
    "fractional dimension",
    () => batchNormTrain({ dtype: "float32", shape: [2.5, 3], data: [] }, ok),
    "x.shape[0]",
    "invalid_shape",
  ],
  [
    "rank 0",
    () => batchNormTrain({ dtype: "float32", shape: [], data: [1] }, ok),
    "x.shape",
    "invalid_shape",
  ],
  [
    // Rank 1 (format 1.3) has one axis, 0, the channel axis: the preset's axis 1 does not exist there.
    "rank 1 with axis 1",
    () => batchNormTrain({ dtype: "float32", shape: [3], data: [1, 2, 3] }, ok),
    "convention.axis",
    "invalid_axis",
  ],
  [
    // Training on rank 1 is over one value per channel: refused under PyTorch's rule.
    "rank 1 in training",
    () => batchNormTrain({ dtype: "float32", shape: [3], data: [1, 2, 3] }, ok, { base: "pytorch", axis: 0 }),
    "x.shape",
    "single_value_per_channel",
  ],
  [
    "unsupported dtype",
    () =>
      batchNormTrain(
        {
          dtype: "int8",
          shape: [2, 3],
          data: [1, 2, 3, 4, 5, 6],
        } as unknown as Tensor,
        ok,
      ),
    "x.dtype",
    "unsupported_dtype",
  ],
  [
    "value not of the dtype",
    () =>
      batchNormTrain({
        dtype: "float32",
        shape: [2, 3],
        data: [1, 2, 0.1, 4, 5, 6],
      }, ok),
    "x.data[2]",
    "not_representable",
  ],
  [
    "non-number value",
    () =>
      batchNormTrain({
        dtype: "float64",
        shape: [1, 2],
        data: [1, "2"] as unknown as number[],
      }, ok),
    "x.data[1]",
    "not_representable",
  ],
  [
    "axis beyond the rank",
    () => batchNormTrain(x, ok, { axis: 2 }),
    "convention.axis",
    "invalid_axis",
  ],
  [
    "axis below minus the rank",
    () => batchNormTrain(x, ok, { axis: -3 }),
    "convention.axis",
    "invalid_axis",
  ],
  [
    "axis on the batch",
    () => batchNormTrain(x, ok, { axis: 0 }),
    "convention.axis",
    "invalid_axis",
  ],
  [
    "gamma with the wrong channel count",
    () => batchNormTrain(x, { ...ok, gamma: [1, 1] }),
    "state.gamma",
    "channel_mismatch",
  ],
  [
    "beta with the wrong channel count",
    () => batchNormTrain(x, { ...ok, beta: [0, 0, 0, 0] }),
    "state.beta",
    "channel_mismatch",
  ],
  [
    "missing gamma when affine",
    () => batchNormTrain(x, { beta: [0, 0, 0] }),
    "state.gamma",
    "missing_state",
  ],
  [
    "running mean with the wrong channel count",
    () => batchNormTrain(x, { ...ok, runningMean: [0] }),
    "state.runningMean",
    "channel_mismatch",
  ],
  [
    "running var with the wrong channel count (inference)",
    () => batchNormInference(x, { ...ok, runningVar: [1, 1] }),
    "state.runningVar",
    "channel_mismatch",
  ],
  [
    "negative running variance (training)",
    () => batchNormTrain(x, { ...ok, runningVar: [1, -0.5, 1] }),
    "state.runningVar[1]",
    "negative_variance",
  ],
  [
    "negative running variance (inference)",
    () => batchNormInference(x, { ...ok, runningVar: [1, 1, -1] }),
    "state.runningVar[2]",
    "negative_variance",
  ],
  [
    "missing running statistics in inference",
    () => batchNormInference(x, { gamma: [1, 1, 1], beta: [0, 0, 0] }),
    "state.runningMean",
    "missing_state",
  ],
  [
    "gamma value not of the dtype",
    () => batchNormTrain(x, { ...ok, gamma: [1, 0.1, 1] }),
    "state.gamma[1]",
    "not_representable",
  ],
  [
    "negative numBatchesTracked",
    () => batchNormTrain(x, { ...ok, numBatchesTracked: -1 }),
    "state.numBatchesTracked",
    "invalid_option",
  ],
  [
    "negative epsilon",
    () => batchNormTrain(x, ok, { epsilon: -1 }),
    "convention.epsilon",
    "invalid_epsilon",
  ],
  [
    "non-finite epsilon",
    () => batchNormInference(x, ok, { epsilon: NaN }),
    "convention.epsilon",
    "invalid_epsilon",
  ],
  [
    "momentum the parameterisation cannot take",
    () => batchNormTrain(x, ok, { momentum: null }),
    "convention.momentum",
    "invalid_momentum",
  ],
  [
    "one value per channel in training (pytorch)",
    () => batchNormTrain(tensor("float32", [1, 3], [1, 2, 3]), ok),
    "x.shape",
    "single_value_per_channel",
  ],
  [
    "Bessel factor with one value per channel",
    () =>
      batchNormTrain(tensor("float32", [1, 3], [1, 2, 3]), ok, {
        singleValueTraining: "allow",
      }),
    "convention.runningVariance",
    "single_value_per_channel",
  ],
  [
    "empty batch in training under emptyBatch: error",
    () => batchNormTrain(tensor("float32", [0, 3], []), ok, { emptyBatch: "error" }),
    "x.shape",
    "empty_batch",
  ],
  [
    "dy shaped unlike x",
    () =>
      batchNormBackward(
        x,
        tensor("float32", [3, 2], [1, 1, 1, 1, 1, 1]),
        ok,
        "train",
      ),
    "dy.shape",
    "shape_mismatch",
  ],
  [
    "dy of another dtype",
    () =>
      batchNormBackward(
        x,
        tensor("float64", [2, 3], [1, 1, 1, 1, 1, 1]),
        ok,
        "train",
      ),
    "dy.dtype",
    "shape_mismatch",
  ],
  [
    "unknown backward mode",
    () => batchNormBackward(x, x, ok, "test" as never),
    "mode",
    "invalid_option",
  ],
  [
    "unknown preset",
    () => batchNormTrain(x, ok, "caffe" as ConventionInput),
    "convention",
    "invalid_option",
  ],
];

Deno.test("batchNorm*() refuse bad input with a BatchNormError naming the field", async (t) => {
  for (const [name, call, field, code] of rows) {
    await t.step(name, () => {
      const e = assertThrows(call, BatchNormError);
      assertEquals(e.field, field, e.message);
      assertEquals(e.code, code, e.message);
      assert(
        e.message.startsWith(`${field}: `) && e.message.includes("(got "),
        e.message,
      );
    });
  }
});

Deno.test("batchNormTrain() leaves its input state untouched, also when it throws", () => {
  const state = {
    gamma: [1, 1, 1],
    beta: [0, 0, 0],
    runningMean: [0, 0, 0],
    runningVar: [1, 1, 1],
    numBatchesTracked: 4,
  };
  const copy = structuredClone(state);
  batchNormTrain(x, state);
  assertThrows(
    () => batchNormTrain(tensor("float32", [1, 3], [1, 2, 3]), state),
    BatchNormError,
  );
  assertEquals(state, copy);
});
