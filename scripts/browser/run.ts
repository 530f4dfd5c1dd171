/**
 * `deno task browser`: judges an implementation inside a browser.
 *
 * Builds the page (scripts/browser/page.ts, which imports mod.ts) and every
 * local implementation module with `deno bundle`, serves them with the fixtures
 * on 127.0.0.1, and opens the page in headless Chromium (DevTools protocol). The
 * page runs the fixtures with `runSuite` and posts the reports; this prints the
 * same summary as `deno task conform` and exits with conform's codes ({@linkcode EXIT}:
 * 1 a case failed, 2 usage, 3 the implementation or the browser could not start,
 * 5 nothing checked, 130 interrupted) or 6 when the browser run broke (a page
 * error, the timeout).
 *
 * Implementations: `--module PATH|URL` (exports `adapter`, `supports`, `name`;
 * docs/browser.md), or `--peer NAME`: reference, webgpu-example,
 * onnxruntime-web, webnn. `--matrix` runs all four peers and never gates (exit 0
 * once the report is written). Selection as in conform: --source, --feature,
 * --exclude-feature, --dtype, --name; --xfail FILE. Reports: --json, --junit
 * (one implementation), --html FILE, --screenshot FILE (PNG of the HTML report),
 * --markdown FILE (the runs as rows of the conformance matrix, docs/matrix.md's format; given docs/matrix.md, the
 * table of its "In a browser" section is replaced).
 * `--serve` prints the page's URL for a browser of your own instead of starting
 * one. `--timeout SECONDS` bounds the whole run (default 600); the server,
 * the browser and every temporary file end with the run, on error and on Ctrl-C too.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { type ExpectedFailure, formatSummary, type SuiteReport, toJSON, toJUnit } from "../../mod.ts";
import { REFERENCE_XFAIL } from "../cli/reference_xfail.ts";
import { BROWSER_FLAGS, Chromium, chromiumVersion, findChromium } from "./chromium.ts";
import type { PageConfig, PageResult } from "./page.ts";
import { reviveNumbers } from "./json.ts";
import { BROWSER_HEADING, browserRow, matrixMarkdown } from "./matrix_markdown.ts";
import { replaceMatrixTable } from "../reports/_matrix_table.ts";

const root = new URL("../../", import.meta.url);
const rootPath = decodeURIComponent(root.pathname);

/** Built-in peers: module path (repository-relative) and expected failures. */
const PEERS: Record<string, { path: string; label: string; xfail?: readonly ExpectedFailure[] }> = {
  reference: {
    path: "scripts/browser/peers/reference.ts",
    label: "reference (this suite), in the browser",
    xfail: REFERENCE_XFAIL,
  },
  "webgpu-example": { path: "examples/webgpu/batch_norm_webgpu.ts", label: "WebGPU example kernel" },
  "onnxruntime-web": { path: "scripts/browser/peers/onnxruntime_web.ts", label: "onnxruntime-web WebGPU EP" },
  webnn: { path: "scripts/browser/peers/webnn.ts", label: "WebNN batchNormalization" },
};

/** Exit codes, as `deno task conform` uses them (its --help), plus 6 for a browser run that broke. */
export const EXIT = {
  /** Every case checked passed. */
  ok: 0,
  /** A case failed, or an expected failure passed. */
  failed: 1,
  /** A usage error: unknown flag or peer, a bad value, a module file that does not exist. */
  usage: 2,
  /** The implementation could not be started: its module threw or exports no adapter; or no Chromium. */
  noStart: 3,
  /** Nothing was checked: every selected case was skipped. */
  nothingChecked: 5,
  /** The browser run broke: a page error, the --timeout, a failed build. */
  broke: 6,
  /** Interrupted (SIGINT, SIGTERM); the browser and the server were stopped. */
  interrupted: 130,
} as const;

/** A deliberate end of the run, with its exit code. */
class RunError extends Error {
  constructor(message: string, readonly code: number = EXIT.usage) {
    super(message);
  }
}

/** The options, or a one-line error and exit 2 (no stack trace). */
function options() {
  try {
    return parseArgs({
      args: Deno.args,
      options: {
        module: { type: "string", multiple: true },
        peer: { type: "string", multiple: true },
        matrix: { type: "boolean" },
        source: { type: "string", multiple: true },
        feature: { type: "string", multiple: true },
        "exclude-feature": { type: "string", multiple: true },
        dtype: { type: "string", multiple: true },
        name: { type: "string" },
        xfail: { type: "string" },
        json: { type: "string" },
        junit: { type: "string" },
        html: { type: "string" },
        screenshot: { type: "string" },
        markdown: { type: "string" },
        serve: { type: "boolean" },
        timeout: { type: "string" },
        quiet: { type: "boolean" },
      },
    });
  } catch (e) {
    console.error(`error: ${(e as Error).message}`);
    Deno.exit(2);
  }
}
const { values } = options();
const list = (v?: string[]) => v?.flatMap((s) => s.split(",")).map((s) => s.trim()).filter(Boolean);
const deadlineMs = (values.timeout ? Number(values.timeout) : 600) * 1000;
if (!(deadlineMs > 0)) {
  console.error(`error: --timeout must be a positive number of seconds, got ${values.timeout}`);
  Deno.exit(2);
}

