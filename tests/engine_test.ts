/**
 * The engine contract, written once and run on every engine: the embedded
 * engine (`pglite:memory`, and a `pglite:` folder where locking or
 * persistence matters) and the server (a scratch database per case). Then
 * the cases only one engine has: the advisory lock and connect errors on the
 * server, the folder lock on the embedded engine.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { type Engine, type EngineOptions, openEngine, SqlError } from "../lib/db/engine.ts";
import { StrataError } from "../lib/errors.ts";
import { scratchDir, serverTest, waitFor } from "./helpers.ts";
import { LOCK_FILE } from "../lib/db/embedded.ts";

const OPTIONS: EngineOptions = {
  connectTimeoutMs: 5000,
  statementTimeoutMs: 12345,
  lockWaitMs: 2345,
  lockTimeoutMs: 2000,
};

type Case = (engine: Engine) => Promise<void>;

/** Engines a case closed itself, so the harness does not close them twice. */
const closedByCase = new WeakSet<Engine>();

async function withEngine(url: string, options: EngineOptions, fn: Case): Promise<void> {
  const engine = await openEngine(url, options);
  try {
    await fn(engine);
  } finally {
    if (!closedByCase.has(engine)) await engine.close();
  }
}

/**
 * Register one contract case on every engine: `pglite:memory` always, a
 * `pglite:` folder when `folder` is set, and the server (skipped visibly
 * without one, failing with STRATA_REQUIRE_SERVER=1).
 */
function contract(name: string, fn: Case, options: { folder?: boolean } = {}): void {
  Deno.test(`[pglite:memory] ${name}`, () => withEngine("pglite:memory", OPTIONS, fn));
  if (options.folder) {
    Deno.test(`[pglite:folder] ${name}`, async () => {
      const dir = await scratchDir();
      try {
        await withEngine(`pglite:${dir.path}`, OPTIONS, fn);
      } finally {
        await dir.remove();
      }
    });
  }
  serverTest(name, (url) => withEngine(url, OPTIONS, fn));
}

async function regclass(engine: Engine, name: string): Promise<string | null> {
  const [row] = await engine.query<{ r: string | null }>("SELECT to_regclass($1)::text AS r", [
    name,
  ]);
  return row.r;
}

async function settings(engine: Engine): Promise<{ statement: string; lock: string }> {
  const [row] = await engine.query<{ statement: string; lock: string }>(
    `SELECT current_setting('statement_timeout') AS statement,
            current_setting('lock_timeout') AS lock`,
  );
  return row;
}

/** The rejection of `promise`, which must reject. */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.fail("expected the promise to reject");
}

function assertStrataError(error: unknown, code: string): asserts error is StrataError {
  assert.ok(error instanceof StrataError, `expected a StrataError, got ${error}`);
  assert.equal(error.code, code, `code of: ${error.message}`);
}

// ---------------------------------------------------------------------------
// The contract: every engine.

contract("exec runs multi-statement text as one implicit transaction", async (engine) => {
  await engine.exec("CREATE TABLE kept (id int); INSERT INTO kept VALUES (1), (2)");
  const [{ n }] = await engine.query<{ n: number }>("SELECT count(*)::int AS n FROM kept");
  assert.equal(n, 2);

  const error = await rejection(
    engine.exec(
      "CREATE TABLE lost (id int);\nINSERT INTO lost VALUES (1);\nINSERT INTO kept VALUES (3);\n" +
        "SELECT 1 / 0;",
    ),
  );
  assert.ok(error instanceof SqlError, `expected SqlError, got ${error}`);
  assert.equal(error.sqlstate, "22012");
  assert.equal(await regclass(engine, "lost"), null, "the failing text rolled back as a whole");
  const [{ m }] = await engine.query<{ m: number }>("SELECT count(*)::int AS m FROM kept");
  assert.equal(m, 2, "the insert before the failing statement rolled back");

  // The session is usable again: no aborted transaction is left behind.
  await engine.exec("INSERT INTO kept VALUES (4)");
});

