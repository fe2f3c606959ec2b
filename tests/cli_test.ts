/**
 * End-to-end tests of the real CLI (`deno run main.ts` as a subprocess) in
 * scratch folders, on both engines: the embedded one (`pglite:<scratch>/db`)
 * and a scratch database on the server. Asserts on exit codes, `--json`
 * fields and file:line, not on message wording.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import postgres from "postgres";
import {
  type CliResult,
  dump,
  embeddedTest,
  expectExit,
  parseJson,
  queryDb,
  scratchDir,
  serverDirTest,
  spawnStrata,
  strata,
  waitForQuery,
  writeMigration,
} from "./helpers.ts";

// deno-lint-ignore no-explicit-any
type Json = any;
type Run = (...args: string[]) => Promise<CliResult>;
/** Which of the named tables exist (server only). */
type TableProbe = (names: string[]) => Promise<Set<string>>;

// ---------------------------------------------------------------------------
// Small helpers local to this file

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

async function statusOf(run: Run): Promise<Json> {
  const doc = await runJson(run, 0, "status");
  assert.equal(doc.command, "status");
  return doc;
}

function serverProbe(url: string): TableProbe {
  return async (names) => {
    const rows = await queryDb<{ name: string }>(
      url,
      `SELECT n AS name FROM unnest($1::text[]) n WHERE to_regclass(n) IS NOT NULL`,
      [names],
    );
    return new Set(rows.map((row) => row.name));
  };
}

/** Replace the up and down sections of a generated file, keeping its header. */
async function fillSections(path: string, up: string, down: string): Promise<void> {
  const text = await Deno.readTextFile(path);
  const at = text.search(/^--\s*up\s*$/im);
  assert.ok(at >= 0, `no "-- up" marker in ${path}:\n${text}`);
  await Deno.writeTextFile(path, `${text.slice(0, at)}-- up\n${up}\n-- down\n${down}\n`);
}

function revisionText(parents: string, up: string, down: string, message = "test"): string {
  return `-- message: ${message}\n-- parents: ${parents}\n-- up\n${up}\n-- down\n${down}\n`;
}

async function sha256(text: string): Promise<string> {
  const normalized = (text.charCodeAt(0) === 0xfeff ? text.slice(1) : text).replace(/\r\n/g, "\n");
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(normalized));
  return "sha256:" + [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join(
    "",
  );
}

// ---------------------------------------------------------------------------
// The main scenario, on both engines

