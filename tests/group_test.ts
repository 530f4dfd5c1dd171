import { assert, assertEquals, assertThrows } from "@std/assert";
import {
  BatchNormError,
  batchNormTrain,
  combineMoments,
  groupStatistics,
  shardMoments,
  tensor,
  toDouble,
} from "../mod.ts";

/** A seeded generator (xorshift), so a failure names its data. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13, s ^= s >>> 17, s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

/** Random row counts adding up to n, with empty shards among them. */
function split(n: number, parts: number, r: () => number): number[] {
  const cuts = Array.from({ length: parts - 1 }, () => Math.floor(r() * (n + 1))).sort((a, b) => a - b);
  return [...cuts, n].map((c, i) => c - (i ? cuts[i - 1] : 0));
}

function wholeBatch(shape: number[], values: number[]) {
  const x = tensor("float64", shape, values);
  const C = shape[1];
  return { x, r: batchNormTrain(x, { gamma: new Array(C).fill(1), beta: new Array(C).fill(0) }, "pytorch") };
}

Deno.test("groupStatistics() equals the whole batch's float64 mean and variance for uneven and empty shards", () => {
  let checked = 0;
  for (let seed = 1; seed <= 60; seed++) {
    const r = rng(seed);
    const shape = [2 + Math.floor(r() * 9), 1 + Math.floor(r() * 3), 1 + Math.floor(r() * 3)];
    const center = [0, 1e3, -1e7][seed % 3], spread = [1, 1e-3, 0.5][seed % 3];
    const values = Array.from({ length: shape.reduce((a, b) => a * b) }, () => center + spread * (r() - 0.5));
    const { x, r: whole } = wholeBatch(shape, values);
    const shards = split(shape[0], 1 + Math.floor(r() * 5), r);
    const g = groupStatistics(x, shards);
    assertEquals(g.count, shape[0] * shape[2]);
    for (let c = 0; c < shape[1]; c++) {
      assert(g.mean[c] === whole.batchMean.data[c], `seed ${seed} shards ${shards} channel ${c}: mean`);
      assert(g.variance[c] === whole.batchVar.data[c], `seed ${seed} shards ${shards} channel ${c}: variance`);
      checked++;
    }
  }
  assert(checked > 100);
});

Deno.test("combineMoments() gives the same rounded statistics whatever the order of the shards", () => {
  const r = rng(7);
  const values = Array.from({ length: 12 * 2 }, () => 1e4 + r());
  const x = tensor("float64", [12, 2], values);
  const parts = shardMoments(x, [5, 0, 3, 4]);
  const a = combineMoments(parts), b = combineMoments([...parts].reverse());
  assertEquals([...a.mean], [...b.mean]);
  assertEquals([...a.m2], [...b.m2]);
});

Deno.test("shardMoments() gives each shard its own count, mean and M2; an empty shard has count 0", () => {
  const x = tensor("float64", [4, 1, 2], [1, 3, 5, 7, 2, 2, 10, 20]);
  const [a, empty, b] = shardMoments(x, [2, 0, 2]);
  assertEquals([a.count, a.mean[0], a.m2[0]], [4, 4, 20]);
  assertEquals(empty.count, 0);
  assert(Number.isNaN(empty.mean[0]));
  assertEquals([b.count, b.mean[0], b.m2[0]], [4, 8.5, 219]);
});

Deno.test("groupStatistics() splits the batch axis with channels last too", () => {
  const values = [1, 10, 2, 20, 3, 30, 4, 40, 5, 50, 6, 60];
  const x = tensor("float64", [3, 2, 2], values); // channels on the last axis: [N, L, C]
  const g = groupStatistics(x, [1, 2], { axis: -1 });
  assertEquals([...g.mean], [3.5, 35]);
  assertEquals(g.count, 6);
});

Deno.test("groupStatistics() of only empty shards: count 0, mean and variance NaN", () => {
  const g = groupStatistics(tensor("float64", [0, 2], []), [0, 0]);
  assertEquals(g.count, 0);
  assert(g.mean.every(Number.isNaN) && g.variance.every(Number.isNaN));
});

Deno.test("groupStatistics() refuses a split that does not cover the batch, naming the field", () => {
  const x = tensor("float64", [3, 1], [1, 2, 3]);
  for (const [shards, field] of [[[1, 1], "shards"], [[2, -1, 2], "shards[1]"], [[1.5, 1.5], "shards[0]"]] as const) {
    const e = assertThrows(() => groupStatistics(x, shards), BatchNormError);
    assertEquals([e.code, e.field], ["invalid_option", field]);
  }
});

Deno.test("groupStatistics() carries NaN and infinities to their channel only", () => {
  const x = tensor("float64", [4, 2], [NaN, 1, 2, 2, 3, Infinity, 4, 4]);
  const g = groupStatistics(x, [2, 2]);
  assert(Number.isNaN(g.mean[0]) && Number.isNaN(g.variance[0]));
  assert(g.mean[1] === Infinity && Number.isNaN(g.variance[1]));
});

Deno.test("toDouble() rounds a rational to nearest binary64, ties to even, subnormals and overflow included", () => {
  assertEquals(toDouble(1n, 3n), 1 / 3);
  assertEquals(toDouble(-2n, 3n), -2 / 3);
  assertEquals(toDouble(2n ** 53n + 1n, 1n), 2 ** 53); // a tie: to the even neighbour
  assertEquals(toDouble(2n ** 53n + 3n, 1n), 2 ** 53 + 4);
  assertEquals(toDouble(1n, 1n << 1075n), 0); // half the smallest subnormal: a tie, to 0
  assertEquals(toDouble(3n, 1n << 1076n), 2 ** -1074); // 0.75 of it
  assertEquals(toDouble(2n ** 1024n, 1n), Infinity);
  assertEquals(toDouble(0n, 5n), 0);
});