contract("exec rejects with a SqlError carrying sqlstate, message and position", async (engine) => {
  // Characters, not UTF-16 units or bytes: PostgreSQL counts code points.
  const text = "SELECT 1;\nSELECT 'äö 😀' AS x,\n  no_such_column;";
  const error = await rejection(engine.exec(text));
  assert.ok(error instanceof SqlError, `expected SqlError, got ${error}`);
  assert.equal(error.name, "SqlError");
  assert.equal(error.sqlstate, "42703");
  assert.match(error.message, /column "no_such_column" does not exist/);
  assert.equal(error.position, [...text.slice(0, text.indexOf("no_such_column"))].length + 1);

  const syntax = await rejection(engine.exec("SELEC 1"));
  assert.ok(syntax instanceof SqlError);
  assert.equal(syntax.sqlstate, "42601");
  assert.equal(syntax.position, 1);

  await engine.exec("CREATE TABLE u (id int PRIMARY KEY); INSERT INTO u VALUES (1)");
  const duplicate = await rejection(engine.exec("INSERT INTO u VALUES (1)"));
  assert.ok(duplicate instanceof SqlError);
  assert.equal(duplicate.sqlstate, "23505");
  assert.match(duplicate.detail ?? "", /Key \(id\)=\(1\) already exists/);

  const noFunction = await rejection(engine.exec("SELECT no_such_function(1)"));
  assert.ok(noFunction instanceof SqlError);
  assert.equal(noFunction.sqlstate, "42883");
  assert.match(noFunction.hint ?? "", /No function matches/);
  assert.equal(noFunction.position, 8);
});

contract("query binds $1 parameters and returns rows, [] when none", async (engine) => {
  assert.deepEqual(
    await engine.query("SELECT $1::int + 1 AS n, $2::text AS s, $3::text IS NULL AS missing", [
      41,
      "it's ü",
      null,
    ]),
    [{ n: 42, s: "it's ü", missing: true }],
  );
  await engine.exec("CREATE TABLE t (id int, name text); INSERT INTO t VALUES (1, 'a'), (2, 'b')");
  assert.deepEqual(
    await engine.query("SELECT id, name FROM t WHERE id >= $1 ORDER BY id", [1]),
    [{ id: 1, name: "a" }, { id: 2, name: "b" }],
  );
  assert.deepEqual(await engine.query("SELECT id FROM t WHERE name = $1", ["zzz"]), []);
  assert.deepEqual(await engine.query("SELECT 1 AS one WHERE false"), []);
  // A statement without rows also gives [].
  assert.deepEqual(await engine.query("UPDATE t SET name = $1 WHERE id = $2", ["c", 2]), []);
  assert.deepEqual(await engine.query("SELECT name FROM t WHERE id = 2"), [{ name: "c" }]);

  const error = await rejection(engine.query("SELECT id FROM t WHERE nope = $1", [1]));
  assert.ok(error instanceof SqlError, `expected SqlError, got ${error}`);
  assert.equal(error.sqlstate, "42703");
});

