/**
 * Reliability scenarios 5 and 15: the network between strata and the server
 * fails, through a TCP proxy written here (support.ts startProxy) that relays
 * the PostgreSQL protocol frame by frame and can cut every connection, throw
 * away one query or its reply, or stop relaying without closing anything.
 *
 * In `each` mode a revision's SQL, its ledger row and its journal row travel
 * as ONE simple query, so "the reply to COMMIT" is the reply to the query that
 * carries the revision: the proxy recognises it by a marker in its SQL.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  advisoryLocks,
  backendAlive,
  dump,
  expectCode,
  type Json,
  type Measured,
  parseJson,
  type ProxyAction,
  queryDb,
  revId,
  revisionText,
  run,
  serverDirTest,
  startProxy,
  waitFor,
  waitForQuery,
  writeMigration,
} from "./support.ts";

async function journalOf(url: string, revision: string): Promise<string[]> {
  const rows = await queryDb<{ action: string }>(
    url,
    `SELECT action FROM strata_journal WHERE revision = $1 ORDER BY id`,
    [revision],
  );
  return rows.map((row) => row.action);
}

/** Wait until no session but ours is left in the database and no advisory lock is held. */
async function serverSettled(url: string): Promise<void> {
  await waitFor("the cut sessions to end and their locks to go", async () => {
    const [{ n }] = await queryDb<{ n: number }>(
      url,
      `SELECT count(*)::int AS n FROM pg_stat_activity
        WHERE datname = current_database() AND pid <> pg_backend_pid()`,
    );
    return n === 0 && (await advisoryLocks(url)).length === 0;
  }, 20_000);
}

/** The error of a run that lost its connection in the middle of a revision. */
function assertConnectionLost(r: Measured, revision: string): Json {
  expectCode(r, 1, "apply over a broken connection");
  assert.equal(r.timedOut, false, `strata had to be killed\n${dump(r)}`);
  const error = parseJson(r, "apply --json").error;
  assert.equal(error.code, "OUTCOME_UNKNOWN", dump(r));
  assert.ok(String(error.file).endsWith(`${revision}.sql`), dump(r));
  assert.match(error.message, /connection/i, dump(r));
  assert.match(error.message, /unknown/i, dump(r));
  assert.ok(error.hint, "a hint says what to do");
  return error;
}

// ---------------------------------------------------------------------------
// Scenario 5: the connection is cut while a revision runs

serverDirTest(
  "reliability 5 (connection cut mid-revision): clear error, nothing half-applied, the re-run completes",
  async (dir, url) => {
    await queryDb(url, "CREATE SEQUENCE attempts");
    const migrations = join(dir, "migrations");
    const ids = [revId(0, "c_one"), revId(1, "c_cut"), revId(2, "c_three")];
    await writeMigration(
      migrations,
      ids[0],
      revisionText("CREATE TABLE c_one (id int);", "DROP TABLE c_one;"),
    );
    await writeMigration(
      migrations,
      ids[1],
      revisionText(
        "CREATE TABLE c_cut (id int);\nINSERT INTO c_cut VALUES (1);\n" +
          "SELECT pg_sleep(CASE WHEN nextval('attempts') = 1 THEN 30 ELSE 0 END);\n" +
          "INSERT INTO c_cut VALUES (2);",
        "DROP TABLE c_cut;",
      ),
    );
    await writeMigration(
      migrations,
      ids[2],
      revisionText("CREATE TABLE c_three (id int);", "DROP TABLE c_three;"),
    );
    const proxy = await startProxy();
    try {
      const running = run(["apply", "--json"], {
        cwd: dir,
        env: { DATABASE_URL: proxy.via(url) },
        limitMs: 120_000,
      });
      const backend = await waitForQuery(url, "pg_sleep(", 90_000);
      const cutAt = performance.now();
      proxy.cutAll();
      const r = await running;
      const reactedMs = Math.round(performance.now() - cutAt);
      assertConnectionLost(r, ids[1]);
      assert.ok(reactedMs < 60_000, `strata took ${reactedMs} ms to notice the cut`);
      await waitFor(
        "the cut backend to end",
        async () => !(await backendAlive(url, backend)),
        20_000,
      );
      await serverSettled(url);
      const [state] = await queryDb<
        { revisions: string[]; cut: string | null; three: string | null }
      >(
        url,
        `SELECT array(SELECT revision FROM strata_ledger ORDER BY 1) AS revisions,
                to_regclass('c_cut')::text AS cut, to_regclass('c_three')::text AS three`,
      );
      assert.deepEqual(
        state,
        { revisions: [ids[0]], cut: null, three: null },
        "nothing half-applied",
      );

      const rerun = await run(["apply", "--json"], { cwd: dir, env: { DATABASE_URL: url } });
      expectCode(rerun, 0, "the re-run");
      assert.deepEqual(parseJson(rerun, "re-run").steps.map((s: Json) => s.revision), ids.slice(1));
      const rows = await queryDb<{ id: number }>(url, "SELECT id FROM c_cut ORDER BY id");
      assert.deepEqual(rows.map((row) => row.id), [1, 2]);
      console.log(
        `  both sides cut during pg_sleep: strata exit 1 (OUTCOME_UNKNOWN) ${reactedMs} ms later; ` +
          `nothing committed; re-run exit 0`,
      );
    } finally {
      await proxy.close();
    }
  },
);

