/**
 * `strata dump` end to end, and the desired-schema file's other sources:
 * dump from a server database and from the migrations (embedded engine),
 * round trips through `create --autogenerate` / `diff`, backups instead of
 * overwrites, and a real `pg_dump --schema-only` file (plus a fixture with
 * the `\restrict` lines newer pg_dump writes) used as schema.sql with
 * strata's ledger and journal inside.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { fileURLToPath as fromFileUrl } from "node:url";
import { join } from "node:path";
import {
  embeddedTest,
  expectExit,
  parseJson,
  queryDb,
  serverDirTest,
  strata,
  writeMigration,
} from "./helpers.ts";

const FIXTURE = fromFileUrl(new URL("./fixtures/pg_dump_restrict.sql", import.meta.url));

const FIRST = `-- message: first
-- parents:
-- up
CREATE TYPE kind AS ENUM ('a', 'b');
CREATE TABLE items (id serial PRIMARY KEY, name text NOT NULL, kind kind DEFAULT 'a');
CREATE INDEX items_name ON items (lower(name));
COMMENT ON COLUMN items.name IS 'shown to people';
-- down
DROP TABLE items;
DROP TYPE kind;
`;

const SECOND = `-- message: second
-- parents: 20240101_0000_first
-- up
CREATE TABLE tags (item_id int REFERENCES items (id), tag text NOT NULL);
CREATE VIEW tagged AS SELECT i.name, t.tag FROM items i JOIN tags t ON t.item_id = i.id;
CREATE FUNCTION tag_count(i int) RETURNS bigint LANGUAGE sql AS
  $$ SELECT count(*) FROM tags WHERE item_id = i $$;
-- down
DROP FUNCTION tag_count(int);
DROP VIEW tagged;
DROP TABLE tags;
`;

async function twoRevisions(dir: string): Promise<void> {
  const migrations = join(dir, "migrations");
  await writeMigration(migrations, "20240101_0000_first", FIRST);
  await writeMigration(migrations, "20240102_0000_second", SECOND);
}

/** `diff` finds nothing to do, and `create --autogenerate` writes nothing. */
async function assertNothingToDo(dir: string, env: Record<string, string>, schema: string[] = []) {
  const diff = await strata(["diff", ...schema, "--json"], { cwd: dir, env });
  expectExit(diff, 0, "diff");
  assert.equal(parseJson(diff, "diff").changes, false, diff.stdout);
  const before = [...Deno.readDirSync(join(dir, "migrations"))].length;
  const create = await strata(["create", "--autogenerate", ...schema, "more"], { cwd: dir, env });
  expectExit(create, 0, "create --autogenerate");
  assert.match(create.stdout, /No changes/);
  assert.equal([...Deno.readDirSync(join(dir, "migrations"))].length, before, "no file written");
}

serverDirTest(
  "dump from a server database: round trip, backup, strata's tables left out",
  async (dir, url) => {
    await twoRevisions(dir);
    const env = { DATABASE_URL: url };
    expectExit(await strata(["apply"], { cwd: dir, env }), 0, "apply");

    const made = await strata(["dump", "--json"], { cwd: dir, env });
    expectExit(made, 0, "dump");
    assert.equal(parseJson(made, "dump").path, "schema.sql");
    const text = await Deno.readTextFile(join(dir, "schema.sql"));
    assert.match(text, /CREATE TABLE public\.tags/);
    assert.match(text, /CREATE OR REPLACE FUNCTION public\.tag_count/);
    assert.doesNotMatch(text, /strata_ledger|strata_journal/);
    await assertNothingToDo(dir, env);

    // Dumping the same schema again changes nothing and keeps no backup.
    expectExit(await strata(["dump"], { cwd: dir, env }), 0, "dump again");
    const listing = () =>
      [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.endsWith(".bak"));
    assert.deepEqual(listing(), []);

    // A changed database: the old file is kept as a backup, the new one has the change.
    await queryDb(url, "ALTER TABLE items ADD COLUMN price numeric");
    const changed = await strata(["dump", "--json"], { cwd: dir, env });
    expectExit(changed, 0, "dump after a change");
    const backup = parseJson(changed, "dump").backup;
    assert.match(backup, /^schema\.sql\.\d{8}_\d{6}\.bak$/);
    assert.equal(await Deno.readTextFile(join(dir, backup)), text);
    assert.match(await Deno.readTextFile(join(dir, "schema.sql")), /price numeric/);
    const diff = await strata(["diff"], { cwd: dir, env });
    expectExit(diff, 0, "diff");
    assert.match(diff.stdout, /ADD COLUMN price numeric/);

    // Never outside the project.
    const outside = await strata(["dump", "-o", "../elsewhere.sql", "--json"], { cwd: dir, env });
    expectExit(outside, 2, "dump outside the project");
    assert.equal(parseJson(outside, "outside").error.code, "USAGE");
    assert.equal(existsSync(join(dir, "..", "elsewhere.sql")), false);
  },
);

