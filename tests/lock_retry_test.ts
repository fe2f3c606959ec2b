/**
 * --lock-retries: a revision that times out waiting for a lock is tried
 * again after a backoff, against a real session holding the lock.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import postgres from "postgres";
import {
  dump,
  embeddedTest,
  expectExit,
  parseJson,
  queryDb,
  serverDirTest,
  spawnStrata,
  strata,
  writeMigration,
} from "./helpers.ts";
import { backoffMs, triesFromJournal, withLockRetries } from "../lib/lock_retry.ts";
import { openEngine } from "../lib/db/engine.ts";
import { StrataError } from "../lib/errors.ts";
import { ledgerNames, openLedger, readJournal } from "../lib/ledger.ts";
import { parseMigration } from "../lib/migration_file.ts";
import { Output } from "../lib/output.ts";
import { resolveConfig } from "../lib/config.ts";
import type { JournalRow } from "../lib/ledger.ts";

/** A second session holding ACCESS EXCLUSIVE on `table` in an open transaction until `release`. */
async function holdLock(
  url: string,
  table: string,
  lock = `LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`,
) {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  let release!: () => void;
  const released = new Promise<void>((resolve) => release = resolve);
  let pid!: number;
  let locked!: () => void;
  const isLocked = new Promise<void>((resolve) => locked = resolve);
  const done = sql.begin(async (tx) => {
    // The lock last: pg_stat_activity shows a session's latest query.
    pid = (await tx.unsafe("SELECT pg_backend_pid() AS pid"))[0].pid as number;
    await tx.unsafe(lock);
    locked();
    await released;
  });
  await isLocked;
  return {
    pid,
    async release() {
      release();
      await done;
      await sql.end();
    },
  };
}

async function project(dir: string, url: string): Promise<Record<string, string>> {
  const migrations = join(dir, "migrations");
  await writeMigration(migrations, "20260101_0000_t", "-- up\nCREATE TABLE t (id int);\n");
  const env = { DATABASE_URL: url };
  expectExit(await strata(["apply"], { cwd: dir, env }), 0, "first apply");
  await writeMigration(
    migrations,
    "20260101_0001_alter",
    "-- up\nALTER TABLE t ADD COLUMN b int;\n",
  );
  return env;
}

serverDirTest(
  "a revision blocked by a held lock gets through on its third try",
  async (dir, url) => {
    const env = await project(dir, url);
    const holder = await holdLock(url, "t");
    let released = false;
    try {
      const run = spawnStrata(
        ["apply", "--json", "--lock-wait", "200ms", "--lock-retries", "5"],
        dir,
        env,
      );
      await run.waitForStderr("lock not available on table t; try 2 of 6 in", 60_000);
      await run.waitForStderr("lock not available on table t; try 3 of 6 in", 60_000);
      await holder.release();
      released = true;
      const r = await run.finish();
      expectExit(r, 0, "apply after the lock is released");
      const doc = JSON.parse(r.stdout);
      assert.deepEqual(doc.steps.map((s: { tries: number }) => s.tries), [3], dump(r));
    } finally {
      if (!released) await holder.release();
    }
    const status = await strata(["status", "--json"], { cwd: dir, env });
    assert.equal(parseJson(status, "status").tries["20260101_0001_alter"], 3, dump(status));
    assert.equal(parseJson(status, "status").tries["20260101_0000_t"], 1, dump(status));
    // The journal records each failed try and who held the lock.
    const retries = await queryDb<{ detail: string }>(
      url,
      "SELECT detail FROM strata_journal WHERE action = 'retry' ORDER BY id",
    );
    assert.equal(retries.length, 2);
    assert.match(
      retries[0].detail,
      new RegExp(`try 1 of 6 failed: .*by pid ${holder.pid}: LOCK TABLE t`),
    );
    const human = await strata(["status"], { cwd: dir, env });
    assert.match(
      human.stdout,
      /Took 3 tries \(lock not available\): 20260101_0001_alter/,
      dump(human),
    );
  },
);

