/**
 * `--lock-strategy table` (lib/db/table_lock.ts) on a direct connection: a
 * live lease makes a second runner exit 4 naming the holder; a runner whose
 * lease was taken over cannot commit; a role without advisory locks (as on
 * CockroachDB) gets a clear error with the session strategy and works with
 * the table one; the setting's flag, variable and key. The pooler scenarios
 * are in tests/reliability/table_lock_pooler_test.ts.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import postgres from "postgres";
import { resolveConfig } from "../lib/config.ts";
import { apply } from "../mod.ts";
import {
  embeddedTest,
  expectExit,
  parseJson,
  queryDb,
  rejection,
  scratchDir,
  SERVER_URL,
  serverDirTest,
  serverTest,
  spawnStrata,
  strata,
  waitFor,
  waitForQuery,
  writeMigration,
} from "./helpers.ts";

const TABLE = ["--lock-strategy", "table"];

/** Revisions t0…t(n-1); the one at `gated` reads table gate, which a test can hold locked. */
async function writeRevisions(dir: string, count: number, gated: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const id = `2024010${i + 1}_0000_t${i}`;
    const read = i === gated ? "\nSELECT count(*) FROM gate;" : "";
    await writeMigration(
      join(dir, "migrations"),
      id,
      `-- message: t${i}\n-- up\nCREATE TABLE t_${i} (id int);${read}\n-- down\nDROP TABLE t_${i};\n`,
    );
    ids.push(id);
  }
  return ids;
}

/** A session that holds table gate locked until `open()`. */
async function closedGate(url: string) {
  await queryDb(url, `CREATE TABLE IF NOT EXISTS gate (id int)`);
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  await sql.unsafe(`BEGIN; LOCK TABLE gate IN ACCESS EXCLUSIVE MODE`);
  return {
    open: () => sql.unsafe(`COMMIT`),
    end: () => sql.end({ timeout: 1 }).catch(() => {}),
  };
}

async function ledger(url: string): Promise<string[]> {
  const rows = await queryDb<{ revision: string }>(
    url,
    `SELECT revision FROM strata_ledger ORDER BY revision`,
  );
  return rows.map((row) => row.revision);
}

serverDirTest(
  "table lock: a live lease makes a second runner exit 4 naming the holder (pid, host, since, lease expiry)",
  async (dir, url) => {
    const ids = await writeRevisions(dir, 3, 1);
    const gate = await closedGate(url);
    try {
      const env = { DATABASE_URL: url };
      const first = spawnStrata(["apply", ...TABLE, "--lock-lease", "2s"], dir, env);
      await first.waitForStdout(`applying ${ids[1]}`, 60_000);
      await waitForQuery(url, "FROM gate", 60_000);
      // Past its first lease (2 s) the row is still live: renewed while the runner waits.
      await waitFor("the lease to outlive its first period", async () => {
        const [row] = await queryDb<{ renewed: boolean }>(
          url,
          `SELECT clock_timestamp() > acquired_at + interval '3 seconds'
                  AND expires_at > clock_timestamp() AS renewed FROM strata_ledger_lock`,
        );
        return row.renewed;
      }, 60_000);
      // A second runner that wrongly got in would wait on the gate: bounded, so the test fails.
      const second = await strata([
        "apply",
        "--json",
        ...TABLE,
        "--lock-timeout",
        "1s",
        "--statement-timeout",
        "20s",
      ], {
        cwd: dir,
        env,
      });
      expectExit(second, 4, "a second runner while the lease lives");
      const doc = parseJson(second, "lock timeout");
      assert.equal(doc.error.code, "LOCK_TIMEOUT");
      assert.equal(doc.error.pid, first.pid, "names the holder's pid");
      assert.equal(doc.error.host, Deno.hostname());
      assert.match(doc.error.message, new RegExp(`held by pid ${first.pid} on host `));
      assert.match(doc.error.message, /since \d{4}-.*lease expires at \d{4}-/);
      const [row] = await queryDb<{ expires_at: Date; acquired_at: Date }>(
        url,
        `SELECT expires_at, acquired_at FROM strata_ledger_lock`,
      );
      assert.equal(new Date(row.acquired_at).toISOString(), doc.error.since);
      await gate.open();
      const done = await first.finish();
      assert.equal(done.code, 0, done.stderr);
      assert.deepEqual(await ledger(url), ids);
      const [released] = await queryDb<{ holder: string | null }>(
        url,
        `SELECT holder FROM strata_ledger_lock`,
      );
      assert.equal(released.holder, null, "released at the end");
    } finally {
      await gate.end();
    }
  },
);

