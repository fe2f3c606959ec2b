/**
 * `strata verify` end to end: the real CLI in scratch folders, on the
 * embedded engine in memory (the default) and on a scratch server database
 * (`--scratch URL`). verify needs no configured database and never touches
 * one. Each run opens an in-memory PGlite (a few seconds), so the human and
 * the `--json` run of a case go side by side.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { buildGraph } from "../lib/graph.ts";
import { loadMigrations } from "../lib/migration_dir.ts";
import {
  type CliResult,
  copyExamples,
  dump,
  embeddedTest,
  EXAMPLES,
  expectExit,
  parseJson,
  queryDb,
  serverDirTest,
  strata,
  writeMigration,
} from "./helpers.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

/** A step's time as verify prints it: `(12ms)`, `(1.20s)`, `(1m3s)`. */
const TIME = String.raw`\((?:\d+ms|\d+(?:\.\d{1,2})?s|\d+m(?:\d+s)?)\)`;

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** Run `strata verify ...` twice side by side: human output, and `--json` parsed. */
async function verifyBoth(
  dir: string,
  args: string[] = [],
  env: Record<string, string> = {},
): Promise<{ human: CliResult; json: CliResult; doc: Json }> {
  const [human, json] = await Promise.all([
    strata(["verify", ...args], { cwd: dir, env }),
    strata(["verify", ...args, "--json"], { cwd: dir, env }),
  ]);
  const doc = parseJson(json, `verify ${args.join(" ")} --json`);
  assert.equal(doc.command, "verify");
  return { human, json, doc };
}

/** The line of `stdout` about `revision` (starts with a mark, then the id, then its time). */
function lineOf(r: CliResult, revision: string): string {
  const line = r.stdout.split("\n").find((l) => new RegExp(`^\\S+ ${escape(revision)} `).test(l));
  assert.ok(line, `no line for ${revision}\n${dump(r)}`);
  assert.match(line, new RegExp(`^\\S+ ${escape(revision)} ${TIME}`), `its time\n${dump(r)}`);
  return line;
}

/** The lines printed under a revision's line (its diff), up to the next revision or summary. */
function blockOf(r: CliResult, revision: string): string {
  const lines = r.stdout.split("\n");
  const at = lines.indexOf(lineOf(r, revision));
  const rest = lines.slice(at + 1);
  const end = rest.findIndex((l) => !l.startsWith(" "));
  return rest.slice(0, end < 0 ? rest.length : end).join("\n");
}

const step = (doc: Json, revision: string): Json => {
  const found = doc.revisions.find((s: Json) => s.revision === revision);
  assert.ok(found, `no step for ${revision} in ${JSON.stringify(doc.revisions, null, 2)}`);
  return found;
};

const names = (entries: Json[]) => entries.map((o: Json) => `${o.kind} ${o.name}`);

// ---------------------------------------------------------------------------
// A small set around one table: the base every planted case builds on

const BASE_ID = "20250101_0000_things";
const BASE = `-- message: things
-- parents:
-- up
CREATE TABLE things (id int PRIMARY KEY, name text NOT NULL DEFAULT 'unnamed');
-- down
DROP TABLE things;
`;

/**
 * The three planted downs. `rerunnable`: the ups say IF NOT EXISTS / OR
 * REPLACE, so running an up again over what its down left behind succeeds;
 * without it they are plain CREATEs, which then fail the second time.
 */
const INDEX_ID = "20250102_0000_name_index";
const DEFAULT_ID = "20250103_0000_name_default";
const FUNCTION_ID = "20250104_0000_function";
const LAST_ID = "20250105_0000_widgets";

