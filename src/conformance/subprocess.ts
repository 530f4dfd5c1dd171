/**
 * The runner's side of the subprocess protocol (`fixtures/PROTOCOL.md`): an
 * implementation in any language, started once, one JSON line per case. A crash,
 * a hang or a malformed answer fails that case with the reason and the process is
 * started again. The program runs in its own process group (a new session), and the
 * whole group is killed after a timeout, a crash, a malformed answer and at the end,
 * so no child it forked outlives the run.
 *
 * Needs `--allow-run` (for every program: ending a process group with Deno.kill needs it) when called;
 * importing this module needs nothing.
 *
 * @module
 */

import type { BatchNormConvention } from "../reference/convention.ts";
import { CONFIG_KEYS, conventionToConfig } from "./config.ts";
import { DTYPE_GROUPS, type FixtureCase } from "./fixture.ts";
import { isDType } from "../reference/dtype.ts";
import type { StepOutputs, StepRequest, StepState } from "./harness.ts";
import { caseRequests } from "./harness.ts";
import type { Capabilities, Implementation, MixedDTypes } from "./runner.ts";
import type { Tensor } from "../reference/tensor.ts";

/** The protocol's name, sent in both hellos. */
export const PROTOCOL = "batchnorm-conformance";
/**
 * The protocol version this runner speaks (major.minor). 1.1 adds batches of cases; 1.2 per-tensor dtypes (`dtypes`
 * in a case, `supports.mixed_dtypes`) and `center`/`scale` (`supports.center_scale`). 1.0 and 1.1 programs are served.
 */
export const PROTOCOL_VERSION = "1.2";
/** The first minor version whose programs take `batch` messages. */
const BATCH_MINOR = 1;

/** How to start and bound the implementation. */
export interface SubprocessOptions {
  /** Program and arguments (no shell); the CLI passes `["sh", "-c", command]`. It runs in its own process group. */
  readonly command: readonly string[];
  /** Per-case (and per-hello) timeout in milliseconds; default 30 000. */
  readonly timeoutMs?: number;
  /** Longest accepted line in bytes; default 64 MiB. */
  readonly maxLineBytes?: number;
  /** Working directory. */
  readonly cwd?: string | URL;
  /**
   * Most cases in one `batch` message (protocol 1.1 programs; default 512). 1 sends one case per line, as to a
   * 1.0 program. A program's hello can lower it (`batch.max_cases`).
   */
  readonly batchCases?: number;
  /** Most bytes of one `batch` message (default 16 MiB); a single case larger than that goes alone. */
  readonly batchBytes?: number;
}

const SPECIAL: Record<string, number> = { NaN: NaN, Infinity: Infinity, "-Infinity": -Infinity };
const encodeNumber = (
  v: number,
) => (Number.isFinite(v) ? v : Number.isNaN(v) ? "NaN" : v > 0 ? "Infinity" : "-Infinity");
const encodeTensor = (t: Tensor) => ({ dtype: t.dtype, shape: [...t.shape], data: Array.from(t.data, encodeNumber) });

/** Convention field by its fixture-format name: how capabilities arrive over the protocol. */
const SNAKE_TO_CAMEL: Record<string, keyof BatchNormConvention> = Object.fromEntries(
  Object.entries(CONFIG_KEYS).map(([camel, snake]) => [snake, camel as keyof BatchNormConvention]),
);

function encodeState(s: StepState): Record<string, unknown> {
  const out: Record<string, unknown> = { num_batches_tracked: s.num_batches_tracked };
  for (const k of ["gamma", "beta", "running_mean", "running_var"] as const) if (s[k]) out[k] = encodeTensor(s[k]!);
  return out;
}

/** A protocol violation or a dead process: fails the case it happened in. */
export class ProtocolError extends Error {
  /**
   * Creates the error.
   *
   * @param message What went wrong.
   */
  constructor(message: string) {
    super(message);
    this.name = "ProtocolError";
  }
}

