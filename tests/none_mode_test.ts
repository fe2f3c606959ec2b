/**
 * `transaction: none` files that control their own transactions: explicit
 * BEGIN … COMMIT blocks and COMMIT AND CHAIN, through the real CLI on both
 * engines; the block checks on their own; the each-mode refusal's hint.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { openEngine } from "../lib/db/engine.ts";
import { parseMigration } from "../lib/migration_file.ts";
import { blockProblem } from "../lib/none_mode.ts";
import { sectionStatements } from "../lib/runner.ts";
import { splitStatements } from "../lib/sql_split.ts";
import {
  type CliResult,
  dump,
  embeddedTest,
  expectExit,
  parseJson,
  serverDirTest,
  strata,
  writeMigration,
} from "./helpers.ts";

const OPTIONS = {
  connectTimeoutMs: 10_000,
  statementTimeoutMs: 0,
  lockWaitMs: 0,
  lockTimeoutMs: 10_000,
};

async function rows<T>(database: string, sql: string): Promise<T[]> {
  const engine = await openEngine(database, OPTIONS);
  try {
    return await engine.query<T>(sql);
  } finally {
    await engine.close();
  }
}

function cli(cwd: string, database: string) {
  return (...args: string[]): Promise<CliResult> =>
    strata([...args, "--database", database], { cwd });
}

const BASE = "20240101_0000_base";
const BASE_TEXT = "-- up\nCREATE TABLE t (id int PRIMARY KEY, v int NOT NULL);\n" +
  "CREATE TABLE note (word text);\nINSERT INTO t VALUES (1, 1), (2, 2);\n" +
  "-- down\nDROP TABLE note;\nDROP TABLE t;\n";

// ---------------------------------------------------------------------------
// The checks, on parsed statements

async function problem(sql: string) {
  return blockProblem(await splitStatements(sql));
}

Deno.test("blocks that close are accepted, in every spelling", async () => {
  for (
    const sql of [
      "BEGIN; UPDATE t SET v = 1; COMMIT AND CHAIN; CREATE INDEX i ON t (v); COMMIT;",
      "START TRANSACTION; SELECT 1; END;",
      "BEGIN; SELECT 1; ROLLBACK AND CHAIN; SELECT 2; ABORT;",
      "BEGIN; SAVEPOINT s; SELECT 1; ROLLBACK TO s; RELEASE s; COMMIT;",
      "CREATE INDEX CONCURRENTLY i ON t (v); COMMIT; SELECT 1;",
      "CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$ BEGIN RETURN 1; END $$;",
    ]
  ) {
    assert.equal(await problem(sql), null, sql);
  }
});

Deno.test("a block that cannot run is named by its line", async () => {
  const cases: [string, number, RegExp][] = [
    ["UPDATE t SET v = 1;\nCOMMIT AND CHAIN;\nCREATE INDEX i ON t (v);", 2, /outside a BEGIN/],
    ["SELECT 1;\nBEGIN;\nUPDATE t SET v = 1;", 2, /line 2 \(BEGIN\) is never closed/],
    ["BEGIN;\nSELECT 1;\nCOMMIT AND CHAIN;\nSELECT 2;", 3, /line 3 .* never closed/],
    ["BEGIN;\nBEGIN;\nCOMMIT;", 2, /inside the block opened at line 1/],
    ["SELECT 1;\nROLLBACK;", 2, /outside a BEGIN/],
    ["SAVEPOINT s;", 1, /outside a BEGIN/],
    ["BEGIN;\nPREPARE TRANSACTION 'x';", 2, /two-phase/],
  ];
  for (const [sql, line, message] of cases) {
    const found = await problem(sql);
    assert.ok(found, sql);
    assert.equal(found.line, line, sql);
    assert.match(found.message, message, sql);
    assert.ok(found.hint.length > 0);
  }
});

Deno.test("a one-statement section is cut by the scanner exactly as the parser cuts it", async () => {
  const sections = [
    "\n-- why\nCREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (v);\n-- after\n",
    "/* c */ CREATE FUNCTION f() RETURNS text LANGUAGE plpgsql AS $$\nBEGIN\n  RETURN ';';\nEND\n$$",
    "SELECT 1;",
    "  -- nothing but a comment\n",
  ];
  for (const up of sections) {
    const file = parseMigration(`-- transaction: none\n-- up\n${up}\n`, "x.sql", "x", null);
    const scanned = await sectionStatements(file, "up");
    const parsed = await splitStatements(file.up.sql);
    assert.deepEqual(
      scanned.map((s) => [s.sql, s.line, s.offset]),
      parsed.map((s) => [s.sql, s.line, s.offset]),
      up,
    );
  }
});

// ---------------------------------------------------------------------------
// Through the CLI, on both engines

