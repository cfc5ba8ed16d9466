/**
 * The durable queue of elastic mode: a Redis stream of shard messages read through one consumer
 * group. Redis Streams (Debian's redis-server) fit because the group keeps, per message, which
 * worker holds it and since when: a worker acknowledges (XACK) a shard only once its tar and
 * index are durably on disk; a message a dead worker held shows as idle, and after the
 * visibility timeout XAUTOCLAIM hands it to a live worker, which resumes from the item records
 * the dead one left. A live worker renews its claim (XCLAIM ... JUSTID resets the idle time) as
 * it goes, so a long shard is not taken from it. With `appendonly yes` the stream and the group
 * survive a restart of the server.
 *
 * A shard that fails or kills its worker every time would be handed round for ever: the group
 * counts each message's deliveries, and past `--max-deliveries` a message is dead-lettered,
 * copied with its last error to the stream NAME:dead and acknowledged in one MULTI (so it is
 * never both in the group and in the dead letters). The last error of a shard that failed as a
 * whole is kept in the hash NAME:errors until then.
 * @module
 */

import { RedisClient, RedisReplyError, type Reply } from "./resp.ts";
import { checkKey, type Item } from "./manifest.ts";
import type { Shard } from "./shards.ts";

/** Where a queue is: `redis://[:PASSWORD@]HOST:PORT/NAME`. */
export interface QueueAddress {
  hostname: string;
  port: number;
  password?: string;
  /** The stream's key. */
  stream: string;
}

const GROUP = "cosmos-workers";

/** Parses `--queue`. */
export function parseQueueUrl(text: string): QueueAddress {
  let url: URL | null = null;
  try {
    url = new URL(text);
  } catch {
    // reported below
  }
  const stream = url ? decodeURIComponent(url.pathname.slice(1)) : "";
  if (!url || url.protocol !== "redis:" || !url.hostname || !/^[\w:.-]{1,200}$/.test(stream)) {
    throw new Error(
      `--queue must be redis://HOST:PORT/NAME (NAME: the stream, letters, digits, "_.:-"), got "${text}"`,
    );
  }
  return {
    hostname: url.hostname.replace(/^\[|\]$/g, ""),
    port: url.port ? Number(url.port) : 6379,
    password: url.password ? decodeURIComponent(url.password) : undefined,
    stream,
  };
}

/** A shard taken from the queue: the message id to acknowledge, and the shard. */
export type Claimed = { id: string; shard: Shard } | {
  id: string;
  /** Why the message is not a shard (it is acknowledged and skipped, never retried). */
  invalid: string;
};

/** What `status --queue` shows of the queue. */
export interface QueueStats {
  /** Messages in the stream (acknowledged ones included until trimmed). */
  length: number;
  /** Shards not yet given to any worker. */
  waiting: number | null;
  /** Shards a worker holds and has not acknowledged. */
  pending: number;
  /** Workers that have read from the group, with how long each has been silent. */
  consumers: { name: string; pending: number; idleMs: number }[];
  /** Shards dead-lettered (see the module's doc), and the first DEAD_SHOWN of them. */
  deadLettered: number;
  dead: DeadLetter[];
}

/**
 * A dead-lettered shard: its message id, shard number, deliveries and last error. An entry of
 * NAME:dead that deadLetter did not write has shard -1 and only `entry`, its id there.
 */
export interface DeadLetter {
  entry: string;
  id: string;
  shard: number;
  deliveries: number;
  error: string;
}

/** Dead letters `status` lists (it counts them all). */
const DEAD_SHOWN = 100;
/** Longest error kept per message: a message is bytes of ours, but its error quotes inputs. */
const MAX_ERROR_CHARS = 2000;

function isArray(r: Reply): r is Reply[] {
  return Array.isArray(r);
}

/** A message's fields ([k, v, k, v]) as an object. */
function fields(r: Reply): Record<string, string> {
  const out: Record<string, string> = {};
  if (!isArray(r)) return out;
  for (let i = 0; i + 1 < r.length; i += 2) {
    if (typeof r[i] === "string" && typeof r[i + 1] === "string") {
      out[r[i] as string] = r[i + 1] as string;
    }
  }
  return out;
}

