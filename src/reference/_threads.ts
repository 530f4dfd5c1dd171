/**
 * Two threads for a KernelArena: a helper worker that runs the kernels on half of the channels while the calling
 * thread runs them on the other half, in the arena's shared WebAssembly memory. No permission is needed: the worker
 * is a module made from a string (a blob URL), the memory a shared `WebAssembly.Memory` posted to it, and the calling
 * thread blocks in `Atomics.wait` until the helper is done (allowed on Deno's main thread).
 *
 * Bit-identical to one thread: every reduction is within one channel, and a channel is reduced by one thread, in the
 * same order as on one thread (its runs in ascending outer index, each run in the lane order of _lanes.ts). Which
 * thread takes a channel changes no operation. Both threads run the same loop: {@linkcode runJob}'s source is the
 * worker's.
 *
 * The helper starts asynchronously: until it is ready (and after it has left), calls run on one thread. It leaves by
 * itself after {@linkcode IDLE_MS} without work, so that it never keeps a process alive; the next call starts it again.
 * `KernelArena.close()` ends it at once.
 *
 * @module
 */

/** Int32 slots of the control block at the start of an arena's job region. */
const STATE = 0, SEQ = 1, DONE = 2, ERROR = 3, KIND = 4, SPLIT = 5, CHANNELS = 6, OUTER = 7, INNER = 8;
const XP = 9, GP = 10, YP = 11, ACC = 12, PARAMS = 13, NEXT = 14, START = 15, HELPED = 16;
/** SPLIT when the channels are shared out as the threads come for them (each takes the next one not yet taken). */
const DYNAMIC = -1;
/** STATE: no helper (or it left); ready and idle; a job claimed by the caller; closed. */
const GONE = 0, READY = 1, CLAIMED = 2, CLOSED = -1;

/** Bytes of one channel's accumulators (two blocks of 18 float64, _lanes.ts) and parameters (6 float64). */
export const ACC_STRIDE = 288;
export const PARAM_STRIDE = 48;
/** The most channels a two-thread call takes (the job region's size); wider tensors run on one thread. */
export const MAX_CHANNELS = 2048;
/** Bytes of an arena's job region: the control block, then accumulators and parameters per channel. */
export const JOB_REGION = 128 + MAX_CHANNELS * (ACC_STRIDE + PARAM_STRIDE);
/** Int32 slots of the control block (its 128 bytes hold 32). */
const SLOTS = 17;
/** The helper leaves after this long without work (ms). */
export const IDLE_MS = 500;

/** What each job kind runs per run of `inner` elements (the kernels of _kernels.wat; runJob's numbers). */
export const Kind = {
  Sum: 0,
  Deviations: 1,
  BackwardSums: 2,
  Normalize: 3,
  DxEval: 4,
  DxInside: 5,
  DxOutside: 6,
} as const;
/** One of {@linkcode Kind}'s values. */
export type Kind = (typeof Kind)[keyof typeof Kind];

/** The kernels' exports, as runJob calls them. */
interface KernelCalls {
  // deno-lint-ignore no-explicit-any
  [name: string]: (...args: any[]) => void;
}

/**
 * Runs the job described in the control block `ctl` on channels [c0, c1): for each channel, its runs in ascending
 * outer index. `f64` views the whole memory (the parameters). This function's source is also the helper worker's
 * (`runJob.toString()`), so it must stay self-contained: no imports, no outer names.
 */
