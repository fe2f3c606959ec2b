/**
 * The ledger and the runner on both engines: tables created where the design
 * says, rows that round-trip, passwords masked in the journal, and revisions
 * applied and rolled back in `each` and `none` mode with their bookkeeping.
 */
import assert from "node:assert/strict";
import { type Engine, type EngineOptions, openEngine } from "../lib/db/engine.ts";
import { StrataError } from "../lib/errors.ts";
import { buildGraph, type Graph } from "../lib/graph.ts";
import {
  deleteLedgerSql,
  insertLedgerSql,
  journalSql,
  type LedgerNames,
  ledgerNames,
  openLedger,
  readJournal,
  readLedger,
} from "../lib/ledger.ts";
import { type MigrationFile, parseMigration } from "../lib/migration_file.ts";
import { Output } from "../lib/output.ts";
import type { Direction } from "../lib/plan.ts";
import { runSteps, withLock } from "../lib/runner.ts";
import { VERSION } from "../lib/version.ts";
import {
  expectExit,
  queryDb,
  SERVER_URL,
  serverDirTest,
  serverTest,
  strata,
  writeMigration,
} from "./helpers.ts";

const OPTIONS: EngineOptions = {
  connectTimeoutMs: 5000,
  statementTimeoutMs: 12345,
  lockWaitMs: 2345,
  lockTimeoutMs: 2000,
};

const SILENT = new Output({ json: true, verbose: false, color: false });

type Case = (engine: Engine) => Promise<void>;

/** Register a case on the embedded engine and on the server (a scratch database). */
function onBothEngines(name: string, fn: Case): void {
  const run = async (url: string) => {
    const engine = await openEngine(url, OPTIONS);
    try {
      await fn(engine);
    } finally {
      await engine.close();
    }
  };
  Deno.test(`[pglite:memory] ${name}`, () => run("pglite:memory"));
  serverTest(name, run);
}

async function regclass(engine: Engine, name: string): Promise<string | null> {
  const [row] = await engine.query<{ r: string | null }>("SELECT to_regclass($1)::text AS r", [
    name,
  ]);
  return row.r;
}

async function currentUser(engine: Engine): Promise<string> {
  const [{ u }] = await engine.query<{ u: string }>("SELECT current_user::text AS u");
  return u;
}

/** Revisions from `{ id: text }`, in id order, as the folder loader gives them. */
function graphOf(texts: Record<string, string>): Graph {
  const files: MigrationFile[] = Object.keys(texts).sort().map((id) =>
    parseMigration(texts[id], `migrations/${id}.sql`, id, null)
  );
  return buildGraph(files);
}

/** Run steps the way the commands do: under the lock, ledger opened first. */
function run(
  engine: Engine,
  names: LedgerNames,
  graph: Graph,
  direction: Direction,
  steps: string[],
) {
  return withLock(engine, names, () => runSteps(engine, names, graph, direction, steps, SILENT));
}

async function failureOf(promise: Promise<unknown>): Promise<StrataError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof StrataError, `expected a StrataError, got ${error}`);
    return error;
  }
  assert.fail("expected the run to fail");
}

const ledgerRevisions = async (engine: Engine, names: LedgerNames) =>
  (await readLedger(engine, names))?.map((row) => row.revision);

const journalActions = async (engine: Engine, names: LedgerNames) =>
  (await readJournal(engine, names)).reverse().map((row) => `${row.action} ${row.revision}`);

// ---------------------------------------------------------------------------
// The tables.

onBothEngines(
  "readLedger is null until openLedger creates both tables in the current schema",
  async (engine) => {
    const names = ledgerNames();
    assert.deepEqual(names, { schema: null, ledger: "strata_ledger", journal: "strata_journal" });
    assert.equal(await readLedger(engine, names), null);
    assert.deepEqual(await readJournal(engine, names), []);
    assert.equal(await regclass(engine, "strata_ledger"), null);

    assert.deepEqual(await openLedger(engine, names), []);
    assert.equal(await regclass(engine, "public.strata_ledger"), "strata_ledger");
    assert.equal(await regclass(engine, "public.strata_journal"), "strata_journal");
    assert.deepEqual(await readLedger(engine, names), []);
    // Idempotent.
    assert.deepEqual(await openLedger(engine, names), []);
  },
);

