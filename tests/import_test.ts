/**
 * import FORMAT PATH through the real CLI: for each format a history in the
 * tool's own layout, imported, then proven with verify, applied on the
 * embedded engine and on a server database, up to date, and extended by a
 * new strata revision.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { dbmateBinary, npmPath } from "../bench/peers.ts";
import {
  queryDb,
  scratchDatabase,
  scratchDir,
  serverDirTest,
  serverReachable,
  strata,
} from "./helpers.ts";

type Files = Record<string, string>;

async function writeTree(root: string, files: Files): Promise<void> {
  for (const [rel, text] of Object.entries(files)) {
    const path = join(root, rel);
    await Deno.mkdir(join(path, ".."), { recursive: true });
    await Deno.writeTextFile(path, text);
  }
}

interface Fixture {
  /** The PATH argument, relative to the project folder. */
  path: string;
  files: Files;
  partial?: boolean;
  /** The strata migrations folder, when not the default (set in strata.json). */
  dir?: string;
  /** The imported ids, in order. */
  ids: string[];
  /** Ids imported with transaction: none. */
  none: string[];
  noop: string[];
  missing: string[];
  /** Files reported as not imported. */
  notImported?: string[];
  /** Checks on the database after apply (a server URL or null for the embedded engine). */
  probe: string;
  /** Rows `probe` returns once the history is applied. */
  expected: unknown[];
  /** Extra checks on the JSON report. */
  report?: (report: ImportReport) => void;
}

interface ImportReport {
  revisions: Array<{
    id: string;
    parents: string[];
    transaction: string;
    down: string;
    notes: string[];
    source: { version: string; files: string[] };
  }>;
  notImported: Array<{ file: string; reason: string }>;
  repeatables?: Array<{ name: string; path: string; source: string }>;
  ignored: Array<{ file: string; reason: string }>;
  backup: string | null;
}

const USERS = "CREATE TABLE users (id serial PRIMARY KEY, email text NOT NULL);";
const INDEX_PROBE = `SELECT (SELECT count(*)::int FROM users) AS users,
  (SELECT count(*)::int FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
    WHERE c.relname = 'users_email' AND i.indisvalid) AS valid_index`;

