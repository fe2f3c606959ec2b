/**
 * The Markdown the bench prints: a header saying where and with what the
 * numbers were taken (they mean nothing without it), then one table.
 */
import { median } from "./measure.ts";
import type { Result } from "./workloads.ts";

async function commandLine(cmd: string[]): Promise<string | null> {
  try {
    const out = await new Deno.Command(cmd[0], { args: cmd.slice(1), stdout: "piped" }).output();
    return out.success ? new TextDecoder().decode(out.stdout).trim() : null;
  } catch {
    return null;
  }
}

async function memory(): Promise<string> {
  try {
    const info = await Deno.readTextFile("/proc/meminfo");
    const kib = Number(/^MemTotal:\s+(\d+) kB/m.exec(info)?.[1]);
    return `${(kib / 1024 / 1024).toFixed(1)} GiB`;
  } catch {
    return "unknown";
  }
}

async function cpuModel(): Promise<string> {
  try {
    const info = await Deno.readTextFile("/proc/cpuinfo");
    return /^model name\s*:\s*(.+)$/m.exec(info)?.[1].trim() ?? "unknown CPU";
  } catch {
    return "unknown CPU";
  }
}

export interface HeaderFacts {
  serverVersion: string;
  /** The run counts used (several when a workload has its own default). */
  runs: number[];
  gnuTime: boolean;
  quick: boolean;
  workloads: string[];
  /** Each tool that ran, with its version line. */
  versions: [string, string][];
  /** Each peer left out, with the reason. */
  skipped: [string, string][];
  minutes: number;
}

export async function header(facts: HeaderFacts): Promise<string> {
  const cpus = (await commandLine(["nproc"])) ?? String(navigator.hardwareConcurrency);
  const psql = (await commandLine(["psql", "--version"])) ?? "not found";
  const lines = [
    "# strata benchmark",
    "",
    `- date: ${new Date().toISOString()}`,
    `- machine: ${await cpuModel()}, ${cpus} CPUs (nproc), ${await memory()} memory, ` +
    `kernel ${Deno.osRelease()}`,
    `- deno: ${Deno.version.deno} (${Deno.execPath()})`,
    `- PostgreSQL server: ${facts.serverVersion}`,
    `- client: ${psql}`,
    ...facts.versions.map(([name, version]) => `- ${name}: ${version}`),
    ...facts.skipped.map(([name, reason]) => `- ${name}: left out: ${reason}`),
    `- workloads: ${facts.workloads.join(", ")}${facts.quick ? " (--quick)" : ""}; ` +
    `${facts.runs.join(" or ")} run(s) per entry, alternating between entries; ` +
    `${facts.minutes.toFixed(1)} min in all`,
    "- median s: median wall time of the whole process (start-up included)",
    "- ratio to strata: the row's median ÷ strata's median in the same workload",
    facts.gnuTime
      ? "- peak MiB: the largest peak RSS over the runs (GNU time %M: the largest single " +
        "process of the tool's process tree, not their sum)"
      : "- peak MiB: n/a — /usr/bin/time is missing or not GNU time",
    "",
  ];
  return lines.join("\n");
}

function cell(text: string, width: number, right: boolean): string {
  return right ? text.padStart(width) : text.padEnd(width);
}

/** A row's median in ms, or null when it has no complete set of runs (failed or unsupported). */
export function medianOf(r: Result): number | null {
  return r.failure || r.unsupported || r.ms.length === 0 ? null : median(r.ms);
}

/** The largest peak RSS of a row in MiB, or null. */
export function peakMiB(r: Result): number | null {
  const rss = r.rssKiB.filter((v): v is number => v !== null);
  return rss.length ? Math.max(...rss) / 1024 : null;
}

export function table(results: Result[]): string {
  const notes: string[] = [];
  const rows = results.map((r) => {
    const reference = results.find((x) => x.workload === r.workload && x.tool.name === "strata");
    const mid = medianOf(r);
    const base = reference ? medianOf(reference) : null;
    const ratio = mid !== null && base !== null ? mid / base : null;
    const peak = peakMiB(r);
    let shown = mid === null ? "n/a" : (mid / 1000).toFixed(3);
    if (r.unsupported) shown = "—";
    if (r.failure) {
      notes.push(`${r.tool.name}, ${r.workload}: ${r.failure.split("\n")[0]}`);
      shown = `failed [${notes.length}]`;
    }
    return [
      r.workload,
      r.tool.name + (r.unsupported ? ` (${r.unsupported})` : ""),
      shown,
      ratio === null ? "" : ratio.toFixed(2),
      peak === null ? (r.ms.length ? "n/a" : "") : peak.toFixed(0),
      String(r.ms.length),
    ];
  });
  const head = ["workload", "tool", "median s", "ratio to strata", "peak MiB", "runs"];
  const right = [false, false, true, true, true, true];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (row: string[]) =>
    `| ${row.map((text, i) => cell(text, widths[i], right[i])).join(" | ")} |`;
  const rule = `|${widths.map((w, i) => "-".repeat(w + 1) + (right[i] ? ":" : "-")).join("|")}|`;
  const footnotes = notes.map((text, i) => `${i + 1}. ${text}`);
  return [line(head), rule, ...rows.map(line), ...(notes.length ? ["", ...footnotes] : [])]
    .join("\n") + "\n";
}
