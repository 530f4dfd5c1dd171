/**
 * The browser runner's page (bundled by scripts/browser/run.ts): asks the
 * server what to run (`/api/config`), loads the fixtures it serves, runs each
 * implementation module with `runSuite`, shows progress, then shows the HTML
 * report and posts the reports to the server. Outside mod.ts's import graph.
 *
 * @module
 */

/// <reference lib="dom" />

import {
  type DType,
  type ExpectedFailure,
  type Implementation,
  loadAllFixtures,
  runSuite,
  type Selection,
  type SuiteReport,
} from "../../mod.ts";
import { type HtmlRun, recordDetails, renderHtmlReport } from "../reports/html_report.ts";
import { importImplementation } from "./implementation_module.ts";
import { toJson } from "./json.ts";

/** What the server asks the page to run. */
export interface PageConfig {
  /** Implementation modules, in order, with their expected failures and a label to use if they cannot load. */
  readonly runs: readonly { url: string; label: string; expectedFailures?: ExpectedFailure[] }[];
  /** The case selection, as `conform` takes it. */
  readonly select: {
    sources?: string[];
    features?: string[];
    excludeFeatures?: string[];
    dtypes?: string[];
    name?: string;
  };
  /** Report title. */
  readonly title: string;
}

/** What the page posts when done. */
export interface PageResult {
  /** One report per run (an unavailable run has no cases). */
  readonly reports: (SuiteReport & { unavailable?: string; environment?: string })[];
  /** The HTML report. */
  readonly html: string;
  /** The browser's user agent. */
  readonly userAgent: string;
}

const post = (path: string, body: unknown) =>
  fetch(path, { method: "POST", headers: { "content-type": "application/json" }, body: toJson(body) });

async function main() {
  const status = document.getElementById("status")!;
  const bar = document.getElementById("progress") as HTMLProgressElement;
  const cfg: PageConfig = await (await fetch("/api/config")).json();
  const select: Selection = {
    sources: cfg.select.sources,
    features: cfg.select.features,
    excludeFeatures: cfg.select.excludeFeatures,
    dtypes: cfg.select.dtypes as DType[] | undefined,
    name: cfg.select.name ? new RegExp(cfg.select.name) : undefined,
  };
  status.textContent = "loading fixtures…";
  const files = await loadAllFixtures(new URL("/fixtures/", location.href));
  const runs: HtmlRun[] = [];
  const reports: PageResult["reports"] = [];
  for (const [k, run] of cfg.runs.entries()) {
    status.textContent = `loading ${run.label}…`;
    let impl: Implementation;
    let environment: string | undefined;
    try {
      impl = await importImplementation(run.url, location.href);
      const m = await import(new URL(run.url, location.href).href);
      if (typeof m.environment === "string") environment = m.environment;
    } catch (e) {
      const message = (e as Error).message ?? String(e);
      const unavailable = `unavailable: ${message.replace(/^implementation module \S+ did not load: /, "")}`;
      const report = {
        implementation: run.label,
        cases: [],
        totals: { pass: 0, fail: 0, skip: 0, xfail: 0, xpass: 0 },
      };
      runs.push({ report, details: new Map(), unavailable });
      reports.push({ ...report, unavailable });
      await post("/api/progress", { run: k, label: run.label, unavailable });
      continue;
    }
    const recorder = recordDetails(impl, files);
    let last = 0;
    const report = await runSuite(files, recorder.impl, {
      select,
      expectedFailures: run.expectedFailures ?? [],
      onCase: (c, done, total) => {
        recorder.onCase(c);
        bar.max = total;
        bar.value = done;
        status.textContent = `${impl.name}: ${done}/${total} ${c.name}`;
        const now = performance.now();
        if (now - last > 250 || done === total) {
          last = now;
          post("/api/progress", { run: k, label: impl.name, done, total, name: c.name, status: c.status });
        }
      },
    });
    runs.push({ report, details: recorder.details, environment: environment ?? navigator.userAgent });
    reports.push({ ...report, environment: environment ?? navigator.userAgent });
  }
  const html = renderHtmlReport(runs, cfg.title);
  const result: PageResult = { reports, html, userAgent: navigator.userAgent };
  const r = await post("/api/result", result);
  if (!r.ok) throw new Error(`the server refused the result: ${r.status}`);
  status.textContent = "done";
  const frame = document.createElement("iframe");
  frame.srcdoc = html;
  frame.style.cssText = "width:100%;height:90vh;border:0";
  document.body.append(frame);
  (globalThis as { __done?: boolean }).__done = true;
}

main().catch((e) => {
  const message = e instanceof Error ? `${e.message}\n${e.stack ?? ""}` : String(e);
  document.getElementById("status")!.textContent = `error: ${message}`;
  post("/api/error", { message });
});