onBothEngines("openLedger uses the first schema on the search path", async (engine) => {
  await engine.exec("CREATE SCHEMA app; SET search_path TO app, public");
  const names = ledgerNames();
  assert.equal(await readLedger(engine, names), null);
  await openLedger(engine, names);
  assert.notEqual(await regclass(engine, "app.strata_ledger"), null);
  assert.notEqual(await regclass(engine, "app.strata_journal"), null);
  assert.equal(await regclass(engine, "public.strata_ledger"), null);
  assert.equal(await regclass(engine, "public.strata_journal"), null);
});

onBothEngines(
  'ledgerNames("audit.migrations") puts both tables in schema audit',
  async (engine) => {
    const names = ledgerNames("audit.migrations");
    assert.deepEqual(names, {
      schema: "audit",
      ledger: "migrations",
      journal: "migrations_journal",
    });
    assert.equal(await readLedger(engine, names), null, "a missing schema reads as no ledger");
    assert.deepEqual(await readJournal(engine, names), []);

    assert.deepEqual(await openLedger(engine, names), []);
    assert.equal(await regclass(engine, "audit.migrations"), "audit.migrations");
    assert.equal(await regclass(engine, "audit.migrations_journal"), "audit.migrations_journal");
    assert.equal(await regclass(engine, "public.migrations"), null);
    assert.equal(await regclass(engine, "public.strata_ledger"), null);

    await engine.exec(
      insertLedgerSql(names, { revision: "r1", parents: [], checksum: "sha256:1" }),
    );
    assert.deepEqual(await ledgerRevisions(engine, names), ["r1"]);
    const [{ n }] = await engine.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM audit.migrations",
    );
    assert.equal(n, 1);

    // Names that need quoting stay names, not SQL.
    const odd = ledgerNames('Odd "Schema".Ledger; Table');
    assert.deepEqual(odd, {
      schema: 'Odd "Schema"',
      ledger: "Ledger; Table",
      journal: "Ledger; Table_journal",
    });
    await openLedger(engine, odd);
    await engine.exec(insertLedgerSql(odd, { revision: "r2", parents: [], checksum: "sha256:2" }));
    assert.deepEqual(await ledgerRevisions(engine, odd), ["r2"]);
    assert.notEqual(await regclass(engine, '"Odd ""Schema"""."Ledger; Table_journal"'), null);
  },
);

onBothEngines("insertLedgerSql, deleteLedgerSql and journalSql round-trip", async (engine) => {
  const names = ledgerNames();
  await openLedger(engine, names);
  await engine.exec(
    insertLedgerSql(names, { revision: "20240101_0000_a", parents: [], checksum: "sha256:aa" }) +
      insertLedgerSql(names, {
        revision: "20240102_0000_b",
        parents: ["20240101_0000_a", "x'y"],
        checksum: "sha256:bb",
      }),
  );
  const user = await currentUser(engine);
  const rows = (await readLedger(engine, names))!;
  assert.deepEqual(
    rows.map((r) => [r.revision, r.parents, r.checksum, r.applied_by, r.strata_version]),
    [
      ["20240101_0000_a", "", "sha256:aa", user, VERSION],
      ["20240102_0000_b", "20240101_0000_a x'y", "sha256:bb", user, VERSION],
    ],
  );
  for (const row of rows) {
    assert.equal(typeof row.duration_ms, "number");
    assert.ok(row.duration_ms! >= 0);
    assert.ok(!Number.isNaN(new Date(row.applied_at).getTime()), String(row.applied_at));
  }

  // The revision is the primary key.
  await assert.rejects(
    engine.exec(insertLedgerSql(names, { revision: "20240101_0000_a", parents: [], checksum: "" })),
    (error: Error & { sqlstate?: string }) => error.sqlstate === "23505",
  );

  await engine.exec(deleteLedgerSql(names, "20240101_0000_a"));
  assert.deepEqual(await ledgerRevisions(engine, names), ["20240102_0000_b"]);
  await engine.exec(deleteLedgerSql(names, "no such revision"));
  assert.deepEqual(await ledgerRevisions(engine, names), ["20240102_0000_b"]);

  const detail = "it's a \\ back'slash'; DROP TABLE strata_ledger; --\nsecond line ü";
  await engine.exec(
    journalSql(names, { action: "stamp", revision: "20240101_0000_a", checksum: "sha256:aa" }) +
      journalSql(names, { action: "failure", revision: "20240102_0000_b", detail }),
  );
  const journal = await readJournal(engine, names);
  assert.deepEqual(
    journal.map((j) => [j.action, j.revision, j.checksum, j.detail, j.actor]),
    [
      ["failure", "20240102_0000_b", null, detail, user],
      ["stamp", "20240101_0000_a", "sha256:aa", null, user],
    ],
  );
  assert.deepEqual(
    (await readJournal(engine, names, { revision: "20240101_0000_a" })).map((j) => j.action),
    ["stamp"],
  );
  assert.notEqual(await regclass(engine, "strata_ledger"), null);
});

