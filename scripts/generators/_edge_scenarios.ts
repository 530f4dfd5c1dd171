/**
 * The scenarios of the edge-case matrix, defined once for the TypeScript
 * generators (onnxruntime, TF.js) and the README's matrix. Shapes are
 * channels-first; TF.js takes them channels-last. scripts/generators/gen_pytorch.py and
 * scripts/generators/gen_tf_fused.py tag their cases with the same scenario keys.
 *
 * @module
 */

import { constantChannel, type InputFn, poke, spread } from "./_fixture_io.ts";

/** One scenario, as every framework's edge fixture runs it. */
export interface EdgeScenario {
  /** Key in `framework_call.scenario`, shared by all frameworks' edge fixtures. */
  readonly scenario: string;
  /** First column of the README's matrix. */
  readonly label: string;
  /** What the case shows. */
  readonly description: string;
  /** Features besides `edge-case` (and `backward`, which a generator adds when it records gradients). */
  readonly features: readonly string[];
  /** Input shape, channels-first (N, C, ...). */
  readonly shape: readonly number[];
  /** The calls, in order. */
  readonly steps: readonly ("train" | "eval")[];
  /** Inputs other than the seeded default. */
  readonly xFn?: InputFn;
  /** Epsilon, when not the framework's default. */
  readonly epsilon?: number;
  /** Momentum, when not the framework's default. */
  readonly momentum?: number;
  /** Initial per-channel state other than the seeded default. */
  readonly init?: {
    readonly gamma?: number[];
    readonly beta?: number[];
    readonly mean?: number[];
    readonly var?: number[];
  };
}

/** Moves axis 1 of a shape last: the channels-last shape of the same data layout. */
export function channelsLastShape(shape: readonly number[]): number[] {
  return shape.length <= 2 ? [...shape] : [shape[0], ...shape.slice(2), shape[1]];
}

/** The scenarios, in the README matrix's order. */
export const EDGE_SCENARIOS: readonly EdgeScenario[] = [
  {
    scenario: "n1-spatial",
    label: "N = 1, 4 values per channel",
    description: "N = 1 with 4 values per channel.",
    features: ["batch-size-1", "training", "inference"],
    shape: [1, 2, 4],
    steps: ["train", "eval"],
  },
  {
    scenario: "one-value-train",
    label: "one value per channel, training",
    description: "One value per channel in training: variance 0, y = beta, and the running variance decays toward 0.",
    features: ["batch-size-1", "single-value-per-channel", "training"],
    shape: [1, 2],
    steps: ["train"],
  },
  {
    scenario: "one-value-eval",
    label: "one value per channel, inference",
    description: "One value per channel in inference: normal, it uses the running statistics.",
    features: ["batch-size-1", "inference"],
    shape: [1, 3],
    steps: ["eval"],
  },
  {
    scenario: "constant-channel",
    label: "constant channel (variance 0)",
    description: "Channel 0 constant (3.0): y = beta exactly, and dx = gamma/sqrt(eps)*(dy - mean(dy)).",
    features: ["zero-variance", "training", "inference"],
    shape: [4, 2, 3],
    steps: ["train", "eval"],
    xFn: constantChannel,
  },
  {
    scenario: "constant-channel-eps0",
    label: "constant channel, epsilon 0",
    description: "Channel 0 constant with epsilon 0: 0/0 unless the framework defines it.",
    features: ["zero-variance", "epsilon-value", "training"],
    shape: [4, 2, 3],
    steps: ["train"],
    xFn: constantChannel,
    epsilon: 0,
  },
  {
    scenario: "momentum-negative",
    label: "momentum −0.5",
    description: "Momentum -0.5, outside [0, 1]: accepted, the running statistics extrapolate.",
    features: ["momentum-out-of-range", "training", "multi-step"],
    shape: [6, 2],
    steps: ["train", "train", "eval"],
    momentum: -0.5,
  },
  {
    scenario: "momentum-above-1",
    label: "momentum 1.5",
    description: "Momentum 1.5, outside [0, 1]: accepted, the running statistics extrapolate.",
    features: ["momentum-out-of-range", "training", "multi-step"],
    shape: [6, 2],
    steps: ["train", "train", "eval"],
    momentum: 1.5,
  },
  {
    scenario: "nan-x",
    label: "a NaN in x",
    description: "One NaN in channel 0.",
    features: ["non-finite", "training"],
    shape: [4, 2, 3],
    steps: ["train"],
    xFn: poke(NaN),
  },
  {
    scenario: "inf-x",
    label: "an Infinity in x",
    description: "One +Infinity in channel 0.",
    features: ["non-finite", "training"],
    shape: [4, 2, 3],
    steps: ["train"],
    xFn: poke(Infinity),
  },
  {
    scenario: "nan-gamma-inf-var-eval",
    label: "NaN gamma, ∞ running variance (inference)",
    description: "Inference with gamma[0] NaN and running variance[1] Infinity.",
    features: ["non-finite", "inference"],
    shape: [4, 2],
    steps: ["eval"],
    init: { gamma: [NaN, 1], var: [1, Infinity] },
  },
  {
    scenario: "nan-running-mean-train",
    label: "NaN running mean (training)",
    description: "Training with running mean[0] NaN: y ignores it, the running mean keeps it.",
    features: ["non-finite", "training"],
    shape: [4, 2],
    steps: ["train"],
    init: { mean: [NaN, 0] },
  },
  {
    scenario: "large-mean",
    label: "large mean, tiny spread (1e4 ± 1e-3)",
    description: "x = 1e4 + 1e-3*noise: |mean|/std ~ 1e7.",
    features: ["large-mean", "training", "inference"],
    shape: [64, 2],
    steps: ["train", "eval"],
    xFn: spread(1e4, 1e-3),
  },
  {
    scenario: "denormal",
    label: "subnormal inputs (~1e-40)",
    description: "Values around 1e-40 (float32 subnormals).",
    features: ["denormal", "training"],
    shape: [6, 2],
    steps: ["train"],
    xFn: spread(0, 1e-40),
  },
  {
    scenario: "near-overflow",
    label: "values near float32 overflow (3e38)",
    description: "Finite values up to 3e38 (float32's largest is 3.4e38).",
    features: ["overflow", "training"],
    shape: [6, 2],
    steps: ["train"],
    xFn: spread(0, 1.5e38),
  },
  {
    scenario: "empty-batch",
    label: "empty batch (N = 0)",
    description: "N = 0 in training, then inference.",
    features: ["empty-batch", "training", "inference"],
    shape: [0, 3, 2],
    steps: ["train", "eval"],
  },
  {
    scenario: "one-channel",
    label: "C = 1",
    description: "C = 1.",
    features: ["channel-count", "training", "inference"],
    shape: [8, 1],
    steps: ["train", "eval"],
  },
  {
    scenario: "many-channels",
    label: "C = 256, N = 4",
    description: "C = 256 with N = 4.",
    features: ["channel-count", "training", "inference"],
    shape: [4, 256],
    steps: ["train", "eval"],
  },
  {
    scenario: "eps-1e-8",
    label: "epsilon 1e-8",
    description: "Epsilon 1e-8, below TensorFlow's 1.001e-5 floor.",
    features: ["epsilon-value", "training"],
    shape: [6, 2],
    steps: ["train"],
    epsilon: 1e-8,
  },
];
