/**
 * `strata locks` end to end: the real CLI in scratch folders, on the embedded
 * engine (the default) and on a scratch server database (`--scratch URL`).
 * The modes asserted are what PostgreSQL reported, not a table in strata.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  dump,
  embeddedTest,
  expectExit,
  parseJson,
  serverDirTest,
  strata,
  writeMigration,
} from "./helpers.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

const BASE = `-- parents:
-- up
CREATE TABLE t (id serial PRIMARY KEY, x int NOT NULL, name text);
CREATE TABLE child (id int PRIMARY KEY REFERENCES t, note varchar(10) NOT NULL);
CREATE TABLE picky (v int NOT NULL CHECK (v < 0));
-- down
DROP TABLE child, picky, t;
`;

const CHANGES = `-- parents: 20240101_0000_base
-- up
ALTER TABLE t ADD COLUMN c int;
ALTER TABLE t ALTER COLUMN x TYPE bigint;
CREATE INDEX t_name ON t (name);
ALTER TABLE t ADD CONSTRAINT x_pos CHECK (x > 0);
ALTER TABLE t ADD CONSTRAINT x_small CHECK (x < 1000) NOT VALID;
-- down
ALTER TABLE t DROP CONSTRAINT x_small, DROP CONSTRAINT x_pos, DROP COLUMN c;
DROP INDEX t_name;
ALTER TABLE t ALTER COLUMN x TYPE int;
`;

const CONCURRENT = `-- parents: 20240102_0000_changes
-- transaction: none
-- up
CREATE INDEX CONCURRENTLY t_x ON t (x);
-- down
DROP INDEX CONCURRENTLY t_x;
`;

async function project(dir: string): Promise<void> {
  const migrations = join(dir, "migrations");
  await writeMigration(migrations, "20240101_0000_base", BASE);
  await writeMigration(migrations, "20240102_0000_changes", CHANGES);
  await writeMigration(migrations, "20240103_0000_concurrent", CONCURRENT);
}

const modesOn = (statement: Json, relation: string) =>
  statement.locks.filter((l: Json) => l.relation === relation && !l.created).map((l: Json) =>
    l.mode
  ).sort();

function assertMeasured(doc: Json): void {
  assert.equal(doc.command, "locks");
  const byId = new Map(doc.revisions.map((r: Json) => [r.revision, r]));
  assert.deepEqual([...byId.keys()], ["20240102_0000_changes", "20240103_0000_concurrent"]);
  const changes: Json = byId.get("20240102_0000_changes");
  // Rows were generated where the types allow, and the refusing table is named with its reason.
  assert.deepEqual(changes.seeded, ["child", "t"]);
  assert.equal(changes.unseeded.length, 1);
  assert.equal(changes.unseeded[0].table, "picky");
  assert.match(changes.unseeded[0].reason, /check constraint/);
  const [addColumn, retype, index, check, notValid] = changes.statements;
  assert.equal(addColumn.line, 3);
  assert.deepEqual(modesOn(addColumn, "t"), ["AccessExclusiveLock"]);
  assert.equal(addColumn.blocks, "reads and writes");
  assert.deepEqual(addColumn.rewrites, []);
  assert.deepEqual(addColumn.scans, []);

  assert.ok(modesOn(retype, "t").includes("AccessExclusiveLock"));
  assert.ok(
    retype.rewrites.some((r: Json) => r.relation === "t" && r.kind === "table"),
    JSON.stringify(retype),
  );
  assert.ok(retype.rewrites.some((r: Json) => r.relation === "t_pkey" && r.kind === "index"));
  assert.deepEqual(retype.scans, [{ table: "t", why: "rewrite" }]);

  assert.deepEqual(modesOn(index, "t"), ["ShareLock"]);
  assert.equal(index.blocks, "writes");
  assert.ok(index.locks.some((l: Json) => l.relation === "t_name" && l.created));
  assert.deepEqual(index.rewrites, []);
  assert.deepEqual(index.scans, [{ table: "t", why: "index build" }]);

  assert.deepEqual(modesOn(check, "t"), ["AccessExclusiveLock"]);
  assert.deepEqual(check.scans, [{ table: "t", why: "validation" }]);
  assert.deepEqual(modesOn(notValid, "t"), ["AccessExclusiveLock"]);
  assert.deepEqual(notValid.scans, []);
  assert.deepEqual(notValid.rewrites, []);

  const concurrent: Json = byId.get("20240103_0000_concurrent");
  assert.equal(concurrent.transaction, "none");
  assert.equal(concurrent.statements[0].locks, null);
  assert.equal(concurrent.statements[0].scans, null);
  assert.deepEqual(concurrent.statements[0].rewrites, []);
}

function assertHuman(stdout: string): void {
  assert.match(
    stdout,
    /line 3: ALTER TABLE t ADD COLUMN c int\n {4}AccessExclusiveLock on t \(table\): blocks reads and writes/,
  );
  assert.match(
    stdout,
    /CREATE INDEX t_name ON t \(name\)\n {4}ShareLock on t \(table\): blocks writes \(INSERT, UPDATE, DELETE\); reads go on/,
  );
  assert.match(stdout, /rewrote t_pkey \(index\), t \(table\); scanned t \(rewrite\)/);
  assert.match(stdout, /! no rows in picky: /);
  assert.match(stdout, /locks: not measured \(outside a transaction/);
}

embeddedTest("locks measures each statement's locks, rewrites and scans", async (dir) => {
  await project(dir);
  const [json, human] = await Promise.all([
    strata(["locks", "20240102", "20240103", "--json"], { cwd: dir }),
    strata(["locks", "20240102", "20240103", "--no-color"], { cwd: dir }),
  ]);
  expectExit(json, 0, "locks --json");
  assertMeasured(parseJson(json, "locks --json"));
  expectExit(human, 0, "locks");
  assert.match(human.stdout, /^Measuring 2 revisions on pglite:memory/m, dump(human));
  assertHuman(human.stdout);
});

embeddedTest(
  "locks without REV measures every revision; an unknown one is a usage error",
  async (dir) => {
    await project(dir);
    const all = await strata(["locks", "--json"], { cwd: dir });
    expectExit(all, 0, "locks --json");
    const doc = parseJson(all, "locks --json");
    assert.deepEqual(
      doc.revisions.map((r: Json) => r.revision),
      ["20240101_0000_base", "20240102_0000_changes", "20240103_0000_concurrent"],
    );
    // What CREATE TABLE locks, it made: nobody else waits for it.
    const create = doc.revisions[0].statements[0];
    assert.ok(create.locks.length > 0 && create.locks.every((l: Json) => l.created));
    assert.equal(create.blocks, "nothing");
    const unknown = await strata(["locks", "2099"], { cwd: dir });
    expectExit(unknown, 2, "locks 2099");
    assert.match(unknown.stderr, /Unknown revision "2099"/);
  },
);

embeddedTest("locks stops at a failing statement naming its file and line", async (dir) => {
  await writeMigration(
    join(dir, "migrations"),
    "20240101_0000_bad",
    "-- parents:\n-- up\nCREATE TABLE a (id int);\nALTER TABLE nope ADD COLUMN x int;\n",
  );
  const r = await strata(["locks"], { cwd: dir });
  expectExit(r, 1, "locks (failing)");
  assert.match(r.stderr, /20240101_0000_bad\.sql:4/, dump(r));
});

serverDirTest("locks --scratch URL measures on a scratch server database", async (dir, url) => {
  await project(dir);
  const json = await strata(["locks", "20240102", "20240103", "--scratch", url, "--json"], {
    cwd: dir,
  });
  expectExit(json, 0, "locks --scratch --json");
  const doc = parseJson(json, "locks --scratch --json");
  assert.match(doc.database, /\/strata_scratch_[0-9a-f]+$/);
  assertMeasured(doc);
  const human = await strata(["locks", "20240102", "20240103", "--scratch", url, "--no-color"], {
    cwd: dir,
  });
  expectExit(human, 0, "locks --scratch");
  assertHuman(human.stdout);
});

embeddedTest("lint --measured names the measured lock in each lock-rule finding", async (dir) => {
  await project(dir);
  const [json, human] = await Promise.all([
    strata(["lint", "20240102", "--measured", "--json"], { cwd: dir }),
    strata(["lint", "20240102", "--measured", "--no-color"], { cwd: dir }),
  ]);
  expectExit(json, 0, "lint --measured --json");
  const doc = parseJson(json, "lint --measured --json");
  const byRule = new Map(doc.findings.map((f: Json) => [f.rule, f]));
  const index: Json = byRule.get("require-concurrent-index-creation");
  assert.deepEqual(index.measured.locks, [{ relation: "t", mode: "ShareLock", blocks: "writes" }]);
  const check: Json = byRule.get("constraint-missing-not-valid");
  assert.deepEqual(check.measured.locks, [
    { relation: "t", mode: "AccessExclusiveLock", blocks: "reads and writes" },
  ]);
  assert.deepEqual(check.measured.scans, ["t (validation)"]);
  expectExit(human, 0, "lint --measured");
  assert.match(
    human.stdout,
    /without CONCURRENTLY\n {4}measured: ShareLock on t \(blocks writes\); scanned t \(index build\)/,
    dump(human),
  );
  // Without --measured lint stays a reading of the files: no database, no note.
  const plain = await strata(["lint", "20240102", "--json"], { cwd: dir });
  assert.ok(parseJson(plain, "lint --json").findings.every((f: Json) => !("measured" in f)));
});

embeddedTest(
  "locks refuses what apply refuses: an each revision with its own BEGIN",
  async (dir) => {
    await writeMigration(
      join(dir, "migrations"),
      "20240101_0000_own",
      "-- parents:\n-- up\nCREATE TABLE a (id int);\nBEGIN;\nALTER TABLE a ADD COLUMN b int;\nCOMMIT;\n",
    );
    const r = await strata(["locks", "--json"], { cwd: dir });
    expectExit(r, 5, "locks (own BEGIN)");
    const doc = parseJson(r, "locks --json (own BEGIN)");
    assert.equal(doc.ok, false);
    assert.equal(doc.error.line, 4);
    assert.match(doc.error.message, /controls its own transaction/);
  },
);
