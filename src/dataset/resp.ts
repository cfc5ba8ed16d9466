/**
 * A small Redis client: RESP2 over one TCP connection (Deno.connect), commands sent one at a
 * time in order. Written here rather than taken from npm because the queue needs eight stream
 * commands and nothing else, and the library stays free of dependencies. Replies are bytes from
 * the network: every length is checked before anything is allocated (a bulk string over
 * `MAX_BULK`, an array over `MAX_ARRAY` elements or nested deeper than `MAX_DEPTH` is refused),
 * so a hostile or broken server cannot make the client hold more than that.
 * @module
 */

/** A reply: a (bulk or simple) string, an integer, null, or an array of replies. */
export type Reply = string | number | null | Reply[];

/** Largest bulk string accepted: a shard message is a few hundred bytes per item. */
export const MAX_BULK = 64 << 20;
/** Most elements of one array reply. */
export const MAX_ARRAY = 1 << 20;
const MAX_DEPTH = 8;
const MAX_LINE = 64 << 10;

/** An error the server replied with ("-ERR ..."). */
export class RedisReplyError extends Error {}

export class RedisClient {
  #conn: Deno.Conn;
  #buf = new Uint8Array(0);
  #chain: Promise<unknown> = Promise.resolve();
  #where: string;

  private constructor(conn: Deno.Conn, where: string) {
    this.#conn = conn;
    this.#where = where;
  }

  /** Connects to `hostname:port` (and AUTHs with `password` when given). */
  static async connect(hostname: string, port: number, password?: string): Promise<RedisClient> {
    const where = `${hostname}:${port}`;
    let conn: Deno.Conn;
    try {
      conn = await Deno.connect({ hostname, port });
    } catch (err) {
      throw new Error(
        `Cannot connect to the queue at ${where}: ${
          (err as Error).message
        }; is redis-server running there?`,
      );
    }
    const client = new RedisClient(conn, where);
    if (password !== undefined) await client.command("AUTH", password);
    return client;
  }

  /** Sends one command and returns its reply; an error reply throws RedisReplyError. */
  command(...args: (string | number)[]): Promise<Reply> {
    const run = this.#chain.then(() => this.#run(args));
    this.#chain = run.catch(() => {});
    return run;
  }

  async #run(args: (string | number)[]): Promise<Reply> {
    const enc = new TextEncoder();
    const parts = args.map((a) => enc.encode(String(a)));
    const head = enc.encode(`*${parts.length}\r\n`);
    const chunks: Uint8Array[] = [head];
    for (const p of parts) chunks.push(enc.encode(`$${p.length}\r\n`), p, enc.encode("\r\n"));
    const total = chunks.reduce((a, c) => a + c.length, 0);
    const msg = new Uint8Array(total);
    let at = 0;
    for (const c of chunks) msg.set(c, (at += c.length) - c.length);
    for (let off = 0; off < msg.length;) off += await this.#conn.write(msg.subarray(off));
    return await this.#reply(0);
  }

  /** Closes the connection. */
  close(): void {
    try {
      this.#conn.close();
    } catch {
      // closed already
    }
  }

  #fail(what: string): never {
    this.close();
    throw new Error(`The queue at ${this.#where} sent a bad reply: ${what}; is it a Redis server?`);
  }

  /** Reads more bytes into the buffer (throws when the server hung up). */
  async #fill(): Promise<void> {
    const chunk = new Uint8Array(64 << 10);
    const n = await this.#conn.read(chunk);
    if (n === null) {
      throw new Error(`The queue at ${this.#where} closed the connection; is redis-server up?`);
    }
    const next = new Uint8Array(this.#buf.length + n);
    next.set(this.#buf);
    next.set(chunk.subarray(0, n), this.#buf.length);
    this.#buf = next;
  }

  /** The next `n` bytes, read straight into one buffer of that size (n is checked first). */
  async #exactly(n: number): Promise<Uint8Array> {
    if (this.#buf.length >= n) {
      const out = this.#buf.subarray(0, n);
      this.#buf = this.#buf.subarray(n);
      return out;
    }
    const out = new Uint8Array(n);
    out.set(this.#buf);
    let got = this.#buf.length;
    this.#buf = new Uint8Array(0);
    while (got < n) {
      const r = await this.#conn.read(out.subarray(got));
      if (r === null) {
        throw new Error(`The queue at ${this.#where} closed the connection; is redis-server up?`);
      }
      got += r;
    }
    return out;
  }

  async #line(): Promise<string> {
    while (true) {
      const end = this.#buf.indexOf(10);
      if (end > 0 && this.#buf[end - 1] === 13) {
        const line = new TextDecoder().decode(this.#buf.subarray(0, end - 1));
        this.#buf = this.#buf.subarray(end + 1);
        return line;
      }
      if (this.#buf.length > MAX_LINE) this.#fail(`a line longer than ${MAX_LINE} bytes`);
      await this.#fill();
    }
  }

  #count(text: string, max: number, what: string): number {
    if (!/^-?\d{1,12}$/.test(text)) this.#fail(`${what} length "${text.slice(0, 20)}"`);
    const n = Number(text);
    if (n > max) this.#fail(`a ${what} of ${n}, over the limit of ${max}`);
    return n;
  }

  async #reply(depth: number): Promise<Reply> {
    if (depth > MAX_DEPTH) this.#fail(`arrays nested deeper than ${MAX_DEPTH}`);
    const line = await this.#line();
    const type = line[0], rest = line.slice(1);
    switch (type) {
      case "+":
        return rest;
      case "-":
        throw new RedisReplyError(`The queue at ${this.#where} says: ${rest}`);
      case ":":
        if (!/^-?\d{1,19}$/.test(rest)) this.#fail(`integer "${rest.slice(0, 20)}"`);
        return Number(rest);
      case "$": {
        const n = this.#count(rest, MAX_BULK, "bulk string");
        if (n < 0) return null;
        const bytes = await this.#exactly(n + 2);
        if (bytes[n] !== 13 || bytes[n + 1] !== 10) this.#fail("a bulk string not ended by CRLF");
        return new TextDecoder().decode(bytes.subarray(0, n));
      }
      case "*": {
        const n = this.#count(rest, MAX_ARRAY, "array");
        if (n < 0) return null;
        const out: Reply[] = [];
        for (let i = 0; i < n; i++) out.push(await this.#reply(depth + 1));
        return out;
      }
      default:
        this.#fail(`type byte ${JSON.stringify(type ?? "")}`);
    }
  }
}
