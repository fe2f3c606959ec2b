/**
 * The server engine: one connection through the npm `postgres` client. One
 * connection only, so the advisory lock, the ledger and every migration share
 * a session (the design's Ledger section).
 */
import { formatMs } from "../duration.ts";
import postgres from "postgres";
import { StrataError } from "../errors.ts";
import { redact, redactUrl } from "../redact.ts";
import { pgpassPassword } from "./pgpass.ts";
import { Watchdog } from "./watchdog.ts";
import { findNonTransactional } from "../sql_scan.ts";
import { localSettingsSql, shiftPosition, TableLock, takesLocalSettings } from "./table_lock.ts";
import {
  ConnectionLost,
  type Engine,
  type EngineOptions,
  type ServerErrorFields,
  sessionResetSql,
  SqlError,
  sqlErrorFrom,
} from "./engine.ts";

const CONNECTION_CODES = new Set([
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
  "CONNECT_TIMEOUT",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
]);

type ClientError = ServerErrorFields & { name?: string };

/** Turn a client error into SqlError / ConnectionLost; other errors pass through. */
function translate(error: unknown): unknown {
  const e = error as ClientError;
  if (e?.name === "PostgresError" && e.code) {
    if (e.code.startsWith("57P0") || e.code.startsWith("08")) {
      return new ConnectionLost(redact(e.message), { cause: error });
    }
    return sqlErrorFrom(e, e.code);
  }
  if (e?.code && CONNECTION_CODES.has(e.code)) {
    return new ConnectionLost(redact(e.message), { cause: error });
  }
  return error;
}

/** Whether this backend already holds the key (pg_locks keeps both halves of a two-key lock). */
const HELD_HERE = `EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted
  AND l.pid = pg_backend_pid() AND l.classid = k.a::oid AND l.objid = k.b::oid AND l.objsubid = 2)`;

const POOLER_HINT =
  "This looks like a transaction pooler (PgBouncer): session locks and settings do not " +
  "survive it. Point strata at the server directly (a direct URL, not the pooler's port), or " +
  "use --lock-strategy table (a leased lock row that works through the pooler)";

/** Whether strata or the client has a password to send: the URL, PGPASSWORD or a .pgpass line. */
function passwordGiven(url: string, fromPgpass: string | undefined): boolean {
  if (fromPgpass !== undefined || Deno.env.get("PGPASSWORD")) return true;
  try {
    const parsed = new URL(url);
    return parsed.password !== "" || /[?&]password=/i.test(parsed.search);
  } catch {
    return true;
  }
}