const FIXTURES: Record<string, Fixture> = {
  dbmate: {
    path: "db/migrations",
    files: {
      "db/migrations/20240101120000_create_users.sql":
        `-- migrate:up\n${USERS}\n\n-- migrate:down\nDROP TABLE users;\n`,
      "db/migrations/20240102120000_index_email.sql": "-- migrate:up transaction:false\n" +
        "CREATE INDEX CONCURRENTLY users_email ON users (email);\n\n" +
        "-- migrate:down transaction:false\nDROP INDEX CONCURRENTLY users_email;\n",
      "db/migrations/20240103120000_seed.sql":
        "-- migrate:up\nINSERT INTO users (email) VALUES ('admin@example.com');\n\n-- migrate:down\n",
      "db/migrations/20240104120000_posts.sql":
        "-- migrate:up\nCREATE TABLE posts (id serial PRIMARY KEY, user_id int REFERENCES users);\n" +
        "-- migrate:down\nDROP TABLE posts;\n",
      "db/schema.sql": "-- dbmate's dump, not a migration\n",
    },
    ids: [
      "20240101_120000_create_users",
      "20240102_120000_index_email",
      "20240103_120000_seed",
      "20240104_120000_posts",
    ],
    none: ["20240102_120000_index_email"],
    noop: ["20240103_120000_seed"],
    // dbmate needs a down block in every file: nothing is irreversible.
    missing: [],
    probe: INDEX_PROBE,
    expected: [{ users: 1, valid_index: 1 }],
  },
  "golang-migrate": {
    path: "db/migrations",
    files: {
      // The wrapper many golang-migrate files carry: dropped, strata runs it in a transaction.
      "db/migrations/1_create_users.up.sql": `BEGIN;\n${USERS}\nCOMMIT;\n`,
      "db/migrations/1_create_users.down.sql": "DROP TABLE users;\n",
      "db/migrations/2_index_email.up.sql":
        "CREATE INDEX CONCURRENTLY users_email ON users (email);\n",
      "db/migrations/2_index_email.down.sql": "DROP INDEX CONCURRENTLY users_email;\n",
      "db/migrations/3_seed.up.sql": "INSERT INTO users (email) VALUES ('admin@example.com');\n",
      "db/migrations/3_seed.down.sql": "",
      "db/migrations/10_posts.up.sql":
        "CREATE TABLE posts (id serial PRIMARY KEY, user_id int REFERENCES users);\n",
    },
    ids: [
      "00000000_000001_create_users",
      "00000000_000002_index_email",
      "00000000_000003_seed",
      "00000000_000004_posts",
    ],
    none: ["00000000_000002_index_email"],
    noop: ["00000000_000003_seed"],
    missing: ["00000000_000004_posts"],
    probe: INDEX_PROBE,
    expected: [{ users: 1, valid_index: 1 }],
    report(report) {
      assert.match(report.revisions[0].notes.join(" "), /BEGIN\/COMMIT around the script/);
      assert.deepEqual(report.revisions[3].source.version, "10");
    },
  },
  goose: {
    path: "db/migrations",
    partial: true,
    files: {
      "db/migrations/00001_create_users.sql":
        `-- +goose Up\n${USERS}\n\n-- +goose Down\nDROP TABLE users;\n`,
      "db/migrations/00002_functions.sql": "-- +goose NO TRANSACTION\n-- +goose Up\n" +
        "-- +goose StatementBegin\n" +
        "CREATE FUNCTION normalize_email() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n" +
        "  NEW.email := lower(NEW.email);\n  RETURN NEW;\nEND;\n$$;\n-- +goose StatementEnd\n" +
        "-- +goose StatementBegin\n" +
        "CREATE FUNCTION add_one(a int) RETURNS int LANGUAGE sql\nBEGIN ATOMIC\n  SELECT a + 1;\nEND;\n" +
        "-- +goose StatementEnd\n" +
        "CREATE TRIGGER users_email BEFORE INSERT ON users FOR EACH ROW EXECUTE FUNCTION normalize_email();\n" +
        "\n-- +goose Down\nDROP TRIGGER users_email ON users;\nDROP FUNCTION add_one(int);\n" +
        "DROP FUNCTION normalize_email();\n",
      "db/migrations/00003_seed.sql":
        "-- +goose Up\nINSERT INTO users (email) VALUES ('Admin@Example.com');\n-- +goose Down\n",
      "db/migrations/00004_posts.sql":
        "-- +goose Up\nCREATE TABLE posts (id serial PRIMARY KEY, user_id int REFERENCES users);\n",
      "db/migrations/00005_backfill.go": "package migrations\n",
    },
    ids: [
      "00000000_000001_create_users",
      "00000000_000002_functions",
      "00000000_000003_seed",
      "00000000_000004_posts",
    ],
    none: ["00000000_000002_functions"],
    noop: ["00000000_000003_seed"],
    missing: ["00000000_000004_posts"],
    notImported: ["00005_backfill.go"],
    // The trigger ran (StatementBegin blocks stayed whole statements) and the functions work.
    probe: "SELECT email, add_one(41) AS answer FROM users",
    expected: [{ email: "admin@example.com", answer: 42 }],
  },
  flyway: {
    path: "sql",
    files: {
      "sql/V1__Create_users.sql": `${USERS}\n`,
      "sql/U1__Create_users.sql": "DROP TABLE users;\n",
      "sql/core/V1.1__Index_email.sql": "CREATE INDEX CONCURRENTLY users_email ON users (email);\n",
      "sql/core/U1.1__Index_email.sql": "DROP INDEX CONCURRENTLY users_email;\n",
      "sql/V2__Seed.sql": "INSERT INTO users (email) VALUES ('admin@example.com');\n",
      "sql/V2__Seed.sql.conf": "executeInTransaction=false\n",
      "sql/U2__Seed.sql": "-- nothing to undo\n",
      "sql/V10__Posts.sql":
        "CREATE TABLE posts (id serial PRIMARY KEY, user_id int REFERENCES users);\n",
      "sql/R__Views.sql": "CREATE OR REPLACE VIEW emails AS SELECT email FROM users;\n",
    },
    ids: [
      "00000000_000001_create_users",
      "00000000_000002_index_email",
      "00000000_000003_seed",
      "00000000_000004_posts",
    ],
    none: ["00000000_000002_index_email", "00000000_000003_seed"],
    noop: ["00000000_000003_seed"],
    missing: ["00000000_000004_posts"],
    // R__ files become repeatables (migrations/repeatable/NAME.sql), run after the revisions.
    probe: `${INDEX_PROBE.replace("AS valid_index", "AS valid_index,")}
      (SELECT count(*)::int FROM emails) AS emails`,
    expected: [{ users: 1, valid_index: 1, emails: 1 }],
    report(report) {
      assert.deepEqual(report.repeatables, [{
        name: "Views",
        path: "migrations/repeatable/Views.sql",
        source: "R__Views.sql",
      }]);
    },
  },
  sqitch: {
    path: "db",
    files: {
      "db/sqitch.conf": "[core]\n\tengine = pg\n",
      "db/sqitch.plan": "%syntax-version=1.0.0\n%project=flipr\n\n" +
        "appschema 2024-01-01T10:00:00Z Marge <marge@example.com> # Add schema for all flipr objects.\n" +
        "users [appschema] 2024-01-01T10:05:00Z Marge <marge@example.com> # Creates table to track our users.\n" +
        "flips [appschema users] 2024-01-01T10:05:00Z Marge <marge@example.com> # Adds table for storing flips.\n" +
        "@v1.0 2024-01-02T00:00:00Z Marge <marge@example.com> # Tag v1.0.\n" +
        "userindex [users] 2024-01-03T09:00:00Z Marge <marge@example.com> # Index users by email.\n" +
        "seed [users] 2024-01-03T09:30:00Z Marge <marge@example.com> # The first user.\n",
      "db/deploy/appschema.sql":
        "-- Deploy flipr:appschema to pg\n\nBEGIN;\n\nCREATE SCHEMA flipr;\n\nCOMMIT;\n",
      "db/revert/appschema.sql":
        "-- Revert flipr:appschema from pg\n\nBEGIN;\n\nDROP SCHEMA flipr;\n\nCOMMIT;\n",
      "db/verify/appschema.sql": "SELECT pg_catalog.has_schema_privilege('flipr', 'usage');\n",
      "db/deploy/users.sql": "-- Deploy flipr:users to pg\n-- requires: appschema\n\nBEGIN;\n\n" +
        "CREATE TABLE flipr.users (id serial PRIMARY KEY, email text NOT NULL);\n\nCOMMIT;\n",
      "db/revert/users.sql": "BEGIN;\nDROP TABLE flipr.users;\nCOMMIT;\n",
      "db/deploy/flips.sql": "BEGIN;\n" +
        "CREATE TABLE flipr.flips (id serial PRIMARY KEY, user_id int REFERENCES flipr.users);\n" +
        "COMMIT;\n",
      // No BEGIN/COMMIT: psql runs it statement by statement, as strata's none mode does.
      "db/deploy/userindex.sql": "CREATE INDEX CONCURRENTLY users_email ON flipr.users (email);\n",
      "db/revert/userindex.sql": "DROP INDEX CONCURRENTLY flipr.users_email;\n",
      "db/deploy/seed.sql":
        "BEGIN;\nINSERT INTO flipr.users (email) VALUES ('admin@example.com');\nCOMMIT;\n",
      "db/revert/seed.sql":
        "-- Revert flipr:seed from pg\n\nBEGIN;\n\n-- nothing to undo\n\nCOMMIT;\n",
    },
    ids: [
      "20240101_100000_appschema",
      "20240101_100500_users",
      "20240101_100501_flips",
      "20240103_090000_userindex",
      "20240103_093000_seed",
    ],
    none: ["20240103_090000_userindex"],
    noop: ["20240103_093000_seed"],
    missing: ["20240101_100501_flips"],
    probe: `SELECT (SELECT count(*)::int FROM flipr.users) AS users,
      (SELECT count(*)::int FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE c.relname = 'users_email' AND i.indisvalid) AS valid_index`,
    expected: [{ users: 1, valid_index: 1 }],
    report(report) {
      const [appschema, users, flips] = report.revisions;
      // Dependencies are parents, beside the change before it in the plan.
      assert.deepEqual(flips.parents, [appschema.id, users.id]);
      assert.deepEqual(users.parents, [appschema.id]);
      assert.equal(appschema.transaction, "each");
      assert.deepEqual(report.ignored.map((f) => f.file), ["verify/appschema.sql"]);
      assert.equal(flips.source.version, "flips");
    },
  },
  "node-pg-migrate": {
    // node-pg-migrate's default folder is strata's too: strata.json moves strata's.
    path: "migrations",
    dir: "strata",
    files: {
      "strata.json": '{ "dir": "strata" }\n',
      "migrations/1700000000000_create-users.sql":
        `-- Up Migration\n${USERS}\n\n-- Down Migration\nDROP TABLE users;\n`,
      "migrations/1700000100000_seed.sql":
        "-- Up Migration\nINSERT INTO users (email) VALUES ('admin@example.com');\n-- Down Migration\n",
      "migrations/1700000200000_posts.sql":
        "-- Up Migration\nCREATE TABLE posts (id serial PRIMARY KEY, user_id int REFERENCES users);\n",
      "migrations/1700000300000_add-bio.sql":
        "-- Up Migration\nALTER TABLE users ADD COLUMN bio text;\n-- Down Migration\nALTER TABLE users DROP COLUMN bio;\n",
    },
    ids: [
      "20231114_221320_create_users",
      "20231114_221500_seed",
      "20231114_221640_posts",
      "20231114_221820_add_bio",
    ],
    none: [],
    noop: ["20231114_221500_seed"],
    missing: ["20231114_221640_posts"],
    probe: "SELECT count(*)::int AS users, count(bio)::int AS bios FROM users",
    expected: [{ users: 1, bios: 0 }],
  },
};

