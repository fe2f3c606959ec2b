/**
 * Where strata stands against the targets of the benchmark's issue, computed
 * from the same results as the table. Printed, never asserted: the bench
 * exits 0 whether a target is met or not.
 */
import { medianOf, peakMiB } from "./report.ts";
import type { Result } from "./workloads.ts";

interface Line {
  target: string;
  workload: string;
  strata: string;
  reference: string;
  ratio: string;
  verdict: "met" | "missed" | "not measured";
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(3)} s`;
}

function rowsOf(results: Result[], workload: string) {
  return results.filter((r) => r.workload === workload);
}

function strataOf(results: Result[], workload: string): Result | undefined {
  return rowsOf(results, workload).find((r) => r.tool.kind === "strata");
}

/** strata's median ÷ the reference's median must be at most `limit`. */
function within(
  results: Result[],
  workload: string,
  reference: string,
  limit: number,
  target: string,
): Line {
  const mine = strataOf(results, workload);
  const other = rowsOf(results, workload).find((r) => r.tool.name === reference);
  const a = mine ? medianOf(mine) : null;
  const b = other ? medianOf(other) : null;
  if (a === null || b === null) {
    return { target, workload, strata: "", reference, ratio: "", verdict: "not measured" };
  }
  return {
    target,
    workload,
    strata: seconds(a),
    reference: `${reference}: ${seconds(b)}`,
    ratio: `${(a / b).toFixed(3)}× (limit ${limit.toFixed(2)}×)`,
    verdict: a / b <= limit ? "met" : "missed",
  };
}

/** strata's median must be below every peer's (but those excepted) that ran this workload. */
function ahead(results: Result[], workload: string, except: string[], target: string): Line {
  const mine = strataOf(results, workload);
  const a = mine ? medianOf(mine) : null;
  const peers = rowsOf(results, workload)
    .filter((r) => r.tool.kind === "peer" && !except.includes(r.tool.name))
    .map((r) => ({ name: r.tool.name, ms: medianOf(r) }))
    .filter((p): p is { name: string; ms: number } => p.ms !== null)
    .sort((x, y) => x.ms - y.ms);
  if (a === null || peers.length === 0) {
    return { target, workload, strata: "", reference: "", ratio: "", verdict: "not measured" };
  }
  const fastest = peers[0];
  return {
    target,
    workload,
    strata: seconds(a),
    reference: `fastest peer${except.length ? ` but ${except.join(", ")}` : ""}: ` +
      `${fastest.name} ${seconds(fastest.ms)} (of ${peers.length})`,
    ratio: `${(a / fastest.ms).toFixed(3)}×`,
    verdict: a < fastest.ms ? "met" : "missed",
  };
}

function peakBelow(results: Result[], prefix: string, limitMiB: number, target: string): Line {
  const peaks = results
    .filter((r) => r.workload.startsWith(prefix) && r.tool.kind === "strata")
    .map((r) => ({ workload: r.workload, mib: peakMiB(r) }))
    .filter((p): p is { workload: string; mib: number } => p.mib !== null)
    .sort((x, y) => y.mib - x.mib);
  if (peaks.length === 0) {
    return { target, workload: "", strata: "", reference: "", ratio: "", verdict: "not measured" };
  }
  return {
    target,
    workload: `${peaks[0].workload} (the largest)`,
    strata: `${peaks[0].mib.toFixed(0)} MiB`,
    reference: `limit ${limitMiB} MiB`,
    ratio: `${(peaks[0].mib / limitMiB).toFixed(2)}× of the limit`,
    verdict: peaks[0].mib < limitMiB ? "met" : "missed",
  };
}

export function goals(results: Result[]): string {
  const workloads = [...new Set(results.map((r) => r.workload))];
  const pick = (prefix: string) => workloads.filter((w) => w.startsWith(prefix));
  const deno = "floor: deno + postgres select 1";
  const psql = "floor: psql, one query per revision";
  const lines: Line[] = [
    ...pick("W1 ").map((w) =>
      within(results, w, deno, 1.25, "W1 no-op within 1.25× of Deno floor")
    ),
    ...pick("W1 ").map((w) => ahead(results, w, ["dbmate"], "W1 ahead of every peer but dbmate")),
    ...pick("W2 apply 1000").map((w) =>
      within(results, w, psql, 1.10, "W2 apply 1000 within 1.10× of psql floor")
    ),
    ...pick("W2 apply").map((w) => ahead(results, w, [], "W2 apply ahead of every peer")),
    ...pick("W2 rollback").map((w) => ahead(results, w, [], "W2 rollback ahead of every peer")),
    ...pick("W3 ").map((w) => within(results, w, "dbmate", 1.2, "W3 within 1.2× of dbmate")),
    peakBelow(results, "W2 ", 120, "W2 peak memory < 120 MiB"),
  ];
  const head = ["target", "workload", "strata", "against", "ratio", "result"];
  const rows = lines.map((l) => [l.target, l.workload, l.strata, l.reference, l.ratio, l.verdict]);
  const line = (row: string[]) => `| ${row.join(" | ")} |`;
  const met = lines.filter((l) => l.verdict === "met").length;
  const measured = lines.filter((l) => l.verdict !== "not measured").length;
  return [
    "## Targets",
    "",
    `${met} of ${measured} measured targets met.`,
    "",
    line(head),
    `|${head.map(() => "---").join("|")}|`,
    ...rows.map(line),
    "",
  ].join("\n");
}
