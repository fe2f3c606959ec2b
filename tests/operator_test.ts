/**
 * What the operator sees while a run changes a database: which database and
 * from where, a line before each revision, the elapsed-time ticker, and
 * statements that cannot run in a transaction refused before anything runs.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { findNonTransactional } from "../lib/sql_scan.ts";
import { type Clock, formatElapsed, startTicker } from "../lib/ticker.ts";
import { embeddedTest, serverDirTest, strata, writeMigration } from "./helpers.ts";

/** A clock moved by hand: `advance` runs the timer as many times as it would have fired. */
function manualClock() {
  let now = 0;
  let timer: { ms: number; fn: () => void; next: number } | null = null;
  const clock: Clock = {
    now: () => now,
    every(ms, fn) {
      timer = { ms, fn, next: now + ms };
      return () => (timer = null);
    },
  };
  return {
    clock,
    advance(ms: number) {
      const end = now + ms;
      while (timer && timer.next <= end) {
        now = timer.next;
        timer.next += timer.ms;
        timer.fn();
      }
      now = end;
    },
  };
}

Deno.test("formatElapsed reads as a clock", () => {
  assert.equal(formatElapsed(0), "0:00");
  assert.equal(formatElapsed(2_999), "0:02");
  assert.equal(formatElapsed(754_000), "12:34");
  assert.equal(formatElapsed(3_723_000), "1:02:03");
});

Deno.test("the ticker is quiet for 2 s, then ticks every second, and stops", () => {
  const { clock, advance } = manualClock();
  const seen: string[] = [];
  const stop = startTicker("  rev running", (text) => seen.push(text), { clock });
  advance(1_000);
  assert.deepEqual(seen, [], "quiet in the first two seconds");
  advance(2_000);
  assert.deepEqual(seen, ["  rev running 0:02", "  rev running 0:03"]);
  stop();
  advance(5_000);
  assert.equal(seen.length, 2, "nothing after stop");
});

Deno.test("findNonTransactional: what PostgreSQL refuses inside a transaction block", () => {
  const refused = [
    ["CREATE INDEX CONCURRENTLY i ON t (a)", "CREATE INDEX CONCURRENTLY"],
    ["create unique index\n  concurrently i on t (a)", "create unique index concurrently"],
    ["CREATE /* why */ INDEX -- note\n CONCURRENTLY i ON t (a)", "CREATE INDEX CONCURRENTLY"],
    ["DROP INDEX CONCURRENTLY i", "DROP INDEX CONCURRENTLY"],
    ["REINDEX INDEX CONCURRENTLY i", "REINDEX INDEX CONCURRENTLY"],
    ["REINDEX (VERBOSE) TABLE CONCURRENTLY t", "REINDEX (VERBOSE) TABLE CONCURRENTLY"],
    ["REINDEX DATABASE app", "REINDEX DATABASE"],
    ["VACUUM ANALYZE t", "VACUUM"],
    ["CREATE DATABASE other", "CREATE DATABASE"],
    ["DROP TABLESPACE ts", "DROP TABLESPACE"],
    ["ALTER SYSTEM SET work_mem = '64MB'", "ALTER SYSTEM"],
    ["ALTER DATABASE app SET TABLESPACE fast", "ALTER DATABASE app SET TABLESPACE"],
  ];
  for (const [sql, head] of refused) {
    const found = findNonTransactional(`SELECT 1;\n${sql};`);
    assert.equal(found?.head, head, sql);
    assert.equal(found?.start, 10, sql);
  }
  const allowed = [
    "CREATE INDEX i ON t (a)",
    "REINDEX INDEX i",
    "ALTER TYPE mood ADD VALUE 'ok'",
    "ALTER DATABASE app SET work_mem = '1MB'",
    "CREATE TABLE concurrently (a int)",
    "SELECT 'VACUUM'; -- VACUUM",
    "/* VACUUM */ SELECT 1",
    "CREATE FUNCTION f() RETURNS void AS $$ BEGIN VACUUM; END $$ LANGUAGE plpgsql",
  ];
  for (const sql of allowed) assert.equal(findNonTransactional(sql), null, sql);
});

function both(name: string, fn: (dir: string, url: string) => Promise<void>): void {
  embeddedTest(name, fn);
  serverDirTest(name, fn);
}

const A = "-- up\nCREATE TABLE a (id int);\n-- down\nDROP TABLE a;\n";
const B = "-- up\nCREATE TABLE b (id int);\n-- down\nDROP TABLE b;\n";