const cleanups: (() => Promise<void> | void)[] = [];
let cleaning: Promise<void> | undefined;
/** Runs every cleanup once, in reverse order; every caller waits for the same run to finish. */
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    // Last registered, first cleaned; what the run registers meanwhile is cleaned too.
    for (let f = cleanups.pop(); f; f = cleanups.pop()) {
      try {
        await f();
      } catch (e) {
        console.error(`cleanup: ${(e as Error).message}`);
      }
    }
  })();
  return cleaning;
}
let interrupted: string | undefined;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, async () => {
    if (interrupted) return;
    interrupted = signal;
    console.error(`\n${signal}: stopping the browser and the server`);
    await cleanup();
    Deno.exit(130);
  });
}

const progressLine = (s: string) => {
  if (values.quiet) return;
  if (Deno.stderr.isTerminal()) Deno.stderr.writeSync(new TextEncoder().encode(`\r\x1b[K${s.slice(0, 150)}`));
  else console.error(s);
};

/** Bundles an entry point for the browser. */
async function bundle(entry: string, out: string): Promise<void> {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["bundle", "--quiet", "--platform", "browser", "--format", "esm", "-o", out, entry],
    cwd: rootPath,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!r.success) throw new RunError(`deno bundle ${entry} failed: ${new TextDecoder().decode(r.stderr)}`, EXIT.broke);
}

const TYPES: Record<string, string> = {
  ".js": "text/javascript",
  ".mjs": "text/javascript",
  ".json": "application/json",
  ".wasm": "application/wasm",
  ".html": "text/html; charset=utf-8",
  ".md": "text/plain; charset=utf-8",
};

async function serveFile(dir: string, rel: string): Promise<Response> {
  const clean = decodeURIComponent(rel);
  if (clean.split("/").some((p) => p === ".." || p.startsWith("."))) return new Response("bad path", { status: 400 });
  try {
    const body = await Deno.readFile(`${dir}/${clean}`);
    const ext = clean.slice(clean.lastIndexOf("."));
    return new Response(body, { headers: { "content-type": TYPES[ext] ?? "application/octet-stream" } });
  } catch {
    return new Response("not found", { status: 404 });
  }
}

const PAGE = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>BatchNorm conformance (browser)</title>
<script>addEventListener("error", (e) => fetch("/api/error", { method: "POST", body: JSON.stringify({ message:
  (e.message || "error") + " at " + (e.filename || "?") + ":" + (e.lineno || 0) }) }));
addEventListener("unhandledrejection", (e) => fetch("/api/error", { method: "POST", body: JSON.stringify({ message:
  "unhandled rejection: " + ((e.reason && e.reason.stack) || e.reason) }) }));</script>