serverDirTest(
  "with --lock-retries 0 a lock timeout names the holder's pid and query",
  async (dir, url) => {
    const env = await project(dir, url);
    const holder = await holdLock(url, "t");
    let r;
    try {
      r = await strata(["apply", "--lock-wait", "200ms", "--lock-retries", "0"], { cwd: dir, env });
    } finally {
      await holder.release();
    }
    expectExit(r, 1, "apply against a held lock");
    assert.match(
      r.stderr,
      new RegExp(`table t held \\(AccessExclusiveLock\\) by pid ${holder.pid}`),
      dump(r),
    );
    assert.match(r.stderr, /LOCK TABLE t IN ACCESS EXCLUSIVE MODE/, dump(r));
    assert.match(r.stderr, /--lock-retries/, dump(r));
    assert.doesNotMatch(r.stderr, /try 2 of/, dump(r));
    // Nothing applied: the revision is still pending and runs once the lock is free.
    expectExit(
      await strata(["apply", "--lock-wait", "200ms"], { cwd: dir, env }),
      0,
      "apply again",
    );
  },
);

serverDirTest("none mode retries only the statement that timed out", async (dir, url) => {
  const env = await project(dir, url);
  await writeMigration(
    join(dir, "migrations"),
    "20260101_0001_alter",
    "-- transaction: none\n-- up\nCREATE TABLE u (id int);\nALTER TABLE t ADD COLUMN b int;\n",
  );
  const holder = await holdLock(url, "t");
  let released = false;
  try {
    const run = spawnStrata(["apply", "--lock-wait", "200ms", "--lock-retries", "3"], dir, env);
    await run.waitForStderr("lock not available on table t; try 2 of 4 in", 60_000);
    await holder.release();
    released = true;
    const r = await run.finish();
    // CREATE TABLE u ran once: a retry of the whole revision would fail on it.
    expectExit(r, 0, "none-mode apply after the lock is released");
  } finally {
    if (!released) await holder.release();
  }
  const status = await strata(["status", "--json"], { cwd: dir, env });
  assert.ok(parseJson(status, "status").tries["20260101_0001_alter"] >= 2, dump(status));
});

serverDirTest(
  "a CONCURRENTLY build that left an INVALID index is not tried again",
  async (dir, url) => {
    const env = await project(dir, url);
    await writeMigration(
      join(dir, "migrations"),
      "20260101_0001_alter",
      "-- transaction: none\n-- up\nCREATE INDEX CONCURRENTLY t_id ON t (id);\n",
    );
    // A writer in an open transaction: the build creates its index, then times out waiting for it.
    const holder = await holdLock(url, "t", "INSERT INTO t VALUES (1)");
    let r;
    try {
      r = await strata(["apply", "--lock-wait", "200ms", "--lock-retries", "3"], { cwd: dir, env });
    } finally {
      await holder.release();
    }
    expectExit(r, 1, "apply whose index build timed out");
    assert.match(
      r.stderr,
      /not tried again: the statement left the invalid index public\.t_id/,
      dump(r),
    );
    assert.doesNotMatch(r.stderr, /try 2 of/, dump(r));
    assert.match(r.stderr, new RegExp(`by pid ${holder.pid}: INSERT INTO t`), dump(r));
  },
);

embeddedTest("the embedded engine accepts --lock-retries", async (dir, db) => {
  await writeMigration(
    join(dir, "migrations"),
    "20260101_0000_t",
    "-- up\nCREATE TABLE t (id int);\n",
  );
  const env = { DATABASE_URL: db };
  const r = await strata(["apply", "--json", "--lock-wait", "1s", "--lock-retries", "3"], {
    cwd: dir,
    env,
  });
  expectExit(r, 0, "apply with --lock-retries");
  assert.deepEqual(parseJson(r, "apply").steps.map((s: { tries: number }) => s.tries), [1]);
  const status = await strata(["status", "--json"], { cwd: dir, env });
  assert.deepEqual(parseJson(status, "status").tries, { "20260101_0000_t": 1 });
});

Deno.test("backoff starts near 500 ms, doubles, and stops at 10 s, with jitter", () => {
  assert.deepEqual([1, 2, 3, 4, 5, 6, 10].map((n) => backoffMs(n, () => 0)), [
    500,
    1000,
    2000,
    4000,
    8000,
    10_000,
    10_000,
  ]);
  assert.equal(backoffMs(1, () => 0.999), 625);
  assert.equal(backoffMs(5, () => 0.999), 9998);
  assert.equal(backoffMs(6, () => 0.999), 10_000);
});