async function mainScenario(cwd: string, database: string, tables?: TableProbe): Promise<void> {
  const run = runner(cwd, database);
  const expectTables = async (present: string[], absent: string[], when: string) => {
    if (!tables) return;
    const found = await tables([...present, ...absent]);
    for (const name of present) assert.ok(found.has(name), `${when}: table ${name} should exist`);
    for (const name of absent) {
      assert.ok(!found.has(name), `${when}: table ${name} should not exist`);
    }
  };

  // init
  expectExit(await run("init"), 0, "init");
  assert.ok((await Deno.stat(join(cwd, "strata.json"))).isFile);
  assert.ok((await Deno.stat(join(cwd, "migrations", "01_foundation"))).isDirectory);

  // create "first" twice: two files, the second on top of the first
  const c1 = await runJson(run, 0, "create", "first");
  assert.deepEqual(c1.parents, []);
  assert.match(c1.revision, /^\d{8}_\d{4}(\d{2})?_first$/);
  const r1: string = c1.revision;
  await fillSections(
    join(cwd, c1.path),
    "CREATE TABLE t_one (id int PRIMARY KEY);\nINSERT INTO t_one VALUES (1);",
    "DROP TABLE t_one;",
  );
  const c2 = await runJson(run, 0, "create", "first");
  const r2: string = c2.revision;
  assert.notEqual(r2, r1, "a second create with the same description needs a new id");
  assert.match(r2, /^\d{8}_\d{4}(\d{2})?_first$/);
  assert.deepEqual(c2.parents, [r1]);
  await fillSections(
    join(cwd, c2.path),
    "CREATE TABLE t_two (id int REFERENCES t_one);",
    "DROP TABLE t_two;",
  );

  // apply
  let doc = await runJson(run, 0, "apply");
  assert.equal(doc.command, "upgrade");
  assert.deepEqual(doc.steps.map((s: Json) => s.revision), [r1, r2]);
  assert.ok(doc.steps.every((s: Json) => s.direction === "up" && typeof s.ms === "number"));
  let st = await statusOf(run);
  assert.deepEqual(st.current, [r2]);
  assert.deepEqual(st.pending, []);
  assert.equal(st.applied, 2);
  assert.equal(st.upToDate, true);
  await expectTables(["t_one", "t_two"], [], "after apply");

  // downgrade -1 / upgrade +1
  doc = await runJson(run, 0, "downgrade", "-1");
  assert.deepEqual(doc.steps.map((s: Json) => [s.revision, s.direction]), [[r2, "down"]]);
  st = await statusOf(run);
  assert.deepEqual(st.current, [r1]);
  assert.deepEqual(st.pending, [r2]);
  assert.equal(st.applied, 1);
  assert.equal(st.upToDate, false);
  await expectTables(["t_one"], ["t_two"], "after downgrade -1");

  doc = await runJson(run, 0, "upgrade", "+1");
  assert.deepEqual(doc.steps.map((s: Json) => [s.revision, s.direction]), [[r2, "up"]]);
  st = await statusOf(run);
  assert.deepEqual(st.current, [r2]);
  assert.deepEqual(st.pending, []);
  await expectTables(["t_one", "t_two"], [], "after upgrade +1");

  // stamp --unstamp REV, then stamp REV: the ledger moves, the schema does not
  doc = await runJson(run, 0, "stamp", "--unstamp", r2);
  assert.deepEqual(doc.unstamped, [r2]);
  assert.deepEqual(doc.stamped, []);
  st = await statusOf(run);
  assert.deepEqual(st.current, [r1]);
  assert.deepEqual(st.pending, [r2]);
  await expectTables(["t_one", "t_two"], [], "after stamp --unstamp");
  doc = await runJson(run, 0, "stamp", r2);
  assert.deepEqual(doc.stamped, [r2]);
  st = await statusOf(run);
  assert.deepEqual(st.current, [r2]);
  assert.deepEqual(st.pending, []);
  doc = await runJson(run, 0, "show", r2);
  const actions = doc.journal.map((j: Json) => j.action);
  assert.ok(actions.includes("stamp"), `journal of ${r2}: ${actions}`);
  assert.ok(actions.includes("unstamp"), `journal of ${r2}: ${actions}`);

  // two branches on top of r2
  const ba = "20990101_0000_branch_a";
  const bb = "20990101_0001_branch_b";
  await writeMigration(
    join(cwd, "migrations"),
    ba,
    revisionText(r2, "CREATE TABLE t_ba (id int);", "DROP TABLE t_ba;", "branch a"),
  );
  await writeMigration(
    join(cwd, "migrations"),
    bb,
    revisionText(r2, "CREATE TABLE t_bb (id int);", "DROP TABLE t_bb;", "branch b"),
  );
  doc = await runJson(run, 2, "apply");
  assert.equal(doc.error.code, "USAGE");
  st = await statusOf(run);
  assert.equal(st.applied, 2, "a refused apply changes nothing");
  assert.deepEqual([...st.heads].sort(), [ba, bb]);
  await expectTables([], ["t_ba", "t_bb"], "after the refused apply");
  doc = await runJson(run, 0, "heads");
  assert.deepEqual([...doc.heads].sort(), [ba, bb]);

  // merge, then apply goes through
  doc = await runJson(run, 0, "merge", "-m", "join");
  assert.deepEqual([...doc.parents].sort(), [ba, bb]);
  const m: string = doc.revision;
  assert.match(m, /_join$/);
  doc = await runJson(run, 0, "heads");
  assert.deepEqual(doc.heads, [m]);
  doc = await runJson(run, 0, "apply");
  const applied = doc.steps.map((s: Json) => s.revision);
  assert.deepEqual([...applied].sort(), [ba, bb, m].sort());
  assert.equal(applied[applied.length - 1], m, "the merge runs after both branches");
  st = await statusOf(run);
  assert.deepEqual(st.current, [m]);
  assert.deepEqual(st.pending, []);
  assert.equal(st.applied, 5);
  assert.equal(st.upToDate, true);
  await expectTables(["t_one", "t_two", "t_ba", "t_bb"], [], "after the merge is applied");

  // history, show, current
  doc = await runJson(run, 0, "history");
  assert.equal(doc.revisions.length, 5);
  assert.deepEqual(doc.revisions.map((e: Json) => e.revision).sort(), [r1, r2, ba, bb, m].sort());
  assert.equal(doc.revisions[0].revision, m, "history lists the newest first");
  for (const e of doc.revisions) {
    assert.equal(typeof e.applied, "string", `history: ${e.revision} should be marked applied`);
  }
  const mergeEntry = doc.revisions.find((e: Json) => e.revision === m);
  assert.deepEqual([...mergeEntry.parents].sort(), [ba, bb]);
  assert.equal(mergeEntry.head, true);

  doc = await runJson(run, 0, "show", r1);
  assert.equal(doc.revision, r1);
  assert.deepEqual(doc.parents, []);
  assert.deepEqual(doc.children, [r2]);
  assert.equal(doc.checksum, await sha256(await Deno.readTextFile(join(cwd, c1.path))));
  assert.ok(doc.applied, "show: r1 is applied");
  assert.ok(!Number.isNaN(Date.parse(doc.applied.at)));
  assert.equal(doc.applied.checksum, doc.checksum);
  assert.match(doc.up, /CREATE TABLE t_one/);
  assert.match(doc.down, /DROP TABLE t_one/);

  doc = await runJson(run, 0, "current");
  assert.deepEqual(doc.current, [m]);

  // and all the way down through the merge and both branches
  doc = await runJson(run, 0, "downgrade", "base");
  assert.equal(doc.steps.length, 5);
  assert.ok(doc.steps.every((s: Json) => s.direction === "down"));
  st = await statusOf(run);
  assert.equal(st.applied, 0);
  assert.deepEqual(st.current, []);
  assert.equal(st.pending.length, 5);
  await expectTables([], ["t_one", "t_two", "t_ba", "t_bb"], "after downgrade base");
}