serverDirTest(
  "table lock fencing: a runner whose lease was taken over cannot commit its revision (exit 4, rolled back)",
  async (dir, url) => {
    const ids = await writeRevisions(dir, 3, 1);
    const gate = await closedGate(url);
    try {
      const runner = spawnStrata(["apply", ...TABLE, "--lock-lease", "30s"], dir, {
        DATABASE_URL: url,
      });
      await runner.waitForStdout(`applying ${ids[1]}`, 60_000);
      await waitForQuery(url, "FROM gate", 60_000);
      // Another runner takes the row over, as one would after the lease expired.
      const taken = await queryDb(
        url,
        `UPDATE strata_ledger_lock SET holder = 'intruder', host = 'elsewhere', pid = 4242,
                acquired_at = now(), expires_at = now() + interval '1 hour'
          WHERE holder IS NOT NULL RETURNING 1`,
      );
      assert.equal(taken.length, 1);
      await gate.open();
      const r = await runner.finish();
      assert.equal(r.code, 4, `exit 4 on a lost lease\n${r.stdout}\n${r.stderr}`);
      assert.match(r.stderr, /Lost the migration lock/);
      assert.match(r.stderr, /now held by pid 4242 on host elsewhere/);
      assert.deepEqual(await ledger(url), ids.slice(0, 1), "the revision did not commit");
      const [{ exists }] = await queryDb<{ exists: boolean }>(
        url,
        `SELECT to_regclass('t_1') IS NOT NULL AS exists`,
      );
      assert.equal(exists, false, "its table was rolled back with it");
      const [row] = await queryDb<{ holder: string }>(url, `SELECT holder FROM strata_ledger_lock`);
      assert.equal(row.holder, "intruder", "the new holder's row is left alone");
    } finally {
      await gate.end();
    }
  },
);

serverDirTest(
  "table lock fencing: adopt whose lease was taken over records nothing (exit 4)",
  async (dir, url) => {
    await Deno.mkdir(join(dir, "gm"), { recursive: true });
    await Deno.writeTextFile(
      join(dir, "gm", "000001_users.up.sql"),
      "CREATE TABLE users (id int);\n",
    );
    await Deno.writeTextFile(join(dir, "gm", "000001_users.down.sql"), "DROP TABLE users;\n");
    const imported = await strata(["import", "golang-migrate", "gm"], { cwd: dir });
    assert.equal(imported.code, 0, imported.stdout + imported.stderr);
    await queryDb(url, `CREATE TABLE users (id int)`);
    await queryDb(
      url,
      `CREATE TABLE schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL)`,
    );
    await queryDb(url, `INSERT INTO schema_migrations VALUES (1, false)`);
    // adopt reads golang-migrate's ledger under the lock: held here, it waits there, lease taken.
    const gate = postgres(url, { max: 1, onnotice: () => {} });
    try {
      await gate.unsafe(`BEGIN; LOCK TABLE schema_migrations IN ACCESS EXCLUSIVE MODE`);
      const runner = spawnStrata(
        ["adopt", "golang-migrate", ...TABLE, "--lock-lease", "30s"],
        dir,
        {
          DATABASE_URL: url,
        },
      );
      await waitFor("adopt waiting on the golang-migrate ledger", async () => {
        const rows = await queryDb(
          url,
          `SELECT 1 FROM pg_stat_activity WHERE datname = current_database()
              AND wait_event_type = 'Lock' AND position('schema_migrations' in query) > 0`,
        );
        return rows.length > 0 || null;
      }, 60_000);
      const taken = await queryDb(
        url,
        `UPDATE strata_ledger_lock SET holder = 'intruder', host = 'elsewhere', pid = 4242,
                acquired_at = now(), expires_at = now() + interval '1 hour'
          WHERE holder IS NOT NULL RETURNING 1`,
      );
      assert.equal(taken.length, 1);
      await gate.unsafe(`COMMIT`);
      const r = await runner.finish();
      assert.equal(r.code, 4, `exit 4 on a lost lease\n${r.stdout}\n${r.stderr}`);
      assert.match(r.stderr, /Lost the migration lock/);
      const [{ present }] = await queryDb<{ present: boolean }>(
        url,
        `SELECT to_regclass('strata_ledger') IS NOT NULL AS present`,
      );
      assert.deepEqual(present ? await ledger(url) : [], [], "adopt recorded nothing");
    } finally {
      await gate.end({ timeout: 1 }).catch(() => {});
    }
  },
);