/** A database name as a shell word for the createdb hint. */
function shellWord(name: string): string {
  return /^[\w.-]+$/.test(name) ? name : `'${name.replaceAll("'", `'\\''`)}'`;
}

function connectError(
  error: unknown,
  label: string,
  timeoutMs: number,
  hasPassword = true,
): StrataError {
  const e = error as ClientError;
  // The server asked for a password (28P01 comes only from password authentication) and
  // there was none to send: say so, rather than "authentication failed".
  if (e?.code === "28P01" && !hasPassword) {
    return new StrataError(
      "CONNECT",
      `Cannot connect to ${label}: no password given (URL, PGPASSWORD or ~/.pgpass)`,
      {
        hint:
          "The server asks for a password: put it in the URL (postgres://user:PASSWORD@host/db), " +
          "in PGPASSWORD, or in ~/.pgpass (or the file PGPASSFILE names)",
        details: { reason: "NO_PASSWORD" },
      },
    );
  }
  const missing = e?.code === "3D000"
    ? /database "(.*)" does not exist/.exec(e.message ?? "")
    : null;
  const reasons: Record<string, [string, string]> = {
    ECONNREFUSED: ["connection refused", "Is the server running, and is the port right?"],
    ENOTFOUND: ["unknown host", "Check the host name in the URL"],
    EAI_AGAIN: ["unknown host", "Check the host name in the URL"],
    CONNECT_TIMEOUT: [
      `no answer within ${formatMs(timeoutMs)}`,
      "Check host, port and firewall, or raise --connect-timeout",
    ],
    "28P01": ["password authentication failed", "Check the user and password"],
    "28000": ["authentication rejected", "Check pg_hba.conf and the user name"],
    "3D000": missing
      ? [
        `database "${missing[1]}" does not exist`,
        `Create it first: createdb ${shellWord(missing[1])} (with the same host, port and user)`,
      ]
      : ["database does not exist", "Create it first, e.g. createdb NAME"],
  };
  const pooler = /unsupported startup parameter/i.test(e?.message ?? "");
  const [reason, hint] = pooler
    ? [redact(e.message), POOLER_HINT]
    : reasons[e?.code ?? ""] ?? [redact(e?.message ?? String(error)), "Check the database URL"];
  return new StrataError("CONNECT", `Cannot connect to ${label}: ${reason}`, {
    hint,
    details: { reason: e?.code },
  });
}

/** libpq's `?host=/socket/folder` form: the client wants the socket file's path instead. */
function unixSocket(url: string): { url: string; path: string } | null {
  const match = /[?&]host=(%2F[^&]*|\/[^&]*)/i.exec(url);
  if (!match) return null;
  const folder = decodeURIComponent(match[1]);
  const port = /:\/\/[^/]*:(\d+)\//.exec(url)?.[1] ?? "5432";
  const rest = url.replace(/([?&])host=[^&]*&?/i, "$1").replace(/[?&]$/, "");
  return { url: rest, path: `${folder}/.s.PGSQL.${port}` };
}

export async function openServer(url: string, options: EngineOptions): Promise<Engine> {
  const label = redactUrl(url);
  // The table strategy keeps no state in the session: a transaction pooler
  // hands each transaction to whichever server connection is free.
  const leased = options.lockStrategy === "table";
  let closed = false;
  let sql: postgres.Sql;
  let socket: ReturnType<typeof unixSocket> = null;
  let password: string | undefined;
  try {
    socket = unixSocket(url);
    password = pgpassPassword(url, socket?.path ?? null);
    sql = postgres(socket?.url ?? url, {
      ...(socket ? { path: socket.path } : {}),
      ...(password !== undefined ? { password } : {}),
      max: 1,
      prepare: false,
      fetch_types: false,
      connect_timeout: Math.max(1, Math.ceil(options.connectTimeoutMs / 1000)),
      idle_timeout: 0,
      // The client would silently open a new session after a close (at once and forever when
      // the database was dropped, or at the end of a lifetime): the lock and the settings live
      // in this one, so a closed connection stays closed.
      max_lifetime: 0,
      onclose: () => {
        closed = true;
      },
      onnotice: () => {},
      // PgBouncer refuses startup parameters other than a few (application_name is one).
      connection: leased ? { application_name: "strata" } : {
        application_name: "strata",
        statement_timeout: Math.max(0, options.statementTimeoutMs),
        lock_timeout: Math.max(0, options.lockWaitMs),
      },
    });
  } catch (error) {
    // A program that runs strata as a library may not grant what the client reads (PG*, HOME).
    if (error instanceof Deno.errors.NotCapable) {
      throw new StrataError("CONFIG", `Cannot open ${label}: ${redact(error.message)}`, {
        hint: "A server connection needs --allow-net and --allow-env (the client reads PG* " +
          "variables and ~/.pgpass)",
      });
    }
    throw new StrataError("CONFIG", `Invalid database URL "${label}"`, {
      hint:
        "Use postgres://user@host:5432/dbname; percent-encode special characters in the password",
      cause: redact(String((error as Error)?.message ?? error)),
    });
  }

  let timer: ReturnType<typeof setTimeout> | undefined;
  let backendPid = 0;
  let serverVersion = 0;
  try {
    // One round trip: learn the version and, where the server has it, let it
    // notice a dead client within a second so a killed runner frees its lock.
    const [first] = await Promise.race([
      sql.unsafe(
        leased
          ? `SELECT pg_backend_pid() AS pid, current_setting('server_version_num')::int AS version`
          : `SELECT (SELECT set_config('client_connection_check_interval', '1000', false)
                  WHERE current_setting('server_version_num')::int >= 140000) AS ccci,
                pg_backend_pid() AS pid, current_setting('server_version_num')::int AS version`,
      ),
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(Object.assign(new Error("timeout"), { code: "CONNECT_TIMEOUT" })),
          options.connectTimeoutMs,
        );
      }),
    ]) as Array<{ pid: number; version: number }>;
    backendPid = first.pid;
    serverVersion = first.version;
  } catch (error) {
    sql.end({ timeout: 0 }).catch(() => {});
    throw connectError(error, label, options.connectTimeoutMs, passwordGiven(url, password));
  } finally {
    clearTimeout(timer);
  }

  // A link that goes silent without closing (a frozen NAT, a dead path) would
  // leave a query waiting forever: the watchdog asks the server, on a second
  // connection, what became of it.
  const watchdog = new Watchdog(socket, url, password, options, () => backendPid);
  async function run<T>(work: () => Promise<T>): Promise<T> {
    if (closed) {
      throw new ConnectionLost(
        "the server closed the connection (restarted, or the database was dropped or renamed); " +
          "strata does not reconnect, since the session's lock and settings went with it",
      );
    }
    try {
      // Through a pooler the backend pid names no one of ours: the watchdog would judge (and
      // end) a stranger's backend. A lost link there ends in an expired lease instead.
      if (leased) return await work();
      return await watchdog.watch(work(), () => sql.end({ timeout: 0 }).catch(() => {}));
    } catch (error) {
      throw translate(error);
    }
  }

  let locked: [number, number] | null = null;
  const table = leased
    ? new TableLock(
      { url: socket?.url ?? url, path: socket?.path, password, ...options },
      { label, leaseMs: options.lockLeaseMs ?? 30_000, lockTimeoutMs: options.lockTimeoutMs },
    )
    : null;
  const settings = localSettingsSql(options, serverVersion);
  const sessionReset = sessionResetSql(options, { checkInterval: true });
  const engine: Engine = {
    kind: "server",
    label,
    get sessionResetSql() {
      // With a table lock nothing of strata's lives in the session: the reset puts back what
      // the revision changed, and the fence ends the revision's transaction.
      return table ? `RESET ALL;\nRESET ROLE${table.fenceSql}` : sessionReset;
    },
    exec: (text) => table ? leasedExec(text) : run(async () => void (await sql.unsafe(text))),
    query: <T>(text: string, params: unknown[] = []) =>
      run(async () =>
        [...(await sql.unsafe(text, params as postgres.ParameterOrJSON<never>[]))] as T[]
      ),
    async lock(schema, ledger) {
      if (table) return await table.acquire(schema, ledger);
      const deadline = Date.now() + options.lockTimeoutMs;
      for (let delay = 20;; delay = Math.min(delay * 2, 250)) {
        // Polled, never blocking: a session blocked in pg_advisory_lock holds a
        // snapshot that makes the holder's CREATE INDEX CONCURRENTLY wait on it.
        // Taken only on our own backend, and never when that backend already
        // holds it: behind a transaction pooler another client shares it.
        const [row] = await engine.query<
          { ok: boolean | null; a: number; b: number; pid: number; shared: boolean }
        >(
          // OFFSET 0 keeps the subquery apart, so "held" is read before the lock is taken.
          `SELECT CASE WHEN s.pid = $3 AND NOT s.held THEN pg_try_advisory_lock(s.a, s.b) END AS ok,
                  s.a, s.b, s.pid, s.held AS shared
             FROM (SELECT k.a, k.b, pg_backend_pid() AS pid, ${HELD_HERE} AS held
                     FROM (SELECT hashtext(current_database()) & 2147483647 AS a,
                                  hashtext(coalesce($1, current_schema()) || '.' || $2) & 2147483647 AS b) k
                   OFFSET 0) s`,
          [schema, ledger, backendPid],
        ).catch((error) => {
          throw noAdvisoryLocks(error, label);
        });
        const keys: [number, number] = [row.a, row.b];
        if (row.pid !== backendPid || row.shared) {
          // Another backend answered on our connection, or ours is shared with
          // a client that holds the lock: a transaction pooler sits in between.
          throw new StrataError(
            "CONFIG",
            `Cannot lock ${label}: a connection pooler answers on it`,
            {
              hint: POOLER_HINT,
            },
          );
        }
        if (row.ok) {
          locked = keys;
          return;
        }
        const left = deadline - Date.now();
        if (left <= 0) throw await holderError(engine, keys, options.lockTimeoutMs);
        await new Promise((resolve) => setTimeout(resolve, Math.min(delay, left)));
      }
    },
    async unlock() {
      if (table) return await table.release();
      if (!locked) return;
      const keys = locked;
      locked = null;
      // Only our backend can release the lock; a pooler may route elsewhere.
      for (let attempt = 0; attempt < 20; attempt++) {
        const [row] = await engine.query<{ pid: number }>(
          `SELECT pg_backend_pid() AS pid,
                  CASE WHEN pg_backend_pid() = $3 THEN pg_advisory_unlock($1, $2) END AS done`,
          [...keys, backendPid],
        );
        if (row.pid === backendPid) return;
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      // Never leave the lock on a pooled connection: end that session once idle.
      await engine.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = $1 AND state = 'idle'`,
        [backendPid],
      );
    },
    async close() {
      // A row still held here (a caller that never unlocked) is given back, not left to expire.
      await table?.release().catch(() => {});
      await Promise.all([
        sql.end({ timeout: 1 }).catch(() => {}),
        watchdog.close(),
        table?.close(),
      ]);
    },
  };

  /**
   * A query with strata's timeouts as transaction-local settings in front (a
   * statement that cannot run in a transaction block goes alone, without
   * them), and a failed fence turned into LOCK_LOST.
   */
  async function leasedExec(text: string): Promise<void> {
    const prefixed = takesLocalSettings(text, findNonTransactional(text) !== null);
    const prefix = prefixed ? `${settings}\n` : "";
    try {
      await run(async () => void (await sql.unsafe(prefix + text)));
    } catch (error) {
      if (table!.isFence(error)) throw await table!.lostError();
      throw shiftPosition(error, prefix.length);
    }
  }
  return engine;
}

