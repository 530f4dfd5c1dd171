/** Every fixture file against fixtures/schema.json, with a real JSON Schema validator (ajv, draft 2020-12). */
import { assert, assertEquals } from "@std/assert";
import Ajv2020 from "ajv/2020";

const root = new URL("../", import.meta.url);
const schema = JSON.parse(
  await Deno.readTextFile(new URL("fixtures/schema.json", root)),
);
const ajv = new Ajv2020.default({
  allErrors: true,
  strict: true,
  strictTypes: false,
  strictRequired: false,
});
const validate = ajv.compile(schema);
// The schema is open to anyone's provenance; this suite's own files are held to more in this test: a source of
// its own list and a generator under scripts/.
const OUR_SOURCES = [
  "pytorch",
  "pytorch2",
  "tensorflow",
  "tf-keras",
  "keras",
  "flax",
  "tfjs",
  "tensorflow-composed",
  "onnxruntime",
  "onnx-testdata",
  "composed",
];
const validateOurs = ajv.compile({
  allOf: [{ $ref: schema.$id }],
  properties: {
    provenance: {
      properties: { source: { enum: OUR_SOURCES }, generator: { type: "string", pattern: "^scripts/" } },
    },
  },
});
const index = JSON.parse(
  await Deno.readTextFile(new URL("fixtures/index.json", root)),
);

Deno.test("every fixture file listed in fixtures/index.json validates against fixtures/schema.json", async (t) => {
  assert(index.files.length > 0);
  for (const { path } of index.files) {
    await t.step(path, async () => {
      const doc = JSON.parse(
        await Deno.readTextFile(new URL(`fixtures/${path}`, root)),
      );
      const ok = validateOurs(doc);
      assert(ok, ajv.errorsText(validateOurs.errors, { separator: "\n" }));
    });
  }
});

Deno.test("every fixture file on disk is listed in the index", async () => {
  // Graph cases (FORMAT.md "Graph cases") are listed apart, under `graphs`, with their own format.
  const listed = new Set([...index.files, ...(index.graphs ?? [])].map((f: { path: string }) => f.path));
  const onDisk: string[] = [];
  for await (const dir of Deno.readDir(new URL("fixtures/", root))) {
    if (!dir.isDirectory) continue;
    for await (
      const f of Deno.readDir(new URL(`fixtures/${dir.name}/`, root))
    ) {
      if (f.name.endsWith(".json")) onDisk.push(`${dir.name}/${f.name}`);
    }
  }
  assertEquals(onDisk.filter((p) => !listed.has(p)), []);
});

Deno.test("fixtures/schema.json refuses malformed fixtures", async (t) => {
  const base = JSON.parse(
    await Deno.readTextFile(new URL("fixtures/pytorch/functional.json", root)),
  );
  // deno-lint-ignore no-explicit-any
  const breakages: [string, (d: any) => void][] = [
    [
      "NaN spelt as a bare word",
      (d) => (d.cases[0].steps[0].expected.y.data[0] = "nan"),
    ],
    ["unknown dtype", (d) => (d.cases[0].dtype = "int8")],
    ["missing provenance version", (d) => delete d.provenance.version],
    ["unknown feature", (d) => d.cases[0].features.push("fast")],
    [
      "momentum null without cumulative",
      (d) => (d.cases[0].config.momentum = null),
    ],
    [
      "expected and expected_error together",
      (
        d,
      ) => (d.cases[0].steps[0].expected_error = {
        code: "empty_batch",
        type: "E",
        message: "m",
      }),
    ],
    [
      "expected error with no message",
      (
        d,
      ) => (d.cases[0].steps[0] = {
        mode: "train",
        inputs: d.cases[0].steps[0].inputs,
        expected_error: { code: "empty_batch", type: "E", message: "" },
      }),
    ],
    ["unknown format version", (d) => (d.format_version = "2.0")],
    [
      "negative shape entry",
      (d) => (d.cases[0].steps[0].inputs.x.shape[0] = -1),
    ],
  ];
  for (const [name, breakIt] of breakages) {
    await t.step(name, () => {
      const d = structuredClone(base);
      breakIt(d);
      assert(!validate(d), "schema accepted it");
    });
  }
});

Deno.test("fixtures/schema.json admits a third party's provenance; this suite's stricter check does not", async () => {
  const doc = JSON.parse(await Deno.readTextFile(new URL("fixtures/onnx-testdata/batch_normalization.json", root)));
  doc.provenance = { ...doc.provenance, source: "acme-labs", generator: "tools/make_cases.rs" };
  assert(validate(doc), ajv.errorsText(validate.errors));
  assert(!validateOurs(doc));
  doc.provenance.source = "";
  assert(!validate(doc), "an empty source must still be refused");
});

Deno.test("fixtures/schema.json takes format 1.3's dtypes and center/scale, and refuses them malformed", async () => {
  const doc = JSON.parse(await Deno.readTextFile(new URL("fixtures/pytorch/functional.json", root)));
  doc.format_version = "1.3";
  const c = doc.cases[0];
  c.dtypes = { data: c.dtype, params: "float32", running: "float32", saved: "float32", compute: "float32" };
  c.config.center = c.config.affine;
  c.config.scale = c.config.affine;
  assert(validate(doc), ajv.errorsText(validate.errors));
  for (
    const breakIt of [
      (d: typeof doc) => delete d.cases[0].dtypes.running,
      (d: typeof doc) => (d.cases[0].dtypes.params = "int8"),
      (d: typeof doc) => (d.cases[0].dtypes.grads = "float32"),
      (d: typeof doc) => (d.cases[0].config.center = "yes"),
    ]
  ) {
    const d = structuredClone(doc);
    breakIt(d);
    assert(!validate(d), "schema accepted it");
  }
});

Deno.test("every graph-case file listed in fixtures/index.json validates against fixtures/graph_schema.json and its hash", async (t) => {
  const validateGraph = ajv.compile(JSON.parse(await Deno.readTextFile(new URL("fixtures/graph_schema.json", root))));
  assert(index.graphs?.length > 0, "fixtures/index.json lists no graph cases");
  for (const { path, sha256, cases } of index.graphs) {
    await t.step(path, async () => {
      const bytes = await Deno.readFile(new URL(`fixtures/${path}`, root));
      const digest = [...new Uint8Array(await crypto.subtle.digest("SHA-256", bytes))]
        .map((b) => b.toString(16).padStart(2, "0")).join("");
      assertEquals(digest, sha256);
      const doc = JSON.parse(new TextDecoder().decode(bytes));
      assertEquals(doc.cases.length, cases);
      assert(validateGraph(doc), ajv.errorsText(validateGraph.errors, { separator: "\n" }));
      // Not the fixture schema: a batchnorm fixture reader refuses it by its format.
      assert(!validate(doc));
    });
  }
});
