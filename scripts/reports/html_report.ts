/**
 * An HTML report with pictures, for `deno task conform --html FILE` and the
 * browser runner: the conformance matrix as a picture (implementation × fixture
 * source, coloured by verdict, with the worst share of the budget), then per
 * source and case the verdict, the worst share of budget, a heat strip of the
 * per-element error over the tensor (as a share of the budget) and a histogram
 * of the error in ULPs. Self-contained (inline CSS and SVG, no script), and
 * deterministic for a given run. Runs in Deno and in a browser; outside mod.ts's
 * import graph.
 *
 * @module
 */

import {
  budget,
  type CaseAdapter,
  type CaseReport,
  channelIndex,
  diagnosisLines,
  type FixtureCase,
  type FixtureFile,
  formatInfo,
  type Implementation,
  OUTPUT_NAMES,
  peakMagnitude,
  roundToDType,
  type StepOutputs,
  type StepRequest,
  type SuiteReport,
  ulpError,
} from "../../mod.ts";

/** The per-element errors of one output of one step. */
export interface OutputDetail {
  /** Step index. */
  readonly step: number;
  /** Output name. */
  readonly output: string;
  /** The budget, in ULPs of the dtype at the tensor's peak. */
  readonly tolerance: number;
  /** Per element, the error in ULPs at the peak (the measure of the tolerance policy). */
  readonly ulps: readonly number[];
}

/** What a case's pictures are drawn from. */
export interface CaseDetail {
  /** Every tensor output judged. */
  readonly outputs: readonly OutputDetail[];
}

/** One implementation's run. */
export interface HtmlRun {
  /** The run's report. */
  readonly report: SuiteReport;
  /** Per-element details, by {@linkcode detailKey}. */
  readonly details: ReadonlyMap<string, CaseDetail>;
  /** A line about where it ran (browser, adapter, versions). */
  readonly environment?: string;
  /** Set when the implementation could not run at all ("unavailable: ..."). */
  readonly unavailable?: string;
}

/**
 * The key of a case's detail.
 *
 * @param file The case's fixture file as in a {@linkcode CaseReport}.
 * @param name The case's name.
 * @returns `file :: name`.
 */
export function detailKey(file: string, name: string): string {
  return `${file} :: ${name}`;
}

const GRADIENTS = ["dx", "dgamma", "dbeta"];

/**
 * Per-element errors of an implementation's answers to a case, measured as the
 * judge measures them (against the exact values at each channel's error scale,
 * or, in files without them, against the float64 twin in ULPs of the dtype at
 * the tensor's peak). Outputs the judge does not compare are left out.
 *
 * @param c The case.
 * @param answers The implementation's answers, one per step.
 * @param ignore Outputs not judged.
 * @returns The details.
 */
export function caseDetail(c: FixtureCase, answers: readonly StepOutputs[], ignore: readonly string[]): CaseDetail {
  const outputs: OutputDetail[] = [];
  const max = formatInfo(c.dtype).maxFinite;
  for (const [i, step] of c.steps.entries()) {
    const got = answers[i];
    if (!got || step.expectedError || got.error || !step.expected) continue;
    const n = step.inputs.x.data.length / Math.max(1, step.inputs.x.shape.at(c.convention.axis) ?? 1);
    for (const [name, want] of Object.entries(step.expected)) {
      if (typeof want !== "object" || ignore.includes(name)) continue;
      const have = got.outputs?.[name];
      if (!have || have.data.length !== want.data.length) continue;
      // Format 1.2: against the exact values, at each channel's error scale (as the judge measures).
      const exact = step.expectedExact?.[name], scale = step.exactScale?.[name];
      if (exact && scale) {
        const channelOf = channelIndex(c, step, name);
        const target = Array.from(exact.data, (e) => Math.abs(e) > max ? roundToDType(e, c.dtype) : e);
        outputs.push({
          step: i,
          output: name,
          tolerance: budget(c.dtype, name, n),
          ulps: target.map((e, k) => ulpError(have.data[k], e, c.dtype, scale[channelOf(k)])),
        });
        continue;
      }
      const twin = c.frameworkDefect ? undefined : step.expectedFloat64?.[name];
      const target = Array.from(
        (typeof twin === "object" ? twin : want).data,
        (e) => Math.abs(e) > max ? roundToDType(e, c.dtype) : e,
      );
      const floor = peakMagnitude(target);
      outputs.push({
        step: i,
        output: name,
        tolerance: budget(c.dtype, name, n),
        ulps: target.map((e, k) => ulpError(have.data[k], e, c.dtype, floor)),
      });
    }
  }
  return { outputs };
}

