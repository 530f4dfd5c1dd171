/**
 * The fresh-case flags of `deno task conform`: `--random N [--seed S] [--extremes]`,
 * `--save-failures DIR`, `--exhaustive float16|bfloat16`, `--shard K/N`.
 * Validation errors are {@linkcode UsageError}s: conform prints them and exits 2.
 *
 * @module
 */

import {
  type Capabilities,
  type CaseReport,
  drawSeed,
  type FixtureCase,
  type FixtureFile,
  fixtureText,
  parseSeed,
  parseShard,
  randomCase,
  type RunHeader,
  type Selection,
  selects,
  type Shard,
  shardOf,
  unsupportedReason,
} from "../../mod.ts";
import denoJson from "../../deno.json" with { type: "json" };

/** The suite's version, from deno.json. */
export const SUITE_VERSION: string = denoJson.version;

/** A bad command line: the message names the flag and what is allowed. */
export class UsageError extends Error {
  /**
   * @param message What is wrong, naming the flag.
   */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** The parsed fresh-case flags. */
export interface FreshFlags {
  /** Number of random cases, when `--random` is given. */
  readonly random?: number;
  /** The seed (drawn when `--random` is given without `--seed`). */
  readonly seed?: bigint;
  /** Whether the seed was drawn. */
  readonly seedDrawn?: boolean;
  /** Float64 extremes in random cases. */
  readonly extremes: boolean;
  /** Where to write failing cases. */
  readonly saveFailures?: string;
  /** `--exhaustive` dtype. */
  readonly exhaustive?: "float16" | "bfloat16";
  /** `--shard K/N`. */
  readonly shard?: Shard;
}

/**
 * Validates the flags.
 *
 * @param v The raw values of parseArgs.
 * @returns The flags.
 * @throws {UsageError} On a bad count, seed or dtype.
 */
export function freshFlags(v: Record<string, unknown>): FreshFlags {
  let random: number | undefined;
  if (v.random !== undefined) {
    const t = String(v.random).trim();
    if (!/^[0-9]+$/.test(t) || !Number.isSafeInteger(Number(t)) || Number(t) < 1) {
      throw new UsageError(`--random ${JSON.stringify(v.random)}: the number of cases must be an integer >= 1`);
    }
    random = Number(t);
  }
  let seed: bigint | undefined;
  if (v.seed !== undefined) {
    if (random === undefined) throw new UsageError("--seed needs --random N");
    try {
      seed = parseSeed(String(v.seed));
    } catch (e) {
      throw new UsageError(`--seed: ${(e as Error).message}`);
    }
  }
  if (v.extremes && random === undefined) throw new UsageError("--extremes needs --random N");
  let exhaustive: FreshFlags["exhaustive"];
  if (v.exhaustive !== undefined) {
    if (v.exhaustive !== "float16" && v.exhaustive !== "bfloat16") {
      throw new UsageError(`--exhaustive ${JSON.stringify(v.exhaustive)}: must be float16 or bfloat16`);
    }
    if (random !== undefined) throw new UsageError("--exhaustive and --random exclude each other");
    exhaustive = v.exhaustive;
  }
  let shard: Shard | undefined;
  if (v.shard !== undefined) {
    try {
      shard = parseShard(String(v.shard));
    } catch (e) {
      throw new UsageError(`--shard: ${(e as Error).message}`);
    }
  }
  const drawn = random !== undefined && seed === undefined;
  return {
    ...(random !== undefined ? { random, seed: seed ?? drawSeed(), seedDrawn: drawn } : {}),
    extremes: Boolean(v.extremes),
    ...(v["save-failures"] !== undefined ? { saveFailures: String(v["save-failures"]) } : {}),
    ...(exhaustive ? { exhaustive } : {}),
    ...(shard ? { shard } : {}),
  };
}

/**
 * The selected cases of every file, every N-th from the K-th (files keep their
 * own cases; empty files are dropped).
 *
 * @param files The files of the run.
 * @param select The run's selection.
 * @param shard The shard.
 * @returns The shard's files.
 */
export function shardFiles(files: readonly FixtureFile[], select: Selection, shard: Shard): FixtureFile[] {
  const all = files.flatMap((f) =>
    f.cases.filter((c) => selects(c, f.provenance.source, select)).map((c) => ({ f, c }))
  );
  const mine = new Set(shardOf(all, shard).map(({ c }) => c));
  return files.map((f) => ({ ...f, cases: f.cases.filter((c) => mine.has(c)) })).filter((f) => f.cases.length);
}

/**
 * The header of a JSON report: what must agree for shards to merge.
 *
 * @param v The raw flag values.
 * @param fresh The fresh-case flags.
 * @param implementation The implementation's name.
 * @returns The header.
 */
export function runHeader(v: Record<string, unknown>, fresh: FreshFlags, implementation: string): RunHeader {
  const flags = ["source", "feature", "exclude-feature", "dtype", "name", "fixtures", "xfail"]
    .filter((k) => v[k] !== undefined)
    .map((k) => `--${k} ${JSON.stringify(v[k])}`);
  const what = fresh.random !== undefined
    ? `random ${fresh.random}${fresh.extremes ? " extremes" : ""}`
    : fresh.exhaustive
    ? `exhaustive ${fresh.exhaustive}`
    : "fixtures";
  return {
    suiteVersion: SUITE_VERSION,
    selection: [what, ...flags].join(" "),
    ...(fresh.seed !== undefined ? { seed: String(fresh.seed) } : {}),
    implementation,
    ...(fresh.shard ? { shard: fresh.shard } : {}),
  };
}

/**
 * `count` random cases of `seed` that the selection keeps and the implementation
 * can run: indices 0, 1, … are drawn in order and the others are passed over, so
 * every case keeps its (seed, index) name.
 *
 * @param seed The seed.
 * @param count Cases wanted.
 * @param select The selection (dtype, feature, name; source is `random`).
 * @param extremes Float64 extremes.
 * @param supports The implementation's capabilities: cases it would skip are passed over.
 * @returns One in-memory fixture file.
 * @throws {UsageError} When the selection keeps nothing in 100·count draws.
 */
export function randomFile(
  seed: bigint,
  count: number,
  select: Selection,
  extremes: boolean,
  supports?: Capabilities,
): FixtureFile {
  const cases: FixtureCase[] = [];
  const limit = 100 * count + 1000;
  let i = 0;
  for (; cases.length < count && i < limit; i++) {
    const c = randomCase(seed, i, extremes);
    if (selects(c, "random", select) && (!supports || unsupportedReason(c, supports) === undefined)) cases.push(c);
  }
  if (cases.length < count) {
    throw new UsageError(
      `the selection${supports ? " and the implementation's capabilities" : ""} keep ${cases.length} of ${i} ` +
        `random cases; fewer than the ${count} asked for`,
    );
  }
  return {
    url: `random:${seed}`,
    formatVersion: "1.2",
    provenance: {
      source: "random",
      framework: "exact evaluator",
      version: "src/conformance/exact.ts",
      api: "exactStepWithScales",
      generator: "src/conformance/random.ts",
      command: `deno task conform --random ${count} --seed ${seed}${extremes ? " --extremes" : ""}`,
      seed: 0,
      composed: true,
    },
    cases,
  };
}

/**
 * Writes the failing cases of a run as one fixture file `DIR/random-<seed>.json`
 * (atomically: a temporary file renamed into place).
 *
 * @param dir The folder (created when missing).
 * @param reports The run's case reports.
 * @param files The files the run judged.
 * @param seed The seed, for the file's name and provenance.
 * @returns The path written, or undefined when nothing failed.
 */
export async function saveFailures(
  dir: string,
  reports: readonly CaseReport[],
  files: readonly FixtureFile[],
  seed: bigint | undefined,
): Promise<string | undefined> {
  const failed = new Set(reports.filter((r) => r.status === "fail" || r.status === "xpass").map((r) => r.name));
  const cases = files.flatMap((f) => f.cases).filter((c) => failed.has(c.name));
  if (!cases.length) return undefined;
  await Deno.mkdir(dir, { recursive: true });
  const path = `${dir.replace(/\/+$/, "")}/${seed === undefined ? "failures" : `random-${seed}`}.json`;
  const tmp = `${path}.tmp-${Deno.pid}`;
  try {
    await Deno.writeTextFile(tmp, fixtureText(cases, seed ?? 0n));
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
  return path;
}