const ON_TOP = "-- up\nCREATE TABLE strata_extra (id int);\n-- down\nDROP TABLE strata_extra;\n";

async function importFixture(dir: string, format: string, fixture: Fixture): Promise<ImportReport> {
  await writeTree(dir, fixture.files);
  const args = ["import", format, fixture.path, "--json"];
  if (fixture.partial) {
    // Without --partial a file that cannot be imported stops everything: nothing written.
    const refused = await strata(args, { cwd: dir });
    assert.equal(refused.code, 5, refused.stdout + refused.stderr);
    assert.equal(JSON.parse(refused.stdout).error.code, "FILE");
    await assert.rejects(() => Deno.stat(join(dir, fixture.dir ?? "migrations")));
    args.push("--partial");
  }
  const run = await strata(args, { cwd: dir });
  assert.equal(run.code, 0, run.stdout + run.stderr);
  const report = JSON.parse(run.stdout) as ImportReport;
  assert.deepEqual(report.revisions.map((r) => r.id), fixture.ids);
  const having = (pick: (r: ImportReport["revisions"][number]) => boolean) =>
    report.revisions.filter(pick).map((r) => r.id);
  assert.deepEqual(having((r) => r.transaction === "none"), fixture.none);
  assert.deepEqual(having((r) => r.down === "noop"), fixture.noop);
  assert.deepEqual(having((r) => r.down === "missing"), fixture.missing);
  assert.deepEqual(report.notImported.map((f) => f.file), fixture.notImported ?? []);
  // An ordered format is one straight line.
  if (format !== "sqitch") {
    report.revisions.forEach((r, i) =>
      assert.deepEqual(r.parents, i === 0 ? [] : [fixture.ids[i - 1]])
    );
  }
  fixture.report?.(report);
  const files = [...Deno.readDirSync(join(dir, fixture.dir ?? "migrations"))]
    .filter((e) => e.isFile).map((e) => e.name).sort();
  assert.deepEqual(files, fixture.ids.map((id) => `${id}.sql`));
  for (const id of fixture.ids) {
    const text = await Deno.readTextFile(join(dir, fixture.dir ?? "migrations", `${id}.sql`));
    // The source's version stays visible in the file.
    assert.match(text, new RegExp(`^-- imported from ${format} `));
  }
  return report;
}

