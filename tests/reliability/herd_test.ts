/**
 * Reliability scenarios 1, 12 and 13: many processes running `apply` on one
 * server database at once. They sit in one file on purpose: tests of a file
 * run one after another, so the 50-process herds never meet on the server's
 * 100 connections.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  advisoryLocks,
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
  waitForQuery,
  writeMigration,
} from "./support.ts";

const CONFLICT_REGEXP = /duplicate key|already exists|deadlock/i;

/** `count` revisions after `after` (a line), revision i creating table h_<i> with one row. */
async function writeLine(dir: string, from: number, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = from; i < from + count; i++) {
    const id = revId(i, `herd${i}`);
    await writeMigration(
      join(dir, "migrations"),
      id,
      revisionText(
        `CREATE TABLE h_${i} (id int PRIMARY KEY);\nINSERT INTO h_${i} VALUES (${i});`,
        `DROP TABLE h_${i};`,
      ),
    );
    ids.push(id);
  }
  return ids;
}

/** Ledger, journal and data: each of `ids` applied exactly once, nothing failed. */
async function assertEachOnce(url: string, ids: string[], tables: number[]): Promise<void> {
  const ledger = await queryDb<{ revision: string }>(
    url,
    `SELECT revision FROM strata_ledger ORDER BY revision`,
  );
  assert.deepEqual(ledger.map((row) => row.revision), ids, "one ledger row per revision");
  const journal = await queryDb<{ revision: string; n: number }>(
    url,
    `SELECT revision, count(*)::int AS n FROM strata_journal
      WHERE action = 'upgrade' GROUP BY revision ORDER BY revision`,
  );
  assert.deepEqual(journal, ids.map((revision) => ({ revision, n: 1 })), "one upgrade each");
  const [{ other }] = await queryDb<{ other: number }>(
    url,
    `SELECT count(*)::int AS other FROM strata_journal WHERE action NOT IN ('upgrade', 'start')`,
  );
  assert.equal(other, 0, "no failure journaled");
  const starts = await queryDb<{ revision: string; n: number }>(
    url,
    `SELECT revision, count(*)::int AS n FROM strata_journal
      WHERE action = 'start' GROUP BY revision HAVING count(*) > 1`,
  );
  assert.deepEqual(starts, [], "a none-mode revision was started once");
  if (tables.length > 0) {
    const rows = await queryDb<{ n: number }>(
      url,
      tables.map((i) => `SELECT count(*)::int AS n FROM h_${i}`).join(" UNION ALL "),
    );
    assert.deepEqual(rows.map((row) => row.n), tables.map(() => 1), "each revision's row once");
  }
  assert.deepEqual(await advisoryLocks(url), [], "no advisory lock left behind");
}

/**
 * `n` processes run `apply` at once (half with --json, half human). Exactly
 * one applies everything; the others wait for the lock, re-read the ledger
 * and say there is nothing to do.
 */
async function herd(dir: string, url: string, n: number, ids: string[]) {
  const started = performance.now();
  const results = await Promise.all(
    Array.from({ length: n }, (_, i) =>
      run(["apply", ...(i % 2 === 0 ? ["--json"] : [])], {
        cwd: dir,
        env: { DATABASE_URL: url },
        limitMs: 600_000,
      })),
  );
  const wall = Math.round(performance.now() - started);
  const applied = new Map<string, number>();
  let winners = 0;
  results.forEach((r, i) => {
    expectCode(r, 0, `process ${i} of ${n}`);
    assert.doesNotMatch(r.stdout + r.stderr, CONFLICT_REGEXP, `process ${i}\n${dump(r)}`);
    let steps: string[];
    if (i % 2 === 0) {
      const doc = parseJson(r, `process ${i}`);
      assert.equal(doc.ok, true);
      steps = doc.steps.map((s: Json) => s.revision);
    } else {
      steps = ids.filter((id) => r.stdout.includes(`↑ ${id}`));
      if (steps.length === 0) {
        assert.match(r.stdout, /Nothing to upgrade: .* is up to date/, `loser ${i}\n${dump(r)}`);
      }
    }
    if (steps.length > 0) winners++;
    for (const id of steps) applied.set(id, (applied.get(id) ?? 0) + 1);
  });
  assert.equal(winners, 1, "one process applied the revisions, the others found them done");
  assert.deepEqual(
    ids.map((id) => applied.get(id) ?? 0),
    ids.map(() => 1),
    "the processes applied each revision once between them",
  );
  const slowest = Math.max(...results.map((r) => r.ms));
  console.log(
    `  herd: ${n} processes, ${ids.length} revisions: all exit 0, 1 winner, ${
      n - 1
    } "nothing to upgrade"; wall ${wall} ms, slowest process ${slowest} ms`,
  );
}

