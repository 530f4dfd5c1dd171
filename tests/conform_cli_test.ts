/**
 * `deno task conform` as a user meets it: an exit code per outcome, a one-paragraph message and no stack trace
 * for every mistake, no green run that checked nothing, no process left behind, anyone's fixtures.
 */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import { loadAllFixtures, runSuite, SubprocessImplementation } from "../mod.ts";

const root = new URL("../", import.meta.url);
const testdata = new URL("tests/testdata/", root).pathname;
const hostile = new URL("tests/testdata/peers/hostile_peer.mjs", root).pathname;
const numpy = "/usr/bin/python3 tests/third_party/numpy_batchnorm.py";

async function conform(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const o = await new Deno.Command("deno", {
    args: ["run", "--allow-read", "--allow-write", "--allow-run", "--allow-ffi", "--allow-env", "--allow-sys"]
      .concat(["scripts/cli/conform.ts", "--quiet", ...args]),
    cwd: root,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  return { code: o.code, out: new TextDecoder().decode(o.stdout), err: new TextDecoder().decode(o.stderr) };
}

/** A message is one paragraph for a person: no stack trace. */
function noStack(text: string) {
  assert(!/\n\s+at /.test(text), `a stack trace:\n${text}`);
}

Deno.test("conform: usage mistakes exit 2 with a message naming the flag and the values that exist", async () => {
  for (
    const [args, says] of [
      [["--bogus"], "Unknown option '--bogus'"],
      [["--dtype", "float8"], "--dtype float8 matches no case. The dtypes in these fixtures are: bfloat16, float16"],
      [
        ["--source", "pytorh"],
        "--source pytorh matches no case. The sources in these fixtures are: composed, flax, keras, onnx-testdata",
      ],
      [["--feature", "edgecase"], "--feature edgecase matches no case. The features in these fixtures are: backward"],
      [["--source", "pytorch", "--dtype", "bfloat16", "--name", "^onnx"], "the selection --source --dtype --name"],
      [["--name", "("], "is not a regular expression"],
      [["--timeout", "soon"], '--timeout "soon" must be a positive number'],
      [["--xfail", "deno.json"], "must be a JSON list of"],
      [["--xfail", "README.md"], "cannot be read as JSON"],
      [["--peer", "nope"], 'unknown peer "nope"'],
    ] as const
  ) {
    const r = await conform(...args);
    assertEquals(r.code, 2, `${args.join(" ")}: ${r.err}`);
    assertStringIncludes(r.err, says);
    assertEquals(r.out, "");
    noStack(r.err);
  }
  const help = await conform("--help");
  assertEquals(help.code, 0);
  assertStringIncludes(help.out, "Exit codes: 0 every case checked passed; 1 a case failed");
});

Deno.test("conform: an implementation that exits 3 on every case fails every case, framework defects included", async () => {
  const program = `${testdata}exit3_peer.mjs`;
  await Deno.writeTextFile(
    program,
    `import { createInterface } from "node:readline";
for await (const line of createInterface({ input: process.stdin })) {
  const m = JSON.parse(line);
  if (m.type === "hello") console.log(JSON.stringify({ type: "hello", protocol: "batchnorm-conformance", version: "1.0" }));
  else process.exit(3);
}\n`,
  );
  try {
    const r = await conform("--exec", `node ${program}`, "--feature", "known-framework-defect");
    assertEquals(r.code, 1, r.err);
    assertStringIncludes(r.out, "0 passed, 9 failed, 0 skipped"); // PyTorch 2.15 carries 1.13's labelled constant channel
    assertStringIncludes(r.out, "the process exited with code 3");
    assertStringIncludes(r.out, "(known framework defects)");
  } finally {
    await Deno.remove(program);
  }
});

Deno.test("conform: a run in which every case was skipped checked nothing and exits 5", async () => {
  const r = await conform("--exec", `${numpy} --dtypes float16`, "--dtype", "float32", "--source", "onnx-testdata");
  assertEquals(r.code, 5, r.err);
  assertStringIncludes(
    r.err,
    "nothing was checked: all 4 selected cases were skipped (4 × dtype float32 not supported)",
  );
  assertStringIncludes(r.out, "0 passed, 0 failed, 4 skipped");
});

/** Waits (up to 20 s, on a loaded machine) for the hostile peer's children to start writing their heartbeat. */
async function started(file: string): Promise<boolean> {
  for (let waited = 0; waited < 20_000; waited += 100) {
    if ((await Deno.stat(file)).size > 0) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

/** Dots appended by the hostile peer's children every 50 ms, until they die. */
async function stillBeating(file: string): Promise<boolean> {
  const before = (await Deno.stat(file)).size;
  await new Promise((r) => setTimeout(r, 400));
  return (await Deno.stat(file)).size > before;
}

Deno.test("conform: a program that never says hello exits 3, and what it forked dies with it", async () => {
  const beat = await Deno.makeTempFile({ dir: testdata, suffix: ".beat" });
  try {
    const r = await conform("--exec", `node ${hostile} fork-silent ${beat}`, "--timeout", "4");
    assertEquals(r.code, 3, r.err);
    assertMatch(r.err, /^conform: the implementation could not be started: no hello: no answer within 4 s \(timeout\)/);
    noStack(r.err);
    assert((await Deno.stat(beat)).size > 0, "the children never ran: the test would prove nothing");
    assert(!(await stillBeating(beat)), "a child of the implementation outlived the run");
  } finally {
    await Deno.remove(beat);
  }
});

for (const mode of ["fork-hang", "fork-crash"]) {
  Deno.test(`subprocess: after a ${mode.slice(5)} and at the end, the whole process group is gone`, async () => {
    const beat = await Deno.makeTempFile({ dir: testdata, suffix: ".beat" });
    const files = await loadAllFixtures();
    const impl = await SubprocessImplementation.start({ command: ["node", hostile, mode, beat], timeoutMs: 1500 });
    try {
      assert(
        await started(beat) && await stillBeating(beat),
        "the children are not running: the test would prove nothing",
      );
      const r = await runSuite(files, impl, { select: { sources: ["onnx-testdata"], name: /example/ } });
      assertEquals(r.cases[0].status, "fail");
      assertStringIncludes(r.cases[0].reason!, mode === "fork-hang" ? "(timeout)" : "the process exited with code 3");
      // The first group was killed (its children with it), then a second one started for the next case.
      assertEquals(impl.restarts, 1);
    } finally {
      await impl.close();
    }
    assert(!(await stillBeating(beat)), "a child of the implementation outlived the run");
    await Deno.remove(beat);
  });
}

Deno.test("conform --fixtures: a file, a folder without an index, and a folder whose index's hash differs", async () => {
  const dir = await Deno.makeTempDir({ dir: testdata });
  try {
    const source = new URL("fixtures/onnx-testdata/batch_normalization.json", root);
    const text = await Deno.readTextFile(source);
    // A third party's own file: its own source name and generator, as the open schema allows.
    const theirs = JSON.parse(text);
    theirs.provenance = { ...theirs.provenance, source: "acme-labs", generator: "gen/acme.py" };
    await Deno.writeTextFile(`${dir}/acme.json`, JSON.stringify(theirs));
    const file = await conform("--fixtures", `${dir}/acme.json`, "--exec", numpy);
    assertEquals(file.code, 0, file.out + file.err);
    assertStringIncludes(file.out, "acme-labs");
    assertStringIncludes(file.out, "4 passed, 0 failed, 0 skipped");
    const folder = await conform("--fixtures", dir, "--exec", numpy, "--source", "acme-labs");
    assertEquals(folder.code, 0, folder.out + folder.err);
    // With an index, its hashes are checked.
    await Deno.writeTextFile(
      `${dir}/index.json`,
      JSON.stringify({ files: [{ path: "acme.json", source: "acme-labs", cases: 4, sha256: "0".repeat(64) }] }),
    );
    const bad = await conform("--fixtures", dir, "--exec", numpy);
    assertEquals(bad.code, 4, bad.err);
    assertStringIncludes(bad.err, "differs from the index's 0000");
    noStack(bad.err);
    const missing = await conform("--fixtures", `${dir}/nothing-here`);
    assertEquals(missing.code, 4);
    assertStringIncludes(missing.err, "the fixtures could not be read");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("conform: every failing output of a case, with its error and budget, in text, JSON and JUnit", async () => {
  const json = await Deno.makeTempFile({ dir: testdata, suffix: ".json" });
  const junit = await Deno.makeTempFile({ dir: testdata, suffix: ".xml" });
  try {
    const name = "tensorflow <= 2.11 fused \\(composed\\) float64 2x4x5x3 NHWC epsilon=1e-6";
    const r = await conform(
      "--exec",
      `${numpy} --mutant default-epsilon`,
      "--name",
      name,
      "--json",
      json,
      "--junit",
      junit,
    );
    assertEquals(r.code, 1, r.err);
    const report = JSON.parse(await Deno.readTextFile(json));
    const failures = report.cases[0].failures as { output: string; basis: string; budget: number; error: number }[];
    // Not only the first: y, the batch and running statistics, saved_invstd and the gradients are all off.
    assert(failures.length > 3, JSON.stringify(failures));
    assert(failures.every((f) => f.error > f.budget && f.basis.includes("ULP")));
    for (const f of failures) {
      assertStringIncludes(r.out, `step ${(f as unknown as { step: number }).step} ${f.output}: `);
      assertStringIncludes(await Deno.readTextFile(junit), `${f.output}: `);
    }
    assertStringIncludes(r.out, "× ceil(√");
  } finally {
    await Deno.remove(json);
    await Deno.remove(junit);
  }
});

Deno.test("conform: interrupted (SIGINT) mid-case, it stops the implementation's whole group and exits 130", async () => {
  const beat = await Deno.makeTempFile({ dir: testdata, suffix: ".beat" });
  const child = new Deno.Command("deno", {
    args: ["run", "--allow-read", "--allow-write", "--allow-run", "scripts/cli/conform.ts", "--quiet"]
      .concat(["--exec", `node ${hostile} fork-hang ${beat}`, "--source", "onnx-testdata", "--timeout", "60"]),
    cwd: root,
    stdout: "null",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  try {
    assert(
      await started(beat) && await stillBeating(beat),
      "the children are not running: the test would prove nothing",
    );
    child.kill("SIGINT");
    const { code } = await child.output();
    assertEquals(code, 130);
    assert(!(await stillBeating(beat)), "a child of the implementation outlived the interrupted run");
  } finally {
    try {
      child.kill("SIGKILL");
    } catch { /* it has exited */ }
    await Deno.remove(beat);
  }
});

Deno.test("conform --peer: each PyPI and crates.io engine name picks exactly one matrix row, and a missing one stops the run saying why", async () => {
  const { ENGINE_PEERS } = await import("../scripts/cli/conform.ts");
  const { PYPI_ONNX_PEERS } = await import("../scripts/peers/pypi_onnx_peers.ts");
  const { PYPI_PEERS } = await import("../scripts/peers/pypi_framework_peers.ts");
  const { RUST_PEERS } = await import("../scripts/peers/rust_peers.ts");
  const rows = { pypi_onnx: PYPI_ONNX_PEERS, pypi_frameworks: PYPI_PEERS, rust: RUST_PEERS };
  for (const [name, [file, pattern]] of Object.entries(ENGINE_PEERS)) {
    const matches = rows[file].filter((p) => pattern.test(p.label)).map((p) => p.label);
    assertEquals(matches.length, 1, `--peer ${name}: ${pattern} matches ${JSON.stringify(matches)}`);
  }
  // Every engine row has a name.
  const named = Object.values(ENGINE_PEERS).map(([file, pattern]) => rows[file].find((p) => pattern.test(p.label)));
  for (const row of [...PYPI_ONNX_PEERS, ...PYPI_PEERS, ...RUST_PEERS]) {
    assert(named.includes(row), `no --peer name for the row ${row.label}`);
  }
  // Where an engine cannot start here: exit 3 with the reason, never a green run. Where all can: one runs and judges.
  for (const [name, [file, pattern]] of Object.entries(ENGINE_PEERS)) {
    const reason = await rows[file].find((p) => pattern.test(p.label))!.unavailable?.();
    if (!reason) continue;
    const r = await conform("--peer", name);
    assertEquals(r.code, 3, r.err);
    assertStringIncludes(r.err, `the peer ${name} cannot start here`);
    noStack(r.err);
    return;
  }
  const r = await conform("--peer", "candle", "--fixtures", "fixtures/onnx-testdata");
  assertMatch(r.out, /\d+ passed/);
  assert(!/^0 passed/m.test(r.out), r.out);
});
