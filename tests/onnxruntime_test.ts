/**
 * onnxruntime-node, live: every recorded onnxruntime fixture case is replayed and
 * must give the same bytes; the official ONNX models run on their own data; and
 * the ONNX pitfalls behave as recorded.
 */
import { assert, assertEquals, assertRejects } from "@std/assert";
import onnxProto from "onnx-proto";
import { budget, compareTensor, parseFixture, PRESETS, referenceAdapter, runCase, type Tensor } from "../mod.ts";
import { fixtureText } from "../scripts/generators/_fixture_io.ts";
import { OFFICIAL } from "../scripts/generators/gen_onnx_testdata.ts";
import { ORT_CASES, runOrtCase } from "../scripts/generators/gen_onnxruntime.ts";
import { buildBatchNormModel } from "../scripts/runners/onnx_model.ts";
import { runOnnxModel } from "../scripts/runners/onnxruntime.ts";

const root = new URL("../", import.meta.url);
const recordedText = await Deno.readTextFile(new URL("fixtures/onnxruntime/batch_normalization.json", root));
const recorded = JSON.parse(recordedText);
const live = await Promise.all(ORT_CASES.map(runOrtCase));
const liveFile = parseFixture(fixtureText({ ...recorded, cases: live }), "live onnxruntime run");

Deno.test("onnxruntime-node reproduces every recorded onnxruntime case live, byte for byte", async (t) => {
  assertEquals(live.length, recorded.cases.length);
  for (const [i, c] of live.entries()) {
    // The exact oracle's annotations (format 1.2) come after the run, from the recorded inputs alone.
    const withoutExact = {
      ...recorded.cases[i],
      steps: recorded.cases[i].steps.map(({ expected_exact: _e, exact_scale: _s, ...step }: Record<string, unknown>) =>
        step
      ),
    };
    await t.step(String(c.name), () => assertEquals(JSON.parse(fixtureText(c)), withoutExact));
  }
});

Deno.test("onnxruntime live runs agree with the reference under ONNX conventions", async (t) => {
  for (const c of liveFile.cases) {
    await t.step(c.name, async () => {
      const r = await runCase(c, referenceAdapter);
      if (c.frameworkDefect) assert(!r.pass && r.reason!.includes(": y["), `expected the known defect: ${r.reason}`);
      else assert(r.pass, r.reason);
    });
  }
});

Deno.test("onnxruntime training gives identical bytes at opsets 9, 14 and 15 (same inputs)", () => {
  type Case = { name: string; steps: { inputs: unknown; expected: Record<string, unknown> }[] };
  for (const dtype of ["float32", "float64", "float16"]) {
    const at = (opset: number): Case =>
      recorded.cases.find((c: Case) =>
        c.name.startsWith(`onnxruntime BatchNormalization opset ${opset} ${dtype} 2x3x4x5`)
      );
    assertEquals(at(14).steps, at(15).steps, dtype);
    // opset 9 adds saved_mean/saved_var; everything opset 14 has is the same.
    at(14).steps.forEach((step, i) => {
      assertEquals(at(9).steps[i].inputs, step.inputs);
      for (const [k, v] of Object.entries(step.expected)) {
        assertEquals(at(9).steps[i].expected[k], v, `${dtype} step ${i} ${k}`);
      }
    });
  }
});

Deno.test("onnxruntime#29790: with shared initializers, Y depends on momentum; with inputs it does not", () => {
  const y = (opset: number, m: number, shared: boolean) =>
    live.find((c) =>
      String(c.name).startsWith(
        `onnxruntime BatchNormalization opset ${opset} float32 2x4x3 training momentum=${m} ${
          shared ? "shared" : "parameters"
        }`,
      )
    ) as { steps: { expected: { y: { data: number[] } } }[] } | undefined;
  const data = (opset: number, m: number, shared: boolean) => y(opset, m, shared)!.steps[0].expected.y.data;
  assertEquals(data(14, 0.5, false), data(14, 1, true)); // the correct Y: momentum 1, or no aliasing
  for (const m of [0, 0.5]) assert(data(14, m, true).some((v, i) => v !== data(14, 1, true)[i]), `momentum ${m}`);
});

