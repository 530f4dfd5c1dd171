/**
 * The conformance machinery: what judges any BatchNorm implementation against
 * the golden fixtures. The fixture loader and its checks, the tolerance policy,
 * the harness that turns a case into requests and judges the answers, the suite
 * runner with selection and expected failures, the subprocess protocol for
 * implementations in other languages, fingerprinting and reports.
 *
 * Data flows fixture → loader (`load_fixtures.ts`, `parse_fixture.ts`) → harness (`harness.ts`, judged by
 * `tolerance.ts`) → runner (`runner.ts`) → report (`report.ts`); an
 * implementation sits behind an adapter or the protocol (`subprocess.ts`).
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { compareTensor } from "./mod.ts";
 *
 * const r = compareTensor([1, -0.5], [1, -0.50000001], "float32");
 * assert(r.pass);
 * ```
 *
 * @module
 */

export {
  budget,
  compareExact,
  compareTensor,
  type Comparison,
  peakMagnitude,
  REDUCTION_OUTPUTS,
  TOLERANCE,
  ulpError,
} from "./tolerance.ts";
export { conventionToConfig } from "./config.ts";
export {
  type CaseDTypes,
  DTYPE_GROUPS,
  type DTypeGroup,
  type ExpectedError,
  FEATURES,
  FIXTURE_FORMAT,
  FIXTURE_FORMAT_VERSION,
  type FixtureCase,
  FixtureError,
  type FixtureFile,
  type FixtureStep,
  FORMAT_ADDITIONS,
  isUniform,
  newerField,
  OUTPUT_NAMES,
  type Provenance,
  TENSOR_GROUP,
  tensorDType,
} from "./fixture.ts";
export {
  type FixtureIndexEntry,
  FIXTURES_URL,
  loadAllFixtures,
  loadFixture,
  loadFixtureIndex,
} from "./load_fixtures.ts";
export { parseFixture } from "./parse_fixture.ts";
export {
  type Adapter,
  type CaseAdapter,
  caseRequests,
  type CaseResult,
  channelIndex,
  frameworkErrors,
  judgeCase,
  type OutputCheck,
  referenceAdapter,
  runCase,
  type StepOutputs,
  type StepRequest,
  type StepState,
  witnessErrors,
} from "./harness.ts";
export {
  answerProblems,
  budgetBasis,
  type Capabilities,
  type CaseReport,
  type CaseStatus,
  type ExpectedFailure,
  type Implementation,
  judgedExpectation,
  type MixedDTypes,
  type OutputFailure,
  type RunOptions,
  runSuite,
  type Selection,
  selects,
  type SuiteReport,
  unsupportedReason,
} from "./runner.ts";
export { loadFixturesAt } from "./fixture_path.ts";
export { describeFailure, diagnosisLines, formatSummary, toJSON, toJUnit } from "./report.ts";
export {
  type Finding,
  findingLookup,
  type FindingOutput,
  FINDINGS_FORMAT,
  type FindingsRegister,
  loadFindings,
  parseFindings,
} from "./findings.ts";
export {
  type CaseDiagnosis,
  diagnoseCase,
  type DiagnoseOptions,
  type KnownFinding,
  type OutputDiagnosis,
  type RecordCheck,
  recordChecks,
  type WitnessDistance,
  type WitnessKind,
} from "./diagnosis.ts";
export {
  declaredConvention,
  equivalentValue,
  relevantFields,
  RUNNING_ONLY_FIELDS,
  type RunningSubstitution,
  runningSubstitution,
  usesBatchStatistics,
} from "./relevance.ts";
export {
  PROTOCOL,
  PROTOCOL_VERSION,
  ProtocolError,
  SubprocessImplementation,
  type SubprocessOptions,
} from "./subprocess.ts";
export { type Fingerprint, fingerprint, formatFingerprint } from "./fingerprint.ts";
export { exactStep, exactStepIn, exactStepMixed, exactStepWithScales } from "./exact.ts";
export { drawSeed, fixtureText, MAX_SEED, parseSeed, randomCase, randomFixtureFile } from "./random.ts";
export { exhaustiveCases, exhaustiveCount, fromBits16, lastFinitePattern, type SweepDType } from "./exhaustive.ts";
export {
  MergeError,
  mergeShardReports,
  parseShard,
  type RunHeader,
  type Shard,
  shardOf,
  type ShardReport,
} from "./shard.ts";
