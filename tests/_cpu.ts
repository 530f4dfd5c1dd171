/**
 * A test helper (not a test file): this CPU against the one the recorded results were made on
 * (scripts/generators/recording_cpu.json; docs/fixtures.md "On another CPU"). Deno reads /proc/cpuinfo only with
 * --allow-all, so a Python without dependencies reads it: `scripts/generators/_fixture_json.py --cpu`.
 */

/** This CPU and the recording one, as `_fixture_json.py --cpu` prints them. */
export interface CpuClass {
  readonly here: string;
  readonly recorded_on: string;
  readonly same: boolean;
  readonly cpu_dependent: readonly string[];
}

const root = new URL("../", import.meta.url);

/**
 * Reads the CPU class with `python` (synchronously: test names depend on it).
 *
 * @param python The interpreter to run `scripts/generators/_fixture_json.py --cpu` with.
 * @returns The classes, or an Error when the interpreter cannot run it.
 */
export function readCpuClass(python: string): CpuClass | Error {
  try {
    const { code, stdout, stderr } = new Deno.Command(python, {
      args: ["scripts/generators/_fixture_json.py", "--cpu"],
      cwd: root,
    }).outputSync();
    const d = new TextDecoder();
    if (code !== 0) return new Error(`${python} scripts/generators/_fixture_json.py --cpu: ${d.decode(stderr)}`);
    return JSON.parse(d.decode(stdout));
  } catch (e) {
    return e instanceof Error ? e : new Error(String(e));
  }
}

/**
 * On a CPU unlike the recording one, in CI as anywhere (CI's machines differ too): a note for the names of tests that
 * then compare less, else "".
 *
 * @param cpu The classes, or the error reading them (then nothing is relaxed).
 * @param what What such a test does not compare there.
 */
export function foreignCpuNote(cpu: CpuClass | Error, what: string): string {
  if (cpu instanceof Error || cpu.same) return "";
  return ` (this CPU, ${cpu.here}, is not the recording one, ${cpu.recorded_on}: ${what})`;
}
