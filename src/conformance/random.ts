/**
 * Fresh cases on demand: a seeded generator of fixture cases (the in-memory
 * {@linkcode FixtureCase} of the format) whose expectations come from the exact
 * evaluator ({@linkcode exactStepIn}), so no fixed set can be learned.
 *
 * A run is named by a seed, an integer in 0..2^64−1 (written in decimal), and a
 * case by (seed, index): case i is the same whatever the count or the shard. The
 * generator is splitmix64 on BigInt. Cases span every convention the format
 * states, ranks 2–5 (the format and the reference require rank >= 2), every
 * channel axis but the batch axis (positive and negative), every dtype, step
 * sequences (training, inference, refused calls, running statistics carried
 * from step to step, gradients) and edge-rich data: |mean|/std up to 1e6,
 * epsilon 0, constant channels, one and two values per channel, subnormal and
 * near-overflow magnitudes, momentum 0 and 1, empty batches.
 *
 * @module
 */

import { type BatchNormConvention, CONVENTION_VALUES } from "../reference/convention.ts";
import { type DType, DTYPES, formatInfo, roundToDType } from "../reference/dtype.ts";
import type { Tensor } from "../reference/tensor.ts";
import { exactStepWithScales } from "./exact.ts";
import { conventionToConfig } from "./config.ts";
import type { FixtureCase, FixtureFile, FixtureStep } from "./fixture.ts";
import type { StepOutputs, StepRequest, StepState } from "./harness.ts";

const MASK = (1n << 64n) - 1n;

/**
 * The largest seed, 2^64 − 1.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { MAX_SEED } from "../../mod.ts";
 * assert(MAX_SEED === 18446744073709551615n);
 * ```
 */
export const MAX_SEED: bigint = MASK;

/**
 * Reads a seed: a decimal integer in 0..2^64−1, nothing else.
 *
 * @param text The seed as written on a command line.
 * @returns The seed.
 * @throws {RangeError} Naming the text and the allowed range.
 *
 * @example
 * ```ts
 * import { assert, assertThrows } from "@std/assert";
 * import { parseSeed } from "../../mod.ts";
 * assert(parseSeed("18446744073709551615") === 2n ** 64n - 1n);
 * assertThrows(() => parseSeed("-1"), RangeError);
 * ```
 */
export function parseSeed(text: string): bigint {
  if (!/^[0-9]+$/.test(text.trim())) {
    throw new RangeError(`seed ${JSON.stringify(text)} is not a decimal integer in 0..${MASK}`);
  }
  const v = BigInt(text.trim());
  if (v > MASK) throw new RangeError(`seed ${text} is outside 0..${MASK}`);
  return v;
}

/**
 * A fresh seed from the platform's cryptographic generator (no permission needed).
 *
 * @returns A seed in 0..2^64−1.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { drawSeed, MAX_SEED } from "../../mod.ts";
 * const s = drawSeed();
 * assert(s >= 0n && s <= MAX_SEED);
 * ```
 */
export function drawSeed(): bigint {
  const [hi, lo] = crypto.getRandomValues(new Uint32Array(2));
  return (BigInt(hi) << 32n) | BigInt(lo);
}

function mix(z: bigint): bigint {
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK;
  return z ^ (z >> 31n);
}

