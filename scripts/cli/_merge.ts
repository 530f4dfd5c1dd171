/**
 * `deno task conform merge A.json B.json … [--json OUT] [--junit OUT] [--expect FULL.json]`:
 * merges the JSON reports of the N shards of one run into the report of the
 * unsharded run (see src/conformance/shard.ts), writes it as JSON and JUnit, and
 * with `--expect` checks it against an unsharded run's report (timings aside).
 * Exit codes: 0 merged (and equal, and no case failed), 1 a case failed or the report differs, 2 bad
 * input (reports of different versions, selections or seeds; shards missing).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { MergeError, mergeShardReports, type ShardReport, toJUnit } from "../../mod.ts";

/** Drops what differs between two runs of the same cases: wall times. */
export function withoutTimes(r: Omit<ShardReport, "run"> & { run?: unknown }): unknown {
  const { run, ...rest } = r as ShardReport;
  const { shard: _s, ...header } = (run ?? {}) as ShardReport["run"];
  return { run: header, ...rest, cases: rest.cases.map(({ ms: _ms, ...c }) => c) };
}

/**
 * Runs the merge command.
 *
 * @param args The arguments after `merge`.
 * @returns The exit code.
 */
export async function mergeMain(args: string[]): Promise<number> {
  const fail = (message: string) => {
    console.error(`conform merge: ${message}`);
    return 2;
  };
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: { json: { type: "string" }, junit: { type: "string" }, expect: { type: "string" } },
    });
  } catch (e) {
    return fail((e as Error).message);
  }
  const { values, positionals } = parsed;
  if (!positionals.length) return fail("give the shards' JSON reports: merge A.json B.json …");
  const reports: ShardReport[] = [];
  for (const p of positionals) {
    try {
      reports.push(JSON.parse(await Deno.readTextFile(p)));
    } catch (e) {
      return fail(`${p}: ${(e as Error).message}`);
    }
  }
  let merged: ShardReport;
  try {
    merged = mergeShardReports(reports);
  } catch (e) {
    if (e instanceof MergeError) return fail(e.message);
    throw e;
  }
  const t = merged.totals;
  console.log(
    `merged ${reports.length} shards: ${merged.cases.length} cases, ${t.pass} passed, ${t.fail} failed, ` +
      `${t.skip} skipped, ${t.xfail} expected failures, ${t.xpass} unexpected passes`,
  );
  if (values.json) await Deno.writeTextFile(values.json, JSON.stringify(merged, null, 2) + "\n");
  if (values.junit) await Deno.writeTextFile(values.junit, toJUnit(merged));
  if (values.expect) {
    let full: ShardReport;
    try {
      full = JSON.parse(await Deno.readTextFile(values.expect));
    } catch (e) {
      return fail(`${values.expect}: ${(e as Error).message}`);
    }
    const a = JSON.stringify(withoutTimes(merged)), b = JSON.stringify(withoutTimes(full));
    if (a !== b) {
      let i = 0;
      while (i < a.length && a[i] === b[i]) i++;
      console.error(`conform merge: the merged report differs from ${values.expect} near …${a.slice(i - 80, i + 80)}…`);
      return 1;
    }
    console.log(`equal to ${values.expect} (timings aside)`);
  }
  return t.fail + t.xpass > 0 ? 1 : 0;
}