function plantedSet(rerunnable: boolean): Array<[string, string]> {
  return [
    [BASE_ID, BASE],
    // Down forgets the index its up created (it drops only the column).
    [
      INDEX_ID,
      `-- message: index things by name
-- up
ALTER TABLE things ADD COLUMN slug text;
CREATE INDEX ${rerunnable ? "IF NOT EXISTS " : ""}things_name_idx ON things (name);
-- down
ALTER TABLE things DROP COLUMN slug;
`,
    ],
    // Up changes a column default; down drops it instead of putting 'unnamed' back.
    [
      DEFAULT_ID,
      `-- message: anonymous things
-- up
ALTER TABLE things ALTER COLUMN name SET DEFAULT 'anonymous';
ALTER TABLE things ADD COLUMN kind text;
-- down
ALTER TABLE things DROP COLUMN kind;
ALTER TABLE things ALTER COLUMN name DROP DEFAULT;
`,
    ],
    // Down forgets the function its up created (it drops only the table).
    [
      FUNCTION_ID,
      `-- message: a function and a table
-- up
CREATE ${rerunnable ? "OR REPLACE " : ""}FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1';
CREATE TABLE gadgets (id int);
-- down
DROP TABLE gadgets;
`,
    ],
    // A revision whose down is right.
    [LAST_ID, LAST],
  ];
}

const LAST = `-- message: widgets
-- up
CREATE TABLE widgets (id int PRIMARY KEY, thing_id int REFERENCES things (id));
-- down
DROP TABLE widgets;
`;

async function writeSet(dir: string, files: Array<[string, string]>): Promise<string> {
  const migrations = join(dir, "migrations");
  for (const [id, text] of files) await writeMigration(migrations, id, text);
  return migrations;
}

// ---------------------------------------------------------------------------
// The example migrations

embeddedTest(
  "verify: the example migrations pass, one timed line each; the configured database is never touched",
  async (dir, db) => {
    await copyExamples(dir);
    // A configured embedded database: verify must not open, let alone create, it.
    await Deno.writeTextFile(join(dir, "strata.json"), JSON.stringify({ database: db }));
    const order = buildGraph(await loadMigrations(EXAMPLES)).order;
    assert.equal(order.length, 13);

    const { human, json, doc } = await verifyBoth(dir);
    expectExit(human, 0, "verify");
    const revisionLines = human.stdout.split("\n").filter((l) => /^\S+ \d{8}_/.test(l));
    assert.deepEqual(
      revisionLines.map((l) => l.split(" ")[1]),
      order,
      `one line per revision, in graph order\n${dump(human)}`,
    );
    for (const id of order) {
      assert.match(lineOf(human, id), new RegExp(`^✓ ${id} ${TIME}$`));
    }
    assert.match(human.stdout, /^Verifying 13 revisions on pglite:memory/m);
    // It speaks before the pause of the engine's start-up: first line on stdout, or on stderr
    // with --json (stdout stays one document).
    assert.match(
      human.stdout,
      /^Starting the embedded engine \(PGlite\) to verify 13 revisions: this takes a few seconds\nVerifying 13/,
      dump(human),
    );
    assert.match(json.stderr, /Starting the embedded engine \(PGlite\) to verify 13 revisions/);
    assert.doesNotMatch(json.stdout, /Starting the embedded engine/);
    assert.match(
      human.stdout,
      /^13 of 13 revisions verified in \S+: 0 structural, 0 comment only, 0 function text only, 0 irreversible$/m,
      dump(human),
    );
    assert.doesNotMatch(human.stdout + human.stderr, /: irreversible|does not restore/);

    expectExit(json, 0, "verify --json");
    assert.equal(doc.ok, true);
    assert.equal(doc.database, "pglite:memory");
    assert.equal(doc.strict, false);
    assert.deepEqual(doc.revisions.map((s: Json) => s.revision), order);
    for (const s of doc.revisions) {
      assert.equal(s.result, "ok", JSON.stringify(s));
      assert.equal(typeof s.ms, "number");
      assert.ok(s.ms >= 0);
      assert.equal(s.diff, undefined);
    }
    assert.deepEqual(doc.notRestored, []);
    assert.deepEqual(doc.failed, []);
    assert.deepEqual(doc.irreversible, []);
    assert.equal(typeof doc.ms, "number");

    const created = await Deno.stat(db.slice("pglite:".length)).then(() => true, () => false);
    assert.equal(created, false, `verify created the configured database ${db}`);
    assert.deepEqual(
      [...Deno.readDirSync(dir)].map((e) => e.name).sort(),
      ["migrations", "strata.json"],
      "verify wrote nothing in the working folder",
    );
  },
);

// ---------------------------------------------------------------------------
// Three planted downs that do not restore the schema

