/**
 * Shared by the TypeScript fixture generators: seeded inputs that reproduce bit
 * for bit on any engine, and the fixture file writer (same layout as
 * scripts/generators/gen_pytorch.py: objects indented, numeric arrays on one line, exact
 * shortest round-trip numbers, non-finite values as strings, atomic rename).
 *
 * @module
 */

import { type DType, roundToDType, type Tensor } from "../../mod.ts";

/** A seeded stream of uniform numbers in [0, 1) from 32-bit integer arithmetic alone (xorshift32), the same on any engine. */
export function uniformStream(seed: number): () => number {
  let s = (seed >>> 0) || 0x9e3779b9;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
}

/** A seeded stream of approximately normal numbers (Irwin-Hall sum of 12 uniforms from {@link uniformStream}). */
export function normalStream(seed: number): (mean?: number, std?: number) => number {
  const uniform = uniformStream(seed);
  return (mean = 0, std = 1) => {
    let sum = 0;
    for (let i = 0; i < 12; i++) sum += uniform();
    return mean + std * (sum - 6);
  };
}

/** A stable 32-bit hash of a string (FNV-1a), to derive a case's seed from its name. */
export function hashName(name: string): number {
  let h = 0x811c9dc5;
  for (const b of new TextEncoder().encode(name)) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h;
}

/** A tensor of `dtype` whose values are `values` rounded once to it. */
export function makeTensor(dtype: DType, shape: readonly number[], values: ArrayLike<number>): Tensor {
  return { dtype, shape: [...shape], data: Float64Array.from(values, (v) => roundToDType(v, dtype)) };
}

/** Row-major values of shape (N, C, ...) whose channel c has mean means[c] and spread stds[c]. */
export function channelData(
  next: (m?: number, s?: number) => number,
  shape: readonly number[],
  means: number[],
  stds: number[],
): number[] {
  const inner = shape.slice(2).reduce((a, b) => a * b, 1);
  const out: number[] = [];
  for (let n = 0; n < shape[0]; n++) {
    for (let c = 0; c < shape[1]; c++) for (let i = 0; i < inner; i++) out.push(next(means[c], stds[c]));
  }
  return out;
}

/** Inputs of one step from the seeded stream: NCHW-ordered values for a shape, given per-channel means and spreads. */
export type InputFn = (
  next: (m?: number, s?: number) => number,
  shape: readonly number[],
  means: number[],
  stds: number[],
) => number[];

type Next = (m?: number, s?: number) => number;

/** Edge-case inputs: channel 0 constant (3.0), the rest as usual. */
export function constantChannel(next: Next, shape: readonly number[], means: number[], stds: number[]): number[] {
  const data = channelData(next, shape, means, stds);
  const inner = data.length / (shape[0] * shape[1]);
  for (let n = 0; n < shape[0]; n++) for (let i = 0; i < inner; i++) data[n * shape[1] * inner + i] = 3;
  return data;
}

/** Edge-case inputs: the usual values with element 1 (in channel 0) replaced by `value`. */
export function poke(value: number): InputFn {
  return (next: Next, shape: readonly number[], means: number[], stds: number[]): number[] => {
    const data = channelData(next, shape, means, stds);
    data[1] = value;
    return data;
  };
}

/** Edge-case inputs: center + scale · noise, clamped to ±limit so float32 rounding cannot make an infinity. */
export function spread(center: number, scale: number, limit = 3e38): InputFn {
  return (next: Next, shape: readonly number[]): number[] =>
    Array.from(
      { length: shape.reduce((a, b) => a * b, 1) },
      () => Math.max(-limit, Math.min(limit, center + scale * next())),
    );
}

/** A tensor as fixture JSON. */
export function encodeTensor(t: Tensor): { dtype: DType; shape: number[]; data: number[] } {
  return { dtype: t.dtype, shape: [...t.shape], data: Array.from(t.data) };
}

function num(v: number): string {
  if (Number.isNaN(v)) return '"NaN"';
  if (v === Infinity) return '"Infinity"';
  if (v === -Infinity) return '"-Infinity"';
  if (Object.is(v, -0)) return "-0.0";
  return String(v);
}

function dump(value: unknown, indent: number): string {
  const pad = "  ".repeat(indent + 1), close = "  ".repeat(indent);
  if (Array.isArray(value)) {
    if (value.every((v) => typeof v === "number")) return `[${value.map(num).join(", ")}]`;
    if (value.length === 0) return "[]";
    return `[\n${value.map((v) => pad + dump(v, indent + 1)).join(",\n")}\n${close}]`;
  }
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined);
    if (entries.length === 0) return "{}";
    return `{\n${entries.map(([k, v]) => `${pad}${JSON.stringify(k)}: ${dump(v, indent + 1)}`).join(",\n")}\n${close}}`;
  }
  if (typeof value === "number") return num(value);
  return JSON.stringify(value);
}

/** Serializes a fixture document in the suite's layout. */
export function fixtureText(doc: unknown): string {
  return dump(doc, 0) + "\n";
}

/** Writes a file through a temporary name and a rename, so a reader never sees half of it. */
export function writeAtomic(url: URL, content: string | Uint8Array): void {
  const tmp = new URL(`${url.pathname.split("/").pop()}.tmp`, url);
  if (typeof content === "string") Deno.writeTextFileSync(tmp, content);
  else Deno.writeFileSync(tmp, content);
  Deno.renameSync(tmp, url);
}
