/**
 * Literals that no session setting can change: read back exactly under
 * standard_conforming_strings on and off, and a failed revision whose error
 * message carries hostile row data is journaled as data, not run as SQL.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import postgres from "postgres";
import { quoteLiteral } from "../lib/sql_literal.ts";
import {
  dump,
  expectExit,
  queryDb,
  serverDirTest,
  serverTest,
  strata,
  writeMigration,
} from "./helpers.ts";

const HOSTILE = [
  "plain",
  "it's",
  "x\\'); DROP TABLE victim; --",
  "back\\slash",
  "\\",
  "'\\'",
  "ends with $strata",
  "holds $strata$ the tag \\",
  "$strata$\\",
  "\\$strata",
  "$$ \\ $$",
  "line\nbreak \\n",
  "E'\\x41'",
  "ünïcødé \\ 中文",
];

Deno.test("quoteLiteral: plain literal without a backslash, dollar quotes with one", () => {
  assert.equal(quoteLiteral("it's"), "'it''s'");
  assert.equal(quoteLiteral("a\\b"), "$strata$a\\b$strata$");
  assert.equal(quoteLiteral("\\ $strata$"), "$strata1$\\ $strata$$strata1$");
  assert.equal(quoteLiteral("\\ $strata"), "$strata1$\\ $strata$strata1$");
});

for (const setting of ["on", "off"]) {
  serverTest(
    `quoteLiteral reads back exactly with standard_conforming_strings = ${setting}`,
    async (url) => {
      const sql = postgres(url, { max: 1, onnotice: () => {} });
      try {
        await sql.unsafe(`SET standard_conforming_strings = ${setting}`);
        for (const value of HOSTILE) {
          // Simple query protocol, as the runner sends a revision.
          const [row] = await sql.unsafe(`SELECT ${quoteLiteral(value)} AS v`).simple();
          assert.equal(row.v, value, `with standard_conforming_strings = ${setting}`);
        }
      } finally {
        await sql.end();
      }
    },
  );
}

const VALUE = "x\\'); DROP TABLE victim; --";

async function hostileDatabase(url: string): Promise<void> {
  const name = new URL(url).pathname.slice(1);
  await queryDb(url, `ALTER DATABASE ${name} SET standard_conforming_strings = off`);
  await queryDb(url, "CREATE TABLE victim (id int)");
  await queryDb(url, "CREATE TABLE t (v text)");
  // A parameter: the value reaches the table exactly, whatever the setting.
  await queryDb(url, "INSERT INTO t VALUES ($1)", [VALUE]);
}

for (const mode of ["each", "none"]) {
  serverDirTest(
    `a ${mode}-mode failure whose message holds hostile row data is journaled, not run`,
    async (dir, url) => {
      await hostileDatabase(url);
      const migrations = join(dir, "migrations");
      await writeMigration(
        migrations,
        "20240101_0000_cast",
        `-- parents:\n-- transaction: ${mode}\n-- up\nSELECT v::int FROM t;\n-- down\n`,
      );
      const r = await strata(["apply", "--database", url], { cwd: dir });
      expectExit(r, 1, "apply");
      const victim = await queryDb(url, "SELECT to_regclass('victim')::text AS r");
      assert.equal(victim[0].r, "victim", `the victim table was dropped\n${dump(r)}`);
      const rows = await queryDb<{ detail: string }>(
        url,
        "SELECT detail FROM strata_journal WHERE action = 'failure'",
      );
      assert.equal(rows.length, 1, dump(r));
      assert.ok(rows[0].detail.includes(VALUE), rows[0].detail);
    },
  );
}

serverDirTest(
  "the --sql script runs as printed with standard_conforming_strings = off",
  async (dir, url) => {
    await hostileDatabase(url);
    const migrations = join(dir, "migrations");
    await writeMigration(
      migrations,
      "20240101_0000_one",
      "-- parents:\n-- up\nCREATE TABLE one (v text DEFAULT 'a\\b');\n-- down\nDROP TABLE one;\n",
    );
    await writeMigration(
      migrations,
      "20240101_0001_two",
      "-- transaction: none\n-- up\nCREATE TABLE two (id int);\n-- down\nDROP TABLE two;\n",
    );
    const r = await strata(["upgrade", "head", "--sql"], { cwd: dir });
    expectExit(r, 0, "upgrade --sql");
    const psql = await new Deno.Command("psql", {
      args: ["-X", "-v", "ON_ERROR_STOP=1", "-q", "-d", url, "-f", "-"],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const writer = psql.stdin.getWriter();
    await writer.write(new TextEncoder().encode(r.stdout));
    await writer.close();
    const out = await psql.output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    const ledger = await queryDb<{ revision: string }>(
      url,
      "SELECT revision FROM strata_ledger ORDER BY revision",
    );
    assert.deepEqual(ledger.map((row) => row.revision), ["20240101_0000_one", "20240101_0001_two"]);
    const status = await strata(["check", "--database", url], { cwd: dir });
    expectExit(status, 0, "check after the script ran");
  },
);
