/**
 * The one seam between strata and a database. Engines are dumb: they run SQL,
 * take the migration lock and close. Ledger, plan and runner are written once
 * above this interface and run on both the server and the embedded engine.
 */
import { StrataError } from "../errors.ts";
import { redactUrl } from "../redact.ts";
import type { LockStrategy } from "../lock_strategy.ts";

export interface EngineOptions {
  /** Wait at most this long for a connection. */
  connectTimeoutMs: number;
  /** Session `statement_timeout`, 0 for none. */
  statementTimeoutMs: number;
  /** Session `lock_timeout` (`--lock-wait`), 0 for none. */
  lockWaitMs: number;
  /** How long `lock` (and, on the embedded engine, opening) may wait. */
  lockTimeoutMs: number;
  /**
   * Read-only commands must not create anything: an embedded folder that
   * holds no database is then an error, as a missing server database is.
   */
  mustExist?: boolean;
  /**
   * `session` (default): a session-level advisory lock. `table`: a leased row
   * beside the ledger (lib/db/table_lock.ts), for transaction poolers and
   * servers without advisory locks; the embedded engine ignores it.
   */
  lockStrategy?: LockStrategy;
  /** The table strategy's lease (`--lock-lease`). */
  lockLeaseMs?: number;
}

export interface Engine {
  readonly kind: "server" | "embedded";
  /** The database as it may be printed: password masked. */
  readonly label: string;
  /**
   * Run SQL text that may hold many statements, in one round trip, with no
   * parameters. Without explicit transaction control the whole text commits
   * or rolls back as one (PostgreSQL's implicit transaction of a simple query).
   * Throws `SqlError` for a statement the server rejects, `ConnectionLost`
   * when the connection breaks.
   */
  exec(sql: string): Promise<void>;
  /** One statement with `$1…` parameters; its rows, [] when none. */
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  /**
   * Take the migration lock for the ledger `table` in `schema` (null: the
   * first schema on the search path) of this database, on this connection,
   * polling until `lockTimeoutMs`; then throw LOCK_TIMEOUT naming the holder.
   */
  lock(schema: string | null, table: string): Promise<void>;
  unlock(): Promise<void>;
  /**
   * The SQL that puts the session back as strata opened it (run after each
   * revision, before its ledger rows): settings and role, then the timeouts.
   */
  readonly sessionResetSql: string;
  close(): Promise<void>;
}

/** A statement the database rejected, with PostgreSQL's fields. */
export class SqlError extends Error {
  readonly sqlstate: string;
  readonly detail?: string;
  readonly hint?: string;
  /** 1-based character position in the query text, when the server gives one. */
  readonly position?: number;
  readonly where?: string;

  constructor(
    message: string,
    fields: { sqlstate: string; detail?: string; hint?: string; position?: number; where?: string },
  ) {
    super(message);
    this.name = "SqlError";
    this.sqlstate = fields.sqlstate;
    this.detail = fields.detail;
    this.hint = fields.hint;
    this.position = fields.position;
    this.where = fields.where;
  }
}

/** PostgreSQL's error fields as both clients report them. */
export interface ServerErrorFields {
  message: string;
  code?: string;
  detail?: string;
  hint?: string;
  position?: string | number;
  where?: string;
}

/** A client's error with a SQLSTATE `code` as a SqlError. */
export function sqlErrorFrom(e: ServerErrorFields, code: string): SqlError {
  return new SqlError(e.message, {
    sqlstate: code,
    detail: e.detail,
    hint: e.hint,
    position: e.position === undefined ? undefined : Number(e.position),
    where: e.where,
  });
}

/** The connection broke: whether the last command committed is unknown. */
export class ConnectionLost extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ConnectionLost";
  }
}

/** Open the database a URL names: `postgres://`, `postgresql://`, `pglite:PATH`, `pglite:memory`. */
export async function openEngine(url: string, options: EngineOptions): Promise<Engine> {
  if (/^postgres(ql)?:\/\//i.test(url)) {
    const { openServer } = await import("./server.ts");
    return openServer(url, options);
  }
  if (url.startsWith("pglite:")) {
    const { openEmbedded } = await import("./embedded.ts");
    return openEmbedded(url.slice("pglite:".length), options);
  }
  throw new StrataError("CONFIG", `Unsupported database URL "${redactUrl(url)}"`, {
    hint: "Use postgres://user@host:5432/db, pglite:PATH or pglite:memory",
  });
}

/**
 * Load the module of the engine a URL names (the client library with it), so
 * that `openEngine` starts connecting at once when called next; the caller can
 * then do other work while the connection is made. Does nothing for a URL
 * that `openEngine` would refuse.
 */
export async function preloadEngine(url: string): Promise<void> {
  if (/^postgres(ql)?:\/\//i.test(url)) await import("./server.ts");
  else if (url.startsWith("pglite:")) await import("./embedded.ts");
}

/** Session settings as SQL, shared by both engines. */
export function sessionSql(options: EngineOptions): string {
  // One statement: the timeouts as strata's options set them.
  return `SELECT set_config('statement_timeout', '${
    Math.max(0, Math.round(options.statementTimeoutMs))
  }', false), set_config('lock_timeout', '${Math.max(0, Math.round(options.lockWaitMs))}', false)`;
}

/**
 * The session as strata opened it, after a revision: a `SET search_path`,
 * `SET ROLE` or `SET statement_timeout` of one revision must neither reach the
 * ledger rows written after it (unqualified names, the runner's role) nor the
 * revisions after it. `RESET ALL` goes back to the connection's own defaults
 * (URL options, role and database settings), so strata's settings follow it:
 * the timeouts, and on a server the dead-client check it set when connecting.
 */
export function sessionResetSql(
  options: EngineOptions,
  { checkInterval = false }: { checkInterval?: boolean } = {},
): string {
  const reset = `RESET ALL;\nRESET ROLE;\n${sessionSql(options)}`;
  return checkInterval ? `${reset};\n${CHECK_INTERVAL_SQL}` : reset;
}

const CHECK_INTERVAL_SQL = `SELECT set_config('client_connection_check_interval', '1000', false)
 WHERE current_setting('server_version_num')::int >= 140000`;

/**
 * Whether `url` names an embedded folder that holds no database yet
 * (`pglite:PATH` without `PG_VERSION`): read-only commands then report a
 * database not created yet, and create nothing. False for every other URL.
 */
export async function embeddedNotCreated(url: string): Promise<boolean> {
  if (!url.startsWith("pglite:")) return false;
  const location = url.slice("pglite:".length);
  if (location === "memory" || location === "") return false;
  try {
    await Deno.stat(`${location}/PG_VERSION`);
    return false;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return true;
    return false;
  }
}
