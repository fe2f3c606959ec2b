/**
 * `strata baseline` end to end: the real CLI against a server database that
 * no tool managed, and an embedded one. The written revision must build, on a
 * fresh database, a schema whose snapshot equals the original's; `--stamp`
 * makes status up to date and drift clean; what strata cannot reproduce
 * writes nothing.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { type Engine, openEngine } from "../lib/db/engine.ts";
import { diffSnapshots, formatDiff, isEmpty } from "../lib/schema/diff.ts";
import { snapshot } from "../lib/schema/snapshot.ts";
import {
  embeddedTest,
  expectExit,
  parseJson,
  queryDb,
  scratchDatabase,
  serverDirTest,
  strata,
  writeMigration,
} from "./helpers.ts";

const ENGINE_OPTIONS = {
  connectTimeoutMs: 10_000,
  statementTimeoutMs: 0,
  lockWaitMs: 0,
  lockTimeoutMs: 10_000,
};

const LEDGER = [
  { schema: "*", table: "strata_ledger" },
  { schema: "*", table: "strata_journal" },
];

async function withDb<T>(db: string, fn: (engine: Engine) => Promise<T>): Promise<T> {
  const engine = await openEngine(db, ENGINE_OPTIONS);
  try {
    return await fn(engine);
  } finally {
    await engine.close();
  }
}

/** Both databases' snapshots (strata's tables left out) are equal. */
async function assertSameSchema(a: string, b: string): Promise<void> {
  const [left, right] = [
    await withDb(a, (e) => snapshot(e, { exclude: LEDGER })),
    await withDb(b, (e) => snapshot(e, { exclude: LEDGER })),
  ];
  const diff = diffSnapshots(left, right);
  assert.ok(isEmpty(diff), `schemas differ:\n${formatDiff(diff).join("\n")}`);
  assert.ok(left.objects.size > 20, `expected a rich schema, got ${left.objects.size} objects`);
}

/** Everything the issue lists: tables, indexes, FKs, views, functions, triggers, enums, sequences, comments. */
const LIVE_SCHEMA = `
CREATE TYPE mood AS ENUM ('happy', 'sad');
CREATE SEQUENCE invoice_no START 1000;
CREATE TABLE users (
  id bigserial PRIMARY KEY,
  email text NOT NULL UNIQUE,
  mood mood DEFAULT 'happy',
  touched timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE users IS 'people';
COMMENT ON COLUMN users.email IS 'login';
CREATE TABLE orders (
  id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  total numeric(10, 2) CHECK (total >= 0),
  no int DEFAULT nextval('invoice_no')
);
CREATE INDEX orders_user ON orders (user_id) WHERE total > 0;
CREATE VIEW big_orders AS
  SELECT o.id, u.email FROM orders o JOIN users u ON u.id = o.user_id WHERE o.total > 100;
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS
  $$ BEGIN NEW.touched := now(); RETURN NEW; END $$;
COMMENT ON FUNCTION touch() IS 'keeps touched fresh';
CREATE TRIGGER users_touch BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION touch();
CREATE SCHEMA audit;
CREATE TABLE audit.log (id serial PRIMARY KEY, at timestamptz DEFAULT now(), what text);
INSERT INTO users (email) VALUES ('a@example.com');
`;

const SCHEMAS_CONFIG = JSON.stringify({ schemas: ["public", "audit"] });

