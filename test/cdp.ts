/**
 * A headless Chromium driven through the Chrome DevTools Protocol: Chromium's
 * --remote-debugging-port and a WebSocket from Deno, so the browser tests need no npm driver
 * (and no download: Debian's `chromium` package, which .ci/run installs).
 */

/** Chromium's path, or null where it is not installed. */
export function findChromium(): string | null {
  for (const name of ["chromium", "chromium-browser", "google-chrome"]) {
    try {
      const out = new Deno.Command("sh", { args: ["-c", `command -v ${name}`], stdout: "piped" })
        .outputSync();
      const path = new TextDecoder().decode(out.stdout).trim();
      if (out.success && path) return path;
    } catch { /* no sh: no browser either */ }
  }
  return null;
}

/** The WebGPU adapter the page's browser offers, described ("" where it offers none). */
export function gpuAdapter(page: Page): Promise<string> {
  return page.eval<string>(`(async () => {
    const a = navigator.gpu && await navigator.gpu.requestAdapter();
    return a ? (a.info?.description || a.info?.vendor || "an adapter") : "";
  })()`);
}

/** One page's protocol session. */
export class Page {
  #ws: WebSocket;
  #next = 1;
  #pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  /** Console messages and uncaught exceptions of the page, for failure messages. */
  readonly log: string[] = [];

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.onmessage = (e) => {
      const msg = JSON.parse(e.data);
      if (msg.id !== undefined) {
        const p = this.#pending.get(msg.id);
        this.#pending.delete(msg.id);
        if (msg.error) p?.reject(new Error(`CDP: ${msg.error.message}`));
        else p?.resolve(msg.result);
      } else if (msg.method === "Runtime.consoleAPICalled") {
        this.log.push(msg.params.args.map((a: { value?: unknown }) => a.value).join(" "));
      } else if (msg.method === "Runtime.exceptionThrown") {
        this.log.push(`exception: ${msg.params.exceptionDetails.exception?.description}`);
      }
    };
  }

  static async connect(url: string): Promise<Page> {
    const ws = new WebSocket(url);
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = () => reject(new Error(`Cannot connect to ${url}`));
    });
    const page = new Page(ws);
    await page.send("Runtime.enable");
    await page.send("Page.enable");
    return page;
  }

  send<T = Record<string, unknown>>(method: string, params: unknown = {}): Promise<T> {
    const id = this.#next++;
    this.#ws.send(JSON.stringify({ id, method, params }));
    return new Promise((resolve, reject) =>
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject })
    );
  }

  /** The value of a page expression (awaited when it is a promise). */
  async eval<T>(expression: string): Promise<T> {
    const r = await this.send<{ result: { value: T }; exceptionDetails?: { text: string } }>(
      "Runtime.evaluate",
      { expression, awaitPromise: true, returnByValue: true },
    );
    if (r.exceptionDetails) {
      throw new Error(`${expression}: ${JSON.stringify(r.exceptionDetails)}`);
    }
    return r.result.value;
  }

  /** Polls `expression` until it is truthy; throws with the page's log after `ms`. */
  async waitFor<T>(expression: string, ms: number): Promise<T> {
    const end = Date.now() + ms;
    for (;;) {
      const v = await this.eval<T>(expression).catch(() => undefined);
      if (v) return v;
      if (Date.now() > end) {
        throw new Error(`timed out waiting for ${expression}; page log:\n${this.log.join("\n")}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async navigate(url: string): Promise<void> {
    await this.send("Page.navigate", { url });
    await this.waitFor(
      `location.href === ${JSON.stringify(url)} && document.readyState === "complete"`,
      30_000,
    );
  }

  /** Sets a file input's files (as a user choosing them does, firing "change"). */
  async setFiles(selector: string, files: string[]): Promise<void> {
    const { root } = await this.send<{ root: { nodeId: number } }>("DOM.getDocument");
    const { nodeId } = await this.send<{ nodeId: number }>("DOM.querySelector", {
      nodeId: root.nodeId,
      selector,
    });
    await this.send("DOM.setFileInputFiles", { nodeId, files });
  }

  /** A PNG of the page as it is drawn now. */
  async screenshot(): Promise<Uint8Array> {
    const { data } = await this.send<{ data: string }>("Page.captureScreenshot", {
      format: "png",
      captureBeyondViewport: true,
    });
    return Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
  }

  close(): void {
    this.#ws.close();
  }
}

/** A headless Chromium with one page open at `url`. */
export async function launchChromium(
  path: string,
  url: string,
): Promise<{ page: Page; close: () => Promise<void> }> {
  const profile = await Deno.makeTempDir({ prefix: "cosmos-chromium-" });
  const child = new Deno.Command(path, {
    args: [
      "--headless=new",
      "--no-sandbox",
      "--no-first-run",
      "--disable-dev-shm-usage",
      "--remote-debugging-port=0",
      `--user-data-dir=${profile}`,
      // WebGPU where Chromium can give an adapter (SwiftShader's Vulkan on a machine with no GPU).
      "--enable-unsafe-webgpu",
      "--enable-unsafe-swiftshader",
      "--window-size=1280,900",
      url,
    ],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const close = async () => {
    try {
      child.kill("SIGKILL");
    } catch { /* exited */ }
    await child.status;
    await Deno.remove(profile, { recursive: true }).catch(() => {});
  };
  try {
    // "DevTools listening on ws://127.0.0.1:PORT/devtools/browser/..." on stderr.
    const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
    let seen = "";
    let port: string | undefined;
    const deadline = setTimeout(() => reader.cancel(), 30_000);
    while (!port) {
      const { done, value } = await reader.read();
      if (done) throw new Error(`Chromium did not start:\n${seen}`);
      seen += value;
      port = /DevTools listening on ws:\/\/[^:]+:(\d+)\//.exec(seen)?.[1];
    }
    clearTimeout(deadline);
    // Keep draining stderr so Chromium never blocks on a full pipe.
    (async () => {
      while (!(await reader.read().catch(() => ({ done: true }))).done) { /* drop */ }
    })();
    const targets = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
    const target = targets.find((t: { type: string }) => t.type === "page");
    if (!target) throw new Error("Chromium opened no page");
    const page = await Page.connect(target.webSocketDebuggerUrl);
    return {
      page,
      close: async () => {
        page.close();
        await close();
      },
    };
  } catch (err) {
    await close();
    throw err;
  }
}
