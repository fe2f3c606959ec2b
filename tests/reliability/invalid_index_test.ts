/**
 * Reliability scenario 14: a CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS
 * that fails on duplicate data leaves an INVALID index behind. `status`
 * lists it; after the data is fixed the re-run must not report success over
 * the broken index (IF NOT EXISTS would skip it silently): it rebuilds it, or
 * names it and fails.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  dump,
  expectCode,
  type Json,
  parseJson,
  queryDb,
  revId,
  revisionText,
  run,
  serverDirTest,
  writeMigration,
} from "./support.ts";

async function indexState(url: string): Promise<{ valid: boolean } | undefined> {
  const [row] = await queryDb<{ valid: boolean }>(
    url,
    `SELECT i.indisvalid AS valid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
      WHERE c.relname = 'people_email'`,
  );
  return row;
}

async function recorded(url: string, revision: string): Promise<boolean> {
  const rows = await queryDb(url, `SELECT 1 FROM strata_ledger WHERE revision = $1`, [revision]);
  return rows.length === 1;
}

serverDirTest(
  "reliability 14 (invalid index): a failed CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS is listed by status and never reported as applied",
  async (dir, url) => {
    await queryDb(
      url,
      `CREATE TABLE people (id int PRIMARY KEY, email text);
       INSERT INTO people VALUES (1, 'a@example.com'), (2, 'a@example.com'), (3, 'b@example.com')`,
    );
    const id = revId(0, "unique_email");
    await writeMigration(
      join(dir, "migrations"),
      id,
      revisionText(
        "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS people_email ON people (email);",
        "DROP INDEX CONCURRENTLY IF EXISTS people_email;",
        { transaction: "none" },
      ),
    );
    const env = { DATABASE_URL: url };

    const first = await run(["apply", "--json"], { cwd: dir, env });
    expectCode(first, 1, "apply over duplicate data");
    assert.equal(parseJson(first, "apply").error.sqlstate, "23505", dump(first));
    assert.deepEqual(await indexState(url), { valid: false }, "an INVALID index is left behind");
    assert.equal(await recorded(url, id), false);

    const status = await run(["status", "--json"], { cwd: dir, env });
    expectCode(status, 0, "status");
    const doc = parseJson(status, "status");
    assert.deepEqual(doc.invalidIndexes, ["public.people_email"]);
    assert.equal(doc.upToDate, false);
    const human = await run(["status"], { cwd: dir, env });
    assert.match(human.stdout, /[Ii]nvalid index.*people_email/, dump(human));
    expectCode(await run(["check"], { cwd: dir, env }), 3, "check");

    // Fix the data. IF NOT EXISTS now finds the broken index and skips it.
    await queryDb(url, `DELETE FROM people WHERE id = 2`);
    const second = await run(["apply", "--json"], { cwd: dir, env });
    const index = await indexState(url);
    const applied = await recorded(url, id);
    if (second.code === 0) {
      assert.deepEqual(
        index,
        { valid: true },
        `success reported over an INVALID index\n${dump(second)}`,
      );
      assert.equal(applied, true);
    } else {
      expectCode(second, 1, "the re-run over the invalid index");
      const error = parseJson(second, "re-run").error;
      assert.match(error.message, /people_email/, `the failure names the index\n${dump(second)}`);
      assert.match(error.message, /invalid/i, dump(second));
      assert.equal(applied, false, "not recorded as applied");
      // What the hint says: drop it and run again.
      await queryDb(url, `DROP INDEX CONCURRENTLY public.people_email`);
      const third = await run(["apply", "--json"], { cwd: dir, env });
      expectCode(third, 0, "apply after the invalid index was dropped");
      assert.deepEqual(parseJson(third, "apply").steps.map((s: Json) => s.revision), [id]);
      assert.deepEqual(await indexState(url), { valid: true });
    }
    const after = parseJson(await run(["status", "--json"], { cwd: dir, env }), "status");
    assert.deepEqual(after.invalidIndexes, []);
    assert.equal(after.upToDate, true);
    console.log(
      `  first apply: exit 1 (23505), INVALID index listed by status, check exit 3; ` +
        `re-run after fixing the data: exit ${second.code}${
          second.code === 0 ? " with the index rebuilt" : ` naming the invalid index`
        }`,
    );
  },
);
