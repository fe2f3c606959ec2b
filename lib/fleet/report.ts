/**
 * The one document at the end of a fleet run: per target its result,
 * revisions, time and error, a summary, and the exit code, as a text table
 * or (--json) as one JSON document.
 */
import { EXIT_CODES } from "../errors.ts";
import { formatMs } from "../duration.ts";
import { type Output, plural } from "../output.ts";
import type { FleetAction, TargetResult } from "./run_target.ts";
import type { OnError } from "./schedule.ts";

export interface FleetSummary {
  targets: number;
  ok: number;
  found: number;
  failed: number;
  interrupted: number;
  skipped: number;
  /** Revisions applied across the fleet in this run. */
  applied: number;
  /** The whole run, in milliseconds. */
  ms: number;
}

/** The document of `strata fleet COMMAND --json`. */
export interface FleetReport {
  /** True when every target succeeded and (check, drift, verify-applied) found nothing. */
  ok: boolean;
  command: "fleet";
  /** The command each target ran. */
  action: FleetAction;
  parallel: number;
  canary: number;
  onError: OnError;
  targets: TargetResult[];
  summary: FleetSummary;
  /** What the command line exits with. */
  exitCode: number;
}

export function summarize(rows: TargetResult[], ms: number): FleetSummary {
  const count = (result: TargetResult["result"]) => rows.filter((r) => r.result === result).length;
  return {
    targets: rows.length,
    ok: count("ok"),
    found: count("found"),
    failed: count("failed"),
    interrupted: count("interrupted"),
    skipped: count("skipped"),
    applied: rows.reduce((n, row) => n + row.applied.length, 0),
    ms: Math.round(ms),
  };
}

/**
 * 0 when every target succeeded with nothing found; 3 when all succeeded and
 * some found something; FLEET_PARTIAL (6) when some succeeded and some did
 * not; when none did, the failures' common exit code (1 when they differ);
 * 130 after Ctrl-C.
 */
export function fleetExitCode(rows: TargetResult[], interrupted: boolean): number {
  if (interrupted) return EXIT_CODES.INTERRUPTED;
  const good = rows.filter((r) => r.result === "ok" || r.result === "found");
  if (good.length === rows.length) return good.some((r) => r.result === "found") ? 3 : 0;
  if (good.length > 0) return EXIT_CODES.FLEET_PARTIAL;
  const codes = new Set(
    rows.filter((r) => r.result === "failed").map((r) =>
      r.error && r.error.code !== "INTERNAL" ? EXIT_CODES[r.error.code] : 1
    ),
  );
  return codes.size === 1 ? [...codes][0] : 1;
}

function revisionsCell(action: FleetAction, row: TargetResult): string {
  if (row.result === "skipped") return "";
  if (action === "apply" || action === "upgrade") return `${row.applied.length} applied`;
  if (action === "status" || action === "check") return `${row.pending.length} pending`;
  return "";
}

function detailCell(row: TargetResult): string {
  if (row.error) return `${row.error.code}: ${row.error.message.split("\n")[0]}`;
  if (row.reason) return row.reason;
  const text = row.findings.join(", ");
  return text.length > 100 ? `${text.slice(0, 99)}…` : text;
}

/** The table and the summary line, on stdout. */
export function printReport(out: Output, report: FleetReport): void {
  const header = ["TARGET", "RESULT", "REVISIONS", "TIME", "DETAIL"];
  const table = report.targets.map((row) => [
    row.name,
    row.result,
    revisionsCell(report.action, row),
    row.ms === null ? "" : formatMs(row.ms),
    detailCell(row),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((cells) => cells[i].length)));
  const format = (cells: string[]) =>
    cells.map((cell, i) => i === cells.length - 1 ? cell : cell.padEnd(widths[i])).join("  ")
      .trimEnd();
  const paint = (result: string) =>
    result === "ok" ? out.green : result === "found" || result === "skipped" ? out.yellow : out.red;
  out.line(out.bold(format(header)));
  for (const cells of table) out.line(paint(cells[1])(format(cells)));
  const s = report.summary;
  const parts = [`${s.ok} ok`];
  if (s.found > 0) parts.push(`${s.found} found something`);
  if (s.failed > 0) parts.push(`${s.failed} failed`);
  if (s.interrupted > 0) parts.push(`${s.interrupted} interrupted`);
  if (s.skipped > 0) parts.push(`${s.skipped} skipped`);
  const applied = report.action === "apply" || report.action === "upgrade"
    ? `, ${plural(s.applied, "revision")} applied`
    : "";
  out.line(
    `fleet ${report.action}: ${plural(s.targets, "target")}: ${parts.join(", ")}${applied} in ${
      formatMs(s.ms)
    }`,
  );
}