embeddedTest(
  "verify: downs that forget an index, a column default or a function are each reported with the object",
  async (dir) => {
    await writeSet(dir, plantedSet(true));
    const { human, json, doc } = await verifyBoth(dir);

    expectExit(human, 1, "verify");
    assert.match(lineOf(human, BASE_ID), /^✓ /);
    for (const id of [INDEX_ID, DEFAULT_ID, FUNCTION_ID]) {
      assert.match(lineOf(human, id), /^✗ .*: down does not restore the schema$/);
    }
    assert.match(lineOf(human, LAST_ID), /^✓ /);
    assert.match(
      human.stdout,
      /^2 of 5 revisions verified in \S+: 3 structural, 0 comment only, 0 function text only, 0 irreversible$/m,
    );
    // Each revision's block names its own object, and only that one.
    const index = blockOf(human, INDEX_ID);
    assert.match(index, /^\s+\+ index public\.things_name_idx: CREATE INDEX things_name_idx/m);
    assert.equal(index.split("\n").length, 1, index);
    const column = blockOf(human, DEFAULT_ID);
    assert.match(column, /^\s+~ column public\.things\.name$/m);
    assert.match(column, /was: text DEFAULT 'unnamed'::text NOT NULL/);
    assert.match(column, /now: text NOT NULL/);
    assert.equal(column.split("\n").length, 3, column);
    const fn = blockOf(human, FUNCTION_ID);
    assert.match(fn, /^\s+\+ function public\.f\(\): CREATE OR REPLACE FUNCTION public\.f\(\)/m);
    assert.equal(fn.split("\n").length, 1, fn);

    expectExit(json, 1, "verify --json");
    assert.equal(doc.ok, false);
    assert.deepEqual(doc.notRestored, [INDEX_ID, DEFAULT_ID, FUNCTION_ID]);
    assert.deepEqual(doc.failed, []);
    assert.deepEqual(doc.irreversible, []);
    assert.deepEqual(doc.revisions.map((s: Json) => s.result), [
      "ok",
      "not-restored",
      "not-restored",
      "not-restored",
      "ok",
    ]);
    assert.equal(step(doc, INDEX_ID).file, join("migrations", `${INDEX_ID}.sql`));
    assert.equal(step(doc, BASE_ID).diff, undefined);

    const indexDiff = step(doc, INDEX_ID).diff;
    assert.deepEqual(names(indexDiff.added), ["index public.things_name_idx"]);
    assert.deepEqual([indexDiff.removed, indexDiff.changed], [[], []]);
    assert.match(indexDiff.added[0].definition, /ON public\.things USING btree \(name\)/);

    const defaultDiff = step(doc, DEFAULT_ID).diff;
    assert.deepEqual(names(defaultDiff.changed), ["column public.things.name"]);
    assert.deepEqual([defaultDiff.added, defaultDiff.removed], [[], []]);
    const [change] = defaultDiff.changed;
    assert.match(change.before.definition, /DEFAULT 'unnamed'/, "before the up");
    assert.doesNotMatch(change.after.definition, /DEFAULT/, "after the down");

    const functionDiff = step(doc, FUNCTION_ID).diff;
    assert.deepEqual(names(functionDiff.added), ["function public.f()"]);
    assert.deepEqual([functionDiff.removed, functionDiff.changed], [[], []]);
  },
);

embeddedTest(
  "verify: goes on past a down that left its object behind when the up cannot run twice",
  async (dir) => {
    // The same plants with plain CREATEs, as people write them: the second
    // up of the index and the function revisions then fails on the leftover
    // object. The issue asks for every revision whose down does not restore.
    await writeSet(dir, plantedSet(false));
    const r = await strata(["verify", "--json"], { cwd: dir });
    expectExit(r, 1, "verify --json");
    const doc = parseJson(r, "verify --json");
    assert.deepEqual(
      doc.notRestored,
      [INDEX_ID, DEFAULT_ID, FUNCTION_ID],
      `every planted revision is reported\n${dump(r)}`,
    );
    assert.deepEqual(
      doc.revisions.map((s: Json) => s.revision),
      [BASE_ID, INDEX_ID, DEFAULT_ID, FUNCTION_ID, LAST_ID],
      `every revision is walked\n${dump(r)}`,
    );
    assert.deepEqual(names(step(doc, INDEX_ID).diff.added), ["index public.things_name_idx"]);
    assert.deepEqual(names(step(doc, DEFAULT_ID).diff.changed), ["column public.things.name"]);
    assert.deepEqual(names(step(doc, FUNCTION_ID).diff.added), ["function public.f()"]);
    assert.equal(step(doc, LAST_ID).result, "ok");
  },
);

