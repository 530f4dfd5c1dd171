/**
 * Format 1.3: a dtype per group of tensors (`dtypes`) and `center`/`scale` apart from `affine`. A mixed case is read
 * with each tensor in its group's dtype; a tensor whose dtype disagrees with its group is refused naming the tensor;
 * center/scale must agree with affine, the initial state and the gradients; a 1.2 file using them is refused.
 */
import { assert, assertEquals, assertThrows } from "@std/assert";
import { FixtureError, parseFixture } from "../mod.ts";
import { isUniform, tensorDType } from "../src/conformance/fixture.ts";
import { centerOf, scaleOf } from "../src/reference/convention.ts";

const root = new URL("../", import.meta.url);
const raw = JSON.parse(await Deno.readTextFile(new URL("fixtures/pytorch/batchnorm2d.json", root)));
// deno-lint-ignore no-explicit-any
type Doc = any;
const GROUP: Record<string, string> = {
  gamma: "params",
  beta: "params",
  dgamma: "params",
  dbeta: "params",
  running_mean: "running",
  running_var: "running",
  batch_mean: "saved",
  batch_var: "saved",
  saved_invstd: "saved",
};
/** The bfloat16 case made mixed: bfloat16 data, float32 everything else (as TF's fused kernel). */
function mixed(): Doc {
  const c = structuredClone(raw.cases.find((c: { dtype: string }) => c.dtype === "bfloat16"));
  c.dtypes = { data: "bfloat16", params: "float32", running: "float32", saved: "float32", compute: "float32" };
  for (const [k, t] of Object.entries(c.initial_state)) if (k in GROUP) (t as Doc).dtype = "float32";
  for (const st of c.steps) {
    for (const [k, t] of Object.entries(st.expected ?? {})) if (k in GROUP) (t as Doc).dtype = "float32";
  }
  return { ...raw, format_version: "1.3", cases: [c] };
}
function noAffine(): Doc {
  const c = structuredClone(raw.cases.find((c: { name: string }) => c.name.endsWith("float32 2x3x4x5 affine=False")));
  return { ...raw, format_version: "1.3", cases: [c] };
}
const parse = (d: Doc) => parseFixture(JSON.stringify(d), "mixed.json");

Deno.test("a mixed-precision case is read with each tensor in its group's dtype", () => {
  const c = parse(mixed()).cases[0];
  assertEquals(c.dtype, "bfloat16");
  assertEquals(c.dtypes, {
    data: "bfloat16",
    params: "float32",
    running: "float32",
    saved: "float32",
    compute: "float32",
  });
  assertEquals(c.initialState.runningVar!.dtype, "float32");
  assertEquals(c.steps[0].inputs.x.dtype, "bfloat16");
  assertEquals((c.steps[0].expected!.y as { dtype: string }).dtype, "bfloat16");
  assertEquals((c.steps[0].expected!.dgamma as { dtype: string }).dtype, "float32");
  assertEquals(tensorDType(c, "running_var"), "float32");
  assertEquals(tensorDType(c, "dx"), "bfloat16");
  assert(!isUniform(c));
  // Without dtypes, a case is uniform and every tensor is in its dtype.
  const u = parse({ ...raw, cases: [raw.cases[0]] }).cases[0];
  assert(isUniform(u) && u.dtypes === undefined && tensorDType(u, "running_var") === "float32");
});

