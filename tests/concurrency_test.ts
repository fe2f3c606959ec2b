/**
 * Several runners at once, and a runner killed in the middle of a revision,
 * through the real CLI: on the server (advisory lock on the migrating
 * connection, client_connection_check_interval) and on the embedded engine
 * (the folder's lock file).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  dump,
  embeddedTest,
  expectExit,
  parseJson,
  queryDb,
  serverDirTest,
  spawnStrata,
  strata,
  waitForQuery,
  writeMigration,
} from "./helpers.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

function revisionText(parents: string, up: string, down: string): string {
  return `-- message: test\n-- parents: ${parents}\n-- up\n${up}\n-- down\n${down}\n`;
}

/** `count` revisions in a line, each creating table c_<i> with one row. */
async function writeLine(cwd: string, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 1; i <= count; i++) {
    const id = `20240101_00${String(i).padStart(2, "0")}_rev${i}`;
    await writeMigration(
      join(cwd, "migrations"),
      id,
      revisionText(
        ids.at(-1) ?? "",
        `CREATE TABLE c_${i} (id int PRIMARY KEY);\nINSERT INTO c_${i} VALUES (${i});`,
        `DROP TABLE c_${i};`,
      ),
    );
    ids.push(id);
  }
  return ids;
}

const CONFLICT_REGEXP = /duplicate key|already exists/i;

// ---------------------------------------------------------------------------
// (a) ten runners at once on a fresh database

serverDirTest("10 concurrent applies on a fresh database: each revision exactly once", async (
  dir,
  url,
) => {
  const ids = await writeLine(dir, 8);
  const results = await Promise.all(
    Array.from(
      { length: 10 },
      () => strata(["apply", "--json"], { cwd: dir, env: { DATABASE_URL: url } }),
    ),
  );
  let steps = 0;
  results.forEach((r, i) => {
    expectExit(r, 0, `runner ${i}`);
    assert.doesNotMatch(r.stdout + r.stderr, CONFLICT_REGEXP, `runner ${i}\n${dump(r)}`);
    const doc = parseJson(r, `runner ${i}`);
    assert.equal(doc.ok, true);
    steps += doc.steps.length;
  });
  assert.equal(steps, ids.length, "the runners applied 8 revisions between them");

  const ledger = await queryDb(url, `SELECT revision FROM strata_ledger ORDER BY revision`);
  assert.deepEqual(ledger.map((row) => row.revision), ids);
  const journal = await queryDb<{ revision: string; n: number }>(
    url,
    `SELECT revision, count(*)::int AS n FROM strata_journal
      WHERE action = 'upgrade' GROUP BY revision ORDER BY revision`,
  );
  assert.deepEqual(journal, ids.map((revision) => ({ revision, n: 1 })));
  const [{ other }] = await queryDb<{ other: number }>(
    url,
    `SELECT count(*)::int AS other FROM strata_journal WHERE action <> 'upgrade'`,
  );
  assert.equal(other, 0, "no failures journaled");
  const rows = await queryDb<{ n: number }>(
    url,
    ids.map((_, i) => `SELECT count(*)::int AS n FROM c_${i + 1}`).join(" UNION ALL "),
  );
  assert.deepEqual(rows.map((row) => row.n), ids.map(() => 1));
});

// ---------------------------------------------------------------------------
// (b) a runner killed in the middle of a slow `each` revision

serverDirTest("SIGKILL during a slow revision: all or nothing, and the re-run continues", async (
  dir,
  url,
) => {
  const migrations = join(dir, "migrations");
  const r1 = "20240101_0000_first";
  const slow = "20240101_0001_slow";
  const r3 = "20240101_0002_third";
  // nextval is not transactional: only the first attempt sleeps (30 s, far
  // beyond the re-run's lock timeout), so the re-run can only get the lock if
  // the server noticed the dead client and ended its session.
  await writeMigration(
    migrations,
    r1,
    revisionText("", "CREATE SEQUENCE slow_attempts;", "DROP SEQUENCE slow_attempts;"),
  );
  await writeMigration(
    migrations,
    slow,
    revisionText(
      r1,
      "CREATE TABLE t_slow (x int);\n" +
        "SELECT pg_sleep(CASE WHEN nextval('slow_attempts') = 1 THEN 30 ELSE 0 END);\n" +
        "INSERT INTO t_slow VALUES (1);",
      "DROP TABLE t_slow;",
    ),
  );
  await writeMigration(
    migrations,
    r3,
    revisionText(slow, "CREATE TABLE t_third (id int);", "DROP TABLE t_third;"),
  );

  const victim = spawnStrata(["apply"], dir, { DATABASE_URL: url });
  let backend: number;
  try {
    backend = await waitForQuery(url, "pg_sleep(", 90_000);
  } finally {
    victim.kill("SIGKILL");
  }
  const killed = await victim.finish();
  assert.equal(killed.signal, "SIGKILL", dump(killed));

  // One snapshot: the revision's row and its table are there together or not at all.
  const [snap] = await queryDb<{ rows: number; has_table: boolean; third: number }>(
    url,
    `SELECT (SELECT count(*)::int FROM strata_ledger WHERE revision = $1) AS rows,
            to_regclass('public.t_slow') IS NOT NULL AS has_table,
            (SELECT count(*)::int FROM strata_ledger WHERE revision = $2) AS third`,
    [slow, r3],
  );
  assert.ok(
    (snap.rows === 0 && !snap.has_table) || (snap.rows === 1 && snap.has_table),
    `half-applied revision: ${JSON.stringify(snap)}`,
  );
  assert.equal(snap.third, 0, "nothing after the killed revision ran");

  const started = Date.now();
  const rerun = await strata(["apply", "--json", "--lock-timeout", "120s"], {
    cwd: dir,
    env: { DATABASE_URL: url },
  });
  const elapsed = Date.now() - started;
  expectExit(rerun, 0, "the re-run");
  assert.ok(
    elapsed < 60_000,
    `the re-run waited ${elapsed}ms: the dead client's session should end within seconds`,
  );
  assert.doesNotMatch(rerun.stdout + rerun.stderr, CONFLICT_REGEXP, dump(rerun));

  const ledger = await queryDb(url, `SELECT revision FROM strata_ledger ORDER BY revision`);
  assert.deepEqual(ledger.map((row) => row.revision), [r1, slow, r3]);
  const journal = await queryDb<{ revision: string; n: number }>(
    url,
    `SELECT revision, count(*)::int AS n FROM strata_journal
      WHERE action = 'upgrade' GROUP BY revision ORDER BY revision`,
  );
  assert.deepEqual(journal, [r1, slow, r3].map((revision) => ({ revision, n: 1 })));
  const [{ n }] = await queryDb<{ n: number }>(url, `SELECT count(*)::int AS n FROM t_slow`);
  assert.equal(n, 1, "the slow revision's rows exist once");
  const gone = await queryDb(url, `SELECT 1 FROM pg_stat_activity WHERE pid = $1`, [backend!]);
  assert.equal(gone.length, 0, "the killed runner's backend has ended");
});

