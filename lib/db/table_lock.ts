/**
 * `--lock-strategy table`: the migration lock as a leased row in a table
 * beside the ledger (`<ledger>_lock`), for servers where a session-level
 * advisory lock cannot work (a transaction pooler, CockroachDB). The row is
 * taken with one INSERT … ON CONFLICT … DO UPDATE that only succeeds when
 * nobody holds it or the holder's lease expired, renewed on a second small
 * connection while the run lasts (so a long statement on the migration
 * connection cannot let it lapse), and released at the end. Each revision's
 * own transaction ends with a fence that re-checks the row is still ours
 * (and extends it): a runner whose lease was taken over fails instead of
 * committing.
 */
import postgres from "postgres";
import { formatMs } from "../duration.ts";
import { StrataError } from "../errors.ts";
import { redact } from "../redact.ts";
import { quoteIdent } from "../ledger.ts";
import { quoteLiteral } from "../sql_literal.ts";
import { SqlError } from "./engine.ts";
import { MIN_LEASE_MS } from "../lock_strategy.ts";

/** What the fence raises when the row is no longer ours: found in the error's message. */
const LOST_MARKER = "strata_lock_lost";

/** How the lease connection reaches the server (as the migration connection does). */
export interface LeaseConnection {
  url: string;
  path?: string;
  password?: string;
  connectTimeoutMs: number;
}

interface HolderRow {
  holder: string | null;
  host: string | null;
  pid: number | null;
  application: string | null;
  db_user: string | null;
  acquired_at: Date | null;
  expires_at: Date | null;
  now: Date;
}

function iso(value: Date | string | null): string | null {
  return value === null ? null : new Date(value).toISOString();
}

/** The lock table's name for a ledger: `<ledger>_lock`, in the ledger's schema. */
export function lockTableName(schema: string | null, table: string): string {
  const name = quoteIdent(`${table}_lock`);
  return schema === null ? name : `${quoteIdent(schema)}.${name}`;
}

/**
 * The session settings strata needs, as transaction-local settings: through a
 * transaction pooler a session setting would stay on a server connection that
 * other clients get next, and would not follow strata to the next one.
 */
export function localSettingsSql(
  options: { statementTimeoutMs: number; lockWaitMs: number },
  serverVersion: number,
): string {
  const settings = [
    `set_config('statement_timeout', '${
      Math.max(0, Math.round(options.statementTimeoutMs))
    }', true)`,
    `set_config('lock_timeout', '${Math.max(0, Math.round(options.lockWaitMs))}', true)`,
  ];
  // Lets the server notice a killed runner while a statement runs, as the session strategy does.
  if (serverVersion >= 140000) {
    settings.push(`set_config('client_connection_check_interval', '1000', true)`);
  }
  return `SELECT ${settings.join(", ")};`;
}

const BARE_REGEXP = /^\s*(?:ROLLBACK|ABORT|COMMIT|END|SAVEPOINT|RELEASE|PREPARE\s+TRANSACTION)\b/i;

/**
 * Whether `text` may start with the local settings: not transaction control
 * that must also run in an aborted transaction (the settings would fail there
 * and the ROLLBACK with them), and not a statement that cannot run inside a
 * transaction block (a multi-statement query is one), which `nonTransactional`
 * tells.
 */
export function takesLocalSettings(text: string, nonTransactional: boolean): boolean {
  return !nonTransactional && !BARE_REGEXP.test(text);
}

/**
 * An error of a query that began with `prefixLength` characters of settings:
 * positions shifted back, so they index into the caller's text again.
 */
export function shiftPosition(error: unknown, prefixLength: number): unknown {
  if (!(error instanceof SqlError) || error.position === undefined) return error;
  const position = error.position > prefixLength ? error.position - prefixLength : undefined;
  return new SqlError(error.message, {
    sqlstate: error.sqlstate,
    detail: error.detail,
    hint: error.hint,
    position,
    where: error.where,
  });
}

/** The leased lock row of one ledger, held by this process. */
export class TableLock {
  readonly #connection: LeaseConnection;
  readonly #label: string;
  readonly #leaseMs: number;
  readonly #lockTimeoutMs: number;
  readonly #token = crypto.randomUUID();
  #sql: postgres.Sql | null = null;
  #table = "";
  #key = "";
  #held = false;
  #lost = false;
  #renewing: Promise<void> | null = null;
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(
    connection: LeaseConnection,
    options: { label: string; leaseMs: number; lockTimeoutMs: number },
  ) {
    this.#connection = connection;
    this.#label = options.label;
    this.#leaseMs = Math.max(MIN_LEASE_MS, options.leaseMs);
    this.#lockTimeoutMs = options.lockTimeoutMs;
  }

