/**
 * Reliability scenarios 3 and 4: a runner killed with SIGKILL in the middle of
 * a slow revision, in `each` mode (all or nothing, the lock goes with the dead
 * session) and in `none` mode (the interruption is visible, the re-run starts
 * the revision again and idempotent statements converge).
 *
 * A sequence created by the test (not transactional, so it survives the
 * rollback) makes only the first attempt sleep: the re-run is quick, and the
 * killed backend can only end early if the server noticed the dead client.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  advisoryLocks,
  backendAlive,
  dump,
  expectCode,
  type Json,
  parseJson,
  queryDb,
  revId,
  revisionText,
  run,
  serverDirTest,
  spawnStrata,
  waitFor,
  waitForQuery,
  writeMigration,
} from "./support.ts";

const SLEEP_ONCE = "SELECT pg_sleep(CASE WHEN nextval('attempts') = 1 THEN 60 ELSE 0 END);";

/** Start `apply`, wait for the slow statement, SIGKILL the runner; how long until the server freed its lock. */
async function killDuringSleep(dir: string, url: string): Promise<{ backend: number; ms: number }> {
  const victim = spawnStrata(["apply"], dir, { DATABASE_URL: url });
  let backend: number;
  try {
    backend = await waitForQuery(url, "pg_sleep(", 90_000);
  } finally {
    victim.kill("SIGKILL");
  }
  const killedAt = performance.now();
  const killed = await victim.finish();
  assert.equal(killed.signal, "SIGKILL", dump(killed));
  await waitFor(
    "the dead runner's backend to end and its advisory lock to go",
    async () => !(await backendAlive(url, backend)) && (await advisoryLocks(url)).length === 0,
    20_000,
  );
  return { backend, ms: Math.round(performance.now() - killedAt) };
}

async function journalOf(url: string, revision: string): Promise<string[]> {
  const rows = await queryDb<{ action: string }>(
    url,
    `SELECT action FROM strata_journal WHERE revision = $1 ORDER BY id`,
    [revision],
  );
  return rows.map((row) => row.action);
}

serverDirTest(
  "reliability 3 (kill -9 in each mode): the slow revision is not applied, the lock goes with the dead session, a re-run completes",
  async (dir, url) => {
    await queryDb(url, "CREATE SEQUENCE attempts");
    const migrations = join(dir, "migrations");
    const ids = [revId(0, "k_one"), revId(1, "k_slow"), revId(2, "k_three")];
    await writeMigration(
      migrations,
      ids[0],
      revisionText("CREATE TABLE k_one (id int);", "DROP TABLE k_one;"),
    );
    await writeMigration(
      migrations,
      ids[1],
      revisionText(
        `CREATE TABLE k_slow (id int);\nINSERT INTO k_slow VALUES (1);\n${SLEEP_ONCE}\nINSERT INTO k_slow VALUES (2);`,
        "DROP TABLE k_slow;",
      ),
    );
    await writeMigration(
      migrations,
      ids[2],
      revisionText("CREATE TABLE k_three (id int);", "DROP TABLE k_three;"),
    );

    const { backend, ms } = await killDuringSleep(dir, url);
    assert.ok(ms < 60_000, `the server took ${ms} ms to free the lock of the killed runner`);
    const [state] = await queryDb<
      { revisions: string[]; slow: string | null; three: string | null }
    >(
      url,
      `SELECT array(SELECT revision FROM strata_ledger ORDER BY 1) AS revisions,
              to_regclass('k_slow')::text AS slow, to_regclass('k_three')::text AS three`,
    );
    assert.deepEqual(
      state,
      { revisions: [ids[0]], slow: null, three: null },
      "nothing half-applied",
    );
    assert.deepEqual(await journalOf(url, ids[1]), [], "no ledger or journal row for it");

    const rerun = await run(["apply", "--json", "--lock-timeout", "120s"], {
      cwd: dir,
      env: { DATABASE_URL: url },
    });
    expectCode(rerun, 0, "the re-run");
    assert.deepEqual(parseJson(rerun, "re-run").steps.map((s: Json) => s.revision), ids.slice(1));
    const rows = await queryDb<{ id: number }>(url, "SELECT id FROM k_slow ORDER BY id");
    assert.deepEqual(rows.map((row) => row.id), [1, 2]);
    assert.deepEqual(await journalOf(url, ids[1]), ["upgrade"]);
    console.log(
      `  runner killed in pg_sleep(60) (backend ${backend}); lock freed ${ms} ms after the kill; ` +
        `re-run exit 0 in ${rerun.ms} ms`,
    );
  },
);

