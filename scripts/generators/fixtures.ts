/**
 * `deno task fixtures`: regenerates every golden fixture from the real
 * frameworks, annotates every file with exact values (scripts/generators/exact_oracle.py), then writes fixtures/index.json (each file's source, case count and
 * SHA-256). Running it twice gives identical bytes.
 *
 * @module
 */

import { generate as generateOnnxTestdata } from "./gen_onnx_testdata.ts";
import { generate as generateOnnxruntime } from "./gen_onnxruntime.ts";
import { generate as generateTfjs } from "./gen_tfjs.ts";
import { judgeVectors } from "./judge_vectors.ts";
import { fixtureText, writeAtomic } from "./_fixture_io.ts";

const root = new URL("../../", import.meta.url);
const fixtures = new URL("fixtures/", root);

/** The Python witnesses' interpreter: .venv/, installed from requirements.txt by `bash scripts/cli/setup_venv.sh`. */
const VENV_PYTHON = ".venv/bin/python";
/** PyTorch 2.15's interpreter: .envs/torch2/, installed from envs/torch2.txt by `deno task envs torch2`. */
const TORCH2_PYTHON = ".envs/torch2/bin/python";

/** The generators, each a real framework run, with the folder each writes; the order is the index's order. */
const GENERATORS: { dir: string; run: () => Promise<void> }[] = [
  { dir: "pytorch", run: () => subprocess("/usr/bin/python3", ["scripts/generators/gen_pytorch.py"]) },
  { dir: "pytorch-sweep", run: () => subprocess("/usr/bin/python3", ["scripts/generators/gen_sweep.py"]) },
  {
    // The same generators under PyTorch 2.15: the same cases from the same inputs, float16 added, refusals recorded;
    // then SyncBatchNorm's arithmetic over torch.distributed (gloo, 4 processes on 127.0.0.1), split batches (1.3).
    dir: "pytorch2",
    run: async () => {
      await subprocess(TORCH2_PYTHON, ["scripts/generators/gen_pytorch.py", "--source", "pytorch2"]);
      await subprocess(TORCH2_PYTHON, ["scripts/generators/gen_sweep.py", "--source", "pytorch2"]);
      await subprocess(TORCH2_PYTHON, ["scripts/generators/gen_sync_pytorch.py"]);
    },
  },
  { dir: "tensorflow-composed", run: () => subprocess("/usr/bin/python3", ["scripts/generators/gen_tf_fused.py"]) },
  { dir: "tensorflow", run: () => subprocess(VENV_PYTHON, ["scripts/generators/gen_tensorflow.py"]) }, // writes tf-keras/ too
  { dir: "tf-keras", run: () => Promise.resolve() },
  {
    dir: "keras",
    run: async () => {
      for (const backend of ["tensorflow", "jax"]) {
        await subprocess(VENV_PYTHON, ["scripts/generators/gen_keras.py", backend]);
      }
      // The torch backend needs PyTorch 2: Keras 3.15.1 is installed beside it in .envs/torch2/ (envs/torch2.txt).
      await subprocess(TORCH2_PYTHON, ["scripts/generators/gen_keras.py", "torch"]);
    },
  },
  {
    dir: "flax",
    run: async () => {
      await subprocess(VENV_PYTHON, ["scripts/generators/gen_flax.py"]);
      await subprocess(VENV_PYTHON, ["scripts/generators/gen_flax.py", "--sync"]); // 4 host devices
    },
  },
  { dir: "tfjs", run: () => generateTfjs(root) }, // after pytorch: its porting cases reuse PyTorch inputs
  { dir: "onnxruntime", run: () => generateOnnxruntime(root) },
  { dir: "onnx-testdata", run: () => Promise.resolve(generateOnnxTestdata(root)) },
  {
    dir: "composed",
    run: async () => {
      await subprocess("/usr/bin/python3", ["scripts/generators/gen_composed.py"]);
      // After the framework generators: epsilon outside the root on their recorded inputs (epsilon_outside.json).
      await subprocess("/usr/bin/python3", ["scripts/generators/gen_epsilon_outside.py"]);
    },
  },
  // After the framework generators: it re-labels their training cases under the other running-statistics conventions.
  { dir: "composed-conventions", run: () => subprocess("/usr/bin/python3", ["scripts/generators/gen_relabel.py"]) },
];

async function subprocess(bin: string, args: string[]): Promise<void> {
  const { code } = await new Deno.Command(bin, { args, cwd: root, stdout: "inherit", stderr: "inherit" }).output();
  if (code !== 0) throw new Error(`${bin} ${args.join(" ")} failed with exit code ${code}`);
}

