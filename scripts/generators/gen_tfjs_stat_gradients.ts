/**
 * Golden fixtures of format 1.3's `dmean` and `dvar` from TensorFlow.js: `tf.grads` of sum(tf.batchNorm(x, mean,
 * variance, offset, scale)·dy) with respect to x, the mean and variance the call is given, scale and offset (cpu
 * backend, float32). TF.js differentiates tf.batchNorm with respect to its statistics
 * (tfjs-core/src/gradients/FusedBatchNorm_grad.ts: derMean = Σ −rsqrt(v + ε)·dy·scale, derVariance =
 * Σ −½·rsqrt(v + ε)³·(x − mean)·dy·scale); PyTorch refuses (native_batch_norm "is not differentiable with respect to
 * argument 'running_mean'", tests/reference_features_evidence_test.ts). No float64 twin: every output is judged
 * against its exact value (expected_exact).
 *
 * @module
 */

import { conventionToConfig, PRESETS } from "../../mod.ts";
import { fixtureText, hashName, normalStream, writeAtomic } from "./_fixture_io.ts";
import { batchNormStatGradients, TFJS_VERSION, useCpu } from "../runners/tfjs.ts";

/** Base seed; each case's seed is SEED ^ hash(name). */
export const SEED = 20261201;

interface StatGradientCase {
  name: string;
  description: string;
  features: string[];
  shape: number[];
  /** A float32 value, so the kernel and its gradient (which adds epsilon as a float32 scalar) use the same one. */
  epsilon: number;
  affine: boolean;
  /** The running variance per channel, when the case fixes it. */
  variance?: number[];
  /** The channels' data mean (x and the running mean near it): large values make x − mean cancel. */
  center?: number;
}

/** The cases, in file order (channels last, parameters of shape [C]). */
export const STAT_GRADIENT_CASES: readonly StatGradientCase[] = [
  {
    name: "tfjs batchNorm float32 2x4x5x3 NHWC gradients with respect to mean and variance (tf.grads)",
    description: "tf.batchNorm in inference with given mean and variance; tf.grads of sum(y·dy) with respect to x, " +
      "mean, variance, scale and offset: dmean = −γΣdy/√(v + ε), dvar = −½γΣdy(x − m)/(v + ε)^(3/2).",
    features: ["inference", "backward", "functional-api"],
    shape: [2, 4, 5, 3],
    epsilon: 2 ** -10,
    affine: true,
  },
  {
    name: "tfjs batchNorm float32 4x4x4x3 epsilon=0.75 gradients with respect to mean and variance",
    description: "variance 0.25, 1, 0.0625 with epsilon 0.75: dvar inside the root is −½γΣdy(x − m)/(v + ε)^(3/2); " +
      "outside it would be −γΣdy(x − m)/(2σ(σ + ε)²): 1.28, 0.76 and 2.93 times the inside value here.",
    features: ["inference", "backward", "functional-api", "epsilon-placement", "epsilon-value"],
    shape: [4, 4, 4, 3],
    epsilon: 0.75,
    affine: true,
    variance: [0.25, 1, 0.0625],
  },
  {
    name: "tfjs batchNorm float32 2x4x5x3 data and mean near 100 gradients with respect to mean and variance",
    description: "x and the given mean near 100 with spread near 1: x − mean cancels, so dvar's terms carry the " +
      "rounding of values near 100 (the |μ|·Σ|dy| part of its error scale).",
    features: ["inference", "backward", "functional-api", "large-mean"],
    shape: [2, 4, 5, 3],
    epsilon: 2 ** -10,
    affine: true,
    center: 100,
  },
];

const f32 = (v: number) => Math.fround(v);
const tensor = (shape: number[], data: number[]) => ({ dtype: "float32", shape, data });
const ORDER = ["y", "dx", "dgamma", "dbeta", "dmean", "dvar"];

function runCase(c: StatGradientCase, seed: number) {
  const next = normalStream(seed);
  const C = c.shape[c.shape.length - 1];
  const vec = (f: () => number) => Array.from({ length: C }, () => f32(f()));
  const center = c.center ?? 0;
  const p = {
    mean: vec(() => next(center, center ? 0.25 : 1)),
    variance: c.variance ?? vec(() => 0.5 + Math.abs(next(0, 1))),
    offset: c.affine ? vec(() => next(0, 0.5)) : undefined,
    scale: c.affine ? vec(() => next(1, 0.25)) : undefined,
    epsilon: c.epsilon,
  };
  const count = c.shape.reduce((a, b) => a * b, 1);
  const x = Array.from({ length: count }, () => f32(next(center, center ? 1 : 2)));
  const dy = Array.from({ length: count }, () => f32(next()));
  return { p, x, dy, expected: batchNormStatGradients(c.shape, x, p, dy) };
}