/** A new strata revision on top of the imported head. */
async function addOnTop(dir: string): Promise<string> {
  const created = await strata(["create", "extra table", "--json"], { cwd: dir });
  assert.equal(created.code, 0, created.stderr);
  const { path, parents } = JSON.parse(created.stdout);
  const text = await Deno.readTextFile(join(dir, path));
  await Deno.writeTextFile(join(dir, path), text.slice(0, text.indexOf("-- up")) + ON_TOP);
  return parents[0];
}

async function applyAndCheck(dir: string, db: string, fixture: Fixture): Promise<void> {
  const applied = await strata(["apply", "-d", db], { cwd: dir });
  assert.equal(applied.code, 0, applied.stdout + applied.stderr);
  const status = await strata(["status", "-d", db, "--json"], { cwd: dir });
  assert.equal(status.code, 0, status.stderr);
  const state = JSON.parse(status.stdout);
  assert.equal(state.upToDate, true, status.stdout);
  assert.equal(state.applied, fixture.ids.length);
}

for (const [format, fixture] of Object.entries(FIXTURES)) {
  Deno.test({
    name: `[embedded] import ${format}: verify passes, apply on pglite, a new revision on top`,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      const scratch = await scratchDir();
      const dir = scratch.path;
      try {
        await importFixture(dir, format, fixture);
        const verify = await strata(["verify", "--json"], { cwd: dir });
        assert.equal(verify.code, 0, verify.stdout + verify.stderr);
        const proof = JSON.parse(verify.stdout);
        assert.equal(proof.counts.structural, 0);
        assert.equal(proof.counts.irreversible, fixture.missing.length);
        assert.equal(proof.counts.verified, fixture.ids.length - fixture.missing.length);
        const db = `pglite:${join(dir, ".strata", "db")}`;
        await applyAndCheck(dir, db, fixture);
        assert.equal(await addOnTop(dir), fixture.ids.at(-1));
        const again = await strata(["apply", "-d", db, "--json"], { cwd: dir });
        assert.equal(again.code, 0, again.stdout + again.stderr);
        assert.equal(JSON.parse(again.stdout).steps.length, 1, again.stdout);
      } finally {
        await scratch.remove();
      }
    },
  });

  serverDirTest(
    `import ${format}: apply on a server, up to date, the data as the tool left it`,
    async (dir, url) => {
      await importFixture(dir, format, fixture);
      await applyAndCheck(dir, url, fixture);
      assert.deepEqual(await queryDb(url, fixture.probe), fixture.expected);
      await addOnTop(dir);
      const again = await strata(["apply", "-d", url], { cwd: dir });
      assert.equal(again.code, 0, again.stdout + again.stderr);
      assert.deepEqual(await queryDb(url, "SELECT count(*)::int AS n FROM strata_extra"), [{
        n: 0,
      }]);
      const status = await strata(["check", "-d", url], { cwd: dir });
      assert.equal(status.code, 0, status.stdout + status.stderr);
    },
  );
}