serverDirTest(
  "baseline writes a proven root revision; --stamp makes status and drift clean",
  async (dir, url) => {
    await queryDb(url, LIVE_SCHEMA);
    await Deno.writeTextFile(join(dir, "strata.json"), SCHEMAS_CONFIG);
    const env = { DATABASE_URL: url };

    const made = await strata(["baseline", "--stamp", "--json"], { cwd: dir, env });
    expectExit(made, 0, "baseline --stamp");
    const doc = parseJson(made, "baseline --json");
    assert.equal(doc.stamped, true);
    assert.deepEqual(doc.schemas, ["public", "audit"]);
    const text = await Deno.readTextFile(join(dir, doc.path));
    assert.match(text, /^-- parents: *$/m, "a root revision");
    assert.match(text, /CREATE SCHEMA audit;/);
    assert.match(text, /COMMENT ON COLUMN public\.users\.email IS 'login';/);
    assert.doesNotMatch(text, /strata_ledger|strata_journal/);
    // The data stays; the ledger has the baseline, journaled as a stamp.
    assert.deepEqual(await queryDb(url, "SELECT email FROM users"), [{ email: "a@example.com" }]);
    const ledger = await queryDb<{ revision: string }>(url, "SELECT revision FROM strata_ledger");
    assert.deepEqual(ledger.map((r) => r.revision), [doc.revision]);
    const journal = await queryDb(url, "SELECT action, detail FROM strata_journal");
    assert.deepEqual(journal, [{ action: "stamp", detail: "baseline" }]);

    expectExit(await strata(["check"], { cwd: dir, env }), 0, "check after --stamp");
    expectExit(await strata(["drift"], { cwd: dir, env }), 0, "drift after --stamp");

    // A fresh database built from the revision has the same schema.
    const fresh = await scratchDatabase();
    try {
      expectExit(
        await strata(["apply"], { cwd: dir, env: { DATABASE_URL: fresh.url } }),
        0,
        "apply on a fresh database",
      );
      await assertSameSchema(url, fresh.url);
      // Its down removes everything it built.
      expectExit(
        await strata(["downgrade", "base"], { cwd: dir, env: { DATABASE_URL: fresh.url } }),
        0,
        "downgrade base",
      );
      const left = await queryDb(
        fresh.url,
        "SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace " +
          "WHERE nspname IN ('public', 'audit') AND relname NOT LIKE 'strata_%'",
      );
      assert.deepEqual(left, []);
    } finally {
      await fresh.drop();
    }

    // Refusals: a folder with revisions, a database whose ledger has rows.
    const again = await strata(["baseline", "--json"], { cwd: dir, env });
    expectExit(again, 2, "baseline with revisions in the folder");
    assert.equal(parseJson(again, "refusal").error.code, "USAGE");
    const managed = await strata(["baseline", "--dir", "other"], { cwd: dir, env });
    expectExit(managed, 2, "baseline of a managed database");
    assert.match(managed.stderr, /ledger already records 1 revision/);
    assert.equal(existsSync(join(dir, "other")), false);
  },
);

serverDirTest(
  "baseline without --stamp writes the file and leaves the database alone",
  async (dir, url) => {
    await queryDb(url, LIVE_SCHEMA);
    const env = { DATABASE_URL: url };
    const made = await strata(["baseline", "-m", "start here", "--json"], { cwd: dir, env });
    expectExit(made, 0, "baseline");
    const doc = parseJson(made, "baseline --json");
    assert.equal(doc.stamped, false);
    assert.match(doc.revision, /_start_here$/);
    // Only the managed schema (default public) is in it.
    const text = await Deno.readTextFile(join(dir, doc.path));
    assert.doesNotMatch(text, /audit/);
    const tables = await queryDb(url, "SELECT to_regclass('strata_ledger') IS NULL AS none");
    assert.deepEqual(tables, [{ none: true }], "no ledger created");
  },
);

