import { usage } from "./errors.ts";

const DURATION_REGEXP = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** "500ms", "2s", "1m", "1h"; a bare number is seconds. `option` names the source in errors. */
export function parseDuration(value: string | number, option: string): number {
  const ms = typeof value === "number" ? Math.round(value * 1000) : parseText(value, option);
  // A timer longer than 2^31-1 ms fires at once (with a warning), turning a long wait into none.
  if (!Number.isFinite(ms) || ms < 0 || ms > MAX_TIMER_MS) {
    throw usage(
      `Duration "${value}" for ${option} is out of range`,
      `Use a value from 0 to ${MAX_TIMER_MS}ms (about 24 days)`,
    );
  }
  return ms;
}

/** The largest delay a timer takes (a signed 32-bit millisecond count). */
export const MAX_TIMER_MS = 2 ** 31 - 1;

function parseText(value: string, option: string): number {
  const match = DURATION_REGEXP.exec(value.trim());
  if (!match) {
    throw usage(
      `Invalid duration "${value}" for ${option}`,
      "Use a number of seconds or a value like 500ms, 2s, 1m",
    );
  }
  return Math.round(Number(match[1]) * UNIT_MS[match[2] ?? "s"]);
}

/**
 * The one way strata prints a duration, measured or configured, in the units
 * the options take: `850ms`, `2s`, `2.35s`, `1m`, `1m5s`.
 */
export function formatMs(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(2).replace(/\.?0+$/, "")}s`;
  const seconds = Math.round(ms / 1000);
  return `${Math.floor(seconds / 60)}m${seconds % 60 ? `${seconds % 60}s` : ""}`;
}