// ---------------------------------------------------------------------------
// Scenario 1: 2, 10 and 50 processes on a database that already has a ledger

for (const n of [2, 10, 50]) {
  serverDirTest(
    `reliability 1 (concurrency): ${n} processes apply at once, each revision exactly once`,
    async (dir, url) => {
      const [base] = await writeLine(dir, 0, 1);
      expectCode(await run(["apply"], { cwd: dir, env: { DATABASE_URL: url } }), 0, "base");
      const ids = await writeLine(dir, 1, 5);
      await herd(dir, url, n, ids);
      await assertEachOnce(url, [base, ...ids], [0, 1, 2, 3, 4, 5]);
    },
  );
}

// ---------------------------------------------------------------------------
// Scenario 12: the first apply ever, 50 processes, no ledger yet

serverDirTest(
  "reliability 12 (cold-start herd): 50 processes, first apply on an empty database, 20 revisions",
  async (dir, url) => {
    const ids = await writeLine(dir, 0, 20);
    const [{ n }] = await queryDb<{ n: number }>(
      url,
      `SELECT count(*)::int AS n FROM pg_class WHERE relname IN ('strata_ledger', 'strata_journal')`,
    );
    assert.equal(n, 0, "no ledger before the herd");
    await herd(dir, url, 50, ids);
    await assertEachOnce(url, ids, ids.map((_, i) => i));
  },
);

// ---------------------------------------------------------------------------
// Scenario 13: a herd arrives while the lock holder runs CREATE INDEX CONCURRENTLY

serverDirTest(
  "reliability 13 (herd during CREATE INDEX CONCURRENTLY): 1 + 10 processes, no deadlock, index valid",
  async (dir, url) => {
    const rows = 3_000_000;
    const t0 = performance.now();
    await queryDb(
      url,
      `CREATE UNLOGGED TABLE big AS
         SELECT g AS id, (g::bigint * 7919) % 1000003 AS v FROM generate_series(1, ${rows}) g`,
    );
    const filled = Math.round(performance.now() - t0);
    const migrations = join(dir, "migrations");
    const cic = revId(0, "big_index");
    const after = revId(1, "after_index");
    await writeMigration(
      migrations,
      cic,
      revisionText(
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS big_md5 ON big ((md5(v::text)));",
        "DROP INDEX CONCURRENTLY IF EXISTS big_md5;",
        { transaction: "none" },
      ),
    );
    await writeMigration(
      migrations,
      after,
      revisionText("CREATE TABLE after_index (id int);", "DROP TABLE after_index;"),
    );
    const env = { DATABASE_URL: url };
    const started = performance.now();
    const first = spawnStrata(["apply", "--json"], dir, env);
    await waitForQuery(url, "CREATE INDEX CONCURRENTLY", 90_000);
    const buildSeen = performance.now();
    const stillBuilding = await queryDb(
      url,
      `SELECT 1 FROM pg_stat_activity WHERE state = 'active'
          AND query LIKE 'CREATE INDEX CONCURRENTLY%' AND datname = current_database()`,
    );
    const herdResults = Promise.all(
      Array.from(
        { length: 10 },
        () => run(["apply", "--json"], { cwd: dir, env, limitMs: 600_000 }),
      ),
    );
    const firstResult = await first.finish();
    const firstMs = Math.round(performance.now() - started);
    const buildMs = Math.round(performance.now() - buildSeen);
    const others = await herdResults;
    const all = [firstResult, ...others];
    all.forEach((r, i) => {
      expectCode(r, 0, `process ${i}`);
      assert.doesNotMatch(r.stdout + r.stderr, CONFLICT_REGEXP, `process ${i}\n${dump(r)}`);
    });
    assert.deepEqual(
      parseJson(firstResult, "first").steps.map((s: Json) => s.revision),
      [cic, after],
      "the first process applied both revisions",
    );
    for (const [i, r] of others.entries()) {
      assert.deepEqual(parseJson(r, `process ${i + 1}`).steps, [], `process ${i + 1}: nothing`);
    }
    const [index] = await queryDb<{ valid: boolean; ready: boolean }>(
      url,
      `SELECT i.indisvalid AS valid, i.indisready AS ready FROM pg_index i
         JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = 'big_md5'`,
    );
    assert.deepEqual(index, { valid: true, ready: true }, "the index is valid");
    await assertEachOnce(url, [cic, after], []);
    console.log(
      `  CIC herd: ${rows} rows (filled in ${filled} ms); index build ≈ ${buildMs} ms; first runner done after ${firstMs} ms; ` +
        `10 runners started once the build was seen (still building: ${
          stillBuilding.length > 0
        }); ` +
        `all 11 exit 0, index valid`,
    );
  },
);
