/**
 * The Conv → BatchNormalization graph cases (fixtures/graphs/conv_bn.json, FORMAT.md "Graph cases"): the file
 * reads, its exact values are the unfused graph's, and the budget is tested both ways: every float32 engine run
 * (fused or not), a correctly rounded answer and plain float32 implementations in any summation order pass; the
 * reduced-precision routes and wrong folds fail.
 */
import { assert, assertAlmostEquals, assertEquals, assertThrows } from "@std/assert";
import { type GraphCase, GraphError, judgeGraph, parseGraphFile } from "../src/conformance/graph.ts";

const url = new URL("../fixtures/graphs/conv_bn.json", import.meta.url);
const text = await Deno.readTextFile(url);
const file = parseGraphFile(text, "conv_bn.json");
const f = Math.fround;

/** The graph in plain arithmetic: `round` after every product and sum, the K terms summed in `order`. */
function implementation(
  c: GraphCase,
  opts: {
    round: (v: number) => number;
    fold?: boolean;
    reverse?: boolean;
    scale?: (g: number, v: number, eps: number) => number;
    stats?: { mean: number[]; var: number[] };
    dropBias?: boolean;
    weights?: (v: number) => number;
    zOnly?: boolean;
  },
): number[] {
  const r = opts.round;
  const { x, w, b, gamma, beta } = c.inputs;
  const mean = opts.stats?.mean ?? c.inputs.mean.data;
  const variance = opts.stats?.var ?? c.inputs.var.data;
  const [n, cin, h, wd] = x.shape;
  const [cout, , kh, kw] = w.shape;
  const [pt, pl] = c.pads;
  const [, , ho, wo] = c.expectedExact.shape;
  const scaleOf = opts.scale ?? ((g, v, eps) => r(g / r(Math.sqrt(r(v + eps)))));
  const y: number[] = [];
  for (let in_ = 0; in_ < n; in_++) {
    for (let co = 0; co < cout; co++) {
      const s = scaleOf(gamma.data[co], variance[co], c.epsilon);
      const bias = opts.dropBias ? 0 : b.data[co];
      const weight = (i: number) => {
        const v = w.data[i];
        return opts.fold ? (opts.weights ?? r)(v * s) : v;
      };
      const shift = opts.fold ? (opts.weights ?? r)(r(r(bias - mean[co]) * s) + beta.data[co]) : bias;
      for (let oh = 0; oh < ho; oh++) {
        for (let ow = 0; ow < wo; ow++) {
          const terms: number[] = [];
          for (let ci = 0; ci < cin; ci++) {
            for (let i = 0; i < kh; i++) {
              for (let j = 0; j < kw; j++) {
                const ih = oh + i - pt, iw = ow + j - pl;
                if (ih < 0 || ih >= h || iw < 0 || iw >= wd) continue;
                terms.push(
                  r(weight(((co * cin + ci) * kh + i) * kw + j) * x.data[((in_ * cin + ci) * h + ih) * wd + iw]),
                );
              }
            }
          }
          if (opts.reverse) terms.reverse();
          let z = 0;
          for (const t of terms) z = r(z + t);
          z = r(z + shift);
          y.push(opts.fold || opts.zOnly ? z : r(r(r(z - mean[co]) * s) + beta.data[co]));
        }
      }
    }
  }
  return y;
}

Deno.test("graph cases: the file reads; its exact values are the unfused graph's (float64 evaluation within 1e-12)", () => {
  assertEquals(file.cases.map((c) => c.id), ["conv1x1_bn", "conv3x3_pad1_bn"]);
  for (const c of file.cases) {
    assertEquals(c.budgetUlp, c.terms + 8);
    assertEquals(c.terms, c.inputs.w.shape[1] * c.kernel[0] * c.kernel[1]);
    const f64 = implementation(c, { round: (v) => v });
    let worst = 0;
    c.expectedExact.data.forEach((t, i) => worst = Math.max(worst, Math.abs(t - f64[i]) / (Math.abs(t) + 1)));
    assert(worst < 1e-12, `${c.id}: ${worst}`);
    // Not a trivial case: the float32 answer is not the exact one rounded everywhere.
    assert(implementation(c, { round: f }).some((v, i) => v !== f(c.expectedExact.data[i])));
  }
});

Deno.test("graph cases: each recorded run and wrong fold is judged as the file records", () => {
  let runs = 0;
  for (const c of file.cases) {
    for (const r of [...c.runs, ...c.wrongFolds]) {
      const v = judgeGraph(c, r.y.data);
      assertEquals(v.pass ? "pass" : "fail", r.verdict, `${c.id} ${r.name}`);
      assertAlmostEquals(v.maxErrorUlp, r.maxErrorUlp!, 1e-3, `${c.id} ${r.name}`);
      runs++;
    }
  }
  assertEquals(runs, 2 * (12 + 4));
});

