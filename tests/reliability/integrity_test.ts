/**
 * Reliability scenario 9: integrity of applied revisions. An applied file
 * edited, deleted or renamed stops `apply` (exit 5) naming it; a CRLF or BOM
 * copy of an applied file is the same revision; a file added with an id older
 * than applied revisions is out of order: listed by `status` and `check`
 * (exit 3), refused by `apply` (exit 5) unless --allow-out-of-order.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  dump,
  expectCode,
  type Json,
  parseJson,
  queryDb,
  run,
  serverDirTest,
  writeMigration,
} from "./support.ts";

const R1 = "20240101_0000_one";
const R2 = "20240102_0000_two";
const R3 = "20240103_0000_three";

/** Three applied revisions in a line (implicit parents); returns the runner. */
async function applied(dir: string, url: string) {
  const migrations = join(dir, "migrations");
  const paths: Record<string, string> = {};
  for (const [id, table] of [[R1, "i_one"], [R2, "i_two"], [R3, "i_three"]]) {
    paths[id] = await writeMigration(
      migrations,
      id,
      `-- message: ${table}\n-- up\nCREATE TABLE ${table} (id int);\n-- down\nDROP TABLE ${table};\n`,
    );
  }
  const cli = (...args: string[]) => run(args, { cwd: dir, env: { DATABASE_URL: url } });
  expectCode(await cli("apply"), 0, "apply");
  const snapshot = async () =>
    await queryDb(
      url,
      `SELECT (SELECT json_agg(l ORDER BY revision)::text FROM strata_ledger l) AS ledger,
              (SELECT count(*)::int FROM strata_journal) AS journal`,
    );
  return { migrations, paths, cli, before: await snapshot(), snapshot };
}

serverDirTest(
  "reliability 9a (integrity): an applied file edited: apply exits 5 naming it, check exits 3",
  async (dir, url) => {
    const { paths, cli, before, snapshot } = await applied(dir, url);
    await Deno.writeTextFile(paths[R2], (await Deno.readTextFile(paths[R2])) + "-- edited\n");
    const r = await cli("apply", "--json");
    expectCode(r, 5, "apply after an edit");
    const error = parseJson(r, "apply").error;
    assert.equal(error.code, "INTEGRITY");
    assert.equal(error.file, join("migrations", `${R2}.sql`), dump(r));
    const check = await cli("check", "--json");
    expectCode(check, 3, "check");
    assert.deepEqual(parseJson(check, "check").edited, [R2]);
    assert.deepEqual(await snapshot(), before, "nothing changed");
  },
);

serverDirTest(
  "reliability 9b (integrity): an applied file deleted: apply exits 5 naming it",
  async (dir, url) => {
    const { paths, cli, before, snapshot } = await applied(dir, url);
    await Deno.remove(paths[R2]);
    const r = await cli("apply", "--json");
    expectCode(r, 5, "apply after a delete");
    const error = parseJson(r, "apply").error;
    assert.equal(error.code, "INTEGRITY");
    assert.ok(error.message.includes(R2), dump(r));
    const status = await cli("status", "--json");
    expectCode(status, 0, "status");
    assert.deepEqual(parseJson(status, "status").missing, [R2]);
    expectCode(await cli("check"), 3, "check");
    assert.deepEqual(await snapshot(), before, "nothing changed");
  },
);

serverDirTest(
  "reliability 9c (integrity): an applied file renamed: apply exits 5 with both names",
  async (dir, url) => {
    const { migrations, paths, cli, before, snapshot } = await applied(dir, url);
    const renamed = "20240102_0000_two_renamed";
    await Deno.rename(paths[R2], join(migrations, `${renamed}.sql`));
    const r = await cli("apply", "--json");
    expectCode(r, 5, "apply after a rename");
    const error = parseJson(r, "apply").error;
    assert.equal(error.code, "INTEGRITY");
    assert.ok(error.message.includes(R2) && error.message.includes(renamed), dump(r));
    const human = await cli("apply");
    expectCode(human, 5, "apply (human)");
    assert.ok(human.stderr.includes(R2) && human.stderr.includes(renamed), dump(human));
    const status = parseJson(await cli("status", "--json"), "status");
    assert.deepEqual(status.renamed, [{ from: R2, to: renamed }]);
    expectCode(await cli("check"), 3, "check");
    assert.deepEqual(await snapshot(), before, "nothing changed");
  },
);

serverDirTest(
  "reliability 9d (integrity): a CRLF and a BOM copy of an applied file pass",
  async (dir, url) => {
    const { paths, cli, before, snapshot } = await applied(dir, url);
    const lf = await Deno.readTextFile(paths[R1]);
    await Deno.writeTextFile(paths[R1], lf.replaceAll("\n", "\r\n"));
    const bom = await Deno.readTextFile(paths[R2]);
    await Deno.writeTextFile(paths[R2], "\ufeff" + bom);
    await Deno.writeTextFile(
      paths[R3],
      "\ufeff" + (await Deno.readTextFile(paths[R3])).replaceAll("\n", "\r\n"),
    );
    const r = await cli("apply", "--json");
    expectCode(r, 0, "apply with CRLF / BOM copies");
    assert.deepEqual(parseJson(r, "apply").steps, []);
    const check = await cli("check", "--json");
    expectCode(check, 0, "check");
    assert.deepEqual(parseJson(check, "check").edited, []);
    const after = await snapshot();
    assert.equal(after[0].ledger, before[0].ledger, "ledger unchanged");
  },
);

serverDirTest(
  "reliability 9e (integrity): a file older than applied revisions is out of order: status and check list it, apply refuses (exit 5) unless --allow-out-of-order",
  async (dir, url) => {
    const { migrations, cli, before, snapshot } = await applied(dir, url);
    const late = "20240101_1200_late";
    await writeMigration(
      migrations,
      late,
      "-- message: late\n-- up\nCREATE TABLE i_late (id int);\n-- down\nDROP TABLE i_late;\n",
    );
    const status = await cli("status", "--json");
    expectCode(status, 0, "status");
    assert.deepEqual(parseJson(status, "status").outOfOrder, [late]);
    const human = await cli("status");
    assert.match(human.stdout, new RegExp(`[Oo]ut of order.*${late}`), dump(human));
    const check = await cli("check", "--json");
    expectCode(check, 3, "check");
    assert.deepEqual(parseJson(check, "check").outOfOrder, [late]);

    const refused = await cli("apply", "--json");
    expectCode(refused, 5, "apply with an out-of-order file");
    const error = parseJson(refused, "apply").error;
    assert.equal(error.code, "INTEGRITY");
    assert.deepEqual(error.outOfOrder, [late]);
    assert.equal(error.file, join("migrations", `${late}.sql`));
    assert.deepEqual(await snapshot(), before, "nothing changed");

    const allowed = await cli("apply", "--json", "--allow-out-of-order");
    expectCode(allowed, 0, "apply --allow-out-of-order");
    assert.deepEqual(parseJson(allowed, "apply").steps.map((s: Json) => s.revision), [late]);
    assert.match(allowed.stderr, new RegExp(`${late}.*out of order`), dump(allowed));
    const [{ t }] = await queryDb(url, `SELECT to_regclass('i_late')::text AS t`);
    assert.equal(t, "i_late");
    expectCode(await cli("check"), 0, "check afterwards");
  },
);
