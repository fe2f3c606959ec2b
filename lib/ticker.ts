/**
 * The elapsed time of a long revision, rewritten once a second on a
 * terminal, so a 20-minute index build does not look like a hang. The clock
 * is a parameter: tests drive it by hand instead of waiting.
 */

/** What the ticker needs of time: the current time and a repeating timer. */
export interface Clock {
  now(): number;
  /** Call `fn` every `ms` until the returned function is called. */
  every(ms: number, fn: () => void): () => void;
}

export const realClock: Clock = {
  now: () => performance.now(),
  every(ms, fn) {
    const id = setInterval(fn, ms);
    // A forgotten ticker must never keep the process alive.
    Deno.unrefTimer(id);
    return () => clearInterval(id);
  },
};

/** Elapsed time as a clock shows it: `0:07`, `12:34`, `1:02:03`. */
export function formatElapsed(ms: number): string {
  const total = Math.floor(Math.max(0, ms) / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

export interface TickerOptions {
  clock?: Clock;
  /** Quiet until the work has run this long (default 2 s). */
  afterMs?: number;
  /** How often the line is rewritten (default 1 s). */
  everyMs?: number;
}

/**
 * Start ticking `label` with the elapsed time through `write`, silent for the
 * first `afterMs`; returns the function that stops it.
 */
export function startTicker(
  label: string,
  write: (text: string) => void,
  options: TickerOptions = {},
): () => void {
  const clock = options.clock ?? realClock;
  const afterMs = options.afterMs ?? 2000;
  const started = clock.now();
  return clock.every(options.everyMs ?? 1000, () => {
    const elapsed = clock.now() - started;
    if (elapsed >= afterMs) write(`${label} ${formatElapsed(elapsed)}`);
  });
}
