/**
 * The exact oracle (scripts/generators/exact_oracle.py): its correct rounding holds on the edge cases (ties to even,
 * overflow, subnormals, exact square roots) and against mpmath at 4000 bits; and every fixture file carries exactly
 * the annotations it computes from the file's own inputs, state and config (no exact value edited by hand).
 */
import { assert, assertEquals } from "@std/assert";
import { loadFixtureIndex } from "../mod.ts";

const ORACLE = new URL("../scripts/generators/exact_oracle.py", import.meta.url).pathname;

async function oracle(args: string[]): Promise<{ code: number; out: string }> {
  const { code, stdout, stderr } = await new Deno.Command("/usr/bin/python3", { args: [ORACLE, ...args] }).output();
  const dec = new TextDecoder();
  return { code, out: dec.decode(stdout) + dec.decode(stderr) };
}

Deno.test("the exact oracle rounds correctly: edge cases and 3000 random surds against mpmath at 4000 bits", async () => {
  const r = await oracle(["--selftest"]);
  assertEquals(r.code, 0, r.out);
  assert(r.out.includes("selftest: 0 failures"), r.out);
});

Deno.test("every fixture file carries the oracle's current exact values and scales", async () => {
  const index = await loadFixtureIndex();
  const paths = index.map((e) => new URL(`../fixtures/${e.path}`, import.meta.url).pathname);
  assert(paths.length >= 12, `${paths.length}`);
  const r = await oracle(["--check", ...paths]);
  assertEquals(r.code, 0, r.out);
  assertEquals(r.out.split("\n").filter((l) => l.endsWith("steps checked")).length, paths.length, r.out);
});
