/**
 * Runs TensorFlow.js BatchNorm (the layer `tf.layers.batchNormalization` and the
 * op `tf.batchNorm`) on the cpu backend. Outside mod.ts's import graph.
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs";

/** The TF.js version in use. */
export const TFJS_VERSION: string = tf.version.tfjs;

/** Selects the cpu backend, the only one that runs here (tfjs-node does not install). */
export async function useCpu(): Promise<string> {
  await tf.setBackend("cpu");
  await tf.ready();
  return tf.getBackend();
}

/** A weight's name without scope or the uniquifying suffix TF.js adds to later layers ("bn/gamma_3" -> "gamma"). */
function baseName(name: string): string {
  return name.split("/").pop()!.replace(/_\d+$/, "");
}

/** Per-channel state in TF.js names, flat values. */
export interface LayerState {
  gamma?: number[];
  beta?: number[];
  movingMean: number[];
  movingVariance: number[];
}

/** A TF.js BatchNormalization layer, built for a shape, whose weights can be read and set. */
export class TfjsLayer {
  readonly layer: tf.layers.Layer;
  readonly config: { axis: number; momentum: number; epsilon: number; center: boolean; scale: boolean };
  constructor(
    shape: readonly number[],
    config: { axis?: number; momentum?: number; epsilon?: number; center?: boolean; scale?: boolean },
  ) {
    this.layer = tf.layers.batchNormalization(config);
    this.layer.build([...shape]);
    const c = this.layer.getConfig() as unknown as TfjsLayer["config"];
    this.config = { axis: c.axis, momentum: c.momentum, epsilon: c.epsilon, center: c.center, scale: c.scale };
  }
  #byName(suffix: string) {
    return this.layer.weights.find((w) => baseName(w.name) === suffix);
  }
  get state(): LayerState {
    const read = (s: string) => {
      const w = this.#byName(s);
      return w ? Array.from(w.read().dataSync()) : undefined;
    };
    return {
      gamma: read("gamma"),
      beta: read("beta"),
      movingMean: read("moving_mean")!,
      movingVariance: read("moving_variance")!,
    };
  }
  set state(s: LayerState) {
    const values: Record<string, number[] | undefined> = {
      gamma: s.gamma,
      beta: s.beta,
      moving_mean: s.movingMean,
      moving_variance: s.movingVariance,
    };
    this.layer.setWeights(this.layer.weights.map((w) => tf.tensor1d(values[baseName(w.name)]!)));
  }
  /** One call: y, the batch moments (training), updated state, and the gradients of sum(y·dy). */
  call(mode: "train" | "eval", shape: readonly number[], x: number[], dy: number[] | null): Record<string, number[]> {
    const training = mode === "train";
    const before = this.state;
    const xt = tf.tensor(x, [...shape], "float32");
    const out: Record<string, number[]> = {};
    if (dy) {
      const dyt = tf.tensor(dy, [...shape], "float32");
      const loss = (input: tf.Tensor) =>
        tf.sum(tf.mul(this.layer.apply(input, { training }) as tf.Tensor, dyt)) as tf.Scalar;
      out.dx = Array.from(tf.grad(loss)(xt).dataSync());
      this.state = before; // a training apply updates the moving statistics: undo it
      const weights = this.layer.trainableWeights;
      if (weights.length > 0) {
        const vars = weights.map((w) => (w as unknown as { val: tf.Variable }).val);
        const { grads } = tf.variableGrads(() => loss(xt), vars);
        weights.forEach((w, i) => {
          out[baseName(w.name) === "gamma" ? "dgamma" : "dbeta"] = Array.from(grads[vars[i].name].dataSync());
        });
      }
      this.state = before;
    }
    out.y = Array.from((this.layer.apply(xt, { training }) as tf.Tensor).dataSync());
    if (training) {
      const axis = this.config.axis < 0 ? this.config.axis + shape.length : this.config.axis;
      const reduce = shape.map((_, i) => i).filter((i) => i !== axis);
      const { mean, variance } = tf.moments(xt, reduce);
      out.batch_mean = Array.from(mean.dataSync());
      out.batch_var = Array.from(variance.dataSync());
      out.running_mean = this.state.movingMean;
      out.running_var = this.state.movingVariance;
    }
    return out;
  }
}

/**
 * The op `tf.batchNorm(x, mean, variance, offset, scale, epsilon)` with per-channel
 * parameters given in `paramShape` (e.g. [C] for channels-last, [C, 1, 1] for NCHW
 * broadcasting), and the gradients of sum(y·dy) with respect to x, scale and offset.
 */
export function batchNormOp(
  shape: readonly number[],
  paramShape: readonly number[],
  x: number[],
  p: { mean: number[]; variance: number[]; offset?: number[]; scale?: number[]; epsilon: number },
  dy: number[] | null,
): Record<string, number[]> {
  const t = (v: number[] | undefined) => (v ? tf.tensor(v, [...paramShape], "float32") : undefined);
  const xt = tf.tensor(x, [...shape], "float32");
  const mean = t(p.mean)!, variance = t(p.variance)!, offset = t(p.offset), scale = t(p.scale);
  const out: Record<string, number[]> = {
    y: Array.from(tf.batchNorm(xt, mean, variance, offset, scale, p.epsilon).dataSync()),
  };
  if (dy && offset && scale) {
    const dyt = tf.tensor(dy, [...shape], "float32");
    const [dx, dscale, doffset] = tf.grads((a: tf.Tensor, s: tf.Tensor, o: tf.Tensor) =>
      tf.sum(tf.mul(tf.batchNorm(a, mean, variance, o, s, p.epsilon), dyt))
    )([xt, scale, offset]);
    Object.assign(out, {
      dx: Array.from(dx.dataSync()),
      dgamma: Array.from(dscale.dataSync()),
      dbeta: Array.from(doffset.dataSync()),
    });
  }
  return out;
}

