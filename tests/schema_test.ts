import assert from "node:assert/strict";
import type { Engine } from "../lib/db/engine.ts";
import { buildGraph } from "../lib/graph.ts";
import { loadMigrations } from "../lib/migration_dir.ts";
import { buildUp } from "../lib/schema/build.ts";
import { diffJson, diffSnapshots, formatDiff, isEmpty } from "../lib/schema/diff.ts";
import { embeddedScratch, serverScratch } from "../lib/schema/scratch.ts";
import { snapshot } from "../lib/schema/snapshot.ts";
import { EXAMPLES, SERVER_URL, serverTest } from "./helpers.ts";

const NO_EXCLUDE = { exclude: [] };
const options = { sanitizeOps: false, sanitizeResources: false };

async function exampleFiles() {
  const graph = buildGraph(await loadMigrations(EXAMPLES));
  return graph.order.map((id) => graph.files.get(id)!);
}

/** Two fresh embedded databases with the same SQL run on each; `change` then runs on the second. */
async function compare(base: string, change: string) {
  const scratch = embeddedScratch();
  try {
    const a = await scratch.open();
    const b = await scratch.open();
    await a.exec(base);
    await b.exec(base);
    await b.exec(change);
    return diffSnapshots(await snapshot(a, NO_EXCLUDE), await snapshot(b, NO_EXCLUDE));
  } finally {
    await scratch.dispose();
  }
}

const names = (diff: ReturnType<typeof diffSnapshots>) => ({
  added: diff.added.map((o) => `${o.kind} ${o.name}`),
  removed: diff.removed.map((o) => `${o.kind} ${o.name}`),
  changed: diff.changed.map((c) => `${c.kind} ${c.name}`),
});

const BASE = `
CREATE TYPE mood AS ENUM ('sad', 'ok');
CREATE DOMAIN positive AS integer CHECK (VALUE > 0);
CREATE TABLE users (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, email text NOT NULL UNIQUE,
  score positive, mood mood DEFAULT 'ok', created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE posts (id serial PRIMARY KEY, user_id bigint REFERENCES users (id), body text,
  words int GENERATED ALWAYS AS (length(body)) STORED, CHECK (words < 10000));
CREATE INDEX posts_user_idx ON posts (user_id);
CREATE VIEW active AS SELECT id, email FROM users WHERE mood = 'ok';
CREATE MATERIALIZED VIEW counts AS SELECT user_id, count(*) AS n FROM posts GROUP BY user_id;
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER posts_touch BEFORE UPDATE ON posts FOR EACH ROW EXECUTE FUNCTION touch();
CREATE SCHEMA audit;
CREATE TABLE notes (id int, body text);
CREATE SEQUENCE audit.ticket START 100 INCREMENT 5;
COMMENT ON TABLE users IS 'people';
`;

Deno.test("schema: two databases built alike have equal snapshots", options, async () => {
  const diff = await compare(BASE, "SELECT 1");
  assert.ok(isEmpty(diff), formatDiff(diff).join("\n"));
});

Deno.test("schema: the snapshot holds every kind of object", options, async () => {
  const scratch = embeddedScratch();
  try {
    const db = await scratch.open();
    await db.exec(BASE);
    const kinds = new Set(
      [...(await snapshot(db, NO_EXCLUDE)).objects.values()].map((o) => o.kind),
    );
    for (
      const kind of [
        "schema",
        "extension",
        "type",
        "sequence",
        "table",
        "column",
        "constraint",
        "index",
        "view",
        "materialized view",
        "function",
        "trigger",
      ]
    ) {
      assert.ok(kinds.has(kind as never), `snapshot has a ${kind}`);
    }
  } finally {
    await scratch.dispose();
  }
});

