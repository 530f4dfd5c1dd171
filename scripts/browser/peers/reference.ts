/**
 * The reference as an implementation module, run in the browser by
 * `deno task browser --peer reference` (the suite checking itself in the browser's JavaScript engine).
 *
 * @module
 */

export { referenceAdapter as adapter } from "../../../mod.ts";

/** Name in reports. */
export const name = "reference (this suite), in the browser";
