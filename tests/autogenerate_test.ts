/**
 * create --autogenerate and diff, end to end through the real CLI: a desired
 * schema written by hand as plain SQL, the revision strata writes from it,
 * verify on that revision, apply on a real server database, and the applied
 * schema compared with the desired one (catalog snapshots). Also: destructive
 * changes under a comment and flagged by lint, an invalid schema file named
 * with its line, no change, diff writing nothing, --schema and the config
 * key, and changes strata cannot generate or prove (exit 1, nothing written).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { openEngine } from "../lib/db/engine.ts";
import { parseMigration } from "../lib/migration_file.ts";
import { diffSnapshots, formatDiff, isEmpty } from "../lib/schema/diff.ts";
import { serverScratch } from "../lib/schema/scratch.ts";
import { snapshot } from "../lib/schema/snapshot.ts";
import {
  type CliResult,
  dump,
  embeddedTest,
  expectExit,
  parseJson,
  queryDb,
  scratchDir,
  SERVER_URL,
  serverDirTest,
  strata,
  writeMigration,
} from "./helpers.ts";

const options = { sanitizeOps: false, sanitizeResources: false };

// --- the base migration set: users + an enum, posts with a foreign key, a view

const BASE: Array<[string, string]> = [
  [
    "20240101_0000_users",
    `-- message: users and moods
-- parents:
-- up
CREATE TYPE mood AS ENUM ('sad', 'ok');
CREATE TABLE users (
  id int PRIMARY KEY,
  email varchar(50) NOT NULL,
  legacy_flag boolean,
  mood mood DEFAULT 'ok'
);
-- down
DROP TABLE users;
DROP TYPE mood;
`,
  ],
  [
    "20240101_0100_posts",
    `-- message: posts, audit log, greeting
-- up
CREATE TABLE posts (
  id int PRIMARY KEY,
  user_id int NOT NULL REFERENCES users (id),
  title varchar(50),
  views int
);
CREATE TABLE audit_log (id bigint, at timestamptz, note text);
CREATE FUNCTION greeting() RETURNS text LANGUAGE sql AS $$ SELECT 'hello' $$;
-- down
DROP FUNCTION greeting();
DROP TABLE audit_log;
DROP TABLE posts;
`,
  ],
  [
    "20240101_0200_views",
    `-- message: active users view
-- up
CREATE VIEW active_users AS SELECT id, email FROM users WHERE mood = 'ok';
-- down
DROP VIEW active_users;
`,
  ],
];
const BASE_IDS = BASE.map(([id]) => id);

/** The schema of head, written by hand: every CREATE of the base revisions. */
const HEAD_SCHEMA = `CREATE TYPE mood AS ENUM ('sad', 'ok');
CREATE TABLE users (
  id int PRIMARY KEY,
  email varchar(50) NOT NULL,
  legacy_flag boolean,
  mood mood DEFAULT 'ok'
);
CREATE TABLE posts (
  id int PRIMARY KEY,
  user_id int NOT NULL REFERENCES users (id),
  title varchar(50),
  views int
);
CREATE TABLE audit_log (id bigint, at timestamptz, note text);
CREATE FUNCTION greeting() RETURNS text LANGUAGE sql AS $$ SELECT 'hello' $$;
CREATE VIEW active_users AS SELECT id, email FROM users WHERE mood = 'ok';
`;

/**
 * Head plus one change of each kind: a new table with a foreign key, new
 * columns with defaults, two changed types (varchar(50) -> text under a view,
 * int -> bigint), a new index, a new enum value, a new view, a changed
 * function body, a new check constraint and a comment.
 */
const ADDITIVE_SCHEMA = `CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE users (
  id int PRIMARY KEY,
  email text NOT NULL,
  legacy_flag boolean,
  mood mood DEFAULT 'ok',
  created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE users IS 'people who sign in';
CREATE TABLE posts (
  id int PRIMARY KEY,
  user_id int NOT NULL REFERENCES users (id),
  title varchar(50),
  views bigint,
  status text NOT NULL DEFAULT 'draft',
  CONSTRAINT posts_views_check CHECK (views >= 0)
);
CREATE INDEX posts_user_idx ON posts (user_id);
CREATE TABLE comments (
  id int PRIMARY KEY,
  post_id int NOT NULL REFERENCES posts (id),
  body text NOT NULL
);
CREATE TABLE audit_log (id bigint, at timestamptz, note text);
CREATE FUNCTION greeting() RETURNS text LANGUAGE sql AS $$ SELECT 'hello, world' $$;
CREATE VIEW active_users AS SELECT id, email FROM users WHERE mood = 'ok';
CREATE VIEW recent_posts AS SELECT id, title FROM posts WHERE views > 10;
`;