/** splitmix64. */
class Rng {
  #state: bigint;
  constructor(seed: bigint) {
    this.#state = seed & MASK;
  }
  next64(): bigint {
    this.#state = (this.#state + 0x9e3779b97f4a7c15n) & MASK;
    return mix(this.#state);
  }
  /** Uniform in [0, 1), 53 bits. */
  uniform(): number {
    return Number(this.next64() >> 11n) / 2 ** 53;
  }
  /** Integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.uniform() * (hi - lo + 1));
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.uniform() * items.length)];
  }
  chance(p: number): boolean {
    return this.uniform() < p;
  }
  normal(): number {
    const u = 1 - this.uniform(), v = this.uniform();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
  /** 10^U(lo, hi). */
  decades(lo: number, hi: number): number {
    return 10 ** (lo + (hi - lo) * this.uniform());
  }
}

/** The generator of case `index` of the run `seed`: independent of the count and of other cases. */
function caseRng(seed: bigint, index: number): Rng {
  return new Rng(mix((seed ^ mix(BigInt(index) + 0x632be59bd9b4e019n)) & MASK));
}

type Profile = "normal" | "large-mean" | "constant" | "denormal" | "overflow" | "two-values";

function channelValues(rng: Rng, dtype: DType, profile: Profile, count: number, extremes: boolean): number[] {
  const info = formatInfo(dtype);
  const r = (v: number) => roundToDType(v, dtype);
  switch (profile) {
    case "constant": {
      const v = r(rng.normal() * rng.decades(-2, 2));
      return new Array(count).fill(v);
    }
    case "two-values": {
      const a = r(rng.normal() * rng.decades(-1, 1)), b = r(a + rng.decades(-3, 1));
      return Array.from({ length: count }, () => (rng.chance(0.5) ? a : b));
    }
    case "denormal": {
      // Around the smallest normal, down into the subnormals (float64 without extremes: around 2^-200, where
      // squares still are normal binary64 numbers).
      const tiny = dtype === "float64" && !extremes
        ? 2 ** -200 * rng.decades(-3, 1)
        : 2 ** info.minExponent * rng.decades(-(info.precision - 1) * 0.3, 0.6);
      return Array.from({ length: count }, () => r(rng.normal() * tiny));
    }
    case "overflow": {
      // Near the largest finite value (float64 without extremes: around 2^200, where squares and cubes still are finite).
      const top = dtype === "float64" && !extremes
        ? 2 ** 200 * rng.decades(-2, 0)
        : info.maxFinite * rng.decades(-1, 0);
      return Array.from({ length: count }, () => r((rng.chance(0.5) ? -1 : 1) * top * (0.3 + 0.7 * rng.uniform())));
    }
    case "large-mean":
    case "normal": {
      const std = rng.decades(-2, 2);
      const ratio = profile === "large-mean" ? rng.decades(3, 6) : rng.decades(-2, 1);
      const mean = (rng.chance(0.5) ? -1 : 1) * std * ratio;
      return Array.from({ length: count }, () => r(mean + std * rng.normal()));
    }
  }
}

function randomConvention(rng: Rng, rank: number): BatchNormConvention {
  const axis = rng.chance(0.45) ? 1 : rng.chance(0.7) ? rank - 1 : rng.int(1, rank - 1);
  const momentumKind = rng.pick(CONVENTION_VALUES.momentumKind);
  return {
    axis: rng.chance(0.5) ? axis : axis - rank,
    epsilon: rng.pick([0, 1e-5, 1e-5, 1e-3, 0.1, 1.001e-5, roundToDType(rng.decades(-8, 0), "float32")]),
    epsilonFloor: rng.chance(0.8) ? 0 : 1.001e-5,
    epsilonPlacement: rng.chance(0.75) ? "inside" : "outside",
    momentum: momentumKind === "cumulative" ? null : rng.pick([0, 1, 0.1, 0.01, 0.99, 0.9, 0.5, rng.uniform()]),
    momentumKind,
    runningVariance: rng.pick(CONVENTION_VALUES.runningVariance),
    affine: rng.chance(0.75),
    trackRunningStats: rng.chance(0.75),
    singleValueTraining: rng.pick(CONVENTION_VALUES.singleValueTraining),
    zeroVarianceInvStd: rng.pick(CONVENTION_VALUES.zeroVarianceInvStd),
    emptyBatch: rng.pick(CONVENTION_VALUES.emptyBatch),
  };
}

function toTensor(dtype: DType, shape: readonly number[], data: ArrayLike<number>): Tensor {
  return { dtype, shape: [...shape], data: Float64Array.from(data) };
}

function outputsOf(o: StepOutputs, dtype: DType): Record<string, Tensor | number> {
  const e: Record<string, Tensor | number> = {};
  for (const [name, t] of Object.entries(o.outputs ?? {})) e[name] = toTensor(dtype, t.shape, t.data);
  if (o.num_batches_tracked !== undefined) e.num_batches_tracked = o.num_batches_tracked;
  return e;
}

/**
 * Format 1.2's exact fields of a step: `expected_exact` (every tensor output's exact value rounded once to binary64)
 * and `exact_scale` (its error scale per channel), so random and exhaustive cases are judged by the rule fixtures are.
 *
 * @param float64 The exact evaluator's answer rounded to binary64.
 * @param scales The evaluator's scales.
 * @returns The step fields `expectedExact` and `exactScale`.
 */
export function exactFields(
  float64: StepOutputs,
  scales: Record<string, number[]>,
): { expectedExact: Record<string, Tensor>; exactScale: Record<string, number[]> } {
  const expectedExact: Record<string, Tensor> = {};
  for (const [name, t] of Object.entries(float64.outputs ?? {})) {
    expectedExact[name] = toTensor("float64", t.shape, t.data);
  }
  return { expectedExact, exactScale: Object.fromEntries(Object.keys(expectedExact).map((k) => [k, scales[k]])) };
}

/**
 * Case `index` of the random run `seed`, with the exact evaluator's expectations
 * (in the case's dtype, and for narrower dtypes a float64 twin: the exact value
 * rounded to binary64).
 *
 * Float64 cases keep their data where binary64 intermediates suffice (tiny
 * values near 2^-200, huge ones near 2^200) unless `extremes` is set: then they
 * too reach the subnormals and the largest finite values, where squares leave
 * binary64's range (the reference does not pass those; see docs/random.md).
 *
 * @param seed The run's seed, 0..2^64−1.
 * @param index The case's index in the run.
 * @param extremes Float64 data down to the subnormals and up to the largest finite value.
 * @returns The case, named `random <seed>#<index> …` (`random! …` with extremes).
 *
 * @example
 * ```ts
 * import { assert, assertEquals } from "@std/assert";
 * import { randomCase } from "../../mod.ts";
 * const c = randomCase(42n, 7);
 * assert(c.name.startsWith("random 42#7 "));
 * assertEquals(randomCase(42n, 7), c); // reproducible
 * ```
 */
export function randomCase(seed: bigint, index: number, extremes = false): FixtureCase {
  const rng = caseRng(seed, index);
  const dtype = rng.pick(DTYPES);
  const rank = rng.int(2, 5);
  const convention = randomConvention(rng, rank);
  const axis = convention.axis < 0 ? convention.axis + rank : convention.axis;
  const channels = rng.chance(0.1) ? 1 : rng.int(1, 4);
  const budget = rng.pick([8, 24, 64, 128]); // elements per channel, at most
  const base: number[] = [];
  let left = budget;
  for (let d = 0; d < rank; d++) {
    if (d === axis) base.push(channels);
    else {
      const size = Math.max(1, Math.min(left, rng.int(1, d === 0 ? 6 : 4)));
      base.push(size);
      left = Math.max(1, Math.floor(left / size));
    }
  }
  if (base.reduce((a, b) => a * b, 1) / channels < 2) base[0] = 2; // at least two values per channel, by default
  const profiles: Profile[] = Array.from(
    { length: channels },
    () =>
      rng.pick<Profile>(["normal", "normal", "normal", "large-mean", "constant", "denormal", "overflow", "two-values"]),
  );
  const r = (v: number) => roundToDType(v, dtype);
  const vec = (f: () => number) => toTensor(dtype, [channels], Array.from({ length: channels }, () => r(f())));
  const tracked = convention.trackRunningStats;
  const initialState = {
    ...(convention.affine
      ? {
        gamma: vec(() => (rng.chance(0.1) ? 0 : rng.normal() * rng.decades(-1, 1))),
        beta: vec(() => (rng.chance(0.2) ? 0 : rng.normal() * rng.decades(-2, 2))),
      }
      : {}),
    ...(tracked
      ? {
        runningMean: vec(() => (rng.chance(0.3) ? 0 : rng.normal() * rng.decades(-1, 2))),
        runningVar: vec(() => (rng.chance(0.1) ? 0 : rng.chance(0.3) ? 1 : rng.decades(-3, 3))),
        numBatchesTracked: rng.chance(0.5) ? 0 : rng.int(1, 50),
      }
      : {}),
  };
  let state: StepState = {
    gamma: initialState.gamma,
    beta: initialState.beta,
    running_mean: initialState.runningMean,
    running_var: initialState.runningVar,
    num_batches_tracked: initialState.numBatchesTracked ?? 0,
  };
  const backward = rng.chance(0.6);
  const stepCount = rng.pick([1, 1, 2, 3, 4]);
  const steps: FixtureStep[] = [];
  const seen = new Set<string>();
  for (let s = 0; s < stepCount; s++) {
    const mode = s === 0 || rng.chance(0.6) ? (rng.chance(0.8) ? "train" : "eval") : "eval";
    const shape = [...base];
    const special = rng.uniform();
    if (special < 0.06) shape[0] = 0; // an empty batch
    else if (special < 0.14) {
      for (let d = 0; d < rank; d++) {
        if (d !== axis) shape[d] = 1; // one value per channel
        else if (s > 0 && rng.chance(0.3)) shape[0] = rng.int(1, 6);
      }
    }
    const outer = shape.slice(0, axis).reduce((a, b) => a * b, 1),
      inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
    const n = outer * inner;
    const data = new Float64Array(n * channels);
    for (let ch = 0; ch < channels; ch++) {
      const vals = channelValues(rng, dtype, profiles[ch], n, extremes);
      let j = 0;
      for (let o = 0; o < outer; o++) for (let i = 0; i < inner; i++) data[(o * channels + ch) * inner + i] = vals[j++];
    }
    const x = toTensor(dtype, shape, data);
    const dy = backward
      ? toTensor(dtype, shape, Array.from(data, () => r(rng.normal() * rng.decades(-1, 1))))
      : undefined;
    const request: StepRequest = { mode, dtype, convention, x, ...(dy ? { dy } : {}), state };
    const { answers: [own, twin], scales } = exactStepWithScales(request, [dtype, "float64"]);
    if (own.error) {
      steps.push({
        mode,
        inputs: dy ? { x, dy } : { x },
        expectedError: { code: own.error.code, type: "BatchNormError", message: own.error.message },
      });
      seen.add("expected-error");
      continue;
    }
    const expected = outputsOf(own, dtype);
    steps.push({
      mode,
      inputs: dy ? { x, dy } : { x },
      expected,
      ...(dtype === "float64" ? {} : { expectedFloat64: outputsOf(twin, "float64") }),
      ...exactFields(twin, scales!),
    });
    if (mode === "train" && tracked) {
      state = {
        ...state,
        running_mean: expected.running_mean as Tensor,
        running_var: expected.running_var as Tensor,
        num_batches_tracked: expected.num_batches_tracked as number,
      };
    }
    if (n === 0) seen.add("empty-batch");
    if (n === 1) seen.add("single-value-per-channel");
  }
  const features = new Set<string>(seen);
  for (const st of steps) features.add(st.mode === "train" ? "training" : "inference");
  if (steps.length > 1) features.add("multi-step");
  if (backward) features.add("backward");
  if (convention.momentumKind === "cumulative") features.add("momentum-cumulative");
  if (convention.momentum === 0 || convention.momentum === 1) features.add("momentum-extreme");
  if (!convention.affine) features.add("no-affine");
  if (!tracked) features.add("untracked-stats");
  if (convention.epsilonPlacement === "outside") features.add("epsilon-placement");
  if (Math.max(convention.epsilon, convention.epsilonFloor) === 0) features.add("zero-variance");
  for (const p of profiles) {
    if (p === "large-mean" || ((p === "denormal" || p === "overflow") && (dtype !== "float64" || extremes))) {
      features.add(p);
    }
    if (p === "constant") features.add("zero-variance");
  }
  features.add("edge-case");
  const layout = axis === 1 ? "channels-first" : axis === rank - 1 ? "channels-last" : `axis ${convention.axis}`;
  return {
    name: `random${extremes ? "!" : ""} ${seed}#${index} ${dtype} [${base.join(", ")}] ${layout} ${
      steps.map((s) => s.mode).join("+")
    }`,
    description: `Random case ${index} of seed ${seed} (channel profiles: ${profiles.join(", ")}); ` +
      "expectations from the exact evaluator, correctly rounded.",
    features: [...features].sort(),
    api: "exact evaluator",
    seed: index,
    dtype,
    convention,
    initialState,
    steps,
  };
}

/**
 * A run of random cases as a fixture file (source `random`), which
 * {@linkcode runSuite} runs like any other.
 *
 * @param seed The run's seed.
 * @param count Number of cases.
 * @param options `start`: index of the first case (default 0); `extremes`: see {@linkcode randomCase}.
 * @returns The file, in memory.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { randomFixtureFile, referenceAdapter, runSuite } from "../../mod.ts";
 * const report = await runSuite([randomFixtureFile(7n, 5)], { name: "reference", adapter: referenceAdapter });
 * assertEquals(report.totals.pass, 5);
 * ```
 */
export function randomFixtureFile(
  seed: bigint,
  count: number,
  options: { readonly start?: number; readonly extremes?: boolean } = {},
): FixtureFile {
  const start = options.start ?? 0;
  if (!Number.isSafeInteger(count) || count < 0) throw new RangeError(`case count ${count} must be an integer >= 0`);
  return {
    url: `random:${seed}`,
    formatVersion: "1.2",
    provenance: randomProvenance(seed, count),
    cases: Array.from({ length: count }, (_, i) => randomCase(seed, start + i, options.extremes)),
  };
}

function randomProvenance(seed: bigint, count: number) {
  return {
    source: "random",
    framework: "exact evaluator",
    version: "src/conformance/exact.ts",
    api: "exactStepWithScales",
    generator: "src/conformance/random.ts",
    command: `deno task conform --random ${count} --seed ${seed}`,
    seed: 0,
    composed: true,
    notes: [
      `random seed ${seed} (decimal; the integer field seed is 0 because seeds exceed 2^53); each case's seed is its index`,
      "expectations are exact values correctly rounded by the exact evaluator, not a framework's output",
    ],
  };
}

function num(v: number): number | string {
  return Number.isNaN(v) ? "NaN" : v === Infinity ? "Infinity" : v === -Infinity ? "-Infinity" : v;
}

function tensorJson(t: Tensor): unknown {
  return { dtype: t.dtype, shape: [...t.shape], data: Array.from(t.data, num) };
}

function outputsJson(o: Readonly<Record<string, Tensor | number>>): unknown {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, typeof v === "number" ? v : tensorJson(v)]));
}

