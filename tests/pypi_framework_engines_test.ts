/**
 * The framework engines from PyPI (scripts/peers/pypi_framework_peers.ts: PyTorch 2.15, PaddlePaddle 3.3.1, MLX 0.32.4,
 * tinygrad 0.14.0, ncnn): their rows of docs/matrix.md are what a fresh run computes, and the evidence behind each of
 * their findings (docs/findings.md, "Findings from the framework engines on PyPI") still holds. An engine whose
 * environment is not installed (deno task envs NAME) is reported as ignored with the reason.
 * Run by `deno task test:pypi-frameworks` (CI runs it after deno task test:engines): 5 to 10 minutes on the shared
 * 2 cores, 3 to 6 of them tinygrad's row (it compiles new kernels for every shape).
 */
import { assert, assertEquals, assertGreater, assertStringIncludes } from "@std/assert";
import {
  caseRequests,
  type FixtureCase,
  judgeCase,
  loadAllFixtures,
  runSuite,
  type StepOutputs,
  SubprocessImplementation,
} from "../mod.ts";
import { peerRowTests } from "./_coverage.ts";
import {
  benchEngine,
  engineCommand,
  enginePython,
  engineUnavailable,
  PYPI_ENGINES,
  PYPI_PEERS,
  type PypiEngine,
} from "../scripts/peers/pypi_framework_peers.ts";

const files = await loadAllFixtures();
const reasons = new Map<string, string | undefined>();
for (const e of PYPI_ENGINES) reasons.set(e.engine, await engineUnavailable(e));
const engine = (name: PypiEngine["engine"]) => PYPI_ENGINES.find((e) => e.engine === name)!;
const ignored = (...names: PypiEngine["engine"][]) => names.some((n) => reasons.get(n) !== undefined);
const why = (...names: PypiEngine["engine"][]) => {
  const r = names.map((n) => reasons.get(n)).filter((r) => r !== undefined);
  return r.length ? ` (ignored: ${r.join("; ")})` : "";
};

function fixtureCase(name: string): FixtureCase {
  const c = files.flatMap((f) => f.cases).find((c) => c.name === name);
  if (!c) throw new Error(`no fixture case ${JSON.stringify(name)}`);
  return c;
}

/** One case through an engine's protocol program: its answers, and the judge's verdict. */
async function runCase(name: PypiEngine["engine"], c: FixtureCase) {
  const impl = await SubprocessImplementation.start({ command: engineCommand(engine(name)) });
  try {
    const adapter = impl.adapter as {
      wholeCase: (r: ReturnType<typeof caseRequests>, c: FixtureCase) => Promise<StepOutputs[]>;
    };
    const answers = await adapter.wholeCase(caseRequests(c), c);
    return { answers, verdict: judgeCase(c, answers) };
  } finally {
    await impl.close();
  }
}