/** Head without users.legacy_flag and without the audit_log table. */
const DESTRUCTIVE_SCHEMA = HEAD_SCHEMA
  .replace("  legacy_flag boolean,\n", "")
  .replace("CREATE TABLE audit_log (id bigint, at timestamptz, note text);\n", "");

// --- helpers

async function writeBase(dir: string): Promise<string> {
  const migrations = join(dir, "migrations");
  for (const [id, text] of BASE) await writeMigration(migrations, id, text);
  return migrations;
}

/** Every file under `dir` with its bytes, sorted: equal listings mean nothing was written. */
async function listing(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (at: string, prefix: string) => {
    for await (const entry of Deno.readDir(at)) {
      const path = join(at, entry.name);
      if (entry.isDirectory) await walk(path, `${prefix}${entry.name}/`);
      else out.push(`${prefix}${entry.name}\n${await Deno.readTextFile(path)}`);
    }
  };
  await walk(dir, "");
  return out.sort();
}

/** `kind name` of every object the create/diff JSON lists as added, removed or changed. */
// deno-lint-ignore no-explicit-any
function changeNames(doc: any) {
  // deno-lint-ignore no-explicit-any
  const of = (list: any[]) => list.map((o) => `${o.kind} ${o.name}`);
  return { added: of(doc.added), removed: of(doc.removed), changed: of(doc.changed) };
}

function assertListed(list: string[], expected: string[], what: string): void {
  for (const name of expected) {
    assert.ok(list.includes(name), `${what}: "${name}" is not listed in ${JSON.stringify(list)}`);
  }
}

/** The revision create --autogenerate wrote, parsed as strata parses it. */
async function readRevision(dir: string, doc: { path: string; revision: string }) {
  assert.match(doc.path, /^migrations\/\d{8}_\d{4}(\d{2})?_[a-z0-9_]+\.sql$/);
  const text = await Deno.readTextFile(join(dir, doc.path));
  const file = parseMigration(text, doc.path, doc.revision, null);
  assert.ok(file.up.sql.trim() !== "", `up is empty:\n${text}`);
  assert.ok(file.down !== null && file.down.sql.trim() !== "", `down is empty:\n${text}`);
  return { text, up: file.up.sql, down: file.down!.sql };
}

/** `strata verify --json` passes, every revision ok, the new one included. */
async function expectVerified(dir: string, revision: string): Promise<void> {
  const r = await strata(["verify", "--json"], { cwd: dir });
  expectExit(r, 0, "verify");
  const doc = parseJson(r, "verify --json");
  assert.equal(doc.ok, true);
  assert.deepEqual(
    // deno-lint-ignore no-explicit-any
    doc.revisions.map((s: any) => `${s.revision} ${s.result}`),
    [...BASE_IDS, revision].map((id) => `${id} ok`),
  );
}

const LEDGER = {
  exclude: [{ schema: null, table: "strata_ledger" }, { schema: null, table: "strata_journal" }],
};

/**
 * The schema of the server database `url` equals `desired` built on a fresh
 * scratch database of the same server (PGlite is PostgreSQL 17: a PostgreSQL
 * 15 server prints view definitions differently, so the reference is built on
 * the same server).
 */
async function expectSchema(url: string, desired: string): Promise<void> {
  const server = await openEngine(url, {
    connectTimeoutMs: 10_000,
    statementTimeoutMs: 0,
    lockWaitMs: 0,
    lockTimeoutMs: 10_000,
  });
  const scratch = serverScratch(SERVER_URL);
  try {
    const fresh = await scratch.open();
    await fresh.exec(desired);
    const want = await snapshot(fresh, LEDGER);
    const got = await snapshot(server, LEDGER);
    assert.ok(want.objects.size > 10, "the desired snapshot holds the schema");
    const diff = diffSnapshots(want, got);
    assert.ok(
      isEmpty(diff),
      `applied schema differs from the desired one:\n${formatDiff(diff).join("\n")}`,
    );
  } finally {
    await server.close();
    await scratch.dispose();
  }
}