/**
 * Cases as the text of a fixture file in the format (for `--save-failures`): a
 * file that `parseFixture` reads back to the same cases.
 *
 * @param cases The cases (random ones, or any).
 * @param seed The random run's seed, for the provenance.
 * @returns JSON text.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { fixtureText, parseFixture, randomCase } from "../../mod.ts";
 * const c = randomCase(3n, 1);
 * assertEquals(parseFixture(fixtureText([c], 3n), "x.json").cases[0].name, c.name);
 * ```
 */
export function fixtureText(cases: readonly FixtureCase[], seed: bigint): string {
  // Format 1.3 when a case is mixed-precision or switches center/scale apart; else 1.2, as before.
  const v13 = cases.some((c) => c.dtypes || c.convention.center !== undefined || c.convention.scale !== undefined);
  const json = {
    format: "batchnorm-conformance-fixture",
    format_version: v13 ? "1.3" : "1.2",
    provenance: randomProvenance(seed, cases.length),
    cases: cases.map((c) => ({
      name: c.name,
      description: c.description,
      features: c.features,
      api: c.api,
      seed: c.seed,
      dtype: c.dtype,
      ...(c.dtypes ? { dtypes: c.dtypes } : {}),
      config: conventionToConfig(c.convention),
      initial_state: Object.fromEntries(
        ([
          ["gamma", c.initialState.gamma],
          ["beta", c.initialState.beta],
          ["running_mean", c.initialState.runningMean],
          ["running_var", c.initialState.runningVar],
          ["num_batches_tracked", c.initialState.numBatchesTracked],
        ] as const).filter(([, v]) => v !== undefined).map(([k, v]) => [k, typeof v === "number" ? v : tensorJson(v!)]),
      ),
      steps: c.steps.map((s) => ({
        mode: s.mode,
        inputs: Object.fromEntries(Object.entries(s.inputs).map(([k, v]) => [k, tensorJson(v)])),
        ...(s.expected ? { expected: outputsJson(s.expected) } : {}),
        ...(s.expectedFloat64 ? { expected_float64: outputsJson(s.expectedFloat64) } : {}),
        ...(s.expectedExact ? { expected_exact: outputsJson(s.expectedExact) } : {}),
        ...(s.exactScale ? { exact_scale: s.exactScale } : {}),
        ...(s.expectedError ? { expected_error: s.expectedError } : {}),
      })),
    })),
  };
  // -0 survives as -0.0 (JSON.stringify writes it as 0).
  return JSON.stringify(json, (_k, v) => (Object.is(v, -0) ? "__NEGZERO__" : v), 1)
    .replaceAll('"__NEGZERO__"', "-0.0") + "\n";
}
