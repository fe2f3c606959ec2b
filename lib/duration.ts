import { usage } from "./errors.ts";

const DURATION_REGEXP = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** "500ms", "2s", "1m", "1h"; a bare number is seconds. `option` names the source in errors. */
export function parseDuration(value: string | number, option: string): number {
  if (typeof value === "number") return Math.round(value * 1000);
  const match = DURATION_REGEXP.exec(value.trim());
  if (!match) {
    throw usage(
      `Invalid duration "${value}" for ${option}`,
      "Use a number of seconds or a value like 500ms, 2s, 1m",
    );
  }
  return Math.round(Number(match[1]) * UNIT_MS[match[2] ?? "s"]);
}

export function formatMs(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(2)}s`;
  return `${Math.floor(ms / 60_000)}m${Math.round((ms % 60_000) / 1000)}s`;
}
