/**
 * The Python witnesses live (TensorFlow 2.21, tf-keras, Keras 3, JAX/Flax in .venv/, from requirements.txt): each
 * generator rerun with `--check` reproduces its committed fixtures byte for byte, and the facts the fixtures rest on
 * hold in the installed packages.
 *
 * Without .venv/ (a machine where `bash scripts/cli/setup_venv.sh` was not run) these tests are ignored, with the reason in
 * their names; under CI (CI=true) a missing .venv/ fails instead, since .ci/run installs it. Keras 3's torch backend
 * runs from .envs/torch2/ (PyTorch 2.15 and the same Keras, envs/torch2.txt): its tests are ignored without it, with
 * the reason in their names (CI installs it before `deno task fixtures`). On a CPU unlike the recording one (see
 * scripts/generators/recording_cpu.json), in CI too, a file listed there as CPU-dependent may differ from its record only
 * where a CPU moves it: the recorded outputs and what is composed from them, never a case, input, configuration,
 * dtype or shape (`cpu_differences` in scripts/generators/_fixture_json.py).
 */
import { assert, assertEquals } from "@std/assert";
import { type CpuClass, foreignCpuNote, readCpuClass } from "./_cpu.ts";

const root = new URL("../", import.meta.url);
const PYTHON = ".venv/bin/python";
const installed = (() => {
  try {
    return Deno.statSync(new URL(PYTHON, root)).isFile;
  } catch {
    return false;
  }
})();
const inCi = Deno.env.get("CI") === "true";
const SKIP = " (ignored: .venv/ not installed; run `bash scripts/cli/setup_venv.sh`)";

const TORCH2_PYTHON = ".envs/torch2/bin/python";
const torch2Installed = (() => {
  try {
    return Deno.statSync(new URL(TORCH2_PYTHON, root)).isFile;
  } catch {
    return false;
  }
})();
const TORCH2_SKIP = " (ignored: .envs/torch2/ not installed; run `deno task envs torch2`)";

/**
 * This CPU against the one the fixtures were recorded on: on another CPU the generators' --check compares the
 * CPU-dependent files except in what a CPU moves (docs/fixtures.md "On another CPU").
 */
const cpuRead = installed ? readCpuClass(PYTHON) : undefined;
if (cpuRead instanceof Error) throw cpuRead;
const cpu: CpuClass | undefined = cpuRead;
/** The check tests' name suffix on a CPU unlike the recording one. */
const CPU_NOTE = cpu
  ? foreignCpuNote(cpu, "its CPU-dependent files are compared except in their recorded outputs")
  : "";

/**
 * A generator's --check passed: every file identical, or on another CPU every file but CPU-dependent ones that differ
 * only where a CPU moves them, each named as such.
 */
function assertReproduced(r: { code: number; out: string }) {
  assertEquals(r.code, 0, r.out);
  assert(r.out.includes("--check: every file identical to a fresh run"), r.out);
  const excused = [...r.out.matchAll(/^regenerated, differs only where a CPU may move it: (\S+) /gm)].map((m) => m[1]);
  if (CPU_NOTE === "") assertEquals(excused, [], r.out);
  for (const file of excused) assert(cpu!.cpu_dependent.includes(file), `${file} is not listed as CPU-dependent`);
}

