/**
 * Renders a {@linkcode SuiteReport}: a terminal summary, JSON, and JUnit XML for CI systems.
 * Each names every failing output of a case (its error, its budget and how the budget was formed),
 * reports framework-defect cases apart, and says what was not checked.
 *
 * @module
 */

import type { CaseReport, OutputFailure, SuiteReport } from "./runner.ts";

const GRADIENTS = ["dx", "dgamma", "dbeta"];
const DEFECTS = "(known framework defects)";

/** "1.10e+7 ULP", "Infinity" (a special value against a finite one). */
const ulps = (v: number) => (Number.isFinite(v) ? `${v.toPrecision(3)} ULP` : `${v} ULP`);

/**
 * One failing output in words: where, how far, against what budget formed how.
 *
 * @param f The failure.
 * @returns One line, e.g. `step 0 dgamma: 1.10e+7 ULP > 42 ULP = 6 ULP (float32) × ceil(√40) ...; worst dgamma[1] = …`.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { describeFailure } from "./report.ts";
 * const line = describeFailure({ step: 0, output: "y", error: Infinity, budget: 6, basis: "6 ULP", index: 2,
 *   actual: 3.4e38, expected: Infinity, stored: 2.6e76 });
 * assert(line.includes("expected Infinity (stored 2.6e+76, beyond the dtype's range)"));
 * ```
 */
export function describeFailure(f: OutputFailure): string {
  const where = f.index >= 0 ? `; worst ${f.output}[${f.index}] = ${f.actual}, expected ${f.expected}` : "";
  const stored = f.stored !== undefined ? ` (stored ${f.stored}, beyond the dtype's range)` : "";
  return `step ${f.step} ${f.output}: ${ulps(f.error)} > budget ${f.budget} ULP [${f.basis}]${where}${stored}`;
}

/** The lines that explain one failing case: its reason, every problem, every failing output. */
function caseLines(c: CaseReport): string[] {
  const lines = [c.reason ?? c.status];
  for (const p of c.problems ?? []) if (p !== c.reason) lines.push(p);
  for (const f of c.failures ?? []) lines.push(describeFailure(f));
  return lines;
}

/**
 * A plain-text summary: one row per fixture source (cases, passed, failed,
 * skipped, expected failures, worst error as a share of the budget, or "-" when
 * nothing was measured), framework-defect cases on a row of their own, what was
 * not checked and why, then every failing case with its reason and every failing output.
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
  const groups = Map.groupBy(report.cases, (c) => (c.defect ? DEFECTS : c.source));
  const head = ["source", "cases", "pass", "fail", "skip", "xfail", "xpass", "worst"];
  let unmeasured = false;
  const rows = [...groups].map(([source, cs]) => {
    const n = (s: string) => String(cs.filter((c) => c.status === s).length);
    const shares = cs.filter((c) => c.status !== "skip" && c.worstShare !== undefined).map((c) => c.worstShare!);
    const defects = source === DEFECTS;
    // Defect cases judged against the framework's recorded output (files without exact values) measure nothing.
    const worst = shares.length ? Math.max(...shares).toPrecision(3) : defects ? "apart" : "-";
    if (!shares.length && !defects) unmeasured = true;
    return [source, String(cs.length), n("pass"), n("fail"), n("skip"), n("xfail"), n("xpass"), worst];
  });
  const width = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((v, i) => (i === 0 ? v.padEnd(width[i]) : v.padStart(width[i]))).join("  ");
  const out = [
    `${report.implementation}: worst error as a share of its budget (1 = at the limit)`,
    line(head),
    ...rows.map(line),
  ];
  if (unmeasured) out.push(`("-": nothing measured, no output of those cases was compared)`);
  if (groups.has(DEFECTS)) {
    out.push(
      "Cases labelled with a known framework defect are listed on their own row. Where their file has exact values " +
        "(format 1.2) they are judged against them like any other case; in files without, such a case passes when the " +
        "answer is complete and differs from the framework's recorded (defective) output, and measures nothing.",
    );
  }
  // What was not checked, and why.
  const unchecked = new Map<string, number>();
  for (const c of report.cases) for (const o of c.unchecked ?? []) unchecked.set(o, (unchecked.get(o) ?? 0) + 1);
  if (unchecked.size) {
    const caps = report.capabilities;
    const why = (o: string) =>
      caps?.backward === false && GRADIENTS.includes(o)
        ? "the implementation declared backward: false"
        : (o === "dmean" || o === "dvar") && caps?.statGradients !== true
        ? "the implementation does not declare statGradients (format 1.3)"
        : "not among the outputs the implementation declared";
    const byWhy = Map.groupBy([...unchecked], ([o]) => why(o));
    for (const [reason, outs] of byWhy) {
      out.push(
        `Not checked (${reason}): ${outs.map(([o, n]) => `${o} in ${n} case${n === 1 ? "" : "s"}`).join(", ")}.`,
      );
    }
  }
  const substituted = report.cases.filter((c) => c.substituted && c.status !== "skip");
  if (substituted.length) {
    const notes = Map.groupBy(substituted, (c) => c.substituted!.note);
    out.push(
      `Run under a running-statistics convention the implementation declares instead of the case's (running_mean and ` +
        `running_var not checked there; every other output judged): ${
          [...notes].map(([n, cs]) => `${n} in ${cs.length} case${cs.length === 1 ? "" : "s"}`).join("; ")
        }.`,
    );
  }
  const bad = report.cases.filter((c) => c.status === "fail" || c.status === "xpass");
  if (bad.length) {
    out.push("", "Failures:");
    for (const c of bad) {
      out.push(`  ${c.file} :: ${c.name}${c.defect ? " (known framework defect)" : ""}`);
      for (const l of caseLines(c)) out.push(`    ${l}`);
      const m = c.firstMismatch;
      if (m) {
        out.push(`    first mismatch: step ${m.step}, ${m.output}[${m.index}] = ${m.actual}, expected ${m.expected}`);
      }
      out.push(...diagnosisLines(c).map((l) => `    ${l}`));
    }
  }
  const faithful = report.cases.filter((c) => c.faithfulTo);
  if (faithful.length) {
    out.push("", "Passed as faithful to a framework's recorded output, NOT to the exact values (--faithful-to):");
    for (const c of faithful) out.push(`  ${c.file} :: ${c.name}`, ...diagnosisLines(c).map((l) => `    ${l}`));
  }
  const t = report.totals;
  const expected = t.xfail ? `, ${t.xfail} expected failure${t.xfail === 1 ? "" : "s"}` : "";
  out.push("", `${t.pass} passed${faithfulNote(report)}, ${t.fail + t.xpass} failed, ${t.skip} skipped${expected}`);
  return out.join("\n");
}

/**
 * A case's diagnosis as lines: one per failing output, one per refused or unexpectedly answered step.
 *
 * @param c A case of a report.
 * @returns `diagnosis: ...` lines; none when the case has no diagnosis.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { diagnosisLines } from "./report.ts";
 * assert(diagnosisLines({ name: "n", source: "s", file: "f", dtype: "float32", status: "pass", ms: 0 }).length === 0);
 * ```
 */