onBothEngines("journalSql masks PASSWORD literals in detail", async (engine) => {
  const names = ledgerNames();
  await openLedger(engine, names);
  const detail = "CREATE ROLE app LOGIN PASSWORD 'hunter2';\n" +
    "ALTER ROLE app PASSWORD $pw$s3cr'et$pw$;\nALTER ROLE app WITH password 'it''s'";
  const sql = journalSql(names, { action: "failure", revision: "r", detail });
  for (const secret of ["hunter2", "s3cr", "it''s"]) assert.ok(!sql.includes(secret), sql);
  await engine.exec(sql);
  const [row] = await readJournal(engine, names);
  for (const secret of ["hunter2", "s3cr", "it's"]) {
    assert.ok(!row.detail!.includes(secret), row.detail!);
  }
  assert.equal(
    row.detail,
    "CREATE ROLE app LOGIN PASSWORD '***';\n" +
      "ALTER ROLE app PASSWORD '***';\nALTER ROLE app WITH password '***'",
  );
});

Deno.test("journalSql masks a PASSWORD E'...' literal with a backslash-escaped quote", () => {
  // In an E'' string, \' is a quote inside the literal, not its end.
  const detail = "ALTER ROLE app PASSWORD E'esc\\'aped-secret'";
  const sql = journalSql(ledgerNames(), { action: "failure", revision: "r", detail });
  assert.ok(!sql.includes("aped-secret"), sql);
});

// ---------------------------------------------------------------------------
// The runner.

const EACH_A = `-- message: items
-- parents:
-- up
CREATE TABLE items (id int PRIMARY KEY);
-- down
DROP TABLE items;
`;

const EACH_B = `-- message: names
-- up
ALTER TABLE items ADD COLUMN name text;
INSERT INTO items VALUES (1, 'one');
-- down
ALTER TABLE items DROP COLUMN name;
`;

onBothEngines("runSteps applies and rolls back revisions in each mode", async (engine) => {
  const names = ledgerNames();
  const graph = graphOf({ "20240101_0000_a": EACH_A, "20240102_0000_b": EACH_B });
  const a = graph.files.get("20240101_0000_a")!;
  const b = graph.files.get("20240102_0000_b")!;

  const up = await run(engine, names, graph, "up", graph.order);
  assert.deepEqual(up.map((s) => [s.revision, s.direction]), [[a.id, "up"], [b.id, "up"]]);
  assert.deepEqual(await engine.query("SELECT id, name FROM items"), [{ id: 1, name: "one" }]);
  const rows = (await readLedger(engine, names))!;
  assert.deepEqual(rows.map((r) => [r.revision, r.parents, r.checksum]), [
    [a.id, "", a.checksum],
    [b.id, a.id, b.checksum],
  ]);
  assert.deepEqual(await journalActions(engine, names), [`upgrade ${a.id}`, `upgrade ${b.id}`]);
  const journal = await readJournal(engine, names);
  assert.deepEqual(journal.map((j) => j.checksum), [b.checksum, a.checksum]);

  const down = await run(engine, names, graph, "down", [b.id, a.id]);
  assert.deepEqual(down.map((s) => [s.revision, s.direction]), [[b.id, "down"], [a.id, "down"]]);
  assert.equal(await regclass(engine, "items"), null);
  assert.deepEqual(await readLedger(engine, names), []);
  assert.deepEqual(await journalActions(engine, names), [
    `upgrade ${a.id}`,
    `upgrade ${b.id}`,
    `downgrade ${b.id}`,
    `downgrade ${a.id}`,
  ]);
});

const NONE_B = `-- message: indexes
-- transaction: none
-- up
CREATE INDEX CONCURRENTLY IF NOT EXISTS items_id_idx ON items (id);

CREATE TABLE IF NOT EXISTS notes (id int);
-- down
DROP INDEX CONCURRENTLY IF EXISTS items_id_idx;
DROP TABLE IF EXISTS notes;
`;

