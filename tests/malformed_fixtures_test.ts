/**
 * Malformed fixtures are refused with a FixtureError naming the file and the JSON
 * path: 40+ corruptions generated from a valid fixture, each refused, none crashing.
 * Also: an edited fixture fails its hash, a missing one is named, and the fixture
 * writer replaces files atomically.
 */
import { assert, assertEquals, assertRejects, assertStringIncludes, assertThrows } from "@std/assert";
import { FixtureError, loadAllFixtures, parseFixture } from "../mod.ts";
import { writeAtomic } from "../scripts/generators/_fixture_io.ts";

const root = new URL("../", import.meta.url);
const raw = JSON.parse(await Deno.readTextFile(new URL("fixtures/pytorch/batchnorm2d.json", root)));
// A valid base: one float32 training sequence (with twins, dy, num_batches_tracked) and one refusal.
const base = {
  ...raw,
  cases: [
    raw.cases.find((c: { name: string }) =>
      c.name === "pytorch BatchNorm2d float32 2x3x4x5 train x3 then eval momentum=0.1"
    ),
    raw.cases.find((c: { name: string }) => c.name.includes("1x3x1x1 train refuses")),
  ],
};
// deno-lint-ignore no-explicit-any
type Doc = any;
const step0 = (d: Doc) => d.cases[0].steps[0];

const CORRUPTIONS: [string, (d: Doc) => Doc | string][] = [
  ["truncated JSON", (d) => JSON.stringify(d).slice(0, 5000)],
  ["empty file", () => ""],
  ["a JSON array at the top", () => "[]"],
  ["wrong format name", (d) => ({ ...d, format: "onnx-test" })],
  ["missing format_version", (d) => (delete d.format_version, d)],
  ["unknown format major version", (d) => ({ ...d, format_version: "2.0" })],
  ["format_version not a string", (d) => ({ ...d, format_version: 1 })],
  ["missing provenance", (d) => (delete d.provenance, d)],
  ["provenance without framework", (d) => (delete d.provenance.framework, d)],
  ["provenance without version", (d) => (delete d.provenance.version, d)],
  ["provenance with a negative seed", (d) => ((d.provenance.seed = -1), d)],
  ["provenance composed not a boolean", (d) => ((d.provenance.composed = "no"), d)],
  ["cases not an array", (d) => ({ ...d, cases: {} })],
  ["case without a name", (d) => (delete d.cases[0].name, d)],
  ["duplicate case names", (d) => ((d.cases[1].name = d.cases[0].name), d)],
  ["unknown dtype", (d) => ((d.cases[0].dtype = "int8"), d)],
  ["unknown feature", (d) => (d.cases[0].features.push("turbo"), d)],
  ["config without axis", (d) => (delete d.cases[0].config.axis, d)],
  ["unknown epsilon placement", (d) => ((d.cases[0].config.epsilon_placement = "beside"), d)],
  ["momentum null with momentum_kind new", (d) => ((d.cases[0].config.momentum = null), d)],
  ["unknown momentum_kind", (d) => ((d.cases[0].config.momentum_kind = "average"), d)],
  ["unknown empty_batch", (d) => ((d.cases[0].config.empty_batch = "skip"), d)],
  ["data one value short of the shape", (d) => (step0(d).inputs.x.data.pop(), d)],
  ["negative shape entry", (d) => ((step0(d).inputs.x.shape[0] = -2), d)],
  ["fractional shape entry", (d) => ((step0(d).inputs.x.shape[0] = 2.5), d)],
  ["NaN spelt nan", (d) => ((step0(d).inputs.x.data[3] = "nan"), d)],
  ["infinity spelt inf", (d) => ((step0(d).inputs.x.data[3] = "inf"), d)],
  ["a boolean among the numbers", (d) => ((step0(d).inputs.x.data[3] = true), d)],
  ["a value not representable in float32", (d) => ((step0(d).inputs.x.data[3] = 0.1), d)],
  ["input tensor in another dtype", (d) => ((step0(d).inputs.x.dtype = "float16"), d)],
  ["unknown output name", (d) => ((step0(d).expected.z = step0(d).expected.y), d)],
  ["no steps", (d) => ((d.cases[0].steps = []), d)],
  ["unknown mode", (d) => ((step0(d).mode = "test"), d)],
  [
    "expected and expected_error together",
    (d) => ((step0(d).expected_error = { code: "empty_batch", type: "E", message: "m" }), d),
  ],
  ["neither expected nor expected_error", (d) => (delete step0(d).expected, delete step0(d).expected_float64, d)],
  ["expected error with no message", (d) => ((d.cases[1].steps[0].expected_error.message = ""), d)],
  ["expected error without a code", (d) => (delete d.cases[1].steps[0].expected_error.code, d)],
  [
    "steps out of order",
    (d) => ([d.cases[0].steps[0], d.cases[0].steps[1]] = [d.cases[0].steps[1], d.cases[0].steps[0]], d),
  ],
  ["num_batches_tracked on an inference step", (d) => ((d.cases[0].steps[3].expected.num_batches_tracked = 4), d)],
  ["y shaped unlike x", (d) => ((step0(d).expected.y.shape = [120]), d)],
  ["a twin missing an output", (d) => (delete step0(d).expected_float64.dx, d)],
  ["dy shaped unlike x", (d) => ((step0(d).inputs.dy.shape = [2, 3, 20]), d)],
  ["initial gamma with too few values", (d) => (d.cases[0].initial_state.gamma.data.pop(), d)],
  ["framework_defect without a summary", (d) => ((d.cases[0].framework_defect = { issue: "x" }), d)],
];