// ---------------------------------------------------------------------------
// A failing down mid-history, and findings sorted by class

const COMMENTED_ID = "20250101_0000_commented";
const COMMENTED = `-- parents:
-- up
CREATE TABLE things (id int PRIMARY KEY, name text);
COMMENT ON TABLE things IS 'all things';
COMMENT ON COLUMN things.name IS 'the name';
CREATE FUNCTION twice(x int) RETURNS int LANGUAGE plpgsql AS $$
BEGIN
  RETURN x * 2; -- double it
END
$$;
-- down
DROP FUNCTION twice(int);
DROP TABLE things;
`;
const TYPO_ID = "20250102_0000_typo";
// The down has a typo in the table name: line 5 fails.
const TYPO = "-- up\nCREATE TABLE typo (id int);\nCOMMENT ON TABLE typo IS 'the typo table';\n" +
  "-- down\nDROP TABLE tpyo;\n";
// Down recreates the table as it was, without its COMMENTs.
const RECREATE_ID = "20250103_0000_recreate";
const RECREATE = `-- up
DROP TABLE things;
CREATE TABLE things (id int PRIMARY KEY, name text, extra int);
-- down
DROP TABLE things;
CREATE TABLE things (id int PRIMARY KEY, name text);
`;
// Up and down both touch a comment, and the down does not put it back.
const RECOMMENT_ID = "20250104_0000_recomment";
const RECOMMENT = `-- up
COMMENT ON TABLE typo IS 'was a typo';
-- down
COMMENT ON TABLE typo IS NULL;
`;
// Down puts the function back reindented and without its comment.
const REINDENT_ID = "20250105_0000_reindent";
const REINDENT = `-- up
CREATE OR REPLACE FUNCTION twice(x int) RETURNS int LANGUAGE plpgsql AS $$ BEGIN RETURN x * 2 + 0; END $$;
-- down
CREATE OR REPLACE FUNCTION twice(x int) RETURNS int LANGUAGE plpgsql AS $$
BEGIN
    RETURN x*2;
END
$$;
`;
// Down drops the column but adds another one: structural.
const STRUCT_ID = "20250106_0000_struct";
const STRUCT = `-- up
ALTER TABLE things ADD COLUMN z int;
-- down
ALTER TABLE things DROP COLUMN z;
ALTER TABLE things ADD COLUMN zz int;
`;
const END_ID = "20250107_0000_end";
const END = "-- up\nCREATE TABLE the_end (id int);\n-- down\nDROP TABLE the_end;\n";