embeddedTest(
  "main scenario: init, create, apply, downgrade, stamp, branches, merge",
  (dir, db) => mainScenario(dir, db),
);

serverDirTest(
  "main scenario: init, create, apply, downgrade, stamp, branches, merge",
  (dir, url) => mainScenario(dir, url, serverProbe(url)),
);

// ---------------------------------------------------------------------------
// A failing revision: exit 1, file:line, SQLSTATE, nothing recorded, nothing partial

const BASE = "20240101_0000_base";
const BROKEN = "20240101_0001_broken";
const FAILURES = [
  // line 7 of the file is the failing statement; line 8 follows it.
  { name: "a syntax error", line7: "CREAT TABLE nope (id int);", sqlstate: "42601" },
  {
    name: "text into an int column",
    line7: "INSERT INTO early VALUES ('abc');",
    sqlstate: "22P02",
  },
  {
    name: "a runtime error the server gives no position for",
    line7: "UPDATE early SET id = NULL;",
    sqlstate: "23502",
  },
];

function brokenText(line7: string): string {
  return [
    "-- message: broken", // 1
    `-- parents: ${BASE}`, // 2
    "-- up", // 3
    "CREATE TABLE early (id int NOT NULL);", // 4
    "", // 5
    "INSERT INTO early VALUES (1);", // 6
    line7, // 7
    "SELECT 1;", // 8
    "-- down", // 9
    "DROP TABLE early;", // 10
    "",
  ].join("\n");
}

