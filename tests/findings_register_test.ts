/**
 * The findings register is data generated like the fixtures: current (equal to a fresh computation from the
 * fixtures), complete (every framework record outside its witness bound has a finding with a cause and a source),
 * well-formed, and read by the runner beside a failure that equals a framework's recorded output.
 */
import { assert, assertEquals, assertStringIncludes, assertThrows } from "@std/assert";
import {
  findingLookup,
  loadAllFixtures,
  loadFindings,
  parseFindings,
  recordChecks,
  referenceAdapter,
  runSuite,
} from "../mod.ts";
import { registerText } from "../scripts/generators/findings_register.ts";

const files = await loadAllFixtures();
const register = await loadFindings();

Deno.test("fixtures/findings.json is what the generator computes from the fixtures now", async () => {
  const onDisk = await Deno.readTextFile(new URL("../fixtures/findings.json", import.meta.url));
  assertEquals(onDisk, registerText(files), "stale: run deno task fixtures");
});

Deno.test("every framework record outside its bound is in the register; every listed one is outside", () => {
  const listed = new Set(
    register.findings.flatMap((f) => f.cases.flatMap((c) => c.outputs.map((o) => `${c.case}|${o.record}|${o.output}`))),
  );
  let outside = 0;
  for (const c of files.flatMap((f) => f.cases)) {
    for (const k of recordChecks(c)) {
      const key = `${c.name}|${k.record}|${k.output}`;
      if (k.share > 1) {
        outside++;
        assert(listed.has(key), `not in the register: ${key} (${k.share}× the budget)`);
      }
    }
  }
  assertEquals(listed.size <= outside, true);
  for (const f of register.findings) {
    assert(f.source.startsWith("https://"), `${f.id}: no source link`);
    assert(f.frameworks.length > 0 && f.cases.length > 0, `${f.id}: empty`);
    for (const c of f.cases) for (const o of c.outputs) assert(o.share === null || o.share > 1, `${f.id} ${c.case}`);
  }
});

Deno.test("a malformed register is refused with what is wrong and where", () => {
  assertThrows(() => parseFindings('{"format":"nope","findings":[]}'), Error, "format");
  const one = (f: object) => JSON.stringify({ format: "batchnorm-conformance-findings", findings: [f] });
  assertThrows(() => parseFindings(one({ id: "X1", title: "t", cause: "c", source: "s" })), Error, "findings[0].id");
  assertThrows(() => parseFindings(one({ id: "F-1", title: "", cause: "c", source: "s" })), Error, "findings[0].title");
});

Deno.test("the runner names the known finding beside a failure that equals PyTorch's recorded output", async () => {
  const c = files.flatMap((f) => f.cases).find((c) =>
    c.name === "pytorch edge BatchNorm1d float32 6x2 denormal inputs"
  )!;
  const lookup = findingLookup(register);
  const id = lookup(c.name, "dgamma")?.id;
  assert(id, "the denormal dgamma finding is not registered");
  // An implementation answering PyTorch's recorded outputs on that case.
  const records = (req: Parameters<typeof referenceAdapter>[0]) => {
    const own = referenceAdapter(req);
    const i = c.steps.findIndex((s) => s.inputs.x.data === req.x.data);
    const e = c.steps[i]?.expected ?? {};
    const outputs = { ...own.outputs };
    for (const [k, v] of Object.entries(e)) if (typeof v === "object") outputs[k] = v;
    return { ...own, outputs };
  };
  const r = await runSuite(files, { name: "records", adapter: records }, {
    select: { name: new RegExp(`^${c.name}$`) },
    findingFor: lookup,
  });
  assertEquals(r.totals.fail, 1);
  const text = r.cases[0].diagnosis!.outputs.find((o) => o.output === "dgamma")!.text;
  assertStringIncludes(text, `known finding ${id} of PyTorch 1.13.0a0`);
});
