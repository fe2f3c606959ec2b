import assert from "node:assert/strict";
import { join } from "node:path";
import { dump, queryDb, serverDirTest, strata, writeMigration } from "./helpers.ts";

serverDirTest(
  "watchdog: a long revision survives a server that refuses the watchdog's second connection",
  async (dir, url) => {
    // A role allowed one connection: the watchdog's question is refused with
    // "too many connections", which must not be taken for a dead link.
    const role = `strata_one_${crypto.randomUUID().replaceAll("-", "").slice(0, 8)}`;
    await queryDb(url, `CREATE ROLE ${role} LOGIN CONNECTION LIMIT 1`);
    try {
      const db = new URL(url).pathname.slice(1);
      await queryDb(url, `GRANT ALL ON DATABASE ${db} TO ${role}`);
      await queryDb(url, `GRANT ALL ON SCHEMA public TO ${role}`);
      await writeMigration(
        join(dir, "migrations"),
        "20250101_0000_slow",
        "-- up\nCREATE TABLE slow (id int);\nSELECT pg_sleep(3);\n-- down\nDROP TABLE slow;\n",
      );
      const asRole = new URL(url);
      asRole.username = role;
      const started = performance.now();
      const r = await strata(["apply", "--connect-timeout", "1s", "-d", asRole.toString()], {
        cwd: dir,
      });
      assert.equal(r.code, 0, dump(r));
      assert.ok(performance.now() - started >= 3000, "the revision ran to its end");
      const [row] = await queryDb<{ n: number }>(
        url,
        "SELECT count(*)::int AS n FROM strata_ledger WHERE revision = '20250101_0000_slow'",
      );
      assert.equal(row.n, 1);
    } finally {
      await queryDb(
        url,
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '${role}'`,
      );
      await queryDb(url, `DROP OWNED BY ${role}`).catch(() => {});
      await queryDb(url, `DROP ROLE IF EXISTS ${role}`).catch(() => {});
    }
  },
);
