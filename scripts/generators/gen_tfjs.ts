/**
 * Golden fixtures from TensorFlow.js (the TensorFlow team's implementation of
 * Keras semantics), cpu backend: the layer `tf.layers.batchNormalization` over
 * multi-step training and inference, and the op `tf.batchNorm`, with gradients by
 * TF.js autodiff. `expected` is what TF.js computed (float32); TF.js has no
 * float64 kernels, so `expected_float64` is composed: the same call evaluated with
 * PyTorch float64 tensor ops and autograd (scripts/generators/compose_torch.py).
 *
 * Also the porting cases: the inputs and weights of a PyTorch fixture case pushed
 * through the TF.js layer with TF's defaults and with PyTorch's values mapped.
 *
 * @module
 */

import { conventionToConfig, PRESETS } from "../../mod.ts";
import { channelData, fixtureText, hashName, type InputFn, normalStream, writeAtomic } from "./_fixture_io.ts";
import { channelsLastShape, EDGE_SCENARIOS, type EdgeScenario } from "./_edge_scenarios.ts";
import { batchNormOp, refusals, TFJS_VERSION, TfjsLayer, useCpu } from "../runners/tfjs.ts";
import { generate as generateStatGradients } from "./gen_tfjs_stat_gradients.ts";

/** Base seed; each case's seed is SEED ^ hash(name). */
export const SEED = 20261122;

/** The PyTorch case whose inputs the porting cases reuse. */
export const PORTING_SOURCE = {
  file: "fixtures/pytorch/batchnorm2d.json",
  name: "pytorch BatchNorm2d float32 2x3x4x5 train x3 then eval momentum=0.1",
};

interface LayerCase {
  kind: "layer";
  name: string;
  description: string;
  features: string[];
  shape: number[];
  axis: number;
  momentum?: number;
  epsilon?: number;
  affine?: boolean;
  steps: ("train" | "eval")[];
  /** Inputs and initial weights taken from the PyTorch porting source (NCHW, transposed to NHWC) instead of the seed. */
  porting?: boolean;
  /** Why no gradients are recorded (TF.js cannot compute them for this call). */
  noGradients?: string;
  /** Start from seeded moving statistics instead of TF.js's (0, 1). */
  randomMoving?: boolean;
  /** Edge cases: the scenario shared with other frameworks' edge fixtures. */
  scenario?: string;
  /** Overrides the inputs (NCHW-ordered values, transposed for channels-last cases). */
  xFn?: InputFn;
  /** Overrides initial weights (per-channel values). */
  init?: { gamma?: number[]; beta?: number[]; movingMean?: number[]; movingVariance?: number[] };
}

interface OpCase {
  kind: "op";
  name: string;
  description: string;
  features: string[];
  shape: number[];
  axis: number;
  paramShape: number[];
  epsilon: number;
  affine: boolean;
  /** Running variance per channel, when the case fixes it (the epsilon-placement case). */
  variance?: number[];
  /** Why no gradients are recorded (TF.js cannot compute them for this call). */
  noGradients?: string;
}

type TfjsCase = (LayerCase | OpCase) & { defect?: { issue: string; summary: string } };

const CPU_KERNEL_DEFECT = {
  issue: "https://github.com/tensorflow/tfjs/blob/master/tfjs-backend-cpu/src/kernels/BatchNorm.ts",
  summary: "The cpu kernel walks mean, variance, scale and offset with wrap-around counters over the flat index " +
    "(mVals[mi++], reset at their length): it assumes they vary along the last axis and ignores their broadcast shape, " +
    "so with axis 1 (NCHW) or [C, 1, 1] parameters element i is normalized with channel (i mod C)'s statistics.",
};
const SEQ: ("train" | "eval")[] = ["train", "train", "train", "eval"];