<script type="module" src="/app.js"></script></head>
<body style="font:13px system-ui,sans-serif"><h1 style="font-size:18px">BatchNorm conformance, in the browser</h1>
<progress id="progress" value="0" max="1" style="width:400px"></progress> <span id="status">starting…</span></body></html>`;

async function main(): Promise<number> {
  const started = performance.now();
  // What to run.
  const peers = values.matrix ? Object.keys(PEERS) : list(values.peer) ?? [];
  const modules = list(values.module) ?? [];
  if (!peers.length && !modules.length) peers.push("reference");
  for (const p of peers) {
    if (!PEERS[p]) throw new RunError(`unknown peer "${p}"; known: ${Object.keys(PEERS).join(", ")}`);
  }
  let xfail: ExpectedFailure[] | undefined;
  if (values.xfail) {
    try {
      xfail = JSON.parse(await Deno.readTextFile(values.xfail));
    } catch (e) {
      throw new RunError(`--xfail ${values.xfail}: ${(e as Error).message}`);
    }
    if (!Array.isArray(xfail) || !xfail.every((x) => typeof x?.case === "string" && typeof x?.reason === "string")) {
      throw new RunError(`--xfail ${values.xfail}: expected a JSON list of {"case": ..., "reason": ...}`);
    }
  }
  if (values.name) {
    try {
      new RegExp(values.name);
    } catch (e) {
      throw new RunError(`--name: ${(e as Error).message}`);
    }
  }
  const entries = [
    ...peers.map((p) => ({ spec: PEERS[p].path, label: PEERS[p].label, xfail: xfail ?? PEERS[p].xfail ?? [] })),
    ...modules.map((m) => ({ spec: m, label: m, xfail: xfail ?? [] })),
  ];
  if (values.junit && entries.length !== 1) throw new RunError("--junit takes exactly one implementation");
  if (peers.includes("onnxruntime-web")) await ensureOnnxruntimeWeb();

  // Build.
  const dir = await Deno.makeTempDir({ prefix: "batchnorm-browser-" });
  cleanups.push(() => Deno.remove(dir, { recursive: true }));
  progressLine("building the page and the implementation modules (deno bundle)…");
  await bundle("scripts/browser/page.ts", `${dir}/app.js`);
  const runs: PageConfig["runs"][number][] = [];
  for (const [k, e] of entries.entries()) {
    if (/^https?:\/\//.test(e.spec)) {
      runs.push({ url: e.spec, label: e.label, expectedFailures: [...e.xfail] });
      continue;
    }
    const path = e.spec.startsWith("file://") ? new URL(e.spec).pathname : e.spec;
    try {
      await Deno.stat(path.startsWith("/") ? path : `${Deno.cwd()}/${path}`);
    } catch {
      throw new RunError(`implementation module ${e.spec} not found`);
    }
    await bundle(path.startsWith("/") ? path : `${Deno.cwd()}/${path}`, `${dir}/impl-${k}.js`);
    runs.push({ url: `/impl/impl-${k}.js`, label: e.label, expectedFailures: [...e.xfail] });
  }
  const config: PageConfig = {
    runs,
    select: {
      sources: list(values.source),
      features: list(values.feature),
      excludeFeatures: list(values["exclude-feature"]),
      dtypes: list(values.dtype),
      name: values.name,
    },
    title: "BatchNorm conformance report (browser)",
  };

  // Serve.
  let settle!: { resolve: (r: PageResult) => void; reject: (e: Error) => void };
  const outcome = new Promise<PageResult>((resolve, reject) => (settle = { resolve, reject }));
  let lastProgress = "no progress yet";
  let reportHtml = "";
  const abort = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: abort.signal, onListen: () => {} },
    async (req) => {
      const path = new URL(req.url).pathname;
      if (req.method === "POST") {
        const body = await req.text().then((t) => JSON.parse(t, reviveNumbers)).catch(() => ({}));
        if (path === "/api/progress") {
          lastProgress = body.unavailable
            ? `${body.label}: ${body.unavailable}`
            : `[${body.run + 1}/${runs.length}] ${body.label}: ${body.done}/${body.total} ${body.name}`;
          progressLine(lastProgress);
        } else if (path === "/api/result") {
          reportHtml = body.html;
          settle.resolve(body);
        } else if (path === "/api/error") settle.reject(new RunError(`the page failed: ${body.message}`, EXIT.broke));
        else return new Response("not found", { status: 404 });
        return new Response("ok");
      }
      if (path === "/") return new Response(PAGE, { headers: { "content-type": TYPES[".html"] } });
      if (path === "/api/config") return Response.json(config);
      if (path === "/app.js") return serveFile(dir, "app.js");
      if (path === "/report.html") return new Response(reportHtml, { headers: { "content-type": TYPES[".html"] } });
      if (path.startsWith("/impl/")) return serveFile(dir, path.slice(6));
      if (path.startsWith("/fixtures/")) return serveFile(`${rootPath}fixtures`, path.slice(10));
      if (path.startsWith("/ort/")) return serveFile(`${rootPath}node_modules/onnxruntime-web/dist`, path.slice(5));
      return new Response("not found", { status: 404 });
    },
  );
  cleanups.push(async () => {
    abort.abort();
    await server.finished;
  });
  const url = `http://127.0.0.1:${server.addr.port}/`;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new RunError(`timed out after ${deadlineMs / 1000} s (last: ${lastProgress})`, EXIT.broke)),
      deadlineMs,
    );
  });
  cleanups.push(() => clearTimeout(timer));

  let result: PageResult;
  let browserVersion = "your browser";
  if (values.serve) {
    console.error(`open ${url} in a browser with WebGPU; serving until the run ends or ${deadlineMs / 1000} s pass`);
    result = await Promise.race([outcome, deadline]);
  } else {
    const found = findChromium();
    if ("missing" in found) throw new RunError(found.missing, EXIT.noStart);
    browserVersion = await chromiumVersion(found.path);
    progressLine(`starting ${browserVersion}…`);
    if (interrupted) throw new RunError(`${interrupted} before the browser started`, EXIT.interrupted);
    // Registered before it is awaited: a signal or the deadline during the launch still ends the browser.
    const launching = Chromium.launch({ path: found.path, flags: BROWSER_FLAGS });
    cleanups.push(async () => (await launching.catch(() => undefined))?.close());
    const browser = await Promise.race([launching, deadline]);
    const page = await browser.newPage();
    page.on("Runtime.exceptionThrown", (p) => {
      const d = p.exceptionDetails as { exception?: { description?: string }; text?: string };
      settle.reject(new RunError(`the page threw: ${d.exception?.description ?? d.text}`, EXIT.broke));
    });
    await Promise.race([page.goto(url), deadline]);
    result = await Promise.race([outcome, deadline]);
    if (values.screenshot) {
      await page.goto(`${url}report.html`);
      await writeAtomic(values.screenshot, await page.screenshot(1280, 1600));
    }
  }
  if (!values.quiet && Deno.stderr.isTerminal()) Deno.stderr.writeSync(new TextEncoder().encode("\r\x1b[K"));

  // Report.
  let code: number = EXIT.ok;
  const worse = (c: number) => (code = Math.max(code, c));
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(`${browserVersion}; ${result.userAgent}`);
  for (const r of result.reports) {
    console.log("");
    if (r.unavailable) {
      console.log(`${r.implementation}: ${r.unavailable}`);
      worse(EXIT.noStart);
      continue;
    }
    if (r.environment && r.environment !== result.userAgent) {
      console.log(`(${r.environment.replace(`${result.userAgent}; `, "")})`);
    }
    console.log(formatSummary(r));
    const t = r.totals;
    if (t.fail + t.xpass > 0) worse(EXIT.failed);
    else if (t.pass + t.xfail === 0) {
      console.log(`${r.implementation}: nothing was checked: all ${r.cases.length} selected cases were skipped.`);
      worse(EXIT.nothingChecked);
    }
  }
  console.error(`\nbrowser run: ${seconds} s`);
  const single = result.reports.length === 1 ? result.reports[0] : undefined;
  if (values.json) {
    await writeAtomic(
      values.json,
      single ? toJSON(single) : `[\n${result.reports.map((r) => toJSON(r)).join(",\n")}]\n`,
    );
  }
  if (values.junit && single) await writeAtomic(values.junit, toJUnit(single as SuiteReport));
  if (values.html) await writeAtomic(values.html, result.html);
  if (values.markdown) {
    const where = `${browserVersion}`;
    const rows = result.reports.map((r) => ({
      label: `${r.implementation}, ${where}`,
      report: r,
      unavailable: r.unavailable,
    }));
    // Into a page with the browser section (docs/matrix.md): that section's table; else the table alone.
    const page = await Deno.readTextFile(values.markdown).catch(() => undefined);
    await writeAtomic(
      values.markdown,
      page?.split("\n").includes(BROWSER_HEADING)
        ? replaceMatrixTable(page, rows.map(browserRow), BROWSER_HEADING)
        : matrixMarkdown(rows) + "\n",
    );
  }
  // 1 (a failure) outranks 3 and 5 in a single run: the run judged something and it was wrong.
  if (code !== EXIT.ok && result.reports.some((r) => r.totals.fail + r.totals.xpass > 0)) code = EXIT.failed;
  return values.matrix ? EXIT.ok : code;
}