// ---------------------------------------------------------------------------
// The embedded engine: concurrent runners share the folder lock; a killed one

embeddedTest("3 concurrent applies on one folder, then down and up again", async (dir, db) => {
  const ids = await writeLine(dir, 4);
  const env = { DATABASE_URL: db };
  const results = await Promise.all(
    Array.from({ length: 3 }, () => strata(["apply", "--json"], { cwd: dir, env })),
  );
  let steps = 0;
  results.forEach((r, i) => {
    expectExit(r, 0, `runner ${i}`);
    assert.doesNotMatch(r.stdout + r.stderr, CONFLICT_REGEXP, `runner ${i}\n${dump(r)}`);
    steps += parseJson(r, `runner ${i}`).steps.length;
  });
  assert.equal(steps, ids.length, "the runners applied 4 revisions between them");

  const status = async () => {
    const r = await strata(["status", "--json"], { cwd: dir, env });
    expectExit(r, 0, "status");
    return parseJson(r, "status");
  };
  let st = await status();
  assert.equal(st.applied, ids.length);
  assert.deepEqual(st.current, [ids.at(-1)]);

  let r = await strata(["downgrade", "base", "--json"], { cwd: dir, env });
  expectExit(r, 0, "downgrade base");
  assert.deepEqual(
    parseJson(r, "downgrade").steps.map((s: Json) => s.revision),
    [...ids].reverse(),
  );
  st = await status();
  assert.equal(st.applied, 0);
  r = await strata(["apply", "--json"], { cwd: dir, env });
  expectExit(r, 0, "apply again");
  assert.deepEqual(parseJson(r, "apply").steps.map((s: Json) => s.revision), ids);
  r = await strata(["show", ids[0], "--json"], { cwd: dir, env });
  expectExit(r, 0, "show");
  assert.deepEqual(
    parseJson(r, "show").journal.map((j: Json) => j.action),
    ["upgrade", "downgrade", "upgrade"],
    "journal, newest first",
  );
});

embeddedTest("SIGKILL during a slow revision: the re-run takes over and continues", async (
  dir,
  db,
) => {
  const migrations = join(dir, "migrations");
  const r1 = "20240101_0000_first";
  const slow = "20240101_0001_slow";
  const r3 = "20240101_0002_third";
  await writeMigration(
    migrations,
    r1,
    revisionText("", "CREATE TABLE k_one (id int);", "DROP TABLE k_one;"),
  );
  await writeMigration(
    migrations,
    slow,
    revisionText(
      r1,
      "CREATE TABLE t_slow (x int);\nSELECT pg_sleep(2);\nINSERT INTO t_slow VALUES (1);",
      "DROP TABLE t_slow;",
    ),
  );
  await writeMigration(
    migrations,
    r3,
    revisionText(slow, "INSERT INTO t_slow VALUES (3);", "DELETE FROM t_slow WHERE x = 3;"),
  );
  const env = { DATABASE_URL: db };
  const victim = spawnStrata(["apply"], dir, env);
  try {
    // Killed once r1 is in: before or inside the slow revision, both must hold.
    await victim.waitForStdout(`↑ ${r1}`, 90_000);
  } finally {
    victim.kill("SIGKILL");
  }
  const killed = await victim.finish();
  assert.equal(killed.signal, "SIGKILL", dump(killed));
  assert.ok(
    !killed.stdout.includes(`↑ ${slow}`),
    `killed before the slow revision finished\n${dump(killed)}`,
  );

  const rerun = await strata(["apply", "--json", "--lock-timeout", "120s"], { cwd: dir, env });
  expectExit(rerun, 0, "the re-run");
  assert.deepEqual(parseJson(rerun, "re-run").steps.map((s: Json) => s.revision), [slow, r3]);
  const st = await strata(["status", "--json"], { cwd: dir, env });
  expectExit(st, 0, "status");
  const doc = parseJson(st, "status");
  assert.equal(doc.applied, 3);
  assert.deepEqual(doc.pending, []);
  const show = await strata(["show", slow, "--json"], { cwd: dir, env });
  expectExit(show, 0, "show");
  assert.deepEqual(parseJson(show, "show").journal.map((j: Json) => j.action), ["upgrade"]);
  // Had the killed run left t_slow behind, the re-run's CREATE TABLE would have failed.
  const down = await strata(["downgrade", "base"], { cwd: dir, env });
  expectExit(down, 0, "downgrade base");
});
