/**
 * Placeholders (`${name}` in files that opted in), through the real CLI on
 * both engines: values from strata.json and STRATA_VAR_name, undefined names,
 * files that did not opt in, the checksum, the journal and `--sql`.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { openEngine } from "../lib/db/engine.ts";
import { parseMigration } from "../lib/migration_file.ts";
import { assertFilled, fillFiles } from "../lib/placeholders.ts";
import { embeddedTest, errorOf, serverDirTest, strata, writeMigration } from "./helpers.ts";

async function rows<T>(url: string, sql: string): Promise<T[]> {
  const engine = await openEngine(url, {
    connectTimeoutMs: 10_000,
    statementTimeoutMs: 0,
    lockWaitMs: 0,
    lockTimeoutMs: 10_000,
  });
  try {
    return await engine.query<T>(sql);
  } finally {
    await engine.close();
  }
}

function both(name: string, fn: (dir: string, url: string) => Promise<void>): void {
  embeddedTest(name, fn);
  serverDirTest(name, fn);
}

async function config(dir: string, db: string, extra: Record<string, unknown>): Promise<void> {
  await Deno.writeTextFile(join(dir, "strata.json"), JSON.stringify({ database: db, ...extra }));
}

const SETTINGS = "20240101_0000_settings";
const SETTINGS_SQL = `-- message: per-environment settings
-- placeholders: on
-- up
CREATE TABLE settings (k text PRIMARY KEY, v text);
INSERT INTO settings VALUES ('role', '\${app_role}'), ('owner', '\${owner}'),
  ('token', '\${api_token}');
-- down
DROP TABLE settings;
`;
const TOKEN = "tok-9f8e7d6c5b4a";

const settings = (db: string) =>
  rows<{ k: string; v: string }>(db, "SELECT k, v FROM settings ORDER BY k")
    .then((r) => Object.fromEntries(r.map((row) => [row.k, row.v])));

both(
  "placeholders: config values, the environment beating them, the journal masking a secret",
  async (dir, db) => {
    const migrations = join(dir, "migrations");
    const path = await writeMigration(migrations, SETTINGS, SETTINGS_SQL);
    await config(dir, db, {
      placeholders: { app_role: "from_config", owner: "cfg_owner", api_token: TOKEN },
    });
    const r = await strata(["apply"], { cwd: dir, env: { STRATA_VAR_app_role: "from_env" } });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual(await settings(db), { owner: "cfg_owner", role: "from_env", token: TOKEN });
    assert.ok(!(r.stdout + r.stderr).includes(TOKEN), r.stdout + r.stderr);

    const [journal] = await rows<{ detail: string }>(
      db,
      "SELECT detail FROM strata_journal WHERE action = 'upgrade'",
    );
    assert.equal(journal.detail, "placeholders: api_token=***, app_role=from_env, owner=cfg_owner");

    // The checksum is of the file as written: another value is no edit.
    const written = "sha256:" +
      createHash("sha256").update(await Deno.readTextFile(path)).digest("hex");
    const [ledger] = await rows<{ checksum: string }>(db, "SELECT checksum FROM strata_ledger");
    assert.equal(ledger.checksum, written);
    await config(dir, db, {
      placeholders: { app_role: "other", owner: "other", api_token: "other-token" },
    });
    const check = await strata(["check"], { cwd: dir });
    assert.equal(check.code, 0, check.stdout + check.stderr);
    assert.doesNotMatch(check.stdout, /edited/i);

    // Downgrade runs the filled down section and journals the values it used (none here).
    const down = await strata(["downgrade", "base"], { cwd: dir });
    assert.equal(down.code, 0, down.stdout + down.stderr);
    const [last] = await rows<{ action: string; detail: string | null }>(
      db,
      "SELECT action, detail FROM strata_journal ORDER BY id DESC LIMIT 1",
    );
    assert.deepEqual({ ...last }, { action: "downgrade", detail: null });
  },
);

both(
  "placeholders: an undefined name stops the run before anything runs (exit 5, file, line, name)",
  async (dir, db) => {
    const migrations = join(dir, "migrations");
    await writeMigration(
      migrations,
      "20240101_0000_a",
      "-- up\nCREATE TABLE a (id int);\n-- down\nDROP TABLE a;\n",
    );
    await writeMigration(
      migrations,
      "20240101_0001_b",
      "-- placeholders: on\n-- up\nCREATE TABLE b (id int);\nGRANT SELECT ON b TO ${reader_role};\n" +
        "-- down\nDROP TABLE b;\n",
    );
    await config(dir, db, { placeholders: { other: "x" } });
    const r = await strata(["apply"], { cwd: dir });
    assert.equal(r.code, 5, r.stdout + r.stderr);
    assert.match(r.stderr, /20240101_0001_b\.sql:4\b/);
    assert.match(r.stderr, /Placeholder "\$\{reader_role\}" is not defined/);
    assert.match(r.stderr, /STRATA_VAR_reader_role/);
    assert.doesNotMatch(r.stdout, /20240101_0000_a/);
    const tables = await rows<{ name: string }>(
      db,
      "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public' " +
        "AND table_name NOT LIKE 'strata_%'",
    );
    assert.deepEqual(tables, []);

    // --sql checks the same way, and prints nothing of the plan.
    const sql = await strata(["upgrade", "--sql"], { cwd: dir });
    assert.equal(sql.code, 5, sql.stdout + sql.stderr);
    assert.match(
      sql.stderr,
      /20240101_0001_b\.sql:4\b.*reader_role|reader_role[\s\S]*0001_b\.sql:4/,
    );
    assert.equal(sql.stdout, "");

    // status does not run the SQL: it still works.
    const status = await strata(["status"], { cwd: dir });
    assert.equal(status.code, 0, status.stdout + status.stderr);

    // With the value the run goes through.
    const ok = await strata(["apply"], {
      cwd: dir,
      env: { STRATA_VAR_reader_role: "pg_read_all_data" },
    });
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
  },
);

both(
  "placeholders: a $ in files that did not opt in keeps its meaning, also in $$ bodies",
  async (dir, db) => {
    const migrations = join(dir, "migrations");
    await writeMigration(
      migrations,
      "20240101_0000_plain",
      "-- up\nCREATE TABLE t (v text);\nINSERT INTO t VALUES ('a$b${c}');\n" +
        "CREATE FUNCTION f() RETURNS text LANGUAGE sql AS $$ SELECT '${x}'::text $$;\n" +
        "CREATE FUNCTION g() RETURNS text LANGUAGE sql AS $body$ SELECT 'p${x}' $body$;\n" +
        "-- down\nDROP FUNCTION g();\nDROP FUNCTION f();\nDROP TABLE t;\n",
    );
    await writeMigration(
      migrations,
      "20240101_0001_filled",
      "-- placeholders: on\n-- up\n" +
        "CREATE FUNCTION h() RETURNS text LANGUAGE sql AS $$ SELECT '${x}'::text $$;\n" +
        "-- down\nDROP FUNCTION h();\n",
    );
    await config(dir, db, { placeholders: { x: "X", c: "C" } });
    const r = await strata(["apply"], { cwd: dir });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const [values] = await rows<{ t: string; f: string; g: string; h: string }>(
      db,
      "SELECT (SELECT v FROM t) AS t, f() AS f, g() AS g, h() AS h",
    );
    // An opted-in file is filled everywhere, dollar-quoted bodies included.
    assert.deepEqual({ ...values }, { t: "a$b${c}", f: "${x}", g: "p${x}", h: "X" });
    const [plain] = await rows<{ detail: string | null }>(
      db,
      "SELECT detail FROM strata_journal WHERE revision = '20240101_0000_plain'",
    );
    assert.equal(plain.detail, null);
  },
);

embeddedTest(
  "placeholders: placeholdersEverywhere fills files without the directive, off opts out",
  async (dir, db) => {
    const migrations = join(dir, "migrations");
    await writeMigration(
      migrations,
      "20240101_0000_a",
      "-- up\nCREATE TABLE ${prefix}_a (id int);\n-- down\nDROP TABLE ${prefix}_a;\n",
    );
    await writeMigration(
      migrations,
      "20240101_0001_b",
      "-- placeholders: off\n-- up\nCREATE TABLE b (v text DEFAULT '${prefix}');\n" +
        "-- down\nDROP TABLE b;\n",
    );
    await config(dir, db, { placeholders: { prefix: "eu" }, placeholdersEverywhere: true });
    const r = await strata(["apply"], { cwd: dir });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const tables = await rows<{ name: string; d: string | null }>(
      db,
      "SELECT table_name AS name, (SELECT column_default FROM information_schema.columns c " +
        "WHERE c.table_name = t.table_name AND c.column_name = 'v') AS d " +
        "FROM information_schema.tables t WHERE table_schema = 'public' " +
        "AND table_name NOT LIKE 'strata_%' ORDER BY 1",
    );
    assert.deepEqual(tables.map((row) => ({ ...row })), [
      { name: "b", d: "'${prefix}'::text" },
      { name: "eu_a", d: null },
    ]);
  },
);

embeddedTest("placeholders: --sql prints the filled text, secrets masked", async (dir, db) => {
  await writeMigration(join(dir, "migrations"), SETTINGS, SETTINGS_SQL);
  await config(dir, db, {
    placeholders: { app_role: "from_config", owner: "cfg_owner", api_token: TOKEN },
  });
  const r = await strata(["upgrade", "--sql"], { cwd: dir });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /\('role', 'from_config'\), \('owner', 'cfg_owner'\)/);
  assert.doesNotMatch(r.stdout, /\$\{/);
  assert.ok(!r.stdout.includes(TOKEN), r.stdout);
  assert.match(r.stdout, /placeholders: api_token=\*\*\*, app_role=from_config, owner=cfg_owner/);
});

embeddedTest(
  "placeholders: the proofs fill the same way (verify), and stop on an undefined name",
  async (dir, db) => {
    await writeMigration(join(dir, "migrations"), SETTINGS, SETTINGS_SQL);
    await config(dir, db, { placeholders: { app_role: "r", owner: "o" } });
    const missing = await strata(["verify"], { cwd: dir });
    assert.equal(missing.code, 5, missing.stdout + missing.stderr);
    assert.match(missing.stderr, /20240101_0000_settings\.sql:6\b/);
    assert.match(missing.stderr, /api_token/);
    const ok = await strata(["verify"], { cwd: dir, env: { STRATA_VAR_api_token: TOKEN } });
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
  },
);

both(
  "placeholders: a transaction: none revision runs and journals the filled text",
  async (dir, db) => {
    const migrations = join(dir, "migrations");
    await writeMigration(
      migrations,
      "20240101_0000_t",
      "-- up\nCREATE TABLE t (v text);\n-- down\nDROP TABLE t;\n",
    );
    await writeMigration(
      migrations,
      "20240101_0001_idx",
      "-- transaction: none\n-- placeholders: on\n-- up\n" +
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS ${index_name} ON t (v);\n" +
        "-- down\nDROP INDEX CONCURRENTLY IF EXISTS ${index_name};\n",
    );
    await config(dir, db, { placeholders: { index_name: "t_v_idx" } });
    const r = await strata(["apply"], { cwd: dir });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const indexes = await rows<{ name: string }>(
      db,
      "SELECT indexname AS name FROM pg_indexes WHERE tablename = 't'",
    );
    assert.deepEqual(indexes.map((row) => row.name), ["t_v_idx"]);
    const down = await strata(["downgrade", "-1"], { cwd: dir });
    assert.equal(down.code, 0, down.stdout + down.stderr);
    const journal = await rows<{ action: string; detail: string | null }>(
      db,
      "SELECT action, detail FROM strata_journal WHERE revision = '20240101_0001_idx' " +
        "AND action IN ('upgrade', 'downgrade') ORDER BY id",
    );
    assert.deepEqual(journal.map((row) => ({ ...row })), [
      { action: "upgrade", detail: "placeholders: index_name=t_v_idx" },
      { action: "downgrade", detail: "placeholders: index_name=t_v_idx" },
    ]);
  },
);

embeddedTest(
  "placeholders: lint reads the filled text; an undefined name stops it (exit 5)",
  async (dir, db) => {
    await writeMigration(
      join(dir, "migrations"),
      "20240101_0000_grants",
      "-- placeholders: on\n-- up\nCREATE TABLE t (id int);\nGRANT SELECT ON t TO ${app_role};\n" +
        "-- down\nDROP TABLE t;\n",
    );
    await config(dir, db, {});
    const missing = await strata(["lint"], { cwd: dir });
    assert.equal(missing.code, 5, missing.stdout + missing.stderr);
    assert.match(missing.stderr, /20240101_0000_grants\.sql:4\b.*"\$\{app_role\}"/);
    const ok = await strata(["lint"], { cwd: dir, env: { STRATA_VAR_app_role: "app_rw" } });
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.doesNotMatch(ok.stdout, /syntax/i);
  },
);

embeddedTest("placeholders: clean refuses to squash revisions that use them", async (dir, db) => {
  const migrations = join(dir, "migrations");
  await writeMigration(
    migrations,
    "20240101_0000_a",
    "-- placeholders: on\n-- up\nCREATE TABLE ${prefix}_a (id int);\n-- down\nDROP TABLE ${prefix}_a;\n",
  );
  await writeMigration(
    migrations,
    "20240101_0001_b",
    "-- up\nCREATE TABLE b (id int);\n-- down\nDROP TABLE b;\n",
  );
  await writeMigration(
    migrations,
    "20240101_0002_c",
    "-- up\nCREATE TABLE c (id int);\n-- down\nDROP TABLE c;\n",
  );
  await config(dir, db, { placeholders: { prefix: "eu" } });
  const before = await Deno.readTextFile(join(migrations, "20240101_0000_a.sql"));
  const r = await strata(["clean", "1"], { cwd: dir });
  assert.equal(r.code, 2, r.stdout + r.stderr);
  assert.match(r.stderr, /Cannot squash revisions that use placeholders: 20240101_0000_a/);
  assert.equal(await Deno.readTextFile(join(migrations, "20240101_0000_a.sql")), before);
});

Deno.test("placeholders: the directive takes on or off; anything else names its line", () => {
  const parse = (header: string) =>
    parseMigration(`-- message: m\n${header}\n-- up\nSELECT 1;\n`, "x.sql", "x", null);
  assert.equal(parse("-- placeholders: on").placeholders, true);
  assert.equal(parse("-- Placeholders: OFF").placeholders, false);
  assert.equal(parse("-- a comment").placeholders, undefined);
  const error = errorOf(() => parse("-- placeholders: yes"));
  assert.equal(error.code, "FILE");
  assert.equal(error.line, 2);
});

Deno.test("placeholders: an undefined name is reported at its line, in the down section too", () => {
  const file = parseMigration(
    "-- placeholders: on\n-- up\nSELECT '${a}';\n-- down\n\nSELECT '${a}', '${b}';\n",
    "x.sql",
    "x",
    null,
  );
  const [filled] = fillFiles([file], { a: "A" }, false);
  assert.equal(filled.up.sql, "SELECT 'A';");
  assert.equal(filled.checksum, file.checksum);
  const error = errorOf(() => assertFilled([filled]));
  assert.equal(error.code, "FILE");
  assert.equal(error.line, 6);
  assert.match(error.message, /"\$\{b\}"/);
  // A file that did not opt in is untouched, so nothing is missing.
  const [plain] = fillFiles([{ ...file, placeholders: undefined }], {}, false);
  assert.equal(plain.up.sql, "SELECT '${a}';");
  assertFilled([plain]);
});
