/**
 * Extensions on the embedded engine: found in SQL, loaded when SQL asks (in
 * memory and in a folder, again after reopening it), refused before anything
 * runs when PGlite lacks them, and described alike on the server and PGlite.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { type Engine, type EngineOptions, openEngine } from "../lib/db/engine.ts";
import {
  assertEmbeddedExtensions,
  EMBEDDED_EXTENSIONS,
  extensionMentions,
} from "../lib/db/extensions.ts";
import { diffSnapshots, formatDiff, isEmpty } from "../lib/schema/diff.ts";
import { embeddedScratch, serverScratch } from "../lib/schema/scratch.ts";
import { snapshot } from "../lib/schema/snapshot.ts";
import {
  dump,
  embeddedTest,
  errorOf,
  expectExit,
  parseJson,
  SERVER_URL,
  serverTest,
  strata,
  writeMigration,
} from "./helpers.ts";

const OPTIONS: EngineOptions = {
  connectTimeoutMs: 5000,
  statementTimeoutMs: 0,
  lockWaitMs: 0,
  lockTimeoutMs: 5000,
};
const options = { sanitizeOps: false, sanitizeResources: false };

Deno.test("extensions: CREATE EXTENSION is found outside comments and strings", () => {
  const sql = `-- CREATE EXTENSION in_line_comment;
/* CREATE EXTENSION in /* nested */ block */
SELECT 'CREATE EXTENSION in_string', E'it\\'s CREATE EXTENSION escaped';
create extension if not exists CiText;
CREATE   EXTENSION
  "uuid-ossp" WITH SCHEMA public;
