/**
 * Runner behaviour through the real CLI on the server: out-of-order
 * revisions, the ledger moved with --table, Ctrl-C between revisions, and the
 * session timeouts (--lock-wait, --statement-timeout) in both modes.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import postgres from "postgres";
import {
  queryDb,
  scratchDir,
  serverTest,
  spawnStrata,
  strata,
  waitForQuery,
  writeMigration,
} from "./helpers.ts";

const revision = (up: string, down: string, header = "") =>
  `${header}-- up\n${up}\n-- down\n${down}\n`;

serverTest(
  "a late file older than applied revisions is listed, refused, then applied when allowed",
  async (url) => {
    const dir = await scratchDir();
    try {
      const migrations = join(dir.path, "migrations");
      const env = { DATABASE_URL: url };
      // No parents lines: each file follows the previous id, so B slots in before C.
      await writeMigration(
        migrations,
        "20240101_0000_a",
        revision("CREATE TABLE a (x int);", "DROP TABLE a;"),
      );
      await writeMigration(
        migrations,
        "20240103_0000_c",
        revision("CREATE TABLE c (x int);", "DROP TABLE c;"),
      );
      assert.equal((await strata(["apply"], { cwd: dir.path, env })).code, 0);
      await writeMigration(
        migrations,
        "20240102_0000_b",
        revision("CREATE TABLE b (x int);", "DROP TABLE b;"),
      );

      const status = JSON.parse(
        (await strata(["status", "--json"], { cwd: dir.path, env })).stdout,
      );
      assert.deepEqual(status.outOfOrder, ["20240102_0000_b"]);
      const check = await strata(["check", "--json"], { cwd: dir.path, env });
      assert.equal(check.code, 3);

      const refused = await strata(["apply", "--json"], { cwd: dir.path, env });
      assert.equal(refused.code, 5, refused.stderr);
      const error = JSON.parse(refused.stdout).error;
      assert.equal(error.code, "INTEGRITY");
      assert.deepEqual(error.outOfOrder, ["20240102_0000_b"]);
      assert.ok(error.file.endsWith("20240102_0000_b.sql"));
      assert.equal((await queryDb(url, "SELECT to_regclass('b') AS t"))[0].t, null);

      const allowed = await strata(["apply", "--allow-out-of-order"], { cwd: dir.path, env });
      assert.equal(allowed.code, 0, allowed.stderr);
      assert.match(allowed.stderr, /20240102_0000_b out of order/);
      const rows = await queryDb<{ revision: string }>(
        url,
        "SELECT revision FROM strata_ledger ORDER BY revision",
      );
      assert.deepEqual(rows.map((r) => r.revision), [
        "20240101_0000_a",
        "20240102_0000_b",
        "20240103_0000_c",
      ]);
    } finally {
      await dir.remove();
    }
  },
);

serverTest("--table schema.name moves the ledger and the journal", async (url) => {
  const dir = await scratchDir();
  try {
    const migrations = join(dir.path, "migrations");
    await writeMigration(
      migrations,
      "20240101_0000_a",
      revision("CREATE TABLE a (x int);", "DROP TABLE a;"),
    );
    const env = { DATABASE_URL: url, STRATA_TABLE: "audit.migrations" };
    assert.equal((await strata(["apply"], { cwd: dir.path, env })).code, 0);
    const tables = await queryDb<{ l: string | null; j: string | null; d: string | null }>(
      url,
      `SELECT to_regclass('audit.migrations')::text AS l, to_regclass('audit.migrations_journal')::text AS j,
              to_regclass('public.strata_ledger')::text AS d`,
    );
    assert.deepEqual(tables[0], { l: "audit.migrations", j: "audit.migrations_journal", d: null });
    const status = JSON.parse((await strata(["status", "--json"], { cwd: dir.path, env })).stdout);
    assert.equal(status.applied, 1);
    const elsewhere = JSON.parse(
      (await strata(["status", "--json", "--table", "other_ledger"], { cwd: dir.path, env }))
        .stdout,
    );
    assert.equal(elsewhere.applied, 0, "the flag beats STRATA_TABLE");
  } finally {
    await dir.remove();
  }
});

serverTest(
  "Ctrl-C stops after the current revision with exit 130, nothing half-applied",
  async (url) => {
    const dir = await scratchDir();
    try {
      const migrations = join(dir.path, "migrations");
      // The revision waits on a table the test keeps locked, so Ctrl-C lands inside it however
      // slow the machine is.
      await queryDb(url, "CREATE TABLE gate (x int)");
      const gate = postgres(url, { max: 1, onnotice: () => {} });
      const reserved = await gate.reserve();
      await reserved`BEGIN`;
      await reserved`LOCK TABLE gate IN ACCESS EXCLUSIVE MODE`;
      await writeMigration(
        migrations,
        "20240101_0000_slow",
        revision("CREATE TABLE slow (x int);\nSELECT count(*) FROM gate;", "DROP TABLE slow;"),
      );
      await writeMigration(
        migrations,
        "20240101_0001_next",
        revision("CREATE TABLE next (x int);", "DROP TABLE next;"),
      );
      const child = spawnStrata(["apply", "--json"], dir.path, { DATABASE_URL: url });
      await waitForQuery(url, "FROM gate", 90_000);
      child.kill("SIGINT");
      // The interruption is noted before the revision may end.
      await child.waitForStderr("Interrupted", 90_000);
      await reserved`COMMIT`;
      reserved.release();
      await gate.end();
      const result = await child.finish();
      const stdout = result.stdout;
      assert.equal(result.code, 130, result.stderr);
      assert.equal(JSON.parse(stdout).error.code, "INTERRUPTED");
      const rows = await queryDb<{ revision: string }>(url, "SELECT revision FROM strata_ledger");
      assert.deepEqual(rows.map((r) => r.revision), ["20240101_0000_slow"]);
      const tables = await queryDb<{ s: string | null; n: string | null }>(
        url,
        "SELECT to_regclass('slow')::text AS s, to_regclass('next')::text AS n",
      );
      assert.deepEqual(tables[0], { s: "slow", n: null });
    } finally {
      await dir.remove();
    }
  },
);

for (const mode of ["each", "none"]) {
  serverTest(
    `--lock-wait fails fast on a locked table in ${mode} mode (55P03), timeouts restored after a revision changes them`,
    async (url) => {
      const dir = await scratchDir();
      const holder = postgres(url, { max: 1, onnotice: () => {} });
      try {
        await queryDb(url, "CREATE TABLE busy (x int)");
        const migrations = join(dir.path, "migrations");
        // The first revision sets lock_timeout = 0; the second must still get --lock-wait
        // (were it lost, the ALTER would wait for --statement-timeout: 57014, not 55P03).
        await writeMigration(
          migrations,
          "20240101_0000_reset",
          revision(
            "SET lock_timeout = 0;\nSELECT 1;",
            "SELECT 1;",
            `-- transaction: ${mode}\n`,
          ),
        );
        await writeMigration(
          migrations,
          "20240101_0001_alter",
          revision(
            "ALTER TABLE busy ADD COLUMN IF NOT EXISTS y int;",
            "ALTER TABLE busy DROP COLUMN y;",
            `-- transaction: ${mode}\n`,
          ),
        );
        const reserved = await holder.reserve();
        await reserved`BEGIN`;
        await reserved`LOCK TABLE busy IN ACCESS EXCLUSIVE MODE`;
        const started = performance.now();
        const r = await strata([
          "apply",
          "--lock-wait",
          "1s",
          "--statement-timeout",
          "5s",
          "--json",
        ], {
          cwd: dir.path,
          env: { DATABASE_URL: url },
        });
        const seconds = (performance.now() - started) / 1000;
        await reserved`ROLLBACK`;
        reserved.release();
        assert.equal(r.code, 1, r.stderr);
        const error = JSON.parse(r.stdout).error;
        assert.equal(error.sqlstate, "55P03");
        assert.ok(error.file.endsWith("20240101_0001_alter.sql"));
        assert.equal(error.line, 3, "the ALTER is on line 3 of the file");
        assert.ok(seconds < 60, `took ${seconds}s`);
        const rows = await queryDb<{ revision: string }>(url, "SELECT revision FROM strata_ledger");
        assert.deepEqual(rows.map((row) => row.revision), ["20240101_0000_reset"]);
      } finally {
        await holder.end();
        await dir.remove();
      }
    },
  );
}

serverTest(
  "--statement-timeout cancels a long statement with 57014 and records nothing",
  async (url) => {
    const dir = await scratchDir();
    try {
      const migrations = join(dir.path, "migrations");
      await writeMigration(
        migrations,
        "20240101_0000_long",
        revision("CREATE TABLE long_one (x int);\nSELECT pg_sleep(10);", "DROP TABLE long_one;"),
      );
      const r = await strata(["apply", "--statement-timeout", "500ms", "--json"], {
        cwd: dir.path,
        env: { DATABASE_URL: url },
      });
      assert.equal(r.code, 1, r.stderr);
      const error = JSON.parse(r.stdout).error;
      assert.equal(error.sqlstate, "57014");
      assert.equal((await queryDb(url, "SELECT to_regclass('long_one') AS t"))[0].t, null);
      assert.equal((await queryDb(url, "SELECT count(*)::int AS n FROM strata_ledger"))[0].n, 0);
    } finally {
      await dir.remove();
    }
  },
);

Deno.test("an each-mode revision that commits on its own is refused before anything runs", async () => {
  const dir = await scratchDir();
  try {
    const migrations = join(dir.path, "migrations");
    await writeMigration(
      migrations,
      "20240101_0000_ok",
      revision("CREATE TABLE ok (x int);", "DROP TABLE ok;"),
    );
    await writeMigration(
      migrations,
      "20240101_0001_commits",
      revision(
        "CREATE TABLE a (x int);\nCOMMIT;\nCREATE TABLE b (x int);",
        "DROP TABLE b;\nDROP TABLE a;",
      ),
    );
    // A PL/pgSQL body's BEGIN ... END; is not transaction control.
    await writeMigration(
      migrations,
      "20240101_0002_plpgsql",
      revision(
        "CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$\nBEGIN\n  RETURN 1;\nEND;\n$$;",
        "DROP FUNCTION f();",
      ),
    );
    const db = `pglite:${join(dir.path, "db")}`;
    const r = await strata(["apply", "--database", db, "--json"], { cwd: dir.path });
    assert.equal(r.code, 5, r.stderr);
    const error = JSON.parse(r.stdout).error;
    assert.equal(error.code, "FILE");
    assert.ok(error.file.endsWith("20240101_0001_commits.sql"));
    assert.equal(error.line, 3);
    const status = JSON.parse(
      (await strata(["status", "--database", db, "--json"], { cwd: dir.path })).stdout,
    );
    assert.equal(status.applied, 0, "nothing ran, not even the revision before it");

    await Deno.remove(join(migrations, "20240101_0001_commits.sql"));
    const ok = await strata(["apply", "--database", db], { cwd: dir.path });
    assert.equal(ok.code, 0, ok.stderr);
  } finally {
    await dir.remove();
  }
});
