/**
 * The ledger (one row per applied revision) and the journal (one row per
 * action, never rewritten). Statements are built as SQL text so a revision's
 * SQL, its ledger row and its journal row travel in one round trip, and so
 * `--sql` prints exactly what would run. Every value goes through
 * `quoteLiteral`, whose literals no session setting can change.
 */
import type { Engine } from "./db/engine.ts";
import { SqlError } from "./db/engine.ts";
import { StrataError } from "./errors.ts";
import { maskPasswordLiterals } from "./redact.ts";
import { quoteLiteral } from "./sql_literal.ts";
import { VERSION } from "./version.ts";

export interface LedgerNames {
  /** Schema given with --table, or null for the first schema on the search path. */
  schema: string | null;
  ledger: string;
  journal: string;
}

export interface LedgerRow {
  revision: string;
  parents: string;
  checksum: string;
  applied_at: Date | string;
  applied_by: string;
  duration_ms: number | null;
  strata_version: string;
}

export type JournalAction =
  | "upgrade"
  | "downgrade"
  | "stamp"
  | "unstamp"
  | "rehash"
  | "failure"
  | "start"
  | "adopt"
  | "reset";

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

export { quoteLiteral };

/** `--table name` or `--table schema.name`; the journal sits beside the ledger. */
export function ledgerNames(table?: string): LedgerNames {
  const [schema, ledger] = table?.includes(".")
    ? [table.slice(0, table.indexOf(".")), table.slice(table.indexOf(".") + 1)]
    : [null, table || "strata_ledger"];
  if (!ledger || schema === "") {
    throw new StrataError("USAGE", `Invalid --table "${table}"`, {
      hint: "Use name or schema.name",
    });
  }
  const journal = ledger.endsWith("_ledger")
    ? ledger.slice(0, -"_ledger".length) + "_journal"
    : ledger + "_journal";
  return { schema, ledger, journal };
}

function qualified(names: LedgerNames, table: string): string {
  return names.schema ? `${quoteIdent(names.schema)}.${quoteIdent(table)}` : quoteIdent(table);
}

export function ledgerTable(names: LedgerNames): string {
  return qualified(names, names.ledger);
}

export function journalTable(names: LedgerNames): string {
  return qualified(names, names.journal);
}

/** Idempotent DDL for both tables; run only while holding the migration lock. */
export function createLedgerSql(names: LedgerNames): string {
  return [
    names.schema ? `CREATE SCHEMA IF NOT EXISTS ${quoteIdent(names.schema)};` : "",
    `CREATE TABLE IF NOT EXISTS ${ledgerTable(names)} (
  revision text PRIMARY KEY,
  parents text NOT NULL DEFAULT '',
  checksum text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now(),
  applied_by text NOT NULL DEFAULT current_user,
  duration_ms integer,
  strata_version text NOT NULL
);`,
    `CREATE TABLE IF NOT EXISTS ${journalTable(names)} (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at timestamptz NOT NULL DEFAULT now(),
  action text NOT NULL,
  revision text,
  checksum text,
  actor text NOT NULL DEFAULT current_user,
  duration_ms integer,
  detail text,
  strata_version text NOT NULL
);`,
  ].filter(Boolean).join("\n");
}

/** Milliseconds since the server received the current query message. */
const ELAPSED_MS = "(extract(epoch FROM clock_timestamp() - statement_timestamp()) * 1000)::int";

export function insertLedgerSql(
  names: LedgerNames,
  row: { revision: string; parents: string[]; checksum: string },
): string {
  return `INSERT INTO ${
    ledgerTable(names)
  } (revision, parents, checksum, duration_ms, strata_version) VALUES (${
    quoteLiteral(row.revision)
  }, ${quoteLiteral(row.parents.join(" "))}, ${quoteLiteral(row.checksum)}, ${ELAPSED_MS}, ${
    quoteLiteral(VERSION)
  });`;
}

/**
 * A revision's ledger change and its journal row as one statement: the
 * bookkeeping an each-mode revision carries costs the server one statement,
 * not two.
 */