/**
 * Wraps an implementation so that its answers are kept and turned into
 * per-element details, case by case. Pass `onCase` to `runSuite`.
 *
 * @param impl The implementation.
 * @param files The fixture files the run uses.
 * @returns The wrapped implementation, its `onCase` hook and the details gathered.
 */
export function recordDetails(impl: Implementation, files: readonly FixtureFile[]): {
  impl: Implementation;
  onCase: (report: CaseReport) => void;
  details: Map<string, CaseDetail>;
} {
  const byKey = new Map<string, FixtureCase>();
  for (const f of files) {
    const file = f.url.split("/fixtures/").pop() ?? f.url;
    for (const c of f.cases) byKey.set(detailKey(file, c.name), c);
  }
  const caps = impl.supports ?? {};
  const ignore = OUTPUT_NAMES.filter((o) =>
    (caps.backward === false && GRADIENTS.includes(o)) || (caps.outputs !== undefined && !caps.outputs.includes(o)) ||
    (caps.statGradients !== true && (o === "dmean" || o === "dvar"))
  );
  let pending: StepOutputs[] = [];
  const details = new Map<string, CaseDetail>();
  const inner = impl.adapter;
  const adapter: Implementation["adapter"] = typeof inner === "function"
    ? async (request: StepRequest) => {
      const answer = await inner(request);
      pending.push(answer);
      return answer;
    }
    : {
      wholeCase: (async (requests, c) => {
        const answers = await inner.wholeCase(requests, c);
        pending = [...answers];
        return answers;
      }) as CaseAdapter,
    };
  const onCase = (report: CaseReport) => {
    const c = byKey.get(detailKey(report.file, report.name));
    if (c && pending.length) details.set(detailKey(report.file, report.name), caseDetail(c, pending, ignore));
    pending = [];
  };
  return { impl: { ...impl, adapter }, onCase, details };
}

const esc = (s: string) =>
  s.replace(/[<>&"']/g, (ch) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;", "'": "&#39;" })[ch]!);

const fmtShare = (v: number | undefined) =>
  v === undefined ? "–" : !Number.isFinite(v) ? "∞" : v >= 1e4 ? v.toExponential(1) : v.toPrecision(2);

/** Colour of an error share of the budget: green (0) through amber to red (1), dark red beyond. */
function shareColour(share: number): string {
  if (Number.isNaN(share)) return "#000";
  if (share > 1) return "#7f0000";
  const t = Math.max(0, Math.min(1, share));
  const hue = Math.round(120 * (1 - t));
  return `hsl(${hue} 75% ${Math.round(88 - 40 * t)}%)`;
}

const STATUS_COLOUR: Record<string, string> = {
  pass: "#2e7d32",
  fail: "#c62828",
  xpass: "#c62828",
  xfail: "#ef6c00",
  skip: "#9e9e9e",
};

/** Heat strip: per-element error as a share of the budget, binned (max per bin) to at most 96 cells. */
function heatStrip(d: OutputDetail): string {
  const n = d.ulps.length;
  const bins = Math.min(n, 96), w = 288, h = 14;
  const cells: string[] = [];
  for (let b = 0; b < bins; b++) {
    const from = Math.floor((b * n) / bins), to = Math.max(from + 1, Math.floor(((b + 1) * n) / bins));
    let worst = 0;
    for (let k = from; k < to; k++) worst = Math.max(worst, d.ulps[k] / d.tolerance);
    const x = (b * w) / bins, cw = w / bins;
    cells.push(
      `<rect x="${x.toFixed(1)}" y="0" width="${(cw + 0.05).toFixed(2)}" height="${h}" fill="${shareColour(worst)}"/>`,
    );
  }
  const title = `${d.output} (step ${d.step}): ${n} elements, error as a share of the budget ${d.tolerance} ULP`;
  return `<svg class="strip" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" role="img" aria-label="${
    esc(title)
  }"><title>${esc(title)}</title>${cells.join("")}</svg>`;
}

const HIST_EDGES = [0, 0.5, 1, 2, 4, 8, 16, 32, 64];
const HIST_LABELS = ["0", "≤½", "≤1", "≤2", "≤4", "≤8", "≤16", "≤32", "≤64", ">64"];