onBothEngines("runSteps applies and rolls back revisions in none mode", async (engine) => {
  const names = ledgerNames("audit.migrations");
  const graph = graphOf({ "20240101_0000_a": EACH_A, "20240102_0000_b": NONE_B });
  const [a, b] = graph.order;
  assert.equal(graph.files.get(b)!.transaction, "none");

  await run(engine, names, graph, "up", [a, b]);
  assert.equal(await regclass(engine, "items_id_idx"), "items_id_idx");
  assert.equal(await regclass(engine, "notes"), "notes");
  assert.deepEqual(
    (await readLedger(engine, names))!.map((r) => [r.revision, r.parents, r.checksum]),
    [[a, "", graph.files.get(a)!.checksum], [b, a, graph.files.get(b)!.checksum]],
  );
  assert.deepEqual(await journalActions(engine, names), [
    `upgrade ${a}`,
    `start ${b}`,
    `upgrade ${b}`,
  ]);

  await run(engine, names, graph, "down", [b]);
  assert.equal(await regclass(engine, "items_id_idx"), null);
  assert.equal(await regclass(engine, "notes"), null);
  assert.notEqual(await regclass(engine, "items"), null);
  assert.deepEqual(await ledgerRevisions(engine, names), [a]);
  assert.deepEqual((await journalActions(engine, names)).slice(3), [
    `start ${b}`,
    `downgrade ${b}`,
  ]);
});

// Line 7 is the failing one; a comment and multi-byte text come before it.
const FAILING_EACH = `-- message: fails
-- up
-- creates a table, then fails
CREATE TABLE b_part (id int, label text);
INSERT INTO b_part VALUES (1, 'äöü 😀 multi-byte');
SELECT id,
       no_such_column
  FROM b_part;
-- down
DROP TABLE b_part;
`;

const FIXED_EACH = FAILING_EACH.replace("       no_such_column", "       label");

onBothEngines(
  "each mode: a failing revision leaves no ledger row and no partial schema, and names its line",
  async (engine) => {
    const names = ledgerNames();
    const graph = graphOf({ "20240101_0000_a": EACH_A, "20240102_0000_b": FAILING_EACH });
    const [a, b] = graph.order;

    const error = await failureOf(run(engine, names, graph, "up", [a, b]));
    assert.equal(error.code, "MIGRATION_FAILED");
    assert.equal(error.file, `migrations/${b}.sql`);
    assert.equal(error.details?.sqlstate, "42703");
    assert.equal(error.details?.revision, b);
    assert.match(error.message, new RegExp(`Cannot apply revision "${b}"`));
    assert.match(error.message, /no_such_column/);

    assert.deepEqual(await ledgerRevisions(engine, names), [a], "no ledger row for the failure");
    assert.equal(await regclass(engine, "b_part"), null, "no partial schema");
    assert.notEqual(await regclass(engine, "items"), null, "the revision before it stays");

    // A re-run with the file fixed continues where it stopped.
    const fixed = graphOf({ "20240101_0000_a": EACH_A, "20240102_0000_b": FIXED_EACH });
    await run(engine, names, fixed, "up", [b]);
    assert.deepEqual(await ledgerRevisions(engine, names), [a, b]);
    assert.deepEqual(await engine.query("SELECT id FROM b_part"), [{ id: 1 }]);

    // Checked last so a wrong line does not hide the checks above.
    assert.equal(error.line, 7, `line ${error.line} instead of 7 (the no_such_column line)`);
  },
);

onBothEngines("each mode: a failing revision is journaled with its error", async (engine) => {
  const names = ledgerNames();
  const graph = graphOf({ "20240102_0000_b": FAILING_EACH });
  const [b] = graph.order;
  await failureOf(run(engine, names, graph, "up", [b]));
  const journal = await readJournal(engine, names, { revision: b });
  const failure = journal.find((row) => row.action === "failure");
  assert.ok(failure, `no failure row in the journal: ${JSON.stringify(journal)}`);
  assert.match(failure.detail ?? "", /no_such_column/);
});

// Line 8 is the failing one, the second line of its statement.
const FAILING_NONE = `-- message: fails outside a transaction
-- transaction: none
-- up
CREATE TABLE IF NOT EXISTS c_part (id int);

-- the next statement fails on its second line
SELECT 1,
  no_such_column
  FROM c_part;
CREATE TABLE never_created (id int);
-- down
DROP TABLE IF EXISTS c_part;
`;

