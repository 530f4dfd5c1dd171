/**
 * The findings register (fixtures/findings.json): every known place where a framework's recorded output lies
 * outside its witness bound (the judge's budget against the case's target), as data: an id, the frameworks and
 * versions, the cases and outputs with their distance from the target, the cause and a source link. It is written
 * by scripts/generators/findings_register.ts (`deno task fixtures`) and checked by tests/findings_register_test.ts
 * like a fixture: current, complete (no framework record outside its bound without a finding) and not stale.
 *
 * The runner reads it to put "known finding F-3 of PyTorch 1.13.0a0" beside a failure whose answer equals the
 * framework's recorded output (diagnosis.ts). A finding never changes a verdict.
 *
 * @module
 */

import type { KnownFinding } from "./diagnosis.ts";
import { FIXTURES_URL } from "./load_fixtures.ts";

/** The register's format name. */
export const FINDINGS_FORMAT = "batchnorm-conformance-findings";

/** One output of one case where a framework's record is outside its bound. */
export interface FindingOutput {
  /** Output name. */
  readonly output: string;
  /** `expected` (the framework's output in the case's dtype) or `float64 twin` (its float64 run). */
  readonly record: "expected" | "float64 twin";
  /** The record's dtype. */
  readonly dtype: string;
  /** Largest distance from the target over the case's steps, in ULPs of `dtype` (null: non-finite). */
  readonly ulps: number | null;
  /** The same as a share of the budget (null: non-finite). */
  readonly share: number | null;
}

/** One finding. */
export interface Finding {
  /** Stable id, `F-<n>`. */
  readonly id: string;
  /** A short title. */
  readonly title: string;
  /** The frameworks and versions whose records show it. */
  readonly frameworks: readonly { readonly framework: string; readonly version: string }[];
  /** The cause, in words. */
  readonly cause: string;
  /** Where the cause can be read: the framework's source or issue. */
  readonly source: string;
  /** The cases and outputs. */
  readonly cases: readonly { readonly case: string; readonly outputs: readonly FindingOutput[] }[];
}

/** The register. */
export interface FindingsRegister {
  /** {@linkcode FINDINGS_FORMAT}. */
  readonly format: string;
  /** `1.0`. */
  readonly format_version: string;
  /** The script that writes it. */
  readonly generator: string;
  /** The command that regenerates it. */
  readonly command: string;
  /** The findings. */
  readonly findings: readonly Finding[];
}

/**
 * Reads and checks a register.
 *
 * @param text The JSON text.
 * @returns The register.
 * @throws {Error} Naming what is wrong and where, when the text is not a register.
 *
 * @example
 * ```ts
 * import { assertThrows } from "@std/assert";
 * import { parseFindings } from "./findings.ts";
 * assertThrows(() => parseFindings('{"format":"x"}'), Error, "format");
 * ```
 */
export function parseFindings(text: string): FindingsRegister {
  const doc = JSON.parse(text);
  if (doc?.format !== FINDINGS_FORMAT) throw new Error(`findings: format must be "${FINDINGS_FORMAT}"`);
  if (!Array.isArray(doc.findings)) throw new Error("findings: findings must be an array");
  const ids = new Set<string>();
  for (const [i, f] of doc.findings.entries()) {
    for (const key of ["id", "title", "cause", "source"]) {
      if (typeof f?.[key] !== "string" || !f[key]) throw new Error(`findings[${i}].${key} must be a non-empty string`);
    }
    if (!/^F-\d+$/.test(f.id)) throw new Error(`findings[${i}].id must read F-<n>, got ${JSON.stringify(f.id)}`);
    if (ids.has(f.id)) throw new Error(`findings[${i}].id ${f.id} is used twice`);
    ids.add(f.id);
    if (!Array.isArray(f.frameworks) || !Array.isArray(f.cases)) {
      throw new Error(`findings[${i}]: frameworks and cases must be arrays`);
    }
  }
  return doc as FindingsRegister;
}

/**
 * Loads the register of this repository (or another).
 *
 * @param url Where it is; default fixtures/findings.json.
 * @returns The register.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { loadFindings } from "../../mod.ts";
 * assert((await loadFindings()).findings.length > 0);
 * ```
 */
export async function loadFindings(url: URL = new URL("findings.json", FIXTURES_URL)): Promise<FindingsRegister> {
  const text = url.protocol === "file:" ? await Deno.readTextFile(url) : await (await fetch(url)).text();
  return parseFindings(text);
}

/**
 * A lookup for the runner: the finding, if any, on a case's output.
 *
 * @param register The register.
 * @returns `(case, output) => { id, cause }`, naming the frameworks in the cause.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { findingLookup, loadFindings } from "../../mod.ts";
 * const lookup = findingLookup(await loadFindings());
 * assert(lookup("no such case", "y") === undefined);
 * ```
 */
export function findingLookup(
  register: FindingsRegister,
): (caseName: string, output: string) => KnownFinding | undefined {
  const byKey = new Map<string, KnownFinding>();
  for (const f of register.findings) {
    const who = f.frameworks.map((x) => `${x.framework} ${x.version}`).join(", ");
    for (const c of f.cases) {
      for (const o of c.outputs) {
        const key = `${c.case}\u0000${o.output}`;
        if (!byKey.has(key)) byKey.set(key, { id: f.id, cause: `of ${who}: ${f.title} (${f.source})` });
      }
    }
  }
  return (caseName, output) => byKey.get(`${caseName}\u0000${output}`);
}
