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

export interface HeaderFacts {
  serverVersion: string;
  runs: number;
  gnuTime: boolean;
  quick: boolean;
  workloads: string[];
}

export async function header(facts: HeaderFacts): Promise<string> {
  const cpus = (await commandLine(["nproc"])) ?? String(navigator.hardwareConcurrency);
  const psql = (await commandLine(["psql", "--version"])) ?? "not found";
  const lines = [
    "# strata benchmark",
    "",
    `- date: ${new Date().toISOString()}`,
    `- machine: ${cpus} CPUs (nproc), ${await memory()} memory, kernel ${Deno.osRelease()}`,
    `- deno: ${Deno.version.deno} (${Deno.execPath()})`,
    `- PostgreSQL server: ${facts.serverVersion}`,
    `- client: ${psql}`,
    `- workloads: ${facts.workloads.join(", ")}${facts.quick ? " (--quick)" : ""}; ` +
    `${facts.runs} run(s) per entry, alternating between entries`,
    "- median s: median wall time of the whole process (start-up included)",
    "- ratio to strata: the row's median ÷ strata's median in the same workload",
    facts.gnuTime
      ? "- peak MiB: the largest peak RSS over the runs (GNU time %M)"
      : "- peak MiB: n/a — /usr/bin/time is missing or not GNU time",
    "",
  ];
  return lines.join("\n");
}

function cell(text: string, width: number, right: boolean): string {
  return right ? text.padStart(width) : text.padEnd(width);
}

export function table(results: Result[]): string {
  const rows = results.map((r) => {
    const reference = results.find((x) => x.workload === r.workload && x.tool.name === "strata");
    const mid = median(r.ms);
    const ratio = reference ? mid / median(reference.ms) : null;
    const rss = r.rssKiB.filter((v): v is number => v !== null);
    return [
      r.workload,
      r.tool.name,
      (mid / 1000).toFixed(3),
      ratio === null ? "n/a" : ratio.toFixed(2),
      rss.length ? (Math.max(...rss) / 1024).toFixed(0) : "n/a",
      String(r.ms.length),
    ];
  });
  const head = ["workload", "tool", "median s", "ratio to strata", "peak MiB", "runs"];
  const right = [false, false, true, true, true, true];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (row: string[]) =>
    `| ${row.map((text, i) => cell(text, widths[i], right[i])).join(" | ")} |`;
  const rule = `|${widths.map((w, i) => "-".repeat(w + 1) + (right[i] ? ":" : "-")).join("|")}|`;
  return [line(head), rule, ...rows.map(line)].join("\n") + "\n";
}
