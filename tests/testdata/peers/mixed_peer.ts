// A protocol 1.2 program around the reference, for the runner's tests of mixed precision and center/scale
// (tests/mixed_protocol_test.ts). Usage: deno run tests/testdata/peers/mixed_peer.ts [--declare]
// With --declare its hello lists the mixed dtypes of tests/_mixed_cases.ts (supports.mixed_dtypes) and center_scale;
// without, it declares neither (and so is sent uniform cases, center == scale, only). Each step is answered by the
// reference with the case's dtypes, when the request carries them.
import { CONFIG_KEYS } from "../../../src/conformance/config.ts";
import { referenceAdapter, type StepRequest, tensor } from "../../../mod.ts";

const declare = Deno.args.includes("--declare");
const camel = Object.fromEntries(Object.entries(CONFIG_KEYS).map(([k, v]) => [v, k]));
const num = (v: unknown) => (v === "NaN" ? NaN : v === "Infinity" ? Infinity : v === "-Infinity" ? -Infinity : v);
// deno-lint-ignore no-explicit-any
const decode = (t: any) => tensor(t.dtype, t.shape, t.data.map(num));
// deno-lint-ignore no-explicit-any
const encode = (t: any) => ({
  dtype: t.dtype,
  shape: t.shape,
  data: Array.from(t.data as ArrayLike<number>, String).map(Number),
});
const send = (m: unknown) => Deno.stdout.write(new TextEncoder().encode(JSON.stringify(m) + "\n"));
const F32 = { params: "float32", running: "float32", saved: "float32" };

let buffer = "";
for await (const chunk of Deno.stdin.readable.pipeThrough(new TextDecoderStream())) {
  buffer += chunk;
  let nl;
  while ((nl = buffer.indexOf("\n")) >= 0) {
    const line = buffer.slice(0, nl);
    buffer = buffer.slice(nl + 1);
    const msg = JSON.parse(line);
    if (msg.type === "hello") {
      await send({
        type: "hello",
        protocol: "batchnorm-conformance",
        version: "1.2",
        name: `mixed peer${declare ? " (declares)" : ""}`,
        supports: declare
          ? {
            mixed_dtypes: [
              { data: "float16", ...F32 },
              { data: "bfloat16", ...F32 },
              { data: "float64", params: "float64", running: "float32", saved: "float64" },
            ],
            center_scale: true,
          }
          : {},
      });
      continue;
    }
    if (msg.type === "bye") Deno.exit(0);
    const cases = msg.type === "batch" ? msg.cases : [msg];
    for (const c of cases) {
      const convention = Object.fromEntries(Object.entries(c.config).map(([k, v]) => [camel[k], v]));
      // deno-lint-ignore no-explicit-any
      const steps = c.steps.map((s: any) => {
        const state = Object.fromEntries(
          Object.entries(s.state).map(([k, v]) => [k, k === "num_batches_tracked" ? v : decode(v)]),
        );
        const request = {
          mode: s.mode,
          dtype: c.dtype,
          ...(c.dtypes ? { dtypes: c.dtypes } : {}),
          convention,
          x: decode(s.x),
          ...(s.dy ? { dy: decode(s.dy) } : {}),
          state,
        } as unknown as StepRequest;
        const out = referenceAdapter(request);
        if (out.error) return { error: out.error };
        return {
          outputs: Object.fromEntries(Object.entries(out.outputs!).map(([k, t]) => [k, encode(t)])),
          ...(out.num_batches_tracked === undefined ? {} : { num_batches_tracked: out.num_batches_tracked }),
        };
      });
      await send({ type: "result", id: c.id, steps });
    }
  }
}
