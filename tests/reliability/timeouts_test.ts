/**
 * Reliability scenarios 7 and 18: the session timeouts. A migration that
 * needs a table another session has locked fails fast with --lock-wait (or
 * --statement-timeout) instead of queueing behind it; in `each` and `none`
 * mode alike; and a revision that resets the timeouts does not change them for
 * the revisions after it.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  dump,
  expectCode,
  holdTableLock,
  parseJson,
  queryDb,
  revId,
  revisionText,
  run,
  serverDirTest,
  writeMigration,
} from "./support.ts";

// ---------------------------------------------------------------------------
// Scenario 7: --lock-wait and --statement-timeout against a locked table

const TIMEOUT_CASES = [
  {
    name: "7a",
    flags: ["--lock-wait", "1s"],
    sqlstate: "55P03",
    says: /lock timeout/i,
    label: "--lock-wait 1s",
  },
  {
    name: "7b",
    flags: ["--statement-timeout", "1s"],
    sqlstate: "57014",
    says: /statement timeout/i,
    label: "--statement-timeout 1s",
  },
];

for (const c of TIMEOUT_CASES) {
  serverDirTest(
    `reliability ${c.name} (${c.label}): a migration behind a locked table fails fast and says why`,
    async (dir, url) => {
      await queryDb(url, "CREATE TABLE busy (x int)");
      const id = revId(0, "alter_busy");
      await writeMigration(
        join(dir, "migrations"),
        id,
        revisionText("ALTER TABLE busy ADD COLUMN y int;", "ALTER TABLE busy DROP COLUMN y;"),
      );
      const holder = await holdTableLock(url, "busy");
      let r;
      try {
        r = await run(["apply", "--json", ...c.flags], {
          cwd: dir,
          env: { DATABASE_URL: url },
          limitMs: 120_000,
        });
      } finally {
        await holder.release();
      }
      expectCode(r, 1, `apply ${c.label}`);
      assert.ok(r.ms < 60_000, `took ${r.ms} ms with ${c.label}`);
      const error = parseJson(r, "apply").error;
      assert.equal(error.code, "MIGRATION_FAILED");
      assert.equal(error.sqlstate, c.sqlstate, dump(r));
      assert.match(error.message, c.says, dump(r));
      assert.ok(String(error.file).endsWith(`${id}.sql`));
      const human = await run(["apply", ...c.flags], { cwd: dir, env: { DATABASE_URL: url } });
      // The lock is gone now: the same run goes through.
      expectCode(human, 0, "apply once the table is free");
      const [{ n }] = await queryDb<{ n: number }>(
        url,
        `SELECT count(*)::int AS n FROM strata_journal WHERE action = 'failure'`,
      );
      assert.equal(n, 1, "the failure was journaled");
      console.log(`  ${c.label}: exit 1 after ${r.ms} ms, ${c.sqlstate}: ${error.message}`);
    },
  );
}

// ---------------------------------------------------------------------------
// Scenario 18: both modes, the SQLSTATE and a hint, and timeouts that survive a reset

for (const mode of ["each", "none"] as const) {
  serverDirTest(
    `reliability 18 (timeouts in ${mode} mode): --lock-wait 1s fails within seconds with 55P03 and a hint; RESET in one revision does not leak into the next`,
    async (dir, url) => {
      await queryDb(url, "CREATE TABLE busy (x int)");
      const migrations = join(dir, "migrations");
      const ids = [
        revId(0, "reset_timeouts"),
        revId(1, "zero_timeouts"),
        revId(2, "record_timeouts"),
        revId(3, "alter_busy"),
      ];
      const header = { transaction: mode };
      await writeMigration(
        migrations,
        ids[0],
        revisionText("RESET lock_timeout;\nRESET statement_timeout;", "SELECT 1;", header),
      );
      await writeMigration(
        migrations,
        ids[1],
        revisionText("SET lock_timeout = 0;\nSET statement_timeout = 0;", "SELECT 1;", header),
      );
      await writeMigration(
        migrations,
        ids[2],
        revisionText(
          "CREATE TABLE seen AS SELECT current_setting('lock_timeout') AS lock_timeout,\n" +
            "  current_setting('statement_timeout') AS statement_timeout;",
          "DROP TABLE seen;",
          header,
        ),
      );
      await writeMigration(
        migrations,
        ids[3],
        revisionText(
          "ALTER TABLE busy ADD COLUMN IF NOT EXISTS y int;",
          "ALTER TABLE busy DROP COLUMN IF EXISTS y;",
          header,
        ),
      );
      const holder = await holdTableLock(url, "busy");
      let r;
      try {
        // Were --lock-wait lost, the ALTER would wait for the 5 s statement timeout (57014).
        r = await run(
          ["apply", "--json", "--lock-wait", "1s", "--statement-timeout", "5s"],
          { cwd: dir, env: { DATABASE_URL: url }, limitMs: 120_000 },
        );
      } finally {
        await holder.release();
      }
      const [seen] = await queryDb(url, "SELECT lock_timeout, statement_timeout FROM seen");
      assert.deepEqual(
        seen,
        { lock_timeout: "1s", statement_timeout: "5s" },
        "the revision after the resets ran with the configured timeouts",
      );
      const ledger = await queryDb<{ revision: string }>(
        url,
        "SELECT revision FROM strata_ledger ORDER BY 1",
      );
      assert.deepEqual(ledger.map((row) => row.revision), ids.slice(0, 3));
      expectCode(r, 1, `apply (${mode} mode) behind a locked table`);
      assert.ok(r.ms < 60_000, `took ${r.ms} ms`);
      const error = parseJson(r, "apply").error;
      assert.equal(error.sqlstate, "55P03", dump(r));
      assert.ok(String(error.file).endsWith(`${ids[3]}.sql`), dump(r));
      assert.equal(error.line, 4, "the ALTER is on line 4 of its file");
      console.log(
        `  ${mode} mode: exit 1 after ${r.ms} ms, ${error.sqlstate} at line ${error.line}; ` +
          `after RESET and SET 0: lock_timeout ${seen.lock_timeout}, statement_timeout ${seen.statement_timeout}; ` +
          `hint: ${error.hint ?? "(none)"}`,
      );
      assert.ok(
        typeof error.hint === "string" && error.hint.length > 0,
        `a lock timeout comes with a hint (what holds the lock, or raise --lock-wait)\n${dump(r)}`,
      );
      assert.match(r.stderr, /hint: /, dump(r));
    },
  );
}