/** Reads newline-terminated lines from a byte stream, refusing lines longer than a bound. */
class LineReader {
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  #buffer: Uint8Array[] = [];
  #buffered = 0;
  #lines: string[] = [];
  #done = false;
  #error: ProtocolError | undefined;
  #wake: (() => void) | undefined;
  constructor(stream: ReadableStream<Uint8Array>, readonly maxBytes: number) {
    this.#reader = stream.getReader();
    this.#pump();
  }
  async #pump(): Promise<void> {
    const decoder = new TextDecoder();
    try {
      while (true) {
        const { value, done } = await this.#reader.read();
        if (done) break;
        let start = 0;
        for (let i = 0; i < value.length; i++) {
          if (value[i] !== 10) continue;
          this.#buffer.push(value.subarray(start, i));
          const bytes = new Uint8Array(this.#buffered + i - start);
          let at = 0;
          for (const b of this.#buffer) (bytes.set(b, at), at += b.length);
          this.#lines.push(decoder.decode(bytes));
          this.#buffer = [];
          this.#buffered = 0;
          start = i + 1;
        }
        if (start < value.length) {
          this.#buffer.push(value.slice(start));
          this.#buffered += value.length - start;
          if (this.#buffered > this.maxBytes) throw new ProtocolError(`a line longer than ${this.maxBytes} bytes`);
        }
        this.#wake?.();
      }
    } catch (e) {
      this.#error = e instanceof ProtocolError
        ? e
        : new ProtocolError(`standard output failed: ${(e as Error).message}`);
      await this.#reader.cancel().catch(() => {});
    }
    this.#done = true;
    this.#wake?.();
  }
  /** The next line, or a ProtocolError when the stream ends, breaks or exceeds the bound. */
  async next(deadline: number): Promise<string> {
    while (true) {
      if (this.#lines.length) return this.#lines.shift()!;
      if (this.#error) throw this.#error;
      if (this.#done) throw new ProtocolError("the process closed its standard output");
      const left = deadline - Date.now();
      if (left <= 0) throw new ProtocolError("timeout");
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
      this.#wake = undefined;
    }
  }
}

/** The last bytes a process wrote to standard error. */
class Tail {
  #text = "";
  constructor(stream: ReadableStream<Uint8Array>, readonly keep = 2000) {
    (async () => {
      const decoder = new TextDecoder();
      try {
        for await (const chunk of stream) {
          this.#text = (this.#text + decoder.decode(chunk, { stream: true })).slice(-this.keep);
        }
      } catch { /* the process is gone */ }
    })();
  }
  get text(): string {
    return this.#text.trim();
  }
}

interface Running {
  child: Deno.ChildProcess;
  writer: WritableStreamDefaultWriter<Uint8Array>;
  lines: LineReader;
  stderr: Tail;
  exited: boolean;
  /** How it ended, once it has. */
  ended?: Deno.CommandStatus;
  status: Promise<Deno.CommandStatus>;
}

/** How a process ended, in words: "exited with code 3", "was killed by signal SIGSEGV". */
function ending(s: Deno.CommandStatus): string {
  return s.signal ? `was killed by signal ${s.signal}` : `exited with code ${s.code}`;
}

/**
 * An implementation behind the subprocess protocol. Start it with
 * {@linkcode SubprocessImplementation.start}, hand it to {@linkcode runSuite}, and
 * {@linkcode SubprocessImplementation.close} it in a `finally`.
 *
 * @example
 * ```ts ignore
 * import { loadAllFixtures, runSuite, SubprocessImplementation } from "../../mod.ts";
 * const impl = await SubprocessImplementation.start({ command: ["python3", "my_bn.py"] });
 * try {
 *   const report = await runSuite(await loadAllFixtures(), impl);
 *   console.log(report.totals);
 * } finally {
 *   await impl.close();
 * }
 * ```
 */
export class SubprocessImplementation implements Implementation {
  /** The name the implementation gave in its hello. */
  name = "";
  /** What it said it supports. */
  supports: Capabilities = {};
  #options: Required<Omit<SubprocessOptions, "cwd">> & { cwd?: string | URL };
  /** The minor version the program declared; 1 or more: it takes batches. */
  #minor = 0;
  /** The program's own bounds on a batch (its hello's `batch`), if it gave them. */
  #programBatch: { cases?: number; bytes?: number } = {};
  /** The cases runSuite will ask for, in order ({@linkcode SubprocessImplementation.upcoming}). */
  #queue: FixtureCase[] = [];
  #position = new Map<FixtureCase, number>();
  /** Answers that came in a batch, before runSuite asked for their case. */
  #answered = new Map<FixtureCase, StepOutputs[]>();
  /** Cases of a batch that broke off before their answer: what went wrong. */
  #unanswered = new Map<FixtureCase, ProtocolError>();
  /** Batch messages sent, for reports and tests. */
  batches = 0;
  #running: Running | undefined;
  #id = 0;
  /** Restarts after a failure, for reports. */
  restarts = 0;

  private constructor(options: SubprocessOptions) {
    this.#options = {
      timeoutMs: 30_000,
      maxLineBytes: 64 * 2 ** 20,
      batchCases: 512,
      batchBytes: 16 * 2 ** 20,
      ...options,
    };
  }

  /**
   * Starts the process and exchanges hellos.
   *
   * @param options The command and its bounds.
   * @returns The running implementation.
   * @throws {ProtocolError} When it does not answer the hello properly (the process is killed).
   */
  static async start(options: SubprocessOptions): Promise<SubprocessImplementation> {
    // Ending a whole process group (Deno.kill with a negative pid) needs run permission for every program; with a
    // list (--allow-run=python3) the group could not be killed, and what the program forked would outlive the run.
    if ((await Deno.permissions.query({ name: "run" })).state !== "granted") {
      throw new ProtocolError(
        "the subprocess runner needs --allow-run without a list of programs: it ends the implementation's whole " +
          "process group (Deno.kill), which a list of programs does not permit",
      );
    }
    const impl = new SubprocessImplementation(options);
    await impl.#spawn();
    return impl;
  }

  async #spawn(): Promise<Running> {
    const [program, ...args] = this.#options.command;
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(program, {
        args,
        cwd: this.#options.cwd,
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
        // A new session, hence a new process group whose id is the child's pid: #kill ends the whole group.
        detached: true,
      }).spawn();
    } catch (e) {
      throw new ProtocolError(`could not start ${JSON.stringify(program)}: ${(e as Error).message}`);
    }
    const running: Running = {
      child,
      writer: child.stdin.getWriter(),
      lines: new LineReader(child.stdout, this.#options.maxLineBytes),
      stderr: new Tail(child.stderr),
      exited: false,
      status: child.status,
    };
    running.status.then((s) => {
      running.exited = true;
      running.ended = s;
    });
    this.#running = running;
    try {
      await this.#send({ type: "hello", protocol: PROTOCOL, version: PROTOCOL_VERSION });
      let hello: Record<string, unknown>;
      try {
        hello = await this.#receive("hello");
      } catch (e) {
        throw new ProtocolError(`no hello: ${(e as Error).message}`);
      }
      if (hello.protocol !== PROTOCOL) {
        throw new ProtocolError(`hello names protocol ${JSON.stringify(hello.protocol)}, expected "${PROTOCOL}"`);
      }
      const major = String(hello.version ?? "").split(".")[0];
      if (major !== PROTOCOL_VERSION.split(".")[0]) {
        throw new ProtocolError(
          `protocol version ${JSON.stringify(hello.version)} is not ${PROTOCOL_VERSION.split(".")[0]}.x`,
        );
      }
      this.#minor = Number(String(hello.version).split(".")[1]) || 0;
      const b = hello.batch as Record<string, unknown> | undefined;
      const bound = (v: unknown) => (Number.isInteger(v) && (v as number) >= 1 ? v as number : undefined);
      this.#programBatch = b && typeof b === "object" ? { cases: bound(b.max_cases), bytes: bound(b.max_bytes) } : {};
      this.name = typeof hello.name === "string" && hello.name ? hello.name : this.#options.command.join(" ");
      this.supports = readCapabilities(hello.supports);
      return running;
    } catch (e) {
      await this.#kill();
      throw e;
    }
  }

  async #send(message: unknown): Promise<void> {
    const r = this.#running!;
    try {
      await r.writer.write(new TextEncoder().encode(JSON.stringify(message) + "\n"));
    } catch {
      throw new ProtocolError(this.#died("could not write to the process"));
    }
  }

  async #receive(
    type: string,
    id?: number | ReadonlySet<number>,
    deadline = Date.now() + this.#options.timeoutMs,
    waited = this.#options.timeoutMs,
  ): Promise<Record<string, unknown>> {
    const r = this.#running!;
    let line: string;
    try {
      line = await r.lines.next(deadline);
    } catch (e) {
      const why = (e as Error).message;
      if (why === "timeout") {
        throw new ProtocolError(this.#died(`no answer within ${waited / 1000} s (timeout)`));
      }
      // Give the exit status a moment to arrive, so the reason can say the process exited.
      await Promise.race([r.status, new Promise((resolve) => setTimeout(resolve, 200))]);
      throw new ProtocolError(this.#died(why));
    }
    let message: unknown;
    try {
      message = JSON.parse(line, (_, v) => (typeof v === "string" && v in SPECIAL ? SPECIAL[v] : v));
    } catch {
      throw new ProtocolError(`malformed output: not JSON: ${JSON.stringify(line.slice(0, 120))}`);
    }
    if (message === null || typeof message !== "object" || Array.isArray(message)) {
      throw new ProtocolError(`malformed output: not a JSON object: ${JSON.stringify(line.slice(0, 120))}`);
    }
    const m = message as Record<string, unknown>;
    if (m.type !== type) {
      throw new ProtocolError(`malformed output: expected type "${type}", got ${JSON.stringify(m.type)}`);
    }
    if (typeof id === "number" && m.id !== id) {
      throw new ProtocolError(`malformed output: answer for id ${JSON.stringify(m.id)}, expected ${id} (out of order)`);
    }
    if (typeof id === "object" && !id.has(m.id as number)) {
      throw new ProtocolError(
        `malformed output: answer for id ${JSON.stringify(m.id)}, not an unanswered case of the batch`,
      );
    }
    return m;
  }

  #died(what: string): string {
    const r = this.#running;
    const tail = r?.stderr.text;
    return `${what}${r?.ended ? `; the process ${ending(r.ended)}` : r?.exited ? "; the process exited" : ""}${
      tail ? `; stderr: ${tail.split("\n").slice(-5).join(" | ")}` : ""
    }`;
  }

  async #kill(): Promise<void> {
    const r = this.#running;
    this.#running = undefined;
    if (!r) return;
    // The whole process group (what the program forked too), then the program itself should the group be gone.
    try {
      Deno.kill(-r.child.pid, "SIGKILL");
    } catch { /* no process left in the group */ }
    try {
      r.child.kill("SIGKILL");
    } catch { /* already gone */ }
    await r.status.catch(() => {});
    await r.writer.close().catch(() => {});
  }

  /**
   * Told by {@linkcode runSuite}, before a run, which cases it will ask for (the very objects, skipped ones left out)
   * and in which order. A program that speaks
   * protocol 1.1 then gets them in `batch` messages, many cases a line; a 1.0 program one case a line, as before.
   *
   * @param cases The cases, in the order they will be asked for.
   */
  upcoming(cases: readonly FixtureCase[]): void {
    this.#queue = [...cases];
    this.#position = new Map(this.#queue.map((c, i) => [c, i]));
    this.#answered.clear();
    this.#unanswered.clear();
  }

  /** Whether it speaks 1.1: whether it is sent batches (after the hello; a restart asks again). */
  get batching(): boolean {
    return this.#minor >= BATCH_MINOR && this.#batchCases > 1;
  }

  get #batchCases(): number {
    return Math.min(this.#options.batchCases, this.#programBatch.cases ?? Infinity);
  }

  async #ensureRunning(): Promise<void> {
    if (!this.#running || this.#running.exited) {
      if (this.#running) await this.#kill();
      this.restarts++;
      await this.#spawn();
    }
  }

  /** The whole-case adapter: one case a line (1.0), or the next batch of upcoming cases (1.1). */
  readonly adapter = {
    wholeCase: async (requests: readonly StepRequest[], c: FixtureCase): Promise<StepOutputs[]> => {
      const early = this.#answered.get(c);
      if (early) {
        this.#answered.delete(c);
        return early;
      }
      const lost = this.#unanswered.get(c);
      if (lost) {
        this.#unanswered.delete(c);
        throw lost;
      }
      await this.#ensureRunning();
      const at = this.#position.get(c);
      if (this.batching && at !== undefined) return await this.#batch(requests, c, at);
      const id = ++this.#id;
      try {
        await this.#sendLine(caseMessage(id, requests, c, this.supports.centerScale === true));
        const result = await this.#receive("result", id);
        return readSteps(result.steps, requests.length);
      } catch (e) {
        // Whatever went wrong, the stream may be out of step: start afresh for the next case.
        await this.#kill();
        throw e;
      }
    },
  };

  async #sendLine(line: string): Promise<void> {
    const r = this.#running!;
    try {
      await r.writer.write(new TextEncoder().encode(line + "\n"));
    } catch {
      throw new ProtocolError(this.#died("could not write to the process"));
    }
  }

  /**
   * Sends case `c` and the upcoming cases after it in one `batch` line (bounded in count and bytes), reads one
   * `result` line per case in any order, keeps the others' answers for when they are asked for. When the batch breaks
   * off (crash, timeout, malformed line), every case without its answer fails with the reason and the process is
   * killed; the next case starts it again.
   */
  async #batch(requests: readonly StepRequest[], c: FixtureCase, at: number): Promise<StepOutputs[]> {
    const maxBytes = Math.min(this.#options.batchBytes, this.#programBatch.bytes ?? Infinity);
    const members: { c: FixtureCase; id: number; steps: number }[] = [];
    const parts: string[] = [];
    let bytes = 0;
    for (let i = at; i < this.#queue.length && members.length < this.#batchCases; i++) {
      const d = this.#queue[i];
      if (this.#answered.has(d) || this.#unanswered.has(d)) break;
      const reqs = d === c ? requests : caseRequests(d);
      const id = ++this.#id;
      const text = caseMessage(id, reqs, d, this.supports.centerScale === true);
      if (members.length && bytes + text.length + 1 > maxBytes) break;
      members.push({ c: d, id, steps: reqs.length });
      parts.push(text);
      bytes += text.length + 1;
    }
    const byId = new Map(members.map((m) => [m.id, m]));
    const waiting = new Set(byId.keys());
    const answers = new Map<FixtureCase, StepOutputs[]>();
    this.batches++;
    try {
      await this.#sendLine(`{"type":"batch","cases":[${parts.join(",")}]}`);
      // The timeout scales with the batch: the k-th answer is due k timeouts after the batch was sent.
      const sent = Date.now();
      while (waiting.size) {
        const k = members.length - waiting.size + 1;
        const result = await this.#receive(
          "result",
          waiting,
          sent + k * this.#options.timeoutMs,
          k * this.#options.timeoutMs,
        );
        const m = byId.get(result.id as number)!;
        waiting.delete(m.id);
        answers.set(m.c, readSteps(result.steps, m.steps));
      }
    } catch (e) {
      await this.#kill();
      const why = (e as Error).message;
      for (const m of members) {
        if (answers.has(m.c) || m.c === c) continue;
        this.#unanswered.set(
          m.c,
          new ProtocolError(`${why} (a batch of ${members.length} cases broke off before this case's answer)`),
        );
      }
      for (const [d, a] of answers) if (d !== c) this.#answered.set(d, a);
      if (!answers.has(c)) throw e;
      return answers.get(c)!;
    }
    for (const [d, a] of answers) if (d !== c) this.#answered.set(d, a);
    return answers.get(c)!;
  }

  /** Says goodbye and waits up to 2 s for the process to exit, then kills it. Always leaves no process behind. */
  async close(): Promise<void> {
    const r = this.#running;
    if (!r) return;
    try {
      if (!r.exited) {
        await this.#send({ type: "bye" }).catch(() => {});
        await r.writer.close().catch(() => {});
        await Promise.race([r.status, new Promise((resolve) => setTimeout(resolve, 2000))]);
      }
    } finally {
      await this.#kill();
    }
  }
}

/**
 * One case's message (a `case` line, or a member of a `batch`). `dtypes` when the case has them (protocol 1.2);
 * `center` and `scale` in the config only to a program that declared `center_scale` (the runner sends the others only
 * cases where both equal `affine`, so leaving them out changes nothing).
 */
function caseMessage(id: number, requests: readonly StepRequest[], c: FixtureCase, centerScale: boolean): string {
  const convention = requests[0]?.convention;
  const { center: _c, scale: _s, ...plain } = convention ?? {};
  return JSON.stringify({
    type: "case",
    id,
    name: c.name,
    dtype: c.dtype,
    ...(c.dtypes ? { dtypes: c.dtypes } : {}),
    config: convention
      ? conventionToConfig(centerScale ? convention : plain as BatchNormConvention)
      : requests[0]?.defaultsExcept
      ? partialConfig(requests[0].defaultsExcept)
      : null,
    steps: requests.map((r) => ({
      mode: r.mode,
      x: encodeTensor(r.x),
      ...(r.dy ? { dy: encodeTensor(r.dy) } : {}),
      state: encodeState(r.state),
      ...(r.shards ? { shards: r.shards } : {}),
      // Format 1.3: the step expects dmean and dvar (only ever set for a program that declared stat_gradients).
      ...(r.statGradients ? { stat_gradients: true } : {}),
    })),
  });
}

function readSteps(steps: unknown, count: number): StepOutputs[] {
  if (!Array.isArray(steps)) throw new ProtocolError("malformed output: result.steps is not an array");
  if (steps.length !== count) {
    throw new ProtocolError(`malformed output: ${steps.length} step answers for ${count} steps`);
  }
  return steps.map((s, i): StepOutputs => {
    if (s === null || typeof s !== "object") throw new ProtocolError(`malformed output: steps[${i}] is not an object`);
    const o = s as Record<string, unknown>;
    if (o.error !== undefined) {
      const e = o.error as Record<string, unknown>;
      return { error: { code: String(e?.code ?? ""), message: String(e?.message ?? "") } };
    }
    const outputs: Record<string, { dtype: string; shape: number[]; data: number[] }> = {};
    for (const [name, t] of Object.entries((o.outputs ?? {}) as Record<string, unknown>)) {
      const tensor = t as { dtype?: unknown; shape?: unknown; data?: unknown };
      if (!tensor || !Array.isArray(tensor.shape) || !Array.isArray(tensor.data)) {
        throw new ProtocolError(`malformed output: steps[${i}].outputs.${name} is not a tensor {dtype, shape, data}`);
      }
      if (tensor.data.some((v) => typeof v !== "number")) {
        throw new ProtocolError(`malformed output: steps[${i}].outputs.${name}.data holds a non-number`);
      }
      // The dtype travels on: the runner judges it against the case's (a missing one is "(none)", which fails there).
      const dtype = typeof tensor.dtype === "string" ? tensor.dtype : "(none)";
      outputs[name] = { dtype, shape: tensor.shape as number[], data: tensor.data as number[] };
    }
    const nbt = o.num_batches_tracked;
    return typeof nbt === "number" ? { outputs, num_batches_tracked: nbt } : { outputs };
  });
}

/** The options a fingerprint probe sets, under their snake_case names (the rest: the implementation's defaults). */
function partialConfig(c: Partial<BatchNormConvention>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(c).filter(([, v]) => v !== undefined).map((
      [k, v],
    ) => [CONFIG_KEYS[k as keyof BatchNormConvention], v]),
  );
}

