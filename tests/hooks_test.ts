/**
 * Hooks end to end on both engines: `migrations/_hooks/before.sql`,
 * `after_each.sql` and `after.sql` run in that order around the revisions of
 * a run that has something to do, each journaled; a failing after-each hook
 * stops the run (the revision before it stays applied: it committed first),
 * and under --single-transaction rolls back the whole run.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { openEngine } from "../lib/db/engine.ts";
import {
  dump,
  embeddedTest,
  expectExit,
  queryDb,
  serverDirTest,
  strata,
  writeMigration,
} from "./helpers.ts";

const ENGINE_OPTIONS = {
  connectTimeoutMs: 10_000,
  statementTimeoutMs: 0,
  lockWaitMs: 0,
  lockTimeoutMs: 10_000,
  mustExist: true,
};

async function query<T = Record<string, unknown>>(db: string, text: string): Promise<T[]> {
  if (!db.startsWith("pglite:")) return await queryDb<T>(db, text);
  const engine = await openEngine(db, ENGINE_OPTIONS);
  try {
    return await engine.query<T>(text);
  } finally {
    await engine.close();
  }
}

const REVISIONS = ["20240101_0000_one", "20240102_0000_two", "20240103_0000_three"];

const BEFORE = "CREATE TABLE IF NOT EXISTS hook_calls (n serial PRIMARY KEY, what text);\n" +
  "INSERT INTO hook_calls (what) VALUES ('before');\n";
/** Records how many revisions the ledger holds when it runs. */
const AFTER_EACH = "INSERT INTO hook_calls (what)\n" +
  "  SELECT 'after_each ' || count(*) FROM strata_ledger;\n";
const AFTER = "INSERT INTO hook_calls (what) VALUES ('after');\n";
/** Fails (line 3) once two revisions are recorded. */
const FAILING_AFTER_EACH = AFTER_EACH +
  "SELECT 1 / (count(*)::int - 2) FROM strata_ledger;\n";

async function project(dir: string, db: string, afterEach = AFTER_EACH): Promise<string> {
  const migrations = join(dir, "migrations");
  for (const [i, id] of REVISIONS.entries()) {
    await writeMigration(
      migrations,
      id,
      `-- up\nCREATE TABLE t${i} (id int);\n-- down\nDROP TABLE t${i};\n`,
    );
  }
  const hooks = join(migrations, "_hooks");
  await Deno.mkdir(hooks, { recursive: true });
  await Deno.writeTextFile(join(hooks, "before.sql"), BEFORE);
  await Deno.writeTextFile(join(hooks, "after_each.sql"), afterEach);
  await Deno.writeTextFile(join(hooks, "after.sql"), AFTER);
  await Deno.writeTextFile(join(dir, "strata.json"), JSON.stringify({ database: db }));
  return hooks;
}

const calls = async (db: string) =>
  (await query<{ what: string }>(db, "SELECT what FROM hook_calls ORDER BY n")).map((r) => r.what);
const ledger = async (db: string) =>
  (await query<{ revision: string }>(db, "SELECT revision FROM strata_ledger ORDER BY revision"))
    .map((r) => r.revision);
const journal = async (db: string) =>
  (await query<{ action: string; revision: string | null; detail: string | null }>(
    db,
    "SELECT action, revision, detail FROM strata_journal WHERE action IN ('hook', 'failure') ORDER BY id",
  )).map((r) => `${r.action} ${r.revision ?? "-"} ${(r.detail ?? "").split(" ")[0]}`);

async function inOrder(dir: string, db: string): Promise<void> {
  await project(dir, db);
  const run = await strata(["apply"], { cwd: dir });
  expectExit(run, 0, "apply with hooks");
  assert.deepEqual(await calls(db), [
    "before",
    "after_each 1",
    "after_each 2",
    "after_each 3",
    "after",
  ]);
  assert.deepEqual(await journal(db), [
    "hook - before.sql",
    `hook ${REVISIONS[0]} after_each.sql`,
    `hook ${REVISIONS[1]} after_each.sql`,
    `hook ${REVISIONS[2]} after_each.sql`,
    "hook - after.sql",
  ]);
  assert.deepEqual(await ledger(db), REVISIONS, "hooks are not revisions");

  // Nothing to do: no hook runs.
  expectExit(await strata(["apply"], { cwd: dir }), 0, "apply again");
  assert.equal((await calls(db)).length, 5, dump(run));

  // A downgrade runs them too.
  expectExit(await strata(["downgrade", "-1"], { cwd: dir }), 0, "downgrade -1");
  assert.deepEqual((await calls(db)).slice(5), ["before", "after_each 2", "after"]);
}

