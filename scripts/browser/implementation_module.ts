/**
 * Loads an implementation module: an ES module exporting `adapter` (a step
 * adapter, or `{ wholeCase }`), optionally `supports` (capabilities) and `name`.
 * The same contract in a browser page and under `deno task conform --module`.
 * Outside mod.ts's import graph.
 *
 * @module
 */

import type { Capabilities, Implementation } from "../../mod.ts";

/**
 * Imports a module and checks it exports an implementation.
 *
 * @param specifier The module's URL (absolute, or relative to `base`).
 * @param base What a relative specifier is resolved against.
 * @returns The implementation; throws an Error naming the module and what is wrong.
 */
export async function importImplementation(specifier: string, base: string | URL): Promise<Implementation> {
  const url = new URL(specifier, base).href;
  let m: Record<string, unknown>;
  try {
    m = await import(url);
  } catch (e) {
    throw new Error(`implementation module ${url} did not load: ${(e as Error).message ?? e}`);
  }
  return implementationFrom(m, url);
}

/**
 * Checks a module namespace's exports.
 *
 * @param m The module namespace.
 * @param url Its URL, for messages and as the default name.
 * @returns The implementation.
 */
export function implementationFrom(m: Record<string, unknown>, url: string): Implementation {
  const adapter = m.adapter as Implementation["adapter"] | undefined;
  if (
    typeof adapter !== "function" &&
    !(adapter && typeof (adapter as { wholeCase?: unknown }).wholeCase === "function")
  ) {
    throw new Error(
      `implementation module ${url} exports no "adapter" (a function of one step, or { wholeCase }); ` +
        `its exports: ${Object.keys(m).join(", ") || "none"}`,
    );
  }
  if (m.supports !== undefined && (typeof m.supports !== "object" || m.supports === null)) {
    throw new Error(`implementation module ${url}: "supports" must be an object of capabilities`);
  }
  if (m.name !== undefined && typeof m.name !== "string") {
    throw new Error(`implementation module ${url}: "name" must be a string`);
  }
  // As a subprocess program (PROTOCOL.md 1.2): a module that declares no mixedDtypes takes uniform cases only, and
  // one that does not declare centerScale only cases whose center and scale agree (format 1.3).
  const supports = (m.supports ?? {}) as Capabilities;
  return {
    name: (m.name as string | undefined) ?? url,
    adapter,
    supports: { mixedDtypes: [], centerScale: false, ...supports },
  };
}