/** Runs Python code in an engine's environment; its standard output as JSON (or the exit signal when it crashed). */
async function python(name: PypiEngine["engine"], code: string, ...args: string[]) {
  const { code: status, signal, stdout, stderr } = await new Deno.Command(enginePython(engine(name)), {
    args: ["-c", code, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const out = new TextDecoder().decode(stdout).trim();
  return { status, signal, json: status === 0 ? JSON.parse(out) : undefined, stderr: new TextDecoder().decode(stderr) };
}

for (const peer of PYPI_PEERS) {
  const e = PYPI_ENGINES.find((e) => e.label === peer.label)!;
  const reason = reasons.get(e.engine);
  peerRowTests(peer, files, reason);
}

Deno.test("an engine without its environment keeps its row, saying how to install it", async () => {
  const missing: PypiEngine = { ...engine("mlx"), env: "no-such-env" };
  const reason = await engineUnavailable(missing);
  assertStringIncludes(reason ?? "", "deno task envs no-such-env");
});

// ---- PyTorch 2.15 and MLX refuse epsilon 0 where PyTorch 1.13 computed ----

Deno.test({
  name: "PyTorch 2.15 refuses eps = 0 in training (1.13 computed the recorded outputs); MLX refuses eps = 0 always" +
    why("torch", "mlx"),
  ignore: ignored("torch", "mlx"),
  fn: async () => {
    const c = fixtureCase("pytorch BatchNorm2d float32 2x3x4x5 eps=0");
    assertEquals(c.steps[0].mode, "train");
    assert(c.steps[0].expected?.y !== undefined, "PyTorch 1.13 recorded outputs for this case");
    const torch = await runCase("torch", c);
    assertEquals(torch.answers[0].error?.code, "invalid_epsilon");
    assertStringIncludes(torch.answers[0].error!.message, "batch_norm eps must be positive during training, but got 0");
    assert(!torch.verdict.pass);
    const mlx = await runCase("mlx", c);
    assertStringIncludes(mlx.answers[0].error?.message ?? "", "[BatchNorm] 'eps' must be positive but got 0");
    assert(!mlx.verdict.pass);
    // Inference with eps = 0 still runs in PyTorch 2.15 (the check is on the training path only).
    const evalRun = await python(
      "torch",
      "import json, torch; m = torch.nn.BatchNorm1d(2, eps=0.0).eval(); " +
        "print(json.dumps(m(torch.tensor([[1.0, 2.0], [3.0, 4.0]])).tolist()))",
    );
    assertEquals(evalRun.json, [[1, 2], [3, 4]]);
  },
});

// ---- PaddlePaddle: one value per channel is copied through; float32 epsilon and momentum ----

Deno.test({
  name: "PaddlePaddle 3.3.1 training on one value per channel returns y = x and leaves the running statistics" +
    why("paddle"),
  ignore: ignored("paddle"),
  fn: async () => {
    const c = fixtureCase("tfjs edge layers.batchNormalization float32 1x2 one-value-train");
    const { answers, verdict } = await runCase("paddle", c);
    const step = c.steps[0];
    assertEquals(Array.from(answers[0].outputs!.y.data), Array.from(step.inputs.x.data)); // a copy of x, not (x − mean)·invstd·γ + β
    assertEquals(Array.from(answers[0].outputs!.running_mean.data), Array.from(c.initialState.runningMean!.data));
    assertEquals(Array.from(answers[0].outputs!.running_var.data), Array.from(c.initialState.runningVar!.data));
    assert(!verdict.pass);
  },
});

Deno.test({
  name: "PaddlePaddle 3.3.1 float64 batch_norm adds epsilon rounded to float32 (its kernel's `float epsilon`)" +
    why("paddle"),
  ignore: ignored("paddle"),
  fn: async () => {
    const r = await python(
      "paddle",
      `
import json, numpy as np, paddle
x = np.array([[1.0, 2.0], [3.0, 7.0], [4.0, -1.0]])
y = paddle.nn.functional.batch_norm(paddle.to_tensor(x), paddle.zeros([2], 'float64'), paddle.ones([2], 'float64'),
                                    training=True, epsilon=0.1).numpy()
def ref(eps):
    m, v = x.mean(0), x.var(0)
    return ((x - m) / np.sqrt(v + eps))
print(json.dumps({"f32": float(np.abs(y - ref(float(np.float32(0.1)))).max()), "f64": float(np.abs(y - ref(0.1)).max())}))
`,
    );
    assert(r.json, r.stderr);
    assert(r.json.f32 < 1e-15, `not float32(0.1): ${r.json.f32}`);
    assertGreater(r.json.f64, 1e-10); // 0.1 and float32(0.1) differ by 1.5e-9: far beyond float64 rounding
  },
});

// ---- PyTorch 2.15, MLX and tinygrad on "4x256 many channels" ----

Deno.test({
  name: "PyTorch 2.15, MLX and tinygrad each pass the float32 4x256 many-channels case, each with its own dx" +
    why("torch", "mlx", "tinygrad"),
  ignore: ignored("torch", "mlx", "tinygrad"),
  fn: async () => {
    const name = "pytorch edge BatchNorm1d float32 4x256 many channels";
    const file = files.find((f) => f.cases.some((c) => c.name === name))!;
    const one = [{ ...file, cases: file.cases.filter((c) => c.name === name) }];
    const dx: number[][] = [];
    for (const e of ["torch", "mlx", "tinygrad"] as const) {
      const impl = await SubprocessImplementation.start({ command: engineCommand(engine(e)) });
      try {
        const report = await runSuite(one, impl);
        assertEquals(report.totals.pass, 1, `${e}: ${JSON.stringify(report.cases[0]).slice(0, 600)}`);
      } finally {
        await impl.close();
      }
      dx.push(Array.from((await runCase(e, one[0].cases[0])).answers[0].outputs!.dx.data));
    }
    // Three kernels, three summation orders: the answers differ in most elements, and each is within the budget.
    const differ = (a: number[], b: number[]) => a.filter((v, i) => v !== b[i]).length;
    assertGreater(differ(dx[0], dx[1]), 0);
    assertGreater(differ(dx[0], dx[2]), 0);
  },
});

// ---- ncnn: the numpy-borrowing Mat crashes extract; the peer clones ----

const NCNN_RUN = `
import json, sys, numpy as np, ncnn
net = ncnn.Net()
net.opt.num_threads = 1
for n in ("use_fp16_packed", "use_fp16_storage", "use_fp16_arithmetic", "use_bf16_storage", "use_packing_layout"):
    setattr(net.opt, n, False)
rng = np.random.default_rng(1)
C, L = 4, 4096
x = rng.standard_normal((C, L)).astype(np.float32)
g, b, m = (rng.standard_normal(C).astype(np.float32) for _ in range(3))
v = (rng.random(C) + 0.5).astype(np.float32)
net.load_param_mem(f"7767517\\n2 2\\nInput in0 0 1 in0\\nBatchNorm bn0 1 1 in0 out0 0={C} 1=1e-05\\n")
net.load_model_mem(np.concatenate([g, m, v, b]).tobytes())
mat = ncnn.Mat(x)
if sys.argv[1] == "clone":
    mat = mat.clone()
ex = net.create_extractor()
ex.input("in0", mat)
_, out = ex.extract("out0")
y = np.array(out)
sq = np.sqrt(v + np.float32(1e-5))
slope, shift = (g / sq)[:, None], (b - g * m / sq)[:, None]
fma = (slope.astype(np.float64) * x + shift.astype(np.float64)).astype(np.float32)  # the product is exact in float64
print(json.dumps({"n": int(y.size), "fma": int((y == fma).sum()), "unfused": int((y == slope * x + shift).sum())}))
`;

Deno.test({
  name: "ncnn's Python binding crashes at extract on a Mat made from a numpy array; cloned, BatchNorm is fma(x, a, b)" +
    why("ncnn"),
  ignore: ignored("ncnn"),
  fn: async () => {
    const borrowed = await python("ncnn", NCNN_RUN, "borrow");
    assertEquals(borrowed.signal, "SIGSEGV", `expected the recorded crash, got status ${borrowed.status}`);
    const cloned = await python("ncnn", NCNN_RUN, "clone");
    assert(cloned.json, cloned.stderr);
    assertEquals(cloned.json.fma, cloned.json.n); // y = fma(x, γ/√(v+ε), β − γ·μ/√(v+ε)), float32, bit for bit
    assert(cloned.json.unfused < cloned.json.n, "the unfused x·a + b should differ somewhere");
  },
});

Deno.test({
  name: "a crash never passes: the ncnn peer's process dying is a failed case" + why("ncnn"),
  ignore: ignored("ncnn"),
  fn: async () => {
    // A program that dies like the binding without the clone: SIGSEGV on its first case, after an honest hello.
    const crash = `import os, signal, sys, json
for line in sys.stdin:
    if json.loads(line)["type"] == "hello":
        print(json.dumps({"type": "hello", "protocol": "batchnorm-conformance", "version": "1.0", "name": "crash",
                          "supports": {"modes": ["eval"], "dtypes": ["float32"], "backward": False, "outputs": ["y"]}}), flush=True)
    else:
        os.kill(os.getpid(), signal.SIGSEGV)`;
    const impl = await SubprocessImplementation.start({ command: [enginePython(engine("ncnn")), "-c", crash] });
    try {
      const source = files.filter((f) => f.provenance.source === "onnx-testdata");
      const report = await runSuite(source, impl);
      assertGreater(report.totals.fail, 0);
      assertEquals(report.totals.pass, 0);
    } finally {
      await impl.close();
    }
  },
});

// ---- ncnn's model route: pnnx, run with PyTorch 2.15's torch, writes the layer the peer writes ----

Deno.test({
  name:
    "pnnx (with .envs/torch2's PyTorch) converts BatchNorm2d to the ncnn BatchNorm layer and weights the peer writes" +
    why("torch", "ncnn"),
  ignore: ignored("torch", "ncnn"),
  fn: async () => {
    const site = new URL("../.envs/ncnn/lib/python3.11/site-packages", import.meta.url).pathname;
    const { success, stdout, stderr } = await new Deno.Command(enginePython(engine("torch")), {
      args: [
        "-c",
        `
import json, os, sys, tempfile
sys.path.append(${JSON.stringify(site)})  # pnnx from the ncnn environment, torch from this one
import numpy as np, torch, pnnx
m = torch.nn.BatchNorm2d(3).eval()
with torch.no_grad():
    m.weight.copy_(torch.tensor([1., 2., 3.])); m.bias.copy_(torch.tensor([0., 1., -1.]))
    m.running_mean.copy_(torch.tensor([0.5, -1., 2.])); m.running_var.copy_(torch.tensor([2., 3., .5]))
with tempfile.TemporaryDirectory() as d:
    os.chdir(d)
    pnnx.export(m, "bn.pt", (torch.rand(1, 3, 4, 4),))
    param = open("bn.ncnn.param").read().split("\\n")
    weights = np.fromfile("bn.ncnn.bin", dtype=np.float32).tolist()
print(json.dumps({"layer": [l.split() for l in param if l.startswith("BatchNorm")], "weights": weights}))
`,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const err = new TextDecoder().decode(stderr);
    assert(success, err.slice(-2000));
    const out = JSON.parse(new TextDecoder().decode(stdout).trim().split("\n").pop()!);
    assertEquals(out.layer.length, 1);
    assertEquals(out.layer[0].slice(2), ["1", "1", "in0", "out0", "0=3", "1=1.000000e-5"]);
    // slope, mean, var, bias: the order the peer's Ncnn.net loads them in.
    assertEquals(out.weights, [1, 2, 3, 0.5, -1, 2, 2, 3, 0.5, 0, 1, -1]);
  },
});

Deno.test({
  name: "each available engine times itself in its own process (--bench: median milliseconds, no pipe or copy)",
  ignore: PYPI_ENGINES.every((e) => reasons.get(e.engine) !== undefined),
  fn: async () => {
    for (const e of PYPI_ENGINES.filter((e) => reasons.get(e.engine) === undefined)) {
      const t = await benchEngine(e, [2, 4, 3, 3], 3);
      assertEquals(t.shape, [2, 4, 3, 3]);
      assertGreater(t.median_ms.eval!, 0, e.engine);
      if (e.engine !== "ncnn") assertGreater(t.median_ms.train!, 0, e.engine);
    }
  },
});