serverDirTest(
  "reliability 4 (kill -9 in none mode): the interruption shows in status, the re-run starts the revision again and converges",
  async (dir, url) => {
    await queryDb(url, "CREATE SEQUENCE attempts");
    const migrations = join(dir, "migrations");
    const ids = [revId(0, "n_base"), revId(1, "n_none"), revId(2, "n_after")];
    await writeMigration(
      migrations,
      ids[0],
      revisionText("CREATE TABLE n_base (id int);", "DROP TABLE n_base;"),
    );
    await writeMigration(
      migrations,
      ids[1],
      revisionText(
        [
          "CREATE TABLE IF NOT EXISTS n_items (id int PRIMARY KEY);",
          "INSERT INTO n_items VALUES (1) ON CONFLICT DO NOTHING;",
          SLEEP_ONCE,
          "INSERT INTO n_items VALUES (2) ON CONFLICT DO NOTHING;",
          "CREATE INDEX CONCURRENTLY IF NOT EXISTS n_items_idx ON n_items (id);",
        ].join("\n"),
        "DROP TABLE IF EXISTS n_items;",
        { transaction: "none" },
      ),
    );
    await writeMigration(
      migrations,
      ids[2],
      revisionText("CREATE TABLE n_after (id int);", "DROP TABLE n_after;"),
    );
    const env = { DATABASE_URL: url };

    const { ms } = await killDuringSleep(dir, url);
    // Statements before the kill committed one by one; the revision is not recorded.
    const items = await queryDb<{ id: number }>(url, "SELECT id FROM n_items ORDER BY id");
    assert.deepEqual(items.map((row) => row.id), [1], "the statements before the kill committed");
    const ledger = await queryDb<{ revision: string }>(url, "SELECT revision FROM strata_ledger");
    assert.deepEqual(ledger.map((row) => row.revision), [ids[0]], "the revision is not recorded");

    const status = await run(["status", "--json"], { cwd: dir, env });
    expectCode(status, 0, "status");
    const doc = parseJson(status, "status");
    assert.deepEqual(doc.pending, ids.slice(1));
    assert.deepEqual(
      doc.interrupted.map((i: Json) => [i.revision, i.action]),
      [[ids[1], "interrupted"]],
      `status lists the interrupted revision\n${dump(status)}`,
    );
    const human = await run(["status"], { cwd: dir, env });
    expectCode(human, 0, "status (human)");
    assert.match(human.stdout, new RegExp(`interrupted.*${ids[1]}`), dump(human));
    const check = await run(["check", "--json"], { cwd: dir, env });
    expectCode(check, 3, "check with an interrupted revision");

    const rerun = await run(["apply", "--json", "--lock-timeout", "120s"], { cwd: dir, env });
    expectCode(rerun, 0, "the re-run");
    assert.deepEqual(parseJson(rerun, "re-run").steps.map((s: Json) => s.revision), ids.slice(1));
    assert.deepEqual(await journalOf(url, ids[1]), ["start", "start", "upgrade"]);
    const after = await queryDb<{ id: number }>(url, "SELECT id FROM n_items ORDER BY id");
    assert.deepEqual(after.map((row) => row.id), [1, 2], "converged: each row once");
    const [index] = await queryDb<{ valid: boolean }>(
      url,
      `SELECT i.indisvalid AS valid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE c.relname = 'n_items_idx'`,
    );
    assert.deepEqual(index, { valid: true });
    const final = parseJson(await run(["status", "--json"], { cwd: dir, env }), "status");
    assert.deepEqual(final.interrupted, []);
    assert.equal(final.upToDate, true);
    console.log(
      `  none-mode runner killed after 2 of 5 statements; lock freed ${ms} ms after the kill; ` +
        `status: interrupted, check exit 3; re-run exit 0, journal start,start,upgrade`,
    );
  },
);