embeddedTest(
  "verify: a down with a typo mid-history is recorded and every revision after it is still checked; findings sorted by class",
  async (dir) => {
    await writeSet(dir, [
      [COMMENTED_ID, COMMENTED],
      [TYPO_ID, TYPO],
      [RECREATE_ID, RECREATE],
      [RECOMMENT_ID, RECOMMENT],
      [REINDENT_ID, REINDENT],
      [STRUCT_ID, STRUCT],
      [END_ID, END],
    ]);
    const { human, json, doc } = await verifyBoth(dir);

    expectExit(human, 1, "verify");
    const typo = lineOf(human, TYPO_ID);
    assert.match(typo, /^✗ .*: down failed: /);
    assert.ok(
      typo.includes(`${join("migrations", `${TYPO_ID}.sql`)}:5:`) && typo.includes("tpyo"),
      `the down's file, line and error\n${dump(human)}`,
    );
    for (const id of [RECREATE_ID, RECOMMENT_ID]) {
      assert.match(lineOf(human, id), /^! .*: down does not restore the schema \(comment only\)$/);
    }
    assert.match(
      lineOf(human, REINDENT_ID),
      /^! .*: down does not restore the schema \(function text only\)$/,
    );
    assert.match(lineOf(human, STRUCT_ID), /^✗ .*: down does not restore the schema$/);
    assert.match(lineOf(human, END_ID), /^✓ /, "checked after all of them");
    const recreated = blockOf(human, RECREATE_ID);
    assert.match(
      recreated,
      /~ table public\.things\n\s+comment was: "all things"\n\s+comment now: null/,
    );
    assert.match(recreated, /~ column public\.things\.name\n/);
    assert.match(blockOf(human, STRUCT_ID), /\+ column public\.things\.zz: integer/);
    assert.match(
      human.stdout,
      new RegExp(
        "^2 of 7 revisions verified in \\S+: 1 structural, 2 comment only, " +
          `1 function text only, 0 irreversible, 1 failed \\(${TYPO_ID}\\)$`,
        "m",
      ),
      dump(human),
    );

    expectExit(json, 1, "verify --json");
    assert.equal(doc.ok, false);
    assert.deepEqual(doc.revisions.map((s: Json) => [s.revision, s.result, s.class]), [
      [COMMENTED_ID, "ok", undefined],
      [TYPO_ID, "failed", undefined],
      [RECREATE_ID, "not-restored", "comment"],
      [RECOMMENT_ID, "not-restored", "comment"],
      [REINDENT_ID, "not-restored", "function-text"],
      [STRUCT_ID, "not-restored", "structural"],
      [END_ID, "ok", undefined],
    ]);
    assert.deepEqual(doc.counts, {
      revisions: 7,
      verified: 2,
      structural: 1,
      comment: 2,
      functionText: 1,
      irreversible: 0,
      failed: 1,
      unchecked: 0,
    });
    assert.deepEqual(doc.structural, [STRUCT_ID]);
    assert.deepEqual(doc.commentOnly, [RECREATE_ID, RECOMMENT_ID]);
    assert.deepEqual(doc.functionTextOnly, [REINDENT_ID]);
    assert.deepEqual(doc.notRestored, [RECREATE_ID, RECOMMENT_ID, REINDENT_ID, STRUCT_ID]);
    assert.deepEqual(doc.failed, [TYPO_ID]);
    assert.deepEqual(doc.unchecked, []);
    assert.equal(doc.halted, null);
    const failedDown = step(doc, TYPO_ID);
    assert.equal(failedDown.phase, "down");
    assert.equal(failedDown.error.file, join("migrations", `${TYPO_ID}.sql`));
    assert.equal(failedDown.error.line, 5);
    assert.equal(failedDown.error.sqlstate, "42P01");
    // Every changed object carries its own class.
    const classes = (id: string) =>
      step(doc, id).diff.changed.map((c: Json) => `${c.kind} ${c.name} ${c.class}`);
    assert.deepEqual(classes(RECREATE_ID), [
      "column public.things.name comment",
      "table public.things comment",
    ]);
    assert.deepEqual(classes(RECOMMENT_ID), ["table public.typo comment"]);
    assert.deepEqual(classes(REINDENT_ID), ["function public.twice(x integer) function-text"]);
    assert.deepEqual(names(step(doc, STRUCT_ID).diff.added), ["column public.things.zz"]);
  },
);

embeddedTest(
  "verify: when the rebuild after a failed down cannot run, it stops and names what is left unchecked",
  async (dir) => {
    const table = "20250101_0000_table";
    const leaky = "20250102_0000_leaky";
    const needsRow = "20250103_0000_needs_row";
    const after = "20250104_0000_after";
    await writeSet(dir, [
      [table, "-- parents:\n-- up\nCREATE TABLE t (id int);\n-- down\nDROP TABLE t;\n"],
      // Its down leaves a row (data, not schema), so the walk sees nothing wrong.
      [leaky, "-- up\nSELECT 1;\n-- down\nINSERT INTO t VALUES (1);\n"],
      // Its up needs that row; on a fresh database it fails. Its down has a typo.
      [
        needsRow,
        "-- up\nDO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM t) THEN RAISE EXCEPTION 't is empty'; " +
        "END IF; END $$;\n-- down\nDROP TABLE tpyo;\n",
      ],
      [after, "-- up\nCREATE TABLE u (id int);\n-- down\nDROP TABLE u;\n"],
    ]);
    const { human, json, doc } = await verifyBoth(dir);
    expectExit(human, 1, "verify");
    assert.match(lineOf(human, needsRow), /down failed: .*tpyo/);
    assert.match(
      human.stdout,
      new RegExp(`^Stopped: rebuilding up to ${needsRow} failed: .*t is empty`, "m"),
      dump(human),
    );
    assert.match(human.stdout, new RegExp(`; 1 not checked after ${needsRow}$`, "m"));

    expectExit(json, 1, "verify --json");
    assert.deepEqual(doc.unchecked, [after]);
    assert.equal(doc.counts.unchecked, 1);
    assert.equal(doc.halted.reason, "rebuild failed");
    assert.equal(doc.halted.revision, needsRow);
    assert.equal(doc.halted.error.file, join("migrations", `${needsRow}.sql`));
    assert.deepEqual(doc.revisions.map((s: Json) => s.revision), [table, leaky, needsRow]);
  },
);

