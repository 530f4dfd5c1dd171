/** Sharding (src/conformance/shard.ts): the split is even and complete; merging restores run order and refuses mismatches. */
import { assertEquals, assertThrows } from "@std/assert";
import { type CaseReport, MergeError, mergeShardReports, parseShard, shardOf, type ShardReport } from "../mod.ts";

Deno.test("shardOf: every item in exactly one shard, sizes differ by at most one", () => {
  for (const n of [1, 2, 3, 7]) {
    for (const total of [0, 1, 5, 22]) {
      const items = Array.from({ length: total }, (_, i) => i);
      const parts = Array.from({ length: n }, (_, k) => shardOf(items, { index: k + 1, count: n }));
      assertEquals(parts.flat().sort((a, b) => a - b), items);
      const sizes = parts.map((p) => p.length);
      assertEquals(Math.max(...sizes) - Math.min(...sizes) <= 1, true);
    }
  }
  assertEquals(parseShard(" 1 / 1 "), { index: 1, count: 1 });
  for (const bad of ["3/2", "0/0", "0/1", "1/0", "-1/2", "1.5/2", "1/2/3", ""]) {
    assertThrows(() => parseShard(bad), RangeError);
  }
});

const kase = (name: string, status: CaseReport["status"] = "pass"): CaseReport => ({
  name,
  source: "random",
  file: "random:1",
  dtype: "float32",
  status,
  ms: 1,
});

function shards(names: string[], n: number, header: Partial<ShardReport["run"]> = {}): ShardReport[] {
  return Array.from({ length: n }, (_, k) => {
    const cases = shardOf(names.map((x) => kase(x, x.startsWith("f") ? "fail" : "pass")), { index: k + 1, count: n });
    const totals = { pass: 0, fail: 0, skip: 0, xfail: 0, xpass: 0 };
    for (const c of cases) totals[c.status]++;
    return {
      run: {
        suiteVersion: "0.1.0",
        selection: "random 5",
        seed: "1",
        implementation: "x",
        shard: { index: k + 1, count: n },
        ...header,
      },
      implementation: "x",
      cases,
      totals,
    };
  });
}

Deno.test("mergeShardReports: run order and totals restored; mismatches refused", () => {
  const names = ["a", "f1", "c", "d", "f2"];
  const merged = mergeShardReports(shards(names, 3).reverse());
  assertEquals(merged.cases.map((c) => c.name), names);
  assertEquals(merged.totals, { pass: 3, fail: 2, skip: 0, xfail: 0, xpass: 0 });
  assertEquals(merged.run.shard, undefined);
  const [a, b] = shards(names, 2);
  assertThrows(() => mergeShardReports([a]), MergeError, "shards missing: 2/2");
  assertThrows(() => mergeShardReports([a, a]), MergeError, "appears twice");
  assertThrows(() => mergeShardReports([a, shards(names, 2, { seed: "2" })[1]]), MergeError, "differs in seed");
  assertThrows(
    () => mergeShardReports([a, shards(names, 2, { suiteVersion: "0.2.0" })[1]]),
    MergeError,
    "suiteVersion",
  );
  assertThrows(() => mergeShardReports([a, shards(names, 2, { selection: "fixtures" })[1]]), MergeError, "selection");
  assertThrows(() => mergeShardReports([a, { ...b, cases: b.cases.slice(1) }]), MergeError, "too few cases");
  assertThrows(() => mergeShardReports([]), MergeError);
});

Deno.test("mergeShardReports keeps the report's other fields (an implementation's capabilities)", () => {
  const parts = shards(["a", "b", "c"], 2).map((r) => ({ ...r, capabilities: { dtypes: ["float32"] } }));
  const merged = mergeShardReports(parts) as ShardReport & { capabilities?: unknown };
  assertEquals(merged.capabilities, { dtypes: ["float32"] });
});