/** onnxruntime-web's files are served from node_modules; install them from deno.json and the lock when absent. */
async function ensureOnnxruntimeWeb() {
  try {
    await Deno.stat(`${rootPath}node_modules/onnxruntime-web/dist/ort.webgpu.min.mjs`);
  } catch {
    progressLine("installing onnxruntime-web (deno install, as pinned in deno.json and deno.lock)…");
    const r = await new Deno.Command(Deno.execPath(), {
      args: ["install", "--frozen"],
      cwd: rootPath,
      stdout: "null",
      stderr: "piped",
    })
      .output();
    if (!r.success) throw new RunError(`deno install failed: ${new TextDecoder().decode(r.stderr)}`, EXIT.broke);
  }
}

/** Writes beside the target and renames into place: nothing half-written is left. */
async function writeAtomic(path: string, data: string | Uint8Array) {
  const tmp = `${path}.partial`;
  if (typeof data === "string") await Deno.writeTextFile(tmp, data);
  else await Deno.writeFile(tmp, data);
  await Deno.rename(tmp, path);
}

let code: number;
try {
  code = await main();
} catch (e) {
  // After a signal, what fails is the run being torn down: not an error of its own.
  if (!interrupted) console.error(`\nerror: ${e instanceof RunError ? e.message : (e as Error).stack ?? e}`);
  code = e instanceof RunError ? e.code : EXIT.broke;
}
await cleanup();
Deno.exit(interrupted ? EXIT.interrupted : code);