/** The cases, in file order. */
export const TFJS_CASES: readonly TfjsCase[] = [
  ...([
    [[6, 3], -1, "rank 2 (N,C)"],
    [[4, 5, 3], -1, "rank 3 (N,L,C)"],
    [[2, 4, 5, 3], -1, "rank 4 NHWC"],
    [[2, 3, 4, 5], 1, "rank 4 NCHW (axis 1)"],
  ] as const).map(([shape, axis, label]): TfjsCase => ({
    kind: "layer",
    name: `tfjs layers.batchNormalization float32 ${shape.join("x")} ${label} defaults train x3 then eval`,
    description:
      "Keras semantics with TF.js defaults (momentum 0.99 on the OLD moving value, epsilon 1e-3, biased moving " +
      "variance): three training calls that update the moving statistics, then inference" +
      (axis === 1
        ? ". No gradients: TF.js's autodiff fails on this layer with axis 1 (see provenance.refused)."
        : "; gradients by TF.js autodiff."),
    features: ["training", "inference", "multi-step", ...(axis === 1 ? ["known-framework-defect"] : ["backward"])],
    shape: [...shape],
    axis,
    steps: SEQ,
    ...(axis === 1
      ? { noGradients: "TF.js autodiff refuses axis 1 on rank 4 in training", defect: CPU_KERNEL_DEFECT }
      : {}),
  })),
  {
    kind: "layer",
    name: "tfjs layers.batchNormalization float32 2x4x5x3 NHWC center=false scale=false inference",
    description:
      "No gamma or beta: y is the plain normalized x. Inference only, without gradients: in TF.js 4.22 this " +
      "layer's training call and its gradient crash (see provenance.refused).",
    features: ["inference", "no-affine"],
    shape: [2, 4, 5, 3],
    axis: -1,
    affine: false,
    steps: ["eval"],
    randomMoving: true,
    noGradients: "TF.js crashes differentiating a layer with center=false, scale=false",
  },
  {
    kind: "layer",
    name: "tfjs layers.batchNormalization float32 2x4x5x3 NHWC momentum=0.5 epsilon=0.1",
    description: "Non-default momentum and a large epsilon.",
    features: ["training", "inference", "multi-step", "backward", "epsilon-value"],
    shape: [2, 4, 5, 3],
    axis: -1,
    momentum: 0.5,
    epsilon: 0.1,
    steps: SEQ,
  },
  {
    kind: "layer",
    name: "tfjs layers.batchNormalization float32 2x4x5x3 NHWC momentum=0 (moving statistics replaced)",
    description: "Momentum 0 on the old value: the moving statistics become the last batch's (biased variance).",
    features: ["training", "inference", "multi-step", "backward", "momentum-extreme"],
    shape: [2, 4, 5, 3],
    axis: -1,
    momentum: 0,
    steps: SEQ,
  },
  {
    kind: "layer",
    name: "tfjs layers.batchNormalization float32 1x3 one value per channel in training",
    description:
      "One value per channel: TF.js computes variance 0 and y = beta, and the moving variance decays toward 0.",
    features: ["training", "batch-size-1", "single-value-per-channel", "backward"],
    shape: [1, 3],
    axis: -1,
    steps: ["train", "eval"],
  },
  {
    kind: "layer",
    name: "tfjs layers.batchNormalization float32 1x2x2x3 NHWC batch size 1 with spatial size 4",
    description: "N=1 with four values per channel.",
    features: ["training", "inference", "backward", "batch-size-1"],
    shape: [1, 2, 2, 3],
    axis: -1,
    steps: ["train", "eval"],
  },
  {
    kind: "op",
    name: "tfjs batchNorm float32 2x4x5x3 NHWC mean/variance/scale/offset of shape [3] broadcast",
    description: "tf.batchNorm in inference: per-channel parameters of shape [C] broadcast against the last axis.",
    features: ["inference", "backward"],
    shape: [2, 4, 5, 3],
    axis: -1,
    paramShape: [3],
    epsilon: 1e-3,
    affine: true,
  },
  {
    kind: "op",
    name: "tfjs batchNorm float32 2x3x4x5 NCHW mean/variance/scale/offset of shape [3,1,1] broadcast",
    description: "tf.batchNorm on NCHW data: per-channel parameters of shape [C, 1, 1] broadcast against axis 1. " +
      "Forward only: TF.js's batchNorm gradient assumes channels-last parameters and fails here (see provenance.refused).",
    features: ["inference", "known-framework-defect"],
    noGradients: "TF.js batchNorm gradient fails for parameters of shape [C, 1, 1]",
    defect: CPU_KERNEL_DEFECT,
    shape: [2, 3, 4, 5],
    axis: 1,
    paramShape: [3, 1, 1],
    epsilon: 1e-3,
    affine: true,
  },
  {
    kind: "op",
    name: "tfjs batchNorm float32 4x3 no scale or offset",
    description: "tf.batchNorm with scale and offset undefined: gamma 1, beta 0.",
    features: ["inference", "no-affine"],
    shape: [4, 3],
    axis: -1,
    paramShape: [3],
    epsilon: 1e-3,
    affine: false,
  },
  {
    kind: "op",
    name: "tfjs batchNorm float32 rank 1 (6) mean/variance/scale/offset of shape [6]",
    description: "tf.batchNorm on a rank-1 input: axis 0 is the channel axis and every value is its own channel, " +
      "normalized with the given mean and variance (WebNN's batchNormalization does the same with options.axis=0). " +
      "Gradients by tf.grads. tf.layers.batchNormalization refuses rank 1 (see provenance.refused).",
    features: ["inference", "backward", "rank-1"],
    shape: [6],
    axis: -1,
    paramShape: [6],
    epsilon: 1e-3,
    affine: true,
  },
  {
    kind: "op",
    name: "tfjs batchNorm float32 4x3 epsilon=0.75 shows epsilon inside the square root",
    description: "variance 0.25, 1, 0.0625 with epsilon 0.75: inside the root divides by 1, 1.3229, 0.9014; outside " +
      "it would divide by 1.25, 1.75, 1.0. TF.js's docstring describes epsilon outside the root; the kernel puts it inside.",
    features: ["inference", "epsilon-placement"],
    shape: [4, 3],
    axis: -1,
    paramShape: [3],
    epsilon: 0.75,
    affine: false,
    variance: [0.25, 1, 0.0625],
  },
  {
    kind: "layer",
    name: "tfjs porting: PyTorch BatchNorm2d inputs through the TF.js layer with TF defaults",
    description: `The inputs and weights of "${PORTING_SOURCE.name}", transposed from NCHW to NHWC, through ` +
      "tf.layers.batchNormalization() with TF.js's defaults (momentum 0.99 on the old value, epsilon 1e-3). " +
      "Compare with that PyTorch case: README, porting table.",
    features: ["training", "inference", "multi-step", "backward"],
    shape: [2, 4, 5, 3],
    axis: -1,
    steps: SEQ,
    porting: true,
  },
  {
    kind: "layer",
    name: "tfjs porting: PyTorch BatchNorm2d inputs through the TF.js layer with PyTorch's values mapped",
    description: `The same inputs with momentum 0.9 (= 1 - PyTorch's 0.1) and epsilon 1e-5 (PyTorch's default). ` +
      "y, dx, dgamma, dbeta and the moving mean then agree with PyTorch; the moving variance still differs by the Bessel " +
      "factor n/(n-1) that PyTorch applies and Keras does not.",
    features: ["training", "inference", "multi-step", "backward"],
    shape: [2, 4, 5, 3],
    axis: -1,
    momentum: 0.9,
    epsilon: 1e-5,
    steps: SEQ,
    porting: true,
  },
];

