/**
 * TensorFlow conventions: TF.js live (its outputs reproduce byte for byte, its
 * refusals too, its defaults are TF's), and the presets that describe TF.js/Keras,
 * the real TensorFlow 2.21 fused kernel and the composed TensorFlow <= 2.11 one.
 */
import { assert, assertEquals } from "@std/assert";
import { parseFixture, PRESETS } from "../mod.ts";
import { runTfjsCase, TFJS_CASES, TFJS_EDGE_CASES } from "../scripts/generators/gen_tfjs.ts";
import { refusals, TfjsLayer, useCpu } from "../scripts/runners/tfjs.ts";

const root = new URL("../", import.meta.url);
const read = (path: string) => Deno.readTextFileSync(new URL(path, root));
const SPECIAL: Record<string, number> = { NaN: NaN, Infinity: Infinity, "-Infinity": -Infinity };
/** Raw fixture JSON with the format's non-finite strings turned back into numbers. */
const parseRaw = (text: string) => JSON.parse(text, (_, v) => (typeof v === "string" && v in SPECIAL ? SPECIAL[v] : v));
const tfjsDoc = parseRaw(read("fixtures/tfjs/batch_normalization.json"));
const tfjs = parseFixture(read("fixtures/tfjs/batch_normalization.json"), "tfjs");
const composed = ["fused_batch_norm", "edge_cases"].flatMap((f) =>
  parseFixture(read(`fixtures/tensorflow-composed/${f}.json`), "tensorflow-composed").cases
);
const realFused = parseFixture(read("fixtures/tensorflow/fused_batch_norm.json"), "tensorflow");
const realEdges = parseFixture(read("fixtures/tensorflow/edge_cases.json"), "tensorflow");

const edgeDoc = parseRaw(read("fixtures/tfjs/edge_cases.json"));

Deno.test("TF.js reproduces every recorded tfjs case live, byte for byte", async (t) => {
  assertEquals(TFJS_CASES.length, tfjsDoc.cases.length);
  assertEquals(TFJS_EDGE_CASES.length, edgeDoc.cases.length);
  const all = [
    ...TFJS_CASES.map((c, i) => [c, tfjsDoc.cases[i]] as const),
    ...TFJS_EDGE_CASES.map((c, i) => [c, edgeDoc.cases[i]] as const),
  ];
  for (const [c, doc] of all) {
    await t.step(c.name, async () => {
      const live = await runTfjsCase(c, root);
      const recorded = doc.steps.map((s: { expected: Record<string, { data: number[] }> }) =>
        Object.fromEntries(Object.entries(s.expected).map(([k, v]) => [k, v.data]))
      );
      assertEquals(
        live.map((o) => Object.fromEntries(Object.keys(o).sort().map((k) => [k, Array.from(o[k], Math.fround)]))),
        recorded.map((o: Record<string, number[]>) => Object.fromEntries(Object.keys(o).sort().map((k) => [k, o[k]]))),
      );
    });
  }
});

Deno.test("TF.js refuses, live, what the fixture records as refused", async () => {
  await useCpu();
  assertEquals(refusals(), tfjsDoc.provenance.refused);
});

Deno.test("TF's defaults are epsilon 1e-3 and momentum 0.99 (tf.layers.batchNormalization, live) and the keras preset has them", async () => {
  await useCpu();
  const { epsilon, momentum, axis } = new TfjsLayer([2, 3], {}).config;
  assertEquals([epsilon, momentum, axis], [1e-3, 0.99, -1]);
  assertEquals([PRESETS.keras.epsilon, PRESETS.keras.momentum, PRESETS.keras.axis], [epsilon, momentum, axis]);
  assertEquals(tfjsDoc.provenance.layer_defaults.epsilon, 1e-3);
});

Deno.test("every TF.js case follows the keras preset, with the case's own axis, epsilon, momentum and affine", () => {
  for (const c of tfjs.cases) {
    const { axis, epsilon, momentum, affine } = c.convention;
    assertEquals(c.convention, { ...PRESETS.keras, axis, epsilon, momentum, affine }, c.name);
  }
});

Deno.test("every real TensorFlow 2.21 fused-kernel case follows the tensorflow preset; Keras 2 defaults are the preset itself", () => {
  for (const c of [...realFused.cases, ...realEdges.cases]) {
    const { axis, epsilon, momentum } = c.convention;
    assertEquals(c.convention, { ...PRESETS.tensorflow, axis, epsilon, momentum }, c.name);
  }
  const defaults = realFused.cases.find((c) => c.name.includes("Keras 2 defaults"))!;
  assertEquals(defaults.convention, PRESETS.tensorflow);
});

Deno.test("the composed fused-kernel cases are TensorFlow <= 2.11's: the tensorflow preset with the 1.001e-5 floor, only where the floor matters", () => {
  assert(composed.length > 0);
  for (const c of composed) {
    const { axis, epsilon, momentum } = c.convention;
    assertEquals(
      c.convention,
      { ...PRESETS.tensorflow, axis, epsilon, momentum, epsilonFloor: Math.fround(1.001e-5) },
      c.name,
    );
    assert(c.convention.epsilon < c.convention.epsilonFloor, `${c.name}: the floor does not change this case`);
  }
});

Deno.test("TF.js's cpu kernel NCHW defect: y disagrees with its own formula only where parameters do not run along the last axis", () => {
  const defects = tfjs.cases.filter((c) => c.frameworkDefect);
  assertEquals(defects.map((c) => c.convention.axis), [1, 1]);
  assert(tfjs.cases.filter((c) => c.convention.axis === -1).every((c) => !c.frameworkDefect));
});