function readCapabilities(v: unknown): Capabilities {
  if (v === null || typeof v !== "object") return { mixedDtypes: [], centerScale: false };
  const s = v as Record<string, unknown>;
  const caps: Record<string, unknown> = {};
  for (const k of ["modes", "dtypes", "layouts", "outputs"]) if (Array.isArray(s[k])) caps[k] = s[k];
  for (const k of ["backward", "errors", "shards"]) if (typeof s[k] === "boolean") caps[k] = s[k];
  // Protocol 1.2: a program that declares no mixed_dtypes takes uniform cases only; no center_scale, center == scale.
  caps.mixedDtypes = Array.isArray(s.mixed_dtypes)
    ? s.mixed_dtypes.filter((m): m is MixedDTypes =>
      m !== null && typeof m === "object" &&
      DTYPE_GROUPS.every((g) => isDType((m as Record<string, unknown>)[g]))
    ).map((m) => ({ data: m.data, params: m.params, running: m.running, saved: m.saved }))
    : [];
  caps.centerScale = s.center_scale === true;
  // Format 1.3's dmean and dvar: asked only of a program that declares stat_gradients.
  caps.statGradients = s.stat_gradients === true;
  if (s.conventions && typeof s.conventions === "object") {
    caps.conventions = Object.fromEntries(
      Object.entries(s.conventions as Record<string, unknown>).filter(([k, a]) =>
        k in SNAKE_TO_CAMEL && Array.isArray(a)
      ).map(([k, a]) => [SNAKE_TO_CAMEL[k], a]),
    );
  }
  return caps as Capabilities;
}