async function failingRevision(
  cwd: string,
  database: string,
  failure: (typeof FAILURES)[number],
  tables?: TableProbe,
): Promise<void> {
  const run = runner(cwd, database);
  const dir = join(cwd, "migrations");
  await writeMigration(
    dir,
    BASE,
    revisionText("", "CREATE TABLE base_t (id int);", "DROP TABLE base_t;"),
  );
  expectExit(await run("apply"), 0, "apply the base revision");
  await writeMigration(dir, BROKEN, brokenText(failure.line7));

  const r = await run("apply", "--json");
  expectExit(r, 1, `apply with ${failure.name}`);
  const doc = parseJson(r, "apply --json");
  assert.equal(doc.ok, false);
  assert.equal(doc.error.code, "MIGRATION_FAILED");
  assert.equal(doc.error.sqlstate, failure.sqlstate, dump(r));
  assert.ok(String(doc.error.file).endsWith(`${BROKEN}.sql`), dump(r));
  assert.equal(doc.error.line, 7, `the failing statement is on line 7\n${dump(r)}`);
  assert.ok(r.stderr.includes(`${BROKEN}.sql:7:`), `stderr names file:line\n${dump(r)}`);
  assert.ok(r.stderr.includes(failure.sqlstate), `stderr shows the SQLSTATE\n${dump(r)}`);

  // nothing recorded
  const st = await statusOf(run);
  assert.equal(st.applied, 1);
  assert.deepEqual(st.current, [BASE]);
  assert.deepEqual(st.pending, [BROKEN]);
  if (tables) {
    const rows = await queryDb(database, `SELECT revision FROM strata_ledger ORDER BY 1`);
    assert.deepEqual(rows.map((row) => row.revision), [BASE]);
    const found = await tables(["early", "base_t"]);
    assert.ok(!found.has("early"), "a table created earlier in the failed revision is gone");
    assert.ok(found.has("base_t"));
  }

  // The fixed file applies: no leftover "early" table stands in the way.
  await writeMigration(dir, BROKEN, brokenText("INSERT INTO early VALUES (2);"));
  expectExit(await run("apply"), 0, "apply the fixed revision");
  const after = await statusOf(run);
  assert.deepEqual(after.current, [BROKEN]);
  assert.equal(after.applied, 2);
}

for (const failure of FAILURES) {
  serverDirTest(`failing revision (${failure.name}): exit 1, file:line, SQLSTATE, no trace`, (
    dir,
    url,
  ) => failingRevision(dir, url, failure, serverProbe(url)));
}

embeddedTest(
  `failing revision (${FAILURES[1].name}): exit 1, file:line, no trace`,
  (dir, db) => failingRevision(dir, db, FAILURES[1]),
);

serverDirTest("a failed revision leaves a 'failure' row in the journal", async (dir, url) => {
  const run = runner(dir, url);
  const migrations = join(dir, "migrations");
  await writeMigration(migrations, BASE, revisionText("", "CREATE TABLE base_t (id int);", ""));
  await writeMigration(migrations, BROKEN, brokenText(FAILURES[1].line7));
  expectExit(await run("apply"), 1, "apply");
  const rows = await queryDb(
    url,
    `SELECT action, revision FROM strata_journal ORDER BY id`,
  );
  assert.deepEqual(
    rows.filter((row) => row.revision === BROKEN).map((row) => row.action),
    ["failure"],
    `journal: ${JSON.stringify(rows)}`,
  );
});

// ---------------------------------------------------------------------------
// Integrity: edited and deleted applied files