  #client(): postgres.Sql {
    const c = this.#connection;
    this.#sql ??= postgres(c.url, {
      ...(c.path ? { path: c.path } : {}),
      ...(c.password !== undefined ? { password: c.password } : {}),
      max: 1,
      prepare: false,
      fetch_types: false,
      connect_timeout: Math.max(1, Math.ceil(c.connectTimeoutMs / 1000)),
      idle_timeout: 0,
      onnotice: () => {},
      connection: { application_name: "strata lease" },
    });
    return this.#sql;
  }

  /**
   * SQL that ends a revision's transaction: extends the lease when the row is
   * still ours, else fails the whole transaction. Its row lock makes a
   * takeover wait for this commit, which leaves a live lease behind. Empty
   * while nothing is held.
   */
  get fenceSql(): string {
    if (!this.#held) return "";
    return `;\nWITH strata_fence AS (UPDATE ${this.#table}
   SET expires_at = greatest(expires_at, clock_timestamp() + interval '${this.#leaseMs} milliseconds'),
       renewed_at = clock_timestamp()
 WHERE ledger = ${quoteLiteral(this.#key)} AND holder = ${quoteLiteral(this.#token)} RETURNING 1)
SELECT (CASE WHEN count(*) = 1 THEN '1' ELSE '${LOST_MARKER}' END)::int AS strata_fence FROM strata_fence;`;
  }

  /** Whether `error` is the fence failing: this runner's lease was taken over. */
  isFence(error: unknown): boolean {
    return error instanceof SqlError && error.sqlstate === "22P02" &&
      error.message.includes(LOST_MARKER);
  }

  /** The fence's failure as LOCK_LOST, naming who holds the row now. */
  async lostError(): Promise<StrataError> {
    this.#lost = true;
    this.#stopRenewing();
    const row = await this.#holder().catch(() => null);
    const now = row?.holder ? ` (now held by ${describe(row)})` : "";
    return new StrataError(
      "LOCK_LOST",
      `Lost the migration lock on ${this.#label}: its lease expired and another runner took it over${now}; the revision was rolled back`,
      {
        hint: "This run could not renew its lease in time (a paused process or a lost link); " +
          "raise --lock-lease, then run strata status and run the command again",
        details: row?.holder ? holderDetails(row) : {},
      },
    );
  }

  async #create(): Promise<void> {
    const sql = this.#client();
    for (let attempt = 1;; attempt++) {
      try {
        // Made beforehand by someone allowed to: a role without CREATE on the schema gets on.
        const [found] = await sql.unsafe(`SELECT to_regclass($1) IS NOT NULL AS found`, [
          this.#table,
        ]);
        if (found.found) return;
        await sql.unsafe(`CREATE TABLE IF NOT EXISTS ${this.#table} (
  ledger text PRIMARY KEY,
  holder text,
  host text,
  pid integer,
  application text,
  db_user text,
  acquired_at timestamptz,
  renewed_at timestamptz,
  expires_at timestamptz,
  released_at timestamptz
)`);
        return;
      } catch (error) {
        // Runners that start together race in CREATE TABLE IF NOT EXISTS: the
        // losers fail with a duplicate key in pg_type or "already exists".
        const code = (error as { code?: string })?.code;
        if ((code === "23505" || code === "42P07") && attempt < 5) continue;
        throw this.#fail(error, "create");
      }
    }
  }

  #fail(error: unknown, what: string): unknown {
    const e = error as { code?: string; message?: string; name?: string };
    if (e?.code === "42501") {
      return new StrataError(
        "PRIVILEGE",
        `Cannot ${what} the lock table ${this.#table} on ${this.#label}: ${
          redact(e.message ?? "")
        }`,
        {
          hint: `--lock-strategy table needs CREATE on the ledger's schema (or the table made ` +
            `beforehand) and SELECT, INSERT, UPDATE on it`,
        },
      );
    }
    if (e?.name === "PostgresError" || e?.code) {
      return new StrataError(
        e?.name === "PostgresError" ? "DATABASE" : "CONNECT",
        `Cannot ${what} the lock table ${this.#table} on ${this.#label}: ${
          redact(e.message ?? String(error))
        }`,
        { details: { sqlstate: e.code } },
      );
    }
    return error;
  }

  /** Take the row, polling until the lock timeout; then LOCK_TIMEOUT naming the holder. */
  async acquire(schema: string | null, table: string): Promise<void> {
    this.#table = lockTableName(schema, table);
    this.#key = schema === null ? table : `${schema}.${table}`;
    await this.#create();
    const sql = this.#client();
    const deadline = Date.now() + this.#lockTimeoutMs;
    for (let delay = 20;; delay = Math.min(delay * 2, 250)) {
      let taken: unknown[];
      try {
        taken = await sql.unsafe(
          `INSERT INTO ${this.#table} AS l
             (ledger, holder, host, pid, application, db_user, acquired_at, renewed_at, expires_at,
              released_at)
           VALUES ($1, $2, $3, $4, 'strata', current_user, clock_timestamp(), clock_timestamp(),
                   clock_timestamp() + $5 * interval '1 millisecond', NULL)
           ON CONFLICT (ledger) DO UPDATE
              SET holder = excluded.holder, host = excluded.host, pid = excluded.pid,
                  application = excluded.application, db_user = excluded.db_user,
                  acquired_at = excluded.acquired_at, renewed_at = excluded.renewed_at,
                  expires_at = excluded.expires_at, released_at = NULL
            WHERE l.holder IS NULL OR l.expires_at <= clock_timestamp()
           RETURNING 1`,
          [this.#key, this.#token, hostname(), Deno.pid, this.#leaseMs],
        );
      } catch (error) {
        throw this.#fail(error, "write");
      }
      if (taken.length === 1) {
        this.#held = true;
        this.#lost = false;
        this.#startRenewing();
        return;
      }
      const left = deadline - Date.now();
      if (left <= 0) throw await this.#timeoutError();
      await new Promise((resolve) => setTimeout(resolve, Math.min(delay, left)));
    }
  }

  async #holder(): Promise<HolderRow | null> {
    const rows = await this.#client().unsafe(
      `SELECT holder, host, pid, application, db_user, acquired_at, expires_at,
              clock_timestamp() AS now
         FROM ${this.#table} WHERE ledger = $1`,
      [this.#key],
    ) as unknown as HolderRow[];
    return rows[0] ?? null;
  }

  async #timeoutError(): Promise<StrataError> {
    const row = await this.#holder().catch(() => null);
    const who = row?.holder ? `held by ${describe(row)}` : "held by another runner";
    return new StrataError(
      "LOCK_TIMEOUT",
      `Migration lock not obtained within ${formatMs(this.#lockTimeoutMs)}: ${who}`,
      {
        hint: "Another strata run is migrating this database; wait for it, or raise " +
          "--lock-timeout (a killed holder's lease is taken over once it expires)",
        details: row?.holder ? holderDetails(row) : {},
      },
    );
  }

  #startRenewing(): void {
    const every = Math.max(100, Math.floor(this.#leaseMs / 3));
    const timer = setInterval(() => {
      this.#renewing ??= this.#renew().finally(() => this.#renewing = null);
    }, every);
    // A run that ends without release (a crash) must not be kept alive by the timer.
    Deno.unrefTimer(timer);
    this.#timer = timer;
  }

  async #renew(): Promise<void> {
    if (!this.#held || this.#lost) return;
    try {
      const rows = await this.#client().unsafe(
        `UPDATE ${this.#table}
            SET expires_at = greatest(expires_at, clock_timestamp() + $3 * interval '1 millisecond'),
                renewed_at = clock_timestamp()
          WHERE ledger = $1 AND holder = $2 RETURNING 1`,
        [this.#key, this.#token, this.#leaseMs],
      );
      if (rows.length === 0) {
        // Taken over: the next fence fails the revision; nothing to renew any more.
        this.#lost = true;
        this.#stopRenewing();
      }
    } catch {
      // A failed renewal is tried again at the next tick; the fence keeps a
      // lease that lapsed meanwhile from committing.
    }
  }

  #stopRenewing(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Give the row back (only if it is still ours), so the next runner need not wait for the lease. */
  async release(): Promise<void> {
    if (!this.#held) return;
    this.#held = false;
    this.#stopRenewing();
    await this.#renewing;
    try {
      await this.#client().unsafe(
        `UPDATE ${this.#table}
            SET holder = NULL, expires_at = clock_timestamp(), released_at = clock_timestamp()
          WHERE ledger = $1 AND holder = $2`,
        [this.#key, this.#token],
      );
    } catch (error) {
      throw this.#fail(error, "release the row of");
    }
  }

  async close(): Promise<void> {
    this.#stopRenewing();
    await this.#renewing;
    await this.#sql?.end({ timeout: 1 }).catch(() => {});
    this.#sql = null;
  }
}

function hostname(): string {
  try {
    return Deno.hostname();
  } catch {
    return "?";
  }
}

function describe(row: HolderRow): string {
  const expires = row.expires_at ? new Date(row.expires_at) : null;
  const left = expires ? expires.getTime() - new Date(row.now).getTime() : 0;
  return `pid ${row.pid ?? "?"} on host ${row.host ?? "?"} (application "${
    row.application ?? "?"
  }", user ${row.db_user ?? "?"}, since ${iso(row.acquired_at) ?? "?"}; lease expires at ${
    iso(row.expires_at) ?? "?"
  }${left > 0 ? `, in ${formatMs(left)}` : ""})`;
}

function holderDetails(row: HolderRow): Record<string, unknown> {
  return {
    pid: row.pid,
    host: row.host,
    applicationName: row.application,
    user: row.db_user,
    since: iso(row.acquired_at),
    expiresAt: iso(row.expires_at),
  };
}
