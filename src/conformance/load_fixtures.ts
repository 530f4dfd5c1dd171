/**
 * Loading fixtures relative to this module (so it also works when `mod.ts` is
 * imported by URL): the index, each file checked against its SHA-256, and all of
 * them at once.
 *
 * @module
 */

import { type Json, Reader } from "./_reader.ts";
import { FixtureError, type FixtureFile } from "./fixture.ts";
import { parseFixture } from "./parse_fixture.ts";

/**
 * One entry of `fixtures/index.json`.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { type FixtureIndexEntry, loadFixtureIndex } from "../../mod.ts";
 * const entries: FixtureIndexEntry[] = await loadFixtureIndex();
 * assert(entries.every((e) => /^[0-9a-f]{64}$/.test(e.sha256)));
 * ```
 */
export interface FixtureIndexEntry {
  /** Path relative to the fixtures folder. */
  readonly path: string;
  /** The provenance source id. */
  readonly source: string;
  /** Number of cases in the file. */
  readonly cases: number;
  /** Lower-case hex SHA-256 of the file's bytes. */
  readonly sha256: string;
}
/**
 * The default fixtures folder: `../../fixtures/` next to this module, wherever it was loaded from.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { FIXTURES_URL } from "../../mod.ts";
 * assert(FIXTURES_URL.href.endsWith("/fixtures/"));
 * ```
 */
export const FIXTURES_URL: URL = new URL("../../fixtures/", import.meta.url);
async function fetchBytes(url: URL): Promise<Uint8Array> {
  let res: Response;
  try {
    res = await fetch(url);
  } catch (e) {
    throw new FixtureError(url.href, "$", `could not be loaded: ${(e as Error).message}`);
  }
  if (!res.ok) {
    await res.body?.cancel();
    throw new FixtureError(
      url.href,
      "$",
      `could not be loaded: HTTP ${res.status}`,
    );
  }
  return new Uint8Array(await res.arrayBuffer());
}
async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest(
    "SHA-256",
    bytes as Uint8Array<ArrayBuffer>,
  );
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0"))
    .join("");
}
/**
 * Loads `index.json` of a fixtures folder: the list of fixture files with their hashes.
 *
 * @param base The fixtures folder; default {@linkcode FIXTURES_URL}.
 * @returns The entries, in the index's order.
 * @throws {FixtureError} When the index is missing or malformed.
 *
 * @example
 * ```ts ignore
 * import { loadFixtureIndex } from "../../mod.ts";
 * const files = await loadFixtureIndex();
 * console.log(files.map((f) => f.path));
 * ```
 */
export async function loadFixtureIndex(
  base: URL = FIXTURES_URL,
): Promise<FixtureIndexEntry[]> {
  const url = new URL("index.json", base);
  const r: Reader = new Reader(url.href);
  let json: Json;
  try {
    json = JSON.parse(new TextDecoder().decode(await fetchBytes(url)));
  } catch (e) {
    if (e instanceof FixtureError) throw e;
    r.fail("$", `not valid JSON: ${(e as Error).message}`);
  }
  const o = r.object(json, "$");
  if (!Array.isArray(o.files)) r.fail("$.files", "must be an array");
  return o.files.map((f, i) => {
    const e = r.object(f, `$.files[${i}]`);
    const sha = r.string(e.sha256, `$.files[${i}].sha256`);
    if (!/^[0-9a-f]{64}$/.test(sha)) {
      r.fail(`$.files[${i}].sha256`, "must be 64 lower-case hex digits");
    }
    return {
      path: r.string(e.path, `$.files[${i}].path`),
      source: r.string(e.source, `$.files[${i}].source`),
      cases: r.integer(e.cases, `$.files[${i}].cases`),
      sha256: sha,
    };
  });
}
/**
 * Loads and decodes one fixture file; when `sha256` is given, the bytes must hash to it.
 *
 * @param url The file's URL.
 * @param sha256 Expected lower-case hex SHA-256, or undefined to skip the check.
 * @returns The decoded fixture.
 * @throws {FixtureError} When it cannot be loaded, its hash differs, or it is malformed.
 *
 * @example
 * ```ts ignore
 * import { FIXTURES_URL, loadFixture } from "../../mod.ts";
 * const f = await loadFixture(new URL("pytorch/functional.json", FIXTURES_URL));
 * console.log(f.provenance.version, f.cases.length);
 * ```
 */
export async function loadFixture(
  url: URL,
  sha256?: string,
): Promise<FixtureFile> {
  const bytes = await fetchBytes(url);
  if (sha256 !== undefined) {
    const actual = await sha256Hex(bytes);
    if (actual !== sha256) {
      throw new FixtureError(
        url.href,
        "$",
        `SHA-256 ${actual} differs from the index's ${sha256}: the file was edited or damaged`,
      );
    }
  }
  return parseFixture(new TextDecoder().decode(bytes), url.href);
}
/**
 * Loads every fixture file listed in a folder's index, checking each file's hash.
 *
 * @param base The fixtures folder; default {@linkcode FIXTURES_URL}.
 * @returns The decoded files, in the index's order.
 *
 * @example
 * ```ts ignore
 * import { loadAllFixtures } from "../../mod.ts";
 * for (const f of await loadAllFixtures()) console.log(f.url, f.cases.length);
 * ```
 */
export async function loadAllFixtures(
  base: URL = FIXTURES_URL,
): Promise<FixtureFile[]> {
  const index = await loadFixtureIndex(base);
  const files: FixtureFile[] = [];
  for (const entry of index) {
    const file = await loadFixture(new URL(entry.path, base), entry.sha256);
    if (file.cases.length !== entry.cases) {
      throw new FixtureError(
        file.url,
        "$.cases",
        `has ${file.cases.length} cases, the index says ${entry.cases}`,
      );
    }
    files.push(file);
  }
  return files;
}
