import { assert, assertEquals, assertThrows } from "@std/assert";
import { BatchNormError, conventionToConfig, loadAllFixtures, PRESETS, resolveConvention } from "../mod.ts";

Deno.test("PRESETS carry each framework's defaults", async (t) => {
  await t.step("pytorch", () => {
    const p = PRESETS.pytorch;
    assertEquals([
      p.axis,
      p.epsilon,
      p.momentum,
      p.momentumKind,
      p.runningVariance,
    ], [1, 1e-5, 0.1, "new", "bessel"]);
    assertEquals([
      p.singleValueTraining,
      p.zeroVarianceInvStd,
      p.epsilonPlacement,
    ], ["error", "zero", "inside"]);
  });
  await t.step("tensorflow fused kernel", () => {
    const p = PRESETS.tensorflow;
    assertEquals([
      p.axis,
      p.epsilon,
      p.epsilonFloor,
      p.momentumKind,
      p.runningVariance,
    ], [-1, Math.fround(1e-3), 0, "new", "bessel-clamped"]); // no floor since TensorFlow 2.12 (witnessed on 2.21.0)
    // Keras passes exponential_avg_factor = 1 - momentum; the op stores it as a float32 attribute.
    assertEquals(p.momentum, Math.fround(1 - 0.99));
  });
  await t.step("keras / tf.js", () => {
    const p = PRESETS.keras;
    assertEquals([
      p.axis,
      p.epsilon,
      p.momentum,
      p.momentumKind,
      p.runningVariance,
    ], [-1, 1e-3, 0.99, "old", "biased"]);
  });
  await t.step("onnx", () => {
    const p = PRESETS.onnx;
    assertEquals([
      p.axis,
      p.epsilon,
      p.momentum,
      p.momentumKind,
      p.runningVariance,
    ], [1, Math.fround(1e-5), Math.fround(0.9), "old", "biased"]);
  });
  await t.step("are frozen", () => {
    assert(
      Object.isFrozen(PRESETS) && Object.values(PRESETS).every(Object.isFrozen),
    );
  });
});

Deno.test("resolveConvention() layers overrides over a base preset", () => {
  const c = resolveConvention({ base: "keras", epsilon: 1e-5, axis: 1 });
  assertEquals([c.epsilon, c.axis, c.momentum, c.momentumKind], [
    1e-5,
    1,
    0.99,
    "old",
  ]);
  assertEquals(resolveConvention({}).momentum, PRESETS.pytorch.momentum);
  assertEquals(resolveConvention("onnx"), PRESETS.onnx);
  assertEquals(
    resolveConvention({ momentum: null, momentumKind: "cumulative" }).momentum,
    null,
  );
});

Deno.test("resolveConvention() refuses what no parameterisation can take", async (t) => {
  const cases: [string, unknown, string, string][] = [
    ["unknown preset", "caffe", "convention", "invalid_option"],
    ["unknown base", { base: "mxnet" }, "convention.base", "invalid_option"],
    ["unknown option", { epsilom: 1 }, "convention.epsilom", "invalid_option"],
    [
      "negative epsilon",
      { epsilon: -1e-5 },
      "convention.epsilon",
      "invalid_epsilon",
    ],
    ["NaN epsilon", { epsilon: NaN }, "convention.epsilon", "invalid_epsilon"],
    [
      "infinite epsilon",
      { epsilon: Infinity },
      "convention.epsilon",
      "invalid_epsilon",
    ],
    [
      "negative epsilon floor",
      { epsilonFloor: -1 },
      "convention.epsilonFloor",
      "invalid_epsilon",
    ],
    [
      "momentum null with kind new",
      { momentum: null },
      "convention.momentum",
      "invalid_momentum",
    ],
    [
      "momentum NaN",
      { momentum: NaN },
      "convention.momentum",
      "invalid_momentum",
    ],
    [
      "momentum Infinity with kind old",
      { base: "onnx", momentum: Infinity },
      "convention.momentum",
      "invalid_momentum",
    ],
    [
      "momentum number with kind cumulative",
      { momentumKind: "cumulative" },
      "convention.momentum",
      "invalid_momentum",
    ],
    ["fractional axis", { axis: 1.5 }, "convention.axis", "invalid_axis"],
    [
      "unknown epsilon placement",
      { epsilonPlacement: "between" },
      "convention.epsilonPlacement",
      "invalid_option",
    ],
    [
      "unknown running variance",
      { runningVariance: "unbiased" },
      "convention.runningVariance",
      "invalid_option",
    ],
    [
      "non-boolean affine",
      { affine: 1 },
      "convention.affine",
      "invalid_option",
    ],
  ];
  for (const [name, input, field, code] of cases) {
    await t.step(name, () => {
      const e = assertThrows(
        () => resolveConvention(input as never),
        BatchNormError,
      );
      assertEquals([e.field, e.code], [field, code]);
      assert(e.message.startsWith(`${field}: `), e.message);
    });
  }
});

Deno.test("conventionToConfig writes back exactly the config every fixture case was read from", async () => {
  let compared = 0;
  for (const file of await loadAllFixtures()) {
    const raw = JSON.parse(await Deno.readTextFile(new URL(file.url)));
    for (const [i, c] of file.cases.entries()) {
      const config = raw.cases[i].config;
      // empty_batch is optional since format 1.1; absent reads as "error".
      assertEquals(conventionToConfig(c.convention), { empty_batch: "error", ...config }, c.name);
      compared++;
    }
  }
  assert(compared >= 160, `${compared} cases`);
});