async function expectNoChanges(dir: string, args: string[], schemaName: string): Promise<void> {
  const r = await strata(["diff", ...args], { cwd: dir });
  expectExit(r, 0, `diff ${args.join(" ")}`);
  assert.match(r.stdout, new RegExp(`No changes: head already has the schema in ${schemaName}`));
  assert.doesNotMatch(r.stdout, /-- up/);
}

/** A scratch folder with the base migration set and `schema.sql`, no database anywhere. */
function dirTest(name: string, fn: (dir: string) => Promise<void>): void {
  Deno.test({
    name,
    ...options,
    async fn() {
      const dir = await scratchDir();
      try {
        await writeBase(dir.path);
        await Deno.writeTextFile(join(dir.path, "schema.sql"), HEAD_SCHEMA);
        await fn(dir.path);
      } finally {
        await dir.remove();
      }
    },
  });
}

/** The error document of a failed --json run. */
function errorOf(r: CliResult, code: number, what: string) {
  expectExit(r, code, what);
  const doc = parseJson(r, what);
  assert.equal(doc.ok, false, dump(r));
  return doc.error;
}

// --- round trips

serverDirTest(
  "autogenerate: new table with FK, column defaults, changed types, index, enum value, view, " +
    "function body, check constraint, comment: proven, verified, applied, equal to schema.sql",
  async (dir, url) => {
    const migrations = await writeBase(dir);
    await Deno.writeTextFile(join(dir, "schema.sql"), ADDITIVE_SCHEMA);

    // The base on the server, with rows the new revision must carry over.
    expectExit(await strata(["apply", "-d", url], { cwd: dir }), 0, "apply base");
    await queryDb(
      url,
      `INSERT INTO users (id, email, legacy_flag, mood) VALUES (1, 'a@example.com', true, 'ok');
       INSERT INTO posts (id, user_id, title, views) VALUES (1, 1, 'first', 42)`,
    );

    // diff prints both sections and writes nothing.
    const before = await listing(dir);
    const shown = await strata(["diff"], { cwd: dir });
    expectExit(shown, 0, "diff");
    assert.match(shown.stdout, /^-- head -> schema\.sql\n-- up\n/);
    assert.match(shown.stdout, /\n-- down\n/);
    assert.deepEqual(await listing(dir), before, "diff wrote nothing");

    const created = await strata(["create", "--autogenerate", "grow the schema", "--json"], {
      cwd: dir,
    });
    expectExit(created, 0, "create --autogenerate");
    const doc = parseJson(created, "create --autogenerate --json");
    assert.equal(doc.ok, true);
    assert.equal(doc.autogenerated, true);
    assert.deepEqual(doc.parents, ["20240101_0200_views"]);
    const names = changeNames(doc);
    assertListed(names.added, [
      "table public.comments", // new table ...
      "constraint public.comments.comments_post_id_fkey", // ... with a foreign key
      "column public.users.created_at", // new column with a default
      "column public.posts.status", // new column with a default
      "index public.posts_user_idx", // new index
      "view public.recent_posts", // new view
      "constraint public.posts.posts_views_check", // new check constraint
    ], "added");
    assertListed(names.changed, [
      "column public.users.email", // varchar(50) -> text
      "column public.posts.views", // int -> bigint
      "type public.mood", // new enum value
      "function public.greeting()", // new body
      "table public.users", // comment
    ], "changed");
    assert.deepEqual(names.removed, []);
    // deno-lint-ignore no-explicit-any
    const change = (name: string) => doc.changed.find((c: any) => `${c.kind} ${c.name}` === name);
    assert.equal(change("column public.users.email").after.definition, "text NOT NULL");
    assert.equal(change("column public.posts.views").after.definition, "bigint");
    assert.equal(change("type public.mood").after.definition, "ENUM ('sad', 'ok', 'happy')");
    assert.match(change("function public.greeting()").after.definition, /'hello, world'/);
    assert.equal(change("table public.users").after.comment, "people who sign in");
    assert.match(
      // deno-lint-ignore no-explicit-any
      doc.added.find((o: any) => o.name === "public.comments.comments_post_id_fkey").definition,
      /^FOREIGN KEY \(post_id\) REFERENCES public\.posts\(id\)$/,
    );

    // The file: in the migrations folder, up and down filled, the same SQL diff printed.
    const written = (await listing(dir)).filter((f) => !before.includes(f));
    assert.equal(written.length, 1, "one file written");
    assert.ok(written[0].startsWith(`migrations/${doc.revision}.sql\n`));
    const revision = await readRevision(dir, doc);
    assert.match(revision.text, /^-- message: grow the schema\n-- parents: 20240101_0200_views\n/);
    assert.match(revision.up, /^-- generated by strata create --autogenerate from schema\.sql\n/);
    const sqlOnly = revision.up.replace(/^-- generated by [^\n]*\n/, "").trim();
    assert.ok(shown.stdout.includes(sqlOnly), `diff printed the written up:\n${dump(shown)}`);
    assert.ok(shown.stdout.includes(revision.down.trim()), "diff printed the written down");
    for (
      const statement of [
        /ALTER TYPE public\.mood ADD VALUE 'happy'/,
        /ALTER TABLE public\.comments ADD CONSTRAINT comments_post_id_fkey FOREIGN KEY/,
        /ALTER TABLE public\.users ADD COLUMN created_at [^\n]*DEFAULT now\(\)/,
        /ALTER COLUMN email TYPE text/,
        /ALTER COLUMN views TYPE bigint/,
        /CREATE INDEX posts_user_idx ON public\.posts/,
        /CREATE VIEW public\.recent_posts/,
        /ADD CONSTRAINT posts_views_check CHECK \(views >= 0\)/,
        /COMMENT ON TABLE public\.users IS 'people who sign in'/,
      ]
    ) assert.match(revision.up, statement);
    assert.match(revision.down, /DROP TABLE public\.comments;/);
    assert.match(revision.down, /ALTER COLUMN views TYPE integer/);
    assert.match(revision.down, /COMMENT ON TABLE public\.users IS NULL;/);

    // What strata wrote lints clean even failing on warnings: each lock warning carries an
    // allow comment that says why, right above its statement.
    assert.match(
      revision.up,
      /-- strata:allow require-concurrent-index-creation generated as one transaction: [^\n]*\nCREATE INDEX posts_user_idx/,
    );
    const linted = await strata(["lint", doc.revision, "--fail-on", "warning", "--json"], {
      cwd: dir,
    });
    expectExit(linted, 0, "lint --fail-on warning on the generated revision");
    assert.deepEqual(parseJson(linted, "lint").findings, []);

    // verify runs on a scratch database of its own: it and apply run side by side.
    const [, applied] = await Promise.all([
      expectVerified(dir, doc.revision),
      strata(["apply", "-d", url, "--json"], { cwd: dir }),
    ]);
    expectExit(applied, 0, "apply the generated revision");
    assert.deepEqual(
      // deno-lint-ignore no-explicit-any
      parseJson(applied, "apply").steps.map((s: any) => s.revision),
      [doc.revision],
    );
    await Promise.all([
      expectSchema(url, ADDITIVE_SCHEMA),
      expectNoChanges(dir, [], "schema.sql"),
    ]);
    const rows = await queryDb<Record<string, unknown>>(
      url,
      `SELECT u.email, u.created_at IS NOT NULL AS stamped, p.views, p.status,
              (SELECT count(*)::int FROM recent_posts) AS recent, greeting() AS greeting
         FROM users u JOIN posts p ON p.user_id = u.id`,
    );
    assert.deepEqual(rows, [{
      email: "a@example.com",
      stamped: true,
      views: "42", // bigint now
      status: "draft",
      recent: 1,
      greeting: "hello, world",
    }]);
    assert.equal((await listing(migrations)).length, BASE.length + 1);
  },
);

