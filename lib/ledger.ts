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
import { redact } from "./redact.ts";
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
  /** Null only in a ledger damaged by hand: it then matches no file (reported as edited). */
  checksum: string | null;
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
  | "retry"
  | "start"
  | "adopt"
  | "reset"
  | "hook";

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
  row: { revision: string; parents: string[]; checksum: string; detail?: string },
): string {
  const journal = `INSERT INTO ${
    journalTable(names)
  } (action, revision, checksum, duration_ms, detail, strata_version)`;
  const statement = (sql: string) => sql.replace(/;$/, "");
  // The journal's detail: the placeholder values the revision ran with, secrets masked.
  const detail = row.detail === undefined ? "NULL" : quoteLiteral(row.detail);
  if (direction === "up") {
    return `WITH applied AS (${
      statement(insertLedgerSql(names, row))
    } RETURNING revision, checksum, duration_ms, strata_version)\n${journal} SELECT 'upgrade', revision, checksum, duration_ms, ${detail}, strata_version FROM applied;`;
  }
  return `WITH removed AS (${
    statement(deleteLedgerSql(names, row.revision))
  } RETURNING revision)\n${journal} SELECT 'downgrade', revision, ${
    quoteLiteral(row.checksum)
  }, ${ELAPSED_MS}, ${detail}, ${quoteLiteral(VERSION)} FROM removed;`;
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
    lit(entry.detail === undefined ? undefined : redact(entry.detail))
  }, ${quoteLiteral(VERSION)});`;
}

const LEDGER_COLUMNS = [
  "revision",
  "parents",
  "checksum",
  "applied_at",
  "applied_by",
  "duration_ms",
  "strata_version",
];
const JOURNAL_COLUMNS = [
  "id",
  "at",
  "action",
  "revision",
  "checksum",
  "actor",
  "duration_ms",
  "detail",
  "strata_version",
];
const MISSING_TABLE = new Set(["42P01", "3F000"]);
const UNDEFINED_COLUMN = "42703";
const INSUFFICIENT_PRIVILEGE = "42501";

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

/**
 * Ledger revisions of repeatables (lib/repeatable.ts) start with this: a `/`
 * no revision id can hold. Their rows are kept apart from the versioned ones.
 */
export const REPEATABLE_PREFIX = "repeatable/";

/** The applied rows of versioned revisions, or null when the ledger table does not exist yet. */
export async function readLedger(engine: Engine, names: LedgerNames): Promise<LedgerRow[] | null> {
  const rows = await readAllRows(engine, names);
  return rows && rows.filter((row) => !row.revision.startsWith(REPEATABLE_PREFIX));
}

/** The rows of repeatables (one each, its latest checksum), or [] without a ledger. */
export async function readRepeatableRows(
  engine: Engine,
  names: LedgerNames,
): Promise<LedgerRow[]> {
  const rows = await readAllRows(engine, names);
  return (rows ?? []).filter((row) => row.revision.startsWith(REPEATABLE_PREFIX));
}

async function readAllRows(engine: Engine, names: LedgerNames): Promise<LedgerRow[] | null> {
  if (!(await tableExists(engine, ledgerTable(names)))) return null;
  let rows: LedgerRow[];
  try {
    // As text: a ledger made by hand may type them otherwise.
    rows = await engine.query<LedgerRow>(
      `SELECT revision::text AS revision, parents::text AS parents, checksum::text AS checksum,
              applied_at, applied_by, duration_ms, strata_version
         FROM ${ledgerTable(names)} ORDER BY applied_at, revision`,
    );
  } catch (error) {
    // MISSING_TABLE: dropped between the two queries.
    if (error instanceof SqlError && MISSING_TABLE.has(error.sqlstate ?? "")) return null;
    throw await tableError(engine, error, ledgerTable(names), "SELECT", LEDGER_COLUMNS);
  }
  for (const [i, row] of rows.entries()) {
    if (typeof row.revision !== "string" || row.revision === "") {
      throw damaged(ledgerTable(names), `row ${i + 1} has no revision`, LEDGER_COLUMNS);
    }
    row.parents ??= "";
  }
  return rows;
}

/**
 * A failed read or write of strata's tables as the error a user can act on:
 * a missing privilege (naming role, table and privilege) or a table that is
 * not strata's (a missing column); anything else unchanged.
 */
async function tableError(
  engine: Engine,
  error: unknown,
  table: string,
  privilege: string,
  columns: string[],
): Promise<unknown> {
  if (!(error instanceof SqlError)) return error;
  if (error.sqlstate === INSUFFICIENT_PRIVILEGE) {
    return await privilegeError(engine, table, privilege, error);
  }
  if (error.sqlstate === UNDEFINED_COLUMN) return damaged(table, error.message, columns, error);
  return error;
}

async function privilegeError(
  engine: Engine,
  table: string,
  privilege: string,
  cause?: unknown,
): Promise<StrataError> {
  const role = await engine.query<{ role: string }>("SELECT current_user AS role")
    .then((rows) => rows[0]?.role ?? "?", () => "?");
  return new StrataError(
    "PRIVILEGE",
    `Role "${role}" lacks ${privilege} on ${table}`,
    {
      cause,
      hint: `Run strata as a role that has it, or: GRANT ${privilege} ON ${table} TO ${
        quoteIdent(role)
      } (status, check, history and drift need SELECT only)`,
      details: { role, table, privilege },
    },
  );
}

function damaged(table: string, what: string, columns: string[], cause?: unknown): StrataError {
  return new StrataError("LEDGER", `Table ${table} is not a strata ledger as expected: ${what}`, {
    cause,
    hint: `Point --table at strata's ledger, or repair the table: strata's columns are ${
      columns.join(", ")
    }`,
    details: { table },
  });
}

interface ColumnFact {
  /** 0: the ledger, 1: the journal. */
  i: number;
  column: string;
  required: boolean;
  select: boolean;
  insert: boolean;
  update: boolean;
  delete: boolean;
}

/** Both tables' columns and the role's privileges on them, in one round trip. */
function tableFacts(engine: Engine, names: LedgerNames): Promise<ColumnFact[]> {
  const privilege = (p: string) => `has_table_privilege(t.oid, '${p.toUpperCase()}') AS "${p}"`;
  return engine.query<ColumnFact>(
    `SELECT t.i, a.attname AS column,
            a.attnotnull AND NOT a.atthasdef AND a.attidentity = '' AS required,
            ${["select", "insert", "update", "delete"].map(privilege).join(", ")}
       FROM (VALUES (0, to_regclass($1)), (1, to_regclass($2))) t(i, oid)
       JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum > 0 AND NOT a.attisdropped`,
    [ledgerTable(names), journalTable(names)],
  );
}

/**
 * Before any change: both tables have strata's columns (no extra column a
 * row cannot be written without) and the role may write them, so a run does
 * not fail on its bookkeeping after a revision's SQL ran.
 */
async function checkTables(engine: Engine, names: LedgerNames, facts: ColumnFact[]) {
  const tables = [
    { name: ledgerTable(names), columns: LEDGER_COLUMNS, needs: ["insert", "update", "delete"] },
    { name: journalTable(names), columns: JOURNAL_COLUMNS, needs: ["select", "insert"] },
  ] as const;
  for (const [i, table] of tables.entries()) {
    const found = facts.filter((fact) => fact.i === i);
    const have = new Set(found.map((fact) => fact.column));
    const missing = table.columns.filter((column) => !have.has(column));
    if (missing.length > 0) {
      throw damaged(table.name, `no column ${missing.join(", ")}`, table.columns);
    }
    const extra = found.filter((fact) => fact.required && !table.columns.includes(fact.column));
    if (extra.length > 0) {
      throw damaged(
        table.name,
        `column ${extra.map((fact) => fact.column).join(", ")} is NOT NULL without a default`,
        table.columns,
      );
    }
    const lacking = table.needs.filter((p) => found[0][p] !== true);
    if (lacking.length > 0) {
      throw await privilegeError(engine, table.name, lacking.join(", ").toUpperCase());
    }
  }
}

/** Read the ledger, creating both tables first when they are missing. Call under the lock. */
export async function openLedger(engine: Engine, names: LedgerNames): Promise<LedgerRow[]> {
  const rows = await readLedger(engine, names);
  let facts = rows === null ? [] : await tableFacts(engine, names);
  if (!facts.some((fact) => fact.i === 1)) {
    try {
      await engine.exec(createLedgerSql(names));
    } catch (error) {
      if (!(error instanceof SqlError && error.sqlstate === INSUFFICIENT_PRIVILEGE)) throw error;
      throw await privilegeError(engine, await createTarget(engine, names), "CREATE", error);
    }
    facts = await tableFacts(engine, names);
  }
  await checkTables(engine, names, facts);
  return rows ?? [];
}

/** Where CREATE is needed: the ledger's schema, or the database when that schema is new. */
async function createTarget(engine: Engine, names: LedgerNames): Promise<string> {
  const [row] = await engine.query<{ schema: string | null; exists: boolean; db: string }>(
    `SELECT coalesce($1, current_schema()) AS schema, current_database() AS db,
            EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = coalesce($1, current_schema())) AS exists`,
    [names.schema],
  ).catch(() => [undefined]);
  if (!row?.schema) return "SCHEMA public";
  return row.exists ? `SCHEMA ${quoteIdent(row.schema)}` : `DATABASE ${quoteIdent(row.db)}`;
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
    if (error instanceof SqlError && MISSING_TABLE.has(error.sqlstate ?? "")) return [];
    throw await tableError(engine, error, journalTable(names), "SELECT", JOURNAL_COLUMNS);
  }
}