/** A scenario's initial state in the layer's weight names, with only the entries it sets. */
function tfjsInit(init: NonNullable<EdgeScenario["init"]>): LayerCase["init"] {
  const names = { gamma: "gamma", beta: "beta", mean: "movingMean", var: "movingVariance" } as const;
  return Object.fromEntries(Object.entries(init).map(([k, v]) => [names[k as keyof typeof names], v]));
}

/** Edge cases: the scenarios of the edge-case matrix (scripts/generators/_edge_scenarios.ts), under TF.js's (Keras) conventions. */
export const TFJS_EDGE_CASES: readonly TfjsCase[] = EDGE_SCENARIOS.map((e): TfjsCase => {
  const shape = channelsLastShape(e.shape);
  const noGradients = shape[0] === 0 ? "empty input" : undefined; // nothing to differentiate
  return {
    kind: "layer",
    name: `tfjs edge layers.batchNormalization float32 ${shape.join("x")} ${e.scenario}`,
    description: e.description,
    features: ["edge-case", ...e.features, ...(noGradients ? [] : ["backward"])],
    shape,
    axis: -1,
    steps: [...e.steps],
    scenario: e.scenario,
    xFn: e.xFn,
    epsilon: e.epsilon,
    momentum: e.momentum,
    init: e.init && tfjsInit(e.init),
    noGradients,
  };
});