export function diagnosisLines(c: CaseReport): string[] {
  const d = c.diagnosis;
  if (!d) return [];
  return [...d.outputs.map((o) => `diagnosis: ${o.text}`), ...d.steps.map((s) => `diagnosis: ${s}`)];
}

/** ` (N of them only as faithful to F, not to exact)` for the totals line, or nothing. */
function faithfulNote(report: SuiteReport): string {
  const by = Map.groupBy(report.cases.filter((c) => c.faithfulTo), (c) => c.faithfulTo!);
  if (!by.size) return "";
  return ` (${[...by].map(([f, cs]) => `${cs.length} only as faithful to ${f}, not to exact`).join("; ")})`;
}

/**
 * The report as JSON text. Non-finite numbers (an error of Infinity, a NaN answer) are written as the
 * strings "Infinity", "-Infinity" and "NaN", as in the fixtures, where plain JSON would write null.
 *
 * @param report A run's report.
 * @returns JSON text, indented, ending in a newline.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { toJSON } from "./report.ts";
 * const text = toJSON({ implementation: "x", cases: [], totals: { pass: 0, fail: 0, skip: 0, xfail: 0, xpass: 0 } });
 * assert(JSON.parse(text).implementation === "x");
 * ```
 */
export function toJSON(report: SuiteReport): string {
  const special = (_: string, v: unknown) =>
    typeof v === "number" && !Number.isFinite(v) ? (Number.isNaN(v) ? "NaN" : v > 0 ? "Infinity" : "-Infinity") : v;
  return JSON.stringify(report, special, 2) + "\n";
}

const xml = (s: string) =>
  s.replace(/[<>&"']/g, (ch) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;", "'": "&apos;" })[ch]!);

/**
 * The report as JUnit XML: one testsuite per fixture file, one testcase per case.
 * Failures and xpasses are `<failure>` (the body lists every problem and failing output),
 * skips and expected failures `<skipped>`.
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
    const diagnosis = diagnosisLines(c);
    if (c.status === "pass") {
      return c.faithfulTo
        ? `${open}><properties><property name="faithful-to" value="${xml(c.faithfulTo)}"/></properties>` +
          `<system-out>${xml(diagnosis.join("\n"))}</system-out></testcase>`
        : `${open}/>`;
    }
    const body = c.status === "skip" || c.status === "xfail"
      ? `<skipped message="${xml(`${c.status}: ${c.reason ?? ""}`)}"/>`
      : `<failure message="${xml(c.reason ?? c.status)}">${xml([...caseLines(c), ...diagnosis].join("\n"))}</failure>`;
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