Deno.test("graph cases: every float32 engine run passes, fused or not; reduced-precision routes fail with a cause", () => {
  for (const c of file.cases) {
    const f32 = c.runs.filter((r) => r.precision === "float32");
    // onnx.reference, onnxruntime fused and unfused, OpenVINO f32, LiteRT, PyTorch both ways, ncnn both ways.
    assertEquals(f32.length, 9, c.id);
    for (const r of f32) assert(judgeGraph(c, r.y.data).pass, `${c.id} ${r.name}`);
    for (const r of c.runs.filter((r) => r.precision !== "float32")) {
      const resolvedF32 = r.precision === "default hint, resolved f32"; // OpenVINO on a CPU without AMX-BF16
      assertEquals(judgeGraph(c, r.y.data).pass, resolvedF32, `${c.id} ${r.name}`);
      if (!resolvedF32) {
        assert(r.cause && !r.cause.startsWith("not traced"), `${c.id} ${r.name}: ${r.cause}`);
        // Far outside, not at the edge: a wider budget that let these pass would no longer be a float32 budget.
        assert(judgeGraph(c, r.y.data).maxErrorUlp > 5 * c.budgetUlp, `${c.id} ${r.name}`);
      }
    }
  }
});

Deno.test("graph cases: correct float32 implementations pass, unfused or folded, in either summation order", () => {
  for (const c of file.cases) {
    assertEquals(judgeGraph(c, c.expectedExact.data.map(f)).maxErrorUlp <= 0.5 + 1e-9, true, c.id);
    for (const fold of [false, true]) {
      for (const reverse of [false, true]) {
        const v = judgeGraph(c, implementation(c, { round: f, fold, reverse }));
        assert(v.pass, `${c.id} fold ${fold} reverse ${reverse}: ${v.maxErrorUlp}`);
      }
    }
  }
});

Deno.test("graph cases: wrong folds and reduced-precision weights fail (computed here, apart from the generator's)", () => {
  const bf16 = (v: number) => { // round to nearest even at 8 significant bits
    const a = new Float32Array([v]);
    const u = new Uint32Array(a.buffer);
    u[0] = (u[0] + 0x7fff + ((u[0] >>> 16) & 1)) & 0xffff0000;
    return a[0];
  };
  const f16 = (v: number) => {
    if (v === 0) return v;
    const e = Math.max(Math.floor(Math.log2(Math.abs(v))), -14);
    const q = 2 ** (e - 10);
    return Math.round(v / q) * q; // ties never matter here
  };
  for (const c of file.cases) {
    // This batch's statistics of z (biased), as a fold made from a training-mode graph would use.
    const z = implementation(c, { round: (v) => v, zOnly: true });
    const [n, cout, ho, wo] = c.expectedExact.shape;
    const mean = Array(cout).fill(0), sq = Array(cout).fill(0);
    z.forEach((v, i) => {
      const co = Math.floor(i / (ho * wo)) % cout;
      mean[co] += v / (n * ho * wo);
    });
    z.forEach((v, i) => {
      const co = Math.floor(i / (ho * wo)) % cout;
      sq[co] += (v - mean[co]) ** 2 / (n * ho * wo);
    });
    const wrong: Record<string, number[]> = {
      "epsilon outside the root": implementation(c, {
        round: f,
        fold: true,
        scale: (g, v, eps) => f(g / f(f(Math.sqrt(v)) + eps)),
      }),
      "batch statistics": implementation(c, { round: f, fold: true, stats: { mean: mean.map(f), var: sq.map(f) } }),
      "convolution bias dropped": implementation(c, { round: f, fold: true, dropBias: true }),
      "bfloat16 folded weights": implementation(c, { round: f, fold: true, weights: bf16 }),
      "float16 folded weights": implementation(c, { round: f, fold: true, weights: f16 }),
    };
    for (const [name, y] of Object.entries(wrong)) {
      const v = judgeGraph(c, y);
      assert(!v.pass, `${c.id} ${name}: ${v.maxErrorUlp} ULP passed a budget of ${c.budgetUlp}`);
    }
  }
});

Deno.test("graph cases: a non-finite, short or missing answer fails; a malformed file is refused with its path", () => {
  const c = file.cases[0];
  const y = c.expectedExact.data.map(f);
  y[3] = NaN;
  assertEquals(judgeGraph(c, y).pass, false);
  assertEquals(judgeGraph(c, y.slice(1)).pass, false);
  assertEquals(judgeGraph(c, []).pass, false);
  const doc = JSON.parse(text);
  const bad = (edit: (d: typeof doc) => void, message: RegExp) => {
    const d = structuredClone(doc);
    edit(d);
    const e = assertThrows(() => parseGraphFile(JSON.stringify(d), "bad.json"), GraphError);
    assert(message.test(e.message), e.message);
  };
  bad((d) => d.format = "batchnorm-conformance-fixture", /bad\.json: \$\.format must be "batchnorm-conformance-graph"/);
  bad((d) => d.format_version = "2.0", /\$\.format_version "2\.0": this reader knows 1\.x/);
  bad((d) => d.cases[0].inputs.x.data[5] = 0.1, /\$\.cases\[0\]\.inputs\.x\.data\[5\] 0\.1 is not a float32 value/);
  bad(
    (d) => d.cases[1].expected_exact.shape = [1, 8, 36],
    /\$\.cases\[1\]\.expected_exact\.shape must be \[1,8,6,6\]/,
  );
  bad((d) => d.cases[0].exact_scale.pop(), /\$\.cases\[0\]\.exact_scale must hold 8 positive numbers/);
  bad((d) => d.cases[0].graph[0].group = 2, /\$\.cases\[0\]\.graph\[0\] this reader knows group 1/);
});
