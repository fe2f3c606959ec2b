/**
 * `strata clean` through the real command line, on both engines: a
 * 10-revision line squashed to a baseline and three kept revisions; the
 * migrated database adopts the baseline, a fresh one builds the same schema;
 * a graph with a merge out of id order and a concurrent index squashed and
 * rebuilt the same; dry runs, refusals and proof failures (a kept revision
 * following part of the range, a partly applied range, a
 * partly applied database meeting an already squashed folder) write nothing.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { type Engine, openEngine } from "../lib/db/engine.ts";
import { checksumOf, normalize } from "../lib/migration_file.ts";
import { diffSnapshots, formatDiff, isEmpty } from "../lib/schema/diff.ts";
import { snapshot } from "../lib/schema/snapshot.ts";
import {
  type CliResult,
  dump,
  embeddedTest,
  expectExit,
  parseJson,
  queryDb,
  scratchDatabase,
  SERVER_URL,
  serverDirTest,
  strata,
  treeListing,
  writeMigration,
} from "./helpers.ts";

// deno-lint-ignore no-explicit-any
type Json = any;
type Run = (...args: string[]) => Promise<CliResult>;

// ---------------------------------------------------------------------------
// The fixture: ten small, realistic revisions in a straight line

const REVISIONS: Array<[slug: string, up: string, down: string]> = [
  [
    "users",
    `CREATE TABLE users (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  email text NOT NULL UNIQUE
);`,
    "DROP TABLE users;",
  ],
  [
    "mood_enum",
    `CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
ALTER TABLE users ADD COLUMN mood mood NOT NULL DEFAULT 'ok';`,
    "ALTER TABLE users DROP COLUMN mood;\nDROP TYPE mood;",
  ],
  [
    "posts",
    `CREATE TABLE posts (
  id bigserial PRIMARY KEY,
  user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  title text NOT NULL,
  body text
);`,
    "DROP TABLE posts;",
  ],
  [
    "posts_user_index",
    "CREATE INDEX posts_user_idx ON posts (user_id);",
    "DROP INDEX posts_user_idx;",
  ],
  [
    "slugify",
    `CREATE FUNCTION slugify(value text) RETURNS text
  LANGUAGE sql IMMUTABLE
  AS $$ SELECT lower(regexp_replace(value, '[^a-zA-Z0-9]+', '-', 'g')) $$;`,
    "DROP FUNCTION slugify(text);",
  ],
  [
    "post_slug",
    `ALTER TABLE posts ADD COLUMN slug text GENERATED ALWAYS AS (slugify(title)) STORED;
CREATE UNIQUE INDEX posts_slug_idx ON posts (slug);`,
    "DROP INDEX posts_slug_idx;\nALTER TABLE posts DROP COLUMN slug;",
  ],
  [
    "active_users_view",
    `CREATE VIEW active_users AS
  SELECT id, email FROM users WHERE mood <> 'sad';`,
    "DROP VIEW active_users;",
  ],
  [
    "tags",
    `CREATE TABLE tags (
  id serial PRIMARY KEY,
  name text NOT NULL
);
CREATE UNIQUE INDEX tags_name_idx ON tags (lower(name));`,
    "DROP TABLE tags;",
  ],
  [
    "user_created_at",
    `ALTER TABLE users ADD COLUMN created_at timestamptz NOT NULL DEFAULT now();
COMMENT ON COLUMN users.created_at IS 'signup time';`,
    "ALTER TABLE users DROP COLUMN created_at;",
  ],
  [
    "post_tags",
    `CREATE TABLE post_tags (
  post_id bigint NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
  tag_id int NOT NULL REFERENCES tags (id),
  PRIMARY KEY (post_id, tag_id)
);`,
    "DROP TABLE post_tags;",
  ],
];

const IDS = REVISIONS.map(([slug], i) => `202401${String(i + 1).padStart(2, "0")}_0900_${slug}`);
/** clean 3 on the line: the first seven go, the last three stay. */
const REPLACED = IDS.slice(0, 7);
const KEPT = IDS.slice(7);
const BASELINE = `${IDS[6]}_baseline`;

