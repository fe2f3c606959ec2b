/**
 * `strata drift` end to end: the real CLI against a server database and an
 * embedded one, changed by hand behind strata's back. drift builds the
 * expected schema on a scratch database and only reads the target: exit 0
 * when it matches, 3 when it drifted, 5 when the files cannot say what it
 * should hold.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { type Engine, openEngine } from "../lib/db/engine.ts";
import {
  type CliResult,
  copyExamples,
  dump,
  embeddedTest,
  expectExit,
  parseJson,
  queryDb,
  serverDirTest,
  strata,
} from "./helpers.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

const names = (entries: Json[]) => entries.map((o: Json) => `${o.kind} ${o.name}`);

/** The hand-made drift: a column added, an index dropped. */
const BY_HAND = "ALTER TABLE users ADD COLUMN nickname text; DROP INDEX reviews_reviewer_idx;";

/** Human output and `--json` of `strata drift`, side by side. */
async function driftBoth(
  dir: string,
  env: Record<string, string>,
  args: string[] = [],
): Promise<{ human: CliResult; json: CliResult; doc: Json }> {
  const [human, json] = await Promise.all([
    strata(["drift", ...args], { cwd: dir, env }),
    strata(["drift", ...args, "--json"], { cwd: dir, env }),
  ]);
  const doc = parseJson(json, "drift --json");
  assert.equal(doc.command, "drift");
  return { human, json, doc };
}

function expectDrifted(human: CliResult, json: CliResult, doc: Json, applied: number): void {
  expectExit(human, 3, "drift after changes by hand");
  assert.match(human.stdout, /^\s+\+ column public\.users\.nickname: text$/m, dump(human));
  assert.match(
    human.stdout,
    /^\s+- index public\.reviews_reviewer_idx: CREATE INDEX reviews_reviewer_idx ON public\.reviews/m,
    dump(human),
  );
  assert.match(human.stdout, /differs from its \d+ applied revisions in 2 objects/);
  assert.doesNotMatch(human.stdout, /strata_ledger|strata_journal/, "the ledger is not drift");

  expectExit(json, 3, "drift --json after changes by hand");
  assert.equal(doc.ok, false);
  assert.equal(doc.drifted, true);
  assert.equal(doc.applied, applied);
  assert.deepEqual(names(doc.added), ["column public.users.nickname"]);
  assert.deepEqual(names(doc.removed), ["index public.reviews_reviewer_idx"]);
  assert.deepEqual(doc.changed, []);
  assert.equal(doc.added[0].definition, "text");
  assert.match(doc.removed[0].definition, /ON public\.reviews USING btree \(reviewer_id\)/);
}

function expectClean(r: CliResult, doc: Json, applied: number): void {
  expectExit(r, 0, "drift --json on an untouched database");
  assert.equal(doc.ok, true);
  assert.equal(doc.drifted, false);
  assert.equal(doc.applied, applied);
  assert.deepEqual([doc.added, doc.removed, doc.changed], [[], [], []]);
}

// ---------------------------------------------------------------------------
// Server

interface ServerState {
  ledger: number;
  journal: number;
  relations: string[];
  schemas: string[];
}

/** What drift must not change: ledger and journal rows, the relations in user schemas, the schemas. */
async function serverState(url: string): Promise<ServerState> {
  const [{ ledger, journal }] = await queryDb<{ ledger: number; journal: number }>(
    url,
    "SELECT (SELECT count(*)::int FROM strata_ledger) AS ledger, " +
      "(SELECT count(*)::int FROM strata_journal) AS journal",
  );
  const relations = (await queryDb<{ name: string }>(
    url,
    `SELECT n.nspname || '.' || c.relname || ' ' || c.relkind::text AS name
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
      ORDER BY 1`,
  )).map((r) => r.name);
  const schemas = (await queryDb<{ name: string }>(
    url,
    "SELECT nspname AS name FROM pg_namespace ORDER BY 1",
  )).map((r) => r.name);
  return { ledger, journal, relations, schemas };
}