interface Step {
  mode: "train" | "eval";
  x: number[];
  dy: number[] | null;
  expected: Record<string, number[]>;
  before: { gamma: number[] | null; beta: number[] | null; mean: number[]; var: number[] };
}

const f32 = (v: number) => Math.fround(v);
const tensor = (shape: number[], data: number[]) => ({ dtype: "float32", shape, data });

function portingInputs(root: URL) {
  const doc = JSON.parse(Deno.readTextFileSync(new URL(PORTING_SOURCE.file, root)));
  const c = doc.cases.find((k: { name: string }) => k.name === PORTING_SOURCE.name);
  if (!c) throw new Error(`porting source "${PORTING_SOURCE.name}" not found in ${PORTING_SOURCE.file}`);
  return {
    gamma: c.initial_state.gamma.data as number[],
    beta: c.initial_state.beta.data as number[],
    steps: c.steps.map((s: { inputs: { x: { data: number[] }; dy: { data: number[] } } }) => ({
      x: s.inputs.x.data,
      dy: s.inputs.dy.data,
    })),
  };
}

function runLayerCase(c: LayerCase, seed: number, root: URL): { steps: Step[]; config: TfjsLayer["config"] } {
  const next = normalStream(seed);
  const C = c.shape[c.axis < 0 ? c.axis + c.shape.length : c.axis];
  const layer = new TfjsLayer(c.shape, {
    axis: c.axis,
    momentum: c.momentum,
    epsilon: c.epsilon,
    center: c.affine ?? true,
    scale: c.affine ?? true,
  });
  const porting = c.porting ? portingInputs(root) : null;
  const state = layer.state;
  if (layer.config.scale) state.gamma = porting ? porting.gamma : Array.from({ length: C }, () => f32(next(1, 0.25)));
  if (layer.config.center) state.beta = porting ? porting.beta : Array.from({ length: C }, () => f32(next(0, 0.5)));
  if (c.randomMoving) {
    state.movingMean = Array.from({ length: C }, () => f32(next(0, 1)));
    state.movingVariance = Array.from({ length: C }, () => f32(0.5 + Math.abs(next(0, 1))));
  }
  Object.assign(state, c.init ?? {});
  layer.state = state;
  const means = Array.from({ length: C }, () => next(0, 2)),
    stds = Array.from({ length: C }, () => 0.5 + Math.abs(next(0, 1)));
  const steps: Step[] = [];
  c.steps.forEach((mode, i) => {
    const count = c.shape.reduce((a, b) => a * b, 1);
    const x = channelsLast(c, porting ? porting.steps[i].x : (c.xFn ?? channelData)(next, nchw(c), means, stds)).map(
      f32,
    );
    const dy = porting
      ? channelsLast(c, porting.steps[i].dy)
      : c.noGradients
      ? null
      : Array.from({ length: count }, () => f32(next()));
    const s = layer.state;
    const before = { gamma: s.gamma ?? null, beta: s.beta ?? null, mean: s.movingMean, var: s.movingVariance };
    steps.push({ mode, x, dy, before, expected: layer.call(mode, c.shape, x, dy) });
  });
  return { steps, config: layer.config };
}

/** The NCHW shape whose data, transposed, fills a channels-last case. */
function nchw(c: { axis: number; shape: number[] }): number[] {
  if (c.axis === 1 || c.shape.length === 2) return c.shape;
  const s = c.shape;
  return [s[0], s[s.length - 1], ...s.slice(1, -1)];
}

/** Moves axis 1 of NCHW-ordered values to the last axis (what porting NCHW data to NHWC does). */
export function channelsLast(c: { axis: number; shape: number[] }, values: number[]): number[] {
  if (c.axis === 1 || c.shape.length === 2) return values;
  const [n, ch, ...rest] = nchw(c);
  const inner = rest.reduce((a, b) => a * b, 1);
  const out = new Array(values.length);
  for (let b = 0; b < n; b++) {
    for (let k = 0; k < ch; k++) {
      for (let i = 0; i < inner; i++) out[(b * inner + i) * ch + k] = values[(b * ch + k) * inner + i];
    }
  }
  return out;
}

