/**
 * The runner: selection, capabilities, expected failures, reports, the subprocess
 * protocol under misbehaving implementations, and fingerprints of real peers.
 */
import { assert, assertEquals, assertRejects, assertStringIncludes } from "@std/assert";
import {
  fingerprint,
  type Implementation,
  loadAllFixtures,
  ProtocolError,
  referenceAdapter,
  runSuite,
  SubprocessImplementation,
  toJUnit,
} from "../mod.ts";
import { onnxruntimeImplementation, tfjsImplementation } from "../scripts/peers/inprocess.ts";
import { REFERENCE_XFAIL } from "../scripts/cli/reference_xfail.ts";

const root = new URL("../", import.meta.url);
const files = await loadAllFixtures();
const reference: Implementation = { name: "reference", adapter: referenceAdapter };
const torchAvailable = (() => {
  try {
    return new Deno.Command("/usr/bin/python3", { args: ["-c", "import torch"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
})();

Deno.test("runSuite() classifies the reference: every case passes but its documented expected failures", async () => {
  const r = await runSuite(files, reference, { expectedFailures: REFERENCE_XFAIL });
  assertEquals(r.totals.fail + r.totals.xpass + r.totals.skip, 0);
  assertEquals(r.totals.xfail, REFERENCE_XFAIL.length);
  assertEquals(r.cases.length, files.reduce((a, f) => a + f.cases.length, 0));
});

Deno.test("runSuite() selects by source, feature, dtype and name", async () => {
  const r = await runSuite(files, reference, {
    select: { sources: ["pytorch"], features: ["large-mean"], dtypes: ["float32"], name: /edge BatchNorm1d/ },
  });
  assertEquals(r.cases.map((c) => c.name), ["pytorch edge BatchNorm1d float32 64x2 large mean tiny spread"]);
  // Without training and inference cases, what is left are the refusals (expected errors).
  const rest = await runSuite(files, reference, { select: { excludeFeatures: ["training", "inference"] } });
  assert(
    rest.cases.length > 0 &&
      rest.cases.every((c) =>
        files.flatMap((f) => f.cases).find((k) => k.name === c.name)!.features.includes("expected-error")
      ),
  );
});

Deno.test("runSuite() skips what an implementation does not support, and never counts it as passed", async () => {
  const impl: Implementation = {
    name: "float64 only",
    adapter: referenceAdapter,
    supports: { dtypes: ["float64"], layouts: ["channels-last"] },
  };
  const r = await runSuite(files, impl, { select: { sources: ["pytorch"] } });
  assert(
    r.totals.skip > 0 && r.cases.filter((c) => c.status === "skip").every((c) => c.reason!.includes("not supported")),
  );
  assert(r.cases.filter((c) => c.status !== "skip").every((c) => c.dtype === "float64"));
});

Deno.test("runSuite() without backward leaves gradients unchecked and says so", async () => {
  const impl: Implementation = {
    name: "forward only",
    adapter: (req) => {
      const out = referenceAdapter(req);
      if (out.outputs) {
        for (const k of ["dx", "dgamma", "dbeta"]) {
          delete (out.outputs as Record<string, unknown>)[k];
        }
      }
      return out;
    },
    supports: { backward: false },
  };
  const r = await runSuite(files, impl, {
    select: { sources: ["pytorch"], name: /BatchNorm2d float32 2x3x4x5 train x3/ },
  });
  assertEquals(r.cases.map((c) => [c.status, c.unchecked]), [["pass", ["dx", "dgamma", "dbeta"]]]);
});

Deno.test("runSuite() reports an expected failure that passes as xpass, and a defect reproduced as a failure", async () => {
  const name = "onnx backend test test_batchnorm_example";
  const r = await runSuite(files, reference, {
    select: { name: new RegExp(name) },
    expectedFailures: [{ case: name, reason: "test" }],
  });
  assertEquals(r.cases[0].status, "xpass");
  // An implementation that answers with the framework's recorded (defective) output.
  const defect = files.flatMap((f) => f.cases).find((c) => c.frameworkDefect && c.name.startsWith("onnxruntime"))!;
  const copycat: Implementation = {
    name: "copycat",
    adapter: { wholeCase: (_requests, c) => Promise.resolve(c.steps.map((s) => ({ outputs: s.expected as never }))) },
  };
  const d = await runSuite(files, copycat, { select: { name: new RegExp(defect.name.replace(/[()]/g, ".")) } });
  assertEquals(d.cases[0].status, "fail");
  // Format 1.2: a defect case is judged against exact values like any other; the copy fails on y.
  assertStringIncludes(d.cases[0].reason!, ": y[");
});

Deno.test("toJUnit() writes one testcase per case, failures and skips counted", async () => {
  const naive: Implementation = {
    name: "wrong eps",
    adapter: (req) => referenceAdapter({ ...req, convention: { ...req.convention!, epsilonPlacement: "outside" } }),
  };
  const r = await runSuite(files, naive, { select: { sources: ["onnx-testdata"] } });
  const xml = toJUnit(r);
  assertStringIncludes(xml, `<testsuites name="wrong eps" tests="4" failures="4" skipped="0">`);
  assertEquals(xml.match(/<testcase /g)!.length, 4);
  assertEquals(xml.match(/<failure /g)!.length, 4);
});

const hostile = (mode: string, timeoutMs = 2000) =>
  SubprocessImplementation.start({
    command: ["node", new URL("tests/testdata/peers/hostile_peer.mjs", root).pathname, mode],
    timeoutMs,
    maxLineBytes: 2 ** 20, // the flood writes 3 MiB without a newline
  });
const twoCases = { select: { sources: ["onnx-testdata"], name: /example/ } }; // 2 cases: ids 1 (misbehaves) and 2

for (
  const [mode, expect] of [
    ["crash", "the process exited with code 3; stderr: boom: simulated crash"],
    ["hang", "timeout"],
    ["garbage", "malformed output: not JSON"],
    ["outoforder", "out of order"],
    ["flood", "a line longer than 1048576 bytes"],
    ["stderr", "(timeout); stderr: computing... (this implementation only talks to stderr)"],
  ] as const
) {
  Deno.test(`subprocess: a ${mode} fails that case with a clear reason, and the next case still runs`, async () => {
    const impl = await hostile(mode);
    try {
      const r = await runSuite(files, impl, twoCases);
      assertEquals(r.cases.length, 2);
      assertEquals(r.cases[0].status, "fail");
      assertStringIncludes(r.cases[0].reason!, expect);
      // The second case reached a live process: it failed on numbers (y = x), not on the protocol.
      assertEquals(r.cases[1].status, "fail");
      assertStringIncludes(r.cases[1].reason!, ": y[");
      assertEquals(impl.restarts, 1);
    } finally {
      await impl.close();
    }
  });
}

Deno.test("subprocess: a wrongly shaped answer fails on its shape", async () => {
  const impl = await hostile("shape");
  try {
    const r = await runSuite(files, impl, twoCases);
    assertStringIncludes(r.cases[0].reason!, "has shape [1], expected [2, 3, 4, 5]");
    assertEquals(impl.restarts, 0);
  } finally {
    await impl.close();
  }
});

Deno.test("subprocess: another protocol major version is refused at the hello, and the process is killed", async () => {
  await assertRejects(() => hostile("version"), ProtocolError, 'protocol version "2.0" is not 1.x');
});

Deno.test("fingerprint() tells onnxruntime and TF.js apart, axis by axis", async () => {
  const ort = await fingerprint(onnxruntimeImplementation);
  assertEquals([
    ort.epsilon.placement,
    ort.momentum.parameterisation,
    ort.runningVariance.correction,
    ort.singleValue.behaviour,
    ort.emptyBatch.behaviour,
    ort.preset,
  ], [
    "inside",
    "old",
    "biased",
    "variance 0, y = beta",
    "nan",
    "onnx",
  ]);
  assert(Math.abs(ort.momentum.defaultNewWeight - (1 - Math.fround(0.9))) < 1e-12);
  assertEquals(ort.variance.algorithm, "inexact"); // onnxruntime's float32 statistics
  const tfjs = await fingerprint(tfjsImplementation);
  assertEquals([
    tfjs.epsilon.placement,
    tfjs.momentum.parameterisation,
    tfjs.runningVariance.correction,
    tfjs.emptyBatch.behaviour,
    tfjs.preset,
  ], [
    "inside",
    "old",
    "biased",
    "zero",
    "keras",
  ]);
  assert(Math.abs(tfjs.epsilon.value! - 1e-3) < 1e-7);
});

Deno.test("fingerprint() exposes the deliberately wrong implementation", async () => {
  const impl = await SubprocessImplementation.start({
    command: ["node", new URL("scripts/peers/naive_peer.mjs", root).pathname],
  });
  try {
    const fp = await fingerprint(impl);
    assertEquals([fp.epsilon.placement, fp.variance.algorithm, fp.preset], ["outside", "catastrophic", null]);
  } finally {
    await impl.close();
  }
});

Deno.test({
  name: "fingerprint() recognises PyTorch behind the subprocess protocol",
  ignore: !torchAvailable,
  fn: async () => {
    const impl = await SubprocessImplementation.start({
      command: ["/usr/bin/python3", new URL("scripts/peers/pytorch_peer.py", root).pathname],
    });
    try {
      const fp = await fingerprint(impl);
      assertEquals([
        fp.epsilon.placement,
        fp.momentum.parameterisation,
        fp.runningVariance.correction,
        fp.singleValue.behaviour,
        fp.emptyBatch.behaviour,
        fp.preset,
      ], [
        "inside",
        "new",
        "bessel",
        "error",
        "unchanged",
        "pytorch",
      ]);
    } finally {
      await impl.close();
    }
  },
});

Deno.test("deno task conform --exec fails loudly: exit code 1, the summary line, a JUnit file", async () => {
  const junit = await Deno.makeTempFile({ dir: new URL("tests/testdata", root).pathname, suffix: ".xml" });
  const args = [
    "run",
    "--allow-read",
    "--allow-write",
    "--allow-run",
    "--allow-ffi",
    "--allow-env",
    "--allow-sys",
    "scripts/cli/conform.ts",
  ];
  const out = await new Deno.Command("deno", {
    args: [
      ...args,
      "--exec",
      "node scripts/peers/naive_peer.mjs",
      "--source",
      "onnx-testdata",
      "--quiet",
      "--junit",
      junit,
    ],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  assertEquals(out.code, 1, new TextDecoder().decode(out.stderr));
  assertStringIncludes(text, "0 passed, 4 failed, 0 skipped");
  assertStringIncludes(text, "first mismatch: step 0, y[");
  assertStringIncludes(await Deno.readTextFile(junit), 'tests="4" failures="4"');
  await Deno.remove(junit);
});
