/**
 * A reader of untyped JSON that fails with a {@linkcode FixtureError} naming the
 * file and the JSON path of what is wrong.
 *
 * @module
 */

import { type DType, isDType, isRepresentable } from "../reference/dtype.ts";
import type { Tensor } from "../reference/tensor.ts";
import { FixtureError } from "./fixture.ts";

export type Json = unknown;
export class Reader {
  constructor(readonly file: string) {}
  fail(path: string, reason: string): never {
    throw new FixtureError(this.file, path, reason);
  }
  object(v: Json, path: string): Record<string, Json> {
    if (v === null || typeof v !== "object" || Array.isArray(v)) {
      this.fail(path, "must be an object");
    }
    return v as Record<string, Json>;
  }
  string(v: Json, path: string): string {
    if (typeof v !== "string") this.fail(path, "must be a string");
    return v;
  }
  integer(v: Json, path: string): number {
    if (!Number.isSafeInteger(v) || (v as number) < 0) {
      this.fail(path, "must be a non-negative integer");
    }
    return v as number;
  }
  boolean(v: Json, path: string): boolean {
    if (typeof v !== "boolean") this.fail(path, "must be true or false");
    return v;
  }
  oneOf<T extends string>(v: Json, path: string, allowed: readonly T[]): T {
    if (!(allowed as readonly Json[]).includes(v)) {
      this.fail(
        path,
        `must be one of ${allowed.map((a) => JSON.stringify(a)).join(", ")}`,
      );
    }
    return v as T;
  }
  /** A finite JSON number, or one of the strings "NaN", "Infinity", "-Infinity". */
  number(v: Json, path: string): number {
    if (typeof v === "number") return v;
    if (v === "NaN") return NaN;
    if (v === "Infinity") return Infinity;
    if (v === "-Infinity") return -Infinity;
    this.fail(
      path,
      `must be a number or "NaN", "Infinity", "-Infinity" (got ${JSON.stringify(v)})`,
    );
  }
  tensor(v: Json, path: string, dtype?: DType): Tensor {
    const o = this.object(v, path);
    const d = o.dtype;
    if (!isDType(d)) {
      this.fail(`${path}.dtype`, `unknown dtype ${JSON.stringify(d)}`);
    }
    if (dtype && d !== dtype && d !== "float64") {
      this.fail(
        `${path}.dtype`,
        `must be "${dtype}" or "float64" (got "${d}")`,
      );
    }
    if (!Array.isArray(o.shape)) this.fail(`${path}.shape`, "must be an array");
    const shape = o.shape.map((s, i) => this.integer(s, `${path}.shape[${i}]`));
    if (!Array.isArray(o.data)) this.fail(`${path}.data`, "must be an array");
    const size = shape.reduce((a, b) => a * b, 1);
    if (o.data.length !== size) {
      this.fail(
        `${path}.data`,
        `has ${o.data.length} values, shape [${shape.join(", ")}] needs ${size}`,
      );
    }
    const data = new Float64Array(size);
    o.data.forEach((x, i) => {
      const n = this.number(x, `${path}.data[${i}]`);
      if (!isRepresentable(n, d)) {
        this.fail(`${path}.data[${i}]`, `${n} is not a ${d} value`);
      }
      data[i] = n;
    });
    return { dtype: d, shape, data };
  }
}
