/** deno.json's test tasks: every test file runs, each under the narrowest permissions that work. */
import { assert, assertEquals } from "@std/assert";

const root = new URL("../", import.meta.url);
const tasks: Record<string, string> = JSON.parse(await Deno.readTextFile(new URL("deno.json", root))).tasks;
const testTasks = Object.entries(tasks).filter(([k]) => k.startsWith("test:"));
/** Test tasks too slow for `deno task test` (about two minutes on 2 cores): CI runs each right after it. */
const SEPARATE = ["test:engines", "test:pypi-onnx", "test:pypi-frameworks", "test:rust"];
const ci = await Deno.readTextFile(new URL(".ci/run", root));

Deno.test("deno task test runs every tests/*_test.ts file, each in exactly one task", async () => {
  const files = [...Deno.readDirSync(new URL("tests/", root))].map((e) => e.name).filter((n) => n.endsWith("_test.ts"))
    .sort();
  const listed = testTasks.flatMap(([, cmd]) => [...cmd.matchAll(/tests\/(\w+_test\.ts)/g)].map((m) => m[1]));
  assertEquals([...listed].sort(), files);
  assertEquals(new Set(listed).size, listed.length);
  for (const [name] of testTasks) {
    if (SEPARATE.includes(name)) {
      assert(!tasks.test.includes(`deno task ${name}`), `${name} is slow: keep it out of deno task test`);
      assert(ci.includes(`task ${name}`), `.ci/run does not run ${name}`);
    } else {
      assert(tasks.test.includes(`deno task ${name}`), `deno task test does not run ${name}`);
    }
  }
  await Promise.resolve();
});

Deno.test("each test task grants only what its files need", () => {
  const flags = (name: string) => tasks[name].split(" ").filter((w) => w.startsWith("--allow"));
  assertEquals(flags("test:core"), ["--allow-read=.", "--allow-write=tests/testdata"]);
  assertEquals(flags("test:url"), ["--allow-read=.", "--allow-net=127.0.0.1", "--allow-run=deno"]);
  assertEquals(flags("test:frameworks"), ["--allow-read=.", "--allow-ffi", "--allow-env", "--allow-sys"]);
  assertEquals(flags("test:peers"), [
    "--allow-read=.",
    "--allow-write=tests/testdata",
    // Unscoped: the subprocess runner ends each implementation's whole process group (Deno.kill needs it).
    "--allow-run",
    "--allow-ffi",
    "--allow-env",
    "--allow-sys",
  ]);
  // The browser tests start Chromium, deno (the runner and conform) and ps (to prove no browser process outlives
  // a run); they serve and connect on 127.0.0.1 only, and read only $CHROMIUM from the environment.
  assertEquals(flags("test:browser"), [
    "--allow-read",
    "--allow-write",
    "--allow-run=deno,ps,/usr/lib/chromium/chromium",
    "--allow-net=127.0.0.1",
    "--allow-env=CHROMIUM",
  ]);
  assertEquals(flags("test:witnesses"), [
    "--allow-read=.",
    "--allow-run=.venv/bin/python,.envs/torch2/bin/python",
    "--allow-env=CI",
  ]);
  assertEquals(flags("test:engines"), [
    "--allow-read=.",
    "--allow-run", // unscoped, as test:peers: the OpenCV peer runs through the subprocess runner
    "--allow-ffi",
    "--allow-env",
    "--allow-sys",
  ]);
  // The PyPI ONNX engines run through the subprocess runner (unscoped, as above).
  assertEquals(flags("test:pypi-onnx"), [
    "--allow-read=.",
    "--allow-run",
    "--allow-ffi",
    "--allow-env",
    "--allow-sys",
  ]);
  assertEquals(flags("test:pypi-frameworks"), [
    "--allow-read=.",
    "--allow-run", // unscoped: each engine runs through the subprocess runner, from its own .envs/NAME/bin/python
    "--allow-ffi",
    "--allow-env",
    "--allow-sys",
  ]);
  // As test:engines: the Rust peers run through the subprocess runner; the matrix module loads the in-process peers.
  assertEquals(flags("test:rust"), ["--allow-read=.", "--allow-run", "--allow-ffi", "--allow-env", "--allow-sys"]);
  for (
    const name of [
      "test:core",
      "test:url",
      "test:frameworks",
      "test:peers",
      "test:browser",
      "test:engines",
      "test:pypi-onnx",
      "test:pypi-frameworks",
      "test:rust",
      "test:witnesses",
    ]
  ) {
    assert(!/--allow-all|-A\b/.test(tasks[name]), name);
  }
});