async function python(
  args: string[],
  env: Record<string, string> = {},
  bin: string = PYTHON,
): Promise<{ code: number; out: string; stdout: string }> {
  const { code, stdout, stderr } = await new Deno.Command(bin, {
    args,
    cwd: root,
    env,
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  const d = new TextDecoder();
  return { code, out: d.decode(stdout) + d.decode(stderr), stdout: d.decode(stdout) };
}

Deno.test({
  name: "CI installs the Python witnesses: .venv/ exists where CI=true",
  ignore: !inCi,
  fn() {
    assert(installed, `${PYTHON} missing under CI: .ci/run must run scripts/cli/setup_venv.sh`);
  },
});

/** A live test: ignored, with the reason in its name, when .venv/ is absent. */
function live(name: string, fn: () => Promise<void>) {
  Deno.test({ name: installed ? name : name + SKIP, ignore: !installed, fn });
}

live(
  "scripts/generators/gen_tensorflow.py --check: TensorFlow 2.21 and tf-keras reproduce their fixtures byte for byte" +
    CPU_NOTE,
  async () => {
    const r = await python(["scripts/generators/gen_tensorflow.py", "--check"]);
    assertReproduced(r);
  },
);

live(
  "the installed TensorFlow is requirements.txt's, and its fused_batch_norm passes epsilon through (no 1.001e-5 floor)",
  async () => {
    const r = await python([
      "-c",
      [
        "import os; os.environ['TF_CPP_MIN_LOG_LEVEL'] = '2'; os.environ['TF_ENABLE_ONEDNN_OPTS'] = '0'",
        "import inspect, tensorflow as tf, numpy as np",
        "src = inspect.getsource(tf.compat.v1.nn.fused_batch_norm)",
        "x = np.array([[[[0.0], [1e-3]]]], np.float32); one = np.ones(1, np.float32); z = np.zeros(1, np.float32)",
        "y = [tf.compat.v1.nn.fused_batch_norm(x, one, z, epsilon=e)[0].numpy()[0, 0, 1, 0] for e in (0.0, 1.001e-5)]",
        "print(tf.__version__, 'min_epsilon' in src, float(y[0]), y[0] != y[1])",
      ].join("\n"),
    ]);
    assertEquals(r.code, 0, r.out);
    const requirements = Deno.readTextFileSync(new URL("requirements.txt", root));
    const pinned = requirements.match(/^tensorflow-cpu==(\S+)/m)![1];
    // Two values 1e-3 apart: variance 2.5e-7, so epsilon 0 gives y = 1 (0.9999...), the floor would give 0.157.
    const [version, floor, y, differs] = r.stdout.trim().split("\n").at(-1)!.split(" ");
    assertEquals([version, floor, differs], [pinned, "False", "True"]);
    assert(Math.abs(Number(y) - 1) < 1e-3, r.out);
  },
);

for (const backend of ["tensorflow", "jax"]) {
  live(
    `scripts/generators/gen_keras.py ${backend} --check: Keras 3 on ${backend} reproduces its fixture byte for byte` +
      CPU_NOTE,
    async () => {
      const r = await python(["scripts/generators/gen_keras.py", backend, "--check"]);
      assertReproduced(r);
    },
  );
}

/** A live test of Keras 3's torch backend: ignored, with the reason in its name, when .envs/torch2/ is absent. */
function liveTorch2(name: string, fn: () => Promise<void>) {
  Deno.test({ name: torch2Installed ? name : name + TORCH2_SKIP, ignore: !torch2Installed, fn });
}

liveTorch2(
  "scripts/generators/gen_keras.py torch --check: Keras 3 on torch (PyTorch 2.15) reproduces its fixtures byte for byte" +
    CPU_NOTE,
  async () => {
    const r = await python(["scripts/generators/gen_keras.py", "torch", "--check"], {}, TORCH2_PYTHON);
    assertReproduced(r);
  },
);

liveTorch2(
  "Keras 3's torch backend, read live: float64 computes in float32, and ops.moments takes E[x^2] - E[x]^2 (F-26)",
  async () => {
    const r = await python(
      [
        "-c",
        [
          "import keras, torch",
          "import numpy as np",
          // A channel of mean 3000 and spread 1: E[x^2] - E[x]^2 in float32 loses the variance, two-pass keeps it.
          "x = np.array([2999.0, 3001.0, 2999.0, 3001.0], np.float32)[:, None] + np.float32(0.25)",
          "_, v = keras.ops.moments(keras.ops.convert_to_tensor(x), [0])",
          "print(keras.__version__, torch.__version__, keras.backend.result_type('float64', 'float32'),",
          "      float(v[0]), float(np.var(x, axis=0, dtype=np.float32)[0]))",
        ].join("\n"),
      ],
      { KERAS_BACKEND: "torch", CUDA_VISIBLE_DEVICES: "" },
      TORCH2_PYTHON,
    );
    assertEquals(r.code, 0, r.out);
    const [keras, torch, f64, onePass, twoPass] = r.stdout.trim().split("\n").at(-1)!.split(" ");
    const pinned = Deno.readTextFileSync(new URL("envs/torch2.txt", root));
    assertEquals([keras, torch.split("+")[0], f64], [
      pinned.match(/^keras==(\S+)/m)![1],
      pinned.match(/^torch==(\S+)/m)![1],
      "float32",
    ]);
    assertEquals(Number(twoPass), 1, "numpy's two-pass float32 variance of ±1 around 3000.25 is exactly 1");
    assert(Number(onePass) !== 1, `Keras's torch moments gave the exact variance ${onePass}: no longer one-pass?`);
  },
);

live(
  "scripts/generators/gen_flax.py [--sync] --check: Flax linen, nnx and axis_name over 4 devices reproduce their fixtures byte for byte" +
    CPU_NOTE,
  async () => {
    for (const args of [["--check"], ["--sync", "--check"]]) {
      const r = await python(["scripts/generators/gen_flax.py", ...args]);
      assertReproduced(r);
    }
  },
);

live(
  "--check's CPU rule: on another CPU, in CI or not, a listed CPU-dependent file may differ only in its recorded " +
    "outputs, finite to finite; an input, a NaN, an unlisted file, or any file on the recording CPU fails",
  async () => {
    // finish() of scripts/generators/_fixture_json.py with the CPU and the fresh texts put in by hand: each file's
    // committed text with one finite recorded output moved a little ("output") or made NaN ("nan"), or one input
    // moved ("input").
    const run = async (kind: "same" | "other", mismatched: [string, "output" | "nan" | "input"][]) => {
      const r = await python([
        "-c",
        [
          "import json, sys",
          "sys.path.insert(0, 'scripts/generators')",
          "import _fixture_json as f",
          "recorded = f.recording_cpu()['recorded_on']",
          `f.cpu_class = lambda: recorded if ${JSON.stringify(kind)} == 'same' else {**recorded, 'vendor_id': 'Other'}`,
          `for path, change in ${JSON.stringify(mismatched)}:`,
          "    doc = json.load(open(path))",
          "    step = doc['cases'][0]['steps'][0]",
          "    record = step['inputs'] if change == 'input' else step['expected']",
          "    data = next(iter(record.values()))['data']",
          "    i = next(k for k, v in enumerate(data) if not isinstance(v, str))",
          "    data[i] = 'NaN' if change == 'nan' else data[i] * 1.0000001 + 1e-30",
          "    f._MISMATCHED.append((path, f.dump(doc) + '\\n'))",
          "sys.argv.append('--check')",
          "f.finish()",
        ].join("\n"),
      ], { CI: "true" });
      return r;
    };
    const dependent = cpu!.cpu_dependent[0];
    const other = "fixtures/pytorch/edge_cases.json";
    assert(!cpu!.cpu_dependent.includes(other));
    const excused = await run("other", [[dependent, "output"]]);
    assertEquals(excused.code, 0, excused.out);
    assert(
      excused.out.includes(`regenerated, differs only where a CPU may move it: ${dependent} (1 values;`),
      excused.out,
    );
    assert(excused.out.includes("except 1 CPU-dependent file(s)"), excused.out);
    for (
      const [cpuKind, files, named, why] of [
        ["other", [[dependent, "output"], [other, "output"]], other, ""],
        [
          "other",
          [[dependent, "input"]],
          dependent,
          "but differs beyond what a CPU may move: .cases[0].steps[0].inputs",
        ],
        [
          "other",
          [[dependent, "nan"]],
          dependent,
          "but differs beyond what a CPU may move: .cases[0].steps[0].expected",
        ],
        ["same", [[dependent, "output"]], dependent, ""],
      ] as const
    ) {
      const r = await run(cpuKind, files.map(([p, c]) => [p, c]));
      assertEquals(r.code, 1, r.out);
      assert(r.out.includes(`differs from a fresh run: ${named}`), r.out);
      assert(r.out.includes(why), r.out);
      assert(!r.out.includes("every file identical"), r.out);
    }
  },
);

live("Flax's defaults, read live: use_fast_variance=True, momentum 0.99, epsilon 1e-5 in linen and nnx", async () => {
  const r = await python([
    "-c",
    [
      "import inspect; from flax import linen, nnx",
      "p = inspect.signature(nnx.BatchNorm.__init__).parameters",
      "print(linen.BatchNorm.use_fast_variance, linen.BatchNorm.momentum, linen.BatchNorm.epsilon,",
      "      p['use_fast_variance'].default, p['momentum'].default, p['epsilon'].default)",
    ].join("\n"),
  ], { JAX_PLATFORMS: "cpu" });
  assertEquals(r.code, 0, r.out);
  assertEquals(r.stdout.trim().split("\n").at(-1), "True 0.99 1e-05 True 0.99 1e-05");
});

live(
  "the dtypes the mixed-precision fixtures rest on, read live: Keras 3 computes float64 in float32 on JAX, nnx keeps " +
    "float32 running statistics, Keras 3 half-precision variables stay half, tf-keras raises them to float32",
  async () => {
    const jax = await python([
      "-c",
      [
        "import jax, jax.numpy as jnp, keras",
        "from flax import nnx",
        "jax.config.update('jax_enable_x64', True)",
        "bn = nnx.BatchNorm(2, dtype=jnp.float64, param_dtype=jnp.float64, rngs=nnx.Rngs(0))",
        "k16 = keras.layers.BatchNormalization(dtype='float16'); k16.build((4, 2))",
        "print(keras.backend.result_type('float64', 'float32'), bn.mean[...].dtype, bn.scale[...].dtype,",
        "      k16.gamma.dtype, k16.moving_variance.dtype)",
      ].join("\n"),
    ], { KERAS_BACKEND: "jax", JAX_PLATFORMS: "cpu" });
    assertEquals(jax.code, 0, jax.out);
    assertEquals(jax.stdout.trim().split("\n").at(-1), "float32 float32 float64 float16 float16");
    const tf = await python([
      "-c",
      [
        "import os; os.environ['TF_CPP_MIN_LOG_LEVEL'] = '2'",
        "import keras, tf_keras",
        "l = tf_keras.layers.BatchNormalization(dtype='float16'); l.build((2, 4, 5, 3))",
        "print(keras.backend.result_type('float64', 'float32'), l.gamma.dtype.name, l.moving_mean.dtype.name, l.fused)",
      ].join("\n"),
    ], { KERAS_BACKEND: "tensorflow", CUDA_VISIBLE_DEVICES: "" });
    assertEquals(tf.code, 0, tf.out);
    assertEquals(tf.stdout.trim().split("\n").at(-1), "float64 float32 float32 True");
  },
);
