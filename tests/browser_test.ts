/**
 * The browser runner (`deno task browser`) in headless Chromium, the example
 * WebGPU kernel there (SwiftShader) and under Deno's own WebGPU (`deno task
 * conform --module`), onnxruntime-web's WebGPU provider, the WebNN probe, and the
 * HTML report opened in the browser. Where Chromium or a WebGPU adapter is
 * missing the tests are reported as ignored, with the reason in their names.
 */
import { assert, assertEquals, assertMatch } from "@std/assert";
import { BROWSER_FLAGS, Chromium, findChromium, processesWith } from "../scripts/browser/chromium.ts";
import { loadAllFixtures, referenceAdapter, runSuite, type StepOutputs, type SuiteReport } from "../mod.ts";
import { detailKey, recordDetails, renderHtmlReport } from "../scripts/reports/html_report.ts";
import { runDeno } from "./_deno.ts";
import { parseMatrixTable } from "../scripts/reports/_matrix_table.ts";
import { BROWSER_HEADING } from "../scripts/browser/matrix_markdown.ts";

const root = new URL("../", import.meta.url);
const chromium = findChromium();
const noBrowser = "missing" in chromium ? `skipped: ${chromium.missing}` : undefined;
// Deno's adapter is probed in a process of its own: this test process then holds no WebGPU state, whose teardown at
// exit once ended a CI-like run with SIGSEGV after every test had passed (exit 139). The probe's own exit status is not
// read, only what it printed.
const gpuProbe = await runDeno([
  "eval",
  "const a = await navigator.gpu?.requestAdapter().catch(() => null); console.log(a ? 'adapter' : 'none')",
]);
const gpuAdapter = gpuProbe.stdout.trim().split("\n").at(-1) === "adapter";
const noDenoGpu = gpuAdapter ? undefined : "skipped: Deno's navigator.gpu has no adapter (install mesa-vulkan-drivers)";
if (noBrowser) console.warn(`browser tests ${noBrowser}`);
if (noDenoGpu) console.warn(`Deno WebGPU test ${noDenoGpu}`);

const browserTest = (name: string, fn: () => Promise<void>) =>
  Deno.test({ name: noBrowser ? `${name} (${noBrowser})` : name, ignore: noBrowser !== undefined, fn });

/** The runner's temporary directories (build, browser profile) present in /tmp. */
const tempDirs = () =>
  [...Deno.readDirSync("/tmp")].map((e) => e.name).filter((n) => /^batchnorm-(browser|chromium)-/.test(n));

/** `deno task <task> <args>`; also checks that no browser process of ours and no temporary directory is left. */
async function task(name: string, args: string[]) {
  const before = new Set(tempDirs());
  // Only processes that were not there before count: other runs on the machine may have browsers of their own.
  const running = new Set(await processesWith("batchnorm-chromium-"));
  const r = await runDeno(["task", "-q", name, ...args], { cwd: root });
  assertEquals(
    (await processesWith("batchnorm-chromium-")).filter((pid) => !running.has(pid)),
    [],
    `a browser process outlived deno task ${name}`,
  );
  assertEquals(tempDirs().filter((d) => !before.has(d)), [], `deno task ${name} left temporary directories`);
  return r;
}

const summaryRows = (text: string) =>
  text.split("\n").filter((l) => /^(source|pytorch|tensorflow-composed|tfjs|onnxruntime|onnx-testdata) /.test(l));

browserTest("the browser runner prints conform's summary for the reference and exits 0", async () => {
  const browser = await task("browser", ["--source", "onnx-testdata"]);
  assertEquals(browser.code, 0, browser.stderr);
  const conform = await task("conform", ["--source", "onnx-testdata"]);
  assertEquals(conform.code, 0, conform.stderr);
  assertEquals(summaryRows(browser.stdout), summaryRows(conform.stdout));
  assertMatch(browser.stdout, /\n4 passed, 0 failed, 0 skipped\n/);
  assertMatch(browser.stdout, /^Chromium \d+/);
});

browserTest("a wrong implementation module fails in the browser with exit 1", async () => {
  const r = await task("browser", ["--module", "tests/testdata/browser/wrong_impl.ts", "--source", "onnx-testdata"]);
  assertEquals(r.code, 1, r.stdout + r.stderr);
  assertMatch(r.stdout, /wrong on purpose \(y = x\)/);
  assertMatch(r.stdout, /\n0 passed, 2 failed, 2 skipped\n/);
});