/** Histogram of the per-element error in ULPs over every output of a case. */
function histogram(outputs: readonly OutputDetail[], tolerance: number): string {
  const counts = new Array(HIST_LABELS.length).fill(0);
  for (const d of outputs) {
    for (const e of d.ulps) {
      const k = e === 0 ? 0 : HIST_EDGES.findIndex((edge, i) => i > 0 && e <= edge);
      counts[k < 0 ? HIST_LABELS.length - 1 : k]++;
    }
  }
  const w = 200, h = 40, bw = w / counts.length, top = Math.max(1, ...counts);
  const bars = counts.map((c, i) => {
    const bh = c ? Math.max(1.5, (Math.log1p(c) / Math.log1p(top)) * (h - 12)) : 0;
    const over = i > 0 && HIST_EDGES[i - 1] >= tolerance;
    return `<rect x="${(i * bw + 1).toFixed(1)}" y="${(h - 10 - bh).toFixed(1)}" width="${(bw - 2).toFixed(1)}" ` +
      `height="${bh.toFixed(1)}" fill="${over ? "#c62828" : "#1565c0"}"><title>${
        HIST_LABELS[i]
      } ULP: ${c}</title></rect>` +
      `<text x="${(i * bw + bw / 2).toFixed(1)}" y="${h - 1}" font-size="7" text-anchor="middle">${
        HIST_LABELS[i]
      }</text>`;
  });
  return `<svg class="hist" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" role="img" ` +
    `aria-label="histogram of error in ULP">${bars.join("")}</svg>`;
}

function cellSummary(cs: readonly CaseReport[]): { text: string; colour: string; worst: number } {
  const n = (s: string) => cs.filter((c) => c.status === s).length;
  const worst = Math.max(
    0,
    ...cs.filter((c) => c.status === "pass" || c.status === "fail").map((c) => c.worstShare ?? 0),
  );
  if (!cs.length) return { text: "no cases", colour: "#eeeeee", worst: 0 };
  if (n("skip") === cs.length) return { text: "skipped", colour: "#e0e0e0", worst };
  const bad = n("fail") + n("xpass");
  const colour = bad ? "#ef9a9a" : n("xfail") ? "#ffcc80" : "#a5d6a7";
  return { text: `${n("pass")}/${cs.length - n("skip")} pass${bad ? `, ${bad} fail` : ""}`, colour, worst };
}

/**
 * The conformance matrix as an SVG picture: one row per run, one column per source.
 *
 * @param runs The runs.
 * @returns SVG markup.
 */
export function matrixSvg(runs: readonly HtmlRun[]): string {
  const sources = [...new Set(runs.flatMap((r) => r.report.cases.map((c) => c.source)))];
  const labelW = 330, cw = 150, ch = 40, headH = 28;
  const w = labelW + cw * Math.max(1, sources.length), h = headH + ch * runs.length;
  const parts = [
    `<svg class="matrix" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" role="img" aria-label="conformance matrix">`,
    ...sources.map((s, j) =>
      `<text x="${labelW + j * cw + cw / 2}" y="18" font-size="12" font-weight="bold" text-anchor="middle">${
        esc(s)
      }</text>`
    ),
  ];
  runs.forEach((run, i) => {
    const y = headH + i * ch;
    const label = run.report.implementation.length > 52
      ? run.report.implementation.slice(0, 51) + "…"
      : run.report.implementation;
    parts.push(`<text x="4" y="${y + ch / 2 + 4}" font-size="11">${esc(label)}</text>`);
    if (run.unavailable) {
      parts.push(
        `<rect x="${labelW}" y="${y + 2}" width="${cw * sources.length - 2}" height="${
          ch - 4
        }" fill="#f5f5f5" stroke="#bdbdbd"/>`,
        `<text x="${labelW + 8}" y="${y + ch / 2 + 4}" font-size="11">${
          esc(run.unavailable.length > 110 ? run.unavailable.slice(0, 109) + "…" : run.unavailable)
        }</text>`,
      );
      return;
    }
    sources.forEach((s, j) => {
      const { text, colour, worst } = cellSummary(run.report.cases.filter((c) => c.source === s));
      const x = labelW + j * cw;
      parts.push(
        `<rect x="${x}" y="${y + 2}" width="${cw - 2}" height="${ch - 4}" rx="3" fill="${colour}"/>`,
        `<text x="${x + cw / 2}" y="${y + 17}" font-size="11" text-anchor="middle">${esc(text)}</text>`,
        text === "skipped" || text === "no cases"
          ? ""
          : `<text x="${x + cw / 2}" y="${y + 31}" font-size="10" text-anchor="middle">worst ${fmtShare(worst)}</text>`,
      );
    });
  });
  parts.push("</svg>");
  return parts.join("");
}

