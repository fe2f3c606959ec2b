/**
 * Hostile deployments: a role that cannot write the ledger, a ledger made or
 * damaged by hand, SQL too deep for the parser, folders strata cannot read,
 * NUL bytes, durations no timer takes, a database dropped mid-run. Each ends
 * in a named error with its exit code, never in INTERNAL or a hang.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  assertNoCrash,
  expectCode,
  type Json,
  MAIN,
  parseJson,
  queryDb,
  run,
  scratchDir,
  serverDirTest,
  strata,
  waitForQuery,
  writeMigration,
} from "./support.ts";

const A = "20240101_0000_a";
const B = "20240101_0001_b";
const C = "20240101_0002_c";

function errorJson(r: { stdout: string; stderr: string; code: number }, what: string): Json {
  assertNoCrash(r, what);
  return parseJson(r, what).error;
}

Deno.test("a duration no timer takes is a usage error naming the option and the range", async () => {
  const dir = await scratchDir();
  try {
    const flag = await strata(
      ["status", "--json", "--connect-timeout", "1000000m", "-d", "pglite:memory"],
      { cwd: dir.path },
    );
    expectCode(flag, 2, "--connect-timeout 1000000m");
    const error = errorJson(flag, "flag");
    assert.equal(error.code, "USAGE");
    assert.match(error.message, /--connect-timeout/);
    assert.match(error.hint, /2147483647ms/);
    const env = await strata(["status", "--json", "-d", "pglite:memory"], {
      cwd: dir.path,
      env: { STRATA_LOCK_TIMEOUT: "30d" },
    });
    expectCode(env, 2, "STRATA_LOCK_TIMEOUT=30d");
    assert.match(errorJson(env, "env").message, /STRATA_LOCK_TIMEOUT/);
  } finally {
    await dir.remove();
  }
});

serverDirTest("a NUL byte stops the run before any revision runs", async (dir, url) => {
  const m = join(dir, "migrations");
  await writeMigration(m, A, "-- up\nCREATE TABLE a (x int);\n-- down\nDROP TABLE a;\n");
  await writeMigration(m, B, "-- up\nCREATE TABLE b (x int);\nSELECT '\u0000';\n-- down\n");
  const r = await strata(["apply", "--json", "-d", url], { cwd: dir });
  expectCode(r, 5, "apply with a NUL byte");
  const error = errorJson(r, "nul");
  assert.equal(error.code, "FILE");
  assert.match(error.file, new RegExp(`${B}\\.sql$`));
  assert.equal(error.line, 3);
  const tables = await queryDb(url, "SELECT to_regclass('a') AS a");
  assert.equal(tables[0].a, null, "the revision before it did not run");
});

serverDirTest(
  "SQL too deep for the parser is a file error from lint and apply",
  async (dir, url) => {
    const m = join(dir, "migrations");
    const deep = `SELECT ${Array(20000).fill("1").join("+")};`;
    await writeMigration(m, A, "-- up\nCREATE TABLE a (x int);\n-- down\nDROP TABLE a;\n");
    await writeMigration(m, B, `-- transaction: none\n-- up\nSELECT 1;\n${deep}\n-- down\n`);
    const lint = await strata(["lint", "--json"], { cwd: dir });
    expectCode(lint, 5, "lint");
    const lintError = errorJson(lint, "lint");
    assert.equal(lintError.code, "FILE");
    assert.match(lintError.message, /nested too deeply/);
    assert.match(lintError.file, new RegExp(`${B}\\.sql$`));
    assert.equal(lintError.line, 3);
    const apply = await strata(["apply", "--json", "-d", url], { cwd: dir });
    expectCode(apply, 5, "apply");
    assert.match(errorJson(apply, "apply").message, /nested too deeply/);
  },
);

Deno.test("migrations and backups folders that are files or unreadable are named errors", async () => {
  const dir = await scratchDir();
  try {
    await Deno.writeTextFile(join(dir.path, "afile"), "x");
    const file = await strata(["status", "--json", "--dir", "afile", "-d", "pglite:memory"], {
      cwd: dir.path,
    });
    expectCode(file, 2, "--dir names a file");
    assert.match(errorJson(file, "file").message, /is a file, not a folder/);

    await writeMigration(join(dir.path, "migrations"), A, "-- up\nSELECT 1;\n-- down\n");
    await Deno.writeTextFile(join(dir.path, "versions_backup"), "x");
    for (const command of ["backup", "backups"]) {
      const r = await strata([command, "--json"], { cwd: dir.path });
      expectCode(r, 5, `${command} with versions_backup a file`);
      assert.equal(errorJson(r, command).file, "versions_backup");
    }

    // Root ignores permissions: drop the capabilities that let it, where it runs as root.
    const locked = join(dir.path, "locked");
    await Deno.mkdir(locked);
    await Deno.chmod(locked, 0o000);
    const deno = [Deno.execPath(), "run", "-A", "--quiet", MAIN];
    const caps = ["-dac_override", "-dac_read_search"].join(",");
    const argv = Deno.uid() === 0
      ? ["setpriv", `--inh-caps=${caps}`, `--bounding-set=${caps}`, ...deno]
      : deno;
    const out = await new Deno.Command(argv[0], {
      args: [...argv.slice(1), "status", "--json", "--dir", "locked", "-d", "pglite:memory"],
      cwd: dir.path,
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const r = {
      code: out.code,
      stdout: new TextDecoder().decode(out.stdout),
      stderr: new TextDecoder().decode(out.stderr),
    };
    expectCode(r, 5, "unreadable migrations folder");
    const error = errorJson(r, "locked");
    assert.equal(error.code, "FILE");
    assert.match(error.message, /Cannot read migrations folder/);
  } finally {
    await Deno.chmod(join(dir.path, "locked"), 0o755).catch(() => {});
    await dir.remove();
  }
});

/** A login role with a random name, dropped with what it was granted. */
async function withRole(url: string, fn: (role: string, as: string) => Promise<void>) {
  const role = `strata_role_${crypto.randomUUID().slice(0, 8)}`;
  await queryDb(url, `CREATE ROLE ${role} LOGIN`);
  const as = new URL(url);
  as.username = role;
  try {
    await fn(role, as.toString());
  } finally {
    await queryDb(url, `DROP OWNED BY ${role}; DROP ROLE ${role}`).catch(() => {});
  }
}

