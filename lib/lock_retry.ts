/**
 * Lock waits that cannot take production down: `--lock-wait` bounds each
 * wait for a lock (PostgreSQL `lock_timeout`, SQLSTATE 55P03) and
 * `--lock-retries N` tries again after a backoff with jitter. An `each`
 * revision (rolled back whole) is tried again whole; in `none` mode only the
 * statement that timed out, and only when it left nothing behind. After the
 * last try the error names the table and the session holding it.
 */
import { type Engine, SqlError } from "./db/engine.ts";
import { StrataError } from "./errors.ts";
import { type JournalRow, journalSql, type LedgerNames } from "./ledger.ts";
import type { MigrationFile } from "./migration_file.ts";
import type { Output } from "./output.ts";
import { maskPasswordLiterals, redact } from "./redact.ts";
import type { Statement } from "./sql_split.ts";

/** How many times to try again, and (for tests) how to wait and draw jitter. */
export interface LockRetry {
  /** Tries after the first (`--lock-retries`, config `lockRetries`); 0: none. */
  retries: number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

export const NO_LOCK_RETRY: LockRetry = { retries: 0 };

const FIRST_WAIT_MS = 500;
const MAX_WAIT_MS = 10_000;

/** The wait after failed try `failed` (1-based): 500 ms doubling, capped at 10 s, plus up to 25% jitter. */
export function backoffMs(failed: number, random: () => number = Math.random): number {
  const base = Math.min(MAX_WAIT_MS, FIRST_WAIT_MS * 2 ** Math.max(0, failed - 1));
  return Math.min(MAX_WAIT_MS, Math.round(base * (1 + 0.25 * random())));
}

const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A lock_timeout: the raw server error, or a revision failure carrying its SQLSTATE. */
export function isLockTimeout(error: unknown): boolean {
  if (error instanceof SqlError) return error.sqlstate === "55P03";
  return error instanceof StrataError && error.code === "MIGRATION_FAILED" &&
    error.details.sqlstate === "55P03";
}

/** The session holding a lock on a table the failed SQL names. */
export interface LockHolder {
  table: string;
  pid: number;
  mode: string;
  query: string;
}

const HOLDERS_SQL = `SELECT n.nspname AS schema, c.relname AS name, l.pid, l.mode,
       coalesce(a.query, '') AS query
  FROM pg_locks l
  JOIN pg_class c ON c.oid = l.relation
  JOIN pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_stat_activity a ON a.pid = l.pid
 WHERE l.locktype = 'relation' AND l.granted AND l.pid <> pg_backend_pid()
   AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
 ORDER BY CASE l.mode WHEN 'AccessExclusiveLock' THEN 0 WHEN 'ExclusiveLock' THEN 1
          WHEN 'ShareRowExclusiveLock' THEN 2 WHEN 'ShareLock' THEN 3 ELSE 4 END, l.pid`;

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/**
 * Who holds a lock on a table that `sql` names: PostgreSQL's lock timeout
 * does not say which relation it waited for, so the tables other sessions
 * hold locks on are matched against the SQL that timed out (strongest lock
 * first). Asked on the same session right after the failure; null when none
 * matches or the engine cannot say (the embedded one has no other sessions).
 */
export async function lockHolder(engine: Engine, sql: string): Promise<LockHolder | null> {
  let rows: Array<{ schema: string; name: string; pid: number; mode: string; query: string }>;
  try {
    rows = await engine.query(HOLDERS_SQL);
  } catch {
    return null;
  }
  const text = sql.toLowerCase();
  for (const row of rows) {
    const name = row.name.toLowerCase();
    if (!new RegExp(`(^|[^a-z0-9_$])"?${escapeRegExp(name)}"?($|[^a-z0-9_$])`).test(text)) {
      continue;
    }
    const query = maskPasswordLiterals(redact(row.query.replace(/\s+/g, " ").trim()));
    return {
      table: row.schema === "public" ? row.name : `${row.schema}.${row.name}`,
      pid: Number(row.pid),
      mode: row.mode,
      query: query.length > 200 ? `${query.slice(0, 197)}...` : query,
    };
  }
  return null;
}

function onTable(holder: LockHolder | null): string {
  return holder ? `table ${holder.table}` : "a table";
}

function heldBy(holder: LockHolder): string {
  return `held (${holder.mode}) by pid ${holder.pid}${holder.query ? `: ${holder.query}` : ""}`;
}

/** The failure after the last try: the table, the holder's pid and query, and what to do. */
function lockFailure(error: StrataError, holder: LockHolder | null, tries: number): StrataError {
  const where = holder ? `; lock on ${onTable(holder)} ${heldBy(holder)}` : "";
  const after = tries > 1 ? ` (after ${tries} tries)` : "";
  return new StrataError("MIGRATION_FAILED", `${error.message}${where}${after}`, {
    file: error.file,
    line: error.line,
    hint: (holder
      ? `Session ${holder.pid} holds the lock: let it finish, or end it ` +
        `(SELECT pg_terminate_backend(${holder.pid})); `
      : "Another session holds a lock the revision needs (see pg_locks and pg_stat_activity); ") +
      "or wait longer per try with --lock-wait, or try more often with --lock-retries",
    cause: error,
    details: {
      ...error.details,
      tries,
      ...(holder ? { table: holder.table, holderPid: holder.pid, holderQuery: holder.query } : {}),
    },
  });
}

async function journalTry(
  engine: Engine,
  names: LedgerNames,
  file: MigrationFile,
  detail: string,
): Promise<void> {
  await engine.exec(journalSql(names, {
    action: "retry",
    revision: file.id,
    checksum: file.checksum,
    detail,
  })).catch(() => {});
}

/**
 * Run one revision (`work`), trying it again whole after a lock timeout while
 * tries remain (`whole`: an each-mode revision, rolled back whole). Without
 * `whole` (none mode, whose statements retry on their own) only the final
 * failure is given the holder. Returns the number of tries it took.
 */
export async function withLockRetries(
  engine: Engine,
  names: LedgerNames,
  file: MigrationFile,
  sql: string,
  policy: LockRetry,
  out: Output,
  whole: boolean,
  work: () => Promise<void>,
): Promise<number> {
  const tries = whole ? Math.max(0, policy.retries) + 1 : 1;
  const sleep = policy.sleep ?? realSleep;
  for (let attempt = 1;; attempt++) {
    try {
      await work();
      return attempt;
    } catch (error) {
      if (!isLockTimeout(error) || !(error instanceof StrataError)) throw error;
      const holder = await lockHolder(engine, sql);
      if (attempt >= tries) throw lockFailure(error, holder, attempt);
      const wait = backoffMs(attempt, policy.random);
      const line = `lock not available on ${onTable(holder)}; try ${attempt + 1} of ${tries} in ${
        (wait / 1000).toFixed(1)
      }s`;
      out.warn(`${file.id}: ${line}`);
      await journalTry(
        engine,
        names,
        file,
        `try ${attempt} of ${tries} failed: ${line}${holder ? ` (${heldBy(holder)})` : ""}`,
      );
      await sleep(wait);
    }
  }
}

const INVALID_INDEXES_SQL = `SELECT n.nspname || '.' || c.relname AS name
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE NOT i.indisvalid`;

/** What runStatements asks before it gives up on a failed statement. */
export type StatementRetry = (
  statement: Statement,
  error: unknown,
  attempt: number,
  inBlock: boolean,
) => Promise<boolean>;

/**
 * none mode: whether the statement that timed out waiting for a lock is tried
 * again. Only outside a `BEGIN … COMMIT` block (the block is rolled back
 * whole, and the statement alone is not the block), and only when it left
 * nothing behind (a `CONCURRENTLY` build may leave an INVALID index).
 */
export function statementRetry(
  engine: Engine,
  names: LedgerNames,
  file: MigrationFile,
  policy: LockRetry,
  out: Output,
): StatementRetry {
  const tries = Math.max(0, policy.retries) + 1;
  const sleep = policy.sleep ?? realSleep;
  return async (statement, error, attempt, inBlock) => {
    if (!isLockTimeout(error) || attempt >= tries) return false;
    if (inBlock) {
      out.warn(
        `${file.id}: lock not available; not tried again: the statement ran inside a ` +
          "BEGIN … COMMIT block, which was rolled back",
      );
      return false;
    }
    let invalid: string[] = [];
    try {
      invalid = (await engine.query<{ name: string }>(INVALID_INDEXES_SQL))
        .map((row) => row.name)
        .filter((name) =>
          new RegExp(escapeRegExp(name.slice(name.indexOf(".") + 1)), "i").test(statement.sql)
        );
    } catch {
      return false;
    }
    if (invalid.length > 0) {
      out.warn(
        `${file.id}: lock not available; not tried again: the statement left the invalid ` +
          `index ${invalid.join(", ")} behind`,
      );
      return false;
    }
    const holder = await lockHolder(engine, statement.sql);
    const wait = backoffMs(attempt, policy.random);
    const line = `lock not available on ${onTable(holder)}; try ${attempt + 1} of ${tries} in ${
      (wait / 1000).toFixed(1)
    }s`;
    out.warn(`${file.id}: ${line}`);
    await journalTry(
      engine,
      names,
      file,
      `statement try ${attempt} of ${tries} failed: ${line}${holder ? ` (${heldBy(holder)})` : ""}`,
    );
    await sleep(wait);
    return true;
  };
}

/**
 * How many tries the latest run of each revision took, from the journal
 * (newest row first): 1 + the `retry` rows just before its last upgrade or
 * downgrade (each mode writes a failure row before each retry row).
 */
export function triesFromJournal(journal: JournalRow[]): Record<string, number> {
  const result: Record<string, number> = {};
  const byRevision = new Map<string, JournalRow[]>();
  for (const row of journal) {
    if (!row.revision) continue;
    const rows = byRevision.get(row.revision) ?? [];
    rows.push(row);
    byRevision.set(row.revision, rows);
  }
  for (const [revision, rows] of byRevision) {
    if (rows[0].action !== "upgrade" && rows[0].action !== "downgrade") continue;
    let retries = 0;
    for (let i = 1; i < rows.length; i++) {
      if (rows[i].action === "retry") retries++;
      else if (rows[i].action === "failure" && rows[i - 1].action === "retry") continue;
      else break;
    }
    result[revision] = retries + 1;
  }
  return result;
}
