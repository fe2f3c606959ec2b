/**
 * Repeatable revisions (`migrations/repeatable/NAME.sql`) through the real
 * CLI, on both engines: run after the versioned revisions, re-run when
 * edited, left alone when not, and a failing one changes nothing.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { openEngine } from "../lib/db/engine.ts";
import { loadMigrations } from "../lib/migration_dir.ts";
import { loadRepeatables } from "../lib/repeatable.ts";
import {
  embeddedTest,
  errorOf,
  scratchDir,
  serverDirTest,
  strata,
  writeMigration,
} from "./helpers.ts";

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

const ledger = (url: string) =>
  rows<{ revision: string; checksum: string }>(
    url,
    "SELECT revision, checksum FROM strata_ledger ORDER BY revision",
  );

const journal = (url: string) =>
  rows<{ action: string; revision: string }>(
    url,
    "SELECT action, revision FROM strata_journal ORDER BY id",
  ).then((r) => r.map((row) => `${row.action} ${row.revision}`));

const viewColumns = (url: string, view: string) =>
  rows<{ name: string }>(
    url,
    `SELECT column_name AS name FROM information_schema.columns
      WHERE table_schema = 'public' AND table_name = '${view}' ORDER BY ordinal_position`,
  ).then((r) => r.map((row) => row.name));

const VIEW_V1 = "CREATE OR REPLACE VIEW user_names AS SELECT name FROM users;\n";
const VIEW_V2 = "CREATE OR REPLACE VIEW user_names AS SELECT name, id FROM users;\n";

/** Two versioned revisions and one repeatable view over the table the second one adds. */
async function project(dir: string): Promise<string> {
  const migrations = join(dir, "migrations");
  await writeMigration(
    migrations,
    "20240101_0000_a",
    "-- up\nCREATE TABLE a (id int);\n-- down\nDROP TABLE a;\n",
  );
  await writeMigration(
    migrations,
    "20240101_0001_users",
    "-- up\nCREATE TABLE users (id int, name text);\n-- down\nDROP TABLE users CASCADE;\n",
  );
  await writeMigration(join(migrations, "repeatable"), "user_names", VIEW_V1);
  return migrations;
}

function both(name: string, fn: (dir: string, url: string) => Promise<void>): void {
  embeddedTest(name, fn);
  serverDirTest(name, fn);
}

both("a repeatable view runs after the versioned revisions, again only when edited", async (
  dir,
  db,
) => {
  const migrations = await project(dir);
  const first = await strata(["apply", "-d", db, "--json"], { cwd: dir });
  assert.equal(first.code, 0, first.stdout + first.stderr);
  const doc = JSON.parse(first.stdout);
  assert.deepEqual(doc.steps.map((s: { revision: string }) => s.revision), [
    "20240101_0000_a",
    "20240101_0001_users",
  ]);
  assert.deepEqual(doc.repeatables, ["repeatable/user_names"]);
  assert.deepEqual(await journal(db), [
    "upgrade 20240101_0000_a",
    "upgrade 20240101_0001_users",
    "upgrade repeatable/user_names",
  ]);
  assert.deepEqual(await viewColumns(db, "user_names"), ["name"]);
  const [v1] = (await ledger(db)).filter((row) => row.revision === "repeatable/user_names");
  assert.match(v1.checksum, /^sha256:/);

  // Unchanged: not run again, and status calls it up to date.
  const again = await strata(["apply", "-d", db], { cwd: dir });
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /Nothing to upgrade/);
  assert.equal((await journal(db)).length, 3);
  const clean = await strata(["check", "-d", db], { cwd: dir });
  assert.equal(clean.code, 0, clean.stdout + clean.stderr);
  assert.match(clean.stdout, /Repeatables: 1, 0 to re-run/);

  // Edited: pending in status (never "edited since applied"), re-run by apply.
  await writeMigration(join(migrations, "repeatable"), "user_names", VIEW_V2);
  const status = await strata(["status", "-d", db, "--json"], { cwd: dir });
  assert.equal(status.code, 0, status.stderr);
  const report = JSON.parse(status.stdout);
  assert.deepEqual(report.repeatablesPending, ["repeatable/user_names"]);
  assert.deepEqual(report.edited, []);
  assert.equal(report.upToDate, false);
  const text = await strata(["status", "-d", db], { cwd: dir });
  assert.match(text.stdout, /↻ repeatable\/user_names/);
  assert.doesNotMatch(text.stdout, /Edited since applied/);
  assert.equal((await strata(["check", "-d", db], { cwd: dir })).code, 3);

  const rerun = await strata(["apply", "-d", db], { cwd: dir });
  assert.equal(rerun.code, 0, rerun.stdout + rerun.stderr);
  assert.match(rerun.stdout, /↻ repeatable\/user_names/);
  assert.deepEqual(await viewColumns(db, "user_names"), ["name", "id"]);
  const rowsNow = (await ledger(db)).filter((row) => row.revision === "repeatable/user_names");
  assert.equal(rowsNow.length, 1);
  assert.notEqual(rowsNow[0].checksum, v1.checksum);
  assert.equal((await journal(db)).at(-1), "upgrade repeatable/user_names");

  // A downgrade does not revert repeatables but forgets them: the next apply
  // re-runs them on the schema as it then is (this down dropped the view with CASCADE).
  const down = await strata(["downgrade", "-1", "-d", db], { cwd: dir });
  assert.equal(down.code, 0, down.stdout + down.stderr);
  assert.deepEqual((await ledger(db)).map((row) => row.revision), ["20240101_0000_a"]);
  assert.equal((await journal(db)).at(-1), "unstamp repeatable/user_names");
  const up = await strata(["apply", "-d", db], { cwd: dir });
  assert.equal(up.code, 0, up.stdout + up.stderr);
  assert.deepEqual(await viewColumns(db, "user_names"), ["name", "id"]);
});

