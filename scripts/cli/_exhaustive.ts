/**
 * `deno task conform --exhaustive float16|bfloat16`: runs an implementation over
 * every case of {@linkcode exhaustiveCases}, in chunks, and reports the totals,
 * the worst share of budget with its input, and the throughput.
 *
 * @module
 */

import {
  exhaustiveCases,
  exhaustiveCount,
  type FixtureFile,
  type Implementation,
  runSuite,
  type Shard,
  type SweepDType,
} from "../../mod.ts";

/** What a sweep found. */
export interface SweepSummary {
  /** Cases run. */
  readonly cases: number;
  /** Cases that failed. */
  readonly failed: number;
  /** The largest share of budget over every output of every case (0 = exact, 1 = at the limit). */
  readonly worstShare: number;
  /** The case where it occurred. */
  readonly worstCase: string;
  /** Up to ten failing cases with their reasons. */
  readonly failures: readonly string[];
  /** Cases per second, generation (exact evaluation) included. */
  readonly casesPerSecond: number;
}

/**
 * Runs a sweep.
 *
 * @param dtype float16 or bfloat16.
 * @param impl The implementation.
 * @param log Where progress lines go.
 * @param range Case indices [from, to) (default all).
 * @returns The summary; it passed when `failed` is 0.
 */
export async function sweep(
  dtype: SweepDType,
  impl: Implementation,
  log: (line: string) => void = () => {},
  range: readonly [number, number] = [0, exhaustiveCount(dtype)],
): Promise<SweepSummary> {
  const started = performance.now();
  const chunk = 4096;
  let cases = 0, failed = 0, worstShare = 0, worstCase = "";
  const failures: string[] = [];
  for (let from = range[0]; from < range[1]; from += chunk) {
    const to = Math.min(range[1], from + chunk);
    const file: FixtureFile = {
      url: `exhaustive:${dtype}`,
      formatVersion: "1.2",
      provenance: {
        source: "exhaustive",
        framework: "exact evaluator",
        version: "src/conformance/exact.ts",
        api: "exactStepWithScales",
        generator: "src/conformance/exhaustive.ts",
        command: `deno task conform --exhaustive ${dtype}`,
        seed: 0,
        composed: true,
      },
      cases: [...exhaustiveCases(dtype, from, to)],
    };
    const report = await runSuite([file], impl);
    for (const c of report.cases) {
      cases++;
      if (c.status === "fail" || c.status === "xpass") {
        failed++;
        if (failures.length < 10) failures.push(`${c.name}: ${c.reason}`);
      }
      if ((c.worstShare ?? 0) > worstShare || !worstCase) {
        worstShare = c.worstShare ?? 0;
        worstCase = c.name;
      }
    }
    log(`  ${to}/${range[1]} cases, ${failed} failed, worst share ${worstShare.toPrecision(3)} (${worstCase})`);
  }
  return {
    cases,
    failed,
    worstShare,
    worstCase,
    failures,
    casesPerSecond: cases / ((performance.now() - started) / 1000),
  };
}

/**
 * The `--exhaustive` command: runs the sweep and prints its summary.
 *
 * @param dtype float16 or bfloat16.
 * @param impl The implementation.
 * @param print Output lines.
 * @param shard Run only this shard's range of cases (contiguous, even).
 * @returns Whether every case passed.
 */
export async function exhaustiveRun(
  dtype: SweepDType,
  impl: Implementation,
  print: (line: string) => void,
  shard?: Shard,
): Promise<boolean> {
  const total = exhaustiveCount(dtype);
  const range: [number, number] = shard
    ? [Math.floor((total * (shard.index - 1)) / shard.count), Math.floor((total * shard.index) / shard.count)]
    : [0, total];
  print(
    `exhaustive ${dtype} sweep of ${impl.name}: ${total} cases` +
      (shard ? `; shard ${shard.index}/${shard.count}: cases ${range[0]}..${range[1] - 1}` : ""),
  );
  const s = await sweep(dtype, impl, Deno.stderr.isTerminal() ? print : () => {}, range);
  print(`${s.cases} cases, ${s.cases - s.failed} passed, ${s.failed} failed; ${s.casesPerSecond.toFixed(0)} cases/s`);
  print(`worst share of budget ${s.worstShare.toPrecision(3)} at ${s.worstCase}`);
  for (const f of s.failures) print(`  FAIL ${f}`);
  return s.failed === 0 && s.cases > 0;
}