browserTest(
  "a module that cannot start exits 3 with its message; a hang ends at --timeout with exit 6; nothing checked exits 5",
  async () => {
    const r = await task("browser", ["--module", "tests/testdata/browser/throws_impl.ts", "--source", "onnx-testdata"]);
    assertEquals(r.code, 3, r.stdout + r.stderr);
    assertMatch(r.stdout, /unavailable: no accelerator here \(on purpose\)/);
    const hang = await task("browser", [
      "--module",
      "tests/testdata/browser/hangs_impl.ts",
      "--source",
      "onnx-testdata",
      "--timeout",
      "8",
    ]);
    assertEquals(hang.code, 6, hang.stdout + hang.stderr);
    assertMatch(hang.stderr, /timed out after 8 s/);
    const skipped = await task("browser", [
      "--module",
      "tests/testdata/browser/wrong_impl.ts",
      "--source",
      "onnx-testdata",
      "--name",
      "training_mode",
    ]);
    assertEquals(skipped.code, 5, skipped.stdout + skipped.stderr);
    assertMatch(skipped.stdout, /nothing was checked: all 2 selected cases were skipped/);
    const missing = await task("browser", ["--module", "tests/testdata/browser/nope.ts"]);
    assertEquals(missing.code, 2);
    assertMatch(missing.stderr, /implementation module tests\/testdata\/browser\/nope\.ts not found/);
  },
);

browserTest("Ctrl-C (SIGINT) mid-run ends the browser and the server: exit 130, no process left", async () => {
  // At once (the browser still starting: not yet connected) and after a second (the page loaded, the adapter hanging).
  for (const delay of [0, 1000]) {
    const before = new Set(tempDirs());
    const others = new Set(await processesWith("batchnorm-chromium-")); // browsers of other runs on the machine
    const ours = async () => (await processesWith("batchnorm-chromium-")).filter((pid) => !others.has(pid));
    const browserTask = JSON.parse(await Deno.readTextFile(new URL("deno.json", root))).tasks.browser as string;
    const args = [
      ...browserTask.split(" ").slice(1),
      "--module",
      "tests/testdata/browser/hangs_impl.ts",
      "--timeout",
      "60",
    ];
    const child = new Deno.Command("deno", { args, cwd: root, stdout: "null", stderr: "piped" }).spawn();
    const stderr = new Response(child.stderr).text();
    let started = false;
    for (let i = 0; i < 300 && !started; i++) {
      await new Promise((r) => setTimeout(r, 100));
      started = (await ours()).length > 0;
    }
    assert(started, "the browser never started");
    await new Promise((r) => setTimeout(r, delay));
    child.kill("SIGINT");
    const status = await child.status;
    assertEquals(status.code, 130, await stderr);
    assertMatch(await stderr, /SIGINT: stopping the browser and the server/);
    assertEquals(await ours(), []);
    assertEquals(tempDirs().filter((d) => !before.has(d)), [], "temporary directories left after SIGINT");
  }
});

browserTest("--serve: a browser of one's own runs the page; the server ends with the run", async () => {
  const browserTask = JSON.parse(await Deno.readTextFile(new URL("deno.json", root))).tasks.browser as string;
  const args = [...browserTask.split(" ").slice(1), "--serve", "--source", "onnx-testdata", "--timeout", "60"];
  const child = new Deno.Command("deno", { args, cwd: root, stdout: "piped", stderr: "piped" }).spawn();
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let err = "";
  let url: string | undefined;
  while (!url) {
    const { value, done } = await reader.read();
    if (done) break;
    err += value;
    url = err.match(/open (http:\/\/127\.0\.0\.1:\d+\/)/)?.[1];
  }
  assert(url, err);
  const rest = (async () => {
    while (!(await reader.read()).done) { /* drain */ }
  })();
  const browser = await Chromium.launch({ path: (chromium as { path: string }).path, flags: BROWSER_FLAGS });
  try {
    const page = await browser.newPage();
    await page.goto(url!);
    const [status, out] = await Promise.all([child.status, new Response(child.stdout).text()]);
    await rest;
    assertEquals(status.code, 0, out);
    assertMatch(out, /\n4 passed, 0 failed, 0 skipped\n/);
  } finally {
    await browser.close();
  }
});