export function runJob(k: KernelCalls, ctl: Int32Array, f64: Float64Array, c0: number, c1: number): number {
  const kind = ctl[4], channels = ctl[6], outer = ctl[7], inner = ctl[8];
  const xp = ctl[9], gp = ctl[10], yp = ctl[11], acc = ctl[12], pp = ctl[13] >> 3;
  // c0 < 0: the next channel not yet taken by either thread (slot 14 counts them out), until none is left.
  let done = 0;
  for (let c = c0 < 0 ? Atomics.add(ctl, 14, 1) : c0; c < c1; c = c0 < 0 ? Atomics.add(ctl, 14, 1) : c + 1) {
    done++;
    const a = acc + 288 * c, q = pp + 6 * c;
    for (let o = 0; o < outer; o++) {
      const off = 4 * (o * channels + c) * inner;
      if (kind === 0) k.sum_f32(xp + off, inner, a);
      else if (kind === 1) k.dev_f32(xp + off, inner, f64[q], a);
      else if (kind === 2) k.bsum_f32(xp + off, gp + off, inner, f64[q], f64[q + 1], f64[q + 2], a);
      else if (kind === 3) k.normalize_f32(xp + off, yp + off, inner, f64[q], f64[q + 1], f64[q + 2], f64[q + 3]);
      else if (kind === 4) k.dx_eval_f32(xp + off, gp + off, yp + off, inner, f64[q]);
      else {
        // kind 5: dx through the batch statistics, epsilon inside the root; 6: outside.
        const dx = kind === 5 ? k.dx_inside_f32 : k.dx_outside_f32;
        dx(xp + off, gp + off, yp + off, inner, f64[q], f64[q + 1], f64[q + 2], f64[q + 3], f64[q + 4], f64[q + 5]);
      }
    }
  }
  return done;
}

/** The helper worker's module: runJob, then a loop that waits for jobs on the control block. */
const WORKER_SOURCE = `const runJob = ${runJob.toString()};
self.onmessage = (e) => {
  const { memory, bytes, region, idleMs } = e.data;
  const k = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } }).exports;
  const ctl = new Int32Array(memory.buffer, region, ${SLOTS}), f64 = new Float64Array(memory.buffer);
  let seq = Atomics.load(ctl, ${SEQ});
  if (Atomics.compareExchange(ctl, ${STATE}, ${GONE}, ${READY}) !== ${GONE}) return self.close();
  for (;;) {
    Atomics.wait(ctl, ${SEQ}, seq, idleMs);
    const now = Atomics.load(ctl, ${SEQ});
    if (now !== seq) {
      seq = now;
      // START: 0 -> 1 when this thread takes part; 2 when the caller has already done every channel (nothing to do).
      if (Atomics.compareExchange(ctl, ${START}, 0, 1) === 0) {
        try {
          Atomics.add(ctl, ${HELPED}, runJob(k, ctl, f64, ctl[${SPLIT}], ctl[${CHANNELS}]));
        } catch {
          Atomics.store(ctl, ${ERROR}, 1);
        }
      }
      Atomics.store(ctl, ${STATE}, ${READY});
      Atomics.store(ctl, ${DONE}, seq);
      Atomics.notify(ctl, ${DONE});
      continue;
    }
    // Idle: leave, unless the caller has just claimed a job (its SEQ follows) or closed the arena.
    if (Atomics.compareExchange(ctl, ${STATE}, ${READY}, ${GONE}) === ${READY}) break;
    if (Atomics.load(ctl, ${STATE}) === ${CLOSED}) break;
  }
  self.close();
};
`;

/** Whether the helper takes exactly the upper half of the channels (tests), rather than whichever come next. */
let staticSplit = false;

/**
 * Chooses how the channels are shared out: `true`, the helper takes exactly the upper half (tests: every call then
 * uses both threads); `false` (default), each thread takes the next channel not yet taken, so a thread the system
 * has not scheduled holds nothing up. Either way a channel is computed by one thread, in the one-thread order.
 *
 * @param on Whether to split statically.
 * @returns The previous setting.
 */
export function setStaticSplit(on: boolean): boolean {
  const previous = staticSplit;
  staticSplit = on;
  return previous;
}