serverDirTest(
  "a role that can only read runs status, check, history and drift",
  async (dir, url) => {
    const m = join(dir, "migrations");
    await writeMigration(m, A, "-- up\nCREATE TABLE a (x int);\n-- down\nDROP TABLE a;\n");
    expectCode(await strata(["apply", "-d", url], { cwd: dir }), 0, "apply as owner");
    await writeMigration(m, B, "-- up\nCREATE TABLE b (x int);\n-- down\nDROP TABLE b;\n");
    await withRole(url, async (role, as) => {
      const none = await strata(["status", "--json", "-d", as], { cwd: dir });
      expectCode(none, 2, "status without SELECT");
      const noneError = errorJson(none, "no select");
      assert.equal(noneError.code, "PRIVILEGE");
      assert.equal(noneError.role, role);
      assert.equal(noneError.privilege, "SELECT");

      await queryDb(url, `GRANT SELECT ON strata_ledger, strata_journal, a TO ${role}`);
      expectCode(await strata(["status", "-d", as], { cwd: dir }), 0, "status read-only");
      expectCode(await strata(["check", "-d", as], { cwd: dir }), 3, "check read-only");
      expectCode(await strata(["history", "-d", as], { cwd: dir }), 0, "history read-only");
      expectCode(await strata(["drift", "-d", as], { cwd: dir }), 0, "drift read-only");

      const apply = await strata(["apply", "--json", "-d", as], { cwd: dir });
      expectCode(apply, 2, "apply read-only");
      const error = errorJson(apply, "apply read-only");
      assert.equal(error.code, "PRIVILEGE");
      assert.equal(error.role, role);
      assert.match(error.table, /strata_ledger/);
      assert.match(error.privilege, /INSERT/);
      const b = await queryDb(url, "SELECT to_regclass('b') AS b");
      assert.equal(b[0].b, null, "nothing ran");
    });
  },
);

