/**
 * The Python exact oracle (scripts/generators/exact_oracle.py) on format 1.3 cases: mixed-precision cases (inputs and
 * state in their own dtypes) and the four center/scale combinations, written as a fixture file without exact values,
 * annotated by the oracle, then read back: its exact values and scales equal the TypeScript exact evaluator's
 * (two evaluators written apart), and the file still declares 1.3.
 */
import { assertEquals } from "@std/assert";
import { fixtureText, parseFixture } from "../mod.ts";
import { CENTER_SCALE, MIXED } from "./_mixed_cases.ts";

const ORACLE = new URL("../scripts/generators/exact_oracle.py", import.meta.url).pathname;

Deno.test("the exact oracle annotates 1.3 cases (mixed dtypes, center/scale) as the TypeScript evaluator does", async () => {
  const cases = [...MIXED, ...CENTER_SCALE];
  const bare = JSON.parse(fixtureText(cases, 0n));
  for (const c of bare.cases) {
    for (const s of c.steps) delete s.expected_exact, delete s.exact_scale;
  }
  const dir = await Deno.makeTempDir({ dir: new URL("testdata", import.meta.url).pathname, prefix: "oracle13-" });
  try {
    const path = `${dir}/mixed.json`;
    await Deno.writeTextFile(path, JSON.stringify(bare, null, 1));
    const { code, stderr } = await new Deno.Command("/usr/bin/python3", { args: [ORACLE, path] }).output();
    assertEquals(code, 0, new TextDecoder().decode(stderr));
    const back = parseFixture(await Deno.readTextFile(path), "mixed.json");
    assertEquals(back.formatVersion, "1.3");
    for (const [i, c] of back.cases.entries()) {
      assertEquals(c.dtypes, cases[i].dtypes, c.name);
      for (const [j, s] of c.steps.entries()) {
        const want = cases[i].steps[j];
        for (const [k, t] of Object.entries(want.expectedExact!)) {
          assertEquals(Array.from(s.expectedExact![k].data), Array.from(t.data), `${c.name} step ${j} ${k}`);
        }
        assertEquals(Object.keys(s.exactScale!).sort(), Object.keys(want.exactScale!).sort(), c.name);
        for (const [k, sc] of Object.entries(want.exactScale!)) {
          s.exactScale![k].forEach((v, ch) => {
            // The scales are magnitudes in binary64 arithmetic (FORMAT.md): equal to a few ULP.
            const rel = Math.abs(v - sc[ch]) / Math.max(Math.abs(sc[ch]), 1e-300);
            if (rel > 1e-12) throw new Error(`${c.name} step ${j} ${k}[${ch}]: scale ${v} vs ${sc[ch]}`);
          });
        }
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
