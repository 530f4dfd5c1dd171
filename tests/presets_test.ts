/**
 * Presets name the framework versions they describe (PRESET_WITNESSES): every witness record points at fixture files
 * whose provenance is that framework at that version (composed where it says so) and whose cases follow the preset's
 * convention; `framework@version` resolves to the preset of that version, TensorFlow's epsilon floor included, and a
 * version no preset describes is refused with the choices.
 */
import { assert, assertEquals, assertThrows } from "@std/assert";
import {
  type BatchNormConvention,
  BatchNormError,
  FIXTURES_URL,
  loadFixture,
  PRESET_WITNESSES,
  type PresetName,
  PRESETS,
  resolveConvention,
} from "../mod.ts";

// The fields that tell conventions apart; axis, epsilon, momentum, affine, tracking and the empty-batch rule are
// per-call options every framework takes (the keras and onnx presets differ only in those defaults).
const CORE = [
  "momentumKind",
  "runningVariance",
  "epsilonPlacement",
  "zeroVarianceInvStd",
  "singleValueTraining",
] as const;
const follows = (c: BatchNormConvention, p: BatchNormConvention) =>
  CORE.every((k) => c[k] === p[k]) && Math.max(c.epsilon, c.epsilonFloor) === Math.max(c.epsilon, p.epsilonFloor);

Deno.test("every preset's witnesses are fixture files of that framework and version that follow the preset", async () => {
  assertEquals(Object.keys(PRESET_WITNESSES).sort(), Object.keys(PRESETS).sort());
  for (const [name, w] of Object.entries(PRESET_WITNESSES) as [PresetName, (typeof PRESET_WITNESSES)[PresetName]][]) {
    assert(w.witnessed.length > 0, name);
    for (const witness of w.witnessed) {
      assert(witness.fixtures.length > 0, `${name}: ${witness.framework}`);
      for (const path of witness.fixtures) {
        const file = await loadFixture(new URL(path, FIXTURES_URL));
        assertEquals(file.provenance.composed, witness.composed === true, `${name}: ${path}`);
        for (const v of witness.versions) {
          const version = v.split(" ")[0];
          assert(file.provenance.version.includes(version), `${name}: ${path} is ${file.provenance.version}, not ${v}`);
        }
        const own = file.cases.filter((c) => follows(c.convention, PRESETS[name]));
        assert(own.length > 0, `${name}: no case of ${path} follows the preset`);
      }
    }
  }
});

Deno.test("the two TensorFlow presets: the floor is the only difference, and real 2.21 runs follow the floorless one", async () => {
  const { epsilonFloor, ...rest } = PRESETS["tensorflow@<=2.11"];
  assertEquals(epsilonFloor, Math.fround(1.001e-5));
  const { epsilonFloor: none, ...current } = PRESETS.tensorflow;
  assertEquals([none, rest], [0, current]);
  // A real TensorFlow 2.21 case with epsilon below the floor (1e-5 and smaller are in the fused fixtures): it follows
  // the current preset, and the <= 2.11 one would change its epsilon.
  const real = await loadFixture(new URL("tensorflow/fused_batch_norm.json", FIXTURES_URL));
  const below = real.cases.filter((c) => c.convention.epsilon < PRESETS["tensorflow@<=2.11"].epsilonFloor);
  assert(below.length > 0, "no real case below the floor");
  for (const c of below) {
    assert(follows(c.convention, PRESETS.tensorflow) && !follows(c.convention, PRESETS["tensorflow@<=2.11"]), c.name);
  }
});

Deno.test("framework@version resolves to the preset of that version; a version no preset describes is refused", () => {
  const cases: [string, PresetName][] = [
    ["tensorflow@2.11", "tensorflow@<=2.11"],
    ["tensorflow@2.11.1", "tensorflow@<=2.11"],
    ["tensorflow@1.15", "tensorflow@<=2.11"],
    ["tensorflow@2.12", "tensorflow"],
    ["tensorflow@2.12.0", "tensorflow"],
    ["tensorflow@2.21.0", "tensorflow"],
    ["pytorch@1.13", "pytorch"],
    ["onnx@1.12", "onnx"],
  ];
  for (const [name, preset] of cases) assert(resolveConvention(name as never) === PRESETS[preset], name);
  assertEquals(resolveConvention({ base: "tensorflow@2.5", epsilon: 1e-6 }).epsilonFloor, Math.fround(1.001e-5));
  // 2.22 is not known: refused, listing both TensorFlow presets and what they describe.
  const e = assertThrows(() => resolveConvention("tensorflow@2.22" as never), BatchNormError);
  assert(e.message.includes("no preset describes tensorflow 2.22"), e.message);
  assert(
    e.message.includes('"tensorflow" (TensorFlow 2.12 to 2.21') && e.message.includes('"tensorflow@<=2.11"'),
    e.message,
  );
  assertThrows(() => resolveConvention("tensorflow@latest" as never), BatchNormError, "is not a version like 2.11");
  // Keras 2 needs more than a version: its fused layers are TensorFlow's kernel. Keras 3 is the keras preset.
  assert(resolveConvention("keras@3.15.1" as never) === PRESETS.keras);
  const k2 = assertThrows(() => resolveConvention("keras@2.21" as never), BatchNormError);
  assert(
    k2.message.includes('follows "tensorflow" in its fused layers') && k2.message.includes('"keras" ('),
    k2.message,
  );
  assertThrows(() => resolveConvention("caffe@1.0" as never), BatchNormError, "unknown framework");
  assertThrows(() => resolveConvention("tensorflow2" as never), BatchNormError, "unknown preset");
});
