/**
 * Evidence for two reference features the deployed APIs have (docs/findings.md, "Reference features the engines'
 * APIs have"): rank-1 inputs and gradients with respect to the statistics used in inference. What each framework
 * here accepts, computes or refuses, captured live.
 *
 * Rank 1 is in the reference and the format (1.3, fixtures/FORMAT.md "Rank 1"), judged against TF.js's tf.batchNorm
 * on a rank-1 input (fixtures/tfjs, the case "tfjs batchNorm float32 rank 1 ..."); the refusals and onnxruntime's
 * other reading of rank 1 are recorded here. The gradients with respect to mean and variance are not in the
 * reference yet: the TF.js values below are what a fixture would record.
 */
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import * as tf from "@tensorflow/tfjs";
import * as ort from "onnxruntime-node";
import { buildBatchNormModel } from "../scripts/runners/onnx_model.ts";
import { batchNormBackward, budget, tensor, ulp } from "../mod.ts";

const torchProbe = `
import json, torch, torch.nn.functional as F
out = {}
def attempt(name, f):
    try:
        r = f(); out[name] = "accepted: shape %s" % list(r.shape) if hasattr(r, "shape") else "accepted"
    except Exception as e:
        out[name] = str(e).splitlines()[0]
x = torch.randn(5, dtype=torch.float64)
z, o = torch.zeros(5, dtype=torch.float64), torch.ones(5, dtype=torch.float64)
attempt("BatchNorm1d on a rank-1 input", lambda: torch.nn.BatchNorm1d(5, dtype=torch.float64).eval()(x))
attempt("F.batch_norm on a rank-1 input, eval", lambda: F.batch_norm(x, z, o, training=False))
x2 = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
rm = torch.zeros(3, dtype=torch.float64, requires_grad=True)
rv = torch.ones(3, dtype=torch.float64, requires_grad=True)
attempt("autograd of F.batch_norm (eval) with respect to running_mean and running_var",
        lambda: torch.autograd.grad(F.batch_norm(x2, rm, rv, training=False).sum(), [rm, rv])[0])
try:
    from torch.func import grad
    attempt("torch.func.grad of F.batch_norm (eval) with respect to running_mean",
            lambda: grad(lambda m: F.batch_norm(x2.detach(), m, rv.detach(), training=False).sum())(rm.detach()))
    out["torch.func"] = "present"
except ImportError as e:
    out["torch.func"] = str(e)
out["version"] = torch.__version__
print(json.dumps(out))
`;