embeddedTest(
  "verify: comment-only and function-text-only findings warn (exit 0) and fail with --strict (exit 1)",
  async (dir) => {
    await writeSet(dir, [
      [COMMENTED_ID, COMMENTED],
      [RECREATE_ID, RECREATE],
      [REINDENT_ID, REINDENT],
      [END_ID, END],
    ]);
    const [human, strictHuman, strictJson] = await Promise.all([
      strata(["verify"], { cwd: dir }),
      strata(["verify", "--strict"], { cwd: dir }),
      strata(["verify", "--strict", "--json"], { cwd: dir }),
    ]);
    expectExit(human, 0, "verify");
    assert.match(lineOf(human, RECREATE_ID), /^! .*\(comment only\)$/);
    assert.match(lineOf(human, REINDENT_ID), /^! .*\(function text only\)$/);
    assert.match(
      human.stdout,
      /^2 of 4 revisions verified in \S+: 0 structural, 1 comment only, 1 function text only, 0 irreversible$/m,
    );
    assert.match(human.stdout, /fail with --strict/);

    expectExit(strictHuman, 1, "verify --strict");
    assert.match(lineOf(strictHuman, RECREATE_ID), /^✗ .*\(comment only\)$/);
    assert.match(lineOf(strictHuman, REINDENT_ID), /^✗ .*\(function text only\)$/);

    expectExit(strictJson, 1, "verify --strict --json");
    const doc = parseJson(strictJson, "verify --strict --json");
    assert.equal(doc.ok, false);
    assert.equal(doc.strict, true);
    assert.deepEqual(doc.commentOnly, [RECREATE_ID]);
    assert.deepEqual(doc.functionTextOnly, [REINDENT_ID]);
    assert.deepEqual(doc.structural, []);
    assert.equal(doc.counts.comment, 1);
    assert.equal(doc.counts.functionText, 1);
  },
);

embeddedTest(
  "verify: a down that recreates a table without its grants is structural",
  async (dir) => {
    const granted = "20250101_0000_granted";
    const recreate = "20250102_0000_recreate";
    await writeSet(dir, [
      [
        granted,
        "-- parents:\n-- up\nCREATE TABLE things (id int PRIMARY KEY, name text);\n" +
        "GRANT SELECT ON things TO PUBLIC;\nGRANT UPDATE (name) ON things TO PUBLIC;\n" +
        "-- down\nDROP TABLE things;\n",
      ],
      [recreate, RECREATE],
    ]);
    const r = await strata(["verify", "--json"], { cwd: dir });
    expectExit(r, 1, "verify --json");
    const doc = parseJson(r, "verify --json");
    assert.deepEqual(doc.structural, [recreate]);
    const changed = step(doc, recreate).diff.changed;
    assert.deepEqual(
      changed.map((c: Json) => `${c.kind} ${c.name} ${c.class}`),
      ["column public.things.name structural", "table public.things structural"],
    );
    const table = changed.find((c: Json) => c.kind === "table");
    assert.match(table.before.definition, /^TABLE GRANTS \{.*=r\/.*\}$/, "SELECT to PUBLIC");
    assert.equal(table.after.definition, "TABLE");
  },
);

// ---------------------------------------------------------------------------
// Irreversible revisions