browserTest(
  "matrix: WebGPU example kernel (SwiftShader), onnxruntime-web WebGPU, WebNN probe; HTML report",
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "batchnorm-browser-test-" });
    try {
      const r = await task("browser", [
        "--matrix",
        "--json",
        `${dir}/m.json`,
        "--html",
        `${dir}/m.html`,
        "--markdown",
        `${dir}/m.md`,
      ]);
      assertEquals(r.code, 0, r.stdout + r.stderr);
      const reports: (SuiteReport & { unavailable?: string; environment?: string })[] = JSON.parse(
        await Deno.readTextFile(`${dir}/m.json`),
      );
      assertEquals(reports.length, 4);
      const [reference, kernel, ort, webnn] = reports;
      assertEquals(reference.totals.fail + reference.totals.xpass, 0);
      assert(reference.totals.pass >= 150, JSON.stringify(reference.totals));
      // The kernel: every case it runs is judged; the only failures are the edge cases recorded in docs/browser.md.
      assert(kernel.totals.pass >= 90, JSON.stringify(kernel.totals));
      const failed = kernel.cases.filter((c) => c.status === "fail").map((c) => c.name);
      assert(failed.every((n) => / edge /.test(n)), failed.join("\n"));
      assert(!kernel.cases.some((c) => c.reason?.includes("threw")), "the kernel threw");
      // onnxruntime-web: WebGPU only (no CPU fallback); its training-mode refusal is recorded, training skipped.
      assertMatch(ort.implementation, /^onnxruntime-web 1\.30\.0 WebGPU EP/);
      assert(ort.totals.pass > 0 && ort.totals.fail === 0, JSON.stringify(ort.totals));
      assertMatch(ort.environment ?? "", /training mode: (refused: .*trainingMode is not supported|accepted)/);
      assertMatch(ort.environment ?? "", /CPU fallback off/);
      // WebNN: the browser's own words when it has no backend, judged cases when it has one.
      assert(
        webnn.unavailable?.startsWith("unavailable: ") || webnn.cases.length > 0,
        JSON.stringify(webnn).slice(0, 300),
      );
      // The matrix rows as markdown: one per run, in docs/matrix.md's cell format.
      const md = (await Deno.readTextFile(`${dir}/m.md`)).trimEnd().split("\n");
      assertEquals(md.length, 2 + 4);
      assertMatch(md[2], /^\| reference \(this suite\), in the browser, Chromium \d+.* \| \d+ pass; worst /);
      assert(md[5].includes(webnn.unavailable ?? "pass"), md[5]);
      // docs/matrix.md's browser section: the same rows (labels without the browser's version), and the reference's
      // row (deterministic, whatever the GPU) cell for cell.
      const fresh = parseMatrixTable(md.join("\n")),
        page = parseMatrixTable(
          await Deno.readTextFile(new URL("docs/matrix.md", root)),
          BROWSER_HEADING,
        );
      const unversioned = (rows: string[][]) => rows.map((r) => r[0].replace(/, Chromium [\d.]+$/, ""));
      assertEquals(unversioned(page), unversioned(fresh));
      assertEquals(page[0].slice(1), fresh[0].slice(1));
      // The report, opened in the browser.
      if ("missing" in chromium) return;
      const browser = await Chromium.launch({ path: chromium.path, flags: BROWSER_FLAGS });
      try {
        const page = await browser.newPage();
        await page.goto(new URL(`file://${dir}/m.html`).href);
        const seen = await page.evaluate<
          { matrixRows: number; cases: number; strips: number; hists: number; unavailable: string; title: string }
        >(`({
        matrixRows: document.querySelectorAll("svg.matrix > rect, svg.matrix > text").length,
        cases: document.querySelectorAll("tr.case").length,
        strips: document.querySelectorAll("svg.strip").length,
        hists: document.querySelectorAll("svg.hist").length,
        unavailable: document.querySelector(".unavailable")?.textContent ?? "",
        title: document.title,
      })`);
        const total = reports.reduce((n, x) => n + x.cases.length, 0);
        assertEquals(seen.cases, total);
        assert(seen.strips > 100 && seen.hists === seen.strips, JSON.stringify(seen));
        assert(seen.matrixRows > 4 * 5, JSON.stringify(seen));
        assertEquals(seen.unavailable, webnn.unavailable ?? "");
        assertEquals(seen.title, "BatchNorm conformance report (browser)");
        const png = await page.screenshot(1280, 1000);
        assertEquals([...png.slice(1, 4)], [0x50, 0x4e, 0x47]); // "PNG"
        assert(png.length > 20_000, `screenshot of ${png.length} bytes`);
      } finally {
        await browser.close();
      }
      assertEquals(await processesWith(browser.profile), []);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

Deno.test({
  name: "conform --html writes the report with pictures",
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "batchnorm-html-test-" });
    try {
      const r = await task("conform", ["--source", "onnx-testdata", "--html", `${dir}/r.html`]);
      assertEquals(r.code, 0, r.stderr);
      const html = await Deno.readTextFile(`${dir}/r.html`);
      assertEquals(html.match(/<tr class="case /g)?.length, 4);
      assertEquals(html.match(/<svg class="strip"/g)?.length, 4);
      assertEquals(html.match(/<svg class="matrix"/g)?.length, 1);
      assert(!(await Array.fromAsync(Deno.readDir(dir))).some((e) => e.name.endsWith(".partial")));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("deno task browser: bad options give a one-line error and exit 2", async () => {
  for (
    const [args, message] of [
      [["--bogus"], /Unknown option '--bogus'/],
      [["--timeout", "x"], /--timeout must be a positive number of seconds, got x/],
      [["--name", "("], /--name: Invalid regular expression/],
      [["--xfail", "tests/testdata/browser/nope.json"], /--xfail tests\/testdata\/browser\/nope\.json: /],
      [["--peer", "nope"], /unknown peer "nope"; known: reference, webgpu-example, onnxruntime-web, webnn/],
    ] as const
  ) {
    const r = await task("browser", [...args]);
    assertEquals(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assertMatch(r.stderr, message);
    assert(!/\n\s+at /.test(r.stderr), `${args.join(" ")}: a stack trace was printed`);
  }
});

Deno.test("conform --module: a module that cannot start, or exports no adapter, exits 3 and says why", async () => {
  const r = await task("conform", ["--module", "tests/testdata/browser/throws_impl.ts"]);
  assertEquals(r.code, 3, r.stderr);
  assertMatch(r.stderr, /throws_impl\.ts: unavailable: .*no accelerator here \(on purpose\)/);
  const none = await task("conform", ["--module", "tests/testdata/browser/../../_deno.ts"]);
  assertEquals(none.code, 3, none.stderr);
  assertMatch(none.stderr, /exports no "adapter" \(a function of one step, or \{ wholeCase \}\); its exports: runDeno/);
  assert(!/\n\s+at /.test(none.stdout + none.stderr), "a stack trace was printed");
});

Deno.test({
  name: noDenoGpu
    ? `conform --module judges the WebGPU example kernel under Deno's WebGPU (${noDenoGpu})`
    : "conform --module judges the WebGPU example kernel under Deno's WebGPU",
  ignore: noDenoGpu !== undefined,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "batchnorm-webgpu-test-" });
    try {
      const r = await task("conform", ["--module", "examples/webgpu/batch_norm_webgpu.ts", "--json", `${dir}/k.json`]);
      const report: SuiteReport = JSON.parse(await Deno.readTextFile(`${dir}/k.json`));
      assertEquals(r.code, report.totals.fail + report.totals.xpass > 0 ? 1 : 0);
      assert(report.totals.pass >= 90, JSON.stringify(report.totals));
      const failed = report.cases.filter((c) => c.status === "fail").map((c) => c.name);
      assert(failed.every((n) => / edge /.test(n)), failed.join("\n"));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("the report's pictures measure what the judge measures: per-element maxima equal each case's worst share", async () => {
  const files = await loadAllFixtures();
  // One implementation one step at a time, one whole case at a time, and one slightly wrong.
  const off: typeof referenceAdapter = (r) => {
    const out = referenceAdapter(r);
    if (!out.outputs?.y || r.dtype !== "float32") return out;
    const y = Array.from(out.outputs.y.data, (v, i) => i === 1 ? v * (1 + 2 ** -18) : v);
    return { ...out, outputs: { ...out.outputs, y: { shape: out.outputs.y.shape, data: y } } };
  };
  const impls = [
    { name: "step", adapter: referenceAdapter },
    {
      name: "whole",
      adapter: {
        wholeCase: (rs: readonly Parameters<typeof referenceAdapter>[0][]) =>
          Promise.resolve(rs.map(referenceAdapter) as StepOutputs[]),
      },
    },
    { name: "off", adapter: off },
  ];
  for (const impl of impls) {
    const rec = recordDetails(impl, files);
    const report = await runSuite(files, rec.impl, {
      select: { sources: ["onnxruntime", "onnx-testdata"] },
      onCase: rec.onCase,
    });
    let compared = 0;
    for (const c of report.cases) {
      if (c.worstShare === undefined || c.status === "skip") continue;
      const d = rec.details.get(detailKey(c.file, c.name));
      assert(d, `${impl.name}: no detail for ${c.name}`);
      const share = Math.max(0, ...d!.outputs.map((o) => Math.max(0, ...o.ulps.map((e) => e / o.tolerance))));
      if (c.reason?.includes("framework defect")) continue; // judged against the defective output, not the twin
      assertEquals(share, c.worstShare, `${impl.name}: ${c.name}`);
      compared++;
    }
    assert(compared > 30, `${impl.name}: only ${compared} cases compared`);
    if (impl.name === "off") assert(report.totals.fail > 0, "the slightly wrong implementation passed everything");
    const html = renderHtmlReport([{ report, details: rec.details }]);
    assertEquals(html.match(/<tr class="case /g)?.length, report.cases.length);
  }
});

Deno.test("the WebNN peer maps every convention it declares onto batchNormalization (against a fake navigator.ml)", async () => {
  // Deno has no WebNN: a fake MLContext computes batchNormalization as the W3C spec defines it (in binary64, rounded
  // once to the tensor's type), so that what is tested is the peer's use of the API: axis, epsilon, scale and bias.
  type Desc = { dataType: string; shape: number[] };
  type Operand = { desc?: Desc; data?: number[]; name?: string; bn?: Record<string, unknown> };
  const typed = (t: string) => t === "float16" ? Float16Array : Float32Array;
  const context = {
    createTensor: (desc: Desc) => Promise.resolve({ desc, data: [] as number[] }),
    writeTensor: (t: { data: number[] }, data: ArrayLike<number>) => (t.data = Array.from(data)),
    dispatch: (graph: { y: Operand }, inputs: { x: { data: number[] } }, outputs: { y: { data: number[] } }) => {
      const bn = graph.y.bn as {
        x: Operand;
        mean: Operand;
        variance: Operand;
        options: { axis: number; epsilon: number; scale?: Operand; bias?: Operand };
      };
      const shape = bn.x.desc!.shape, axis = bn.options.axis;
      const C = shape[axis], inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
      outputs.y.data = inputs.x.data.map((v, i) => {
        const c = Math.floor(i / inner) % C;
        const n = (v - bn.mean.data![c]) / Math.sqrt(bn.variance.data![c] + bn.options.epsilon);
        return n * (bn.options.scale?.data?.[c] ?? 1) + (bn.options.bias?.data?.[c] ?? 0);
      });
    },
    readTensor: (t: { desc: Desc; data: number[] }) => Promise.resolve(typed(t.desc.dataType).from(t.data).buffer),
  };
  class MLGraphBuilder {
    input(name: string, desc: Desc): Operand {
      return { name, desc };
    }
    constant(desc: Desc, data: ArrayLike<number>): Operand {
      return { desc, data: Array.from(data) };
    }
    batchNormalization(x: Operand, mean: Operand, variance: Operand, options: Record<string, unknown>): Operand {
      return { desc: x.desc, bn: { x, mean, variance, options } };
    }
    build(outputs: { y: Operand }) {
      return Promise.resolve(outputs);
    }
  }
  const g = globalThis as Record<string, unknown>;
  Object.defineProperty(navigator, "ml", {
    value: { createContext: () => Promise.resolve(context) },
    configurable: true,
  });
  g.MLGraphBuilder = MLGraphBuilder;
  try {
    const m = await import("../scripts/browser/peers/webnn.ts");
    const report = await runSuite(await loadAllFixtures(), { name: m.name, adapter: m.adapter, supports: m.supports });
    const t = report.totals;
    assertEquals(t.fail + t.xpass, 0, formatSummaryOf(report));
    assert(t.pass >= 10, JSON.stringify(t)); // 14 on the fixtures of 2026-11-30: the eval-only cases
    // Channels-first and channels-last both ran.
    assert(report.cases.some((c) => c.status === "pass" && c.source === "tfjs"));
    assert(report.cases.some((c) => c.status === "pass" && c.source === "pytorch"));
  } finally {
    delete (navigator as unknown as Record<string, unknown>).ml;
    delete g.MLGraphBuilder;
  }
});

function formatSummaryOf(report: SuiteReport): string {
  return report.cases.filter((c) => c.status === "fail").map((c) => `${c.name}: ${c.reason}`).join("\n");
}
