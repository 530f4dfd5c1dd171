/**
 * JSON between the page and the server that keeps NaN and ±Infinity (plain
 * JSON turns them into null, and a report's NaN output would read as "null").
 *
 * @module
 */

/**
 * JSON text with non-finite numbers as `{"$number": "NaN"}`.
 *
 * @param value Anything JSON can hold, plus NaN and the infinities.
 * @returns The text.
 */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_, v) => typeof v === "number" && !Number.isFinite(v) ? { $number: String(v) } : v);
}

/**
 * The reviver of {@linkcode toJson}'s text, for `JSON.parse`.
 *
 * @param _ The key.
 * @param v The value.
 * @returns The revived value.
 */
export function reviveNumbers(_: string, v: unknown): unknown {
  return v && typeof v === "object" && "$number" in v && Object.keys(v).length === 1
    ? Number((v as { $number: string }).$number)
    : v;
}