Deno.test("parseFixture() refuses every corruption with a FixtureError naming the file and the JSON path", async (t) => {
  assert(CORRUPTIONS.length >= 30);
  parseFixture(JSON.stringify(base), "base.json"); // the base itself is valid
  for (const [name, corrupt] of CORRUPTIONS) {
    await t.step(name, () => {
      const out = corrupt(structuredClone(base));
      const text = typeof out === "string" ? out : JSON.stringify(out);
      const e = assertThrows(() => parseFixture(text, "corrupt.json"), FixtureError);
      assert(e.message.startsWith("corrupt.json: $"), e.message);
      assertEquals(e.file, "corrupt.json");
      assert(e.path.startsWith("$"), e.path);
    });
  }
});

async function copyFixtures(edit?: (text: string) => string): Promise<URL> {
  const dir = await Deno.makeTempDir({ dir: new URL("tests/testdata", root).pathname, prefix: "fixtures-" });
  const base = new URL(`file://${dir}/`);
  await Deno.mkdir(new URL("onnx-testdata", base));
  const index = JSON.parse(await Deno.readTextFile(new URL("fixtures/index.json", root)));
  index.files = index.files.filter((f: { path: string }) => f.path === "onnx-testdata/batch_normalization.json");
  await Deno.writeTextFile(new URL("index.json", base), JSON.stringify(index));
  const text = await Deno.readTextFile(new URL("fixtures/onnx-testdata/batch_normalization.json", root));
  await Deno.writeTextFile(new URL("onnx-testdata/batch_normalization.json", base), edit ? edit(text) : text);
  return base;
}

Deno.test("loadAllFixtures() refuses a fixture edited after its hash was recorded, naming the file", async () => {
  const untouched = await copyFixtures();
  const edited = await copyFixtures((text) => text.replace('"epsilon": 0.009999999776482582', '"epsilon": 0.01'));
  try {
    assertEquals((await loadAllFixtures(untouched)).length, 1);
    const e = await assertRejects(() => loadAllFixtures(edited), FixtureError);
    assertStringIncludes(e.message, "onnx-testdata/batch_normalization.json: $: SHA-256");
    assertStringIncludes(e.message, "was edited or damaged");
  } finally {
    await Deno.remove(new URL(untouched).pathname, { recursive: true });
    await Deno.remove(new URL(edited).pathname, { recursive: true });
  }
});

Deno.test("loadAllFixtures() names a fixture listed in the index but missing", async () => {
  const dir = await copyFixtures();
  await Deno.remove(new URL("onnx-testdata/batch_normalization.json", dir));
  try {
    const e = await assertRejects(() => loadAllFixtures(dir), FixtureError);
    assertStringIncludes(e.message, "onnx-testdata/batch_normalization.json: $: could not be loaded");
  } finally {
    await Deno.remove(new URL(dir).pathname, { recursive: true });
  }
});

Deno.test("writeAtomic() leaves the previous file intact when the write is interrupted", async () => {
  const dir = await Deno.makeTempDir({ dir: new URL("tests/testdata", root).pathname, prefix: "atomic-" });
  const file = new URL(`file://${dir}/fixture.json`);
  await Deno.writeTextFile(file, "previous");
  const rename = Deno.renameSync;
  try {
    // Interrupt between writing the new content and putting it in place.
    (Deno as { renameSync: typeof Deno.renameSync }).renameSync = () => {
      throw new Error("interrupted");
    };
    assertThrows(() => writeAtomic(file, "new content"), Error, "interrupted");
    assertEquals(await Deno.readTextFile(file), "previous");
  } finally {
    (Deno as { renameSync: typeof Deno.renameSync }).renameSync = rename;
    await Deno.remove(dir, { recursive: true });
  }
  // And uninterrupted, the new content replaces the old in one rename.
  const dir2 = await Deno.makeTempDir({ dir: new URL("tests/testdata", root).pathname, prefix: "atomic-" });
  const file2 = new URL(`file://${dir2}/fixture.json`);
  await Deno.writeTextFile(file2, "previous");
  writeAtomic(file2, "new content");
  assertEquals(await Deno.readTextFile(file2), "new content");
  assertEquals([...Deno.readDirSync(dir2)].map((e) => e.name), ["fixture.json"]);
  await Deno.remove(dir2, { recursive: true });
});
