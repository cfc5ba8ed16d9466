/**
 * Which output shards a task writes. Items go to shards in manifest order, `shardSize` each;
 * shard s belongs to task s mod N. The task and N come from `--shard i/N`, else from the engine
 * that started the process: a Slurm job array (SLURM_ARRAY_TASK_ID, SLURM_ARRAY_TASK_COUNT and
 * SLURM_ARRAY_TASK_MIN, so `--array=1-4` works as well as `0-3`; with `--tasks N`, the id itself
 * of an array of N, so some ids can be submitted again alone) or a Kubernetes Indexed Job
 * (JOB_COMPLETION_INDEX, with N from `--tasks` since Kubernetes does not export it). A task owns
 * whole shards, so no two tasks ever write the same file.
 * @module
 */

import type { Item } from "./manifest.ts";

/** This process's part of the work: task `index` of `count`. */
export interface TaskSlot {
  index: number;
  count: number;
  /** Where it came from, for the report line ("--shard", "Slurm array", ...). */
  from: string;
}

const intOf = (s: string | undefined) => (s !== undefined && /^\d{1,9}$/.test(s) ? +s : null);

/**
 * The task slot: `--shard i/N` first, then Slurm's array variables, then a Kubernetes Indexed
 * Job's index with `tasks` (`--tasks N`); with none of them, the whole dataset (0 of 1).
 */
export function taskSlot(
  shardFlag: string | undefined,
  tasks: string | undefined,
  env: (name: string) => string | undefined = (n) => Deno.env.get(n),
): TaskSlot {
  if (shardFlag !== undefined) {
    const m = /^(\d{1,9})\/(\d{1,9})$/.exec(shardFlag);
    if (!m || +m[2] < 1 || +m[1] >= +m[2]) {
      throw new Error(
        `--shard must be i/N with 0 <= i < N (e.g. --shard 0/4), got "${shardFlag}"`,
      );
    }
    return { index: +m[1], count: +m[2], from: "--shard" };
  }
  const id = env("SLURM_ARRAY_TASK_ID");
  if (id !== undefined) {
    const task = intOf(id);
    if (task === null) {
      throw new Error(
        `Slurm's SLURM_ARRAY_TASK_ID is "${id}", not a task number; pass --shard i/N`,
      );
    }
    // Some ids of the full array again (sbatch --array=2,5 after those failed): with --tasks N,
    // the array's original size, each id keeps its shards.
    if (tasks !== undefined) {
      const count = intOf(tasks);
      if (count === null || count < 1 || task >= count) {
        throw new Error(
          `Slurm array task ${task} with --tasks ${tasks}: --tasks must be the full array's size, above every task id`,
        );
      }
      return { index: task, count, from: "Slurm array, --tasks" };
    }
    const count = intOf(env("SLURM_ARRAY_TASK_COUNT"));
    const min = intOf(env("SLURM_ARRAY_TASK_MIN") ?? "0");
    const max = intOf(env("SLURM_ARRAY_TASK_MAX") ?? String((min ?? 0) + (count ?? 1) - 1));
    if (
      count === null || min === null || max === null || count < 1 || max - min + 1 !== count ||
      task < min || task > max
    ) {
      throw new Error(
        `Slurm array task ${task} is not in a contiguous array (SLURM_ARRAY_TASK_COUNT=${
          env("SLURM_ARRAY_TASK_COUNT")
        }, MIN=${env("SLURM_ARRAY_TASK_MIN")}, MAX=${
          env("SLURM_ARRAY_TASK_MAX")
        }); submit --array=0-N (a % limit is fine, no step or list), or pass --tasks N, the full array's size`,
      );
    }
    return { index: task - min, count, from: "Slurm array" };
  }
  const k8s = env("JOB_COMPLETION_INDEX");
  if (k8s !== undefined) {
    const index = intOf(k8s), count = intOf(tasks ?? env("COSMOS_TASKS"));
    if (index === null || count === null || count < 1 || index >= count) {
      throw new Error(
        `JOB_COMPLETION_INDEX=${k8s} needs the number of tasks: pass --tasks N (the Job's completions) with 0 <= index < N`,
      );
    }
    return { index, count, from: "Kubernetes Indexed Job" };
  }
  if (tasks !== undefined) {
    throw new Error(
      `--tasks is for Kubernetes Indexed Jobs and Slurm arrays (neither JOB_COMPLETION_INDEX nor SLURM_ARRAY_TASK_ID is set); pass --shard i/N`,
    );
  }
  return { index: 0, count: 1, from: "one process" };
}

/** One output shard: its number and its items. */
export interface Shard {
  index: number;
  items: Item[];
}

/** Items cut into shards of `shardSize`, in order. */
export function planShards(items: Item[], shardSize: number): Shard[] {
  const shards: Shard[] = [];
  for (let s = 0; s * shardSize < items.length; s++) {
    shards.push({ index: s, items: items.slice(s * shardSize, (s + 1) * shardSize) });
  }
  return shards;
}

/** The shards a task writes: every `count`th from its index. */
export function shardsOf(shards: Shard[], slot: TaskSlot): Shard[] {
  return shards.filter((s) => s.index % slot.count === slot.index);
}

/** The file name of shard `s` (six digits, as WebDataset shards are usually numbered). */
export function shardName(s: number): string {
  return `shard-${String(s).padStart(6, "0")}`;
}