contract("lock then unlock, and lock again", async (engine) => {
  const held = async () => {
    const [{ n }] = await engine.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_locks
        WHERE locktype = 'advisory' AND granted AND pid = pg_backend_pid()`,
    );
    return n;
  };
  await engine.lock(null, "strata_ledger");
  if (engine.kind === "server") assert.equal(await held(), 1, "an advisory lock is held");
  await engine.unlock();
  if (engine.kind === "server") assert.equal(await held(), 0, "unlock released it");
  // unlock without a lock is harmless
  await engine.unlock();
  await engine.lock("public", "strata_ledger");
  await engine.exec("CREATE TABLE under_lock (id int)");
  await engine.unlock();
  assert.notEqual(await regclass(engine, "under_lock"), null);
}, { folder: true });

contract("sessionResetSql restores statement_timeout and lock_timeout", async (engine) => {
  const configured = { statement: "12345ms", lock: "2345ms" };
  assert.deepEqual(await settings(engine), configured, "the session starts with the options");

  await engine.exec("SET lock_timeout = 0; SET statement_timeout = 0");
  assert.deepEqual(await settings(engine), { statement: "0", lock: "0" });
  await engine.exec(engine.sessionResetSql);
  assert.deepEqual(await settings(engine), configured);

  await engine.exec("RESET lock_timeout; RESET statement_timeout");
  await engine.exec(engine.sessionResetSql);
  assert.deepEqual(await settings(engine), configured);

  await engine.exec("RESET ALL");
  await engine.exec(engine.sessionResetSql);
  assert.deepEqual(await settings(engine), configured);
});

contract("close ends the session", async (engine) => {
  await engine.query("SELECT 1");
  closedByCase.add(engine);
  await engine.close();
  await assert.rejects(engine.query("SELECT 1"));
  await assert.rejects(engine.exec("SELECT 1"));
}, { folder: true });

// ---------------------------------------------------------------------------
// The server only: the advisory lock and connect errors.

const SILENT: EngineOptions = { ...OPTIONS, connectTimeoutMs: 2000 };
/** A bound for a hang, never a timing assertion: on a busy machine every wait stretches. */
const HANG_MS = 60_000;

async function backendPid(engine: Engine): Promise<number> {
  const [{ pid }] = await engine.query<{ pid: number }>("SELECT pg_backend_pid() AS pid");
  return pid;
}

serverTest("lock held by another session: LOCK_TIMEOUT naming the holder", async (url) => {
  const holder = await openEngine(url, OPTIONS);
  const waiter = await openEngine(url, { ...OPTIONS, lockTimeoutMs: 500 });
  const observer = await openEngine(url, OPTIONS);
  try {
    await holder.lock(null, "strata_ledger");
    const holderPid = await backendPid(holder);

    // While the waiter tries, it must poll (pg_try_advisory_lock), never queue
    // in pg_advisory_lock: no advisory lock request may be waiting.
    let waitingSeen = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const [{ n }] = await observer.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted",
        );
        waitingSeen += n;
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    })();

    const started = performance.now();
    // Schema null means the first schema on the search path: the same key as "public".
    const error = await rejection(waiter.lock("public", "strata_ledger"));
    const elapsed = performance.now() - started;
    sampling = false;
    await sampler;

    assertStrataError(error, "LOCK_TIMEOUT");
    assert.ok(elapsed >= 450 && elapsed < HANG_MS, `gave up after ${Math.round(elapsed)} ms`);
    assert.equal(error.details?.pid, holderPid);
    assert.equal(error.details?.applicationName, "strata");
    assert.ok(error.details?.since, "names since when the holder is connected");
    assert.match(error.message, new RegExp(`\\b${holderPid}\\b`));
    assert.match(error.message, /"strata"/);
    assert.equal(waitingSeen, 0, "the waiter never blocked in pg_advisory_lock");

    // Another ledger table is another key.
    await waiter.lock(null, "other_ledger");
    await waiter.unlock();

    // Released: the waiter gets it.
    await holder.unlock();
    await waiter.lock(null, "strata_ledger");
    await waiter.unlock();
  } finally {
    await Promise.all([holder.close(), waiter.close(), observer.close()]);
  }
});

serverTest("a lock is freed when its engine closes, and waiters get it", async (url) => {
  const holder = await openEngine(url, OPTIONS);
  const waiter = await openEngine(url, { ...OPTIONS, lockTimeoutMs: 60_000 });
  const observer = await openEngine(url, OPTIONS);
  try {
    await holder.lock(null, "strata_ledger");
    const waiterPid = await backendPid(waiter);
    let got = false;
    const waiting = waiter.lock(null, "strata_ledger").then(() => got = true);
    // The waiter has tried (and failed) at least once: its backend ran the try-lock query.
    await waitFor("the waiter's first try", async () =>
      (await observer.query(
        "SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND query LIKE '%pg_try_advisory_lock%'",
        [waiterPid],
      )).length > 0, HANG_MS);
    assert.equal(got, false, "the waiter got a lock that was held");
    await holder.close();
    const started = performance.now();
    await waiting;
    assert.ok(performance.now() - started < HANG_MS, "the waiter got the lock once it was freed");
    await waiter.unlock();
  } finally {
    await Promise.all([holder.close(), waiter.close(), observer.close()]);
  }
});

serverTest("close ends the server session", async (url) => {
  const engine = await openEngine(url, OPTIONS);
  const observer = await openEngine(url, OPTIONS);
  try {
    const pid = await backendPid(engine);
    await engine.close();
    let gone = false;
    for (let i = 0; i < 40 && !gone; i++) {
      const rows = await observer.query("SELECT 1 FROM pg_stat_activity WHERE pid = $1", [pid]);
      gone = rows.length === 0;
      if (!gone) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.ok(gone, `backend ${pid} still runs after close`);
  } finally {
    await Promise.all([engine.close(), observer.close()]);
  }
});

const PASSWORD = "p@ss:w/rd%ü";
const ENCODED = encodeURIComponent(PASSWORD);

function assertNoPassword(error: StrataError): void {
  for (const text of [error.message, error.hint ?? "", JSON.stringify(error.details ?? {})]) {
    for (const secret of [PASSWORD, ENCODED, "w/rd", "%C3%BC"]) {
      assert.ok(!text.includes(secret), `"${secret}" appears in: ${text}`);
    }
  }
}

Deno.test("[server] connect to a closed port: CONNECT within connectTimeoutMs", async () => {
  for (
    const url of [
      "postgres://postgres@127.0.0.1:1/postgres",
      `postgres://postgres:${ENCODED}@127.0.0.1:1/postgres`,
    ]
  ) {
    const started = performance.now();
    const error = await rejection(openEngine(url, SILENT));
    const elapsed = performance.now() - started;
    assertStrataError(error, "CONNECT");
    assert.ok(elapsed < HANG_MS, `took ${Math.round(elapsed)} ms`);
    assert.match(error.message, /127\.0\.0\.1:1/);
    assert.ok(error.hint, "a hint says what to check");
    assertNoPassword(error);
  }
});