/** Checks a shard message (bytes from the network) and gives its shard. */
export function parseShardMessage(id: string, f: Record<string, string>): Shard {
  const bad = (what: string): never => {
    throw new Error(
      `Queue message ${id} is not a shard of cosmos dataset enqueue (${what}); skipped (it was put there by something else: remove it with XDEL)`,
    );
  };
  let v: { shard?: unknown; items?: unknown };
  try {
    v = JSON.parse(f.shard ?? "");
  } catch {
    return bad("no JSON shard field");
  }
  if (!Number.isInteger(v?.shard) || (v.shard as number) < 0 || !Array.isArray(v.items)) {
    return bad("no shard number or items");
  }
  const items: Item[] = (v.items as unknown[]).map((x) => {
    const o = x as Record<string, unknown>;
    const m = o?.member as Record<string, unknown> | undefined;
    if (
      typeof o?.key !== "string" || typeof o.source !== "string" ||
      (o.kind !== "image" && o.kind !== "video") || typeof o.ext !== "string" ||
      !/^[a-z0-9]{1,10}$/.test(o.ext) ||
      (m !== undefined &&
        (typeof m.tar !== "string" || !Number.isSafeInteger(m.offset) ||
          !Number.isSafeInteger(m.size) || (m.offset as number) < 0 || (m.size as number) < 0))
    ) return bad("an item without key, source, kind and extension");
    checkKey(o.key, `Queue message ${id}`);
    const item: Item = { key: o.key, source: o.source, kind: o.kind, ext: o.ext };
    if (m) {
      item.member = { tar: m.tar as string, offset: m.offset as number, size: m.size as number };
    }
    return item;
  });
  if (!items.length) bad("no items");
  return { index: v.shard as number, items };
}

/** A worker's (or enqueue's) connection to the queue. */
export class ShardQueue {
  private constructor(
    readonly client: RedisClient,
    readonly address: QueueAddress,
    readonly consumer: string,
  ) {}

  /** Connects and makes the stream and its group if they are not there yet. */
  static async open(address: QueueAddress, consumer: string): Promise<ShardQueue> {
    const client = await RedisClient.connect(address.hostname, address.port, address.password);
    try {
      // From id 0: shards enqueued before the group existed are delivered too.
      await client.command("XGROUP", "CREATE", address.stream, GROUP, "0", "MKSTREAM");
    } catch (err) {
      if (!(err instanceof RedisReplyError && /BUSYGROUP/.test(err.message))) {
        client.close();
        throw err;
      }
    }
    return new ShardQueue(client, address, consumer);
  }

  /** Adds one message per shard. */
  async enqueue(shards: Shard[]): Promise<void> {
    for (const s of shards) {
      const body = JSON.stringify({ shard: s.index, items: s.items });
      await this.client.command("XADD", this.address.stream, "*", "shard", body);
    }
  }