serverDirTest(
  "edited applied file: exit 5 naming it, rehash accepts it; deleted file: exit 5",
  async (
    dir,
    url,
  ) => {
    const run = runner(dir, url);
    const migrations = join(dir, "migrations");
    const r1 = "20240101_0000_one";
    const r2 = "20240101_0001_two";
    const p1 = await writeMigration(
      migrations,
      r1,
      revisionText("", "CREATE TABLE i_one (id int);", "DROP TABLE i_one;"),
    );
    const p2 = await writeMigration(
      migrations,
      r2,
      revisionText(r1, "CREATE TABLE i_two (id int);", "DROP TABLE i_two;"),
    );
    expectExit(await run("apply"), 0, "apply");
    expectExit(await run("check"), 0, "check when up to date");

    // edit r1 after it was applied
    await Deno.writeTextFile(p1, (await Deno.readTextFile(p1)) + "-- an afterthought\n");
    let r = await run("apply", "--json");
    expectExit(r, 5, "apply with an edited file");
    let doc = parseJson(r, "apply --json");
    assert.equal(doc.error.code, "INTEGRITY");
    assert.ok(String(doc.error.file).endsWith(`${r1}.sql`), dump(r));
    assert.ok(r.stderr.includes(`${r1}.sql`), `stderr names the file\n${dump(r)}`);
    // The design's `check` row: "exit 3 when anything is pending, edited, missing or branched".
    r = await run("check", "--json");
    expectExit(r, 3, "check with an edited file");
    doc = parseJson(r, "check --json");
    assert.deepEqual(doc.edited, [r1]);

    doc = await runJson(run, 0, "rehash", r1);
    assert.equal(doc.changed, true);
    doc = await runJson(run, 0, "apply");
    assert.deepEqual(doc.steps, []);
    expectExit(await run("check"), 0, "check after rehash");
    const journal = await queryDb(
      url,
      `SELECT action FROM strata_journal WHERE revision = $1 ORDER BY id`,
      [r1],
    );
    assert.deepEqual(journal.map((row) => row.action), ["upgrade", "rehash"]);

    // delete an applied file
    await Deno.remove(p2);
    r = await run("apply", "--json");
    expectExit(r, 5, "apply with a deleted applied file");
    doc = parseJson(r, "apply --json");
    assert.equal(doc.error.code, "INTEGRITY");
    assert.ok(JSON.stringify(doc.error).includes(r2), `the error names ${r2}\n${dump(r)}`);
    assert.ok(r.stderr.includes(r2), dump(r));
    r = await run("check", "--json");
    expectExit(r, 3, "check with a deleted applied file");
    assert.deepEqual(parseJson(r, "check --json").missing, [r2]);
    const ledger = await queryDb(url, `SELECT revision FROM strata_ledger ORDER BY 1`);
    assert.deepEqual(ledger.map((row) => row.revision), [r1, r2], "nothing was changed");
  },
);

// ---------------------------------------------------------------------------
// --sql, --dry-run, check

Deno.test("--sql prints the whole script without connecting and never the password", async () => {
  const dir = await scratchDir();
  try {
    const migrations = join(dir.path, "migrations");
    await writeMigration(
      migrations,
      "20240101_0000_s_one",
      revisionText("", "CREATE TABLE s_one (id int);", "DROP TABLE s_one;"),
    );
    await writeMigration(
      migrations,
      "20240101_0001_s_two",
      revisionText(
        "20240101_0000_s_one",
        "ALTER TABLE s_one ADD COLUMN name text;",
        "ALTER TABLE s_one DROP COLUMN name;",
      ),
    );
    const unreachable = "postgres://u:secret@127.0.0.1:1/x";
    let r = await strata(["apply", "--sql", "--database", unreachable], { cwd: dir.path });
    expectExit(r, 0, "apply --sql");
    for (
      const part of [
        "BEGIN;",
        "COMMIT;",
        "CREATE TABLE s_one (id int);",
        "ALTER TABLE s_one ADD COLUMN name text;",
        'INSERT INTO "strata_ledger"',
      ]
    ) {
      assert.ok(r.stdout.includes(part), `--sql output lacks ${part}\n${dump(r)}`);
    }
    assert.ok(!(r.stdout + r.stderr).includes("secret"), dump(r));

    r = await strata(["downgrade", "base", "--sql", "--verbose"], {
      cwd: dir.path,
      env: { DATABASE_URL: unreachable },
    });
    expectExit(r, 0, "downgrade base --sql");
    assert.ok(r.stdout.includes("DROP TABLE s_one;"), dump(r));
    assert.ok(r.stdout.includes('DELETE FROM "strata_ledger"'), dump(r));
    assert.ok(!(r.stdout + r.stderr).includes("secret"), dump(r));
  } finally {
    await dir.remove();
  }
});