Deno.test("[server] connect to a server that never answers: CONNECT after connectTimeoutMs", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted: Deno.Conn[] = [];
  const accepting = (async () => {
    try {
      for await (const conn of listener) accepted.push(conn);
    } catch {
      // closed
    }
  })();
  try {
    const url = `postgres://postgres:${ENCODED}@127.0.0.1:${listener.addr.port}/postgres`;
    const started = performance.now();
    const error = await rejection(openEngine(url, { ...SILENT, connectTimeoutMs: 700 }));
    const elapsed = performance.now() - started;
    assertStrataError(error, "CONNECT");
    assert.ok(elapsed >= 600 && elapsed < HANG_MS, `gave up after ${Math.round(elapsed)} ms`);
    assertNoPassword(error);
  } finally {
    listener.close();
    await accepting;
    for (const conn of accepted) {
      try {
        conn.close();
      } catch {
        // already closed by the client
      }
    }
  }
});

serverTest("connect to a missing database: CONNECT, password hidden", async (url) => {
  const missing = new URL(url);
  missing.pathname = "/strata_no_such_database_x";
  for (const password of ["", ENCODED]) {
    missing.password = password;
    const started = performance.now();
    const error = await rejection(openEngine(missing.toString(), SILENT));
    assertStrataError(error, "CONNECT");
    assert.ok(performance.now() - started < HANG_MS);
    assert.match(error.message, /strata_no_such_database_x/);
    assert.match(error.message, /does not exist/);
    assertNoPassword(error);
  }

  // With trust authentication the password is ignored and the engine opens;
  // its label still hides the password.
  const withPassword = new URL(url);
  withPassword.password = ENCODED;
  const engine = await openEngine(withPassword.toString(), SILENT);
  try {
    assert.ok(!engine.label.includes(ENCODED) && !engine.label.includes(PASSWORD), engine.label);
    assert.match(engine.label, /\*\*\*/);
  } finally {
    await engine.close();
  }
});

// ---------------------------------------------------------------------------
// The embedded engine only: the folder lock and persistence.

Deno.test("[pglite:folder] a second open waits, then LOCK_TIMEOUT naming the holder; data persists", async () => {
  const dir = await scratchDir();
  const url = `pglite:${dir.path}`;
  try {
    const first = await openEngine(url, OPTIONS);
    try {
      await first.exec("CREATE TABLE kept (id int); INSERT INTO kept VALUES (7)");
      const started = performance.now();
      const error = await rejection(openEngine(url, { ...OPTIONS, lockTimeoutMs: 400 }));
      const elapsed = performance.now() - started;
      assertStrataError(error, "LOCK_TIMEOUT");
      assert.ok(elapsed >= 350 && elapsed < HANG_MS, `gave up after ${Math.round(elapsed)} ms`);
      assert.equal(error.details?.pid, Deno.pid);
      assert.match(error.message, new RegExp(`\\b${Deno.pid}\\b`));
      assert.ok(error.hint?.includes(dir.path), error.hint);
    } finally {
      await first.close();
    }
    const second = await openEngine(url, { ...OPTIONS, lockTimeoutMs: 400 });
    try {
      assert.deepEqual(await second.query("SELECT id FROM kept"), [{ id: 7 }]);
    } finally {
      await second.close();
    }
  } finally {
    await dir.remove();
  }
});