async function failing(dir: string, db: string): Promise<void> {
  const hooks = await project(dir, db, FAILING_AFTER_EACH);
  const run = await strata(["apply"], { cwd: dir });
  expectExit(run, 1, "apply with a failing after-each hook");
  assert.match(
    run.stderr,
    new RegExp(
      `migrations/_hooks/after_each\\.sql:3: Hook after_each\\.sql failed after ${
        REVISIONS[1]
      }: division by zero`,
    ),
    dump(run),
  );
  assert.match(run.stderr, /SQLSTATE 22012/);
  // The revision committed before its hook ran; the hook rolled back; nothing after it ran.
  assert.deepEqual(await ledger(db), REVISIONS.slice(0, 2));
  assert.deepEqual(await calls(db), ["before", "after_each 1"]);
  const rows = await journal(db);
  assert.deepEqual(rows.slice(0, 2), ["hook - before.sql", `hook ${REVISIONS[0]} after_each.sql`]);
  assert.match(rows[2], new RegExp(`^failure ${REVISIONS[1]} hook$`));
  const [failure] = await query<{ detail: string }>(
    db,
    "SELECT detail FROM strata_journal WHERE action = 'failure'",
  );
  assert.match(failure.detail, /after_each\.sql:3: .*division by zero/);

  // Fixed, the run goes on from the next revision.
  await Deno.writeTextFile(join(hooks, "after_each.sql"), AFTER_EACH);
  expectExit(await strata(["apply"], { cwd: dir }), 0, "apply after the fix");
  assert.deepEqual(await ledger(db), REVISIONS);
  assert.deepEqual((await calls(db)).slice(2), ["before", "after_each 3", "after"]);
}

async function single(dir: string, db: string): Promise<void> {
  await project(dir, db, FAILING_AFTER_EACH);
  const run = await strata(["apply", "--single-transaction"], { cwd: dir });
  expectExit(run, 1, "apply --single-transaction with a failing after-each hook");
  assert.match(
    run.stderr,
    new RegExp(`after_each\\.sql:3: Hook after_each\\.sql failed after ${REVISIONS[1]}`),
    dump(run),
  );
  // The one transaction rolled back: no revision recorded, only the before hook's own work.
  assert.deepEqual(await ledger(db), []);
  assert.deepEqual(await calls(db), ["before"]);
  assert.equal((await query(db, "SELECT to_regclass('t0') IS NULL AS gone"))[0].gone, true);
}

async function refusedHook(dir: string, db: string): Promise<void> {
  const hooks = await project(dir, db);
  await Deno.writeTextFile(join(hooks, "after.sql"), "ANALYZE;\nVACUUM;\n");
  const run = await strata(["apply"], { cwd: dir });
  expectExit(run, 5, "a hook that cannot run in a transaction");
  assert.match(run.stderr, /migrations\/_hooks\/after\.sql:2: Hook runs VACUUM/, dump(run));
  assert.match(dump(await strata(["status"], { cwd: dir })), /Applied:\s+0|not created yet/);
}

/** A hook that moves the search path: its journal row and the revisions after it stay in public. */
async function settingHook(dir: string, db: string): Promise<void> {
  const hooks = await project(dir, db);
  await Deno.writeTextFile(
    join(hooks, "before.sql"),
    BEFORE + "CREATE SCHEMA IF NOT EXISTS side;\nSET search_path TO side;\n",
  );
  const run = await strata(["apply"], { cwd: dir });
  assert.equal(run.code, 0, dump(run));
  assert.deepEqual(await ledger(db), REVISIONS);
  const [row] = await query<{ placed: string | null; side: string | null }>(
    db,
    "SELECT to_regclass('public.t0')::text AS placed, to_regclass('side.t0')::text AS side",
  );
  assert.deepEqual(
    row,
    { placed: "t0", side: null },
    "the revision ran with the search path reset",
  );
  assert.equal((await journal(db)).filter((line) => line.includes("before.sql")).length, 1);
}

for (
  const [name, fn] of [
    ["hooks run in order around a run, journaled; not when nothing is pending", inOrder],
    ["a failing after-each hook stops the run; the revision before it stays applied", failing],
    ["with --single-transaction a failing after-each hook rolls back the whole run", single],
    ["a hook that cannot run in a transaction is refused before anything runs", refusedHook],
    ["a hook's SET search_path reaches neither its journal row nor the revisions", settingHook],
  ] as const
) {
  serverDirTest(name, fn);
  embeddedTest(name, fn);
}