serverDirTest("--dry-run changes nothing; check exits 3 when pending, 0 when up to date", async (
  dir,
  url,
) => {
  const run = runner(dir, url);
  const migrations = join(dir, "migrations");
  const r1 = "20240101_0000_d_one";
  const r2 = "20240101_0001_d_two";
  await writeMigration(
    migrations,
    r1,
    revisionText("", "CREATE TABLE d_one (id int);", "DROP TABLE d_one;"),
  );
  let doc = await runJson(run, 3, "check");
  assert.deepEqual(doc.pending, [r1]);
  expectExit(await run("apply"), 0, "apply");
  expectExit(await run("check"), 0, "check when up to date");
  await writeMigration(
    migrations,
    r2,
    revisionText(r1, "CREATE TABLE d_two (id int);", "DROP TABLE d_two;"),
  );
  doc = await runJson(run, 3, "check");
  assert.deepEqual(doc.pending, [r2]);

  const count = async () =>
    (await queryDb<{ l: number; j: number }>(
      url,
      `SELECT (SELECT count(*)::int FROM strata_ledger) AS l,
              (SELECT count(*)::int FROM strata_journal) AS j`,
    ))[0];
  const before = await count();
  doc = await runJson(run, 0, "apply", "--dry-run");
  assert.equal(doc.dryRun, true);
  assert.deepEqual(doc.steps, [r2]);
  const r = await run("apply", "--dry-run");
  expectExit(r, 0, "apply --dry-run");
  assert.ok(r.stdout.includes("CREATE TABLE d_two"), `the plan's SQL is printed\n${dump(r)}`);
  doc = await runJson(run, 0, "downgrade", "base", "--dry-run");
  assert.deepEqual(doc.steps, [r1]);
  assert.deepEqual(await count(), before, "ledger and journal untouched");
  assert.deepEqual(
    [...await serverProbe(url)(["d_one", "d_two"])],
    ["d_one"],
    "schema untouched",
  );
  expectExit(await run("check"), 3, "check after the dry run");
  expectExit(await run("apply"), 0, "apply");
  doc = await runJson(run, 0, "check");
  assert.equal(doc.upToDate, true);
});

// ---------------------------------------------------------------------------
// Exit codes, help, version

Deno.test("exit codes: unknown command 2, unknown option 2, no database configured 2", async () => {
  const dir = await scratchDir();
  try {
    const run = runner(dir.path);
    expectExit(await run("frobnicate"), 2, "unknown command");
    expectExit(await run("status", "--frobnicate"), 2, "unknown option");
    expectExit(await run("downgrade"), 2, "downgrade without a target");

    await writeMigration(
      join(dir.path, "migrations"),
      "20240101_0000_x",
      revisionText("", "CREATE TABLE x (id int);", "DROP TABLE x;"),
    );
    const listing = async () => {
      const names: string[] = [];
      for await (const entry of Deno.readDir(dir.path)) names.push(entry.name);
      return names.sort();
    };
    const before = await listing();
    for (const command of ["apply", "status", "check", "current"]) {
      const r = await run(command);
      expectExit(r, 2, `${command} with no database configured`);
      assert.match(r.stderr, /hint/i, `${command}: a hint says how to configure one\n${dump(r)}`);
      const doc = await runJson(run, 2, command);
      assert.equal(doc.error.code, "CONFIG");
      assert.ok(doc.error.hint, "the JSON error carries the hint");
    }
    assert.deepEqual(await listing(), before, "no embedded database was created on its own");
  } finally {
    await dir.remove();
  }
});

