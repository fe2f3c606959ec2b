/**
 * What the operator sees while a fleet runs. On a terminal (stderr, not
 * --json): one line rewritten in place, done / running / failed / left and
 * the slowest running target with its time, and a line above it for each
 * failure. Elsewhere: one line per finished target, as it finishes.
 */
import { formatMs } from "../duration.ts";
import type { Output } from "../output.ts";
import { formatElapsed, realClock } from "../ticker.ts";
import type { TargetResult } from "./run_target.ts";
import type { Target } from "./targets.ts";

export interface FleetView {
  start(target: Target): void;
  finish(target: Target, row: TargetResult): void;
  close(): void;
}

const MARKS: Record<TargetResult["result"], string> = {
  ok: "✓",
  found: "!",
  failed: "✗",
  interrupted: "✗",
  skipped: "-",
};

/** One finished target as a line: `✓ acme ok, 3 applied (1.2s)`. */
export function finishedLine(row: TargetResult): string {
  const parts: string[] = [row.result];
  if (row.applied.length > 0) parts.push(`${row.applied.length} applied`);
  if (row.pending.length > 0) parts.push(`${row.pending.length} pending`);
  if (row.error) parts.push(`${row.error.code}: ${row.error.message.split("\n")[0]}`);
  else if (row.result === "found" && row.findings.length > 0) parts.push(row.findings[0]);
  const time = row.ms === null ? "" : ` (${formatMs(row.ms)})`;
  return `${MARKS[row.result]} ${row.name} ${parts.join(", ")}${time}`;
}

export function fleetView(out: Output, label: string, total: number): FleetView {
  const running = new Map<string, number>();
  let done = 0;
  let failed = 0;
  const draw = () => {
    let slowest = "";
    let since = Infinity;
    for (const [name, at] of running) {
      if (at < since) [slowest, since] = [name, at];
    }
    const left = total - done - running.size;
    const slow = slowest ? `; slowest: ${slowest} ${formatElapsed(realClock.now() - since)}` : "";
    out.status(
      out.dim(
        `${label}: ${done} done, ${running.size} running, ${failed} failed, ${left} left${slow}`,
      ),
    );
  };
  const live = out.live;
  const stopTicking = live ? realClock.every(500, draw) : () => {};
  return {
    start(target) {
      running.set(target.name, realClock.now());
      if (live) draw();
    },
    finish(target, row) {
      running.delete(target.name);
      done++;
      if (row.result === "failed" || row.result === "interrupted") failed++;
      if (live) {
        // A failure is worth a line of its own above the live one, as it happens.
        if (row.result === "failed") out.error(finishedLine(row));
        draw();
      } else out.notice(finishedLine(row));
    },
    close() {
      stopTicking();
    },
  };
}