embeddedTest(
  "verify: a revision without down is a warning (exit 0), an error with --strict (exit 1)",
  async (dir) => {
    const noDown = "20250102_0000_no_down";
    const commentsOnly = "20250103_0000_comment_down";
    await writeSet(dir, [
      [BASE_ID, BASE],
      [noDown, "-- up\nALTER TABLE things ADD COLUMN legacy text;\n"],
      [commentsOnly, "-- up\nDROP TABLE things;\n-- down\n-- cannot bring the rows back\n"],
      [LAST_ID, LAST.replace(" REFERENCES things (id)", "")],
    ]);
    const [human, strictJson] = await Promise.all([
      strata(["verify"], { cwd: dir }),
      strata(["verify", "--strict", "--json"], { cwd: dir }),
    ]);

    expectExit(human, 0, "verify");
    for (const id of [noDown, commentsOnly]) {
      const line = lineOf(human, id);
      assert.match(line, /^! /, "a warning mark");
      assert.match(line, /irreversible/);
    }
    assert.match(lineOf(human, BASE_ID), /^✓ /);
    assert.match(lineOf(human, LAST_ID), /^✓ /, "verification goes on after them");
    assert.match(
      human.stdout,
      /^2 of 4 revisions verified in \S+: 0 structural, 0 comment only, 0 function text only, 2 irreversible$/m,
    );

    expectExit(strictJson, 1, "verify --strict --json");
    const doc = parseJson(strictJson, "verify --strict --json");
    assert.equal(doc.ok, false);
    assert.equal(doc.strict, true);
    assert.deepEqual(doc.irreversible, [noDown, commentsOnly]);
    assert.equal(step(doc, noDown).result, "irreversible");
    assert.equal(step(doc, commentsOnly).result, "irreversible");
    assert.equal(step(doc, LAST_ID).result, "ok");
    assert.deepEqual(doc.notRestored, []);
    assert.deepEqual(doc.failed, []);
  },
);

// ---------------------------------------------------------------------------
// SQL that fails

embeddedTest("verify: an up that fails names the file and the failing line", async (dir) => {
  const broken = "20250102_0000_broken";
  await writeSet(dir, [
    [BASE_ID, BASE],
    [
      broken,
      // line 1 "-- up", 2 a comment, 3 fine, 4 fails at run time (no error position)
      "-- up\n-- a table, then a change to one that does not exist\n" +
      "CREATE TABLE ok_one (id int);\nALTER TABLE no_such_table ADD COLUMN x int;\n" +
      "-- down\nDROP TABLE ok_one;\n",
    ],
    [LAST_ID, LAST],
  ]);
  const file = join("migrations", `${broken}.sql`);
  const { human, json, doc } = await verifyBoth(dir);

  expectExit(human, 1, "verify");
  const line = lineOf(human, broken);
  assert.match(line, /^✗ /);
  assert.match(line, /up failed/);
  assert.match(line, /no_such_table/);
  assert.ok(line.includes(`${file}:4:`), `names ${file}:4\n${dump(human)}`);
  assert.match(
    human.stdout,
    new RegExp(`, 1 failed \\(${broken}\\); 1 not checked after ${broken}$`, "m"),
    dump(human),
  );

  expectExit(json, 1, "verify --json");
  assert.equal(doc.ok, false);
  assert.deepEqual(doc.failed, [broken]);
  const failed = step(doc, broken);
  assert.equal(failed.result, "failed");
  assert.equal(failed.phase, "up");
  assert.equal(failed.error.code, "MIGRATION_FAILED");
  assert.equal(failed.error.sqlstate, "42P01");
  assert.equal(failed.error.file, file);
  assert.equal(failed.error.line, 4, "the line of the failing statement");
  // Nothing after a revision whose up cannot run can be built, let alone verified.
  assert.equal(doc.revisions.at(-1).revision, broken);
  assert.deepEqual(doc.unchecked, [LAST_ID]);
  assert.equal(doc.counts.unchecked, 1);
  assert.equal(doc.halted.revision, broken);
  assert.equal(doc.halted.reason, "up failed");
  assert.equal(doc.halted.error.line, 4);
});