/** A project folder with `files`, removed after `fn`. */
async function inProject(files: Files, fn: (dir: string) => Promise<void>): Promise<void> {
  const scratch = await scratchDir();
  try {
    await writeTree(scratch.path, files);
    await fn(scratch.path);
  } finally {
    await scratch.remove();
  }
}

Deno.test("import: an unknown format is a usage error listing the formats", async () => {
  await inProject({ "src/x.sql": "" }, async (dir) => {
    const run = await strata(["import", "liquibase", "src"], { cwd: dir });
    assert.equal(run.code, 2, run.stderr);
    assert.match(run.stderr, /Unknown import format "liquibase"/);
    assert.match(run.stderr, /dbmate, golang-migrate, goose, flyway, sqitch, node-pg-migrate/);
    const missing = await strata(["import", "dbmate"], { cwd: dir });
    assert.equal(missing.code, 2, missing.stderr);
  });
});

Deno.test("import: a malformed source file is exit 5 naming the file and line", async () => {
  const cases: Array<[string, Files, RegExp]> = [
    [
      "dbmate",
      { "src/20240101120000_a.sql": "-- migrate:up\nSELECT 1;\n-- migrate:up\nSELECT 2;\n" },
      /src\/20240101120000_a\.sql:3: Second "-- migrate:up" block/,
    ],
    [
      "dbmate",
      { "src/20240101120000_a.sql": "CREATE TABLE t ();\n-- migrate:up\nSELECT 1;\n" },
      /src\/20240101120000_a\.sql:1: SQL before the "-- migrate:up" block/,
    ],
    [
      "dbmate",
      { "src/20240101120000_a.sql": "-- migrate:up\nCREATE TABLE t ();\n" },
      /src\/20240101120000_a\.sql:\d+: No "-- migrate:down" block/,
    ],
    [
      "goose",
      {
        "src/00001_a.sql": "-- +goose Up\n-- +goose StatementBegin\nSELECT 1;\n-- +goose Down\n",
      },
      /src\/00001_a\.sql:2: StatementBegin without StatementEnd/,
    ],
    [
      "golang-migrate",
      { "src/1_a.down.sql": "DROP TABLE a;\n" },
      /src\/1_a\.down\.sql:1: Down file without an up file/,
    ],
    [
      "sqitch",
      {
        "src/sqitch.plan":
          "%project=p\n\na 2024-01-01T00:00:00Z M <m@e>\nb [zz] 2024-01-01T00:00:01Z M <m@e>\n",
        "src/deploy/a.sql": "SELECT 1;\n",
        "src/deploy/b.sql": "SELECT 1;\n",
      },
      /src\/sqitch\.plan:4: Change "b" requires "zz", not earlier in the plan/,
    ],
    [
      // Not malformed for dbmate, but strata would read the line as its own marker.
      "dbmate",
      { "src/20240101120000_a.sql": "-- migrate:up\nSELECT 1;\n-- down\n-- migrate:down\n" },
      /src\/20240101120000_a\.sql: Line 2 of the up section reads as a strata/,
    ],
    [
      "flyway",
      { "src/V1__a.sql": "SELECT 1;\n", "src/V1.0__b.sql": "SELECT 2;\n" },
      /Version 1(\.0)? also in/,
    ],
  ];
  for (const [format, files, expected] of cases) {
    await inProject(files, async (dir) => {
      const run = await strata(["import", format, "src"], { cwd: dir });
      assert.equal(run.code, 5, `${format}: ${run.stdout}${run.stderr}`);
      assert.match(run.stderr, expected);
      await assert.rejects(() => Deno.stat(join(dir, "migrations")));
    });
  }
});

