/**
 * The porting table of the README: the same inputs and weights through PyTorch with
 * its defaults and through TF.js with TF's defaults, then with PyTorch's values
 * mapped into TF.js, then (in the reference, as TF.js has no such option) with the
 * Bessel factor on the running variance too. Every number is the largest
 * difference over the tensor relative to its largest PyTorch value.
 *
 * `deno run --allow-read=. scripts/reports/porting_table.ts` prints it; tests/porting_test.ts
 * checks that README.md holds exactly this output.
 *
 * @module
 */

import { batchNormBackward, batchNormInference, batchNormTrain, resolveConvention, type Tensor } from "../../mod.ts";
import { PORTING_SOURCE } from "../generators/gen_tfjs.ts";
import { markdownTable } from "./_markdown.ts";

type Json = {
  steps: {
    inputs: { x: { data: number[]; shape: number[] }; dy: { data: number[] } };
    expected: Record<string, { data: number[] }>;
  }[];
};

const TF_DEFAULTS = "tfjs porting: PyTorch BatchNorm2d inputs through the TF.js layer with TF defaults";
const TF_MAPPED = "tfjs porting: PyTorch BatchNorm2d inputs through the TF.js layer with PyTorch's values mapped";

/** NHWC values back to NCHW for a shape given in NCHW. */
function toNchw(values: number[], [n, c, h, w]: number[]): number[] {
  const out = new Array(values.length);
  for (let b = 0; b < n; b++) {
    for (let k = 0; k < c; k++) {
      for (let i = 0; i < h * w; i++) out[(b * c + k) * h * w + i] = values[(b * h * w + i) * c + k];
    }
  }
  return out;
}

function relDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let peak = 0, worst = 0;
  for (let i = 0; i < b.length; i++) {
    peak = Math.max(peak, Math.abs(b[i]));
    worst = Math.max(worst, Math.abs(a[i] - b[i]));
  }
  return worst / peak;
}

/** The rows: quantity, and its values in each column. */
export function portingRows(root: URL): { quantity: string; values: number[] }[] {
  const read = (p: string) => JSON.parse(Deno.readTextFileSync(new URL(p, root)));
  const pt: Json = read(PORTING_SOURCE.file).cases.find((c: { name: string }) => c.name === PORTING_SOURCE.name);
  const tf = read("fixtures/tfjs/batch_normalization.json").cases;
  const tfDefaults: Json = tf.find((c: { name: string }) => c.name === TF_DEFAULTS);
  const tfMapped: Json = tf.find((c: { name: string }) => c.name === TF_MAPPED);
  const shape = pt.steps[0].inputs.x.shape;
  // The reference with the complete mapping: Keras conventions, momentum 1 - 0.1 on the old value, epsilon 1e-5,
  // and the Bessel factor on the running variance.
  const mapping = resolveConvention({
    base: "keras",
    axis: 1,
    momentum: 0.9,
    epsilon: 1e-5,
    runningVariance: "bessel",
  });
  const source = read(PORTING_SOURCE.file).cases.find((c: { name: string }) => c.name === PORTING_SOURCE.name);
  let state = {
    gamma: source.initial_state.gamma.data,
    beta: source.initial_state.beta.data,
    runningMean: [0, 0, 0],
    runningVar: [1, 1, 1],
  };
  const reference: Record<string, ArrayLike<number>>[] = [];
  for (const [i, s] of pt.steps.entries()) {
    const x: Tensor = { dtype: "float32", shape, data: s.inputs.x.data };
    const dy: Tensor = { dtype: "float32", shape, data: s.inputs.dy.data };
    if (i < 3) {
      const r = batchNormTrain(x, state, mapping);
      const g = batchNormBackward(x, dy, state, "train", mapping);
      reference.push({
        y: r.y.data,
        running_mean: r.state.runningMean!,
        running_var: r.state.runningVar!,
        dx: g.dx.data,
        dgamma: g.dgamma!.data,
        dbeta: g.dbeta!.data,
      });
      state = { ...state, runningMean: Array.from(r.state.runningMean!), runningVar: Array.from(r.state.runningVar!) };
    } else reference.push({ y: batchNormInference(x, state, mapping).y.data });
  }
  const at = (
    c: Json,
    step: number,
    k: string,
    nhwc = false,
  ) => (nhwc && (k === "y" || k === "dx")
    ? toNchw(c.steps[step].expected[k].data, shape)
    : c.steps[step].expected[k].data);
  const row = (quantity: string, step: number, k: string, ref: ArrayLike<number>) => ({
    quantity,
    values: [
      relDiff(at(tfDefaults, step, k, true), at(pt, step, k)),
      relDiff(at(tfMapped, step, k, true), at(pt, step, k)),
      relDiff(ref, at(pt, step, k)),
    ],
  });
  return [
    row("y, training step 1", 0, "y", reference[0].y),
    row("dx, training step 1", 0, "dx", reference[0].dx),
    row("dgamma, training step 1", 0, "dgamma", reference[0].dgamma),
    row("dbeta, training step 1", 0, "dbeta", reference[0].dbeta),
    row("running mean after 3 training steps", 2, "running_mean", reference[2].running_mean),
    row("running variance after 3 training steps", 2, "running_var", reference[2].running_var),
    row("y, inference after them", 3, "y", reference[3].y),
  ];
}

/** The table as README markdown, columns padded as `deno fmt` lays them out. */
export function portingTable(root: URL): string {
  const fmt = (v: number) => (v === 0 ? "0" : v.toExponential(1));
  return markdownTable(
    [
      "quantity (largest difference / largest PyTorch value)",
      "TF.js with TF defaults (momentum 0.99, ε 1e-3)",
      "TF.js with momentum 0.9, ε 1e-5",
      "+ Bessel factor n/(n−1) on the running variance (reference)",
    ],
    portingRows(root).map((r) => [r.quantity, ...r.values.map(fmt)]),
  );
}

if (import.meta.main) console.log(portingTable(new URL("../../", import.meta.url)));
