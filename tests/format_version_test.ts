/**
 * Format versions: every fixture file declares the version whose fields it uses, and a reader refuses a file that
 * uses a field newer than the version it declares (FORMAT_ADDITIONS in src/fixture.ts, FORMAT.md "Versions").
 */
import { assert, assertEquals, assertThrows } from "@std/assert";
import { CONFIG_KEYS } from "../src/conformance/config.ts";
import {
  FEATURES,
  FixtureError,
  FIXTURES_URL,
  FORMAT_ADDITIONS,
  loadFixtureIndex,
  newerField,
  parseFixture,
} from "../mod.ts";

const index = await loadFixtureIndex();
const texts = await Promise.all(index.map((e) => Deno.readTextFile(new URL(e.path, FIXTURES_URL))));

Deno.test("every fixture file declares a version that has every field it uses", () => {
  for (const [i, text] of texts.entries()) {
    const json = JSON.parse(text);
    assertEquals(newerField(json, json.format_version), undefined, index[i].path);
    parseFixture(text, index[i].path); // and the reader accepts it
  }
});

Deno.test("a file that declares an older version than its fields is refused, naming the field and both versions", () => {
  const text = texts[index.findIndex((e) => e.path === "pytorch/edge_cases.json")];
  const older = text.replace('"format_version": "1.2"', '"format_version": "1.0"');
  assert(older !== text);
  const e = assertThrows(() => parseFixture(older, "edge_cases.json"), FixtureError);
  assert(/was added in format 1\.1, but the file declares format_version "1\.0"/.test(e.message), e.message);
  // Exact values (1.2) in a file that declares 1.1.
  const before = text.replace('"format_version": "1.2"', '"format_version": "1.1"');
  const e2 = assertThrows(() => parseFixture(before, "edge_cases.json"), FixtureError);
  assert(
    /expected_exact was added in format 1\.2, but the file declares format_version "1\.1"/.test(e2.message),
    e2.message,
  );
  // A 1.0 file using only 1.0 fields is read.
  const plain = JSON.parse(texts[index.findIndex((e) => e.path === "onnx-testdata/batch_normalization.json")]);
  plain.format_version = "1.0";
  for (const c of plain.cases) {
    delete c.framework_call;
    delete c.config.empty_batch;
    for (const st of c.steps) {
      delete st.expected_exact;
      delete st.exact_scale;
    }
    c.features = c.features.filter((f: string) => !FORMAT_ADDITIONS["1.1"].features!.includes(f));
  }
  assertEquals(parseFixture(JSON.stringify(plain), "plain.json").formatVersion, "1.0");
  // A version that is not major.minor is refused.
  plain.format_version = "1";
  assertThrows(() => parseFixture(JSON.stringify(plain), "plain.json"), FixtureError, 'must be "major.minor"');
});

Deno.test("the version table names only fields and features the reader knows", () => {
  const config = Object.values(CONFIG_KEYS);
  for (const [version, added] of Object.entries(FORMAT_ADDITIONS)) {
    assert(/^1\.[0-9]+$/.test(version), version);
    for (const f of added.config ?? []) assert(config.includes(f), `${version}: config ${f}`);
    for (const f of added.features ?? []) assert(FEATURES.includes(f), `${version}: feature ${f}`);
  }
});