Deno.test("import: --dry-run writes nothing; a second import refuses to overwrite", async () => {
  const files = { ...FIXTURES.dbmate.files, "db/migrations/README.md": "notes\n" };
  await inProject(files, async (dir) => {
    const dry = await strata(["import", "dbmate", "db/migrations", "--dry-run"], { cwd: dir });
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /20240102_120000_index_email {2}← 20240102120000_index_email\.sql/);
    assert.match(dry.stdout, /ignored README\.md: not a dbmate migration/);
    await assert.rejects(() => Deno.stat(join(dir, "migrations")));
    assert.equal((await strata(["import", "dbmate", "db/migrations"], { cwd: dir })).code, 0);
    const before = await Deno.readTextFile(
      join(dir, "migrations/20240101_120000_create_users.sql"),
    );
    const again = await strata(["import", "dbmate", "db/migrations"], { cwd: dir });
    assert.equal(again.code, 2, again.stderr);
    assert.match(again.stderr, /already exists/);
    const after = await Deno.readTextFile(join(dir, "migrations/20240101_120000_create_users.sql"));
    assert.equal(after, before);
    await assert.rejects(() => Deno.stat(join(dir, "versions_backup")));
  });
});

Deno.test("import: into a folder that already holds files, a backup first", async () => {
  const existing =
    "-- message: x\n-- parents:\n-- up\nCREATE TABLE x ();\n-- down\nDROP TABLE x;\n";
  await inProject(
    { ...FIXTURES.dbmate.files, "migrations/20200101_0000_existing.sql": existing },
    async (dir) => {
      const run = await strata(["import", "dbmate", "db/migrations", "--json"], { cwd: dir });
      assert.equal(run.code, 0, run.stderr);
      const report = JSON.parse(run.stdout) as ImportReport;
      assert.ok(report.backup, run.stdout);
      const manifest = JSON.parse(
        await Deno.readTextFile(join(dir, "versions_backup", report.backup!, "manifest.json")),
      );
      assert.deepEqual(manifest.files.map((f: { path: string }) => f.path), [
        "20200101_0000_existing.sql",
      ]);
      assert.match(run.stderr, /second root/);
      assert.equal(
        await Deno.readTextFile(join(dir, "migrations/20200101_0000_existing.sql")),
        existing,
      );
    },
  );
});