function runSection(run: HtmlRun, index: number): string {
  const t = run.report.totals;
  const head = `<h2 id="run-${index}">${esc(run.report.implementation)}</h2>` +
    (run.environment ? `<p class="env">${esc(run.environment)}</p>` : "") +
    (run.unavailable
      ? `<p class="unavailable">${esc(run.unavailable)}</p>`
      : `<p class="totals">${t.pass} passed, ${
        t.fail + t.xpass
      } failed, ${t.skip} skipped, ${t.xfail} expected failures</p>`);
  const bySource = Map.groupBy(run.report.cases, (c) => c.source);
  const sections = [...bySource].map(([source, cs]) => {
    const rows = cs.map((c) => {
      const d = run.details.get(detailKey(c.file, c.name));
      let worstOut: OutputDetail | undefined;
      for (const o of d?.outputs ?? []) {
        const share = Math.max(0, ...o.ulps.map((e) => e / o.tolerance));
        const best = worstOut ? Math.max(0, ...worstOut.ulps.map((e) => e / worstOut!.tolerance)) : -1;
        if (share > best) worstOut = o;
      }
      const bar = c.worstShare === undefined
        ? ""
        : `<span class="bar" style="width:${
          Math.min(60, 60 * Math.min(1, Number.isFinite(c.worstShare) ? c.worstShare : 1)).toFixed(1)
        }px;background:${shareColour(c.worstShare)}"></span>`;
      const pictures = worstOut
        ? `<td>${heatStrip(worstOut)}<div class="cap">${
          esc(worstOut.output)
        }, step ${worstOut.step}, ${worstOut.ulps.length} el.</div></td>` +
          `<td>${histogram(d!.outputs, worstOut.tolerance)}</td>`
        : `<td colspan="2" class="cap">no tensor judged</td>`;
      return `<tr class="case ${c.status}"><td class="name">${esc(c.name)}${
        c.reason ? `<div class="reason">${esc(c.reason)}</div>` : ""
      }${diagnosisLines(c).map((l) => `<div class="diagnosis">${esc(l)}</div>`).join("")}${
        c.faithfulTo ? `<div class="diagnosis">passed only as faithful to ${esc(c.faithfulTo)}, not to exact</div>` : ""
      }</td><td>${c.dtype}</td><td><span class="badge" style="background:${
        STATUS_COLOUR[c.status]
      }">${c.status}</span></td>` +
        `<td class="num">${fmtShare(c.worstShare)} ${bar}</td>${pictures}</tr>`;
    });
    return `<details open><summary>${esc(source)}: ${cs.length} cases</summary><table><thead><tr><th>case</th>` +
      `<th>dtype</th><th>verdict</th><th>worst share</th><th>error over the tensor (worst output)</th>` +
      `<th>error in ULP (all outputs)</th></tr></thead><tbody>${rows.join("")}</tbody></table></details>`;
  });
  return `<section>${head}${sections.join("")}</section>`;
}

/**
 * The whole report.
 *
 * @param runs One or more runs.
 * @param title The page title.
 * @returns An HTML document.
 */
export function renderHtmlReport(runs: readonly HtmlRun[], title = "BatchNorm conformance report"): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>
body{font:13px system-ui,sans-serif;margin:16px;color:#212121}
h1{font-size:20px}h2{font-size:16px;margin-top:28px}
table{border-collapse:collapse;margin:6px 0 12px}td,th{border-bottom:1px solid #e0e0e0;padding:3px 6px;text-align:left;vertical-align:middle}
td.name{max-width:460px;font-family:ui-monospace,monospace;font-size:11px}.reason{color:#b71c1c;font-size:11px}.diagnosis{color:#0d47a1;font-size:11px}
.badge{color:#fff;border-radius:3px;padding:1px 5px;font-size:11px}.num{white-space:nowrap;font-family:ui-monospace,monospace}
.bar{display:inline-block;height:8px;vertical-align:middle}.cap{font-size:10px;color:#616161}
.unavailable{color:#b71c1c;font-weight:bold}.env{color:#616161}
.legend span{display:inline-block;width:14px;height:10px;margin:0 3px 0 10px;vertical-align:middle}
summary{font-weight:bold;cursor:pointer;margin-top:8px}
</style></head><body>
<h1>${esc(title)}</h1>
<p>Worst error of each case as a share of its budget (1 = at the limit; the budgets are the suite's tolerance policy, see src/conformance/tolerance.ts). Heat strip: per-element error over the tensor, as a share of the budget (max per cell).
<span class="legend"><span style="background:${shareColour(0)}"></span>0<span style="background:${
    shareColour(0.5)
  }"></span>0.5<span style="background:${shareColour(1)}"></span>1<span style="background:${
    shareColour(2)
  }"></span>&gt;1</span></p>
<h2>Conformance matrix</h2>
${matrixSvg(runs)}
${runs.map(runSection).join("\n")}
</body></html>
`;
}