Deno.test("[pglite:folder] a waiting open proceeds once the holder closes", async () => {
  const dir = await scratchDir();
  const url = `pglite:${dir.path}`;
  try {
    const first = await openEngine(url, OPTIONS);
    let second: Engine | undefined;
    try {
      await first.exec("CREATE TABLE kept (id int); INSERT INTO kept VALUES (1)");
      let opened = false;
      const opening = openEngine(url, { ...OPTIONS, lockTimeoutMs: 60_000 }).then((engine) => {
        opened = true;
        return engine;
      });
      // The waiting open has its own handle on the lock file (it tries the lock right after).
      const lockPath = await Deno.realPath(join(dir.path, LOCK_FILE));
      await waitFor("the waiting open's lock file", () => openHandles(lockPath) >= 2, HANG_MS);
      assert.equal(opened, false, "the second open went ahead while the first held the folder");
      await first.close();
      second = await opening;
      assert.deepEqual(await second.query("SELECT id FROM kept"), [{ id: 1 }]);
    } finally {
      await first.close().catch(() => {});
      await second?.close();
    }
  } finally {
    await dir.remove();
  }
});

/** How many of this process's file descriptors are open on `path`. */
function openHandles(path: string): number {
  let n = 0;
  for (const entry of Deno.readDirSync("/proc/self/fd")) {
    try {
      if (Deno.readLinkSync(`/proc/self/fd/${entry.name}`) === path) n++;
    } catch {
      // closed between listing and reading
    }
  }
  return n;
}

const ENGINE_MODULE = new URL("../lib/db/engine.ts", import.meta.url).href;
const CONFIG = new URL("../deno.json", import.meta.url).pathname;

Deno.test("[pglite:folder] another process holds the folder: its pid is named; a dead holder's lock is taken over", async () => {
  const dir = await scratchDir();
  const url = `pglite:${join(dir.path, "db")}`;
  const script = join(dir.path, "holder.ts");
  await Deno.writeTextFile(
    script,
    `const { openEngine } = await import(${JSON.stringify(ENGINE_MODULE)});
const engine = await openEngine(${JSON.stringify(url)}, ${JSON.stringify(OPTIONS)});
await engine.exec("CREATE TABLE from_child (id int); INSERT INTO from_child VALUES (7)");
console.log("ready");
await new Promise((resolve) => setTimeout(resolve, 60_000));
`,
  );
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", "--config", CONFIG, script],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  try {
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let seen = "";
    while (!seen.includes("ready")) {
      const { value, done } = await reader.read();
      if (done) assert.fail(`the holder process ended before it was ready: ${seen}`);
      seen += value;
    }
    reader.releaseLock();

    const error = await rejection(openEngine(url, { ...OPTIONS, lockTimeoutMs: 300 }));
    assertStrataError(error, "LOCK_TIMEOUT");
    assert.equal(error.details?.pid, child.pid);

    child.kill("SIGKILL");
    await child.status;
    const engine = await openEngine(url, { ...OPTIONS, lockTimeoutMs: 30_000 });
    try {
      assert.deepEqual(await engine.query("SELECT id FROM from_child"), [{ id: 7 }]);
    } finally {
      await engine.close();
    }
  } finally {
    try {
      child.kill("SIGKILL");
    } catch {
      // already ended
    }
    await child.status;
    await child.stdout.cancel().catch(() => {});
    await dir.remove();
  }
});

Deno.test("[pglite] memory is capped on every embedded database strata opens", async () => {
  const { embeddedScratch } = await import("../lib/schema/scratch.ts");
  const dir = await scratchDir();
  const scratch = embeddedScratch();
  try {
    const engines = [
      await openEngine("pglite:memory", OPTIONS),
      await openEngine(`pglite:${dir.path}`, OPTIONS),
      await scratch.open(),
      await scratch.open(), // the second comes from the first one's image
    ];
    for (const engine of engines) {
      const [row] = await engine.query<Record<string, string>>(
        "SELECT current_setting('shared_buffers') AS shared_buffers, " +
          "current_setting('max_wal_size') AS max_wal_size, current_setting('wal_level') AS wal_level",
      );
      assert.deepEqual(row, {
        shared_buffers: "16MB",
        max_wal_size: "32MB",
        wal_level: "minimal",
      });
    }
    await engines[0].close();
    await engines[1].close();
  } finally {
    await scratch.dispose();
    await dir.remove();
  }
});
