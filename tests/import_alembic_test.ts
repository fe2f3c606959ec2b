/**
 * import alembic through the real CLI, with the real Alembic (Debian's
 * python3-alembic) reading the graph and writing each revision's SQL in
 * offline mode: a revision that reads data through op.get_bind() is reported
 * and stops the import unless --partial; the result verifies, applies on the
 * embedded engine and on a server, is up to date, and builds the schema that
 * `alembic upgrade heads` (online, with psycopg2) builds.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { ALEMBIC_FILES } from "./alembic_fixture.ts";
import { queryDb, scratchDatabase, scratchDir, serverReachable, strata } from "./helpers.ts";

/** The interpreter strata's importer tries first, then python3 on PATH. */
function alembicPython(): string | null {
  for (const python of ["/usr/bin/python3", "python3"]) {
    try {
      const run = new Deno.Command(python, { args: ["-c", "import alembic, psycopg2"] })
        .outputSync();
      if (run.code === 0) return python;
    } catch {
      // not there
    }
  }
  return null;
}
const PYTHON = alembicPython();
// .ci/run installs python3-alembic and sets STRATA_REQUIRE_PEERS=1: there a missing Alembic fails.
const REQUIRED = Deno.env.get("STRATA_REQUIRE_PEERS") === "1";

async function writeTree(root: string, files: Record<string, string>): Promise<void> {
  for (const [rel, text] of Object.entries(files)) {
    const path = join(root, rel);
    await Deno.mkdir(join(path, ".."), { recursive: true });
    await Deno.writeTextFile(path, text);
  }
}

const IDS = [
  "20240101_090012_create_users",
  "20240102_100000_add_posts",
  "20240102_110000_add_tags",
  "20240103_080000_merge_posts_and_tags",
  "20240103_120000_audit_log",
  "20240104_090000_post_tags",
  "20240106_090000_user_bio",
];
const REVS = [
  "1a2b3c4d5e6f",
  "2b3c4d5e6f70",
  "3c4d5e6f7081",
  "4d5e6f708192",
  "8192a3b4c5d6",
  "5e6f708192a3",
  "708192a3b4c5",
];

interface Report {
  revisions: Array<
    {
      id: string;
      parents: string[];
      transaction: string;
      down: string;
      notes: string[];
      source: { version: string };
    }
  >;
  notImported: Array<{ file: string; reason: string }>;
}