/**
 * The role may not call the advisory lock functions (revoked, as some managed
 * servers do), or the server has none (CockroachDB): the table strategy works there.
 */
function noAdvisoryLocks(error: unknown, label: string): unknown {
  if (!(error instanceof SqlError) || !["42501", "42883"].includes(error.sqlstate)) return error;
  return new StrataError(
    "PRIVILEGE",
    `Cannot take the migration lock on ${label}: ${redact(error.message)}`,
    {
      hint: "Session advisory locks are not available to this role or server; use " +
        "--lock-strategy table (config lockStrategy), which keeps the lock as a leased row " +
        "beside the ledger",
      details: { sqlstate: error.sqlstate },
    },
  );
}

async function holderError(
  engine: Engine,
  [k1, k2]: [number, number],
  timeoutMs: number,
): Promise<StrataError> {
  const rows = await engine.query<
    { pid: number; application_name: string; since: Date | null; state: string | null }
  >(
    `SELECT a.pid, a.application_name, a.backend_start AS since, a.state
       FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
      WHERE l.locktype = 'advisory' AND l.granted
        AND l.classid = $1::int::oid AND l.objid = $2::int::oid AND l.objsubid = 2`,
    [k1, k2],
  ).catch(() => []);
  const holder = rows[0];
  const who = holder
    ? `held by pid ${holder.pid} (application "${
      holder.application_name || "?"
    }", connected since ${holder.since ? new Date(holder.since).toISOString() : "?"})`
    : "held by another session";
  return new StrataError(
    "LOCK_TIMEOUT",
    `Migration lock not obtained within ${formatMs(timeoutMs)}: ${who}`,
    {
      hint: "Another strata run is migrating this database; wait for it, or raise --lock-timeout",
      details: holder
        ? {
          pid: holder.pid,
          applicationName: holder.application_name,
          since: holder.since ? new Date(holder.since).toISOString() : null,
        }
        : {},
    },
  );
}