serverTest(
  "without advisory locks (CockroachDB imitation: EXECUTE revoked): the session strategy exits 2 with a hint, the table strategy applies",
  async (url) => {
    const suffix = crypto.randomUUID().replaceAll("-", "").slice(0, 12);
    const role = `strata_nolock_${suffix}`;
    const database = `strata_nolock_${suffix}`;
    await queryDb(SERVER_URL, `CREATE ROLE ${role} LOGIN`);
    await queryDb(SERVER_URL, `CREATE DATABASE ${database} OWNER ${role}`);
    const dir = await scratchDir();
    try {
      const admin = new URL(url);
      admin.pathname = `/${database}`;
      // Function privileges live in each database's own catalog.
      await queryDb(
        admin.toString(),
        `REVOKE EXECUTE ON FUNCTION
           pg_try_advisory_lock(int, int), pg_try_advisory_lock(bigint),
           pg_advisory_lock(int, int), pg_advisory_lock(bigint),
           pg_advisory_unlock(int, int), pg_advisory_unlock(bigint), pg_advisory_unlock_all()
         FROM PUBLIC`,
      );
      const user = new URL(admin);
      user.username = role;
      const probe = await queryDb(user.toString(), `SELECT pg_try_advisory_lock(1, 2)`)
        .then(() => "allowed", (error) => (error as { code?: string }).code);
      assert.equal(probe, "42501", "the role may not take advisory locks");
      const ids = await writeRevisions(dir.path, 2, -1);
      const env = { DATABASE_URL: user.toString() };
      const session = await strata(["apply", "--json"], { cwd: dir.path, env });
      expectExit(session, 2, "the session strategy without advisory locks");
      const error = parseJson(session, "privilege").error;
      assert.equal(error.code, "PRIVILEGE");
      assert.match(error.message, /Cannot take the migration lock/);
      assert.match(error.hint, /--lock-strategy table/);
      assert.deepEqual(
        await queryDb(user.toString(), `SELECT to_regclass('strata_ledger')::text AS t`),
        [{ t: null }],
        "nothing created before the refusal",
      );
      const table = await strata(["apply", ...TABLE], { cwd: dir.path, env });
      expectExit(table, 0, "the table strategy");
      assert.deepEqual(await ledger(user.toString()), ids);
    } finally {
      await dir.remove();
      await queryDb(SERVER_URL, `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      await queryDb(SERVER_URL, `DROP ROLE IF EXISTS ${role}`);
    }
  },
);

serverDirTest(
  "table lock: per-revision timeouts apply, and a failed revision releases the row",
  async (dir, url) => {
    await writeMigration(
      join(dir, "migrations"),
      "20240101_0000_slow",
      `-- message: slow\n-- up\nSELECT pg_sleep(30);\n-- down\nSELECT 1;\n`,
    );
    const r = await strata(["apply", "--json", ...TABLE, "--statement-timeout", "300ms"], {
      cwd: dir,
      env: { DATABASE_URL: url },
    });
    expectExit(r, 1, "a revision past --statement-timeout");
    assert.equal(parseJson(r, "timeout").error.sqlstate, "57014");
    const [row] = await queryDb<{ holder: string | null }>(
      url,
      `SELECT holder FROM strata_ledger_lock`,
    );
    assert.equal(row.holder, null, "released after the failure");
  },
);

serverDirTest("table lock from code: apply({ lockStrategy: 'table' })", async (dir, url) => {
  const ids = await writeRevisions(dir, 2, -1);
  const result = await apply({
    database: url,
    dir: join(dir, "migrations"),
    lockStrategy: "table",
    lockLease: "5s",
  });
  assert.deepEqual(result.steps.map((step) => step.revision), ids);
  const rows = await queryDb<{ holder: string | null; pid: number }>(
    url,
    `SELECT holder, pid FROM strata_ledger_lock`,
  );
  assert.deepEqual(rows, [{ holder: null, pid: Deno.pid }]);
});

embeddedTest(
  "table lock on pglite: ignored (the folder's file lock serves): apply works, nothing left pending",
  async (dir, db) => {
    const ids = await writeRevisions(dir, 1, -1);
    const r = await strata(["apply", "--json", ...TABLE, "--database", db], { cwd: dir });
    expectExit(r, 0, "apply on pglite with --lock-strategy table");
    assert.deepEqual(parseJson(r, "apply").steps.map((s: { revision: string }) => s.revision), ids);
    const status = await strata(["status", "--json", "--database", db], { cwd: dir });
    expectExit(status, 0, "status");
    assert.deepEqual(parseJson(status, "status").pending, []);
  },
);

Deno.test("lock strategy: flag beats STRATA_LOCK_STRATEGY beats strata.json; default session", async () => {
  const dir = await scratchDir();
  try {
    const file = join(dir.path, "strata.json");
    await Deno.writeTextFile(file, JSON.stringify({ lockStrategy: "table", lockLease: "10s" }));
    const none = await resolveConfig({}, {}, null);
    assert.equal(none.lockStrategy, "session");
    assert.equal(none.lockLeaseMs, 30_000);
    const fromFile = await resolveConfig({}, {}, file);
    assert.equal(fromFile.lockStrategy, "table");
    assert.equal(fromFile.lockLeaseMs, 10_000);
    const fromEnv = await resolveConfig(
      {},
      { STRATA_LOCK_STRATEGY: "session", STRATA_LOCK_LEASE: "4s" },
      file,
    );
    assert.equal(fromEnv.lockStrategy, "session");
    assert.equal(fromEnv.lockLeaseMs, 4_000);
    const fromFlag = await resolveConfig(
      { "lock-strategy": "table", "lock-lease": "2s" },
      { STRATA_LOCK_STRATEGY: "session" },
      file,
    );
    assert.equal(fromFlag.lockStrategy, "table");
    assert.equal(fromFlag.lockLeaseMs, 2_000);
    const bad = await rejection(resolveConfig({ "lock-strategy": "row" }, {}, null));
    assert.equal(bad.code, "USAGE");
    assert.match(bad.message, /"row" in --lock-strategy/);
    const badFile = join(dir.path, "bad.json");
    await Deno.writeTextFile(badFile, JSON.stringify({ lockStrategy: "advisory" }));
    const inFile = await rejection(resolveConfig({}, {}, badFile));
    assert.match(inFile.message, /"lockStrategy" in .*bad\.json/);
    const short = await rejection(resolveConfig({ "lock-lease": "200ms" }, {}, null));
    assert.match(short.message, /--lock-lease must be at least 1s/);
  } finally {
    await dir.remove();
  }
});

Deno.test("lock strategy on the command line: an unknown value is a usage error (exit 2) naming the option", async () => {
  const dir = await scratchDir();
  try {
    const flag = await strata(["status", "--lock-strategy", "rows", "-d", "pglite:memory"], {
      cwd: dir.path,
    });
    expectExit(flag, 2, "--lock-strategy rows");
    assert.match(flag.stderr, /Unknown lock strategy "rows" in --lock-strategy/);
    assert.match(flag.stderr, /session, table/);
    const env = await strata(["status", "-d", "pglite:memory"], {
      cwd: dir.path,
      env: { STRATA_LOCK_STRATEGY: "Table" },
    });
    expectExit(env, 2, "STRATA_LOCK_STRATEGY=Table");
    assert.match(env.stderr, /in STRATA_LOCK_STRATEGY/);
    const lease = await strata(["status", "--lock-lease", "0", "-d", "pglite:memory"], {
      cwd: dir.path,
    });
    expectExit(lease, 2, "--lock-lease 0");
    assert.match(lease.stderr, /--lock-lease must be at least 1s/);
  } finally {
    await dir.remove();
  }
});

serverDirTest(
  "table lock: --single-transaction and a transaction: none revision with a block and CONCURRENTLY",
  async (dir, url) => {
    const migrations = join(dir, "migrations");
    const ids = await writeRevisions(dir, 2, -1);
    const one = await strata(["apply", "--json", ...TABLE, "--single-transaction"], {
      cwd: dir,
      env: { DATABASE_URL: url },
    });
    expectExit(one, 0, "--single-transaction with the table strategy");
    assert.deepEqual(await ledger(url), ids);
    await writeMigration(
      migrations,
      "20240109_0000_none",
      `-- message: none\n-- transaction: none\n-- up\nBEGIN;\nINSERT INTO t_0 VALUES (1);\n` +
        `COMMIT;\nCREATE INDEX CONCURRENTLY t_0_id ON t_0 (id);\n-- down\nDROP INDEX t_0_id;\n`,
    );
    const none = await strata(["apply", "--json", ...TABLE, "--statement-timeout", "20s"], {
      cwd: dir,
      env: { DATABASE_URL: url },
    });
    expectExit(none, 0, "a none-mode revision with the table strategy");
    assert.deepEqual(await ledger(url), [...ids, "20240109_0000_none"]);
    const [{ valid }] = await queryDb<{ valid: boolean }>(
      url,
      `SELECT indisvalid AS valid FROM pg_index WHERE indexrelid = 't_0_id'::regclass`,
    );
    assert.equal(valid, true);
  },
);

serverDirTest(
  "table lock: a failing statement is located on the same line as with the session strategy",
  async (dir, url) => {
    const path = await writeMigration(
      join(dir, "migrations"),
      "20240101_0000_broken",
      `-- message: broken\n-- up\nCREATE TABLE b (id int);\nINSERT INTO b VALUES (1);\n` +
        `SELECT nosuch FROM b;\n-- down\nDROP TABLE b;\n`,
    );
    const located = [];
    for (const strategy of ["session", "table"]) {
      const r = await strata(["apply", "--json", "--lock-strategy", strategy], {
        cwd: dir,
        env: { DATABASE_URL: url },
      });
      expectExit(r, 1, `a syntax error with the ${strategy} strategy`);
      const error = parseJson(r, strategy).error;
      const { file, line, statement, position } = error;
      located.push({ file, line, statement, position });
    }
    assert.equal(located[0].line, 5, `${path}: the failing line`);
    assert.deepEqual(located[1], located[0]);
  },
);

serverDirTest(
  "table lock: Ctrl-C stops after the current revision and releases the row",
  async (dir, url) => {
    const ids = await writeRevisions(dir, 3, 1);
    const gate = await closedGate(url);
    try {
      const runner = spawnStrata(["apply", ...TABLE], dir, { DATABASE_URL: url });
      await runner.waitForStdout(`applying ${ids[1]}`, 60_000);
      await waitForQuery(url, "FROM gate", 60_000);
      runner.kill("SIGINT");
      await runner.waitForStderr("Interrupted", 60_000);
      await gate.open();
      const r = await runner.finish();
      assert.equal(r.code, 130, r.stderr);
      assert.deepEqual(await ledger(url), ids.slice(0, 2), "the current revision finished");
      const [row] = await queryDb<{ holder: string | null }>(
        url,
        `SELECT holder FROM strata_ledger_lock`,
      );
      assert.equal(row.holder, null, "released");
    } finally {
      await gate.end();
    }
  },
);