/**
 * `tf.batchNorm` in inference with its gradients with respect to x, the mean and variance it is given, and scale and
 * offset when given (format 1.3's dmean and dvar): `tf.grads` of sum(y·dy), float32, parameters of shape [C].
 *
 * @param shape x's shape (channels last).
 * @param x The input, row-major.
 * @param p The per-channel mean, variance, optional offset and scale, and epsilon.
 * @param dy The output gradient.
 * @returns y, dx, dmean, dvar, and dgamma, dbeta when scale and offset are given.
 */
export function batchNormStatGradients(
  shape: readonly number[],
  x: number[],
  p: { mean: number[]; variance: number[]; offset?: number[]; scale?: number[]; epsilon: number },
  dy: number[],
): Record<string, number[]> {
  const C = shape[shape.length - 1];
  const t = (v: number[]) => tf.tensor(v, [C], "float32");
  const xt = tf.tensor(x, [...shape], "float32"), dyt = tf.tensor(dy, [...shape], "float32");
  const mean = t(p.mean), variance = t(p.variance);
  const affine = p.offset !== undefined && p.scale !== undefined;
  const out: Record<string, number[]> = {
    y: Array.from(
      tf.batchNorm(xt, mean, variance, affine ? t(p.offset!) : undefined, affine ? t(p.scale!) : undefined, p.epsilon)
        .dataSync(),
    ),
  };
  const args = affine ? [xt, mean, variance, t(p.scale!), t(p.offset!)] : [xt, mean, variance];
  const grads = tf.grads((...a: tf.Tensor[]) =>
    tf.sum(tf.mul(tf.batchNorm(a[0], a[1], a[2], affine ? a[4] : undefined, affine ? a[3] : undefined, p.epsilon), dyt))
  )(args);
  const data = (k: number) => Array.from(grads[k].dataSync());
  Object.assign(out, { dx: data(0), dmean: data(1), dvar: data(2) });
  if (affine) Object.assign(out, { dgamma: data(3), dbeta: data(4) });
  return out;
}

/** What TF.js refuses, captured live. */
export function refusals(): { call: string; message: string }[] {
  const out = [];
  try {
    const l = tf.layers.batchNormalization({ axis: 1 });
    const x = tf.randomNormal([2, 3, 4, 5], 0, 1, "float32", 1);
    tf.grad((input: tf.Tensor) => tf.sum(l.apply(input, { training: true }) as tf.Tensor))(x);
    out.push({
      call: "tf.grad through tf.layers.batchNormalization({axis: 1}) in training, rank 4",
      message: "accepted",
    });
  } catch (e) {
    out.push({
      call: "tf.grad through tf.layers.batchNormalization({axis: 1}) in training, rank 4",
      message: (e as Error).message,
    });
  }
  const x = tf.randomNormal([2, 4, 5, 3], 0, 1, "float32", 1);
  const attempts: [string, () => unknown][] = [
    ["tf.layers.batchNormalization({center: false, scale: false}) training call", () => {
      tf.layers.batchNormalization({ center: false, scale: false }).apply(x, { training: true });
    }],
    ["tf.grad through tf.layers.batchNormalization({center: false, scale: false}) in inference", () => {
      const l = tf.layers.batchNormalization({ center: false, scale: false });
      tf.grad((input: tf.Tensor) => tf.sum(l.apply(input, { training: false }) as tf.Tensor))(x);
    }],
    ["tf.layers.batchNormalization() on a rank-1 input (tf.batchNorm accepts it)", () => {
      tf.layers.batchNormalization({}).apply(tf.tensor1d([1, 2, 3]), { training: false });
    }],
    ["tf.grads of tf.batchNorm with mean/variance/scale/offset of shape [3, 1, 1] on a 2x3x4x5 input", () => {
      const p = tf.ones([3, 1, 1]);
      const x4 = tf.randomNormal([2, 3, 4, 5], 0, 1, "float32", 1);
      tf.grads((a: tf.Tensor, s: tf.Tensor, o: tf.Tensor) => tf.sum(tf.batchNorm(a, p, p, o, s, 1e-3)))([x4, p, p]);
    }],
  ];
  for (const [call, f] of attempts) {
    try {
      f();
      out.push({ call, message: "accepted" });
    } catch (e) {
      out.push({ call, message: (e as Error).message });
    }
  }
  try {
    const l = tf.layers.batchNormalization({});
    l.apply(tf.zeros([2, 2, 2, 2, 3]), { training: true });
    out.push({ call: "tf.layers.batchNormalization on a rank-5 input", message: "accepted" });
  } catch (e) {
    out.push({ call: "tf.layers.batchNormalization on a rank-5 input", message: (e as Error).message });
  }
  return out;
}
