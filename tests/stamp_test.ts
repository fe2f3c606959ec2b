/**
 * stamp's way out of a ledger that records revisions whose files are gone (a
 * branch abandoned after it ran on a shared database): the error names the
 * command, `stamp --unstamp REV` forgets the revision and the missing
 * revisions after it, `stamp base` clears every row; all journaled.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  type CliResult,
  expectExit,
  parseJson,
  queryDb,
  serverDirTest,
  strata,
  writeMigration,
} from "./helpers.ts";

const A = "20240101_0000_a";
const B = "20240101_0001_b";
const X = "20240101_0002_x";
const Y = "20240101_0003_y";

/** a → b → x → y applied, then x and y deleted. */
async function abandonedBranch(
  dir: string,
  url: string,
): Promise<(...args: string[]) => Promise<CliResult>> {
  const migrations = join(dir, "migrations");
  const run = (...args: string[]) => strata([...args, "--database", url], { cwd: dir });
  for (const id of [A, B, X, Y]) {
    await writeMigration(migrations, id, `-- up\nCREATE TABLE t_${id.slice(-1)} (id int);\n`);
  }
  expectExit(await run("apply"), 0, "apply");
  await Deno.remove(join(migrations, `${X}.sql`));
  await Deno.remove(join(migrations, `${Y}.sql`));
  return run;
}

const ledger = async (url: string) =>
  (await queryDb<{ revision: string }>(url, "SELECT revision FROM strata_ledger ORDER BY revision"))
    .map((row) => row.revision);

serverDirTest(
  "an applied revision whose file is gone: the error names stamp --unstamp, which forgets it and its missing descendants",
  async (dir, url) => {
    const run = await abandonedBranch(dir, url);
    const failed = await run("apply", "--json");
    expectExit(failed, 5, "apply with missing files");
    const error = parseJson(failed, "apply").error;
    assert.equal(error.code, "INTEGRITY");
    assert.match(error.hint, new RegExp(`strata stamp --unstamp ${X}`));

    const forgot = await run("stamp", "--unstamp", X, "--json");
    expectExit(forgot, 0, "stamp --unstamp of a missing revision");
    assert.deepEqual(parseJson(forgot, "stamp").unstamped, [Y, X]);
    assert.deepEqual(await ledger(url), [A, B]);
    const journal = await queryDb<{ revision: string; detail: string; checksum: string }>(
      url,
      "SELECT revision, detail, checksum FROM strata_journal WHERE action = 'unstamp' ORDER BY id",
    );
    assert.deepEqual(journal.map((row) => row.revision), [Y, X]);
    for (const row of journal) {
      assert.match(row.detail, /file missing/);
      assert.match(row.checksum, /^sha256:/);
    }
    expectExit(await run("check"), 0, "check after forgetting");
    // The tables they created stay: only the ledger forgets.
    assert.equal((await queryDb(url, "SELECT to_regclass('t_x')::text AS r"))[0].r, "t_x");
  },
);

serverDirTest(
  "stamp --unstamp takes a unique prefix of a missing revision; unknown ones stay errors",
  async (dir, url) => {
    const run = await abandonedBranch(dir, url);
    expectExit(await run("stamp", "--unstamp", "20240101_0003"), 0, "prefix of y");
    assert.deepEqual(await ledger(url), [A, B, X]);
    expectExit(await run("stamp", "--unstamp", "20240101_9"), 2, "unknown revision");
    assert.deepEqual(await ledger(url), [A, B, X]);
  },
);

serverDirTest("stamp base clears every ledger row, those without a file too", async (dir, url) => {
  const run = await abandonedBranch(dir, url);
  const r = await run("stamp", "base", "--json");
  expectExit(r, 0, "stamp base");
  assert.deepEqual(parseJson(r, "stamp base").unstamped, [B, A, Y, X]);
  assert.deepEqual(await ledger(url), []);
  const journal = await queryDb<{ revision: string; detail: string | null }>(
    url,
    "SELECT revision, detail FROM strata_journal WHERE action = 'unstamp' ORDER BY id",
  );
  assert.deepEqual(journal.map((row) => [row.revision, row.detail !== null]), [
    [B, false],
    [A, false],
    [Y, true],
    [X, true],
  ]);
});
