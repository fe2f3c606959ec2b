/**
 * `--single-transaction`: every pending revision and its ledger rows in one
 * transaction, through the real CLI, on both engines.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { openEngine } from "../lib/db/engine.ts";
import { embeddedTest, serverDirTest, strata, writeMigration } from "./helpers.ts";

async function rows<T>(url: string, sql: string): Promise<T[]> {
  const engine = await openEngine(url, {
    connectTimeoutMs: 10_000,
    statementTimeoutMs: 0,
    lockWaitMs: 0,
    lockTimeoutMs: 10_000,
  });
  try {
    return await engine.query<T>(sql);
  } finally {
    await engine.close();
  }
}

const tables = (url: string) =>
  rows<{ name: string }>(
    url,
    "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1",
  ).then((r) => r.map((row) => row.name));

const ledger = (url: string) =>
  rows<{ revision: string }>(url, "SELECT revision FROM strata_ledger ORDER BY revision")
    .then((r) => r.map((row) => row.revision));

async function threeRevisions(dir: string, third: string): Promise<string> {
  const migrations = join(dir, "migrations");
  await writeMigration(
    migrations,
    "20240101_0000_a",
    "-- up\nCREATE TABLE a (id int NOT NULL);\n-- down\nDROP TABLE a;\n",
  );
  await writeMigration(
    migrations,
    "20240101_0001_b",
    "-- up\nCREATE TABLE b (id int);\n-- down\nDROP TABLE b;\n",
  );
  // Its failure (a NOT NULL violation) has no position: strata locates it by
  // replaying the section, which needs table a from the same transaction.
  await writeMigration(migrations, "20240101_0002_c", third);
  return migrations;
}

const FAILING =
  "-- up\nCREATE TABLE c (id int);\n\nINSERT INTO a VALUES (NULL);\n-- down\nDROP TABLE c;\n";
const GOOD = "-- up\nCREATE TABLE c (id int);\n-- down\nDROP TABLE c;\n";

function both(name: string, fn: (dir: string, url: string) => Promise<void>): void {
  embeddedTest(name, fn);
  serverDirTest(name, fn);
}

both(
  "--single-transaction: a failure in the third revision leaves nothing behind",
  async (dir, db) => {
    const migrations = await threeRevisions(dir, FAILING);
    const r = await strata(["apply", "--single-transaction", "-d", db], { cwd: dir });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /20240101_0002_c\.sql:4: .*null value/);
    assert.deepEqual(await ledger(db), []);
    assert.deepEqual(await tables(db), ["strata_journal", "strata_ledger"]);
    // The failure row is journaled after the rollback.
    const journal = await rows<{ action: string; revision: string }>(
      db,
      "SELECT action, revision FROM strata_journal",
    );
    assert.deepEqual(journal, [{ action: "failure", revision: "20240101_0002_c" }]);

    // Without it, the first two stay applied: the test above can tell the difference.
    const each = await strata(["apply", "-d", db], { cwd: dir });
    assert.equal(each.code, 1);
    assert.deepEqual(await ledger(db), ["20240101_0000_a", "20240101_0001_b"]);
    await strata(["downgrade", "base", "-d", db], { cwd: dir });

    await Deno.writeTextFile(join(migrations, "20240101_0002_c.sql"), GOOD);
    const ok = await strata(["apply", "--single-transaction", "-d", db, "--json"], { cwd: dir });
    assert.equal(ok.code, 0, ok.stderr);
    const doc = JSON.parse(ok.stdout);
    assert.equal(doc.singleTransaction, true);
    assert.equal(doc.steps.length, 3);
    assert.deepEqual(await ledger(db), ["20240101_0000_a", "20240101_0001_b", "20240101_0002_c"]);
  },
);

both("singleTransaction (config and environment) works for downgrade too", async (dir, db) => {
  await threeRevisions(dir, GOOD);
  await Deno.writeTextFile(join(dir, "strata.json"), JSON.stringify({ singleTransaction: true }));
  const up = await strata(["apply", "-d", db], { cwd: dir });
  assert.equal(up.code, 0, up.stderr);
  assert.match(up.stdout, /Committed 3 revisions in one transaction/);
  // A down section that fails after two revisions went down: all three stay applied.
  await writeMigration(
    join(dir, "migrations"),
    "20240101_0000_a",
    "-- up\nCREATE TABLE a (id int NOT NULL);\n-- down\nDROP TABLE nope;\n",
  );
  const rehash = await strata(["rehash", "20240101_0000_a", "-d", db], { cwd: dir });
  assert.equal(rehash.code, 0, rehash.stderr);
  const down = await strata(["downgrade", "base", "-d", db], { cwd: dir });
  assert.equal(down.code, 1, down.stdout + down.stderr);
  assert.deepEqual(await ledger(db), ["20240101_0000_a", "20240101_0001_b", "20240101_0002_c"]);
  assert.deepEqual(await tables(db), ["a", "b", "c", "strata_journal", "strata_ledger"]);
  const off = await strata(["downgrade", "-1", "-d", db], {
    cwd: dir,
    env: { STRATA_SINGLE_TRANSACTION: "false" },
  });
  assert.equal(off.code, 0, off.stderr);
  assert.doesNotMatch(off.stdout, /one transaction/);
});

both(
  "--single-transaction refuses a transaction: none revision before anything runs",
  async (dir, db) => {
    await threeRevisions(
      dir,
      "-- transaction: none\n-- up\nCREATE INDEX CONCURRENTLY a_i ON a (id);\n-- down\nDROP INDEX a_i;\n",
    );
    const r = await strata(["apply", "--single-transaction", "-d", db, "--json"], { cwd: dir });
    assert.equal(r.code, 2, r.stdout + r.stderr);
    const error = JSON.parse(r.stdout).error;
    assert.equal(error.code, "USAGE");
    assert.deepEqual(error.revisions, ["20240101_0002_c"]);
    assert.match(error.file, /20240101_0002_c\.sql$/);
    assert.deepEqual(await ledger(db).catch(() => []), []);
    assert.ok(!(await tables(db)).includes("a"));
  },
);

embeddedTest("the library's apply takes singleTransaction", async (dir, db) => {
  await threeRevisions(dir, FAILING);
  const { apply } = await import("../lib/api.ts");
  const { StrataError } = await import("../lib/errors.ts");
  await assert.rejects(
    apply({ database: db, dir: join(dir, "migrations"), singleTransaction: true }),
    (error) => error instanceof StrataError && error.code === "MIGRATION_FAILED",
  );
  assert.deepEqual(await ledger(db), []);
});
