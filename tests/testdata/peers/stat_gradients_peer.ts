// A protocol 1.2 program around the reference, for the runner's tests of format 1.3's dmean and dvar
// (tests/stat_gradients_test.ts). Usage: deno run tests/testdata/peers/stat_gradients_peer.ts [--declare | --omit]
// With --declare its hello declares supports.stat_gradients and it answers dmean and dvar to a step that asks for them
// (`stat_gradients: true`); with --omit it declares them but never answers them; without either it declares nothing,
// and a step that asks for them anyway is answered with an error (a program that did not declare them must not be
// asked).
import { CONFIG_KEYS } from "../../../src/conformance/config.ts";
import { referenceAdapter, type StepRequest, tensor } from "../../../mod.ts";

const declare = Deno.args.includes("--declare"), omit = Deno.args.includes("--omit");
const camel = Object.fromEntries(Object.entries(CONFIG_KEYS).map(([k, v]) => [v, k]));
const num = (v: unknown) => (v === "NaN" ? NaN : v === "Infinity" ? Infinity : v === "-Infinity" ? -Infinity : v);
// deno-lint-ignore no-explicit-any
const decode = (t: any) => tensor(t.dtype, t.shape, t.data.map(num));
// deno-lint-ignore no-explicit-any
const encode = (t: any) => ({ dtype: t.dtype, shape: t.shape, data: Array.from(t.data as ArrayLike<number>) });
const send = (m: unknown) => Deno.stdout.write(new TextEncoder().encode(JSON.stringify(m) + "\n"));

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
        name: `stat gradients peer${declare ? " (declares)" : omit ? " (declares, omits)" : ""}`,
        supports: declare || omit ? { stat_gradients: true } : {},
      });
      continue;
    }
    if (msg.type === "bye") Deno.exit(0);
    const cases = msg.type === "batch" ? msg.cases : [msg];
    for (const c of cases) {
      const convention = Object.fromEntries(Object.entries(c.config).map(([k, v]) => [camel[k], v]));
      // deno-lint-ignore no-explicit-any
      const steps = c.steps.map((s: any) => {
        if (s.stat_gradients && !declare && !omit) {
          return { error: { code: "invalid_option", message: "asked for dmean and dvar without declaring them" } };
        }
        const state = Object.fromEntries(
          Object.entries(s.state).map(([k, v]) => [k, k === "num_batches_tracked" ? v : decode(v)]),
        );
        const request = {
          mode: s.mode,
          dtype: c.dtype,
          convention,
          x: decode(s.x),
          ...(s.dy ? { dy: decode(s.dy) } : {}),
          state,
          ...(s.stat_gradients && declare ? { statGradients: true } : {}),
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