const CHAIN = "20240101_0001_chain";
// As real histories write it: statements in a block, COMMIT AND CHAIN, more, COMMIT.
const CHAIN_TEXT = [
  "-- transaction: none", // 1
  "-- up", // 2
  "BEGIN;", // 3
  "UPDATE t SET v = v + 10;", // 4
  "COMMIT AND CHAIN;", // 5
  "CREATE INDEX t_v_idx ON t (v);", // 6
  "COMMIT;", // 7
  "CREATE INDEX CONCURRENTLY IF NOT EXISTS t_id_v_idx ON t (id, v);", // 8
  "-- down",
  "DROP INDEX t_id_v_idx;",
  "DROP INDEX t_v_idx;",
  "",
].join("\n");

async function chainScenario(dir: string, database: string): Promise<void> {
  const run = cli(dir, database);
  const migrations = join(dir, "migrations");
  await writeMigration(migrations, BASE, BASE_TEXT);
  await writeMigration(migrations, CHAIN, CHAIN_TEXT);

  // --sql and --dry-run print the blocks as the file has them, ledger row after the last.
  const script = await run("apply", "--sql");
  expectExit(script, 0, "apply --sql");
  assert.match(script.stdout, /BEGIN;\nUPDATE t SET v = v \+ 10;\nCOMMIT AND CHAIN;\n/);
  assert.ok(
    script.stdout.indexOf("COMMIT AND CHAIN;") <
      script.stdout.indexOf(`VALUES ('${CHAIN}'`),
    script.stdout,
  );

  // (A dry run never creates an embedded database: the base revision makes one.)
  expectExit(await run("upgrade", BASE), 0, "upgrade to the base revision");
  const dry = await run("apply", "--dry-run");
  expectExit(dry, 0, "apply --dry-run");
  assert.match(dry.stdout, /COMMIT AND CHAIN;\nCREATE INDEX t_v_idx ON t \(v\);\nCOMMIT;\n/);

  const r = await run("apply", "--json");
  expectExit(r, 0, "apply");
  const doc = parseJson(r, "apply --json");
  assert.deepEqual(doc.steps.map((s: { revision: string }) => s.revision), [CHAIN]);
  const values = await rows<{ v: number }>(database, "SELECT v FROM t ORDER BY id");
  assert.deepEqual(values.map((row) => row.v), [11, 12]);
  const indexes = await rows<{ name: string }>(
    database,
    "SELECT indexname AS name FROM pg_indexes WHERE tablename = 't' ORDER BY 1",
  );
  assert.deepEqual(indexes.map((i) => i.name), ["t_id_v_idx", "t_pkey", "t_v_idx"]);
  const ledger = await rows<{ revision: string }>(
    database,
    "SELECT revision FROM strata_ledger ORDER BY revision",
  );
  assert.deepEqual(ledger.map((row) => row.revision), [BASE, CHAIN]);

  // And back down, statement by statement.
  expectExit(await run("downgrade", BASE), 0, "downgrade");
  const after = await rows<{ n: number }>(
    database,
    "SELECT count(*)::int AS n FROM pg_indexes WHERE tablename = 't'",
  );
  assert.equal(after[0].n, 1);
}

embeddedTest(
  "a none file with BEGIN, COMMIT AND CHAIN and COMMIT runs as written",
  (dir, db) => chainScenario(dir, db),
);
serverDirTest(
  "a none file with BEGIN, COMMIT AND CHAIN and COMMIT runs as written",
  (dir, url) => chainScenario(dir, url),
);

const FAILS = "20240101_0002_fails";
function failingText(insert: string): string {
  return [
    "-- transaction: none", // 1
    "-- up", // 2
    "BEGIN;", // 3
    "UPDATE t SET v = 100 WHERE id = 1;", // 4
    "COMMIT AND CHAIN;", // 5
    "INSERT INTO note VALUES ('second block');", // 6
    insert, // 7
    "COMMIT;", // 8
    "-- down",
    "DELETE FROM note;",
    "",
  ].join("\n");
}

async function failureScenario(dir: string, database: string): Promise<void> {
  const run = cli(dir, database);
  const migrations = join(dir, "migrations");
  await writeMigration(migrations, BASE, BASE_TEXT);
  await writeMigration(migrations, FAILS, failingText("INSERT INTO t VALUES (1, 0);"));

  const r = await run("apply", "--json");
  expectExit(r, 1, "apply with a failing statement in the second block");
  const error = parseJson(r, "apply --json").error;
  assert.equal(error.code, "MIGRATION_FAILED");
  assert.equal(error.sqlstate, "23505", dump(r));
  assert.ok(String(error.file).endsWith(`${FAILS}.sql`));
  assert.equal(error.line, 7);

  // The first block committed, the second rolled back whole, the revision unrecorded.
  const values = await rows<{ v: number }>(database, "SELECT v FROM t WHERE id = 1");
  assert.equal(values[0].v, 100);
  const notes = await rows<{ n: number }>(database, "SELECT count(*)::int AS n FROM note");
  assert.equal(notes[0].n, 0, "the block's earlier insert was rolled back");
  const ledger = await rows<{ revision: string }>(database, "SELECT revision FROM strata_ledger");
  assert.deepEqual(ledger.map((row) => row.revision), [BASE]);
  // Journaled after the ROLLBACK: inside the aborted block the insert would have failed.
  const journal = await rows<{ action: string; detail: string }>(
    database,
    `SELECT action, detail FROM strata_journal WHERE revision = '${FAILS}' ORDER BY id`,
  );
  assert.deepEqual(journal.map((row) => row.action), ["start", "failure"]);
  assert.match(journal[1].detail, /INSERT INTO t VALUES \(1, 0\)/);

  // The re-run starts the revision again.
  await writeMigration(migrations, FAILS, failingText("INSERT INTO t VALUES (3, 3);"));
  const again = await run("apply");
  expectExit(again, 0, "re-run after the fix");
  const notesAfter = await rows<{ n: number }>(database, "SELECT count(*)::int AS n FROM note");
  assert.equal(notesAfter[0].n, 1);
  const ledgerAfter = await rows<{ revision: string }>(
    database,
    "SELECT revision FROM strata_ledger ORDER BY revision",
  );
  assert.deepEqual(ledgerAfter.map((row) => row.revision), [BASE, FAILS]);
}