embeddedTest(
  "verify: a syntax error in an up, and a down that fails, are located",
  async (dir) => {
    const syntax = "20250102_0000_syntax";
    const badDown = "20250102_0000_bad_down";
    // Two separate folders, run side by side.
    const one = join(dir, "one");
    const two = join(dir, "two");
    await writeSet(one, [
      [BASE_ID, BASE],
      [syntax, "-- up\nCREATE TABLE a (id int);\n\nCREATE TABLE b (id int,);\n-- down\n"],
    ]);
    await writeSet(two, [
      [BASE_ID, BASE],
      [badDown, "-- up\nCREATE TABLE c (id int);\n-- down\nDROP TABLE c;\nDROP TABLE nope;\n"],
    ]);
    const [r1, r2] = await Promise.all([
      strata(["verify", "--json"], { cwd: one }),
      strata(["verify", "--json"], { cwd: two }),
    ]);
    expectExit(r1, 1, "verify (syntax error)");
    const s1 = step(parseJson(r1, "verify --json"), syntax);
    assert.equal(s1.result, "failed");
    assert.equal(s1.phase, "up");
    assert.equal(s1.error.sqlstate, "42601");
    assert.equal(s1.error.file, join("migrations", `${syntax}.sql`));
    assert.equal(s1.error.line, 4);

    expectExit(r2, 1, "verify (failing down)");
    const doc2 = parseJson(r2, "verify --json");
    assert.deepEqual(doc2.failed, [badDown]);
    const s2 = step(doc2, badDown);
    assert.equal(s2.phase, "down");
    assert.equal(s2.error.file, join("migrations", `${badDown}.sql`));
    assert.equal(s2.error.line, 5, "the line of DROP TABLE nope");
  },
);

// ---------------------------------------------------------------------------
// --scratch: a throwaway database on a server

/** Whether the server `url` is on has a database `name` (pg_database is cluster-wide). */
const databaseExists = async (url: string, name: string) =>
  (await queryDb(url, "SELECT 1 FROM pg_database WHERE datname = $1", [name])).length > 0;

serverDirTest(
  "verify --scratch URL runs on a scratch server database and drops it; the configured one is untouched",
  async (dir, url) => {
    const passing = join(dir, "examples");
    await copyExamples(passing);
    const planted = join(dir, "planted");
    await writeSet(planted, plantedSet(false).slice(0, 2));
    // The configured database is the test's own; verify must leave it empty.
    const env = { DATABASE_URL: url };
    const [pass, fail] = await Promise.all([
      strata(["verify", "--scratch", url, "--json"], { cwd: passing, env }),
      strata(["verify", "--scratch", url, "--json"], { cwd: planted, env }),
    ]);

    expectExit(pass, 0, "verify --scratch (examples)");
    const passDoc = parseJson(pass, "verify --scratch --json");
    assert.equal(passDoc.ok, true);
    assert.equal(passDoc.revisions.length, 13);
    assert.ok(passDoc.revisions.every((s: Json) => s.result === "ok"));

    expectExit(fail, 1, "verify --scratch (planted)");
    const failDoc = parseJson(fail, "verify --scratch --json");
    assert.deepEqual(failDoc.notRestored, [INDEX_ID]);
    assert.deepEqual(names(step(failDoc, INDEX_ID).diff.added), ["index public.things_name_idx"]);

    const labels = [passDoc.database, failDoc.database];
    const scratchNames = labels.map((label: string) => {
      const name = new URL(label).pathname.slice(1);
      assert.match(name, /^strata_scratch_[0-9a-f]+$/, `a scratch database: ${label}`);
      return name;
    });
    assert.notEqual(scratchNames[0], scratchNames[1]);
    for (const name of scratchNames) {
      assert.equal(await databaseExists(url, name), false, `scratch database ${name} was dropped`);
    }
    const tables = await queryDb(
      url,
      "SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace " +
        "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'",
    );
    assert.equal(tables.length, 0, "the configured database holds nothing");

    // The human output says where it ran, password-free.
    const human = await strata(["verify", "--scratch", url], { cwd: planted });
    expectExit(human, 1, "verify --scratch (human)");
    assert.match(human.stdout, /^Verifying 2 revisions on postgres:\/\/\S+\/strata_scratch_/m);
    assert.match(blockOf(human, INDEX_ID), /\+ index public\.things_name_idx/);
  },
);

embeddedTest("verify --scratch refuses a URL that is not a server's", async (dir) => {
  await writeSet(dir, [[BASE_ID, BASE]]);
  const r = await strata(["verify", "--scratch", "pglite:memory"], { cwd: dir });
  expectExit(r, 2, "verify --scratch pglite:memory");
  assert.match(r.stderr, /--scratch needs a postgres:\/\/ URL/);
});