Deno.test("schema: added, removed and changed objects are named", options, async () => {
  const diff = await compare(
    BASE,
    `ALTER TABLE users ADD COLUMN nickname text;
     DROP INDEX posts_user_idx;
     ALTER TABLE users ALTER COLUMN mood SET DEFAULT 'sad';
     CREATE OR REPLACE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN OLD; END $$;
     ALTER TYPE mood ADD VALUE 'glad';
     COMMENT ON TABLE users IS 'humans';
     ALTER TABLE notes ALTER COLUMN body TYPE varchar(200);`,
  );
  assert.deepEqual(names(diff), {
    added: ["column public.users.nickname"],
    removed: ["index public.posts_user_idx"],
    changed: [
      "column public.notes.body",
      "column public.users.mood",
      "function public.touch()",
      "table public.users",
      "type public.mood",
    ],
  });
  const text = formatDiff(diff).join("\n");
  assert.match(text, /\+ column public\.users\.nickname: text/);
  assert.match(text, /- index public\.posts_user_idx: CREATE INDEX posts_user_idx/);
  assert.match(
    text,
    /~ column public\.users\.mood\n\s+was: public\.mood DEFAULT 'ok'::public\.mood/,
  );
  assert.match(text, /comment now: "humans"/);
  const json = diffJson(diff);
  assert.equal(
    json.changed.find((c) => c.name === "public.notes.body")?.after.definition,
    "character varying(200)",
  );
});

Deno.test("schema: constraints, NOT NULL, identity and views are compared", options, async () => {
  const diff = await compare(
    BASE,
    `ALTER TABLE users ALTER COLUMN created_at DROP NOT NULL;
     ALTER TABLE posts DROP CONSTRAINT posts_words_check;
     ALTER TABLE users ALTER COLUMN id SET GENERATED BY DEFAULT;
     CREATE OR REPLACE VIEW active AS SELECT id, email FROM users WHERE mood = 'sad';`,
  );
  assert.deepEqual(names(diff), {
    added: [],
    removed: ["constraint public.posts.posts_words_check"],
    changed: ["column public.users.created_at", "column public.users.id", "view public.active"],
  });
});

Deno.test("schema: the ledger tables are left out", options, async () => {
  const scratch = embeddedScratch();
  try {
    const db = await scratch.open();
    await db.exec(
      `CREATE TABLE strata_ledger (revision text PRIMARY KEY);
       CREATE TABLE strata_journal (id bigint GENERATED ALWAYS AS IDENTITY, at timestamptz);
       CREATE SCHEMA ops; CREATE TABLE ops.ledger (revision text PRIMARY KEY); CREATE TABLE kept (id int);`,
    );
    const keys = (exclude: Array<{ schema: string | null; table: string }>) =>
      snapshot(db, { exclude }).then((s) =>
        [...s.objects.keys()].filter((k) => /ledger|journal|kept/.test(k))
      );
    assert.deepEqual(
      (await keys([{ schema: null, table: "strata_ledger" }, {
        schema: null,
        table: "strata_journal",
      }]))
        .sort(),
      [
        "column public.kept.id",
        "constraint ops.ledger.ledger_pkey",
        "column ops.ledger.revision",
        "table ops.ledger",
        "table public.kept",
      ].sort(),
    );
    assert.deepEqual(
      (await keys([{ schema: "ops", table: "ledger" }])).filter((k) => k.includes("ops.")),
      [],
    );
  } finally {
    await scratch.dispose();
  }
});

async function buildOn(engine: Engine) {
  await buildUp(engine, await exampleFiles());
  return snapshot(engine, NO_EXCLUDE);
}

serverTest(
  "schema: the examples give the same snapshot on the server and on the embedded engine",
  async () => {
    const embedded = embeddedScratch();
    const server = serverScratch(SERVER_URL);
    try {
      const onEmbedded = await buildOn(await embedded.open());
      const onServer = await buildOn(await server.open());
      const diff = diffSnapshots(onEmbedded, onServer);
      assert.ok(onEmbedded.objects.size > 50);
      assert.ok(isEmpty(diff), formatDiff(diff).join("\n"));
    } finally {
      await embedded.dispose();
      await server.dispose();
    }
  },
);