both("a failing repeatable exits 1, keeps its previous version recorded, leaves nothing", async (
  dir,
  db,
) => {
  const migrations = await project(dir);
  const ok = await strata(["apply", "-d", db], { cwd: dir });
  assert.equal(ok.code, 0, ok.stdout + ok.stderr);
  const before = await ledger(db);

  // A first statement that would succeed, then one that fails.
  await writeMigration(
    join(migrations, "repeatable"),
    "user_names",
    "CREATE TABLE half_done (id int);\nCREATE OR REPLACE VIEW user_names AS SELECT nope FROM users;\n",
  );
  const failed = await strata(["apply", "-d", db], { cwd: dir });
  assert.equal(failed.code, 1, failed.stdout + failed.stderr);
  assert.match(failed.stderr, /repeatable[/\\]user_names\.sql:2: .*"nope"/);
  assert.deepEqual(await ledger(db), before);
  assert.deepEqual(await viewColumns(db, "user_names"), ["name"]);
  assert.deepEqual(await viewColumns(db, "half_done"), []);
  assert.equal((await journal(db)).at(-1), "failure repeatable/user_names");

  // Still pending, not an integrity error.
  const status = await strata(["status", "-d", db, "--json"], { cwd: dir });
  assert.equal(status.code, 0, status.stderr);
  const report = JSON.parse(status.stdout);
  assert.deepEqual(report.repeatablesPending, ["repeatable/user_names"]);
  assert.deepEqual(report.interrupted.map((i: { revision: string }) => i.revision), [
    "repeatable/user_names",
  ]);

  await writeMigration(join(migrations, "repeatable"), "user_names", VIEW_V2);
  const fixed = await strata(["apply", "-d", db], { cwd: dir });
  assert.equal(fixed.code, 0, fixed.stdout + fixed.stderr);
  assert.deepEqual(await viewColumns(db, "user_names"), ["name", "id"]);
});

embeddedTest("repeatables run in name order, after the versioned revisions", async (dir, db) => {
  const migrations = await project(dir);
  await writeMigration(
    join(migrations, "repeatable"),
    "b_grants",
    "CREATE OR REPLACE VIEW user_ids AS SELECT id FROM users;\n",
  );
  await writeMigration(join(migrations, "repeatable"), "a_first", "SELECT 1;\n");
  const r = await strata(["apply", "-d", db], { cwd: dir });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.deepEqual((await journal(db)).slice(2), [
    "upgrade repeatable/a_first",
    "upgrade repeatable/b_grants",
    "upgrade repeatable/user_names",
  ]);
});