Deno.test("--help for every command exits 0 and shows an example; --version", async () => {
  const dir = await scratchDir();
  try {
    const run = runner(dir.path);
    const main = await run("--help");
    expectExit(main, 0, "--help");
    const section = main.stdout.split(/^Commands:$/m)[1]?.split(/\n\s*\n/)[0] ?? "";
    const commands = [...section.matchAll(/^ {2}(\S+)\s/gm)].map((m) => m[1]);
    for (
      const expected of [
        "init",
        "status",
        "check",
        "create",
        "revision",
        "apply",
        "upgrade",
        "downgrade",
        "current",
        "heads",
        "history",
        "show",
        "stamp",
        "rehash",
        "merge",
      ]
    ) {
      assert.ok(commands.includes(expected), `--help lists ${expected}: ${commands}`);
    }
    const results = await Promise.all(commands.map((name) => run(name, "--help")));
    results.forEach((r, i) => {
      expectExit(r, 0, `${commands[i]} --help`);
      assert.ok(r.stdout.includes("Example"), `${commands[i]} --help shows an example`);
      assert.ok(r.stdout.includes(commands[i]), `${commands[i]} --help names the command`);
    });

    const v = await run("--version");
    expectExit(v, 0, "--version");
    assert.match(v.stdout, /^strata \d+\.\d+\.\d+/);
    const vj = await runJson(run, 0, "--version");
    assert.equal(`strata ${vj.version}`, v.stdout.trim());
  } finally {
    await dir.remove();
  }
});

// ---------------------------------------------------------------------------
// The migration lock: exit 4 naming the holder

/** Two revisions; the second runs `slowSql`, which holds the run until the test lets it go. */
async function writeSlowPair(cwd: string, slowSql: string): Promise<[string, string]> {
  const migrations = join(cwd, "migrations");
  const quick = "20240101_0000_quick";
  const slow = "20240101_0001_slow";
  await writeMigration(
    migrations,
    quick,
    revisionText("", "CREATE TABLE l_quick (id int);", "DROP TABLE l_quick;"),
  );
  await writeMigration(
    migrations,
    slow,
    revisionText(quick, slowSql, "SELECT 1;"),
  );
  return [quick, slow];
}

serverDirTest("lock held by a running apply: a second apply exits 4 naming its pid", async (
  dir,
  url,
) => {
  // The slow revision waits on a table the test keeps locked: the first run holds the migration
  // lock for exactly as long as the test needs, however slow the machine.
  await queryDb(url, "CREATE TABLE l_gate (id int)");
  const gate = postgres(url, { max: 1, onnotice: () => {} });
  const reserved = await gate.reserve();
  await reserved`BEGIN`;
  await reserved`LOCK TABLE l_gate IN ACCESS EXCLUSIVE MODE`;
  const [, slow] = await writeSlowPair(dir, "SELECT count(*) FROM l_gate;");
  const first = spawnStrata(["apply", "--json"], dir, { DATABASE_URL: url });
  try {
    const holder = await waitForQuery(url, "FROM l_gate", 90_000);
    const r = await strata(["apply", "--json", "--lock-timeout", "1s"], {
      cwd: dir,
      env: { DATABASE_URL: url },
    });
    expectExit(r, 4, "apply while another apply holds the lock");
    const doc = parseJson(r, "apply --json");
    assert.equal(doc.error.code, "LOCK_TIMEOUT");
    assert.equal(doc.error.pid, holder, dump(r));
    assert.ok(r.stderr.includes(String(holder)), `stderr names pid ${holder}\n${dump(r)}`);
  } finally {
    await reserved`COMMIT`;
    reserved.release();
    await gate.end();
    const done = await first.finish();
    expectExit(done, 0, "the first apply");
    assert.equal(parseJson(done, "first apply").steps.at(-1).revision, slow);
  }
});

