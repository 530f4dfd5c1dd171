/**
 * Cases where the reference deliberately does not do what the framework did, and
 * why. `deno task conform` and tests/fixtures_test.ts both require each of these
 * to fail exactly as stated (an expected failure that passes is an error too).
 *
 * @module
 */

/** One expected failure of the reference. */
export interface ReferenceXfail {
  /** The case's name. */
  readonly case: string;
  /** A fragment the failure reason must contain (e.g. the error code the reference raises). */
  readonly expect: string;
  /** Why the reference differs from the framework here. */
  readonly reason: string;
}

/** The list; empty of surprises: each entry is a decision, documented in README.md. */
export const REFERENCE_XFAIL: readonly ReferenceXfail[] = [
  {
    case: "onnxruntime edge opset 15 float32 6x2 momentum-above-1",
    expect: "negative_variance",
    reason:
      "Momentum 1.5 (weight 1.5 on the old value) drives the running variance negative (-3.41) after two steps. " +
      "onnxruntime then normalizes with sqrt(negative + eps) and returns NaN; the reference accepts any finite momentum " +
      "but refuses a negative running variance as input, with a BatchNormError naming it.",
  },
  {
    case: "tfjs edge layers.batchNormalization float32 6x2 momentum-negative",
    expect: "negative_variance",
    reason:
      "Momentum -0.5 (TF.js: weight -0.5 on the old value, 1.5 on the batch's) makes the moving variance -0.0015 " +
      "after one step; TF.js carries on with it, the reference refuses it as input.",
  },
  {
    case: "tfjs edge layers.batchNormalization float32 6x2 momentum-above-1",
    expect: "negative_variance",
    reason: "Momentum 1.5 makes the moving variance -1.08 after one step; TF.js carries on, the reference refuses it.",
  },
  {
    case: "tensorflow fused edge float32 6x1x1x2 momentum-negative",
    expect: "negative_variance",
    reason:
      "Keras momentum -0.5 passes exponential_avg_factor 1.5 to TensorFlow 2.21's FusedBatchNormV3: the running " +
      "variance is -0.12 after one step; the kernel carries on with it, the reference refuses it as input.",
  },
];
