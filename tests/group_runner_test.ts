/** Split batches (format 1.3 `shards`) through the runner: who gets the shards, and what a wrong combination gets. */
import { assert, assertEquals } from "@std/assert";
import {
  type Adapter,
  loadAllFixtures,
  referenceAdapter,
  roundToDType,
  runSuite,
  shardMoments,
  type StepRequest,
} from "../mod.ts";

const files = await loadAllFixtures();
const select = { sources: ["pytorch2"], features: ["group-statistics"] };
const split = files.flatMap((f) => f.cases).filter((c) => c.features.includes("group-statistics"));

Deno.test("the PyTorch 2 SyncBatchNorm cases split their training batches, with uneven and empty shards", () => {
  assert(split.length >= 7, `${split.length} cases`);
  const shards = split.flatMap((c) => c.steps.flatMap((s) => (s.shards ? [s.shards] : [])));
  assert(shards.some((s) => s.includes(0)), "an empty shard");
  assert(shards.some((s) => new Set(s.filter((n) => n > 0)).size > 1), "uneven shards");
  for (const c of split) {
    for (const s of c.steps) if (s.shards) assertEquals(s.shards.reduce((a, b) => a + b, 0), s.inputs.x.shape[0]);
  }
});

Deno.test("runSuite() sends shards unless the implementation declares shards: false; the reference passes both", async () => {
  for (const shards of [undefined, false] as const) {
    const seen: StepRequest[] = [];
    const adapter: Adapter = (r) => (seen.push(r), referenceAdapter(r));
    const report = await runSuite(files, { name: `shards ${shards}`, adapter, supports: { shards } }, { select });
    assertEquals(report.totals.pass, split.length);
    assertEquals(report.totals.fail + report.totals.skip, 0);
    const sent = seen.filter((r) => r.shards).length;
    if (shards === false) assertEquals(sent, 0);
    else assertEquals(sent, split.flatMap((c) => c.steps).filter((s) => s.shards).length);
  }
});

Deno.test("a mean of the shards' means (every device weighted alike) fails the uneven splits", async () => {
  const meanOfMeans: Adapter = (r) => {
    const out = referenceAdapter(r);
    if (!r.shards || !out.outputs) return out;
    const parts = shardMoments(r.x, r.shards, { axis: r.convention!.axis }).filter((p) => p.count > 0);
    const C = parts[0].mean.length;
    const mean = Array.from({ length: C }, (_, c) => parts.reduce((s, p) => s + p.mean[c], 0) / parts.length);
    return {
      ...out,
      outputs: {
        ...out.outputs,
        batch_mean: { dtype: r.dtype, shape: [C], data: mean.map((v) => roundToDType(v, r.dtype)) },
      },
    };
  };
  const report = await runSuite(files, { name: "mean of means", adapter: meanOfMeans }, { select });
  const failed = new Set(report.cases.filter((c) => c.status === "fail").map((c) => c.name));
  const uneven = split.filter((c) => c.steps.some((s) => s.shards && new Set(s.shards.filter((n) => n > 0)).size > 1));
  assert(uneven.length > 0);
  for (const c of uneven) assert(failed.has(c.name), `${c.name} passed a mean of means`);
});
