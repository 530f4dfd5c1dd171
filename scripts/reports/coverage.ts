/**
 * Coverage across conventions: for every value a capability can declare for a convention field, the share of the
 * fixture cases an implementation declaring only that value (and everything else) is judged on, not skipped.
 * `deno run --allow-read=. scripts/reports/coverage.ts` prints the table; tests/coverage_test.ts holds the floor.
 *
 * @module
 */

import {
  type Capabilities,
  type FixtureCase,
  loadAllFixtures,
  RUNNING_ONLY_FIELDS,
  runningSubstitution,
  unsupportedReason,
} from "../../mod.ts";
import { CONVENTION_VALUES } from "../../src/reference/convention.ts";
import { markdownTable } from "./_markdown.ts";

/** One row: a declared value and the cases it is judged on. */
export interface CoverageRow {
  readonly field: string;
  readonly value: string;
  /** Cases judged on every output. */
  readonly full: number;
  /** Cases judged on every output but the running statistics (run under the declared value instead). */
  readonly partial: number;
  readonly total: number;
}

/** How runSuite treats a case for an implementation declaring `caps`: skipped, judged in part, or in full. */
export function treatment(c: FixtureCase, caps: Capabilities): "skip" | "partial" | "full" {
  const sub = runningSubstitution(c, caps.conventions ?? {});
  if (!sub) return unsupportedReason(c, caps) === undefined ? "full" : "skip";
  const rest = Object.fromEntries(
    Object.entries(caps.conventions ?? {}).filter(([k]) => !RUNNING_ONLY_FIELDS.includes(k as never)),
  );
  const judgeable = c.steps.some((s) =>
    s.expectedError || Object.keys(s.expected ?? {}).some((o) => !sub.unchecked.includes(o))
  );
  return judgeable && unsupportedReason(c, { ...caps, conventions: rest }) === undefined ? "partial" : "skip";
}

/** The rows, for every enumerated convention field and value. */
export function coverage(cases: readonly FixtureCase[]): CoverageRow[] {
  const rows: CoverageRow[] = [];
  for (const [field, values] of Object.entries(CONVENTION_VALUES)) {
    for (const value of values) {
      const caps = { conventions: { [field]: [value] } };
      const how = cases.map((c) => treatment(c, caps));
      const full = how.filter((h) => h === "full").length, partial = how.filter((h) => h === "partial").length;
      rows.push({ field, value, full, partial, total: cases.length });
    }
  }
  return rows;
}

/** The table as markdown. */
export function coverageTable(cases: readonly FixtureCase[]): string {
  return markdownTable(
    ["field", "declared value", "judged in full", "judged but the running statistics", "judged in all"],
    coverage(cases).map((r) => [
      r.field,
      r.value,
      `${r.full} of ${r.total}`,
      String(r.partial),
      `${(100 * (r.full + r.partial) / r.total).toFixed(0)}%`,
    ]),
  );
}

if (import.meta.main) console.log(coverageTable((await loadAllFixtures()).flatMap((f) => f.cases)));
