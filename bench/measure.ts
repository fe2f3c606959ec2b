/**
 * Running one command and timing it. Wall time is taken here with
 * performance.now() around the child (GNU time's %e has 10 ms steps, too
 * coarse for a 50 ms command); peak RSS comes from GNU time's %M, written to
 * a file so it never mixes with the command's own stderr.
 */
import { join } from "node:path";

export interface Sample {
  ms: number;
  /** Peak resident set of the child in KiB, null without GNU time. */
  rssKiB: number | null;
  /** User + system CPU of the child and the children it waited for, in ms; null without GNU time. */
  cpuMs: number | null;
}

const GNU_TIME = "/usr/bin/time";

/** Whether /usr/bin/time is GNU time (BusyBox and BSD time lack -f/-o). */
export async function hasGnuTime(): Promise<boolean> {
  try {
    const probe = await new Deno.Command(GNU_TIME, {
      args: ["-f", "%e %M", "true"],
      stdout: "null",
      stderr: "piped",
    }).output();
    return probe.success && /^\d+\.\d+ \d+\s*$/.test(new TextDecoder().decode(probe.stderr));
  } catch {
    return false;
  }
}

/** Set on SIGINT/SIGTERM: the next command throws instead of starting, and cleanup runs. */
export const stop = { requested: false };

function tail(bytes: Uint8Array): string {
  const text = new TextDecoder().decode(bytes).trimEnd();
  return text.length > 2000 ? "…" + text.slice(-2000) : text;
}

/** One command to run: the program and arguments, its working directory, extra environment. */
export interface Command {
  cmd: string[];
  cwd: string;
  env?: Record<string, string>;
}

/** Run a command once; throw with its output when it fails. */
export async function timed(
  command: Command,
  gnuTime: boolean,
  scratch: string,
): Promise<Sample> {
  const { cmd, cwd } = command;
  if (stop.requested) throw new Error("interrupted");
  const report = join(scratch, "time.out");
  const [program, ...args] = gnuTime ? [GNU_TIME, "-f", "%e %M %U %S", "-o", report, ...cmd] : cmd;
  const child = new Deno.Command(program, {
    args,
    cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...command.env },
  });
  const started = performance.now();
  const result = await child.output();
  const ms = performance.now() - started;
  if (!result.success) {
    throw new Error(
      `failed (exit ${result.code}): ${cmd.join(" ")}\n${tail(result.stdout)}\n${
        tail(result.stderr)
      }`,
    );
  }
  let rssKiB: number | null = null;
  let cpuMs: number | null = null;
  if (gnuTime) {
    const fields = (await Deno.readTextFile(report)).trim().split("\n").at(-1)!.split(" ");
    rssKiB = Number(fields[1]);
    cpuMs = (Number(fields[2]) + Number(fields[3])) * 1000;
  }
  return { ms, rssKiB, cpuMs };
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export interface Entry extends Command {
  tool: string;
  /**
   * Whether a failure stops the bench (strata, floors). When not, the entry's
   * failure is kept, it takes no further runs, and the others go on (peers).
   */
  fatal: boolean;
  /** Bring the state back before a run (e.g. a fresh database); not timed. */
  reset?: () => Promise<void>;
  /** Check the run did its work (e.g. the tables exist); not timed. */
  verify?: () => Promise<void>;
}

/** An entry's runs: its samples, and why it stopped when it failed. */
export interface Outcome {
  samples: Sample[];
  failure?: string;
}

/**
 * `runs` rounds, each running every entry once in the same order: A B A B….
 * Plain alternation, so each entry always follows the same neighbour and
 * background work left by one run (a dropped database being unlinked, dirty
 * pages) falls on the entries evenly. (Rotating the start of each round made
 * A B | B A | A B, where an entry right after its own previous run paid for
 * it, and with an odd number of runs one entry got that more often.)
 */
export async function measureGroup(
  entries: Entry[],
  runs: number,
  gnuTime: boolean,
  scratch: string,
  log: (text: string) => void,
): Promise<Map<string, Outcome>> {
  const outcomes = new Map<string, Outcome>(entries.map((e) => [e.tool, { samples: [] }]));
  for (let round = 0; round < runs; round++) {
    for (const entry of entries) {
      const outcome = outcomes.get(entry.tool)!;
      if (outcome.failure) continue;
      try {
        await entry.reset?.();
        const sample = await timed(entry, gnuTime, scratch);
        await entry.verify?.();
        outcome.samples.push(sample);
        log(`    ${entry.tool}: ${(sample.ms / 1000).toFixed(3)} s`);
      } catch (error) {
        if (entry.fatal || stop.requested) throw error;
        outcome.failure = (error as Error).message;
        log(`    ${entry.tool}: FAILED, left out of this workload:\n${outcome.failure}`);
      }
    }
  }
  return outcomes;
}
