/**
 * `deno task judge-graph` (scripts/cli/judge_graph.ts): a third party's answers file judged against
 * fixtures/graphs/conv_bn.json, with the exit codes docs/validating.md states. Needs --allow-run (it runs deno).
 */
import { assert, assertEquals, assertMatch } from "@std/assert";
import { parseGraphFile } from "../src/conformance/graph.ts";

const root = new URL("../", import.meta.url);
const file = parseGraphFile(
  await Deno.readTextFile(new URL("fixtures/graphs/conv_bn.json", root)),
  "conv_bn.json",
);

async function judge(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const o = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "scripts/cli/judge_graph.ts", ...args],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: o.code, out: new TextDecoder().decode(o.stdout), err: new TextDecoder().decode(o.stderr) };
}

async function answers(cases: Record<string, { shape: number[]; data: number[] }>): Promise<string> {
  const path = await Deno.makeTempFile({
    dir: new URL("tests/testdata/", root).pathname,
    prefix: "graph-answers-",
    suffix: ".json",
  });
  await Deno.writeTextFile(path, JSON.stringify({ cases }));
  return path;
}

Deno.test("judge-graph: recorded engine answers pass or fail as the fixture says; a missing case fails; bad input exits 2 or 4", async () => {
  const run = (name: string) =>
    Object.fromEntries(file.cases.map((c) => [c.id, c.runs.find((r) => r.name === name)!.y]));
  const paths: string[] = [];
  try {
    const good = await answers(run("onnxruntime"));
    paths.push(good);
    let r = await judge([good]);
    assertEquals(r.code, 0, r.out + r.err);
    assertMatch(r.out, /^pass conv1x1_bn: 0\.8344 ULP, budget 24\npass conv3x3_pad1_bn: 1\.056 ULP, budget 152\n$/);

    const fp16 = await answers(run("litert-fp16"));
    paths.push(fp16);
    r = await judge([fp16]);
    assertEquals(r.code, 1);
    assertMatch(r.out, /^fail conv1x1_bn: 2206 ULP, budget 24 \(worst at \d+: /);

    const one = await answers({ conv1x1_bn: run("torch-fused").conv1x1_bn });
    paths.push(one);
    r = await judge([one]);
    assertEquals(r.code, 1);
    assertMatch(r.out, /pass conv1x1_bn: .*\nfail conv3x3_pad1_bn: not answered\n/);

    const short = await answers({ ...run("torch-fused"), conv1x1_bn: { shape: [2, 8, 4, 4], data: [1, 2] } });
    paths.push(short);
    r = await judge([short]);
    assertEquals(r.code, 1);
    assertMatch(r.out, /^fail conv1x1_bn: \$\.cases\.conv1x1_bn\.data holds 2 values, shape \[2,8,4,4\] needs 256\n/);

    const unknown = await answers({ ...run("torch-fused"), conv5x5: { shape: [1], data: [0] } });
    paths.push(unknown);
    r = await judge([unknown]);
    assertEquals(r.code, 4);
    assertMatch(r.err, /\$\.cases\.conv5x5 is not a case of/);

    r = await judge(["--bogus"]);
    assertEquals(r.code, 2);
    r = await judge([]);
    assertEquals(r.code, 2);
    r = await judge(["/nonexistent/answers.json"]);
    assertEquals(r.code, 4);
    assertMatch(r.err, /cannot be read/);

    r = await judge(["--runs"]);
    assertEquals(r.code, 0);
    assertEquals(r.out.trim().split("\n").length, 2 * (12 + 4));
    assert(r.out.includes("fail conv3x3_pad1_bn run ncnn-pnnx: 1108 ULP (budget 152): pnnx writes"));
    // The same verdicts from a judge written in Python from FORMAT.md alone (tests/third_party/judge_conv_bn.py).
    for (const [path, code] of [[good, 0], [fp16, 1], [one, 1]] as const) {
      const py = await new Deno.Command("/usr/bin/python3", {
        args: ["tests/third_party/judge_conv_bn.py", "fixtures/graphs/conv_bn.json", path],
        cwd: root,
        stdout: "piped",
      }).output();
      assertEquals(py.code, code);
      const ours = (await judge([path])).out.trim().split("\n");
      const theirs = new TextDecoder().decode(py.stdout).trim().split("\n");
      assertEquals(theirs.map((l) => l.split(" ").slice(0, 2).join(" ")), ours.map((l) => l.split(":")[0]));
      theirs.forEach((l, i) => {
        const e = Number(l.split(" ")[2]);
        const m = ours[i].match(/: ([0-9.]+) ULP/);
        if (m) assert(Math.abs(e - Number(m[1])) <= 1e-3 * Math.max(1, e), `${l} against ${ours[i]}`);
        else assertEquals(e, Infinity);
      });
    }
  } finally {
    for (const p of paths) await Deno.remove(p);
  }
});