/** What TF.js refuses here, captured live: tf.grads of tf.batchNorm without scale and offset. */
function refusals(): { call: string; message: string }[] {
  const call =
    "tf.grads of sum(tf.batchNorm(x, mean, variance)·dy) with respect to [x, mean, variance], no scale or offset";
  try {
    batchNormStatGradients([1, 1, 2, 3], [0, 1, 2, 3, 4, 5], { mean: [0, 1, 2], variance: [1, 1, 1], epsilon: 0.75 }, [
      1,
      1,
      1,
      1,
      1,
      1,
    ]);
    return [{ call, message: "accepted" }];
  } catch (e) {
    return [{ call, message: (e as Error).message }];
  }
}

/** Runs every case in TF.js and returns the fixture document. */
export async function buildStatGradientDocument(
  list: readonly StatGradientCase[] = STAT_GRADIENT_CASES,
): Promise<Record<string, unknown>> {
  const backend = await useCpu();
  const cases = list.map((c) => {
    const seed = (SEED ^ hashName(c.name)) >>> 0;
    const { p, x, dy, expected } = runCase(c, seed);
    const C = c.shape[c.shape.length - 1];
    const shaped = (name: string, v: number[]) => tensor(name === "y" || name === "dx" ? c.shape : [C], v);
    const names = ORDER.filter((n) => expected[n] !== undefined);
    return {
      name: c.name,
      description: c.description,
      features: c.features,
      api: "tf.batchNorm; tf.grads",
      seed,
      dtype: "float32",
      config: conventionToConfig({ ...PRESETS.keras, axis: -1, epsilon: c.epsilon, affine: c.affine }),
      initial_state: {
        ...(c.affine ? { gamma: tensor([C], p.scale!), beta: tensor([C], p.offset!) } : {}),
        running_mean: tensor([C], p.mean),
        running_var: tensor([C], p.variance),
      },
      steps: [{
        mode: "eval",
        inputs: { x: tensor(c.shape, x), dy: tensor(c.shape, dy) },
        expected: Object.fromEntries(names.map((n) => [n, shaped(n, expected[n])])),
      }],
      framework_call: {
        op: "tf.batchNorm",
        param_shape: [C],
        epsilon: c.epsilon,
        grads: c.affine ? "tf.grads(f)([x, mean, variance, scale, offset])" : "tf.grads(f)([x, mean, variance])",
      },
    };
  });
  return {
    format: "batchnorm-conformance-fixture",
    // 1.3: the outputs dmean and dvar.
    format_version: "1.3",
    provenance: {
      source: "tfjs",
      framework: "TensorFlow.js",
      version: TFJS_VERSION,
      api: "tf.batchNorm; gradients with respect to x, mean, variance, scale and offset by tf.grads",
      generator: "scripts/generators/gen_tfjs_stat_gradients.ts",
      command: "deno task fixtures",
      seed: SEED,
      composed: false,
      environment: `@tensorflow/tfjs ${TFJS_VERSION}, backend ${backend}, under Deno ${Deno.version.deno}`,
      notes: [
        "expected: what TF.js computed (float32): y by the cpu kernel, the gradients by tf.grads through " +
        "tfjs-core's FusedBatchNorm gradient (float32 ops: rsqrt(variance + epsilon), its cube times −0.5, sums over " +
        "the reduction axes). dmean and dvar are the gradients with respect to the mean and variance the call is given " +
        "(format 1.3): the running statistics of an eval step.",
        "No expected_float64: every output is judged against its exact value (expected_exact).",
        "epsilon is a float32 value (2^-10, 0.75): the kernel adds it in binary64, the gradient as a float32 scalar; " +
        "with a float32 epsilon both add the same value.",
      ],
      refused: refusals(),
    },
    cases,
  };
}

/** Generates fixtures/tfjs/statistics_gradients.json. */
export async function generate(root: URL): Promise<void> {
  const doc = await buildStatGradientDocument();
  const dir = new URL("fixtures/tfjs/", root);
  Deno.mkdirSync(dir, { recursive: true });
  writeAtomic(new URL("statistics_gradients.json", dir), fixtureText(doc));
  console.log(`fixtures/tfjs/statistics_gradients.json: ${(doc.cases as unknown[]).length} cases (format 1.3)`);
}

if (import.meta.main) await generate(new URL("../../", import.meta.url));