async function importProject(dir: string): Promise<Report> {
  await writeTree(dir, ALEMBIC_FILES);
  const refused = await strata(["import", "alembic", ".", "--json"], { cwd: dir });
  assert.equal(refused.code, 5, refused.stdout + refused.stderr);
  const error = JSON.parse(refused.stdout).error;
  assert.equal(error.code, "FILE");
  assert.match(
    error.notImported[0].reason,
    /revision 6f708192a3b4: its upgrade\(\) reads the database through op\.get_bind\(\)/,
  );
  await assert.rejects(() => Deno.stat(join(dir, "migrations")));

  const run = await strata(["import", "alembic", ".", "--partial", "--json"], { cwd: dir });
  assert.equal(run.code, 0, run.stdout + run.stderr);
  const report = JSON.parse(run.stdout) as Report;
  assert.deepEqual(report.revisions.map((r) => r.id), IDS);
  assert.deepEqual(report.revisions.map((r) => r.source.version), REVS);
  assert.deepEqual(report.notImported.map((f) => f.file), [
    "alembic/versions/20240105_0900_backfill_names.py",
  ]);
  const byId = new Map(report.revisions.map((r) => [r.id, r]));
  // The merge keeps both parents of its down_revision tuple.
  assert.deepEqual(byId.get(IDS[3])!.parents, [IDS[1], IDS[2]]);
  // depends_on is an extra parent; the revision not imported is replaced by its own parent.
  const bio = byId.get(IDS[6])!;
  assert.deepEqual(bio.parents, [IDS[5], IDS[4]]);
  assert.match(bio.notes.join("\n"), /depends_on 8192a3b4c5d6: kept as an extra parent/);
  assert.match(bio.notes.join("\n"), /parent 6f708192a3b4 is not imported/);
  assert.match(byId.get(IDS[1])!.notes.join("\n"), /branch_labels content/);
  // The merge's `pass` downgrade is a successful no-op; NotImplementedError is irreversible.
  assert.deepEqual(report.revisions.map((r) => r.down), [
    "sql",
    "sql",
    "sql",
    "noop",
    "missing",
    "sql",
    "sql",
  ]);
  assert.match(byId.get(IDS[4])!.notes.join("\n"), /raises NotImplementedError/);
  // The autocommit_block() commits inside the script: kept, run outside strata's transaction.
  assert.deepEqual(
    report.revisions.filter((r) => r.transaction === "none").map((r) => r.id),
    [IDS[6]],
  );
  for (const [i, id] of IDS.entries()) {
    const text = await Deno.readTextFile(join(dir, "migrations", `${id}.sql`));
    // The Alembic revision stays visible, for adopt to map alembic_version rows.
    assert.match(text, new RegExp(`^-- imported from alembic ${REVS[i]}: alembic/versions/`));
    assert.doesNotMatch(text, /alembic_version|-- Running/i);
  }
  const root = await Deno.readTextFile(join(dir, "migrations", `${IDS[0]}.sql`));
  assert.match(root, /CREATE TABLE users \(/);
  assert.match(root, /ALTER TABLE users ADD COLUMN name TEXT;/);
  assert.match(root, /INSERT INTO users \(email, name\) VALUES \('admin@example\.com', 'Admin'\);/);
  // Only a wrapper BEGIN/COMMIT goes; the autocommit block keeps its COMMIT … BEGIN.
  assert.doesNotMatch(root, /BEGIN|COMMIT/);
  const bioFile = await Deno.readTextFile(join(dir, "migrations", `${IDS[6]}.sql`));
  assert.match(
    bioFile,
    /-- up\nBEGIN;\n\nALTER TABLE users ADD COLUMN bio TEXT;\n\nCOMMIT;\n\nCREATE INDEX CONCURRENTLY posts_user ON posts \(user_id\);\n-- down\n/,
  );
  return report;
}

async function upToDate(dir: string, db: string): Promise<void> {
  const applied = await strata(["apply", "-d", db], { cwd: dir });
  assert.equal(applied.code, 0, applied.stdout + applied.stderr);
  const status = await strata(["status", "-d", db, "--json"], { cwd: dir });
  assert.equal(status.code, 0, status.stderr);
  const state = JSON.parse(status.stdout);
  assert.equal(state.upToDate, true, status.stdout);
  assert.equal(state.applied, IDS.length);
}

const SCHEMA_QUERY = `
  SELECT 'column' AS kind, table_name || '.' || column_name || ' ' || data_type || ' ' ||
      is_nullable || ' ' || coalesce(column_default, '') AS what
    FROM information_schema.columns WHERE table_schema = 'public'
  UNION ALL
  SELECT 'constraint', conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid)
    FROM pg_constraint WHERE connamespace = 'public'::regnamespace
  UNION ALL
  SELECT 'index', indexdef FROM pg_indexes WHERE schemaname = 'public'`;

async function schemaOf(url: string): Promise<string[]> {
  const rows = await queryDb<{ kind: string; what: string }>(url, SCHEMA_QUERY);
  return rows.map((r) => `${r.kind} ${r.what}`)
    .filter((line) => !/strata_ledger|strata_journal|alembic_version/.test(line)).sort();
}

Deno.test({
  name:
    "[server] import alembic: verify, apply on pglite and a server, the schema Alembic builds, adopted",
  ignore: !REQUIRED && (PYTHON === null || !serverReachable),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    assert.ok(PYTHON, "no python3 with alembic and psycopg2: apt-get install python3-alembic");
    const scratch = await scratchDir();
    const dir = scratch.path;
    const theirs = await scratchDatabase();
    const ours = await scratchDatabase();
    try {
      await importProject(dir);
      const verify = await strata(["verify", "--json"], { cwd: dir });
      assert.equal(verify.code, 0, verify.stdout + verify.stderr);
      const proof = JSON.parse(verify.stdout);
      assert.equal(proof.counts.structural, 0);
      assert.equal(proof.counts.irreversible, 1);
      assert.equal(proof.counts.verified, IDS.length - 1);
      await upToDate(dir, `pglite:${join(dir, ".strata", "db")}`);
      await upToDate(dir, ours.url);

      // The real tool, online, on another database.
      const url = theirs.url.replace(/^postgres(ql)?:/, "postgresql:");
      const run = await new Deno.Command(PYTHON!, {
        args: ["-m", "alembic", "-x", `url=${url}`, "upgrade", "heads"],
        cwd: dir,
        stdout: "piped",
        stderr: "piped",
      }).output();
      const decode = (b: Uint8Array) => new TextDecoder().decode(b);
      assert.equal(run.code, 0, decode(run.stdout) + decode(run.stderr));
      const heads = await queryDb<{ version_num: string }>(
        theirs.url,
        "SELECT version_num FROM alembic_version ORDER BY 1",
      );
      assert.ok(heads.some((h) => h.version_num === "708192a3b4c5"), JSON.stringify(heads));
      const expected = await schemaOf(theirs.url);
      assert.ok(expected.length > 10, expected.join("\n"));
      assert.deepEqual(await schemaOf(ours.url), expected);
      const seeded = "SELECT email, (SELECT count(*)::int FROM tags) AS tags FROM users";
      assert.deepEqual(await queryDb(ours.url, seeded), await queryDb(theirs.url, seeded));

      // The database the real Alembic migrated is adopted: recorded as migrated, nothing run.
      const adopted = await strata(["adopt", "alembic", "-d", theirs.url, "--json"], { cwd: dir });
      assert.equal(adopted.code, 0, adopted.stdout + adopted.stderr);
      assert.deepEqual(
        JSON.parse(adopted.stdout).adopted.map((a: { revision: string }) => a.revision).sort(),
        [...IDS].sort(),
      );
      const status = await strata(["status", "-d", theirs.url, "--json"], { cwd: dir });
      const state = JSON.parse(status.stdout);
      assert.equal(state.upToDate, true, status.stdout);
      assert.equal(state.applied, IDS.length);
      // drift sees alembic_version until the team drops it, then nothing.
      const drift = await strata(["drift", "-d", theirs.url], { cwd: dir });
      assert.equal(drift.code, 3, drift.stdout + drift.stderr);
      assert.match(drift.stdout + drift.stderr, /alembic_version/);
      await queryDb(theirs.url, "DROP TABLE alembic_version");
      const clean = await strata(["drift", "-d", theirs.url], { cwd: dir });
      assert.equal(clean.code, 0, clean.stdout + clean.stderr);
      // A strata revision applies on top.
      const created = await strata(["create", "after alembic", "--json"], { cwd: dir });
      assert.equal(created.code, 0, created.stderr);
      const { path } = JSON.parse(created.stdout);
      const text = await Deno.readTextFile(join(dir, path));
      await Deno.writeTextFile(
        join(dir, path),
        text.slice(0, text.indexOf("-- up")) +
          "-- up\nCREATE TABLE after_alembic (id int);\n-- down\nDROP TABLE after_alembic;\n",
      );
      const onTop = await strata(["apply", "-d", theirs.url], { cwd: dir });
      assert.equal(onTop.code, 0, onTop.stdout + onTop.stderr);
      const check = await strata(["check", "-d", theirs.url], { cwd: dir });
      assert.equal(check.code, 0, check.stdout + check.stderr);
    } finally {
      await theirs.drop();
      await ours.drop();
      await scratch.remove();
    }
  },
});