CREATE EXTENSION "Odd""Name" CASCADE;
DO $body$ BEGIN CREATE EXTENSION hstore; END $body$;
SELECT $$ CREATE EXTENSION in_dollar_string $$;
xCREATE EXTENSION not_a_word_start;`;
  const found = extensionMentions(sql).map((m) => `${m.name}${m.inBody ? " (body)" : ""}`);
  assert.deepEqual(found, [
    "citext",
    "uuid-ossp",
    'Odd"Name',
    "hstore (body)",
    "in_dollar_string (body)",
  ]);
  assert.deepEqual(extensionMentions("SELECT 1"), []);
});

Deno.test("extensions: one PGlite lacks is refused with file, line and the --scratch hint", () => {
  const source = {
    path: "migrations/x.sql",
    line: 4,
    sql: "CREATE EXTENSION citext;\n\nCREATE EXTENSION IF NOT EXISTS PostGIS;\n",
  };
  const error = errorOf(() => assertEmbeddedExtensions([source]));
  assert.equal(error.code, "EXTENSION_UNAVAILABLE");
  assert.equal(error.file, "migrations/x.sql");
  assert.equal(error.line, 6);
  assert.match(error.message, /"postgis"/);
  assert.match(error.hint!, /--scratch postgres:\/\//);
  assert.equal(error.details.extension, "postgis");
  // A DO block may create it only where it exists: left to run.
  assertEmbeddedExtensions([{
    path: "y.sql",
    line: 1,
    sql: "DO $$ BEGIN CREATE EXTENSION postgis; END $$; CREATE EXTENSION vector;",
  }]);
});

async function withEmbedded(url: string, fn: (engine: Engine) => Promise<void>) {
  const engine = await openEngine(url, OPTIONS);
  try {
    await fn(engine);
  } finally {
    await engine.close();
  }
}

const CREATE_AND_USE = `
CREATE EXTENSION citext;
CREATE EXTENSION hstore;
CREATE EXTENSION pg_trgm;
CREATE EXTENSION pgcrypto;
CREATE EXTENSION "uuid-ossp";
CREATE EXTENSION vector;
CREATE TABLE people (
  id uuid PRIMARY KEY DEFAULT uuid_generate_v4(),
  email citext UNIQUE,
  attrs hstore,
  embedding vector(3),
  secret text DEFAULT encode(digest('x', 'sha256'), 'hex')
);
CREATE INDEX people_name_trgm ON people USING gin ((attrs -> 'name') gin_trgm_ops);
INSERT INTO people (email, attrs, embedding) VALUES ('Ann@Example.org', 'name=>ann', '[1,2,3]');
`;

/** Use every extension CREATE_AND_USE created: types, operators and functions. */
async function useThem(engine: Engine, email: string) {
  await engine.exec(
    `INSERT INTO people (email, attrs, embedding) VALUES ('${email}', 'name=>bob', '[3,2,1]')`,
  );
  const [row] = await engine.query<Record<string, unknown>>(
    `SELECT count(*)::int AS n,
       bool_and(email = upper(email)::citext) AS ci,
       max(attrs -> 'name') AS name,
       min(embedding <-> '[1,2,3]') AS nearest,
       max(similarity(attrs -> 'name', 'anne')) > 0 AS trgm,
       length(max(secret)) AS hex,
       length(gen_random_uuid()::text) AS uuid
     FROM people`,
  );
  return row;
}

Deno.test("extensions: created and used on pglite:memory", options, async () => {
  await withEmbedded("pglite:memory", async (engine) => {
    await engine.exec(CREATE_AND_USE);
    assert.deepEqual(await useThem(engine, "bob@example.org"), {
      n: 2,
      ci: true,
      name: "bob",
      nearest: 0,
      trgm: true,
      hex: 64,
      uuid: 36,
    });
  });
});

embeddedTest("extensions: a pglite: folder uses them again after reopening", async (_dir, db) => {
  await withEmbedded(db, (engine) => engine.exec(CREATE_AND_USE));
  // A new process's PGlite starts without any bundle: the installed ones are loaded at open.
  await withEmbedded(db, async (engine) => {
    const row = await useThem(engine, "bob@example.org");
    assert.equal(row.n, 2);
    assert.equal(row.ci, true);
    assert.equal(row.nearest, 0);
    const [dup] = await engine.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM people WHERE email = 'ANN@EXAMPLE.ORG'",
    );
    assert.equal(dup.n, 1);
  });
});

Deno.test(
  "extensions: every one listed can be created on the embedded engine",
  options,
  async () => {
    await withEmbedded("pglite:memory", async (engine) => {
      for (const name of EMBEDDED_EXTENSIONS) {
        await engine.exec(`CREATE EXTENSION IF NOT EXISTS "${name}" CASCADE`);
      }
      const rows = await engine.query<{ extname: string }>("SELECT extname FROM pg_extension");
      const installed = new Set(rows.map((r) => r.extname));
      assert.deepEqual(EMBEDDED_EXTENSIONS.filter((name) => !installed.has(name)), []);
    });
  },
);

const CITEXT_HSTORE = `
CREATE EXTENSION citext;
CREATE EXTENSION hstore;
CREATE TABLE contacts (
  id int PRIMARY KEY,
  email citext NOT NULL DEFAULT 'nobody@example.org'::citext,
  tags hstore,
  emails citext[]
);
CREATE INDEX contacts_tags ON contacts USING gist (tags);
`;

serverTest(
  "extensions: citext and hstore columns snapshot alike on server and PGlite",
  async () => {
    const embedded = embeddedScratch();
    const server = serverScratch(SERVER_URL);
    try {
      const a = await embedded.open();
      const b = await server.open();
      await a.exec(CITEXT_HSTORE);
      await b.exec(CITEXT_HSTORE);
      const onEmbedded = await snapshot(a, { exclude: [] });
      const onServer = await snapshot(b, { exclude: [] });
      const column = [...onEmbedded.objects.values()].find((o) =>
        o.kind === "column" && o.name.endsWith("contacts.email")
      );
      assert.ok(column, "the citext column is in the snapshot");
      const diff = diffSnapshots(onEmbedded, onServer);
      assert.ok(isEmpty(diff), formatDiff(diff).join("\n"));
    } finally {
      await embedded.dispose();
      await server.dispose();
    }
  },
);

const HISTORY: Record<string, string> = {
  "20240101_0000_extensions": `-- parents:
