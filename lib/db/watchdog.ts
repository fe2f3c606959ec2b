/**
 * When a query has gone unanswered for a while, ask the server on a second
 * connection what became of it. A backend still working is left alone (long
 * migrations are normal); a backend that finished, or is gone, or a server
 * that cannot be reached at all, means the link is dead: the first connection
 * is dropped, its backend ended (which frees the migration lock), and the
 * caller gets ConnectionLost, so the ledger decides what committed.
 */
import { formatMs } from "../duration.ts";
import postgres from "postgres";
import { ConnectionLost, type EngineOptions } from "./engine.ts";

const SETTLED_SQL = `SELECT state, now() - state_change > interval '1 second' AS settled
                       FROM pg_stat_activity WHERE pid = $1`;

/** A query awaiting its reply. */
interface Watched {
  since: number;
  fail: (error: unknown) => void;
  drop: () => void;
}

export class Watchdog {
  #side: postgres.Sql | null = null;
  readonly #intervalMs: number;
  /** Several at once when the caller pipelines queries. */
  readonly #watched = new Set<Watched>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #checking = false;
  #closed = false;

  constructor(
    private readonly socket: { url: string; path: string } | null,
    private readonly url: string,
    private readonly password: string | undefined,
    private readonly options: EngineOptions,
    private readonly backendPid: () => number,
  ) {
    this.#intervalMs = Math.max(1_000, options.connectTimeoutMs);
  }

  #connection(): postgres.Sql {
    this.#side ??= postgres(this.socket?.url ?? this.url, {
      ...(this.socket ? { path: this.socket.path } : {}),
      ...(this.password !== undefined ? { password: this.password } : {}),
      max: 1,
      prepare: false,
      fetch_types: false,
      connect_timeout: Math.max(1, Math.ceil(this.options.connectTimeoutMs / 1000)),
      max_lifetime: 0,
      onnotice: () => {},
      connection: { application_name: "strata watchdog" },
    });
    return this.#side;
  }

  /** Whether the backend still works on our query; false when the link must be dead. */
  async #alive(): Promise<boolean> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const rows = await Promise.race([
        this.#connection().unsafe(SETTLED_SQL, [this.backendPid()]),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error("timeout")), this.options.connectTimeoutMs);
        }),
      ]);
      if (rows.length === 0) return false;
      return rows[0].state === "active" || !rows[0].settled;
    } catch (error) {
      // The client would go on reconnecting in the background (many times a second when the
      // database is gone): start from a fresh one at the next check.
      const side = this.#side;
      this.#side = null;
      side?.end({ timeout: 0 }).catch(() => {});
      // A server that answers with an error (too many connections, say) is
      // reachable: nothing says the link is dead, so keep waiting.
      return (error as { name?: string })?.name === "PostgresError";
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * `pending`, unless the link is found dead first; then `drop` runs and
   * ConnectionLost is thrown. Every query unanswered for an interval makes
   * the watchdog ask; one timer serves all of them (a timer set and cleared
   * per query cost more client time than the rest of a small revision's
   * bookkeeping).
   */
  watch<T>(pending: Promise<T>, drop: () => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const entry: Watched = { since: performance.now(), fail: reject, drop };
      this.#watched.add(entry);
      this.#arm(this.#intervalMs);
      pending.then(
        (value) => {
          this.#watched.delete(entry);
          resolve(value);
        },
        (error) => {
          this.#watched.delete(entry);
          reject(error);
        },
      );
    });
  }

  /** Set the one timer, unless it is set, a check runs, or the watchdog is closed. */
  #arm(ms: number): void {
    if (this.#timer !== undefined || this.#checking || this.#closed) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#tick().catch(() => {});
    }, ms);
  }

  /**
   * Ask about the oldest query once it has waited an interval; a timer that
   * finds nothing pending lapses (the next query sets it again).
   */
  async #tick(): Promise<void> {
    if (this.#watched.size === 0) return;
    const started = performance.now();
    let oldest = Infinity;
    for (const entry of this.#watched) oldest = Math.min(oldest, entry.since);
    const wait = oldest + this.#intervalMs - started;
    if (wait > 0) return this.#arm(wait);
    this.#checking = true;
    let alive: boolean;
    try {
      alive = await this.#alive();
    } finally {
      this.#checking = false;
    }
    // Only a query that was already waiting when the question was asked is judged by its answer.
    const stale = [...this.#watched].filter((entry) => entry.since <= started);
    if (alive || stale.length === 0) return this.#arm(this.#intervalMs);
    for (const entry of stale) this.#watched.delete(entry);
    for (const entry of stale) entry.drop();
    await this.#connection().unsafe("SELECT pg_terminate_backend($1)", [this.backendPid()])
      .catch(() => {});
    const lost = new ConnectionLost(
      `no reply from the server, and it no longer runs the query (waited about ${
        formatMs(this.#intervalMs)
      }); the connection is considered lost`,
    );
    for (const entry of stale) entry.fail(lost);
    if (this.#watched.size > 0) this.#arm(this.#intervalMs);
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#side?.end({ timeout: 0 }).catch(() => {});
  }
}