Deno.test("onnxruntime refuses training_mode=1 with a single declared output", async () => {
  const model = onnxProto.onnx.ModelProto.decode(
    buildBatchNormModel({ opset: 15, dtype: "float32", shape: [2, 3], training: true }),
  );
  model.graph!.node![0].output = ["Y"];
  model.graph!.output = model.graph!.output!.slice(0, 1);
  const { InferenceSession } = await import("onnxruntime-node");
  await assertRejects(
    () => InferenceSession.create(onnxProto.onnx.ModelProto.encode(model).finish()),
    Error,
    "should be 3 when Training_mode = True",
  );
});

Deno.test("ONNX's FLOAT attributes: epsilon 1e-5 and momentum 0.9 as doubles miss onnxruntime's float64 results", async () => {
  const cases = liveFile.cases.filter((c) =>
    c.dtype === "float64" && !c.frameworkDefect && c.convention.epsilon === Math.fround(1e-5)
  );
  assert(cases.length >= 3);
  for (const c of cases) {
    const exact = await runCase(c, referenceAdapter);
    assert(exact.pass, exact.reason);
    const doubles = {
      ...c,
      convention: {
        ...c.convention,
        epsilon: 1e-5,
        momentum: c.convention.momentum === Math.fround(0.9) ? 0.9 : c.convention.momentum,
      },
    };
    const r = await runCase(doubles, referenceAdapter);
    assert(!r.pass, `${c.name}: epsilon 1e-5 as a double should be visible in float64`);
  }
});

Deno.test("official ONNX BatchNormalization models run in onnxruntime and match their shipped outputs", async (t) => {
  const file = parseFixture(
    await Deno.readTextFile(new URL("fixtures/onnx-testdata/batch_normalization.json", root)),
    "onnx-testdata",
  );
  assertEquals(file.cases.length, OFFICIAL.length);
  for (const c of file.cases) {
    await t.step(c.name, async () => {
      const name = c.name.replace("onnx backend test ", "");
      const model = await Deno.readFile(new URL(`fixtures/onnx-testdata/models/${name}.onnx`, root));
      const s = c.initialState;
      const feeds: Record<string, Tensor> = {
        x: c.steps[0].inputs.x,
        s: s.gamma!,
        bias: s.beta!,
        mean: s.runningMean!,
        var: s.runningVar!,
      };
      const out = await runOnnxModel(model, feeds);
      const names: Record<string, string> = { y: "y", output_mean: "running_mean", output_var: "running_var" };
      const n = c.steps[0].inputs.x.data.length / c.steps[0].inputs.x.shape[1];
      for (const [onnxName, ours] of Object.entries(names)) {
        if (!out[onnxName]) continue;
        const want = c.steps[0].expected![ours] as Tensor;
        const r = compareTensor(out[onnxName].data, want.data, "float32", budget("float32", ours, n));
        assert(r.pass, `${ours}: ${r.maxError} ULP > ${r.tolerance}`);
      }
    });
  }
});

Deno.test("every ONNX case follows the onnx preset, with epsilon and momentum as float32 attribute values", async () => {
  const testdata = parseFixture(
    await Deno.readTextFile(new URL("fixtures/onnx-testdata/batch_normalization.json", root)),
    "onnx-testdata",
  );
  for (const c of [...liveFile.cases, ...testdata.cases]) {
    const { epsilon, momentum } = c.convention;
    assertEquals(epsilon, Math.fround(epsilon), c.name);
    assertEquals(momentum, Math.fround(momentum!), c.name);
    assertEquals(c.convention, { ...PRESETS.onnx, epsilon, momentum }, c.name);
  }
});