// ---------------------------------------------------------------------------
// Scenario 15: commit in doubt, and a frozen link

const DOUBT = [revId(0, "d_one"), revId(1, "d_doubt"), revId(2, "d_three")];

async function writeDoubtLine(dir: string): Promise<void> {
  const migrations = join(dir, "migrations");
  await writeMigration(
    migrations,
    DOUBT[0],
    revisionText("CREATE TABLE d_one (id int);", "DROP TABLE d_one;"),
  );
  await writeMigration(
    migrations,
    DOUBT[1],
    revisionText(
      "CREATE TABLE d_doubt (id int);\nINSERT INTO d_doubt VALUES (1);",
      "DROP TABLE d_doubt;",
    ),
  );
  await writeMigration(
    migrations,
    DOUBT[2],
    revisionText("CREATE TABLE d_three (id int);", "DROP TABLE d_three;"),
  );
}

/**
 * Apply through the proxy armed with `action` on the revision's query; then
 * check "ledger row iff the SQL took effect" and that the re-run never
 * applies the revision twice. Returns what the proxy run did.
 */
async function commitInDoubt(
  dir: string,
  url: string,
  action: ProxyAction,
  extraArgs: string[] = [],
  limitMs = 45_000,
): Promise<{ r: Measured; committed: boolean; rerun: Measured }> {
  await writeDoubtLine(dir);
  const proxy = await startProxy();
  let r: Measured;
  try {
    const triggered = proxy.arm("CREATE TABLE d_doubt", action);
    r = await run(["apply", "--json", ...extraArgs], {
      cwd: dir,
      env: { DATABASE_URL: proxy.via(url) },
      limitMs,
    });
    await triggered;
  } finally {
    // A frozen link is finally closed here, as a dead network path eventually is.
    await proxy.close();
  }
  await serverSettled(url);
  const [state] = await queryDb<{ row: boolean; took: boolean; three: boolean }>(
    url,
    `SELECT EXISTS (SELECT 1 FROM strata_ledger WHERE revision = $1) AS row,
            to_regclass('d_doubt') IS NOT NULL AS took,
            to_regclass('d_three') IS NOT NULL AS three`,
    [DOUBT[1]],
  );
  assert.equal(
    state.row,
    state.took,
    `ledger row iff the revision took effect: ${JSON.stringify(state)}`,
  );
  assert.equal(state.three, false, "nothing ran after the revision in doubt");

  const rerun = await run(["apply", "--json"], { cwd: dir, env: { DATABASE_URL: url } });
  expectCode(rerun, 0, "the re-run");
  const steps = parseJson(rerun, "re-run").steps.map((s: Json) => s.revision);
  assert.deepEqual(steps, state.row ? [DOUBT[2]] : DOUBT.slice(1), "the re-run's steps");
  assert.deepEqual(await journalOf(url, DOUBT[1]), ["upgrade"], "applied once, journaled once");
  const [{ n }] = await queryDb<{ n: number }>(url, "SELECT count(*)::int AS n FROM d_doubt");
  assert.equal(n, 1, "the revision's row exists once");
  return { r, committed: state.row, rerun };
}

serverDirTest(
  "reliability 15a (commit in doubt): the reply to the revision's query is dropped; outcome unknown, ledger row iff applied, re-run applies once",
  async (dir, url) => {
    const { r, committed } = await commitInDoubt(dir, url, "drop-reply");
    assertConnectionLost(r, DOUBT[1]);
    assert.equal(committed, true, "the server committed before the reply was lost");
    console.log(
      `  reply to the revision's query dropped: exit 1 OUTCOME_UNKNOWN in ${r.ms} ms; ` +
        `ledger row and table both present; re-run applied only the next revision`,
    );
  },
);

serverDirTest(
  "reliability 15b (query lost on the way): the revision's query never reaches the server; outcome unknown, nothing recorded, re-run applies once",
  async (dir, url) => {
    const { r, committed } = await commitInDoubt(dir, url, "drop");
    assertConnectionLost(r, DOUBT[1]);
    assert.equal(committed, false, "the server never saw the query");
    console.log(
      `  revision's query dropped before the server: exit 1 OUTCOME_UNKNOWN in ${r.ms} ms; ` +
        `no ledger row, no table; re-run applied it once`,
    );
  },
);

serverDirTest(
  "reliability 15c (frozen link): the proxy stops relaying without closing; strata gives up within its bound saying the outcome is unknown",
  async (dir, url) => {
    // With a 3 s statement timeout no reply can legitimately take much longer:
    // a run still silent after 30 s is hung on the frozen link.
    const { r, committed } = await commitInDoubt(dir, url, "freeze", [
      "--statement-timeout",
      "3s",
      "--connect-timeout",
      "3s",
    ], 90_000);
    console.log(
      `  link frozen after the revision's query: strata ${
        r.timedOut ? "still waiting, killed at 90 s" : `exit ${r.code} after ${r.ms} ms`
      }; committed on the server: ${committed}`,
    );
    assert.equal(r.timedOut, false, `strata hung on the frozen link until killed\n${dump(r)}`);
    assert.ok(r.ms < 60_000, `strata took ${r.ms} ms to give up on a frozen link`);
    assertConnectionLost(r, DOUBT[1]);
  },
);