Deno.test("tries come from the retry rows just before the last upgrade", () => {
  let id = 0;
  const row = (action: string, revision: string): JournalRow =>
    ({
      id: ++id,
      at: "",
      action,
      revision,
      checksum: null,
      actor: "",
      duration_ms: 0,
      detail: null,
    }) as unknown as JournalRow;
  // Oldest first, as written; the journal reads newest first.
  const written = [
    row("upgrade", "a"),
    row("failure", "b"),
    row("retry", "b"),
    row("failure", "b"),
    row("retry", "b"),
    row("upgrade", "b"),
    row("failure", "c"),
    row("retry", "c"),
    row("failure", "c"),
    row("upgrade", "c"),
    row("start", "d"),
    row("retry", "d"),
    row("upgrade", "d"),
    row("failure", "e"),
  ];
  assert.deepEqual(triesFromJournal(written.reverse()), { a: 1, b: 3, c: 1, d: 2 });
});

Deno.test("lockRetries comes from the flag, the environment or strata.json, and must be a count", async () => {
  assert.equal((await resolveConfig({ "lock-retries": "4" }, {}, null)).lockRetries, 4);
  assert.equal((await resolveConfig({}, { STRATA_LOCK_RETRIES: "2" }, null)).lockRetries, 2);
  const dir = await Deno.makeTempDir();
  try {
    const file = join(dir, "strata.json");
    await Deno.writeTextFile(file, JSON.stringify({ lockRetries: 7 }));
    assert.equal((await resolveConfig({}, {}, file)).lockRetries, 7);
    assert.equal((await resolveConfig({}, {}, null)).lockRetries, 0);
    await assert.rejects(resolveConfig({ "lock-retries": "-1" }, {}, null), /whole number/);
    await assert.rejects(resolveConfig({ "lock-retries": "many" }, {}, null), /whole number/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "[embedded] the backoff is injected: waits drawn, printed and journaled, no real sleep",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const engine = await openEngine("pglite:memory", {
      connectTimeoutMs: 5000,
      statementTimeoutMs: 0,
      lockWaitMs: 0,
      lockTimeoutMs: 5000,
    });
    try {
      const names = ledgerNames();
      await openLedger(engine, names);
      const file = parseMigration("-- up\nALTER TABLE t ADD b int;\n", "m/x.sql", "x", null);
      const warnings: string[] = [];
      const out = new Output({
        json: false,
        verbose: false,
        color: false,
        capture: { log: (level, text) => level === "warn" && warnings.push(text) },
      });
      const waits: number[] = [];
      let calls = 0;
      const timeout = () =>
        new StrataError("MIGRATION_FAILED", "canceling statement due to lock timeout", {
          details: { sqlstate: "55P03" },
        });
      const policy = {
        retries: 3,
        random: () => 0.2,
        sleep: (ms: number) => {
          waits.push(ms);
          return Promise.resolve();
        },
      };
      const tries = await withLockRetries(
        engine,
        names,
        file,
        "ALTER TABLE t",
        policy,
        out,
        true,
        () => {
          if (++calls < 3) throw timeout();
          return Promise.resolve();
        },
      );
      assert.equal(tries, 3);
      assert.deepEqual(waits, [525, 1050]);
      assert.deepEqual(warnings.map((w) => w.replace(/^warning: /, "")), [
        "x: lock not available on a table; try 2 of 4 in 0.5s",
        "x: lock not available on a table; try 3 of 4 in 1.1s",
      ]);
      const journal = await readJournal(engine, names);
      assert.deepEqual(journal.map((row) => row.action), ["retry", "retry"]);
      // Out of tries: the last failure is thrown with the count and the hint.
      calls = 0;
      const error = await withLockRetries(
        engine,
        names,
        file,
        "ALTER TABLE t",
        { ...policy, retries: 1 },
        out,
        true,
        () => Promise.reject(timeout()),
      ).catch((e) => e);
      assert.ok(error instanceof StrataError, String(error));
      assert.equal(error.details.tries, 2);
      assert.match(error.message, /after 2 tries/);
      assert.match(error.hint ?? "", /--lock-wait.*--lock-retries/);
      // Other errors are not retried.
      const other = new StrataError("MIGRATION_FAILED", "syntax", {
        details: { sqlstate: "42601" },
      });
      waits.length = 0;
      const thrown = await withLockRetries(
        engine,
        names,
        file,
        "",
        policy,
        out,
        true,
        () => Promise.reject(other),
      ).catch((e) => e);
      assert.equal(thrown, other);
      assert.deepEqual(waits, []);
    } finally {
      await engine.close();
    }
  },
});
