// A deliberately wrong BatchNorm behind the subprocess protocol (fixtures/PROTOCOL.md),
// in plain JavaScript for Node.js:  deno task conform --exec "node scripts/peers/naive_peer.mjs"
//
// Its mistakes, each one a real bug seen in the wild: epsilon outside the square root,
// the "fast" variance E[x^2] - E[x]^2 in float32, momentum always read as the weight of
// the new value (inverted for ONNX and Keras), and no Bessel factor. No backward.
import { createInterface } from "node:readline";

const f = Math.fround;
const special = { NaN: NaN, Infinity: Infinity, "-Infinity": -Infinity };
const num = (v) => (Number.isFinite(v) ? v : Number.isNaN(v) ? "NaN" : v > 0 ? "Infinity" : "-Infinity");
const values = (t) => t.data.map((v) => (typeof v === "string" ? special[v] : v));
// Answers are in the case's dtype (PROTOCOL.md): float32 values rounded with Math.fround, float16 with Math.f16round
// where Node has it; a bfloat16 case gets unrounded values, which the runner fails as not bfloat16 values.
const round = { float32: Math.fround, float16: Math.f16round ?? ((v) => v) };
const out = (dtype, shape, data) => ({ dtype, shape, data: Array.from(data, (v) => num((round[dtype] ?? Number)(v))) });

function step(dtype, config, s) {
  const c = config ?? {};
  const x = values(s.x), shape = s.x.shape;
  const axis = (c.axis ?? 1) < 0 ? (c.axis ?? 1) + shape.length : (c.axis ?? 1);
  const C = shape[axis], inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1), n = x.length / C;
  const eps = c.epsilon ?? 1e-3, m = c.momentum ?? 0.1;
  const st = s.state;
  const gamma = st.gamma ? values(st.gamma) : Array(C).fill(1), beta = st.beta ? values(st.beta) : Array(C).fill(0);
  const rm = st.running_mean ? values(st.running_mean) : Array(C).fill(0),
    rv = st.running_var ? values(st.running_var) : Array(C).fill(1);
  const mean = [], variance = [], y = new Array(x.length);
  for (let ch = 0; ch < C; ch++) {
    if (s.mode === "train") {
      let sum = 0, sq = 0;
      for (let i = 0; i < x.length; i++) {
        if (Math.floor(i / inner) % C === ch) (sum = f(sum + x[i]), sq = f(sq + f(x[i] * x[i])));
      }
      mean[ch] = f(sum / n);
      variance[ch] = Math.max(0, f(f(sq / n) - f(mean[ch] * mean[ch])));
    } else (mean[ch] = rm[ch], variance[ch] = rv[ch]);
    const inv = 1 / (Math.sqrt(variance[ch]) + eps); // epsilon outside the root
    for (let i = 0; i < x.length; i++) {
      if (Math.floor(i / inner) % C === ch) y[i] = (x[i] - mean[ch]) * inv * gamma[ch] + beta[ch];
    }
  }
  const outputs = { y: out(dtype, shape, y) };
  const answer = { outputs };
  if (s.mode === "train") {
    outputs.batch_mean = out(dtype, [C], mean);
    outputs.batch_var = out(dtype, [C], variance);
    outputs.running_mean = out(dtype, [C], rm.map((r, k) => (1 - m) * r + m * mean[k]));
    outputs.running_var = out(dtype, [C], rv.map((r, k) => (1 - m) * r + m * variance[k]));
    answer.num_batches_tracked = (st.num_batches_tracked ?? 0) + 1;
  }
  return answer;
}

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  const msg = JSON.parse(line);
  let reply;
  if (msg.type === "hello") {
    reply = {
      type: "hello",
      protocol: "batchnorm-conformance",
      version: "1.0",
      name: "naive (deliberately wrong)",
      supports: { backward: false },
    };
  } else if (msg.type === "case") {
    reply = { type: "result", id: msg.id, steps: msg.steps.map((s) => step(msg.dtype, msg.config, s)) };
  } else if (msg.type === "bye") break;
  else continue;
  process.stdout.write(JSON.stringify(reply) + "\n");
}