onBothEngines(
  "none mode: a failing revision leaves no ledger row, is journaled and names its line",
  async (engine) => {
    const names = ledgerNames();
    const graph = graphOf({ "20240101_0000_a": EACH_A, "20240102_0000_c": FAILING_NONE });
    const [a, c] = graph.order;
    assert.equal(FAILING_NONE.split("\n")[7], "  no_such_column");

    const error = await failureOf(run(engine, names, graph, "up", [a, c]));
    assert.equal(error.code, "MIGRATION_FAILED");
    assert.equal(error.file, `migrations/${c}.sql`);
    assert.equal(error.line, 8, `line ${error.line} instead of 8 (the no_such_column line)`);
    assert.equal(error.details?.sqlstate, "42703");
    assert.match(String(error.details?.statement), /no_such_column/);

    assert.deepEqual(await ledgerRevisions(engine, names), [a], "no ledger row for the failure");
    // Each statement commits alone: the one before the failure stays, the one after never ran.
    assert.notEqual(await regclass(engine, "c_part"), null);
    assert.equal(await regclass(engine, "never_created"), null);
    const journal = await readJournal(engine, names, { revision: c });
    assert.deepEqual(journal.map((j) => j.action), ["failure", "start"]);
    assert.match(journal[0].detail ?? "", /no_such_column/);
  },
);

const RESETS = `-- up
SET statement_timeout = 0;
SET lock_timeout = 0;
CREATE TABLE IF NOT EXISTS seen (after text, statement text, lock text);
`;

const RECORDS = (label: string) =>
  `-- up
INSERT INTO seen VALUES ('${label}', current_setting('statement_timeout'), current_setting('lock_timeout'));
`;

onBothEngines(
  "a revision that resets the session timeouts does not change them for the next ones",
  async (engine) => {
    const names = ledgerNames();
    const graph = graphOf({
      "20240101_0000_a": RESETS,
      "20240102_0000_b": RECORDS("each"),
      "20240103_0000_c": "-- transaction: none\n" + RESETS,
      "20240104_0000_d": "-- transaction: none\n" + RECORDS("none"),
    });
    await run(engine, names, graph, "up", graph.order);
    assert.deepEqual(await engine.query("SELECT * FROM seen ORDER BY after"), [
      { after: "each", statement: "12345ms", lock: "2345ms" },
      { after: "none", statement: "12345ms", lock: "2345ms" },
    ]);
    const [now] = await engine.query(
      "SELECT current_setting('statement_timeout') AS statement, current_setting('lock_timeout') AS lock",
    );
    assert.deepEqual(now, { statement: "12345ms", lock: "2345ms" });
  },
);

/**
 * Transactions the server rolled back in database `name`, once every session
 * on it has ended: a backend flushes its statistics when it exits, so only
 * then is the count final. Read from the maintenance database.
 */
async function rollbacks(name: string): Promise<number> {
  for (;;) {
    const [row] = await queryDb<{ sessions: number; rollbacks: string }>(
      SERVER_URL,
      `SELECT (SELECT count(*)::int FROM pg_stat_activity WHERE datname = $1) AS sessions,
              (SELECT xact_rollback FROM pg_stat_database WHERE datname = $1) AS rollbacks`,
      [name],
    );
    if (row.sessions === 0) return Number(row.rollbacks);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

serverDirTest(
  "status and check on a database without a ledger raise no error on the server",
  async (dir, url) => {
    const name = new URL(url).pathname.slice(1);
    await writeMigration(
      `${dir}/migrations`,
      "20240101_0000_a",
      "-- up\nCREATE TABLE a (id int);\n",
    );
    const before = await rollbacks(name);
    // The measure works: a read of a missing table is a rolled-back transaction.
    await queryDb(url, "SELECT * FROM strata_ledger").catch(() => {});
    const failed = await rollbacks(name);
    assert.ok(
      failed > before,
      `xact_rollback did not count a failed query (${before} -> ${failed})`,
    );
    for (const args of [["status"], ["status", "--json"], ["check"], ["history"], ["current"]]) {
      const r = await strata([...args, "--database", url], { cwd: dir });
      expectExit(r, args[0] === "check" ? 3 : 0, args.join(" "));
    }
    assert.equal(await rollbacks(name), failed, "a command made the server roll back a statement");
    assert.deepEqual(
      await queryDb(url, "SELECT to_regclass('strata_ledger') AS r"),
      [{ r: null }],
      "a read-only command created the ledger",
    );
  },
);