serverDirTest(
  "drift: an untouched server database is clean; a column added and an index dropped by hand are reported",
  async (dir, url) => {
    await copyExamples(dir);
    const env = { DATABASE_URL: url };
    expectExit(await strata(["apply"], { cwd: dir, env }), 0, "apply");
    const before = await serverState(url);

    const untouched = await driftBoth(dir, env);
    expectExit(untouched.human, 0, "drift on an untouched database");
    assert.match(untouched.human.stdout, /^No drift: .* matches its 13 applied revisions$/m);
    // The engine's start-up is announced first: on stdout, or on stderr with --json.
    assert.match(
      untouched.human.stdout,
      /^Starting the embedded engine \(PGlite\) to rebuild what 13 applied revisions should give/,
    );
    assert.match(untouched.json.stderr, /Starting the embedded engine \(PGlite\)/);
    expectClean(untouched.json, untouched.doc, 13);
    assert.equal(untouched.doc.database, url);

    await queryDb(url, BY_HAND);
    const changed = await serverState(url);
    const { human, json, doc } = await driftBoth(dir, env);
    expectDrifted(human, json, doc, 13);

    // The scratch model may also be a server database: same verdict.
    const viaServer = await strata(["drift", "--scratch", url, "--json"], { cwd: dir, env });
    expectExit(viaServer, 3, "drift --scratch URL");
    const viaDoc = parseJson(viaServer, "drift --scratch --json");
    assert.deepEqual(names(viaDoc.added), ["column public.users.nickname"]);
    assert.deepEqual(names(viaDoc.removed), ["index public.reviews_reviewer_idx"]);

    // Read-only: after the drift runs the ledger, the journal and the
    // relations are those the hand-made change left.
    assert.deepEqual(await serverState(url), changed);
    assert.equal(changed.ledger, before.ledger);
    assert.equal(changed.journal, before.journal);
    const locks = await queryDb(
      url,
      "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND database = " +
        "(SELECT oid FROM pg_database WHERE datname = current_database())",
    );
    assert.equal(locks.length, 0, "no advisory lock left behind");
  },
);

serverDirTest(
  "drift: an applied file edited afterwards stops it with exit 5, naming the file",
  async (dir, url) => {
    const migrations = await copyExamples(dir);
    const env = { DATABASE_URL: url };
    expectExit(await strata(["apply"], { cwd: dir, env }), 0, "apply");
    const before = await serverState(url);
    const file = join(migrations, "02_core_features", "20240214_1100_repositories.sql");
    await Deno.writeTextFile(file, (await Deno.readTextFile(file)) + "\n-- edited\n");

    const r = await strata(["drift"], { cwd: dir, env });
    expectExit(r, 5, "drift with an edited applied file");
    assert.match(r.stderr, /20240214_1100_repositories/, dump(r));
    const j = await strata(["drift", "--json"], { cwd: dir, env });
    expectExit(j, 5, "drift --json with an edited applied file");
    const doc = parseJson(j, "drift --json");
    assert.equal(doc.ok, false);
    assert.equal(doc.error.code, "INTEGRITY");
    assert.equal(
      doc.error.file,
      join("migrations", "02_core_features", "20240214_1100_repositories.sql"),
    );
    assert.deepEqual(doc.error.edited, ["20240214_1100_repositories"]);
    assert.deepEqual(await serverState(url), before, "nothing written");
  },
);

// ---------------------------------------------------------------------------
// Embedded

const ENGINE_OPTIONS = {
  connectTimeoutMs: 10_000,
  statementTimeoutMs: 0,
  lockWaitMs: 0,
  lockTimeoutMs: 10_000,
  mustExist: true,
};

async function withDb<T>(db: string, fn: (engine: Engine) => Promise<T>): Promise<T> {
  const engine = await openEngine(db, ENGINE_OPTIONS);
  try {
    return await fn(engine);
  } finally {
    await engine.close();
  }
}

const COUNTS = "SELECT (SELECT count(*)::int FROM strata_ledger) AS ledger, " +
  "(SELECT count(*)::int FROM strata_journal) AS journal";

const counts = (db: string) => withDb(db, (engine) => engine.query(COUNTS));

embeddedTest(
  "drift on the embedded engine: an untouched database is clean; changes by hand are reported",
  async (dir, db) => {
    await copyExamples(dir);
    await Deno.writeTextFile(join(dir, "strata.json"), JSON.stringify({ database: db }));
    // Not every revision applied: the model is built from the applied ones only.
    const target = "20240409_1100_pull_request_indexes";
    expectExit(await strata(["upgrade", target], { cwd: dir }), 0, "upgrade");

    const clean = await strata(["drift", "--json"], { cwd: dir });
    expectClean(clean, parseJson(clean, "drift --json"), 12);

    // strata has closed the folder; change it behind its back.
    const before = await withDb(db, async (engine) => {
      const rows = await engine.query(COUNTS);
      await engine.exec(BY_HAND);
      return rows;
    });
    const { human, json, doc } = await driftBoth(dir, {});
    expectDrifted(human, json, doc, 12);
    assert.equal(doc.database, db);
    assert.deepEqual(await counts(db), before, "ledger and journal unchanged");
  },
);