Deno.test("a tensor whose dtype disagrees with its group is refused, naming the tensor and the group", () => {
  const cases: [string, (d: Doc) => void, string, RegExp][] = [
    [
      "running_var state in the data dtype",
      (d) => (d.cases[0].initial_state.running_var.dtype = "bfloat16"),
      "$.cases[0].initial_state.running_var.dtype",
      /running_var is bfloat16 but the case's running dtype is float32/,
    ],
    [
      "a running_var output rounded to bfloat16's dtype name",
      (d) => (d.cases[0].steps[1].expected.running_var.dtype = "float16"),
      "$.cases[0].steps[1].expected.running_var.dtype",
      /running_var is float16 but the case's running dtype is float32/,
    ],
    [
      "x in float32 while data is bfloat16",
      (d) => (d.cases[0].steps[0].inputs.x.dtype = "float32"),
      "$.cases[0].steps[0].inputs.x.dtype",
      /x is float32 but the case's data dtype is bfloat16/,
    ],
    [
      "dgamma in float64",
      (d) => (d.cases[0].steps[0].expected.dgamma.dtype = "float64"),
      "$.cases[0].steps[0].expected.dgamma.dtype",
      /dgamma is float64 but the case's params dtype is float32/,
    ],
    [
      "data group other than the case's dtype",
      (d) => (d.cases[0].dtypes.data = "float32"),
      "$.cases[0].dtypes.data",
      /must be the case's dtype "bfloat16"/,
    ],
    ["a group missing", (d) => delete d.cases[0].dtypes.saved, "$.cases[0].dtypes.saved", /is required/],
    ["an unknown group", (d) => (d.cases[0].dtypes.grads = "float32"), "$.cases[0].dtypes.grads", /unknown group/],
    ["an unknown dtype", (d) => (d.cases[0].dtypes.params = "int8"), "$.cases[0].dtypes.params", /unknown dtype/],
    [
      "a float32 value that is not one in a float32 group",
      (d) => (d.cases[0].initial_state.gamma.data[0] = 0.1),
      "$.cases[0].initial_state.gamma.data[0]",
      /is not a float32 value/,
    ],
  ];
  parse(mixed());
  for (const [what, corrupt, path, message] of cases) {
    const d = mixed();
    corrupt(d);
    const e = assertThrows(() => parse(d), FixtureError, undefined, what);
    assertEquals(e.path, path, what);
    assert(message.test(e.message), `${what}: ${e.message}`);
  }
});

Deno.test("center and scale: read, defaulting to affine, and consistent with affine, state and gradients", () => {
  const c0 = parse(noAffine()).cases[0];
  assert(!centerOf(c0.convention) && !scaleOf(c0.convention) && c0.convention.center === undefined);
  const d = noAffine();
  Object.assign(d.cases[0].config, { center: false, scale: false });
  const c1 = parse(d).cases[0].convention;
  assert(c1.center === false && c1.scale === false);
  // A case with beta only: center true, scale false, affine false.
  const beta = noAffine();
  const cb = beta.cases[0];
  Object.assign(cb.config, { center: true, scale: false });
  cb.initial_state.beta = { dtype: "float32", shape: [3], data: [0.5, -0.25, 0] };
  const cv = parse(beta).cases[0].convention;
  assert(centerOf(cv) && !scaleOf(cv) && !cv.affine);

  const refused: [string, (d: Doc) => void, string, RegExp][] = [
    [
      "affine true with scale false",
      (d) => Object.assign(d.cases[0].config, { affine: true, center: true, scale: false }),
      "$.cases[0].config.affine",
      /must be center && scale \(true && false = false\)/,
    ],
    [
      "center without beta in the state",
      (d) => Object.assign(d.cases[0].config, { center: true, scale: false }),
      "$.cases[0].initial_state",
      /must hold beta: config.center is true/,
    ],
    [
      "gamma in the state without scale",
      (d) => {
        Object.assign(d.cases[0].config, { center: false, scale: false });
        d.cases[0].initial_state.gamma = { dtype: "float32", shape: [3], data: [1, 1, 1] };
      },
      "$.cases[0].initial_state.gamma",
      /must not hold gamma: config.scale is false/,
    ],
    [
      "dbeta expected without center",
      (d) => {
        Object.assign(d.cases[0].config, { center: false, scale: false });
        d.cases[0].steps[0].expected.dbeta = { dtype: "float32", shape: [3], data: [0, 0, 0] };
      },
      "$.cases[0].steps[0].expected.dbeta",
      /no dbeta without center/,
    ],
    [
      "center not a boolean",
      (d) => Object.assign(d.cases[0].config, { center: "yes" }),
      "$.cases[0].config.center",
      /must be true or false/,
    ],
  ];
  for (const [what, corrupt, path, message] of refused) {
    const d = noAffine();
    corrupt(d);
    const e = assertThrows(() => parse(d), FixtureError, undefined, what);
    assertEquals(e.path, path, what);
    assert(message.test(e.message), `${what}: ${e.message}`);
  }
});

Deno.test("a file that uses dtypes or center/scale must declare format 1.3", () => {
  for (const [d, field] of [[mixed(), "dtypes"], [noAffine(), "center"]] as const) {
    if (field === "center") d.cases[0].config.center = false;
    d.format_version = "1.2";
    const e = assertThrows(() => parse(d), FixtureError);
    assert(
      e.message.includes(`${field} was added in format 1.3, but the file declares format_version "1.2"`),
      e.message,
    );
  }
});