/** Whether a Python runs `import torch`. */
const hasTorch = (python: string) => {
  try {
    return new Deno.Command(python, { args: ["-c", "import torch"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
};

// Debian's PyTorch 1.13, and PyTorch 2.15 from PyPI where `deno task envs torch2` installed it (envs/torch2.txt).
for (const [python, version] of [["/usr/bin/python3", "1.13"], [".envs/torch2/bin/python", "2.15"]] as const) {
  Deno.test({
    name:
      `PyTorch ${version} refuses rank-1 inputs and gradients with respect to the running statistics (live messages)`,
    ignore: !hasTorch(python),
    fn: async () => {
      const { success, stdout, stderr } = await new Deno.Command(python, {
        args: ["-c", torchProbe],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert(success, new TextDecoder().decode(stderr));
      const r = JSON.parse(new TextDecoder().decode(stdout));
      assertEquals(r.version.split(".").slice(0, 2).join("."), version);
      assertEquals(r["BatchNorm1d on a rank-1 input"], "expected 2D or 3D input (got 1D input)");
      // F.batch_norm finds no channel axis in a 1-D input (it expects running statistics of length 0).
      assertEquals(r["F.batch_norm on a rank-1 input, eval"], "running_mean should contain 0 elements not 5");
      const refused = "is not differentiable with respect to argument 'running_mean'";
      assertStringIncludes(r["autograd of F.batch_norm (eval) with respect to running_mean and running_var"], refused);
      if (version === "1.13") assertEquals(r["torch.func"], "No module named 'torch.func'");
      else {
        assertEquals(r["torch.func"], "present");
        assertStringIncludes(r["torch.func.grad of F.batch_norm (eval) with respect to running_mean"], refused);
      }
    },
  });
}

const f64 = (t: tf.Tensor) => Array.from(t.dataSync());
const close = (a: number[], b: number[], rel = 2 ** -20) =>
  a.length === b.length && a.every((v, i) => Math.abs(v - b[i]) <= rel * Math.max(1, Math.abs(b[i])));

Deno.test("TF.js 4.22: tf.batchNorm normalizes a rank-1 input along axis 0; the layer refuses rank 1", async () => {
  await tf.setBackend("cpu");
  const x = [1, 2, 3, 4, 5],
    m = [0.5, 1, 1.5, 2, 2.5],
    v = [1, 2, 3, 4, 5],
    s = [2, 1, 0.5, 1, 3],
    o = [0, 1, 0, -1, 0];
  const eps = 1e-3;
  const y = f64(tf.batchNorm(tf.tensor1d(x), tf.tensor1d(m), tf.tensor1d(v), tf.tensor1d(o), tf.tensor1d(s), eps));
  const exact = x.map((xi, i) => (xi - m[i]) / Math.sqrt(v[i] + eps) * s[i] + o[i]);
  assert(close(y, exact), `${y} vs ${exact}`);
  let message = "accepted";
  try {
    tf.layers.batchNormalization({}).apply(tf.tensor1d([1, 2, 3]), { training: false });
  } catch (e) {
    message = (e as Error).message;
  }
  assertEquals(message, "batchNormalization is not implemented for array of rank 1 yet");
});

Deno.test("TF.js 4.22: tf.grads of tf.batchNorm gives the gradients with respect to mean and variance (scale and offset given)", async () => {
  await tf.setBackend("cpu");
  const x = [[1, 2, 3], [4, 5, 6]],
    m = [1, 2.5, 3],
    v = [1, 2, 3],
    s = [1, 2, 0.5],
    o = [0, 0, 0],
    dy = [[1, -1, 2], [0.5, 1, -1]];
  const eps = 1e-3;
  const t = (a: number[]) => tf.tensor1d(a);
  const [dx, dm, dv] = tf.grads((a: tf.Tensor, mm: tf.Tensor, vv: tf.Tensor) =>
    tf.sum(tf.mul(tf.batchNorm(a, mm, vv, t(o), t(s), eps), tf.tensor2d(dy)))
  )([tf.tensor2d(x), t(m), t(v)]).map(f64);
  // Closed forms in float64: y = (x − m)·s/sqrt(v + ε) + o.
  const inv = v.map((vi) => 1 / Math.sqrt(vi + eps));
  const col = (c: number) => [0, 1].map((n) => ({ x: x[n][c], dy: dy[n][c] }));
  assert(close(dx, x.flatMap((row, n) => row.map((_, c) => dy[n][c] * s[c] * inv[c]))), `dx ${dx}`);
  assert(close(dm, m.map((_, c) => -col(c).reduce((a, e) => a + e.dy, 0) * s[c] * inv[c])), `dmean ${dm}`);
  assert(
    close(dv, v.map((_, c) => -0.5 * s[c] * inv[c] ** 3 * col(c).reduce((a, e) => a + e.dy * (e.x - m[c]), 0))),
    `dvariance ${dv}`,
  );
  // Without scale and offset the same call throws inside TF.js's gradient bookkeeping.
  let message = "accepted";
  try {
    tf.grads((a: tf.Tensor, mm: tf.Tensor) => tf.sum(tf.batchNorm(a, mm, t(v), undefined, undefined, eps)))([
      tf.tensor2d(x),
      t(m),
    ]);
  } catch (e) {
    message = (e as Error).message;
  }
  assertEquals(message, "Cannot read properties of undefined (reading 'dataId')");
});

Deno.test("onnxruntime-node 1.30 reads a rank-1 X as (N, 1): axis 0 is the batch axis, not WebNN's channel axis", async () => {
  const run = async (channels: number) => {
    const v = (k: number) => Array.from({ length: channels }, () => k);
    const model = buildBatchNormModel({
      opset: 15,
      dtype: "float32",
      shape: [5],
      training: false,
      graphOutputs: "Y",
      initializers: { scale: v(1), B: v(0), mean: v(0.5), var: v(4) },
    });
    try {
      const s = await ort.InferenceSession.create(model);
      const r = await s.run({ X: new ort.Tensor("float32", Float32Array.from([1, 2, 3, 4, 5]), [5]) });
      return Array.from(r.Y.data as Float32Array);
    } catch (e) {
      return (e as Error).message.split("\n")[0];
    }
  };
  // WebNN's and TF.js's reading (five channels, one value each) is refused by shape inference.
  assertStringIncludes(String(await run(5)), "Dimension mismatch in unification between 5 and 1");
  // One channel over a batch of five: (x − 0.5)/sqrt(4 + 1e-5).
  const y = await run(1);
  assert(Array.isArray(y) && close(y, [1, 2, 3, 4, 5].map((x) => (x - 0.5) / Math.sqrt(4 + 1e-5))), `${y}`);
});

/** The exact oracle's correctly rounded dmean and dvar (scripts/generators/exact_oracle.py). */
async function exactStatisticsGradients(args: unknown[]): Promise<{ dmean: number[]; dvar: number[] }> {
  const code = "import json, sys; sys.path.insert(0, 'scripts/generators'); import exact_oracle as o; " +
    "print(json.dumps(o.statistics_gradients_exact(*json.loads(sys.argv[1]))))";
  const { success, stdout, stderr } = await new Deno.Command("/usr/bin/python3", {
    args: ["-c", code, JSON.stringify(args)],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert(success, new TextDecoder().decode(stderr));
  return JSON.parse(new TextDecoder().decode(stdout));
}

Deno.test({
  name:
    "batchNormBackward() eval: dmean and dvar are the exact oracle's in float64, and within budget of TF.js's tf.grads",
  ignore: !hasTorch("/usr/bin/python3"), // the oracle's Python (Debian's, with mpmath)
  fn: async () => {
    await tf.setBackend("cpu");
    const shape = [4, 3], C = 3, eps = 1e-3;
    const x = [0.5, -1.25, 2, 1, 3.5, -0.75, -2, 0.25, 1.5, 0.125, -3, 4].map(Math.fround);
    const dy = [1, -1, 2, 0.5, 1, -1, -0.25, 2, 0.75, 1.5, -0.5, 0.25].map(Math.fround);
    const gamma = [1, 2, 0.5], beta = [0, 0.5, -1], mean = [0.3, -0.6, 1.1].map(Math.fround);
    const variance = [1.5, 0.2, 3].map(Math.fround);
    const state = { gamma, beta, runningMean: mean, runningVar: variance };
    const oracle = (placement: string) =>
      exactStatisticsGradients([shape, -1, x, dy, gamma, mean, variance, eps, placement]);
    const both = { inside: await oracle("inside"), outside: await oracle("outside") };
    // The check can fail: the two placements' values are far apart (a reference with the other one fails).
    assert(Math.abs(both.inside.dvar[0] - both.outside.dvar[0]) > 1e3 * ulp(Math.abs(both.inside.dvar[0]), "float32"));
    for (const placement of ["inside", "outside"] as const) {
      const exact = both[placement];
      const convention = { base: "keras" as const, axis: -1, epsilon: eps, epsilonPlacement: placement };
      const r64 = batchNormBackward(
        tensor("float64", shape, x),
        tensor("float64", shape, dy),
        state,
        "eval",
        convention,
      );
      assertEquals(Array.from(r64.dmean!.data), exact.dmean, `${placement} dmean`);
      assertEquals(Array.from(r64.dvar!.data), exact.dvar, `${placement} dvar`);
      // float32: within the policy's budget of the exact value (a reduction over n = 4 values per channel).
      const r32 = batchNormBackward(
        tensor("float32", shape, x),
        tensor("float32", shape, dy),
        state,
        "eval",
        convention,
      );
      const limit = budget("float32", "dgamma", 4);
      const ulps = (have: ArrayLike<number>, want: number[]) =>
        Math.max(...want.map((w, i) => Math.abs(have[i] - w) / ulp(Math.abs(w), "float32")));
      assert(ulps(r32.dmean!.data, exact.dmean) <= 0.5 && ulps(r32.dvar!.data, exact.dvar) <= 0.5, placement);
      if (placement === "outside") continue; // TF.js puts epsilon inside the root
      // TF.js 4.22's autodiff, the witness: its float32 dmean and dvar lie within the same budget of exact.
      const t = (a: number[]) => tf.tensor1d(a, "float32");
      const [, dm, dv] = tf.grads((a: tf.Tensor, m: tf.Tensor, v: tf.Tensor) =>
        tf.sum(tf.mul(tf.batchNorm(a, m, v, t(beta), t(gamma), eps), tf.tensor2d(dy, [4, C])))
      )([tf.tensor2d(x, [4, C]), t(mean), t(variance)]).map(f64);
      assert(ulps(dm, exact.dmean) <= limit, `TF.js dmean ${dm} vs ${exact.dmean}`);
      assert(ulps(dv, exact.dvar) <= limit, `TF.js dvar ${dv} vs ${exact.dvar}`);
    }
    // Where the statistics come from the batch there is no such input: null.
    const train = batchNormBackward(tensor("float32", shape, x), tensor("float32", shape, dy), state, "train", "keras");
    assertEquals([train.dmean, train.dvar], [null, null]);
  },
});