// Every environment must be there: a fixture source is never skipped (its files would silently go stale).
for (
  const [python, install] of [
    [VENV_PYTHON, "bash scripts/cli/setup_venv.sh` first (TensorFlow, tf-keras, Keras 3, JAX/Flax)"],
    [
      TORCH2_PYTHON,
      "deno task envs torch2` first (PyTorch 2.15 and Keras 3 for fixtures/pytorch2/ and fixtures/keras/, about 5.4 GB)",
    ],
    // The engines of the graph cases (fixtures/graphs/conv_bn.json, scripts/generators/gen_conv_bn.py).
    ...["onnx", "openvino", "litert", "ncnn"].map((env) => [
      `.envs/${env}/bin/python`,
      `deno task envs ${env}\` first (fixtures/graphs/conv_bn.json records its engine runs)`,
    ]),
  ]
) {
  try {
    Deno.statSync(new URL(python, root));
  } catch {
    console.error(`${python} not found: run \`${install}`);
    Deno.exit(1);
  }
}

for (const g of GENERATORS) {
  console.log(`%c${g.dir}`, "font-weight: bold");
  try {
    await g.run();
  } catch (e) {
    console.error(`${g.dir}: ${(e as Error).message}; fixtures/index.json left as it was`);
    Deno.exit(1);
  }
}

// The graph cases (FORMAT.md "Graph cases"): their own format, with their own exact values; not annotated by the oracle.
console.log("%cgraphs", "font-weight: bold");
try {
  await subprocess("/usr/bin/python3", ["scripts/generators/gen_conv_bn.py"]);
} catch (e) {
  console.error(`graphs: ${(e as Error).message}; fixtures/index.json left as it was`);
  Deno.exit(1);
}
const graphs: { path: string; format: string; cases: number; sha256: string }[] = [];
for (
  const name of [...Deno.readDirSync(new URL("graphs/", fixtures))].map((e) => e.name).filter((n) =>
    n.endsWith(".json")
  ).sort()
) {
  const bytes = Deno.readFileSync(new URL(`graphs/${name}`, fixtures));
  const doc = JSON.parse(new TextDecoder().decode(bytes));
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  graphs.push({
    path: `graphs/${name}`,
    format: doc.format,
    cases: doc.cases.length,
    sha256: [...digest].map((b) => b.toString(16).padStart(2, "0")).join(""),
  });
}

// The exact oracle annotates every file the generators wrote (format 1.2: expected_exact and exact_scale per step).
const written = GENERATORS.flatMap(({ dir }) =>
  [...Deno.readDirSync(new URL(`${dir}/`, fixtures))]
    .filter((e) => e.isFile && e.name.endsWith(".json"))
    .map((e) => `fixtures/${dir}/${e.name}`)
    .sort()
);
console.log("%cexact oracle", "font-weight: bold");
try {
  await subprocess("/usr/bin/python3", ["scripts/generators/exact_oracle.py", ...written]);
} catch (e) {
  console.error(`exact oracle: ${(e as Error).message}; fixtures/index.json left as it was`);
  Deno.exit(1);
}

// The judge test vectors (not a fixture file: no index entry), from the TypeScript judge.
writeAtomic(new URL("judge_vectors.json", fixtures), fixtureText(judgeVectors()));

const files: { path: string; source: string; cases: number; sha256: string }[] = [];
for (const { dir } of GENERATORS) {
  const names = [...Deno.readDirSync(new URL(`${dir}/`, fixtures))]
    .filter((e) => e.isFile && e.name.endsWith(".json"))
    .map((e) => e.name)
    .sort();
  for (const name of names) {
    const bytes = Deno.readFileSync(new URL(`${dir}/${name}`, fixtures));
    const doc = JSON.parse(new TextDecoder().decode(bytes));
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
    files.push({
      path: `${dir}/${name}`,
      source: doc.provenance.source,
      cases: doc.cases.length,
      sha256: [...digest].map((b) => b.toString(16).padStart(2, "0")).join(""),
    });
  }
}
const index = {
  format: "batchnorm-conformance-fixture-index",
  format_version: "1.0",
  generator: "scripts/generators/fixtures.ts",
  command: "deno task fixtures",
  files,
  graphs,
};
const tmp = new URL("index.json.tmp", fixtures);
Deno.writeTextFileSync(tmp, JSON.stringify(index, null, 2) + "\n");
Deno.renameSync(tmp, new URL("index.json", fixtures));
console.log(`fixtures/index.json: ${files.length} files, ${files.reduce((a, f) => a + f.cases, 0)} cases`);

// Last, from the files just written: the findings register (fixtures/findings.json).
const { writeRegister } = await import("./findings_register.ts");
console.log(`fixtures/findings.json: ${await writeRegister()} findings`);