-- up
CREATE EXTENSION IF NOT EXISTS citext;
CREATE EXTENSION IF NOT EXISTS hstore;
CREATE EXTENSION IF NOT EXISTS vector;
-- down
DROP EXTENSION vector;
DROP EXTENSION hstore;
DROP EXTENSION citext;
`,
  "20240102_0000_items": `-- parents: 20240101_0000_extensions
-- up
CREATE TABLE items (id int PRIMARY KEY, name citext UNIQUE, attrs hstore, embedding vector(3));
INSERT INTO items VALUES (1, 'Lamp', 'color=>red', '[1,0,0]');
-- down
DROP TABLE items;
`,
  "20240103_0000_lookup": `-- parents: 20240102_0000_items
-- up
CREATE FUNCTION nearest(q vector) RETURNS citext LANGUAGE sql
  AS $$ SELECT name FROM items ORDER BY embedding <-> q LIMIT 1 $$;
INSERT INTO items SELECT 2, 'Desk', attrs || 'size=>l', '[0,1,0]' FROM items WHERE name = 'LAMP';
-- down
DELETE FROM items WHERE id = 2;
DROP FUNCTION nearest(vector);
`,
};

async function writeHistory(dir: string) {
  for (const [id, text] of Object.entries(HISTORY)) {
    await writeMigration(join(dir, "migrations"), id, text);
  }
}

embeddedTest(
  "extensions: apply, status, verify and drift on a history using them",
  async (dir, db) => {
    await writeHistory(dir);
    const env = { DATABASE_URL: db };
    expectExit(await strata(["apply"], { cwd: dir, env }), 0, "apply");
    const status = await strata(["status", "--json"], { cwd: dir, env });
    expectExit(status, 0, "status");
    assert.equal(parseJson(status, "status").pending.length, 0);
    const verify = await strata(["verify"], { cwd: dir });
    expectExit(verify, 0, "verify");
    assert.match(verify.stdout, /3 of 3 revisions verified/, dump(verify));
    expectExit(await strata(["drift"], { cwd: dir, env }), 0, "drift");
  },
);

embeddedTest(
  "extensions: one PGlite lacks stops apply and verify before anything runs",
  async (dir, db) => {
    await writeHistory(dir);
    const path = await writeMigration(
      join(dir, "migrations"),
      "20240104_0000_gis",
      "-- parents: 20240103_0000_lookup\n-- up\nCREATE TABLE before_gis (id int);\n" +
        "CREATE EXTENSION IF NOT EXISTS postgis;\n-- down\nDROP TABLE before_gis;\n",
    );
    const env = { DATABASE_URL: db };
    for (const args of [["apply"], ["verify"], ["upgrade", "head"]]) {
      const r = await strata([...args, "--json"], { cwd: dir, env });
      expectExit(r, 2, args.join(" "));
      const { error } = parseJson(r, args.join(" "));
      assert.equal(error.code, "EXTENSION_UNAVAILABLE");
      assert.equal(error.extension, "postgis");
      assert.equal(error.line, 4);
      assert.ok(error.file.endsWith("20240104_0000_gis.sql"), error.file);
      assert.match(error.hint, /--scratch postgres:\/\//);
    }
    const human = await strata(["apply"], { cwd: dir, env });
    expectExit(human, 2, "apply");
    assert.ok(
      human.stderr.includes(`${join("migrations", "20240104_0000_gis.sql")}:4:`),
      dump(human),
    );
    assert.ok(path.endsWith(".sql"));
    // Nothing ran: not even the revisions before the one that needs postgis.
    const status = await strata(["status", "--json"], { cwd: dir, env });
    assert.equal(parseJson(status, "status").applied, 0, dump(status));
  },
);