/** Write the ten revisions (explicit parents, as `strata create` writes) to `<dir>/migrations`. */
async function writeLine(dir: string): Promise<string> {
  const migrations = join(dir, "migrations");
  for (const [i, [slug, up, down]] of REVISIONS.entries()) {
    await writeMigration(
      migrations,
      IDS[i],
      `-- message: ${slug.replaceAll("_", " ")}\n-- parents: ${i === 0 ? "" : IDS[i - 1]}\n` +
        `-- up\n${up}\n-- down\n${down}\n`,
    );
  }
  return migrations;
}

// ---------------------------------------------------------------------------
// Helpers

function runner(cwd: string, database?: string): Run {
  const env: Record<string, string> = database ? { DATABASE_URL: database } : {};
  return (...args) => strata(args, { cwd, env });
}

/** Run with `--json`, expect `code`, return the parsed document. */
async function runJson(run: Run, code: number, ...args: string[]): Promise<Json> {
  const r = await run(...args, "--json");
  const what = `strata ${args.join(" ")} --json`;
  expectExit(r, code, what);
  const doc = parseJson(r, what);
  assert.equal(doc.ok, code === 0, `${what}: "ok" should be ${code === 0}\n${dump(r)}`);
  return doc;
}

const listing = treeListing;

async function names(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of Deno.readDir(dir)) out.push(entry.name);
  return out.sort();
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** `pg_dump --schema-only` without strata's own tables and pg_dump's random `\restrict` lines. */
async function schemaDump(url: string): Promise<string> {
  const { code, stdout, stderr } = await new Deno.Command("pg_dump", {
    args: ["--schema-only", "--no-owner", "--exclude-table=strata_*", "--dbname", url],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(stdout);
  assert.equal(code, 0, `pg_dump failed: ${new TextDecoder().decode(stderr)}`);
  const kept = text.split("\n").filter((line) => !/^\\(un)?restrict\b/.test(line));
  assert.ok(!kept.some((line) => line.includes("strata_ledger")), "the ledger is excluded");
  return kept.join("\n");
}

/** Checks after `clean 3` wrote: 4 files left, the backup holds the 10 originals byte for byte. */
async function assertSquashed(dir: string, backupId: string, originals: string[]): Promise<void> {
  assert.deepEqual(
    await names(join(dir, "migrations")),
    [`${BASELINE}.sql`, ...KEPT.map((id) => `${id}.sql`)],
  );
  const text = await Deno.readTextFile(join(dir, "migrations", `${BASELINE}.sql`));
  assert.match(text, new RegExp(`^-- replaces: ${REPLACED.join(" ")}$`, "m"));
  assert.match(backupId, /^backup_\d{8}_\d{6}/);
  assert.deepEqual(await names(join(dir, "versions_backup")), [backupId]);
  const backup = await listing(join(dir, "versions_backup", backupId));
  assert.ok(backup.length >= 11, `10 files and a manifest: ${backup.length}`);
  assert.ok(backup.some((line) => line.startsWith("manifest.json ")));
  assert.deepEqual(backup.filter((line) => !line.startsWith("manifest.json ")), originals);
}

const revisionOf = (step: Json) => step.revision;

const ENGINE_OPTIONS = {
  connectTimeoutMs: 10_000,
  statementTimeoutMs: 0,
  lockWaitMs: 0,
  lockTimeoutMs: 10_000,
};

async function withDb<T>(url: string, fn: (engine: Engine) => Promise<T>): Promise<T> {
  const engine = await openEngine(url, { ...ENGINE_OPTIONS, mustExist: true });
  try {
    return await fn(engine);
  } finally {
    await engine.close();
  }
}

const EXCLUDE = {
  exclude: [{ schema: null, table: "strata_ledger" }, { schema: null, table: "strata_journal" }],
};

// ---------------------------------------------------------------------------
// The whole flow

serverDirTest(
  "clean 3 on a 10-revision line: dry run, 4 files, adoption, same pg_dump, downgrade base",
  async (dir, url) => {
    const migrations = await writeLine(dir);
    const originals = await listing(migrations);
    const run = runner(dir, url);
    expectExit(await run("apply"), 0, "apply before the squash");
    const before = await schemaDump(url);
    assert.match(before, /CREATE VIEW public\.active_users/);

    // --dry-run plans and proves (on the embedded engine in memory), and writes nothing.
    const top = await listing(dir);
    const dry = await runJson(run, 0, "clean", "3", "--dry-run");
    assert.equal(dry.command, "clean");
    assert.equal(dry.dryRun, true);
    assert.equal(dry.baseline, BASELINE);
    assert.deepEqual(dry.squashed, REPLACED);
    assert.deepEqual(dry.kept, KEPT);
    assert.equal(dry.backup, undefined);
    assert.match(String(dry.database), /all of them applied/);
    assert.deepEqual(await listing(dir), top, "the dry run wrote something");
    assert.ok(!(await exists(join(dir, "versions_backup"))), "the dry run made a backup");

    // The proof runs on scratch databases of the server this time.
    const clean = await runJson(run, 0, "clean", "3", "--scratch", SERVER_URL);
    assert.equal(clean.command, "clean");
    assert.equal(clean.baseline, BASELINE);
    assert.deepEqual(clean.squashed, REPLACED);
    assert.deepEqual(clean.kept, KEPT);
    assert.equal(typeof clean.backup, "string");
    assert.equal(clean.dryRun, false);
    assert.deepEqual(clean.irreversible, []);
    assert.match(String(clean.database), /all of them applied/);
    await assertSquashed(dir, clean.backup, originals);
    assert.deepEqual(
      (await queryDb(url, "SELECT revision FROM strata_ledger ORDER BY revision")).map((r) =>
        r.revision
      ),
      IDS,
      "clean itself does not touch the database",
    );

    // The database migrated before the squash is up to date after it.
    const status = await runJson(run, 0, "status");
    assert.equal(status.upToDate, true);
    assert.deepEqual(status.pending, []);
    assert.deepEqual(status.adopt, [BASELINE]);
    assert.deepEqual(status.partial, []);
    assert.deepEqual(status.missing, []);

    const apply = await runJson(run, 0, "apply");
    assert.deepEqual(apply.adopted, [BASELINE]);
    assert.deepEqual(apply.steps.map(revisionOf), []);
    const ledger = await queryDb<{ revision: string; checksum: string }>(
      url,
      "SELECT revision, checksum FROM strata_ledger ORDER BY revision",
    );
    assert.deepEqual(ledger.map((r) => r.revision), [BASELINE, ...KEPT]);
    const baselineText = await Deno.readTextFile(join(migrations, `${BASELINE}.sql`));
    assert.equal(ledger[0].checksum, checksumOf(normalize(baselineText)));
    const journal = await queryDb<{ action: string; revision: string; detail: string }>(
      url,
      "SELECT action, revision, detail FROM strata_journal WHERE action = 'adopt'",
    );
    assert.equal(journal.length, 1);
    assert.equal(journal[0].revision, BASELINE);
    assert.equal(journal[0].detail, `replaces ${REPLACED.join(" ")}`);
    expectExit(await run("check"), 0, "check after the adoption");
    const again = await runJson(run, 0, "apply");
    assert.deepEqual(again.adopted, [], "adopted once");
    assert.equal(await schemaDump(url), before, "adoption runs no SQL");

    // A fresh database built after the squash: the same schema.
    const fresh = await scratchDatabase();
    try {
      const built = await runJson(runner(dir, fresh.url), 0, "apply");
      assert.deepEqual(built.steps.map(revisionOf), [BASELINE, ...KEPT]);
      assert.deepEqual(built.adopted, []);
      assert.equal(await schemaDump(fresh.url), before);
    } finally {
      await fresh.drop();
    }

    // The adopted database goes down through the baseline, and up again.
    const down = await runJson(run, 0, "downgrade", "base");
    assert.deepEqual(down.steps.map(revisionOf), [...KEPT].reverse().concat(BASELINE));
    const left = await queryDb(
      url,
      `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relname NOT LIKE 'strata%'
       UNION ALL SELECT typname FROM pg_type WHERE typname = 'mood'
       UNION ALL SELECT proname FROM pg_proc WHERE proname = 'slugify'`,
    );
    assert.deepEqual(left, []);
    assert.deepEqual(await queryDb(url, "SELECT revision FROM strata_ledger"), []);
    expectExit(await run("apply"), 0, "apply after downgrade base");
    assert.equal(await schemaDump(url), before);
  },
);

embeddedTest(
  "clean 3 on a 10-revision line: 4 files, adoption, same snapshot, downgrade base",
  async (dir, db) => {
    const migrations = await writeLine(dir);
    const originals = await listing(migrations);
    const run = runner(dir, db);
    expectExit(await run("apply"), 0, "apply before the squash");

    const clean = await run("clean", "3");
    expectExit(clean, 0, "clean 3");
    assert.ok(clean.stdout.includes(`${BASELINE}.sql`), dump(clean));
    assert.match(clean.stdout, /Squash 7 revisions/);
    // The plan speaks first, then the engine's start-up, then the proof's result.
    const at = (text: string) => clean.stdout.indexOf(text);
    assert.ok(at("Squash 7 revisions") >= 0, dump(clean));
    assert.ok(at("Squash 7 revisions") < at("Keep 3:"), dump(clean));
    assert.ok(at("Keep 3:") < at("Starting the embedded engine (PGlite) to prove"), dump(clean));
    assert.ok(at("Starting the embedded engine") < at("Proof: the baseline"), dump(clean));
    assert.match(clean.stdout, /Backed up to/);
    const backupId = (await names(join(dir, "versions_backup")))[0];
    assert.ok(clean.stdout.includes(backupId), dump(clean));
    await assertSquashed(dir, backupId, originals);

    const status = await run("status");
    expectExit(status, 0, "status after clean");
    assert.match(status.stdout, /^Up to date$/m, dump(status));
    assert.ok(status.stdout.includes(`Baseline ${BASELINE}`), dump(status));

    const apply = await run("apply");
    expectExit(apply, 0, "apply after clean");
    assert.ok(apply.stdout.includes(`adopted baseline ${BASELINE}`), dump(apply));
    expectExit(await run("check"), 0, "check after the adoption");
    const show = await runJson(run, 0, "show", BASELINE);
    assert.deepEqual(show.replaces, REPLACED);
    assert.ok(show.applied, "the baseline is in the ledger");
    const adopt = show.journal.filter((j: Json) => j.action === "adopt");
    assert.equal(adopt.length, 1, JSON.stringify(show.journal));
    assert.equal(adopt[0].detail, `replaces ${REPLACED.join(" ")}`);

    // A fresh database built after the squash.
    const fresh = `pglite:${join(dir, "fresh")}`;
    const built = await runJson(runner(dir, fresh), 0, "apply");
    assert.deepEqual(built.steps.map(revisionOf), [BASELINE, ...KEPT]);

    await withDb(db, async (old) => {
      const ledger = await old.query<{ revision: string }>(
        "SELECT revision FROM strata_ledger ORDER BY revision",
      );
      assert.deepEqual(ledger.map((r) => r.revision), [BASELINE, ...KEPT]);
      await withDb(fresh, async (now) => {
        const diff = diffSnapshots(await snapshot(old, EXCLUDE), await snapshot(now, EXCLUDE));
        assert.ok(isEmpty(diff), formatDiff(diff).join("\n"));
        const objects = [...(await snapshot(now, EXCLUDE)).objects.keys()];
        assert.ok(objects.includes("view public.active_users"), objects.join("\n"));
      });
    });

    const down = await runJson(run, 0, "downgrade", "base");
    assert.deepEqual(down.steps.map(revisionOf), [...KEPT].reverse().concat(BASELINE));
    await withDb(db, async (old) => {
      const objects = [...(await snapshot(old, EXCLUDE)).objects.values()]
        .filter((o) => o.kind !== "schema" && o.kind !== "extension");
      assert.deepEqual(objects.map((o) => `${o.kind} ${o.name}`), []);
    });
  },
);

// ---------------------------------------------------------------------------
// Refusals: nothing written

// ---------------------------------------------------------------------------
// A graph with a merge whose ids disagree with graph order, and a concurrent index

/**
 *  users ┬ posts ──────┬ merge (adds posts.tag_id → tags) - view - index (transaction: none)
 *        └ tags (0109) ┘                                                      - k1 - k2 kept
 * In id order the merge (0103) would run before tags (0109) and fail; graph order runs tags first.
 */
const GRAPH: Array<[id: string, header: string, up: string, down: string]> = [
  [
    "20240101_0900_users",
    "-- parents:",
    "CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL, seen timestamp);",
    "DROP TABLE users;",
  ],
  [
    "20240102_0900_posts",
    "-- parents: 20240101_0900_users",
    "CREATE TABLE posts (id bigint PRIMARY KEY, user_id bigint NOT NULL REFERENCES users);",
    "DROP TABLE posts;",
  ],
  [
    "20240109_0900_tags",
    "-- parents: 20240101_0900_users",
    "CREATE TABLE tags (id int PRIMARY KEY, name text NOT NULL);",
    "DROP TABLE tags;",
  ],
  [
    "20240103_0900_merge",
    "-- parents: 20240102_0900_posts 20240109_0900_tags",
    "ALTER TABLE posts ADD COLUMN tag_id int REFERENCES tags;",
    "ALTER TABLE posts DROP COLUMN tag_id;",
  ],
  [
    "20240104_0900_view",
    "-- parents: 20240103_0900_merge",
    "CREATE VIEW tagged AS SELECT p.id, t.name FROM posts p JOIN tags t ON t.id = p.tag_id;",
    "DROP VIEW tagged;",
  ],
  [
    "20240105_0900_index",
    "-- parents: 20240104_0900_view\n-- transaction: none",
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS posts_tag_idx ON posts (tag_id);\n" +
    "DROP INDEX CONCURRENTLY IF EXISTS posts_tag_idx;\n" +
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS posts_tag_idx ON posts (tag_id);",
    "DROP INDEX CONCURRENTLY IF EXISTS posts_tag_idx;",
  ],
  [
    "20240110_0900_k1",
    "-- parents: 20240105_0900_index",
    "CREATE TABLE k1 (id int);",
    "DROP TABLE k1;",
  ],
  [
    "20240111_0900_k2",
    "-- parents: 20240110_0900_k1",
    "CREATE TABLE k2 (id int);",
    "DROP TABLE k2;",
  ],
];
const GRAPH_ORDER = GRAPH.map(([id]) => id);
const GRAPH_BASELINE = "20240109_0900_tags_baseline";

async function writeGraph(dir: string): Promise<string> {
  const migrations = join(dir, "migrations");
  for (const [id, header, up, down] of GRAPH) {
    await writeMigration(
      migrations,
      id,
      `-- message: ${id}\n${header}\n-- up\n${up}\n-- down\n${down}\n`,
    );
  }
  return migrations;
}

/** clean 2 on GRAPH against `database`; returns the baseline's text. */
async function cleanGraph(run: Run, migrations: string, ...extra: string[]): Promise<string> {
  const history = await runJson(run, 0, "history");
  assert.deepEqual(
    history.revisions.map((r: Json) => r.revision).reverse(),
    GRAPH_ORDER,
    "the fixture's graph order",
  );
  const clean = await runJson(run, 0, "clean", "2", ...extra);
  assert.equal(clean.baseline, GRAPH_BASELINE);
  assert.deepEqual(clean.squashed, GRAPH_ORDER.slice(0, 6));
  assert.deepEqual(clean.kept, GRAPH_ORDER.slice(6));
  assert.deepEqual(await names(migrations), [
    "20240109_0900_tags_baseline.sql",
    "20240110_0900_k1.sql",
    "20240111_0900_k2.sql",
  ]);
  const text = await Deno.readTextFile(join(migrations, `${GRAPH_BASELINE}.sql`));
  // Graph order: tags before the merge that references it.
  assert.ok(text.indexOf("CREATE TABLE tags") < text.indexOf("ADD COLUMN tag_id"), text);
  assert.match(
    text,
    /^-- strata clean: CREATE INDEX CONCURRENTLY \(20240105_0900_index line 5\) runs without CONCURRENTLY/m,
  );
  assert.match(text, /^CREATE INDEX IF NOT EXISTS posts_tag_idx ON posts \(tag_id\);$/m);
  assert.match(text, /^DROP INDEX IF EXISTS posts_tag_idx;$/m);
  // What strata wrote lints clean; the one inherited finding carries its reason.
  assert.match(
    text,
    /^-- strata:allow prefer-timestamptz 20240101_0900_users line 4, in a baseline: .*\nCREATE TABLE users/m,
  );
  const lint = await runJson(run, 0, "lint", GRAPH_BASELINE);
  assert.deepEqual(lint.findings, [], text);
  return text;
}

serverDirTest(
  "clean 2 over a merge out of id order and a concurrent index: same pg_dump, fresh and adopted",
  async (dir, url) => {
    const migrations = await writeGraph(dir);
    const run = runner(dir, url);
    const original = await runJson(run, 0, "apply");
    assert.deepEqual(original.steps.map(revisionOf), GRAPH_ORDER);
    const before = await schemaDump(url);
    assert.match(before, /posts_tag_idx/);

    await cleanGraph(run, migrations, "--scratch", SERVER_URL);
    const fresh = await scratchDatabase();
    try {
      const built = await runJson(runner(dir, fresh.url), 0, "apply");
      assert.deepEqual(built.steps.map(revisionOf), [GRAPH_BASELINE, ...GRAPH_ORDER.slice(6)]);
      assert.equal(await schemaDump(fresh.url), before);
    } finally {
      await fresh.drop();
    }
    const adopted = await runJson(run, 0, "apply");
    assert.deepEqual(adopted.adopted, [GRAPH_BASELINE]);
    assert.equal(await schemaDump(url), before);
  },
);

embeddedTest(
  "clean 2 over a merge out of id order and a concurrent index: same snapshot, fresh and adopted",
  async (dir, db) => {
    const migrations = await writeGraph(dir);
    const run = runner(dir, db);
    expectExit(await run("apply"), 0, "apply before the squash");
    await cleanGraph(run, migrations);
    const fresh = `pglite:${join(dir, "fresh")}`;
    const built = await runJson(runner(dir, fresh), 0, "apply");
    assert.deepEqual(built.steps.map(revisionOf), [GRAPH_BASELINE, ...GRAPH_ORDER.slice(6)]);
    const adopted = await runJson(run, 0, "apply");
    assert.deepEqual(adopted.adopted, [GRAPH_BASELINE]);
    await withDb(db, async (old) => {
      await withDb(fresh, async (now) => {
        const diff = diffSnapshots(await snapshot(old, EXCLUDE), await snapshot(now, EXCLUDE));
        assert.ok(isEmpty(diff), formatDiff(diff).join("\n"));
        const objects = [...(await snapshot(now, EXCLUDE)).objects.keys()];
        assert.ok(objects.includes("index public.posts_tag_idx"), objects.join("\n"));
      });
    });
  },
);

embeddedTest(
  "clean refuses a kept revision that follows part of the range: exit 2, nothing written",
  async (dir, db) => {
    const migrations = await writeGraph(dir);
    // k1 now branches off the view: the index revision (in the range) is not its ancestor.
    const k1 = join(migrations, "20240110_0900_k1.sql");
    await Deno.writeTextFile(
      k1,
      (await Deno.readTextFile(k1)).replace(
        "parents: 20240105_0900_index",
        "parents: 20240104_0900_view",
      ),
    );
    await writeMigration(
      migrations,
      "20240112_0900_m",
      "-- message: m\n-- parents: 20240105_0900_index 20240111_0900_k2\n-- up\n-- down\n",
    );
    const before = await listing(dir);
    const doc = await runJson(runner(dir, db), 2, "clean", "3");
    assert.equal(doc.error.code, "USAGE");
    assert.match(
      doc.error.message,
      /"20240110_0900_k1" \(kept\) follows "20240104_0900_view" but not "20240105_0900_index"/,
    );
    assert.equal(doc.error.file, "migrations/20240110_0900_k1.sql");
    assert.match(doc.error.hint, /strata clean 4 squashes the oldest 5 instead/);
    assert.deepEqual(await listing(dir), before, "a refused clean wrote something");
    assert.ok(!(await exists(join(dir, "db"))), "the database was not even created");
  },
);

embeddedTest(
  "a failure inside the proof names the revision, file and line; nothing written",
  async (dir) => {
    const migrations = join(dir, "migrations");
    const write = (id: string, parents: string, up: string) =>
      writeMigration(
        migrations,
        id,
        `-- message: ${id}\n-- parents: ${parents}\n-- up\n${up}\n-- down\n-- noop\n`,
      );
    await write(
      "20240101_0900_rows",
      "",
      "CREATE TABLE a (id int PRIMARY KEY);\n" +
        "CREATE TABLE b (a_id int REFERENCES a DEFERRABLE INITIALLY DEFERRED);\n" +
        "INSERT INTO a VALUES (1);\nINSERT INTO b VALUES (1);",
    );
    await write("20240102_0900_great", "20240101_0900_rows", "CREATE TABLE c (id int);");
    // Alone it runs (the deferred checks fired at the first one's commit); joined in the
    // baseline's one transaction they are still pending, and PostgreSQL refuses the ALTER.
    await write(
      "20240103_0900_use",
      "20240102_0900_great",
      "CREATE TABLE feelings (id int);\nALTER TABLE b ADD COLUMN note text;",
    );
    await write("20240104_0900_kept", "20240103_0900_use", "CREATE TABLE kept (id int);");
    const run = runner(dir);
    const before = await listing(dir);

    const joined = await runJson(run, 1, "clean", "1");
    assert.equal(joined.error.code, "MIGRATION_FAILED");
    assert.match(joined.error.message, /^While proving the baseline on a scratch database, /);
    assert.match(joined.error.message, /revision "20240103_0900_use"/);
    assert.equal(joined.error.revision, "20240103_0900_use");
    assert.equal(joined.error.file, "migrations/20240103_0900_use.sql");
    assert.match(joined.error.message, /pending trigger events/);
    assert.equal(joined.error.line, 5);
    assert.match(joined.error.hint, /No file was written and no database was changed/);
    assert.deepEqual(await listing(dir), before);

    // A revision that cannot run on a new database at all fails in the originals' build.
    await write(
      "20240102_0900_great",
      "20240101_0900_rows",
      "SELECT 1;\nALTER TYPE missing ADD VALUE 'great';",
    );
    const human = await run("clean", "1");
    expectExit(human, 1, "clean 1 with a broken revision");
    assert.match(
      human.stderr,
      new RegExp(
        "migrations/20240102_0900_great.sql:5: While proving the baseline on a scratch " +
          'database, revision "20240102_0900_great" failed \\(up\\): type "missing" does not exist',
      ),
    );
    assert.match(human.stderr, /hint: No file was written and no database was changed/);
    assert.ok(!(await exists(join(dir, "versions_backup"))), "no backup either");
  },
);

serverDirTest(
  "partly applied range: clean refuses (exit 5); a squashed folder is refused by apply (exit 5)",
  async (dir, url) => {
    const migrations = await writeLine(dir);
    const embedded = `pglite:${join(dir, "db")}`;
    const databases = [{ url, label: url }, { url: embedded, label: embedded }];

    for (const database of databases) {
      const run = runner(dir, database.url);
      expectExit(await run("upgrade", IDS[4]), 0, `upgrade to revision 5 on ${database.label}`);
      const files = await listing(migrations);
      const top = await names(dir);
      const doc = await runJson(run, 5, "clean", "3");
      assert.equal(doc.error.code, "INTEGRITY");
      assert.ok(doc.error.message.includes(database.label), doc.error.message);
      assert.match(doc.error.message, /\b5 of the 7\b/);
      assert.deepEqual(doc.error.applied, IDS.slice(0, 5));
      assert.deepEqual(doc.error.notApplied, IDS.slice(5, 7));
      assert.match(doc.error.hint, /strata apply/);
      assert.deepEqual(await listing(migrations), files, `files changed (${database.label})`);
      assert.deepEqual(await names(dir), top, `something was written (${database.label})`);
    }

    // The same files squashed elsewhere (a teammate's clean), without a database.
    const elsewhere = join(dir, "elsewhere");
    await Deno.mkdir(elsewhere);
    await Deno.mkdir(join(elsewhere, "migrations"));
    for await (const entry of Deno.readDir(migrations)) {
      await Deno.copyFile(join(migrations, entry.name), join(elsewhere, "migrations", entry.name));
    }
    const squash = await runJson(runner(elsewhere), 0, "clean", "3", "--scratch", SERVER_URL);
    assert.equal(squash.baseline, BASELINE);
    assert.equal(squash.database, null);
    const squashed = join(elsewhere, "migrations");

    for (const database of databases) {
      const run = runner(dir, database.url);
      const status = await runJson(run, 0, "status", "--dir", squashed);
      assert.equal(status.upToDate, false);
      assert.deepEqual(status.adopt, []);
      assert.deepEqual(status.partial, [
        { baseline: BASELINE, applied: IDS.slice(0, 5), notApplied: IDS.slice(5, 7) },
      ]);

      const doc = await runJson(run, 5, "apply", "--dir", squashed);
      assert.equal(doc.error.code, "INTEGRITY");
      assert.ok(doc.error.message.includes(BASELINE), doc.error.message);
      assert.match(doc.error.hint, /strata restore/);
      assert.deepEqual(doc.error.notApplied, IDS.slice(5, 7));

      // Nothing ran: the database is still at revision 5 of the unsquashed files.
      const after = await runJson(run, 0, "status");
      assert.equal(after.applied, 5);
      assert.deepEqual(after.pending, IDS.slice(5));
    }
  },
);