function runOpCase(c: OpCase, seed: number): Step[] {
  const next = normalStream(seed);
  const C = c.shape[c.axis < 0 ? c.axis + c.shape.length : c.axis];
  const vec = (f: () => number) => Array.from({ length: C }, () => f32(f()));
  const p = {
    mean: vec(() => next(0, 1)),
    variance: c.variance ?? vec(() => 0.5 + Math.abs(next(0, 1))),
    offset: c.affine ? vec(() => next(0, 0.5)) : undefined,
    scale: c.affine ? vec(() => next(1, 0.25)) : undefined,
  };
  const count = c.shape.reduce((a, b) => a * b, 1);
  const x = Array.from({ length: count }, () => f32(next(0, 2)));
  const dy = c.affine && !c.noGradients ? Array.from({ length: count }, () => f32(next())) : null;
  const expected = batchNormOp(c.shape, c.paramShape, x, { ...p, epsilon: c.epsilon }, dy);
  return [{
    mode: "eval",
    x,
    dy,
    expected,
    before: { gamma: p.scale ?? null, beta: p.offset ?? null, mean: p.mean, var: p.variance },
  }];
}

function composeCalls(c: TfjsCase, steps: Step[], momentum: number | null, epsilon: number) {
  return steps.map((s) => ({
    shape: c.shape,
    x: s.x,
    axis: c.axis,
    mode: s.mode,
    epsilon,
    gamma: s.before.gamma,
    beta: s.before.beta,
    mean: s.before.mean,
    var: s.before.var,
    new_weight: momentum === null ? null : 1 - momentum,
    var_factor: "biased",
    empty_batch: "zero",
    dy: s.dy,
  }));
}