Deno.test("import: the source folder cannot be the migrations folder", async () => {
  await inProject({ "migrations/1_a.up.sql": "SELECT 1;\n" }, async (dir) => {
    const run = await strata(["import", "golang-migrate", "migrations"], { cwd: dir });
    assert.equal(run.code, 2, run.stderr);
    assert.match(run.stderr, /is the migrations folder/);
  });
});

// ------------------------------------------------ the real tool, where the bench installed it

/** Tables, columns, constraints and indexes of public, without either tool's bookkeeping. */
const SCHEMA_QUERY = `
  SELECT 'column' AS kind, table_name || '.' || column_name || ' ' || data_type AS what
    FROM information_schema.columns WHERE table_schema = 'public'
  UNION ALL
  SELECT 'constraint', conrelid::regclass || ' ' || pg_get_constraintdef(oid)
    FROM pg_constraint WHERE connamespace = 'public'::regnamespace
  UNION ALL
  SELECT 'index', indexdef FROM pg_indexes WHERE schemaname = 'public'`;

async function schemaOf(url: string): Promise<string[]> {
  const rows = await queryDb<{ kind: string; what: string }>(url, SCHEMA_QUERY);
  return rows.map((r) => `${r.kind} ${r.what}`)
    .filter((line) => !/strata_ledger|strata_journal|schema_migrations|pgmigrations/.test(line))
    .sort();
}

const REAL_TOOLS: Record<string, { bin: string; run: (url: string, path: string) => string[] }> = {
  dbmate: {
    bin: dbmateBinary(),
    run: (
      url,
      path,
    ) => [dbmateBinary(), "--no-dump-schema", "--url", `${url}?sslmode=disable`, "-d", path, "up"],
  },
  "node-pg-migrate": {
    bin: npmPath("node-pg-migrate", "bin", "node-pg-migrate.js"),
    run: (_url, path) => [
      "node",
      npmPath("node-pg-migrate", "bin", "node-pg-migrate.js"),
      "up",
      "--migrations-dir",
      path,
      "--database-url-var",
      "IMPORT_TEST_URL",
      "--no-verbose",
    ],
  },
};

