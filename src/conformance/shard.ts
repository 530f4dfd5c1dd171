/**
 * Sharded runs: one selection split across N jobs (`--shard K/N`), and the N
 * JSON reports merged back into the report the unsharded run gives.
 *
 * The split is round-robin over the selected cases in their run order (case j
 * goes to shard j mod N + 1): deterministic, and even (shard sizes differ by at
 * most one). A sharded report carries a `run` header (suite version, what was
 * run, the seed, the shard); merging checks that every header agrees and that
 * each shard 1..N is present once, then interleaves the cases back into run
 * order and recounts the totals.
 *
 * @module
 */

import type { CaseReport, CaseStatus } from "./runner.ts";

/**
 * One shard: `index` (1-based) of `count`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { parseShard, type Shard } from "../../mod.ts";
 * const s: Shard = parseShard("2/3");
 * assertEquals(s, { index: 2, count: 3 });
 * ```
 */
export interface Shard {
  /** 1..count. */
  readonly index: number;
  /** The number of shards, >= 1. */
  readonly count: number;
}

/**
 * Reads `K/N`, 1 <= K <= N.
 *
 * @param text The flag's value.
 * @returns The shard.
 * @throws {RangeError} Naming the value and the rule.
 *
 * @example
 * ```ts
 * import { assertThrows } from "@std/assert";
 * import { parseShard } from "../../mod.ts";
 * assertThrows(() => parseShard("3/2"), RangeError, "1 <= K <= N");
 * assertThrows(() => parseShard("0/0"), RangeError);
 * ```
 */
export function parseShard(text: string): Shard {
  const m = /^\s*([0-9]+)\s*\/\s*([0-9]+)\s*$/.exec(text);
  if (!m) throw new RangeError(`shard ${JSON.stringify(text)} must be K/N with integers 1 <= K <= N`);
  const index = Number(m[1]), count = Number(m[2]);
  if (!(count >= 1 && index >= 1 && index <= count) || !Number.isSafeInteger(count)) {
    throw new RangeError(`shard ${JSON.stringify(text)}: needs 1 <= K <= N (got K = ${index}, N = ${count})`);
  }
  return { index, count };
}

/**
 * The items of one shard: every item j with j mod N = K − 1, in order.
 *
 * @param items Everything selected, in run order.
 * @param shard The shard.
 * @returns Its part.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { shardOf } from "../../mod.ts";
 * assertEquals(shardOf([0, 1, 2, 3, 4], { index: 2, count: 2 }), [1, 3]);
 * ```
 */
export function shardOf<T>(items: readonly T[], shard: Shard): T[] {
  return items.filter((_, j) => j % shard.count === shard.index - 1);
}

/** What a sharded run ran: the fields that must agree for reports to merge. */
export interface RunHeader {
  /** The suite's version (deno.json). */
  readonly suiteVersion: string;
  /** What was run: `fixtures`, a fixtures path, `random`, and the selection flags, in words. */
  readonly selection: string;
  /** The random seed, when random cases ran (decimal). */
  readonly seed?: string;
  /** The implementation's name. */
  readonly implementation: string;
  /** The shard, when the run was one. */
  readonly shard?: Shard;
}

/** A JSON report with its header (what `conform --json` writes). */
export interface ShardReport {
  /** The run. */
  readonly run: RunHeader;
  /** The implementation. */
  readonly implementation: string;
  /** The cases, in run order. */
  readonly cases: readonly CaseReport[];
  /** Counts by status. */
  readonly totals: Readonly<Record<CaseStatus, number>>;
}

/** Reports that cannot be merged; the message says which and why. */
export class MergeError extends Error {
  /**
   * Creates the error.
   *
   * @param message What differs or is missing.
   */
  constructor(message: string) {
    super(message);
    this.name = "MergeError";
  }
}

/**
 * Merges the reports of shards 1..N into the report of the unsharded run.
 *
 * @param reports One report per shard, in any order.
 * @returns The merged report (its header without a shard).
 * @throws {MergeError} On different versions, selections, seeds or implementations, or missing or repeated shards.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { mergeShardReports } from "../../mod.ts";
 * const run = { suiteVersion: "1", selection: "random", implementation: "x" };
 * const c = (name: string) => ({ name, source: "random", file: "f", dtype: "float32" as const, status: "pass" as const, ms: 0 });
 * const t = { pass: 1, fail: 0, skip: 0, xfail: 0, xpass: 0 };
 * const merged = mergeShardReports([
 *   { run: { ...run, shard: { index: 2, count: 2 } }, implementation: "x", cases: [c("b")], totals: t },
 *   { run: { ...run, shard: { index: 1, count: 2 } }, implementation: "x", cases: [c("a"), c("c")], totals: { ...t, pass: 2 } },
 * ]);
 * assertEquals(merged.cases.map((k) => k.name), ["a", "b", "c"]);
 * ```
 */
export function mergeShardReports(reports: readonly ShardReport[]): ShardReport {
  if (!reports.length) throw new MergeError("no report to merge");
  for (const [i, r] of reports.entries()) {
    if (!r || typeof r !== "object" || !r.run || !Array.isArray(r.cases)) {
      throw new MergeError(`report ${i + 1} is not a sharded JSON report of conform (no "run" header or "cases")`);
    }
    if (!r.run.shard) throw new MergeError(`report ${i + 1} is not a shard (its run has no shard)`);
  }
  const first = reports[0].run;
  const count = first.shard!.count;
  for (const [i, r] of reports.entries()) {
    for (const key of ["suiteVersion", "selection", "seed", "implementation"] as const) {
      if (r.run[key] !== first[key]) {
        throw new MergeError(
          `report ${i + 1} differs in ${key}: ${JSON.stringify(r.run[key])} vs ${JSON.stringify(first[key])}`,
        );
      }
    }
    if (r.run.shard!.count !== count) {
      throw new MergeError(
        `report ${i + 1} is shard ${r.run.shard!.index}/${r.run.shard!.count}, others are of ${count}`,
      );
    }
  }
  const byIndex = new Map<number, ShardReport>();
  for (const r of reports) {
    if (byIndex.has(r.run.shard!.index)) throw new MergeError(`shard ${r.run.shard!.index}/${count} appears twice`);
    byIndex.set(r.run.shard!.index, r);
  }
  const missing = Array.from({ length: count }, (_, i) => i + 1).filter((k) => !byIndex.has(k));
  if (missing.length) throw new MergeError(`shards missing: ${missing.map((k) => `${k}/${count}`).join(", ")}`);
  const cases: CaseReport[] = [];
  const total = reports.reduce((a, r) => a + r.cases.length, 0);
  for (let j = 0; j < total; j++) {
    const part = byIndex.get((j % count) + 1)!;
    const c = part.cases[Math.floor(j / count)];
    if (!c) throw new MergeError(`shard ${(j % count) + 1}/${count} has too few cases for an even split`);
    cases.push(c);
  }
  const totals: Record<CaseStatus, number> = { pass: 0, fail: 0, skip: 0, xfail: 0, xpass: 0 };
  for (const c of cases) totals[c.status]++;
  const { shard: _shard, ...run } = first;
  // Other fields of the report (the implementation's capabilities, …) are the same in every shard: kept as they are.
  return { ...reports[0], run, cases, totals };
}
