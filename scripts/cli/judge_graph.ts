/**
 * `deno task judge-graph`: judges an implementation's answers to the graph cases (fixtures/FORMAT.md, "Graph cases";
 * fixtures/graphs/conv_bn.json: Conv → BatchNormalization) against the exact values of the unfused graph.
 *
 *     deno task judge-graph ANSWERS.json                     # against fixtures/graphs/conv_bn.json
 *     deno task judge-graph --fixture FILE ANSWERS.json      # another graph-case file
 *     deno task judge-graph --runs                           # the file's own recorded engine runs and wrong folds
 *
 * ANSWERS.json: {"cases": {"<case id>": {"shape": [N, Cout, H, W], "data": [y, row-major]}}}, every case of the
 * fixture answered. One line per case; exit 0 when every case passes, 1 when one fails or is missing (a case not
 * answered never counts as passed), 2 usage, 4 an unreadable or malformed file.
 *
 * @module
 */

import { GraphError, type GraphFile, judgeGraph, parseGraphFile } from "../../src/conformance/graph.ts";

const USAGE = "usage: deno task judge-graph [--fixture FILE] (ANSWERS.json | --runs)";
const args = [...Deno.args];
let fixture = new URL("../../fixtures/graphs/conv_bn.json", import.meta.url).pathname;
let runs = false;
let answers: string | undefined;
while (args.length) {
  const a = args.shift()!;
  if (a === "--fixture" && args.length) fixture = args.shift()!;
  else if (a === "--runs") runs = true;
  else if (a === "--help" || a === "-h") {
    console.log(USAGE);
    Deno.exit(0);
  } else if (!a.startsWith("-") && answers === undefined) answers = a;
  else {
    console.error(`${USAGE}\nunknown or misplaced argument: ${a}`);
    Deno.exit(2);
  }
}
if (runs === (answers !== undefined)) {
  console.error(`${USAGE}\ngive an answers file or --runs, one of them`);
  Deno.exit(2);
}

function read(path: string): string {
  try {
    return Deno.readTextFileSync(path);
  } catch (e) {
    console.error(`${path}: cannot be read: ${(e as Error).message}`);
    Deno.exit(4);
  }
}

let file: GraphFile;
try {
  file = parseGraphFile(read(fixture), fixture);
} catch (e) {
  if (!(e instanceof GraphError)) throw e;
  console.error(e.message);
  Deno.exit(4);
}

const fmt = (v: number) => (Number.isFinite(v) ? Number(v.toPrecision(4)).toString() : String(v));
let failed = 0;
if (runs) {
  for (const c of file.cases) {
    for (const r of [...c.runs, ...c.wrongFolds]) {
      const v = judgeGraph(c, r.y.data);
      const kind = c.runs.includes(r) ? "run" : "wrong fold";
      console.log(
        `${v.pass ? "pass" : "fail"} ${c.id} ${kind} ${r.name}: ${fmt(v.maxErrorUlp)} ULP (budget ${c.budgetUlp})` +
          (r.cause ? `: ${r.cause}` : ""),
      );
    }
  }
  Deno.exit(0);
}

let doc: { cases?: Record<string, { shape?: number[]; data?: unknown[] }> };
try {
  doc = JSON.parse(read(answers!));
} catch (e) {
  console.error(`${answers}: not valid JSON: ${(e as Error).message}`);
  Deno.exit(4);
}
if (typeof doc?.cases !== "object" || doc.cases === null || Array.isArray(doc.cases)) {
  console.error(`${answers}: $.cases must be an object from case id to {"shape", "data"}`);
  Deno.exit(4);
}
const known = new Set(file.cases.map((c) => c.id));
for (const id of Object.keys(doc.cases)) {
  if (!known.has(id)) {
    console.error(`${answers}: $.cases.${id} is not a case of ${fixture} (cases: ${[...known].join(", ")})`);
    Deno.exit(4);
  }
}
for (const c of file.cases) {
  const a = doc.cases[c.id];
  if (a === undefined) {
    console.log(`fail ${c.id}: not answered`);
    failed++;
    continue;
  }
  const want = c.expectedExact.shape;
  if (!Array.isArray(a.shape) || a.shape.join() !== want.join() || !Array.isArray(a.data)) {
    console.log(`fail ${c.id}: shape ${JSON.stringify(a.shape)}, the case's output is [${want}]`);
    failed++;
    continue;
  }
  if (a.data.length !== c.expectedExact.data.length) {
    console.log(
      `fail ${c.id}: $.cases.${c.id}.data holds ${a.data.length} values, shape [${want}] needs ${c.expectedExact.data.length}`,
    );
    failed++;
    continue;
  }
  const y = a.data.map((e) => (typeof e === "number" ? e : NaN));
  const v = judgeGraph(c, y);
  if (!v.pass) failed++;
  const where = v.worst ? ` (worst at ${v.worst.index}: ${v.worst.got} against exact ${v.worst.exact})` : "";
  console.log(
    `${v.pass ? "pass" : "fail"} ${c.id}: ${fmt(v.maxErrorUlp)} ULP, budget ${c.budgetUlp}${v.pass ? "" : where}`,
  );
}
Deno.exit(failed ? 1 : 0);
