/**
 * `deno task conform` with fresh cases: bad flags exit 2 naming the flag; a
 * random run prints its seed (drawn when absent) and reproduces; failing cases
 * saved with --save-failures are judged again from the file they were saved in.
 */
import { assert, assertEquals, assertMatch } from "@std/assert";
import { equivalentValue, loadFixturesAt, randomCase, randomFixtureFile, referenceAdapter, runSuite } from "../mod.ts";
import { randomFile, saveFailures } from "../scripts/cli/_fresh.ts";

async function conform(...args: string[]): Promise<{ code: number; out: string }> {
  const { code, stdout, stderr } = await new Deno.Command("deno", {
    args: [
      "run",
      "--allow-read",
      "--allow-write",
      "--allow-run",
      "--allow-env",
      "--allow-ffi",
      "--allow-sys",
      "scripts/cli/conform.ts",
      ...args,
    ],
  }).output();
  return { code, out: new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr) };
}

Deno.test("conform: bad fresh-case flags exit 2 with a message naming the flag", async () => {
  const bad: [string[], RegExp][] = [
    [["--random", "-1"], /--random "-1": the number of cases must be an integer >= 1/],
    [["--random", "0"], /--random "0"/],
    [
      ["--random", "5", "--seed", "18446744073709551616"],
      /--seed: seed 18446744073709551616 is outside 0\.\.18446744073709551615/,
    ],
    [["--random", "5", "--seed", "-3"], /--seed: seed "-3" is not a decimal integer/],
    [["--random", "5", "--seed", "1.5"], /--seed: seed "1.5"/],
    [["--seed", "4"], /--seed needs --random N/],
    [["--exhaustive", "float32"], /--exhaustive "float32": must be float16 or bfloat16/],
  ];
  for (const [args, message] of bad) {
    const r = await conform(...args);
    assertEquals(r.code, 2, `${args.join(" ")}: ${r.out}`);
    assertMatch(r.out, message);
    assert(!r.out.includes("    at "), `a stack trace for ${args.join(" ")}`);
  }
});

Deno.test("conform --random: prints the seed, drawn when absent, and reproduces it", async () => {
  const a = await conform("--random", "40", "--seed", "77", "--dtype", "float32,bfloat16");
  assertEquals(a.code, 0, a.out);
  assertMatch(a.out, /random seed 77: reproduce with deno task conform --random 40 --seed 77/);
  assertMatch(a.out, /40 passed, 0 failed/);
  const b = await conform("--random", "3", "--dtype", "float16");
  assertMatch(b.out, /random seed [0-9]+ \(drawn\)/);
});

Deno.test("--save-failures writes failing cases that --fixtures judges again", async () => {
  const dir = "tests/testdata/fresh-failures";
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  const files = [randomFixtureFile(11n, 60)];
  const wrong = {
    name: "epsilon outside",
    adapter: (r: Parameters<typeof referenceAdapter>[0]) =>
      referenceAdapter({ ...r, convention: { ...r.convention!, epsilonPlacement: "outside" } }),
  };
  const first = await runSuite(files, wrong);
  assert(first.totals.fail > 5);
  const path = await saveFailures(dir, first.cases, files, 11n);
  assertEquals(path, `${dir}/random-11.json`);
  const again = await loadFixturesAt(dir);
  const second = await runSuite(again, wrong);
  assertEquals(second.totals.fail, first.totals.fail);
  assertEquals(second.cases.map((c) => c.name), first.cases.filter((c) => c.status === "fail").map((c) => c.name));
  // The reference passes them: they are correct cases, the mutant was wrong.
  assertEquals((await runSuite(again, { name: "reference", adapter: referenceAdapter })).totals.fail, 0);
  // And through the command line.
  const cli = await conform("--fixtures", dir);
  assertEquals(cli.code, 0, cli.out);
  assertMatch(cli.out, new RegExp(`${second.cases.length} passed, 0 failed`));
  await Deno.remove(dir, { recursive: true });
});

Deno.test("--shard K/N: two shards of the fixtures and of a random run merge into the unsharded report", async () => {
  const dir = "tests/testdata/fresh-shards";
  await Deno.mkdir(dir, { recursive: true });
  try {
    for (const run of [["--source", "pytorch"], ["--random", "60", "--seed", "9", "--dtype", "float32,bfloat16"]]) {
      const whole = await conform(...run, "--json", `${dir}/all.json`);
      const a = await conform(...run, "--shard", "1/2", "--json", `${dir}/a.json`);
      const b = await conform(...run, "--shard", "2/2", "--json", `${dir}/b.json`);
      // (A run may have failures: the merge must reproduce them, and its exit code.)
      assert(whole.code <= 1 && a.code <= 1 && b.code <= 1, whole.out + a.out + b.out);
      assertMatch(a.out, /shard 1\/2: [0-9]+ cases/);
      const m = await conform(
        "merge",
        `${dir}/b.json`,
        `${dir}/a.json`,
        "--expect",
        `${dir}/all.json`,
        "--junit",
        `${dir}/m.xml`,
      );
      assertEquals(m.code, whole.code, m.out);
      assertMatch(m.out, /equal to .*all\.json/);
      assertMatch(await Deno.readTextFile(`${dir}/m.xml`), /<testsuites name="reference"/);
      // A shard missing, a shard twice: exit 2, named.
      const missing = await conform("merge", `${dir}/a.json`);
      assertEquals(missing.code, 2);
      assertMatch(missing.out, /shards missing: 2\/2/);
      assertMatch((await conform("merge", `${dir}/a.json`, `${dir}/a.json`)).out, /shard 1\/2 appears twice/);
    }
    // Reports of different seeds do not merge.
    await conform("--random", "10", "--seed", "1", "--shard", "1/2", "--json", `${dir}/s1.json`);
    await conform("--random", "10", "--seed", "2", "--shard", "2/2", "--json", `${dir}/s2.json`);
    const seeds = await conform("merge", `${dir}/s1.json`, `${dir}/s2.json`);
    assertEquals(seeds.code, 2);
    assertMatch(seeds.out, /differs in seed/);
    for (const bad of ["3/2", "0/0", "0/2", "2"]) {
      const r = await conform("--shard", bad);
      assertEquals(r.code, 2, bad);
      assertMatch(r.out, /--shard: shard/);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("--random N gives N cases the implementation can run (capabilities), each keeping its name", () => {
  const supports = { dtypes: ["float32" as const], conventions: { epsilonPlacement: ["inside" as const] } };
  const file = randomFile(5n, 30, {}, false, supports);
  assertEquals(file.cases.length, 30);
  // "inside", or a case where the placement changes nothing (epsilon 0, no zero variance): the runner then sends
  // the declared "inside" (relevance.ts, equivalentValue).
  assert(file.cases.every((c) => c.dtype === "float32" && equivalentValue(c, "epsilonPlacement", "inside")));
  assertEquals(file.cases[0], randomCase(5n, Number(file.cases[0].name.match(/#(\d+)/)![1])));
});
