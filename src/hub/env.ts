/**
 * Hugging Face hub settings read the way the Python client (huggingface_hub) reads them:
 * HF_ENDPOINT, HF_TOKEN (or the token file `huggingface-cli login` saves), HF_HOME,
 * HF_HUB_CACHE and HF_HUB_OFFLINE. Nothing here touches Deno at import time, so the package
 * still imports in a browser.
 * @module
 */

/** The Deno namespace where there is one (Deno), else undefined (browsers). */
export function denoApi(): typeof Deno | undefined {
  return (globalThis as { Deno?: typeof Deno }).Deno;
}

/** An environment variable, or undefined where it is unset, unreadable or there is no Deno. */
export function envVar(name: string): string | undefined {
  const deno = denoApi();
  if (!deno) return undefined;
  try {
    const v = deno.env.get(name);
    return v === undefined || v === "" ? undefined : v;
  } catch {
    return undefined; // no --allow-env: behave as if unset
  }
}

/** Joins path segments with "/" (which Deno accepts on every platform). */
export function joinPath(...parts: string[]): string {
  return parts
    .filter((p) => p !== "")
    .map((p, i) => (i === 0 ? p.replace(/[\\/]+$/, "") : p.replace(/^[\\/]+|[\\/]+$/g, "")))
    .join("/") || "/";
}

function homeDir(): string | undefined {
  return envVar("HOME") ?? envVar("USERPROFILE");
}

/** Expands a leading "~" as Python's os.path.expanduser does. */
export function expandHome(path: string): string {
  if (path !== "~" && !path.startsWith("~/") && !path.startsWith("~\\")) return path;
  const home = homeDir();
  return home ? home + path.slice(1) : path;
}

/** HF_HOME, else $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface. */
export function hfHome(): string {
  const explicit = envVar("HF_HOME");
  if (explicit) return expandHome(explicit);
  const xdg = envVar("XDG_CACHE_HOME");
  if (xdg) return joinPath(expandHome(xdg), "huggingface");
  const home = homeDir();
  if (!home) throw new Error("Cannot locate the Hugging Face cache: set HF_HOME or HF_HUB_CACHE");
  return joinPath(home, ".cache", "huggingface");
}

/** The hub cache directory: HF_HUB_CACHE, else $HF_HOME/hub. */
export function hubCacheDir(): string {
  const explicit = envVar("HF_HUB_CACHE");
  return explicit ? expandHome(explicit) : joinPath(hfHome(), "hub");
}

/** HF_ENDPOINT without a trailing slash, else https://huggingface.co. */
export function hubEndpoint(): string {
  return (envVar("HF_ENDPOINT") ?? "https://huggingface.co").replace(/\/+$/, "");
}

/** HF_TOKEN, else the token file (HF_TOKEN_PATH, else $HF_HOME/token), else undefined. */
export async function hubToken(): Promise<string | undefined> {
  const fromEnv = envVar("HF_TOKEN");
  if (fromEnv) return fromEnv.trim();
  const deno = denoApi();
  if (!deno) return undefined;
  try {
    const path = envVar("HF_TOKEN_PATH") ?? joinPath(hfHome(), "token");
    const text = (await deno.readTextFile(expandHome(path))).trim();
    return text || undefined;
  } catch {
    return undefined;
  }
}

/** HF_HUB_OFFLINE set to 1/ON/YES/TRUE. */
export function hubOffline(): boolean {
  return ["1", "ON", "YES", "TRUE"].includes((envVar("HF_HUB_OFFLINE") ?? "").toUpperCase());
}
