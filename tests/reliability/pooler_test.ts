/**
 * Reliability scenario 16: a transaction pooler. PgBouncer (Debian's package,
 * installed here when missing) runs on a free loopback port in front of the
 * server with pool_mode = transaction. strata must refuse before any change
 * with a hint to use a direct URL, or provably work; and it must never leave
 * an advisory lock held on a pooled server connection (checked in pg_locks on
 * the server while PgBouncer still holds its server connections).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  advisoryLocks,
  type Measured,
  queryDb,
  revId,
  revisionText,
  run,
  serverDirTest,
  startPgbouncer,
  waitForQuery,
  writeMigration,
} from "./support.ts";

const CONFLICT_REGEXP = /duplicate key|already exists/i;

async function writeLine(
  dir: string,
  count: number,
  seconds = 0.05,
  from = 0,
): Promise<string[]> {
  const ids: string[] = [];
  for (let i = from; i < from + count; i++) {
    const id = revId(i, `pooled${i}`);
    await writeMigration(
      join(dir, "migrations"),
      id,
      revisionText(
        `CREATE TABLE p_${i} (id int PRIMARY KEY);\nINSERT INTO p_${i} VALUES (${i});\nSELECT pg_sleep(${seconds});`,
        `DROP TABLE p_${i};`,
      ),
    );
    ids.push(id);
  }
  return ids;
}

/**
 * Every run either refused (exit 2 with the direct-URL hint) or succeeded;
 * whatever succeeded applied each revision once; no advisory lock is left.
 * All problems are gathered first, so a failure reports the whole picture.
 */
async function judge(url: string, results: Measured[], ids: string[]): Promise<string> {
  const problems: string[] = [];
  let refusals = 0;
  let successes = 0;
  results.forEach((r, i) => {
    const all = r.stdout + r.stderr;
    if (CONFLICT_REGEXP.test(all)) {
      problems.push(`run ${i}: exit ${r.code} with a conflict: ${r.stderr.split("\n")[0]}`);
    } else if (r.code === 2) {
      if (!/pooler/i.test(r.stderr) || !/hint: .*direct/i.test(r.stderr)) {
        problems.push(`run ${i}: exit 2 without the pooler / direct-URL hint: ${r.stderr}`);
      }
      refusals++;
    } else if (r.code === 0) {
      successes++;
    } else {
      problems.push(`run ${i}: exit ${r.code}: ${r.stderr.split("\n")[0]}`);
    }
  });
  const [{ ledger }] = await queryDb<{ ledger: string | null }>(
    url,
    `SELECT to_regclass('strata_ledger')::text AS ledger`,
  );
  if (successes === 0 && problems.length === 0 && ledger !== null) {
    problems.push("every run refused, yet a ledger was created: not refused before any change");
  }
  if (ledger !== null) {
    const rows = await queryDb<{ revision: string; n: number }>(
      url,
      `SELECT revision, count(*)::int AS n FROM strata_journal
        WHERE action = 'upgrade' GROUP BY revision ORDER BY revision`,
    );
    const twice = rows.filter((row) => row.n > 1);
    if (twice.length > 0) problems.push(`applied more than once: ${JSON.stringify(twice)}`);
    if (successes > 0 && rows.length !== ids.length) {
      problems.push(`applied ${rows.length} of ${ids.length} revisions`);
    }
    const failures = await queryDb<{ n: number }>(
      url,
      `SELECT count(*)::int AS n FROM strata_journal WHERE action = 'failure'`,
    );
    if (failures[0].n > 0) problems.push(`${failures[0].n} failure(s) journaled`);
  }
  const locks = await advisoryLocks(url);
  if (locks.length > 0) {
    problems.push(`advisory locks left on pooled server connections: ${JSON.stringify(locks)}`);
  }
  const verdict = `exits ${results.map((r) => r.code).join(",")}: ${successes} succeeded, ` +
    `${refusals} refused with the direct-URL hint, ${locks.length} advisory lock(s) left`;
  console.log(`  ${verdict}`);
  assert.deepEqual(problems, [], `through a transaction pooler:\n${problems.join("\n")}`);
  return verdict;
}

serverDirTest(
  "reliability 16a (transaction pooler): one apply through PgBouncer (pool_mode=transaction) refuses with a hint or works, and leaves no advisory lock",
  async (dir, url) => {
    const ids = await writeLine(dir, 3);
    const bouncer = await startPgbouncer({ default_pool_size: 1 });
    try {
      const r = await run(["apply", "--json"], {
        cwd: dir,
        env: { DATABASE_URL: bouncer.via(url) },
        limitMs: 180_000,
      });
      await judge(url, [r], ids);
    } finally {
      await bouncer.stop();
    }
  },
);

serverDirTest(
  "reliability 16b (transaction pooler): a second apply arrives through PgBouncer (1 server connection) while the first runs: it must not run revisions beside the lock holder",
  async (dir, url) => {
    // Every revision takes a moment, so the first runner still holds the lock
    // (on the one pooled server connection) when the second one asks for it.
    const ids = await writeLine(dir, 4, 0.5);
    const bouncer = await startPgbouncer({ default_pool_size: 1 });
    try {
      const env = { DATABASE_URL: bouncer.via(url) };
      const first = run(["apply", "--json", "--lock-timeout", "120s"], {
        cwd: dir,
        env,
        limitMs: 180_000,
      });
      await waitForQuery(url, "pg_sleep(0.5)", 90_000);
      const second = await run(["apply", "--json", "--lock-timeout", "120s"], {
        cwd: dir,
        env,
        limitMs: 180_000,
      });
      const results = [await first, second];
      await judge(url, results, ids);
      if (second.code === 0) {
        assert.deepEqual(
          JSON.parse(second.stdout).steps,
          [],
          "the second runner found everything done",
        );
      }
    } finally {
      await bouncer.stop();
    }
  },
);

serverDirTest(
  "reliability 16c (transaction pooler): 3 rounds of 6 applies at once through PgBouncer with 2 server connections: never twice, never a lock left behind",
  async (dir, url) => {
    const bouncer = await startPgbouncer({ default_pool_size: 2 });
    const ids: string[] = [];
    try {
      for (let round = 0; round < 3; round++) {
        ids.push(...await writeLine(dir, 4, 0.05, round * 4));
        const results = await Promise.all(
          Array.from({ length: 6 }, () =>
            run(["apply", "--json", "--lock-timeout", "120s"], {
              cwd: dir,
              env: { DATABASE_URL: bouncer.via(url) },
              limitMs: 180_000,
            })),
        );
        await judge(url, results, ids);
      }
    } finally {
      await bouncer.stop();
    }
  },
);
