/**
 * Reliability scenarios 2 and 17: the migration lock. On the server a session
 * holding strata's advisory lock makes `apply --lock-timeout 2s` exit 4 naming
 * the holder; on the embedded engine the folder's lock file keeps a second
 * process out while the first lives, and is taken over once it is killed.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  dump,
  embeddedTest,
  expectCode,
  holdMigrationLock,
  type Json,
  parseJson,
  queryDb,
  revId,
  revisionText,
  run,
  serverDirTest,
  spawnStrata,
  waitFor,
  writeMigration,
} from "./support.ts";

serverDirTest(
  "reliability 2 (lock timeout): a session holds the lock; apply --lock-timeout 2s exits 4 within ~2 s naming pid, application and since",
  async (dir, url) => {
    const id = revId(0, "guarded");
    await writeMigration(
      join(dir, "migrations"),
      id,
      revisionText("CREATE TABLE guarded (id int);", "DROP TABLE guarded;"),
    );
    const env = { DATABASE_URL: url };
    const holder = await holdMigrationLock(url, "reliability-holder");
    try {
      const r = await run(["apply", "--json", "--lock-timeout", "2s"], { cwd: dir, env });
      expectCode(r, 4, "apply while another session holds the lock");
      assert.ok(r.ms >= 1900, `gave up after ${r.ms} ms, before the 2 s lock timeout`);
      // A bound for a hang only: a busy machine may take long to start the process.
      assert.ok(r.ms < 60_000, `took ${r.ms} ms to give up (lock timeout 2 s)`);
      const error = parseJson(r, "apply --json").error;
      assert.equal(error.code, "LOCK_TIMEOUT");
      assert.equal(error.pid, holder.pid, dump(r));
      assert.equal(error.applicationName, "reliability-holder", dump(r));
      assert.equal(error.since, holder.since.toISOString(), dump(r));

      const human = await run(["apply", "--lock-timeout", "2s"], { cwd: dir, env });
      expectCode(human, 4, "apply (human output)");
      for (const part of [String(holder.pid), "reliability-holder", holder.since.toISOString()]) {
        assert.ok(human.stderr.includes(part), `stderr names ${part}\n${dump(human)}`);
      }
      const [state] = await queryDb<{ ledger: string | null; table: string | null }>(
        url,
        `SELECT to_regclass('strata_ledger')::text AS ledger, to_regclass('guarded')::text AS table`,
      );
      assert.deepEqual(state, { ledger: null, table: null }, "nothing changed without the lock");
      console.log(
        `  held by pid ${holder.pid}: exit 4 after ${r.ms} ms (--json) and ${human.ms} ms (human)`,
      );
    } finally {
      await holder.release();
    }
    const after = await run(["apply", "--json", "--lock-timeout", "2s"], { cwd: dir, env });
    expectCode(after, 0, "apply once the lock is free");
    assert.deepEqual(parseJson(after, "apply").steps.map((s: Json) => s.revision), [id]);
  },
);

// ---------------------------------------------------------------------------
// Scenario 17: the embedded engine's folder lock

async function writeSlowLine(dir: string, seconds: number): Promise<string[]> {
  const migrations = join(dir, "migrations");
  const ids = [revId(0, "first"), revId(1, "slow"), revId(2, "third")];
  await writeMigration(
    migrations,
    ids[0],
    revisionText("CREATE TABLE e_first (id int);", "DROP TABLE e_first;"),
  );
  await writeMigration(
    migrations,
    ids[1],
    revisionText(
      `CREATE TABLE e_slow (id int);\nSELECT pg_sleep(${seconds});\nINSERT INTO e_slow VALUES (1);`,
      "DROP TABLE e_slow;",
    ),
  );
  await writeMigration(
    migrations,
    ids[2],
    revisionText("INSERT INTO e_slow VALUES (3);", "DELETE FROM e_slow WHERE id = 3;"),
  );
  return ids;
}

/** The pid recorded in the folder's lock file, once it is the expected one. */
async function lockFileNames(db: string, pid: number): Promise<void> {
  const path = join(db.slice("pglite:".length), "strata.lock");
  await waitFor(`strata.lock to name pid ${pid}`, async () => {
    try {
      return JSON.parse(await Deno.readTextFile(path)).pid === pid;
    } catch {
      return false;
    }
  }, 30_000);
}

embeddedTest(
  "reliability 17a (embedded exclusivity): a second apply on the same pglite folder waits, then exits 4 naming the first's pid",
  async (dir, db) => {
    // The embedded engine cannot be held from outside: the holder sleeps far longer than the
    // test needs, and is killed once the second run has been refused.
    const ids = await writeSlowLine(dir, 600);
    const env = { DATABASE_URL: db };
    const first = spawnStrata(["apply"], dir, env);
    try {
      await lockFileNames(db, first.pid);
      await first.waitForStdout(`↑ ${ids[0]}`, 90_000);
      const second = await run(["apply", "--json", "--lock-timeout", "1s"], { cwd: dir, env });
      expectCode(second, 4, "the second apply");
      assert.ok(second.ms >= 1000, `the second apply waited only ${second.ms} ms`);
      const error = parseJson(second, "second apply").error;
      assert.equal(error.code, "LOCK_TIMEOUT");
      assert.equal(error.pid, first.pid, dump(second));
      assert.ok(second.stderr.includes(String(first.pid)), dump(second));
      console.log(`  second process: exit 4 after ${second.ms} ms naming pid ${first.pid}`);
    } finally {
      first.kill("SIGKILL");
      await first.finish();
    }
  },
);

embeddedTest(
  "reliability 17b (embedded takeover): after kill -9 of the holder the next run takes over and the folder opens cleanly",
  async (dir, db) => {
    const ids = await writeSlowLine(dir, 30);
    const env = { DATABASE_URL: db };
    const victim = spawnStrata(["apply"], dir, env);
    try {
      await lockFileNames(db, victim.pid);
      // Killed once the first revision is in: wherever the second one stands then.
      await victim.waitForStdout(`↑ ${ids[0]}`, 90_000);
    } finally {
      victim.kill("SIGKILL");
    }
    const killed = await victim.finish();
    assert.equal(killed.signal, "SIGKILL", dump(killed));

    // Not applied, so it may change: the re-run need not sleep 30 s again.
    await Deno.writeTextFile(
      join(dir, "migrations", `${ids[1]}.sql`),
      revisionText(
        "CREATE TABLE e_slow (id int);\nINSERT INTO e_slow VALUES (1);",
        "DROP TABLE e_slow;",
      ),
    );
    const next = await run(["apply", "--json", "--lock-timeout", "120s"], { cwd: dir, env });
    expectCode(next, 0, "the run after the kill");
    assert.deepEqual(
      parseJson(next, "apply").steps.map((s: Json) => s.revision),
      [ids[1], ids[2]],
      "the killed revision had not committed; the next run applies it and the rest",
    );
    const status = await run(["status", "--json"], { cwd: dir, env });
    expectCode(status, 0, "status");
    const doc = parseJson(status, "status");
    assert.equal(doc.applied, 3);
    assert.deepEqual(doc.pending, []);
    const down = await run(["downgrade", "base", "--json"], { cwd: dir, env });
    expectCode(down, 0, "downgrade base: the folder's data is sound");
    const up = await run(["apply", "--json"], { cwd: dir, env });
    expectCode(up, 0, "apply again");
    console.log(
      `  holder pid ${victim.pid} killed in revision 2; takeover run: exit 0 in ${next.ms} ms; ` +
        `downgrade base + apply afterwards: exit 0`,
    );
  },
);