export function recordSql(
  names: LedgerNames,
  direction: "up" | "down",
  row: { revision: string; parents: string[]; checksum: string },
): string {
  const journal = `INSERT INTO ${
    journalTable(names)
  } (action, revision, checksum, duration_ms, strata_version)`;
  const statement = (sql: string) => sql.replace(/;$/, "");
  if (direction === "up") {
    return `WITH applied AS (${
      statement(insertLedgerSql(names, row))
    } RETURNING revision, checksum, duration_ms, strata_version)\n${journal} SELECT 'upgrade', revision, checksum, duration_ms, strata_version FROM applied;`;
  }
  return `WITH removed AS (${
    statement(deleteLedgerSql(names, row.revision))
  } RETURNING revision)\n${journal} SELECT 'downgrade', revision, ${
    quoteLiteral(row.checksum)
  }, ${ELAPSED_MS}, ${quoteLiteral(VERSION)} FROM removed;`;
}

export function deleteLedgerSql(names: LedgerNames, revision: string): string {
  return `DELETE FROM ${ledgerTable(names)} WHERE revision = ${quoteLiteral(revision)};`;
}

export function journalSql(
  names: LedgerNames,
  entry: { action: JournalAction; revision?: string; checksum?: string; detail?: string },
): string {
  const lit = (value?: string) => (value === undefined ? "NULL" : quoteLiteral(value));
  return `INSERT INTO ${
    journalTable(names)
  } (action, revision, checksum, duration_ms, detail, strata_version) VALUES (${
    lit(entry.action)
  }, ${lit(entry.revision)}, ${lit(entry.checksum)}, ${ELAPSED_MS}, ${
    lit(entry.detail === undefined ? undefined : maskPasswordLiterals(entry.detail))
  }, ${quoteLiteral(VERSION)});`;
}

/**
 * Whether `table` (quoted, maybe schema-qualified) exists, asked of the
 * catalog: reading a missing table would fail on the server and write an
 * error to its log on every `status` of a database strata has not touched.
 */
async function tableExists(engine: Engine, table: string): Promise<boolean> {
  const [row] = await engine.query<{ present: boolean }>(
    "SELECT to_regclass($1) IS NOT NULL AS present",
    [table],
  );
  return row.present;
}

/** The applied rows, or null when the ledger table does not exist yet. */
export async function readLedger(engine: Engine, names: LedgerNames): Promise<LedgerRow[] | null> {
  if (!(await tableExists(engine, ledgerTable(names)))) return null;
  try {
    return await engine.query<LedgerRow>(
      `SELECT revision, parents, checksum, applied_at, applied_by, duration_ms, strata_version
         FROM ${ledgerTable(names)} ORDER BY applied_at, revision`,
    );
  } catch (error) {
    // Dropped between the two queries.
    if (error instanceof SqlError && (error.sqlstate === "42P01" || error.sqlstate === "3F000")) {
      return null;
    }
    throw error;
  }
}

/** Read the ledger, creating both tables first when they are missing. Call under the lock. */
export async function openLedger(engine: Engine, names: LedgerNames): Promise<LedgerRow[]> {
  const rows = await readLedger(engine, names);
  if (rows) return rows;
  await engine.exec(createLedgerSql(names));
  return [];
}

export interface JournalRow {
  id: number;
  at: Date | string;
  action: JournalAction;
  revision: string | null;
  checksum: string | null;
  actor: string;
  duration_ms: number | null;
  detail: string | null;
}

/** The newest journal rows (for status and show), or [] without a journal. */
export async function readJournal(
  engine: Engine,
  names: LedgerNames,
  options: { revision?: string; limit?: number } = {},
): Promise<JournalRow[]> {
  if (!(await tableExists(engine, journalTable(names)))) return [];
  try {
    const where = options.revision ? `WHERE revision = $1` : "";
    return await engine.query<JournalRow>(
      `SELECT id, at, action, revision, checksum, actor, duration_ms, detail
         FROM ${journalTable(names)} ${where} ORDER BY id DESC LIMIT ${options.limit ?? 50}`,
      options.revision ? [options.revision] : [],
    );
  } catch (error) {
    if (error instanceof SqlError && (error.sqlstate === "42P01" || error.sqlstate === "3F000")) {
      return [];
    }
    throw error;
  }
}