embeddedTest("dump --from-migrations builds head on the embedded engine", async (dir) => {
  await twoRevisions(dir);
  const made = await strata(["dump", "--from-migrations", "-o", "db/desired.sql"], { cwd: dir });
  expectExit(made, 0, "dump --from-migrations");
  assert.match(made.stdout, /Wrote db\/desired\.sql: \d+ object\(s\) from the 2 revision\(s\)/);
  const text = await Deno.readTextFile(join(dir, "db", "desired.sql"));
  assert.match(text, /COMMENT ON COLUMN public\.items\.name IS 'shown to people';/);
  await assertNothingToDo(dir, {}, ["--schema", "db/desired.sql"]);
  // -o - prints it and writes nothing.
  const printed = await strata(["dump", "--from-migrations", "-o", "-"], { cwd: dir });
  expectExit(printed, 0, "dump -o -");
  assert.equal(printed.stdout, text);
  assert.equal(existsSync(join(dir, "schema.sql")), false);
  // Never over a revision.
  const revision = join("migrations", "20240101_0000_first.sql");
  const over = await strata(["dump", "--from-migrations", "-o", revision], { cwd: dir });
  expectExit(over, 2, "dump into the migrations folder");
  assert.match(over.stderr, /lies in the migrations folder/);
  assert.equal(await Deno.readTextFile(join(dir, revision)), FIRST);
});

serverDirTest("a real pg_dump --schema-only file works as schema.sql", async (dir, url) => {
  await twoRevisions(dir);
  const env = { DATABASE_URL: url };
  expectExit(await strata(["apply"], { cwd: dir, env }), 0, "apply");
  const database = new URL(url);
  const pgDump = await new Deno.Command("pg_dump", {
    args: [
      "--schema-only",
      "-h",
      database.hostname,
      "-p",
      database.port || "5432",
      "-U",
      decodeURIComponent(database.username),
      database.pathname.slice(1),
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(pgDump.code, 0, new TextDecoder().decode(pgDump.stderr));
  const text = new TextDecoder().decode(pgDump.stdout);
  assert.match(text, /CREATE TABLE public\.strata_ledger/, "the dump carries strata's tables");
  await Deno.writeTextFile(join(dir, "schema.sql"), text);
  await assertNothingToDo(dir, env);
  // With the \restrict lines pg_dump 17.6+ writes around it.
  await Deno.writeTextFile(
    join(dir, "schema.sql"),
    `\\restrict abcDEF123\n${text}\n\\unrestrict abcDEF123\n`,
  );
  await assertNothingToDo(dir, env);
});

embeddedTest(
  "a pg_dump file with \\restrict and a moved ledger (--table) as schema.sql",
  async (dir) => {
    await writeMigration(
      join(dir, "migrations"),
      "20240101_0000_notes",
      "-- parents:\n-- up\nCREATE TABLE notes (id serial PRIMARY KEY, body text NOT NULL);\n" +
        "-- down\nDROP TABLE notes;\n",
    );
    const schema = ["--schema", FIXTURE];
    // Under the configured names the ledger and journal are strata's, and left out.
    const same = await strata(["diff", ...schema, "--table", "mig_ledger", "--json"], { cwd: dir });
    expectExit(same, 0, "diff --table mig_ledger");
    assert.equal(parseJson(same, "diff").changes, false, same.stdout);
    // Under the default names they are user tables, and diff wants them.
    const other = await strata(["diff", ...schema, "--json"], { cwd: dir });
    expectExit(other, 0, "diff");
    const doc = parseJson(other, "diff");
    assert.equal(doc.changes, true);
    assert.match(doc.up, /CREATE TABLE public\.mig_ledger/);
    assert.match(doc.up, /CREATE TABLE public\.mig_journal/);
  },
);