both(
  "apply names the database and its source, and a line before each revision",
  async (dir, db) => {
    const migrations = join(dir, "migrations");
    await writeMigration(migrations, "20240101_0000_a", A);
    await writeMigration(migrations, "20240101_0001_b", B);
    const r = await strata(["apply"], { cwd: dir, env: { DATABASE_URL: db } });
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split("\n");
    assert.equal(lines[0], `Database: ${db.replace(/:[^:@/]*@/, ":***@")} (from DATABASE_URL)`);
    const before = lines.indexOf(
      `→ applying 20240101_0000_a (${join("migrations", "20240101_0000_a.sql")})`,
    );
    const after = lines.findIndex((l) => l.startsWith("↑ 20240101_0000_a "));
    assert.ok(before > 0 && after === before + 1, r.stdout);
    assert.ok(
      lines.includes(`→ applying 20240101_0001_b (${join("migrations", "20240101_0001_b.sql")})`),
    );
    // Piped, no ticker: nothing rewritten in place.
    assert.ok(!r.stdout.includes("\r") && !r.stderr.includes("\r"), JSON.stringify(r.stderr));
    assert.doesNotMatch(r.stderr, /names another database/);

    const down = await strata(["downgrade", "-1", "-d", db], { cwd: dir });
    assert.equal(down.code, 0, down.stderr);
    assert.match(down.stdout, /^Database: .* \(from --database\)\n/);
    assert.match(down.stdout, /→ reverting 20240101_0001_b \(/);
  },
);

both("the environment beating strata.json is said, in human and JSON mode", async (dir, db) => {
  await writeMigration(join(dir, "migrations"), "20240101_0000_a", A);
  await Deno.writeTextFile(
    join(dir, "strata.json"),
    JSON.stringify({ database: "postgres://file:filesecret@elsewhere:5432/app" }),
  );
  const r = await strata(["apply"], { cwd: dir, env: { DATABASE_URL: db } });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /\(from DATABASE_URL\)/);
  assert.match(
    r.stderr,
    /strata\.json names another database, postgres:\/\/file:\*\*\*@elsewhere:5432\/app: DATABASE_URL wins \(flags beat the environment, which beats strata\.json\)/,
  );
  assert.ok(!(r.stdout + r.stderr).includes("filesecret"));

  for (
    const args of [["downgrade", "base"], ["upgrade", "head"], ["stamp", "base"], ["stamp", "head"]]
  ) {
    const j = await strata([...args, "--json"], { cwd: dir, env: { DATABASE_URL: db } });
    assert.equal(j.code, 0, j.stderr);
    JSON.parse(j.stdout); // stdout stays one document
    assert.match(j.stderr, /Database: .*\(from DATABASE_URL\)/, args.join(" "));
    assert.match(j.stderr, /strata\.json names another database/, args.join(" "));
  }
  const reset = await strata(["reset", "--yes"], { cwd: dir, env: { DATABASE_URL: db } });
  assert.equal(reset.code, 0, reset.stderr);
  assert.match(reset.stdout, /^Database: .*\(from DATABASE_URL\)\n/);
});

both(
  "CREATE INDEX CONCURRENTLY in an each revision is refused before anything runs",
  async (dir, db) => {
    const migrations = join(dir, "migrations");
    await writeMigration(migrations, "20240101_0000_a", A);
    await writeMigration(
      migrations,
      "20240101_0001_b",
      "-- message: index\n-- up\nCREATE TABLE b (id int);\n\nCREATE INDEX CONCURRENTLY b_i ON b (id);\n-- down\nDROP TABLE b;\n",
    );
    const r = await strata(["apply", "-d", db, "--json"], { cwd: dir });
    assert.equal(r.code, 5, r.stdout + r.stderr);
    const error = JSON.parse(r.stdout).error;
    assert.equal(error.code, "FILE");
    assert.match(error.file, /20240101_0001_b\.sql$/);
    assert.equal(error.line, 5);
    assert.match(error.message, /CREATE INDEX CONCURRENTLY/);
    assert.match(error.hint, /transaction: none/);
    // The whole plan was checked first: the revision before it did not run.
    const status = await strata(["status", "-d", db, "--json"], { cwd: dir });
    const doc = JSON.parse(status.stdout);
    assert.equal(doc.applied, 0, status.stdout);
    assert.equal(doc.pending.length, 2, status.stdout);

    await Deno.writeTextFile(
      join(migrations, "20240101_0001_b.sql"),
      "-- transaction: none\n-- up\nCREATE TABLE b (id int);\nCREATE INDEX CONCURRENTLY b_i ON b (id);\n-- down\nDROP TABLE b;\n",
    );
    const ok = await strata(["apply", "-d", db], { cwd: dir });
    assert.equal(ok.code, 0, ok.stderr);
  },
);