Deno.test({
  name: "import alembic: an env.py that fails is reported per revision, nothing written",
  ignore: !REQUIRED && PYTHON === null,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const scratch = await scratchDir();
    const dir = scratch.path;
    try {
      await writeTree(dir, {
        ...ALEMBIC_FILES,
        "alembic/env.py": "raise RuntimeError('no settings module here')\n",
      });
      // Every revision is named with the error; none is left to write, with --partial or not.
      for (const args of [[], ["--partial"]]) {
        const run = await strata(["import", "alembic", ".", "--json", ...args], { cwd: dir });
        assert.equal(run.code, 2, run.stdout + run.stderr);
        const error = JSON.parse(run.stdout).error;
        assert.match(error.message, /No alembic migrations/);
        assert.equal(error.notImported.length, 8);
        assert.match(
          error.notImported[0].reason,
          /^revision 1a2b3c4d5e6f: Alembic's offline mode \(--sql\) cannot run its upgrade\(\): RuntimeError: no settings module here/,
        );
        await assert.rejects(() => Deno.stat(join(dir, "migrations")));
      }
      const missing = await strata(["import", "alembic", "."], {
        cwd: dir,
        env: { STRATA_PYTHON: join(dir, "no-such-python3") },
      });
      assert.equal(missing.code, 2, missing.stdout + missing.stderr);
      assert.match(missing.stderr, /Alembic cannot run here: no python3 with the alembic module/);
      assert.match(missing.stderr, /apt-get install python3-alembic/);
      const none = await strata(["import", "alembic", "alembic"], { cwd: dir });
      assert.equal(none.code, 2, none.stderr);
      assert.match(none.stderr, /No alembic\.ini in "alembic"/);
    } finally {
      await scratch.remove();
    }
  },
});
