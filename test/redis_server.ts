/**
 * Debian's redis-server for the dataset queue tests: started for real on 127.0.0.1, on a free
 * port, with its data in the test's folder (appendonly yes). REDIS is null where it is not
 * installed (.ci/run installs it), and the tests skip, saying why.
 * @module
 */

/** The redis-server binary, or null. */
export const REDIS: string | null = ["/usr/bin/redis-server", "/usr/sbin/redis-server"].find(
  (p) => {
    try {
      return Deno.statSync(p).isFile;
    } catch {
      return false;
    }
  },
) ?? null;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** redis-server on a free port of 127.0.0.1, with its data in `dir`. */
export async function startRedis(dir: string): Promise<{ port: number; child: Deno.ChildProcess }> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 20000);
    const child = new Deno.Command(REDIS!, {
      args: [
        ...["--port", String(port), "--bind", "127.0.0.1", "--dir", dir],
        ...["--appendonly", "yes", "--save", "", "--daemonize", "no"],
      ],
      stdout: "null",
      stderr: "null",
    }).spawn();
    for (let i = 0; i < 50; i++) {
      try {
        (await Deno.connect({ hostname: "127.0.0.1", port })).close();
        return { port, child };
      } catch {
        await sleep(100);
      }
    }
    child.kill("SIGKILL");
    await child.status;
  }
  throw new Error("redis-server did not start");
}

/**
 * Runs `fn` with a fresh folder (prefix `prefix`) and a redis-server keeping its data there;
 * stops the server and removes the folder after, whatever `fn` did.
 */
export async function withRedis(
  prefix: string,
  fn: (dir: string, port: number) => Promise<void>,
): Promise<void> {
  const dir = Deno.makeTempDirSync({ prefix });
  const redis = await startRedis(dir);
  try {
    await fn(dir, redis.port);
  } finally {
    redis.child.kill("SIGKILL");
    await redis.child.status;
    Deno.removeSync(dir, { recursive: true });
  }
}
