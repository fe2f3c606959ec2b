/**
 * `--lock-strategy table` through PgBouncer in transaction mode, where the
 * session strategy must refuse (pooler_test.ts): many runners at once apply
 * each revision once; a runner killed mid-run is taken over only after its
 * lease expired, and the next one finishes the history.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import postgres from "postgres";
import {
  advisoryLocks,
  queryDb,
  revId,
  revisionText,
  run,
  serverDirTest,
  spawnStrata,
  startPgbouncer,
  waitFor,
  waitForQuery,
  writeMigration,
} from "./support.ts";

async function writeLine(dir: string, count: number, extra: (i: number) => string = () => "") {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const id = revId(i, `leased${i}`);
    await writeMigration(
      join(dir, "migrations"),
      id,
      revisionText(
        `CREATE TABLE l_${i} (id int PRIMARY KEY);\nINSERT INTO l_${i} VALUES (${i});${extra(i)}`,
        `DROP TABLE l_${i};`,
      ),
    );
    ids.push(id);
  }
  return ids;
}

/** How often each revision was applied, by the journal, and the ledger's revisions. */
async function applied(url: string) {
  const journal = await queryDb<{ revision: string; n: number }>(
    url,
    `SELECT revision, count(*)::int AS n FROM strata_journal
      WHERE action = 'upgrade' GROUP BY revision ORDER BY revision`,
  );
  const ledger = await queryDb<{ revision: string }>(
    url,
    `SELECT revision FROM strata_ledger ORDER BY revision`,
  );
  return { journal, ledger: ledger.map((row) => row.revision) };
}

async function lockRows(url: string) {
  return await queryDb<
    { holder: string | null; pid: number | null; acquired_at: Date; expires_at: Date }
  >(url, `SELECT holder, pid, acquired_at, expires_at FROM strata_ledger_lock`);
}

serverDirTest(
  "table lock through PgBouncer (transaction mode): 10 runners at once, each revision applied once, no lock left",
  async (dir, url) => {
    const ids = await writeLine(dir, 6, () => "\nSELECT pg_sleep(0.05);");
    const bouncer = await startPgbouncer({ default_pool_size: 3 });
    try {
      const results = await Promise.all(
        Array.from(
          { length: 10 },
          () =>
            run(["apply", "--json", "--lock-strategy", "table", "--statement-timeout", "60s"], {
              cwd: dir,
              env: { DATABASE_URL: bouncer.via(url) },
              limitMs: 300_000,
            }),
        ),
      );
      const problems = results.flatMap((r, i) =>
        r.code === 0 ? [] : [`runner ${i}: exit ${r.code}: ${r.stderr}`]
      );
      assert.deepEqual(problems, [], "every runner exits 0");
      const steps = results.map((r) => JSON.parse(r.stdout).steps.length as number);
      assert.equal(steps.reduce((a, b) => a + b, 0), ids.length, `steps per runner: ${steps}`);
      const { journal, ledger } = await applied(url);
      assert.deepEqual(ledger, ids);
      assert.deepEqual(journal, ids.map((revision) => ({ revision, n: 1 })));
      const rows = await lockRows(url);
      assert.equal(rows.length, 1, "one lock row for the one ledger");
      assert.equal(rows[0].holder, null, "the lock row is released");
      assert.deepEqual(await advisoryLocks(url), [], "no advisory lock on a pooled connection");
      console.log(`  steps per runner: ${steps.join(",")}`);
    } finally {
      await bouncer.stop();
    }
  },
);