  #claimed(entry: Reply): Claimed | null {
    if (!isArray(entry) || typeof entry[0] !== "string") return null;
    try {
      return { id: entry[0], shard: parseShardMessage(entry[0], fields(entry[1])) };
    } catch (err) {
      return { id: entry[0], invalid: (err as Error).message };
    }
  }

  /** A shard another worker has held silent for `visibilityMs`, now ours; or null. */
  async claimStale(visibilityMs: number): Promise<Claimed | null> {
    const r = await this.client.command(
      "XAUTOCLAIM",
      this.address.stream,
      GROUP,
      this.consumer,
      visibilityMs,
      "0-0",
      "COUNT",
      1,
    );
    const entries = isArray(r) && isArray(r[1]) ? r[1] : [];
    return entries.length ? this.#claimed(entries[0]) : null;
  }

  /** A shard no worker has had yet, waiting up to `blockMs` for one; or null. */
  async readNew(blockMs: number): Promise<Claimed | null> {
    const r = await this.client.command(
      "XREADGROUP",
      "GROUP",
      GROUP,
      this.consumer,
      "COUNT",
      1,
      "BLOCK",
      blockMs,
      "STREAMS",
      this.address.stream,
      ">",
    );
    const streams = isArray(r) ? r : [];
    const entries = isArray(streams[0]) && isArray(streams[0][1]) ? streams[0][1] : [];
    return entries.length ? this.#claimed(entries[0]) : null;
  }

  /** Resets the idle time of a message we hold, so it is not taken from us. */
  async renew(id: string): Promise<void> {
    await this.client.command("XCLAIM", this.address.stream, GROUP, this.consumer, 0, id, "JUSTID");
  }

  /** Acknowledges a shard: its output is durable. */
  async ack(id: string): Promise<void> {
    await this.client.command("XACK", this.address.stream, GROUP, id);
  }

  /** How many times the message has been delivered (1 on its first read; 0 if not pending). */
  async deliveries(id: string): Promise<number> {
    const r = await this.client.command("XPENDING", this.address.stream, GROUP, id, id, 1);
    const entry = isArray(r) && isArray(r[0]) ? r[0] : [];
    return typeof entry[3] === "number" ? entry[3] : 0;
  }

  /** Keeps why a shard failed as a whole, for its dead letter if it comes to that. */
  async noteError(id: string, error: string): Promise<void> {
    await this.client.command("HSET", this.#errors, id, error.slice(0, MAX_ERROR_CHARS));
  }

  /** The error noteError kept for a message, or null. */
  async lastError(id: string): Promise<string | null> {
    const r = await this.client.command("HGET", this.#errors, id);
    return typeof r === "string" ? r : null;
  }

  /**
   * Moves a shard to the dead letters: added to NAME:dead with `deliveries` and `error`, and
   * acknowledged, atomically (MULTI), so no worker is handed it again.
   */
  async deadLetter(
    claimed: { id: string; shard: Shard },
    deliveries: number,
    error: string,
  ): Promise<void> {
    const body = JSON.stringify({ shard: claimed.shard.index, items: claimed.shard.items });
    const c = this.client;
    await c.command("MULTI");
    try {
      await c.command(
        "XADD",
        this.#dead,
        "*",
        ...["id", claimed.id, "shard", body, "deliveries", deliveries],
        ...["error", error.slice(0, MAX_ERROR_CHARS)],
      );
      await c.command("XACK", this.address.stream, GROUP, claimed.id);
      await c.command("HDEL", this.#errors, claimed.id);
    } catch (err) {
      await c.command("DISCARD").catch(() => {});
      throw err;
    }
    await c.command("EXEC");
  }

  /** Forgets the dead letters and errors of a run before (enqueue puts their shards back). */
  async clearDeadLetters(): Promise<number> {
    const n = await this.client.command("XLEN", this.#dead);
    await this.client.command("DEL", this.#dead, this.#errors);
    return typeof n === "number" ? n : 0;
  }

  get #dead(): string {
    return `${this.address.stream}:dead`;
  }

  get #errors(): string {
    return `${this.address.stream}:errors`;
  }

  /** Messages delivered to some worker and not acknowledged. */
  async pending(): Promise<number> {
    const r = await this.client.command("XPENDING", this.address.stream, GROUP);
    return isArray(r) && typeof r[0] === "number" ? r[0] : 0;
  }

  /** The queue's depth and its workers. */
  async stats(): Promise<QueueStats> {
    const length = await this.client.command("XLEN", this.address.stream);
    const groups = await this.client.command("XINFO", "GROUPS", this.address.stream);
    const group = (isArray(groups) ? groups : []).map(fieldsAny).find((g) => g.name === GROUP);
    const consumers = await this.client.command(
      "XINFO",
      "CONSUMERS",
      this.address.stream,
      GROUP,
    );
    const deadLettered = await this.client.command("XLEN", this.#dead);
    const dead = await this.client.command("XRANGE", this.#dead, "-", "+", "COUNT", DEAD_SHOWN);
    return {
      length: typeof length === "number" ? length : 0,
      waiting: typeof group?.lag === "number" ? group.lag : null,
      pending: typeof group?.pending === "number" ? group.pending : 0,
      consumers: (isArray(consumers) ? consumers : []).map(fieldsAny).map((c) => ({
        name: String(c.name),
        pending: Number(c.pending ?? 0),
        idleMs: Number(c.idle ?? 0),
      })),
      deadLettered: typeof deadLettered === "number" ? deadLettered : 0,
      dead: (isArray(dead) ? dead : []).map((e) => {
        // Our own entries, but read back from the network: anything odd shows as -1 / "".
        const f = fields(isArray(e) ? e[1] : null);
        let shard = -1;
        try {
          const v = JSON.parse(f.shard ?? "")?.shard;
          if (Number.isInteger(v)) shard = v;
        } catch {
          // not ours: shown as -1
        }
        return {
          entry: isArray(e) && typeof e[0] === "string" ? e[0] : "",
          id: f.id ?? "",
          shard,
          deliveries: Number(f.deliveries) || 0,
          error: f.error ?? "",
        };
      }),
    };
  }

  close(): void {
    this.client.close();
  }
}

/** An XINFO entry ([k, v, k, v], values of any type) as an object. */
function fieldsAny(r: Reply): Record<string, Reply> {
  const out: Record<string, Reply> = {};
  if (!isArray(r)) return out;
  for (let i = 0; i + 1 < r.length; i += 2) {
    if (typeof r[i] === "string") out[r[i] as string] = r[i + 1];
  }
  return out;
}
