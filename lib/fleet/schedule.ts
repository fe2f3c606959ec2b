/**
 * The order a fleet runs in: at most `parallel` targets at once, the first
 * `canary` ones before any other (`parallel` among them too), and after a
 * failure, with `onError: "stop"`, no new target starts while the running
 * ones stop after their current revision. Ctrl-C stops new starts as well.
 * Targets that never started are skipped rows, with the reason.
 */
import { collectIfGrown } from "./collect.ts";
import { emptyRow, type TargetResult } from "./run_target.ts";
import type { Target } from "./targets.ts";

export type OnError = "stop" | "continue";

export interface ScheduleOptions {
  parallel: number;
  canary: number;
  onError: OnError;
  /** Ctrl-C was pressed: start nothing more. */
  stopRequested: () => boolean;
  onStart?: (target: Target) => void;
  onFinish?: (target: Target, row: TargetResult) => void;
}

/** What the running targets share: aborted, each stops after its current revision. */
export type RunOne = (target: Target, signal: AbortSignal) => Promise<TargetResult>;

const succeeded = (row: TargetResult | undefined) =>
  row !== undefined && (row.result === "ok" || row.result === "found");

/** Run every target as the options say; one row per target, in the targets' order. */
export async function schedule(
  targets: Target[],
  runOne: RunOne,
  options: ScheduleOptions,
): Promise<TargetResult[]> {
  const rows: Array<TargetResult | undefined> = new Array(targets.length);
  const stop = new AbortController();
  let stopped: string | null = null;

  async function phase(from: number, to: number): Promise<void> {
    let next = from;
    const worker = async () => {
      for (;;) {
        if (stopped === null && options.stopRequested()) stopped = "interrupted (Ctrl-C)";
        if (stopped !== null || next >= to) return;
        const target = targets[next];
        const index = next++;
        options.onStart?.(target);
        const row = await runOne(target, stop.signal);
        rows[index] = row;
        options.onFinish?.(target, row);
        collectIfGrown();
        if (row.result === "failed" && options.onError === "stop" && stopped === null) {
          stopped = `on-error stop: ${target.name} failed`;
          stop.abort();
        }
      }
    };
    const workers = Math.max(1, Math.min(options.parallel, to - from));
    await Promise.all(Array.from({ length: workers }, worker));
  }

  const canary = Math.min(options.canary, targets.length);
  if (canary > 0) {
    await phase(0, canary);
    if (stopped === null && !rows.slice(0, canary).every(succeeded)) {
      stopped = `the canary (${canary} ${canary === 1 ? "target" : "targets"}) did not succeed`;
    }
  }
  await phase(canary, targets.length);
  return targets.map((target, i) => {
    const row = rows[i];
    if (row) return row;
    return { ...emptyRow(target, "skipped"), reason: stopped ?? "not started" };
  });
}