embeddedTest(
  "--sql prints the repeatables after the revisions; --sql to a revision does not",
  async (
    dir,
  ) => {
    await project(dir);
    const r = await strata(["apply", "--sql"], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    const versioned = r.stdout.indexOf("-- upgrade 20240101_0001_users");
    const repeatable = r.stdout.indexOf("-- repeatable repeatable/user_names");
    assert.ok(versioned > 0 && repeatable > versioned, r.stdout);
    assert.match(r.stdout, /CREATE OR REPLACE VIEW user_names/);
    const partial = await strata(["upgrade", "20240101_0000_a", "--sql"], { cwd: dir });
    assert.equal(partial.code, 0, partial.stderr);
    assert.doesNotMatch(partial.stdout, /repeatable/);
    const down = await strata(["downgrade", "base", "--sql"], { cwd: dir });
    assert.equal(down.code, 0, down.stderr);
    assert.match(down.stdout, /DELETE FROM "strata_ledger" WHERE revision LIKE 'repeatable\/%'/);
    const create = await strata(["create", "a view", "--category", "repeatable"], { cwd: dir });
    assert.equal(create.code, 2, create.stdout + create.stderr);
  },
);

embeddedTest("verify runs repeatables on head twice; drift builds head and repeatables", async (
  dir,
  db,
) => {
  const migrations = await project(dir);
  const good = await strata(["verify"], { cwd: dir });
  assert.equal(good.code, 0, good.stdout + good.stderr);
  assert.match(good.stdout, /1 repeatable ran on head/);

  const applied = await strata(["apply", "-d", db], { cwd: dir });
  assert.equal(applied.code, 0, applied.stderr);
  const noDrift = await strata(["drift", "-d", db], { cwd: dir });
  assert.equal(noDrift.code, 0, noDrift.stdout + noDrift.stderr);

  // Not re-runnable: CREATE VIEW without OR REPLACE fails the second time.
  await writeMigration(
    join(migrations, "repeatable"),
    "user_names",
    "CREATE VIEW user_names AS SELECT name FROM users;\n",
  );
  const bad = await strata(["verify", "--json"], { cwd: dir });
  assert.equal(bad.code, 1, bad.stdout + bad.stderr);
  const doc = JSON.parse(bad.stdout);
  assert.equal(doc.repeatables.error.rerun, true);
  assert.match(doc.repeatables.error.message, /already exists/);
});

Deno.test("repeatable files need no timestamp and are not versioned revisions", async () => {
  const scratch = await scratchDir();
  const dir = scratch.path;
  try {
    await writeMigration(dir, "20240101_0000_a", "-- up\nSELECT 1;\n");
    await writeMigration(join(dir, "repeatable"), "views.users-v2", "SELECT 1;\r\n");
    const files = await loadMigrations(dir);
    assert.deepEqual(files.map((file) => file.id), ["20240101_0000_a"]);
    const [repeatable] = loadRepeatables(dir);
    assert.equal(repeatable.id, "repeatable/views.users-v2");
    assert.equal(repeatable.up.sql, "SELECT 1;\n");
    await writeMigration(join(dir, "repeatable"), "bad name", "SELECT 1;\n");
    assert.equal(errorOf(() => loadRepeatables(dir)).code, "FILE");
  } finally {
    await scratch.remove();
  }
});

embeddedTest("a repeatable that controls its transaction is refused before anything runs", async (
  dir,
  db,
) => {
  const migrations = await project(dir);
  await writeMigration(join(migrations, "repeatable"), "zz", "BEGIN;\nSELECT 1;\nCOMMIT;\n");
  const r = await strata(["apply", "-d", db], { cwd: dir });
  assert.equal(r.code, 5, r.stdout + r.stderr);
  assert.match(r.stderr, /repeatable[/\\]zz\.sql:1: .*BEGIN/);
  assert.doesNotMatch(r.stdout, /applying/);
  await Deno.remove(join(migrations, "repeatable", "zz.sql"));
  const first = await strata(["upgrade", "20240101_0000_a", "-d", db], { cwd: dir });
  assert.equal(first.code, 0, first.stderr);
  assert.doesNotMatch(first.stdout, /repeatable/);

  const dry = await strata(["apply", "--dry-run", "-d", db, "--json"], { cwd: dir });
  assert.equal(dry.code, 0, dry.stderr);
  assert.deepEqual(JSON.parse(dry.stdout).repeatables, ["repeatable/user_names"]);
  const applied = await strata(["apply", "-d", db], { cwd: dir });
  assert.equal(applied.code, 0, applied.stderr);
  const idle = await strata(["apply", "--dry-run", "-d", db, "--json"], { cwd: dir });
  assert.deepEqual(JSON.parse(idle.stdout).repeatables, []);

  // clean squashes the versioned revisions only.
  const clean = await strata(["clean", "1", "--yes", "-d", db], { cwd: dir });
  assert.equal(clean.code, 0, clean.stdout + clean.stderr);
  assert.equal(
    await Deno.readTextFile(join(migrations, "repeatable", "user_names.sql")),
    VIEW_V1,
  );
  const after = await strata(["apply", "-d", db, "--json"], { cwd: dir });
  assert.equal(after.code, 0, after.stderr);
  assert.deepEqual(JSON.parse(after.stdout).repeatables, []);
});

both(
  "a repeatable's SET search_path does not decide where its ledger row goes",
  async (dir, db) => {
    const migrations = await project(dir);
    await writeMigration(
      join(migrations, "repeatable"),
      "a_side",
      "CREATE SCHEMA IF NOT EXISTS side;\nSET search_path TO side;\n",
    );
    const r = await strata(["apply", "-d", db], { cwd: dir });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual((await journal(db)).slice(2), [
      "upgrade repeatable/a_side",
      "upgrade repeatable/user_names",
    ]);
  },
);
