/**
 * onnxruntime-web alone in a process (without onnxruntime-node's Float16Array
 * workaround): one float16 training call through scripts/runners/onnxruntime_web.ts,
 * printed as JSON with the typed array onnxruntime-common returned. Run by tests/engines_test.ts.
 */
import * as ort from "onnxruntime-web";
import { runOnnxWebBatchNorm } from "../../scripts/runners/onnxruntime_web.ts";

const probe = new ort.Tensor("float16", new Uint16Array(1), [1]);
const out = await runOnnxWebBatchNorm(
  { opset: 15, dtype: "float16", shape: [4, 2], training: true, epsilon: 1e-5, momentum: 0.9 },
  { x: [1, 2, 3, 4, 5, 6, 7, 8], scale: [1, 2], B: [0, 1], mean: [0.5, -1], var: [2, 3] },
);
console.log(JSON.stringify({
  float16Array: probe.data.constructor.name,
  outputs: Object.fromEntries(Object.entries(out).map(([k, t]) => [k, Array.from(t.data)])),
}));
