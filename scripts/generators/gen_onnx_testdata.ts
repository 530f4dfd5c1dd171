/**
 * Converts the official ONNX backend test data for BatchNormalization (Debian's
 * libonnx-testdata: model.onnx and TensorProto .pb files) into this suite's
 * fixture format. TensorProtos and models are decoded with onnx-proto (protobufjs).
 * The models are copied unchanged to fixtures/onnx-testdata/models/ so tests can
 * run them in onnxruntime.
 *
 * @module
 */

import onnxProto from "onnx-proto";
import { conventionToConfig, PRESETS, type Tensor } from "../../mod.ts";
import { encodeTensor, fixtureText, writeAtomic } from "./_fixture_io.ts";
import { ONNX_PROTO_VERSION } from "../runners/onnx_model.ts";

const { onnx } = onnxProto;

/** Where Debian installs the data. */
export const TESTDATA = "/usr/share/libonnx-testdata/data/node/";
/** The official BatchNormalization cases. */
export const OFFICIAL = [
  "test_batchnorm_example",
  "test_batchnorm_epsilon",
  "test_batchnorm_example_training_mode",
  "test_batchnorm_epsilon_training_mode",
] as const;

/** A float32 TensorProto as a tensor (raw little-endian data or float_data). */
export function decodeTensorProto(bytes: Uint8Array): { name: string; tensor: Tensor } {
  const t = onnx.TensorProto.decode(bytes);
  if (t.dataType !== onnx.TensorProto.DataType.FLOAT) {
    throw new Error(`${t.name}: data type ${t.dataType}, expected FLOAT`);
  }
  const shape = t.dims.map(Number);
  const raw = t.rawData && t.rawData.length > 0 ? t.rawData : null;
  const values = raw ? new Float32Array(raw.slice().buffer) : Float32Array.from(t.floatData);
  return { name: t.name, tensor: { dtype: "float32", shape, data: Float64Array.from(values) } };
}

function debianVersion(): string {
  const out = new Deno.Command("dpkg-query", { args: ["-W", "-f=${Version}", "libonnx-testdata"] }).outputSync();
  if (!out.success) throw new Error("libonnx-testdata is not installed (apt-get install -y libonnx-testdata)");
  return new TextDecoder().decode(out.stdout);
}

/** Generates fixtures/onnx-testdata/batch_normalization.json and copies the models. */
export function generate(root: URL): void {
  const dir = new URL("fixtures/onnx-testdata/", root);
  Deno.mkdirSync(new URL("models/", dir), { recursive: true });
  const cases = OFFICIAL.map((name) => {
    const base = `${TESTDATA}${name}/`;
    const modelBytes = Deno.readFileSync(`${base}model.onnx`);
    writeAtomic(new URL(`models/${name}.onnx`, dir), modelBytes);
    const model = onnx.ModelProto.decode(modelBytes);
    const node = model.graph!.node![0];
    const attr = (k: string) => node.attribute!.find((a) => a.name === k);
    const training = Number(attr("training_mode")?.i ?? 0) === 1;
    const read = (f: string) => decodeTensorProto(Deno.readFileSync(`${base}test_data_set_0/${f}`)).tensor;
    const [x, scale, bias, mean, variance] = [0, 1, 2, 3, 4].map((i) => read(`input_${i}.pb`));
    const outputs = node.output!.map((_, i) => read(`output_${i}.pb`));
    const expected: Record<string, unknown> = { y: encodeTensor(outputs[0]) };
    if (training) {
      Object.assign(expected, { running_mean: encodeTensor(outputs[1]), running_var: encodeTensor(outputs[2]) });
    }
    const opset = Number(model.opsetImport!.find((o) => !o.domain)?.version);
    return {
      name: `onnx backend test ${name}`,
      description: `The official ONNX node test ${name} (opset ${opset}${training ? ", training_mode=1" : ""}` +
        `${
          attr("epsilon") ? `, epsilon attribute ${attr("epsilon")!.f}` : ""
        }). Expected outputs as shipped: computed by ` +
        "the ONNX project's NumPy reference in float32 (onnx/backend/test/case/node/batchnorm.py); no float64 twin.",
      features: ["official-test-data", training ? "training" : "inference"],
      api: `ONNX backend test data, ai.onnx BatchNormalization-${opset}`,
      seed: 0,
      dtype: "float32",
      // The onnx preset, with the model's FLOAT attributes where it sets them.
      config: conventionToConfig({
        ...PRESETS.onnx,
        epsilon: attr("epsilon")?.f ?? PRESETS.onnx.epsilon,
        momentum: attr("momentum")?.f ?? PRESETS.onnx.momentum,
      }),
      initial_state: {
        gamma: encodeTensor(scale),
        beta: encodeTensor(bias),
        running_mean: encodeTensor(mean),
        running_var: encodeTensor(variance),
      },
      steps: [{ mode: training ? "train" : "eval", inputs: { x: encodeTensor(x) }, expected }],
      framework_call: {
        model: `fixtures/onnx-testdata/models/${name}.onnx`,
        opset,
        ir_version: Number(model.irVersion),
        node_inputs: node.input,
        node_outputs: node.output,
        attributes: Object.fromEntries(
          node.attribute!.map((a) => [a.name, a.type === onnx.AttributeProto.AttributeType.INT ? Number(a.i) : a.f]),
        ),
      },
    };
  });
  const version = debianVersion();
  const doc = {
    format: "batchnorm-conformance-fixture",
    format_version: "1.1",
    provenance: {
      source: "onnx-testdata",
      framework: "ONNX backend node test data",
      version: `${version.split("-")[0]} (Debian libonnx-testdata ${version})`,
      api: "onnx/backend/test/data/node/test_batchnorm_* (model.onnx, test_data_set_0/*.pb)",
      generator: "scripts/generators/gen_onnx_testdata.ts",
      command: "deno task fixtures",
      seed: 0,
      composed: false,
      environment:
        `Debian package libonnx-testdata ${version}, files under ${TESTDATA}; decoded with onnx-proto ${ONNX_PROTO_VERSION}`,
      notes: [
        "Converted, not recomputed: every value is as shipped by the ONNX project. No seed: the inputs are the project's own (seed 0 recorded).",
        "Training-mode models declare no momentum attribute, so the spec default 0.9 applies (config records its float32 value).",
        "The models are copied unchanged to fixtures/onnx-testdata/models/ for running in onnxruntime.",
      ],
    },
    cases,
  };
  writeAtomic(new URL("batch_normalization.json", dir), fixtureText(doc));
  console.log(`fixtures/onnx-testdata/batch_normalization.json: ${cases.length} cases`);
}

if (import.meta.main) generate(new URL("../../", import.meta.url));