serverDirTest(
  "autogenerate: dropped column and table: proven, under a destructive comment, flagged by " +
    "lint (exit 3), verified, applied, equal to the desired schema (--schema PATH)",
  async (dir, url) => {
    await writeBase(dir);
    // schema.sql says "no change"; the desired schema is the one --schema names.
    await Deno.writeTextFile(join(dir, "schema.sql"), HEAD_SCHEMA);
    await Deno.mkdir(join(dir, "db"));
    await Deno.writeTextFile(join(dir, "db", "desired.sql"), DESTRUCTIVE_SCHEMA);
    expectExit(await strata(["apply", "-d", url], { cwd: dir }), 0, "apply base");

    const created = await strata(
      ["create", "--autogenerate", "drop legacy", "--schema", "db/desired.sql", "--json"],
      { cwd: dir },
    );
    expectExit(created, 0, "create --autogenerate (destructive)");
    const doc = parseJson(created, "create --json");
    const names = changeNames(doc);
    assertListed(
      names.removed,
      ["column public.users.legacy_flag", "table public.audit_log"],
      "removed",
    );
    assert.deepEqual(names.added, []);
    assert.deepEqual(names.changed, []);
    assert.deepEqual(doc.destructive, [
      "drops column public.users.legacy_flag and its data",
      "drops table public.audit_log and its data",
    ]);
    assert.match(created.stderr, /destructive: drops column public\.users\.legacy_flag/);

    const revision = await readRevision(dir, doc);
    assert.match(
      revision.up,
      /^-- generated by strata create --autogenerate from db\/desired\.sql/,
    );
    assert.match(
      revision.up,
      /\n-- destructive: drops column public\.users\.legacy_flag and its data\nALTER TABLE public\.users DROP COLUMN legacy_flag;\n/,
    );
    assert.match(
      revision.up,
      /\n-- destructive: drops table public\.audit_log and its data\nDROP TABLE public\.audit_log;\n/,
    );
    assert.match(revision.down, /CREATE TABLE public\.audit_log \(/);
    assert.match(revision.down, /ALTER TABLE public\.users ADD COLUMN legacy_flag boolean;/);

    // lint: both drops are errors, at the lines of the statements.
    const lines = revision.text.split("\n");
    const lineOf = (text: string) => lines.indexOf(text) + 1;
    const [linted, human, , applied] = await Promise.all([
      strata(["lint", doc.revision, "--json"], { cwd: dir }),
      strata(["lint", doc.revision], { cwd: dir }),
      expectVerified(dir, doc.revision),
      strata(["apply", "-d", url], { cwd: dir }),
    ]);
    expectExit(linted, 3, "lint the destructive revision");
    const report = parseJson(linted, "lint --json");
    assert.deepEqual(
      // deno-lint-ignore no-explicit-any
      report.findings.filter((f: any) => f.severity === "error").map((f: any) =>
        `${f.rule} ${f.file}:${f.line}`
      ),
      [
        `ban-drop-column ${doc.path}:${
          lineOf("ALTER TABLE public.users DROP COLUMN legacy_flag;")
        }`,
        `ban-drop-table ${doc.path}:${lineOf("DROP TABLE public.audit_log;")}`,
      ],
    );
    expectExit(human, 3, "lint (human)");
    assert.match(human.stdout, /error ban-drop-column: DROP COLUMN "legacy_flag"/);
    assert.match(human.stdout, /error ban-drop-table/);

    expectExit(applied, 0, "apply the drops");
    await Promise.all([
      expectSchema(url, DESTRUCTIVE_SCHEMA),
      expectNoChanges(dir, ["--schema", "db/desired.sql"], "db/desired.sql"),
    ]);
  },
);

// --- errors, no change, diff, configuration

dirTest("autogenerate: an invalid schema file is exit 5 naming the file and line", async (dir) => {
  const before = await listing(dir);
  // The default schema.sql with a syntax error on line 3.
  await Deno.writeTextFile(
    join(dir, "schema.sql"),
    "CREATE TABLE a (id int);\n\nCREATE TABLEE b (id int);\nCREATE TABLE c (id int);\n",
  );
  // A missing table, named on line 5 inside a statement that starts on line 3.
  await Deno.writeTextFile(
    join(dir, "view.sql"),
    "CREATE TABLE a (id int);\n\nCREATE VIEW v AS\n  SELECT a.id\n  FROM a JOIN missing_table m ON m.id = a.id;\n",
  );
  // A foreign key to a missing table on line 5 (PostgreSQL gives no position for it).
  await Deno.writeTextFile(
    join(dir, "fk.sql"),
    "CREATE TABLE a (id int PRIMARY KEY);\n-- a comment\n\n\n" +
      "CREATE TABLE b (id int, x int REFERENCES nowhere (id));\n",
  );
  const withFiles = await listing(dir);
  const [syntax, semantic, reference] = await Promise.all([
    strata(["create", "--autogenerate", "broken", "--json"], { cwd: dir }),
    strata(["create", "--autogenerate", "broken", "--schema", "view.sql"], { cwd: dir }),
    strata(["diff", "--schema", "fk.sql", "--json"], { cwd: dir }),
  ]);

  const e1 = errorOf(syntax, 5, "syntax error");
  assert.equal(e1.code, "FILE");
  assert.equal(e1.file, "schema.sql");
  assert.equal(e1.line, 3);
  assert.match(e1.message, /syntax error at or near "TABLEE"/);
  assert.match(syntax.stderr, /schema\.sql:3: Invalid desired schema/);

  expectExit(semantic, 5, "missing table in a view");
  assert.match(
    semantic.stderr,
    /view\.sql:5: Invalid desired schema: relation "missing_table" does not exist/,
  );
  assert.match(semantic.stderr, /SQLSTATE 42P01/);

  const e3 = errorOf(reference, 5, "foreign key to a missing table");
  assert.equal(e3.code, "FILE");
  assert.equal(e3.file, "fk.sql");
  assert.equal(e3.line, 5);
  assert.equal(e3.sqlstate, "42P01");
  assert.match(e3.message, /relation "nowhere" does not exist/);

  const after = await listing(dir);
  assert.deepEqual(after, withFiles, "nothing written");
  assert.equal(
    after.filter((f) => f.startsWith("migrations/")).length,
    before.filter((f) => f.startsWith("migrations/")).length,
  );
});

dirTest("autogenerate: no change is exit 0 'No changes' and writes nothing", async (dir) => {
  const before = await listing(dir);
  const [r, json] = await Promise.all([
    strata(["create", "--autogenerate", "nothing to do"], { cwd: dir }),
    strata(["diff", "--json"], { cwd: dir }),
  ]);
  expectExit(r, 0, "create --autogenerate without a change");
  assert.match(r.stdout, /No changes: head already has the schema in schema\.sql/);
  expectExit(json, 0, "diff --json without a change");
  assert.deepEqual(parseJson(json, "diff --json"), { ok: true, command: "diff", changes: false });
  assert.deepEqual(await listing(dir), before, "nothing written");
});

dirTest(
  "autogenerate: --schema PATH and the config key schema are honoured; the flag wins",
  async (dir) => {
    // schema.sql (the default) is head: no change. strata.json names db/desired.sql
    // (a new table tags); --schema db/other.sql names another (a new table labels).
    await Deno.mkdir(join(dir, "db"));
    await Deno.writeTextFile(
      join(dir, "db", "desired.sql"),
      HEAD_SCHEMA + "CREATE TABLE tags (id int PRIMARY KEY, label text NOT NULL);\n",
    );
    await Deno.writeTextFile(
      join(dir, "db", "other.sql"),
      HEAD_SCHEMA + "CREATE TABLE labels (id int PRIMARY KEY);\n",
    );
    await Deno.writeTextFile(
      join(dir, "strata.json"),
      JSON.stringify({ schema: "db/desired.sql" }),
    );
    const before = await listing(dir);
    const [configured, flagged] = await Promise.all([
      strata(["diff"], { cwd: dir }),
      strata(["diff", "--schema", "db/other.sql", "--json"], { cwd: dir }),
      expectNoChanges(dir, ["--schema", "schema.sql"], "schema.sql"),
    ]);

    expectExit(configured, 0, "diff with schema in strata.json");
    assert.match(configured.stdout, /^-- head -> db\/desired\.sql\n-- up\n/);
    assert.match(configured.stdout, /CREATE TABLE public\.tags \(/);
    assert.match(
      configured.stdout,
      /\n-- down\n-- destructive: drops table public\.tags and its data\nDROP TABLE public\.tags;/,
    );
    assert.doesNotMatch(configured.stdout, /labels/);

    expectExit(flagged, 0, "diff --schema");
    const doc = parseJson(flagged, "diff --schema --json");
    assert.equal(doc.changes, true);
    const names = changeNames(doc);
    assertListed(names.added, ["table public.labels", "column public.labels.id"], "added");
    assert.ok(!names.added.includes("table public.tags"), "the flag beats strata.json");
    assert.match(doc.up, /CREATE TABLE public\.labels \(/);
    assert.match(doc.down, /DROP TABLE public\.labels;/);

    assert.deepEqual(await listing(dir), before, "diff wrote nothing");
  },
);

dirTest(
  "autogenerate: a new enum value used in the same revision rebuilds the type instead of ADD VALUE",
  async (dir) => {
    // ALTER TYPE ... ADD VALUE cannot be used before it commits; a type made anew can.
    await Deno.writeTextFile(
      join(dir, "happy.sql"),
      HEAD_SCHEMA.replace("('sad', 'ok')", "('sad', 'ok', 'happy')") +
        "CREATE VIEW happy_users AS SELECT id FROM users WHERE mood = 'happy';\n",
    );
    const happy = await strata(
      ["create", "--autogenerate", "happy", "--schema", "happy.sql", "--json"],
      { cwd: dir },
    );
    assert.equal(happy.code, 0, `${happy.stdout}\n${happy.stderr}`);
    const doc = JSON.parse(happy.stdout);
    const text = await Deno.readTextFile(join(dir, doc.path));
    assert.match(text, /ALTER TYPE public\.mood RENAME TO mood__strata_old;/);
    assert.doesNotMatch(text, /ADD VALUE/);
    assert.match(text, /CREATE VIEW public\.happy_users/);
  },
);

dirTest(
  "autogenerate: what cannot be generated or proven is exit 1 PROOF_FAILED, nothing written",
  async (dir) => {
    // A plain table turned into a partitioned one: the generator cannot express it.
    await Deno.writeTextFile(
      join(dir, "partitioned.sql"),
      HEAD_SCHEMA.replace("note text);", "note text) PARTITION BY RANGE (at);"),
    );
    const before = await listing(dir);
    const partitioned = await strata(
      ["create", "--autogenerate", "partition", "--schema", "partitioned.sql", "--json"],
      { cwd: dir },
    );

    const e1 = errorOf(partitioned, 1, "partitioning");
    assert.equal(e1.code, "PROOF_FAILED");
    assert.match(e1.message, /Cannot generate this change: table public\.audit_log: partitioning/);
    assert.match(e1.hint, /Nothing was written/);
    assert.match(partitioned.stderr, /Nothing was written/);

    assert.deepEqual(await listing(dir), before, "nothing written");
  },
);

embeddedTest(
  "diff says on stderr that the embedded engine is starting (its stdout is the script)",
  async (dir) => {
    await writeMigration(
      join(dir, "migrations"),
      "20240101_0000_items",
      "-- parents:\n-- up\nCREATE TABLE items (id int);\n-- down\nDROP TABLE items;\n",
    );
    await Deno.writeTextFile(join(dir, "schema.sql"), "CREATE TABLE items (id int, name text);\n");
    const notice = /^Starting the embedded engine \(PGlite\) to build head and schema\.sql/;
    const [human, json] = await Promise.all([
      strata(["diff"], { cwd: dir }),
      strata(["diff", "--json"], { cwd: dir }),
    ]);
    expectExit(human, 0, "diff");
    assert.match(human.stderr, notice, dump(human));
    assert.match(human.stdout, /^-- head -> schema\.sql\n-- up\n/, dump(human));
    assert.match(human.stdout, /ADD COLUMN name text/, dump(human));
    expectExit(json, 0, "diff --json");
    assert.match(json.stderr, notice, dump(json));
    assert.equal(parseJson(json, "diff --json").changes, true);
  },
);
