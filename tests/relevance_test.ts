/**
 * The skip rules of unsupportedReason, each against the convention text and the reference: a field called
 * irrelevant to a case never changes an answer of the reference on that case (so skipping on it would only hide the
 * case), each relevant field changes some case's answers, and the rule of one value per channel covers inference
 * steps without running statistics.
 */
import { assert, assertEquals } from "@std/assert";
import {
  type BatchNormConvention,
  caseRequests,
  channelIndex,
  compareExact,
  compareTensor,
  equivalentValue,
  type FixtureCase,
  loadAllFixtures,
  referenceAdapter,
  relevantFields,
  type StepOutputs,
  tensorDType,
  unsupportedReason,
} from "../mod.ts";
import { CONVENTION_VALUES } from "../src/reference/convention.ts";

const cases = (await loadAllFixtures()).flatMap((f) => f.cases);

/** The other values a field can take, for trying them. */
function others(c: FixtureCase, key: keyof BatchNormConvention): unknown[] {
  const v = c.convention[key];
  if (key in CONVENTION_VALUES) {
    return (CONVENTION_VALUES[key as keyof typeof CONVENTION_VALUES] as readonly string[]).filter((o) => o !== v)
      .filter((o) => key !== "momentumKind" || (o === "cumulative") === (c.convention.momentum === null));
  }
  if (key === "momentum") return v === null ? [] : [0.5, 0.01];
  if (key === "epsilonFloor") return [0, 1e-9, c.convention.epsilon];
  return [];
}

/** Every answer of the reference to a case's steps under a convention. */
function answers(c: FixtureCase, convention: BatchNormConvention): StepOutputs[] {
  return caseRequests(c).map((r) => {
    try {
      return referenceAdapter({ ...r, convention });
    } catch (e) {
      return { error: { code: "threw", message: String(e) } };
    }
  });
}

/**
 * Where two sets of answers differ by more than 1 ULP of the case's dtype at each tensor's peak (an irrelevant
 * field may take another, equally exact, path through the reference's arithmetic), or undefined when they agree.
 */
function difference(c: FixtureCase, a: StepOutputs[], b: StepOutputs[]): string | undefined {
  for (const [i, x] of a.entries()) {
    const y = b[i];
    if (x.error?.code !== y.error?.code) return `step ${i}: ${x.error?.code} vs ${y.error?.code}`;
    if (x.num_batches_tracked !== y.num_batches_tracked) return `step ${i}: num_batches_tracked`;
    const names = new Set([...Object.keys(x.outputs ?? {}), ...Object.keys(y.outputs ?? {})]);
    for (const name of names) {
      const p = x.outputs?.[name], q = y.outputs?.[name];
      if (!p || !q) return `step ${i}: ${name} present in one only`;
      // 1 ULP at the judge's error scale (format 1.2's exact_scale, the magnitude of the terms), else at the peak.
      // Format 1.3: in the output's own group's dtype.
      const step = c.steps[i], scale = step.exactScale?.[name], dtype = tensorDType(c, name);
      const cmp = scale
        ? compareExact(p.data, q.data, (k) => scale[channelIndex(c, step, name)(k)], dtype, 1)
        : compareTensor(p.data, q.data, dtype, 1);
      if (!cmp.pass) return `step ${i}: ${name}[${cmp.worstIndex}] ${cmp.actual} vs ${cmp.expected}`;
    }
  }
  return undefined;
}

const FIELDS = ["epsilonFloor", "epsilonPlacement", "emptyBatch", "singleValueTraining", "zeroVarianceInvStd"] as const;
const RUNNING = ["momentum", "momentumKind", "runningVariance"] as const;

Deno.test("a value called equivalent for a case never changes the reference's answers there", () => {
  let tried = 0;
  for (const c of cases) {
    const base = answers(c, c.convention);
    for (const key of [...FIELDS, ...RUNNING]) {
      for (const v of others(c, key)) {
        if (!equivalentValue(c, key, v)) continue;
        const changed = { ...c.convention, [key]: v } as BatchNormConvention;
        if (key === "momentumKind" && v === "cumulative") Object.assign(changed, { momentum: null });
        const d = difference(c, answers(c, changed), base);
        assert(d === undefined, `${c.name}: ${key}=${JSON.stringify(v)} changed an answer: ${d}`);
        tried++;
      }
    }
  }
  assert(tried > 500, `only ${tried} field changes tried`);
});

Deno.test("each field the rules can call irrelevant is relevant to some case, where changing it changes an answer", () => {
  for (const key of [...FIELDS, ...RUNNING]) {
    const shown = cases.some((c) =>
      relevantFields(c)[key] &&
      others(c, key).some((v) =>
        difference(c, answers(c, { ...c.convention, [key]: v } as BatchNormConvention), answers(c, c.convention))
      )
    );
    assert(shown, `${key}: no case where it is relevant shows it`);
  }
});

Deno.test("one value per channel matters to an inference step without running statistics too", () => {
  const c = cases.find((c) =>
    c.name === "pytorch BatchNorm1d float32 1x3 eval untracked refuses one value per channel"
  )!;
  assert(c.steps.every((s) => s.mode === "eval") && !c.convention.trackRunningStats);
  assert(relevantFields(c).singleValueTraining);
  const reason = unsupportedReason(c, { conventions: { singleValueTraining: ["allow"] } });
  assert(reason?.includes("singleValueTraining"), `not skipped: ${reason}`);
  assertEquals(unsupportedReason(c, { conventions: { singleValueTraining: ["error"] } }), undefined);
});

Deno.test("an eval-only case with running statistics is judged for any momentum reading and running-variance form", () => {
  const c = cases.find((c) => c.steps.every((s) => s.mode === "eval") && c.convention.trackRunningStats)!;
  assertEquals(
    unsupportedReason(c, { conventions: { momentumKind: ["old"], runningVariance: ["biased"] } }),
    undefined,
  );
  const t = cases.find((c) =>
    c.steps.some((s) => s.mode === "train" && s.inputs.x.data.length > 0) && c.convention.trackRunningStats &&
    c.convention.momentumKind === "new"
  )!;
  assert(unsupportedReason(t, { conventions: { momentumKind: ["old"] } })?.includes("momentumKind"));
});

Deno.test("epsilon's floor is relevant only below it, its placement only when epsilon is not 0", () => {
  const floored = cases.filter((c) => c.convention.epsilonFloor > 0);
  assert(floored.length > 0);
  for (const c of floored) {
    assertEquals(relevantFields(c).epsilonFloor, c.convention.epsilon < c.convention.epsilonFloor, c.name);
    assertEquals(equivalentValue(c, "epsilonFloor", 0), c.convention.epsilon >= c.convention.epsilonFloor, c.name);
  }
  // A floor above a case's epsilon would take effect: not equivalent, though the case's own floor is 0.
  const plain = cases.find((c) => c.convention.epsilonFloor === 0 && c.convention.epsilon === 1e-5)!;
  assert(!equivalentValue(plain, "epsilonFloor", 1.001e-5) && equivalentValue(plain, "epsilonFloor", 1e-6));
  const zero = cases.filter((c) => Math.max(c.convention.epsilon, c.convention.epsilonFloor) === 0);
  assert(zero.length > 0 && zero.some((c) => !relevantFields(c).epsilonPlacement));
  assert(
    zero.some((c) => relevantFields(c).zeroVarianceInvStd) && zero.some((c) => !relevantFields(c).zeroVarianceInvStd),
  );
});