serverDirTest(
  "table lock through PgBouncer: a runner killed mid-run is taken over only after its lease expired, and the next one finishes",
  async (dir, url) => {
    await queryDb(url, `CREATE TABLE gate (id int)`);
    // Revision 2 reads a table the test holds locked: the runner is mid-run, holding the lease.
    const ids = await writeLine(dir, 4, (i) => i === 2 ? "\nSELECT count(*) FROM gate;" : "");
    const gate = postgres(url, { max: 1, onnotice: () => {} });
    const bouncer = await startPgbouncer({ default_pool_size: 3 });
    try {
      await gate.unsafe(`BEGIN; LOCK TABLE gate IN ACCESS EXCLUSIVE MODE`);
      const env = { DATABASE_URL: bouncer.via(url), NO_COLOR: "1" };
      const lease = ["--lock-strategy", "table", "--lock-lease", "3s"];
      const first = spawnStrata(["apply", ...lease], dir, env);
      await first.waitForStdout(`applying ${ids[2]}`, 90_000);
      await waitForQuery(url, "FROM gate", 90_000);
      const [held] = await lockRows(url);
      assert.equal(held.pid, first.pid, "the first runner holds the lease");
      first.kill("SIGKILL");
      const killed = await first.finish();
      assert.equal(killed.signal, "SIGKILL");
      // PgBouncer closes the dead client's server connection; the server ends its backend
      // (client_connection_check_interval). Only then is the gate opened.
      await waitFor("the killed runner's backend to go", async () => {
        const rows = await queryDb(
          url,
          `SELECT 1 FROM pg_stat_activity WHERE datname = current_database()
              AND position('FROM gate' in query) > 0 AND state = 'active'
              AND pid <> pg_backend_pid()`,
        );
        return rows.length === 0;
      }, 60_000);
      const [dead] = await lockRows(url);
      assert.equal(dead.pid, first.pid, "the dead runner's row is still there");
      assert.notEqual(dead.holder, null, "and still held: its lease has to expire");
      await gate.unsafe(`COMMIT`);

      const second = await run(["apply", "--json", ...lease, "--lock-timeout", "120s"], {
        cwd: dir,
        env: { DATABASE_URL: bouncer.via(url) },
        limitMs: 180_000,
      });
      assert.equal(second.code, 0, second.stderr);
      const [after] = await lockRows(url);
      assert.equal(after.holder, null, "released at the end");
      assert.ok(
        new Date(after.acquired_at).getTime() >= new Date(dead.expires_at).getTime(),
        `taken over at ${new Date(after.acquired_at).toISOString()}, ` +
          `not before the dead lease expired at ${new Date(dead.expires_at).toISOString()}`,
      );
      const { journal, ledger } = await applied(url);
      assert.deepEqual(ledger, ids, "the history is finished");
      assert.deepEqual(journal, ids.map((revision) => ({ revision, n: 1 })), "each once");
      assert.deepEqual(
        JSON.parse(second.stdout).steps.map((s: { revision: string }) => s.revision),
        ids.slice(2),
        "the second runner applied what the first had not committed",
      );
    } finally {
      await gate.end({ timeout: 1 }).catch(() => {});
      await bouncer.stop();
    }
  },
);

serverDirTest(
  "table lock through PgBouncer: --statement-timeout holds for each revision, CREATE INDEX CONCURRENTLY runs, and no setting stays on the pooled connection",
  async (dir, url) => {
    const migrations = join(dir, "migrations");
    await writeMigration(
      migrations,
      revId(0, "table"),
      revisionText(`CREATE TABLE c (id int);`, `DROP TABLE c;`),
    );
    await writeMigration(
      migrations,
      revId(1, "concurrently"),
      revisionText(`CREATE INDEX CONCURRENTLY c_id ON c (id);`, `DROP INDEX c_id;`, {
        transaction: "none",
      }),
    );
    // One server connection: whatever strata left in a session, the next client gets.
    const bouncer = await startPgbouncer({ default_pool_size: 1 });
    try {
      const env = { DATABASE_URL: bouncer.via(url) };
      const args = ["apply", "--json", "--lock-strategy", "table", "--statement-timeout", "2s"];
      const ok = await run([...args, "--lock-wait", "1s"], { cwd: dir, env, limitMs: 120_000 });
      assert.equal(ok.code, 0, ok.stderr);
      assert.equal(JSON.parse(ok.stdout).steps.length, 2);
      const [{ valid }] = await queryDb<{ valid: boolean }>(
        url,
        `SELECT indisvalid AS valid FROM pg_index WHERE indexrelid = 'c_id'::regclass`,
      );
      assert.equal(valid, true);

      await writeMigration(
        migrations,
        revId(2, "slow"),
        revisionText(`SELECT pg_sleep(30);`, `SELECT 1;`),
      );
      const slow = await run(args, { cwd: dir, env, limitMs: 120_000 });
      assert.equal(slow.code, 1, `a revision past --statement-timeout fails\n${slow.stderr}`);
      assert.equal(JSON.parse(slow.stdout).error.sqlstate, "57014");

      const pooled = postgres(bouncer.via(url), { max: 1, prepare: false, onnotice: () => {} });
      try {
        const [settings] = await pooled.unsafe(
          `SELECT current_setting('statement_timeout') AS statement,
                  current_setting('lock_timeout') AS lock,
                  current_setting('client_connection_check_interval') AS check`,
        );
        assert.deepEqual(
          { ...settings },
          { statement: "0", lock: "0", check: "0" },
          "nothing strata set stays on the pooled server connection",
        );
      } finally {
        await pooled.end({ timeout: 1 });
      }
    } finally {
      await bouncer.stop();
    }
  },
);
