/**
 * Fixtures from a path on disk, for `deno task conform --fixtures PATH`: anyone's fixture file, or a folder of
 * them, with or without an `index.json`. Where an index is present, the hashes it lists are checked.
 *
 * Needs read permission for the path when called (importing this module needs nothing).
 *
 * @module
 */

import { FixtureError, type FixtureFile } from "./fixture.ts";
import { loadAllFixtures, loadFixture, loadFixtureIndex } from "./load_fixtures.ts";

async function exists(url: URL): Promise<boolean> {
  try {
    await Deno.stat(url);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/** Every `.json` file under a folder, but `index.json` and `schema.json`, in path order. */
async function jsonFiles(dir: URL): Promise<URL[]> {
  const found: URL[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const url = new URL(entry.name + (entry.isDirectory ? "/" : ""), dir);
    if (entry.isDirectory) found.push(...await jsonFiles(url));
    else if (entry.name.endsWith(".json") && entry.name !== "index.json" && entry.name !== "schema.json") {
      found.push(url);
    }
  }
  return found.sort((a, b) => a.href.localeCompare(b.href));
}

/**
 * Loads the fixtures at a path: a fixture file, a folder with an `index.json` (every file it lists, hashes
 * checked), or a folder without one (every `.json` file under it). A single file listed in the `index.json` of
 * its folder or of the two above is checked against that hash too.
 *
 * @param path A file or folder path, or a `file:` URL.
 * @returns The decoded files.
 * @throws {FixtureError} When the path does not exist, a hash differs, or a file is not a fixture.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { loadFixturesAt } from "./fixture_path.ts";
 * const files = await loadFixturesAt(new URL("../../fixtures/pytorch/functional.json", import.meta.url));
 * assert(files.length === 1 && files[0].provenance.source === "pytorch");
 * ```
 */
export async function loadFixturesAt(path: string | URL): Promise<FixtureFile[]> {
  const url = typeof path === "string" ? new URL(path, `file://${Deno.cwd().replace(/\/?$/, "/")}`) : path;
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(url);
  } catch (e) {
    throw new FixtureError(String(path), "$", `cannot be read: ${(e as Error).message}`);
  }
  if (info.isDirectory) {
    const base = new URL(url.href.replace(/\/?$/, "/"));
    if (await exists(new URL("index.json", base))) return await loadAllFixtures(base);
    const files = await jsonFiles(base);
    if (!files.length) throw new FixtureError(base.pathname, "$", "holds no .json fixture file");
    const out: FixtureFile[] = [];
    for (const f of files) out.push(await loadFixture(f));
    return out;
  }
  if (url.pathname.endsWith("/index.json")) return await loadAllFixtures(new URL("./", url));
  // The nearest index.json in this folder or the two above it that lists the file holds its hash.
  let sha256: string | undefined;
  for (const up of ["./", "../", "../../"]) {
    const index = new URL(`${up}index.json`, url);
    if (!(await exists(index))) continue;
    const entries = await loadFixtureIndex(new URL("./", index));
    sha256 = entries.find((e) => new URL(e.path, index).href === url.href)?.sha256;
    if (sha256) break;
  }
  return [await loadFixture(url, sha256)];
}
