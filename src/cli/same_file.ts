/**
 * Whether two paths name one file, for refusing an output that would replace an input. Strings
 * cannot tell: "./a.png", "a.png", "/abs/a.png", "dir/../a.png", a symlink to a.png and a hard
 * link of it all name the same file. A path is reduced to its real path (symlinks and ".."
 * resolved by the file system; for a path that does not exist yet, its nearest existing ancestor's
 * real path plus the rest, which the CLI creates as plain directories) and, where the file
 * exists, its device and inode (what a hard link shares).
 * @module
 */

/** What identifies the file a path names. */
export interface FileIdentity {
  /** The absolute path with every symlink and "." / ".." resolved. */
  real: string;
  /** "device:inode" of an existing file (shared by its hard links), else null. */
  node: string | null;
}

/** The identity of the file `path` names, or would name once written. */
export function identityOf(path: string): FileIdentity {
  let node: string | null = null;
  try {
    const stat = Deno.statSync(path);
    if (stat.dev !== null && stat.ino !== null) node = `${stat.dev}:${stat.ino}`;
  } catch {
    // not there (yet), or a dangling symlink: no inode to share
  }
  return { real: realPathOf(path), node };
}

/**
 * The real path of `path`; where it does not exist, that of its longest existing prefix with the
 * missing components appended (a ".." among them undoes the component before it, which is a
 * directory the CLI is about to create, or the real prefix's last one).
 */
function realPathOf(path: string): string {
  try {
    return Deno.realPathSync(path);
  } catch {
    // resolved below, a component at a time
  }
  const absolute = path.startsWith("/") ? path : `${Deno.cwd()}/${path}`;
  const parts = absolute.split("/").filter((p) => p !== "" && p !== ".");
  for (let i = parts.length - 1; i >= 0; i--) {
    let head: string;
    try {
      head = Deno.realPathSync(`/${parts.slice(0, i).join("/")}`);
    } catch {
      continue;
    }
    const out = head.split("/").filter((p) => p !== "");
    for (const part of parts.slice(i)) {
      if (part === "..") out.pop();
      else out.push(part);
    }
    return `/${out.join("/")}`;
  }
  return absolute;
}

/** Keys by which two identities are the same file: the real path, and the inode if known. */
export function identityKeys(id: FileIdentity): string[] {
  return id.node === null ? [`path:${id.real}`] : [`path:${id.real}`, `node:${id.node}`];
}