serverDirTest("baseline names what it cannot reproduce and writes nothing", async (dir, url) => {
  const env = { DATABASE_URL: url };
  await queryDb(url, "CREATE TABLE t (id int PRIMARY KEY); CREATE EXTENSION postgres_fdw");
  // An extension the embedded engine lacks: named, exit 2.
  const ext = await strata(["baseline", "--json"], { cwd: dir, env });
  expectExit(ext, 2, "extension PGlite lacks");
  assert.equal(parseJson(ext, "extension").error.code, "EXTENSION_UNAVAILABLE");
  assert.match(ext.stderr, /postgres_fdw/);
  assert.equal(existsSync(join(dir, "migrations")), false, "nothing written");

  // A foreign server and table: no generator reproduces them, a scratch server neither.
  await queryDb(
    url,
    "CREATE SERVER elsewhere FOREIGN DATA WRAPPER postgres_fdw; " +
      "CREATE FOREIGN TABLE remote (id int) SERVER elsewhere",
  );
  const scratchUrl = new URL(url);
  scratchUrl.pathname = "/postgres";
  const fdw = await strata(["baseline", "--scratch", scratchUrl.toString(), "--json"], {
    cwd: dir,
    env,
  });
  expectExit(fdw, 1, "foreign server");
  const error = parseJson(fdw, "fdw").error;
  assert.equal(error.code, "PROOF_FAILED");
  assert.match(error.message, /foreign server elsewhere/);
  assert.equal(existsSync(join(dir, "migrations")), false, "nothing written");

  // Without the server, the foreign table itself is named by the generator.
  await queryDb(url, "DROP FOREIGN TABLE remote; DROP SERVER elsewhere");
  await queryDb(url, "CREATE RULE no_delete AS ON DELETE TO t DO INSTEAD NOTHING");
  const rule = await strata(["baseline"], { cwd: dir, env });
  expectExit(rule, 1, "rule");
  assert.match(rule.stderr, /rule public\.t\.no_delete/);
  assert.equal(existsSync(join(dir, "migrations")), false, "nothing written");
});

serverDirTest("baseline with --scratch proves an extension on the server", async (dir, url) => {
  const env = { DATABASE_URL: url };
  await queryDb(url, "CREATE EXTENSION postgres_fdw; CREATE TABLE t (id int PRIMARY KEY)");
  const scratchUrl = new URL(url);
  scratchUrl.pathname = "/postgres";
  const made = await strata(["baseline", "--scratch", scratchUrl.toString(), "--json"], {
    cwd: dir,
    env,
  });
  expectExit(made, 0, "baseline proven on a scratch server");
  const text = await Deno.readTextFile(join(dir, parseJson(made, "baseline").path));
  assert.match(text, /CREATE EXTENSION IF NOT EXISTS postgres_fdw|CREATE EXTENSION postgres_fdw/);
});

embeddedTest("baseline of an embedded database, stamped, then checked", async (dir, db) => {
  await withDb(db, (engine) =>
    engine.exec(
      "CREATE TYPE state AS ENUM ('new', 'done');" +
        "CREATE TABLE tasks (id serial PRIMARY KEY, title text NOT NULL, state state);" +
        "CREATE INDEX tasks_title ON tasks (lower(title));" +
        "CREATE VIEW open_tasks AS SELECT id, title FROM tasks WHERE state = 'new';",
    ));
  const env = { DATABASE_URL: db };
  const made = await strata(["baseline", "--stamp", "--json"], { cwd: dir, env });
  expectExit(made, 0, "baseline --stamp (embedded)");
  expectExit(await strata(["check"], { cwd: dir, env }), 0, "check");
  expectExit(await strata(["drift"], { cwd: dir, env }), 0, "drift");
  const fresh = `pglite:${join(dir, "fresh")}`;
  expectExit(await strata(["apply"], { cwd: dir, env: { DATABASE_URL: fresh } }), 0, "apply");
  const [a, b] = [
    await withDb(db, (e) => snapshot(e, { exclude: LEDGER })),
    await withDb(fresh, (e) => snapshot(e, { exclude: LEDGER })),
  ];
  const diff = diffSnapshots(a, b);
  assert.ok(isEmpty(diff), formatDiff(diff).join("\n"));
  assert.ok(a.objects.has("view public.open_tasks"));
});

embeddedTest("baseline refuses a folder that already has revisions", async (dir, db) => {
  await writeMigration(
    join(dir, "migrations"),
    "20240101_0000_one",
    "-- parents:\n-- up\nCREATE TABLE a (id int);\n-- down\nDROP TABLE a;\n",
  );
  const r = await strata(["baseline", "--database", db], { cwd: dir });
  expectExit(r, 2, "baseline with revisions");
  assert.match(r.stderr, /already has 1 revision/);
});