serverDirTest(
  "a ledger made or damaged by hand is a LEDGER error before any change",
  async (dir, url) => {
    const m = join(dir, "migrations");
    await writeMigration(m, A, "-- up\nCREATE TABLE a (x int);\n-- down\nDROP TABLE a;\n");
    await queryDb(url, "CREATE TABLE app (id int, name text)");
    const app = await strata(["apply", "--json", "-d", url, "--table", "app"], { cwd: dir });
    expectCode(app, 5, "--table at an application table");
    assert.equal(errorJson(app, "app").code, "LEDGER");

    expectCode(await strata(["apply", "-d", url], { cwd: dir }), 0, "apply");
    await writeMigration(m, B, "-- up\nCREATE TABLE b (x int);\n-- down\nDROP TABLE b;\n");
    await queryDb(url, "ALTER TABLE strata_journal DROP COLUMN detail");
    const missing = await strata(["apply", "--json", "-d", url], { cwd: dir });
    expectCode(missing, 5, "journal without a column");
    const error = errorJson(missing, "missing column");
    assert.equal(error.code, "LEDGER");
    assert.match(error.message, /detail/);
    assert.equal((await queryDb(url, "SELECT to_regclass('b') AS b"))[0].b, null, "nothing ran");

    await queryDb(url, "ALTER TABLE strata_journal ADD COLUMN detail text");
    await queryDb(url, "ALTER TABLE strata_ledger ADD COLUMN note text NOT NULL DEFAULT ''");
    await queryDb(url, "ALTER TABLE strata_ledger ALTER COLUMN note DROP DEFAULT");
    const extra = await strata(["apply", "--json", "-d", url], { cwd: dir });
    expectCode(extra, 5, "ledger with a required extra column");
    assert.match(errorJson(extra, "extra").message, /note/);
    await queryDb(url, "ALTER TABLE strata_ledger DROP COLUMN note");

    await queryDb(url, "ALTER TABLE strata_ledger ALTER COLUMN checksum DROP NOT NULL");
    await queryDb(url, "UPDATE strata_ledger SET checksum = NULL");
    const nulls = await strata(["apply", "--json", "-d", url], { cwd: dir });
    expectCode(nulls, 5, "NULL checksum");
    assert.equal(errorJson(nulls, "null checksum").code, "INTEGRITY");
    expectCode(
      await strata(["rehash", A, "-d", url], { cwd: dir }),
      0,
      "rehash of a NULL checksum",
    );
    const [row] = await queryDb(url, "SELECT checksum FROM strata_ledger");
    assert.match(String(row.checksum), /^sha256:[0-9a-f]{64}$/);
    expectCode(await strata(["apply", "-d", url], { cwd: dir }), 0, "apply after rehash");

    await queryDb(url, "ALTER TABLE strata_ledger DROP CONSTRAINT strata_ledger_pkey");
    await queryDb(url, "ALTER TABLE strata_ledger ALTER COLUMN revision DROP NOT NULL");
    await queryDb(
      url,
      "INSERT INTO strata_ledger (revision, checksum, strata_version) VALUES (NULL, 'x', 'x')",
    );
    const noRevision = await strata(["status", "--json", "-d", url], { cwd: dir });
    expectCode(noRevision, 5, "NULL revision");
    assert.equal(errorJson(noRevision, "null revision").code, "LEDGER");
  },
);

serverDirTest(
  "a database dropped while strata runs ends the run with a clear error",
  async (dir, url) => {
    const m = join(dir, "migrations");
    await writeMigration(m, A, "-- up\nCREATE TABLE a (x int);\n-- down\nDROP TABLE a;\n");
    await writeMigration(
      m,
      B,
      "-- transaction: none\n-- up\nSELECT pg_sleep(60);\nSELECT pg_sleep(60);\n-- down\n",
    );
    await writeMigration(m, C, "-- up\nSELECT 1;\n-- down\n");
    const name = new URL(url).pathname.slice(1);
    const running = run(["apply", "--json", "-d", url, "--connect-timeout", "2s"], {
      cwd: dir,
      limitMs: 300_000,
    });
    await waitForQuery(url, "pg_sleep(60)", 60_000);
    const admin = new URL(url);
    admin.pathname = "/postgres";
    await queryDb(admin.toString(), `DROP DATABASE ${name} WITH (FORCE)`);
    const r = await running;
    // The limit is a generous bound for a hang, not a timing assertion.
    assert.ok(
      !r.timedOut,
      `strata did not end after its database was dropped\n${JSON.stringify(r)}`,
    );
    expectCode(r, 1, "apply whose database was dropped");
    const error = errorJson(r, "dropped");
    assert.equal(error.code, "OUTCOME_UNKNOWN");
    // Re-created so the helper's own drop finds it.
    await queryDb(admin.toString(), `CREATE DATABASE ${name}`);
  },
);
