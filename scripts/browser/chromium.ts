/**
 * Headless Chromium driven over the DevTools protocol (a websocket; no npm
 * package). The browser runs with its own temporary profile directory, which
 * also names its processes: {@linkcode Chromium.close} ends the browser
 * (politely over the protocol, then by signal), kills any of its processes still
 * alive, and removes the profile. Nothing it starts outlives it.
 *
 * @module
 */

/** Flags the suite's pages need: WebGPU (on SwiftShader where there is no GPU) and WebNN's API. */
export const BROWSER_FLAGS: readonly string[] = [
  "--enable-unsafe-webgpu",
  "--enable-features=WebMachineLearningNeuralNetwork",
];

/** Where Debian and other distributions put the browser binary (the wrapper scripts print shell noise). */
const CANDIDATES = [
  "/usr/lib/chromium/chromium",
  "/usr/lib/chromium-browser/chromium-browser",
  "/opt/google/chrome/chrome",
];

/**
 * The Chromium binary to use: `$CHROMIUM` when set, else the first that exists.
 *
 * @returns Its path, or a reason it is missing.
 */
export function findChromium(): { path: string } | { missing: string } {
  const fromEnv = Deno.env.get("CHROMIUM");
  for (const path of fromEnv ? [fromEnv] : CANDIDATES) {
    try {
      if (Deno.statSync(path).isFile) return { path };
    } catch { /* next */ }
  }
  return {
    missing: fromEnv
      ? `$CHROMIUM=${fromEnv} does not exist`
      : `no Chromium binary at ${CANDIDATES.join(", ")} (install Debian's chromium, or set $CHROMIUM)`,
  };
}

/**
 * The browser's version string, e.g. "Chromium 156.0.8078.114".
 *
 * @param path The binary.
 * @returns Its `--version` output, trimmed.
 */
export async function chromiumVersion(path: string): Promise<string> {
  const out = await new Deno.Command(path, { args: ["--version"], stdout: "piped", stderr: "null" }).output();
  return new TextDecoder().decode(out.stdout).trim();
}

/** Processes whose command line mentions `marker` (the profile directory), by pid (read with `ps`). */
export async function processesWith(marker: string): Promise<number[]> {
  const out = await new Deno.Command("ps", { args: ["-eo", "pid=,args="], stdout: "piped", stderr: "null" }).output();
  return new TextDecoder().decode(out.stdout).split("\n")
    .filter((line) => line.includes(marker) && !/^\s*\d+\s+ps\s/.test(line))
    .map((line) => Number(line.trim().split(/\s+/)[0]));
}

type Listener = (params: Record<string, unknown>) => void;

/** A page (target) of the browser, attached in flat mode. */
export class Page {
  /** @internal */
  constructor(private readonly browser: Chromium, readonly sessionId: string) {}

  /** Sends a protocol command to this page. */
  send(method: string, params: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    return this.browser.send(method, params, this.sessionId);
  }

  /** Listens to a protocol event of this page. */
  on(event: string, listener: Listener): void {
    this.browser.on(event, listener, this.sessionId);
  }

  /** Evaluates an expression (awaiting a promise) and returns its value. */
  async evaluate<T>(expression: string): Promise<T> {
    const r = await this.send("Runtime.evaluate", { expression, awaitPromise: true, returnByValue: true });
    const ex = r.exceptionDetails as { text?: string; exception?: { description?: string } } | undefined;
    if (ex) throw new Error(`page: ${ex.exception?.description ?? ex.text}`);
    return (r.result as { value: T }).value;
  }

  /** Navigates and waits for the load event. */
  async goto(url: string): Promise<void> {
    const loaded = new Promise<void>((resolve) => this.on("Page.loadEventFired", () => resolve()));
    await this.send("Page.enable");
    const r = await this.send("Page.navigate", { url });
    if (r.errorText) throw new Error(`navigation to ${url} failed: ${r.errorText}`);
    await loaded;
  }

  /** A PNG of the page at the given viewport width, as tall as the page up to `maxHeight`. */
  async screenshot(width = 1280, maxHeight = 4000): Promise<Uint8Array> {
    const height = await this.evaluate<number>("Math.ceil(document.documentElement.scrollHeight)");
    await this.send("Emulation.setDeviceMetricsOverride", {
      width,
      height: Math.min(height, maxHeight),
      deviceScaleFactor: 1,
      mobile: false,
    });
    const r = await this.send("Page.captureScreenshot", { format: "png", captureBeyondViewport: false });
    return Uint8Array.from(atob(r.data as string), (c) => c.charCodeAt(0));
  }
}

/** Options of {@linkcode Chromium.launch}. */
export interface LaunchOptions {
  /** The binary (see {@linkcode findChromium}). */
  readonly path: string;
  /** Extra command-line flags. */
  readonly flags?: readonly string[];
  /** How long to wait for the DevTools endpoint. */
  readonly startTimeoutMs?: number;
}

/** A running headless Chromium. */
export class Chromium {
  #socket!: WebSocket;
  #nextId = 1;
  #pending = new Map<number, { resolve: (v: Record<string, unknown>) => void; reject: (e: Error) => void }>();
  #listeners = new Map<string, Listener[]>();
  #closed = false;
  /** The last lines the browser wrote to stderr (for error messages). */
  readonly log: string[] = [];

  private constructor(readonly process: Deno.ChildProcess, readonly profile: string) {}