embeddedTest("lock held by a running apply: a second apply exits 4 naming its pid", async (
  dir,
  db,
) => {
  // The embedded engine cannot be held from outside: the holder sleeps far longer than the test
  // needs and is killed once the second run has been refused.
  const [quick] = await writeSlowPair(dir, "SELECT pg_sleep(600);");
  const first = spawnStrata(["apply"], dir, { DATABASE_URL: db });
  try {
    // Its first revision is done: it holds the folder and runs the slow one.
    await first.waitForStdout(`↑ ${quick}`, 90_000);
    const r = await strata(["apply", "--json", "--lock-timeout", "1s"], {
      cwd: dir,
      env: { DATABASE_URL: db },
    });
    expectExit(r, 4, "apply while another apply holds the embedded database");
    const doc = parseJson(r, "apply --json");
    assert.equal(doc.error.code, "LOCK_TIMEOUT");
    assert.equal(doc.error.pid, first.pid, dump(r));
    assert.ok(r.stderr.includes(String(first.pid)), dump(r));
  } finally {
    first.kill("SIGKILL");
    await first.finish();
  }
});

Deno.test("read-only commands do not create a missing embedded database: they say it is not created yet", async () => {
  const dir = await scratchDir();
  try {
    const db = `pglite:${join(dir.path, "typo", "db")}`;
    await Deno.mkdir(join(dir.path, "migrations"));
    for (const command of ["status", "check", "current", "history"]) {
      const r = await strata([command, "--database", db, "--json"], { cwd: dir.path });
      assert.equal(r.code, 0, `${command}: ${r.stderr}`);
      assert.equal(JSON.parse(r.stdout).created, false, `${command}: ${r.stdout}`);
    }
    const dry = await strata(["apply", "--dry-run", "--database", db], { cwd: dir.path });
    assert.equal(dry.code, 2, dry.stderr);
    await assert.rejects(Deno.stat(join(dir.path, "typo")), Deno.errors.NotFound);
    const apply = await strata(["apply", "--database", db], { cwd: dir.path });
    assert.equal(apply.code, 0, apply.stderr);
    const status = await strata(["status", "--database", db, "--json"], { cwd: dir.path });
    assert.equal(status.code, 0, status.stderr);
  } finally {
    await dir.remove();
  }
});

Deno.test("password literals never reach the output or the journal, also with --verbose", async () => {
  const dir = await scratchDir();
  try {
    const migrations = join(dir.path, "migrations");
    const secret = "hunter2-Zq9";
    await writeMigration(
      migrations,
      "20240101_0000_role",
      `-- transaction: none\n-- up\nCREATE ROLE app_reader PASSWORD '${secret}';\n-- down\nDROP ROLE app_reader;\n`,
    );
    await writeMigration(
      migrations,
      "20240101_0001_fails",
      `-- up\nALTER ROLE app_reader PASSWORD '${secret}';\nSELECT 1/0;\n-- down\nSELECT 1;\n`,
    );
    const db = `pglite:${join(dir.path, "db")}`;
    for (const args of [["apply", "--verbose"], ["apply", "--verbose", "--json"]]) {
      const r = await strata([...args, "--database", db], { cwd: dir.path });
      assert.equal(r.code, 1, r.stderr);
      assert.ok(
        !r.stdout.includes(secret) && !r.stderr.includes(secret),
        `${r.stdout}\n${r.stderr}`,
      );
      assert.match(r.stderr, /PASSWORD '\*\*\*'/, "the statement is shown, masked");
    }
    // --sql prints the script to run: masking its literals would make it set a wrong password.
    const script = await strata(["upgrade", "--sql"], { cwd: dir.path });
    assert.equal(script.code, 0, script.stderr);
    assert.ok(script.stdout.includes(`PASSWORD '${secret}'`));
    const show = await strata(["show", "20240101_0001", "--database", db, "--json"], {
      cwd: dir.path,
    });
    const journal = JSON.parse(show.stdout).journal;
    assert.ok(journal.some((row: { action: string }) => row.action === "failure"));
    assert.ok(!JSON.stringify(journal).includes(secret));
  } finally {
    await dir.remove();
  }
});