embeddedTest(
  "a failure inside a block rolls the block back, is journaled, and the re-run starts again",
  (dir, db) => failureScenario(dir, db),
);
serverDirTest(
  "a failure inside a block rolls the block back, is journaled, and the re-run starts again",
  (dir, url) => failureScenario(dir, url),
);

embeddedTest(
  "a block left open, or COMMIT AND CHAIN outside one, is refused before anything runs",
  async (dir, db) => {
    const run = cli(dir, db);
    const migrations = join(dir, "migrations");
    await writeMigration(migrations, BASE, BASE_TEXT);
    const open = "20240101_0001_open";
    await writeMigration(
      migrations,
      open,
      "-- transaction: none\n-- up\nUPDATE t SET v = 0;\nBEGIN;\nUPDATE t SET v = 5;\n-- down\n",
    );
    for (const args of [["apply"], ["apply", "--sql"]]) {
      const r = await run(...args, "--json");
      expectExit(r, 5, args.join(" "));
      const error = parseJson(r, args.join(" ")).error;
      assert.equal(error.code, "FILE");
      assert.ok(String(error.file).endsWith(`${open}.sql`));
      assert.equal(error.line, 4);
      assert.match(error.message, /opened at line 4 \(BEGIN\) is never closed/);
    }
    const status = parseJson(await run("status", "--json"), "status");
    assert.equal(status.applied, 0, "not even the revision before it ran");

    // The form the histories use, without its BEGIN: the line of COMMIT AND CHAIN.
    await writeMigration(
      migrations,
      open,
      "-- transaction: none\n-- up\nUPDATE t SET v = 0;\nCOMMIT AND CHAIN;\n" +
        "CREATE INDEX t_v_idx ON t (v);\n-- down\n",
    );
    const r = await run("apply", "--json");
    expectExit(r, 5, "apply");
    const error = parseJson(r, "apply").error;
    assert.equal(error.line, 4);
    assert.match(error.hint, /BEGIN;/);
  },
);

embeddedTest(
  "the each-mode refusal names transaction: none, and the file then runs as written",
  async (dir, db) => {
    const run = cli(dir, db);
    const migrations = join(dir, "migrations");
    await writeMigration(migrations, BASE, BASE_TEXT);
    const body = "BEGIN;\nUPDATE t SET v = v + 10;\nCOMMIT AND CHAIN;\n" +
      "CREATE INDEX t_v_idx ON t (v);\nCOMMIT;\n-- down\nDROP INDEX t_v_idx;\n";
    await writeMigration(migrations, CHAIN, `-- up\n${body}`);
    const r = await run("apply", "--json");
    expectExit(r, 5, "apply of an each-mode file with BEGIN");
    const error = parseJson(r, "apply").error;
    assert.equal(error.code, "FILE");
    assert.equal(error.line, 2);
    assert.match(error.hint, /-- transaction: none" and it runs as written/);

    // Without its BEGIN, the hint says to write the blocks out.
    await writeMigration(
      migrations,
      CHAIN,
      "-- up\nUPDATE t SET v = v + 10;\nCOMMIT AND CHAIN;\nCREATE INDEX t_v_idx ON t (v);\n" +
        "-- down\nDROP INDEX t_v_idx;\n",
    );
    const bare = parseJson(await run("apply", "--json"), "apply").error;
    assert.equal(bare.line, 3);
    assert.match(bare.hint, /BEGIN; … COMMIT AND CHAIN; … COMMIT;/);

    // Following the hint: it applies, and verify proves it on a scratch engine.
    await writeMigration(migrations, CHAIN, `-- transaction: none\n-- up\n${body}`);
    expectExit(await run("apply"), 0, "apply as transaction: none");
    const values = await rows<{ v: number }>(db, "SELECT v FROM t ORDER BY id");
    assert.deepEqual(values.map((row) => row.v), [11, 12]);
    const verify = await strata(["verify", "--json"], { cwd: dir });
    expectExit(verify, 0, "verify");
  },
);