/** The calling thread's side of one arena's helper. */
export class Helper {
  readonly #memory: WebAssembly.Memory;
  readonly #bytes: Uint8Array;
  readonly #region: number;
  readonly #ctl: Int32Array;
  readonly #f64: Float64Array;
  #worker: Worker | null = null;
  #starting = false;
  /** Channels the helper has run (for tests: the second thread did work). */
  get helped(): number {
    return Atomics.load(this.#ctl, HELPED);
  }

  constructor(memory: WebAssembly.Memory, bytes: Uint8Array, region: number) {
    this.#memory = memory, this.#bytes = bytes, this.#region = region;
    this.#ctl = new Int32Array(memory.buffer, region, SLOTS);
    this.#f64 = new Float64Array(memory.buffer);
  }

  /** The byte offsets of channel c's accumulators and parameters. */
  acc(c: number): number {
    return this.#region + 128 + c * ACC_STRIDE;
  }
  param(c: number): number {
    return this.#region + 128 + MAX_CHANNELS * ACC_STRIDE + c * PARAM_STRIDE;
  }

  /** Whether the helper is ready for a job now; starts it (for later calls) when it is not running. */
  ready(): boolean {
    const state = Atomics.load(this.#ctl, STATE);
    if (state === READY) {
      this.#starting = false;
      return true;
    }
    if (state === GONE && !this.#starting && typeof Worker === "function") this.#start();
    return false;
  }

  #start(): void {
    try {
      const url = URL.createObjectURL(new Blob([WORKER_SOURCE], { type: "text/javascript" }));
      try {
        this.#worker = new Worker(url, { type: "module" });
      } finally {
        URL.revokeObjectURL(url);
      }
      this.#starting = true;
      this.#worker.postMessage({ memory: this.#memory, bytes: this.#bytes, region: this.#region, idleMs: IDLE_MS });
    } catch {
      this.#worker = null; // no workers here: one thread
    }
  }

  /**
   * Runs job `kind` over all channels, the helper taking channels [split, channels) when it is ready, this thread
   * the rest; `k` is this thread's instance of the kernels on the same memory.
   */
  run(
    k: KernelCalls,
    kind: Kind,
    layout: { outer: number; channels: number; inner: number },
    xp: number,
    gp: number,
    yp: number,
  ): void {
    const ctl = this.#ctl, { outer, channels, inner } = layout;
    ctl[KIND] = kind, ctl[CHANNELS] = channels, ctl[OUTER] = outer, ctl[INNER] = inner;
    ctl[XP] = xp, ctl[GP] = gp, ctl[YP] = yp, ctl[ACC] = this.acc(0), ctl[PARAMS] = this.param(0);
    const split = channels >> 1;
    const helped = split > 0 && this.ready() && Atomics.compareExchange(ctl, STATE, READY, CLAIMED) === READY;
    if (!helped) {
      runJob(k, ctl, this.#f64, 0, channels);
      return;
    }
    ctl[SPLIT] = staticSplit ? split : DYNAMIC;
    ctl[ERROR] = 0;
    Atomics.store(ctl, NEXT, 0);
    Atomics.store(ctl, START, 0);
    const seq = (Atomics.load(ctl, SEQ) + 1) | 0;
    Atomics.store(ctl, SEQ, seq);
    Atomics.notify(ctl, SEQ);
    if (staticSplit) runJob(k, ctl, this.#f64, 0, split);
    else {
      runJob(k, ctl, this.#f64, DYNAMIC, channels);
      // Every channel is taken. If the helper has not woken yet, it finds START = 2 and skips the job: no waiting for
      // a thread the system has not scheduled (it marks itself ready again; until then calls run on this thread).
      if (Atomics.compareExchange(ctl, START, 0, 2) === 0) return;
    }
    // Waits on the value just compared (reading DONE again for the wait could miss the helper's store and notify).
    for (let done = Atomics.load(ctl, DONE); done !== seq; done = Atomics.load(ctl, DONE)) {
      if (Atomics.wait(ctl, DONE, done, 60_000) === "timed-out" && Atomics.load(ctl, DONE) === done) {
        throw new Error("KernelArena: the helper thread did not finish its share of the channels within 60 s");
      }
    }
    if (ctl[ERROR] !== 0) throw new Error("KernelArena: a kernel failed in the helper thread");
  }

  /** Ends the helper (it leaves its wait at once) and keeps it from starting again. */
  close(): void {
    Atomics.store(this.#ctl, STATE, CLOSED);
    Atomics.notify(this.#ctl, SEQ);
    this.#worker?.terminate();
    this.#worker = null;
  }
}