for (const [format, tool] of Object.entries(REAL_TOOLS)) {
  const installed = (() => {
    try {
      return Deno.statSync(tool.bin).isFile;
    } catch {
      return false;
    }
  })();
  // .ci/run installs the npm peers and sets STRATA_REQUIRE_PEERS=1: there a missing tool fails.
  // Elsewhere (bench/peers.ts installs them for the bench) a missing tool skips the comparison.
  const required = Deno.env.get("STRATA_REQUIRE_PEERS") === "1";
  Deno.test({
    name: `[server] import ${format}: the same schema as ${format} itself builds`,
    ignore: !required && (!installed || !serverReachable),
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      const fixture = FIXTURES[format];
      const scratch = await scratchDir();
      const theirs = await scratchDatabase();
      const ours = await scratchDatabase();
      try {
        await importFixture(scratch.path, format, fixture);
        const [cmd, ...args] = tool.run(theirs.url, fixture.path);
        const run = await new Deno.Command(cmd, {
          args,
          cwd: scratch.path,
          env: { IMPORT_TEST_URL: theirs.url },
          stdout: "piped",
          stderr: "piped",
        }).output();
        const decode = (b: Uint8Array) => new TextDecoder().decode(b);
        assert.equal(run.code, 0, decode(run.stdout) + decode(run.stderr));
        await applyAndCheck(scratch.path, ours.url, fixture);
        const expected = await schemaOf(theirs.url);
        assert.ok(expected.length > 3, expected.join("\n"));
        assert.deepEqual(await schemaOf(ours.url), expected);
        assert.deepEqual(
          await queryDb(ours.url, fixture.probe),
          await queryDb(theirs.url, fixture.probe),
        );
      } finally {
        await theirs.drop();
        await ours.drop();
        await scratch.remove();
      }
    },
  });
}

Deno.test("import sqitch: a reworked change's older scripts are NAME@TAG", async () => {
  const plan = "%syntax-version=1.0.0\n%project=p\n\n" +
    "f 2024-01-01T00:00:00Z M <m@e> # first f\n@v1 2024-01-02T00:00:00Z M <m@e>\n" +
    "g [f] 2024-01-03T00:00:00Z M <m@e>\nf [f@v1] 2024-01-04T00:00:00Z M <m@e> # rework f\n";
  const fn = (n: number) =>
    `CREATE OR REPLACE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT ${n}';`;
  await inProject({
    "p/sqitch.plan": plan,
    "p/deploy/f@v1.sql": `BEGIN;\n${fn(1)}\nCOMMIT;\n`,
    "p/revert/f@v1.sql": "BEGIN;\nDROP FUNCTION f();\nCOMMIT;\n",
    "p/deploy/g.sql": "BEGIN;\nCREATE TABLE g (n int DEFAULT f());\nCOMMIT;\n",
    "p/revert/g.sql": "BEGIN;\nDROP TABLE g;\nCOMMIT;\n",
    "p/deploy/f.sql": `BEGIN;\n${fn(2)}\nCOMMIT;\n`,
    "p/revert/f.sql": `BEGIN;\n${fn(1)}\nCOMMIT;\n`,
  }, async (dir) => {
    const run = await strata(["import", "sqitch", "p", "--json"], { cwd: dir });
    assert.equal(run.code, 0, run.stdout + run.stderr);
    const report = JSON.parse(run.stdout) as ImportReport;
    assert.deepEqual(report.revisions.map((r) => r.source.files), [
      ["deploy/f@v1.sql", "revert/f@v1.sql"],
      ["deploy/g.sql", "revert/g.sql"],
      ["deploy/f.sql", "revert/f.sql"],
    ]);
    const [first, g, second] = report.revisions.map((r) => r.id);
    assert.deepEqual(report.revisions[2].parents, [first, g]);
    assert.deepEqual(report.revisions.map((r) => r.transaction), ["each", "each", "each"]);
    assert.notEqual(first, second);
    const db = `pglite:${join(dir, ".strata", "db")}`;
    const apply = await strata(["apply", "-d", db], { cwd: dir });
    assert.equal(apply.code, 0, apply.stdout + apply.stderr);
    const down = await strata(["downgrade", g, "-d", db], { cwd: dir });
    assert.equal(down.code, 0, down.stdout + down.stderr);
  });
});