async function composeFloat64(calls: unknown[]): Promise<Record<string, number[]>[]> {
  const child = new Deno.Command("/usr/bin/python3", {
    args: ["scripts/generators/compose_torch.py"],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const w = child.stdin.getWriter();
  // JSON has no NaN or infinities: carry them as the fixture format's strings both ways.
  const special = (
    v: unknown,
  ) => (typeof v === "number" && !Number.isFinite(v)
    ? (Number.isNaN(v) ? "NaN" : v > 0 ? "Infinity" : "-Infinity")
    : v);
  await w.write(new TextEncoder().encode(JSON.stringify(calls, (_, v) => special(v))));
  await w.close();
  const out = await child.output();
  if (!out.success) throw new Error("scripts/generators/compose_torch.py failed");
  const back: Record<string, number> = { NaN: NaN, Infinity: Infinity, "-Infinity": -Infinity };
  return JSON.parse(new TextDecoder().decode(out.stdout), (_, v) => (typeof v === "string" && v in back ? back[v] : v));
}

/** Runs one case in TF.js (no twins): each step's outputs by fixture name. Used by the live test. */
export async function runTfjsCase(c: TfjsCase, root: URL): Promise<Record<string, number[]>[]> {
  await useCpu();
  const seed = (SEED ^ hashName(c.name)) >>> 0;
  const steps = c.kind === "layer" ? runLayerCase(c, seed, root).steps : runOpCase(c, seed);
  return steps.map((s) => s.expected);
}

/** Runs every case in TF.js, composes the float64 twins, and returns the fixture document. */
export async function buildDocument(
  root: URL,
  list: readonly TfjsCase[] = TFJS_CASES,
): Promise<Record<string, unknown>> {
  const backend = await useCpu();
  const defaults = new TfjsLayer([2, 3], { axis: -1 }).config;
  const runs = list.map((c) => {
    const seed = (SEED ^ hashName(c.name)) >>> 0;
    if (c.kind === "layer") {
      const r = runLayerCase(c, seed, root);
      return { c, seed, steps: r.steps, momentum: r.config.momentum, epsilon: r.config.epsilon, axis: c.axis };
    }
    return { c, seed, steps: runOpCase(c, seed), momentum: null, epsilon: c.epsilon, axis: c.axis };
  });
  const calls = runs.flatMap((r) => composeCalls(r.c, r.steps, r.momentum, r.epsilon));
  const twins = await composeFloat64(calls);
  let k = 0;
  const cases = runs.map(({ c, seed, steps, momentum, epsilon }) => {
    const C = c.shape[c.axis < 0 ? c.axis + c.shape.length : c.axis];
    const affine = c.affine ?? true;
    const first = steps[0].before;
    const vector = (v: number[]) => tensor([C], v);
    const shaped = (name: string, v: number[]) => tensor(name === "y" || name === "dx" ? c.shape : [C], v);
    return {
      name: c.name,
      description: c.description,
      features: c.features,
      api: c.kind === "layer"
        ? "tf.layers.batchNormalization(...).apply(x, {training}); tf.grad / tf.variableGrads; tf.moments"
        : "tf.batchNorm; tf.grads",
      seed,
      dtype: "float32",
      // The keras preset (TF.js's conventions), with the call's own axis, epsilon, momentum and affine.
      config: conventionToConfig({
        ...PRESETS.keras,
        axis: c.axis,
        epsilon,
        momentum: momentum ?? PRESETS.keras.momentum,
        affine,
      }),
      initial_state: {
        ...(affine ? { gamma: vector(first.gamma!), beta: vector(first.beta!) } : {}),
        running_mean: vector(first.mean),
        running_var: vector(first.var),
      },
      steps: steps.map((s) => {
        const twin = twins[k++];
        const names = Object.keys(s.expected).sort(outputOrder);
        const step: Record<string, unknown> = {
          mode: s.mode,
          inputs: { x: tensor(c.shape, s.x), ...(s.dy ? { dy: tensor(c.shape, s.dy) } : {}) },
          expected: Object.fromEntries(names.map((n) => [n, shaped(n, s.expected[n])])),
          expected_float64: Object.fromEntries(names.map((n) => [n, { ...shaped(n, twin[n]), dtype: "float64" }])),
        };
        return step;
      }),
      framework_call: c.kind === "layer"
        ? {
          layer_config: { axis: c.axis, momentum, epsilon, center: affine, scale: affine },
          ...(c.scenario ? { scenario: c.scenario } : {}),
        }
        : { op: "tf.batchNorm", param_shape: c.paramShape, epsilon },
      ...(c.defect ? { framework_defect: c.defect } : {}),
    };
  });
  return {
    format: "batchnorm-conformance-fixture",
    // 1.3: the rank-1 case (feature rank-1).
    format_version: "1.3",
    provenance: {
      source: "tfjs",
      framework: "TensorFlow.js",
      version: TFJS_VERSION,
      api:
        "tf.layers.batchNormalization (Keras semantics) and tf.batchNorm; gradients by tf.grad/tf.variableGrads/tf.grads",
      generator: "scripts/generators/gen_tfjs.ts",
      command: "deno task fixtures",
      seed: SEED,
      composed: false,
      environment: `@tensorflow/tfjs ${TFJS_VERSION}, backend ${backend}, under Deno ${Deno.version.deno}`,
      layer_defaults: defaults,
      notes: [
        "expected: what TF.js computed (float32). TF.js has no float64 kernels, so expected_float64 is COMPOSED: the same call " +
        "evaluated with PyTorch float64 tensor ops and autograd following the Keras formulas (scripts/generators/compose_torch.py).",
        "batch_mean and batch_var are tf.moments of the step's input, the op the layer uses to normalize in training.",
        "A training apply updates the moving statistics; the generator restores them after each gradient pass, so every " +
        "step updates them exactly once.",
        "layer_defaults: the configuration of tf.layers.batchNormalization({}) read from getConfig(): TF's defaults, live.",
      ],
      refused: refusals(),
    },
    cases,
  };
}

const ORDER = ["y", "batch_mean", "batch_var", "running_mean", "running_var", "dx", "dgamma", "dbeta"];
function outputOrder(a: string, b: string): number {
  return ORDER.indexOf(a) - ORDER.indexOf(b);
}

/** Generates fixtures/tfjs/batch_normalization.json. */
export async function generate(root: URL): Promise<void> {
  const doc = await buildDocument(root);
  const dir = new URL("fixtures/tfjs/", root);
  Deno.mkdirSync(dir, { recursive: true });
  writeAtomic(new URL("batch_normalization.json", dir), fixtureText(doc));
  console.log(`fixtures/tfjs/batch_normalization.json: ${(doc.cases as unknown[]).length} cases`);
  const edges = await buildDocument(root, TFJS_EDGE_CASES);
  writeAtomic(new URL("edge_cases.json", dir), fixtureText(edges));
  console.log(`fixtures/tfjs/edge_cases.json: ${(edges.cases as unknown[]).length} cases`);
  await generateStatGradients(root); // format 1.3's dmean and dvar (tf.grads with respect to mean and variance)
}

if (import.meta.main) await generate(new URL("../../", import.meta.url));
