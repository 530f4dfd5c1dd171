/**
 * The edge-case matrix of the README: scenario × framework → behaviour, every
 * cell read off the fixture of that framework for that scenario
 * (`framework_call.scenario`). `deno run --allow-read=. scripts/reports/edge_table.ts`
 * prints it; tests/edge_table_test.ts checks README.md holds exactly this output.
 *
 * @module
 */

import { type FixtureCase, frameworkErrors, loadAllFixtures, type Tensor } from "../../mod.ts";
import { EDGE_SCENARIOS } from "../generators/_edge_scenarios.ts";
import { REFERENCE_XFAIL } from "../cli/reference_xfail.ts";
import { markdownTable } from "./_markdown.ts";

/** Scenarios, in table order, with the words of the first column. */
export const SCENARIOS: readonly [string, string][] = EDGE_SCENARIOS.map((e) => [e.scenario, e.label]);

/** Columns: fixture source and heading. */
export const COLUMNS: readonly [string, string][] = [
  ["pytorch", "PyTorch 1.13 (float32)"],
  ["pytorch2", "PyTorch 2.15 (float32)"],
  ["tensorflow", "TensorFlow 2.21 fused (float32)"],
  ["tfjs", "TF.js 4.22 (float32)"],
  ["onnxruntime", "onnxruntime 1.30 (float32)"],
];

const fmt = (v: number) => v.toExponential(1).replace("e-", "e−");
const ulps = (v: number) => (v < 100 ? v.toFixed(1) : v < 1e4 ? String(Math.round(v)) : fmt(v));

function channelsOf(t: Tensor, axis: number, C: number): number[][] {
  const a = axis < 0 ? axis + t.shape.length : axis;
  const inner = t.shape.slice(a + 1).reduce((p, q) => p * q, 1);
  const out: number[][] = Array.from({ length: C }, () => []);
  for (let i = 0; i < t.data.length; i++) out[Math.floor(i / inner) % C].push(t.data[i]);
  return out;
}

/** One cell: what the framework did in the scenario's first step (and to the running variance over all steps). */
export function describe(c: FixtureCase): string {
  const parts: string[] = [];
  const step = c.steps[0];
  if (step.expectedError) parts.push(`refused (${step.expectedError.type})`);
  const e = step.expected;
  if (e) {
    const y = e.y as Tensor;
    const C = y.shape.at(c.convention.axis) ?? 0;
    if (y.data.length === 0) parts.push("y empty");
    else {
      const ys = channelsOf(y, c.convention.axis, C), xs = channelsOf(step.inputs.x, c.convention.axis, C);
      const nan = ys.filter((ch) => ch.some(Number.isNaN)).length;
      if (nan > 0) parts.push(nan === C ? "y NaN" : `y NaN in ${nan} of ${C} channels`);
      // A channel whose inputs are all equal has y = beta exactly (in training).
      const beta = c.initialState.beta?.data;
      if (step.mode === "train") {
        xs.forEach((ch, k) => {
          if (k > 0 || !ch.every((v) => v === ch[0] && Number.isFinite(v)) || ys[k].some(Number.isNaN)) return;
          const b = beta ? beta[k] : 0;
          const off = Math.max(...ys[k].map((v) => Math.abs(v - b)));
          parts.push(off === 0 ? "y = β exactly" : `y − β = ${fmt(off)}`);
        });
      }
      if (nan === 0 && !parts.some((p) => p.startsWith("y"))) parts.push("y finite");
    }
    const init = c.initialState.runningVar?.data, initMean = c.initialState.runningMean?.data;
    const rv = e.running_var as Tensor | undefined, rm = e.running_mean as Tensor | undefined;
    if (rm && initMean && Array.from(initMean).every(Number.isFinite)) {
      const vals = Array.from(rm.data);
      if (vals.some(Number.isNaN)) parts.push("running mean NaN");
      else if (vals.some((v) => !Number.isFinite(v))) parts.push("running mean ∞");
    }
    if (rm && initMean && !Array.from(initMean).every(Number.isFinite) && Array.from(rm.data).some(Number.isNaN)) {
      parts.push("NaN running mean kept");
    }
    if (rv && init) {
      const vals = Array.from(rv.data);
      if (vals.some(Number.isNaN)) parts.push("running var NaN");
      else if (vals.some((v) => !Number.isFinite(v))) parts.push("running var ∞");
      else if (vals.every((v, i) => v === init[i])) parts.push("running stats unchanged");
      else if (y.data.length === 0) parts.push(`running var ×${(vals[0] / init[0]).toPrecision(3)}`);
    }
    const later = c.steps.flatMap((s) => (s.expected?.running_var ? [s.expected.running_var as Tensor] : []));
    if (later.some((t) => Array.from(t.data).some((v) => v < 0))) parts.push("running var < 0");
    const own = frameworkErrors(c).find((k) => k.step === 0 && k.output === "y")?.comparison;
    if (own && !own.pass && y.data.length > 0 && !Array.from(y.data).some(Number.isNaN)) {
      parts.push(`own y off ${ulps(own.maxError)} ULP`);
    }
  }
  if (c.frameworkDefect) parts.push("defect (labelled)");
  const xfail = REFERENCE_XFAIL.find((x) => x.case === c.name);
  if (xfail) parts.push("reference refuses the state");
  return parts.join("; ");
}

/** The matrix rows: scenario label and one cell per column (empty where a framework has no such case). */
export async function edgeRows(): Promise<string[][]> {
  const files = await loadAllFixtures();
  const byKey = new Map<string, FixtureCase>();
  // Scenarios a framework refused where it had no case (PyTorch 2: epsilon 0 in training), from provenance.refused.
  const refused = new Map<string, string>();
  for (const f of files) {
    const raw = JSON.parse(await (await fetch(f.url)).text());
    for (const r of raw.provenance.refused ?? []) {
      if (r.scenario) refused.set(`${f.provenance.source}/${r.scenario}`, `refused (${r.type})`);
    }
    raw.cases.forEach((rc: { framework_call?: { scenario?: string } }, i: number) => {
      const scenario = rc.framework_call?.scenario;
      const key = `${f.provenance.source}/${scenario}`;
      // Prefer the float32 case where a framework has several.
      if (scenario && (!byKey.has(key) || (f.cases[i].dtype === "float32" && byKey.get(key)!.dtype !== "float32"))) {
        byKey.set(key, f.cases[i]);
      }
    });
  }
  const notApplicable = new Set<string>();
  return SCENARIOS.map(([key, label]) => [
    label,
    ...COLUMNS.map(([source]) => {
      const c = byKey.get(`${source}/${key}`);
      if (c) return describe(c);
      const r = refused.get(`${source}/${key}`);
      if (r) return r;
      if (notApplicable.has(`${source}/${key}`)) return "n/a in float64";
      throw new Error(`no ${source} fixture for scenario ${key}`);
    }),
  ]);
}

/** The matrix as README markdown, padded as `deno fmt` lays tables out. */
export async function edgeTable(): Promise<string> {
  return markdownTable(["scenario", ...COLUMNS.map(([, h]) => h)], await edgeRows());
}

if (import.meta.main) console.log(await edgeTable());