  /** Starts the browser with a fresh profile and connects to it. */
  static async launch(options: LaunchOptions): Promise<Chromium> {
    const profile = await Deno.makeTempDir({ prefix: "batchnorm-chromium-" });
    const process = new Deno.Command(options.path, {
      args: [
        "--headless=new",
        "--no-sandbox",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-dev-shm-usage",
        "--remote-debugging-address=127.0.0.1",
        "--remote-debugging-port=0",
        `--user-data-dir=${profile}`,
        ...(options.flags ?? []),
        "about:blank",
      ],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const browser = new Chromium(process, profile);
    try {
      const ws = await browser.#readEndpoint(options.startTimeoutMs ?? 30_000);
      await browser.#connect(ws);
      return browser;
    } catch (e) {
      await browser.close();
      throw e;
    }
  }

  async #readEndpoint(timeoutMs: number): Promise<string> {
    const lines = this.process.stderr.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`Chromium did not open DevTools within ${timeoutMs} ms: ${this.log.join(" | ")}`)),
        timeoutMs,
      );
    });
    const find = async (): Promise<string> => {
      while (true) {
        const { value, done } = await lines.read();
        if (done) throw new Error(`Chromium exited before DevTools opened: ${this.log.join(" | ")}`);
        buffer += value;
        const parts = buffer.split("\n");
        buffer = parts.pop()!;
        for (const line of parts) {
          this.log.push(line);
          if (this.log.length > 40) this.log.shift();
          const m = line.match(/DevTools listening on (ws:\/\/\S+)/);
          if (m) return m[1];
        }
      }
    };
    try {
      const url = await Promise.race([find(), timeout]);
      // Keep draining stderr so the browser never blocks on a full pipe.
      (async () => {
        try {
          while (true) {
            const { value, done } = await lines.read();
            if (done) break;
            for (const line of value.split("\n")) {
              if (line) this.log.push(line), this.log.length > 40 && this.log.shift();
            }
          }
        } catch { /* closed */ }
      })();
      return url;
    } finally {
      clearTimeout(timer);
    }
  }

  #connect(url: string): Promise<void> {
    this.#socket = new WebSocket(url);
    this.#socket.onmessage = (ev) => {
      const msg = JSON.parse(ev.data as string);
      if (msg.id !== undefined) {
        const p = this.#pending.get(msg.id);
        this.#pending.delete(msg.id);
        if (msg.error) p?.reject(new Error(`${msg.error.message} (${msg.error.code})`));
        else p?.resolve(msg.result ?? {});
      } else {
        for (const l of this.#listeners.get(`${msg.sessionId ?? ""}|${msg.method}`) ?? []) l(msg.params ?? {});
      }
    };
    this.#socket.onclose = () => {
      for (const p of this.#pending.values()) p.reject(new Error("the DevTools connection closed"));
      this.#pending.clear();
    };
    return new Promise((resolve, reject) => {
      this.#socket.onopen = () => resolve();
      this.#socket.onerror = () => reject(new Error(`cannot connect to ${url}`));
    });
  }

  /** Sends a protocol command (to the browser, or to a page's session). */
  send(method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<Record<string, unknown>> {
    if (this.#closed || this.#socket.readyState !== WebSocket.OPEN) {
      return Promise.reject(new Error(`${method}: the browser is closed`));
    }
    const id = this.#nextId++;
    this.#socket.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }));
    return new Promise((resolve, reject) => this.#pending.set(id, { resolve, reject }));
  }

  /** Listens to a protocol event. */
  on(event: string, listener: Listener, sessionId = ""): void {
    const key = `${sessionId}|${event}`;
    this.#listeners.set(key, [...(this.#listeners.get(key) ?? []), listener]);
  }

  /** Opens a new page (about:blank) and attaches to it. */
  async newPage(): Promise<Page> {
    const { targetId } = await this.send("Target.createTarget", { url: "about:blank" });
    const { sessionId } = await this.send("Target.attachToTarget", { targetId, flatten: true });
    const page = new Page(this, sessionId as string);
    await page.send("Runtime.enable");
    return page;
  }

  /** Ends the browser and every process it started, and removes its profile. Safe to call twice. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const exited = this.process.status.then(() => true);
    try {
      if (this.#socket?.readyState === WebSocket.OPEN) {
        this.#socket.send(JSON.stringify({ id: this.#nextId++, method: "Browser.close", params: {} }));
      }
    } catch { /* already gone */ }
    const polite = await Promise.race([exited, new Promise<false>((r) => setTimeout(() => r(false), 3000))]);
    if (!polite) {
      try {
        this.process.kill("SIGKILL");
      } catch { /* already exited */ }
      await this.process.status;
    }
    try {
      this.#socket?.close();
    } catch { /* closed */ }
    // Helpers (zygote, GPU, renderers) normally follow the browser out; any that did not are ended here.
    for (let attempt = 0; attempt < 20; attempt++) {
      const left = await processesWith(this.profile);
      if (!left.length) break;
      for (const pid of left) {
        try {
          Deno.kill(pid, attempt < 5 ? "SIGTERM" : "SIGKILL");
        } catch { /* exited */ }
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    // A helper may still be writing into the profile as it exits: retry briefly.
    for (let attempt = 0; attempt < 10; attempt++) {
      try {
        await Deno.remove(this.profile, { recursive: true });
        break;
      } catch (e) {
        if (e instanceof Deno.errors.NotFound) break;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }
}
