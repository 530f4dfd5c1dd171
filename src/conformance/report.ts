/**
 * Renders a {@linkcode SuiteReport}: a terminal summary, JSON, and JUnit XML for CI systems.
 *
 * @module
 */

import type { CaseReport, SuiteReport } from "./runner.ts";

/**
 * A plain-text summary: one row per fixture source (cases, passed, failed,
 * skipped, expected failures, worst error as a share of the budget), then every
 * failing case with its reason and first mismatching element.
 *
 * @param report A run's report.
 * @returns Lines of text, ending with "N passed, N failed, N skipped".
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { formatSummary } from "../../mod.ts";
 * const text = formatSummary({ implementation: "x", cases: [], totals: { pass: 0, fail: 0, skip: 0, xfail: 0, xpass: 0 } });
 * assert(text.endsWith("0 passed, 0 failed, 0 skipped"));
 * ```
 */
export function formatSummary(report: SuiteReport): string {
  const bySource = Map.groupBy(report.cases, (c) => c.source);
  const head = ["source", "cases", "pass", "fail", "skip", "xfail", "xpass", "worst"];
  const rows = [...bySource].map(([source, cs]) => {
    const n = (s: string) => String(cs.filter((c) => c.status === s).length);
    const worst = Math.max(
      0,
      ...cs.filter((c) => c.status === "pass" || c.status === "fail").map((c) => c.worstShare ?? 0),
    );
    return [source, String(cs.length), n("pass"), n("fail"), n("skip"), n("xfail"), n("xpass"), worst.toPrecision(3)];
  });
  const width = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((v, i) => (i === 0 ? v.padEnd(width[i]) : v.padStart(width[i]))).join("  ");
  const out = [
    `${report.implementation}: worst error as a share of its budget (1 = at the limit)`,
    line(head),
    ...rows.map(line),
  ];
  const bad = report.cases.filter((c) => c.status === "fail" || c.status === "xpass");
  if (bad.length) {
    out.push("", "Failures:");
    for (const c of bad) {
      out.push(`  ${c.file} :: ${c.name}`, `    ${c.reason}`);
      const m = c.firstMismatch;
      if (m) {
        out.push(`    first mismatch: step ${m.step}, ${m.output}[${m.index}] = ${m.actual}, expected ${m.expected}`);
      }
    }
  }
  const t = report.totals;
  out.push("", `${t.pass} passed, ${t.fail + t.xpass} failed, ${t.skip} skipped`);
  return out.join("\n");
}

const xml = (s: string) =>
  s.replace(/[<>&"']/g, (ch) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;", "'": "&apos;" })[ch]!);

/**
 * The report as JUnit XML: one testsuite per fixture file, one testcase per case.
 * Failures and xpasses are `<failure>`, skips and expected failures `<skipped>`.
 *
 * @param report A run's report.
 * @returns An XML document.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { toJUnit } from "../../mod.ts";
 * const x = toJUnit({ implementation: "x", cases: [], totals: { pass: 0, fail: 0, skip: 0, xfail: 0, xpass: 0 } });
 * assert(x.startsWith("<?xml") && x.includes('<testsuites name="x"'));
 * ```
 */
export function toJUnit(report: SuiteReport): string {
  const byFile = Map.groupBy(report.cases, (c) => c.file);
  const testcase = (c: CaseReport) => {
    const open = `    <testcase classname="${xml(c.file)}" name="${xml(c.name)}" time="${(c.ms / 1000).toFixed(3)}"`;
    if (c.status === "pass") return `${open}/>`;
    const body = c.status === "skip" || c.status === "xfail"
      ? `<skipped message="${xml(`${c.status}: ${c.reason ?? ""}`)}"/>`
      : `<failure message="${xml(c.reason ?? c.status)}">${xml(JSON.stringify(c.firstMismatch ?? {}))}</failure>`;
    return `${open}>${body}</testcase>`;
  };
  const suites = [...byFile].map(([file, cs]) => {
    const count = (f: (c: CaseReport) => boolean) => cs.filter(f).length;
    return `  <testsuite name="${xml(file)}" tests="${cs.length}" failures="${
      count((c) => c.status === "fail" || c.status === "xpass")
    }" ` +
      `skipped="${count((c) => c.status === "skip" || c.status === "xfail")}">\n${
        cs.map(testcase).join("\n")
      }\n  </testsuite>`;
  });
  const t = report.totals;
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="${
    xml(report.implementation)
  }" tests="${report.cases.length}" ` +
    `failures="${t.fail + t.xpass}" skipped="${t.skip + t.xfail}">\n${suites.join("\n")}\n</testsuites>\n`;
}
