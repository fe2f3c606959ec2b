/**
 * Several heads as a normal state (config multipleHeads, --heads), through
 * the real command line: status and check call the database up to date once
 * every head is applied, apply upgrades to all heads; without the setting
 * apply refuses several heads and check counts them as branched. On the
 * embedded engine (a folder, and in memory) and on the server.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  type CliResult,
  copyExamples,
  dump,
  embeddedTest,
  expectExit,
  parseJson,
  queryDb,
  scratchDir,
  serverDirTest,
  strata,
  writeMigration,
} from "./helpers.ts";

const ROOT = "20250101_0000_root";
const LEFT = "20250102_0000_left";
const RIGHT = "20250103_0000_right";
const LEFT_MORE = "20250104_0000_left_more";

const revision = (parents: string, table: string) =>
  `-- parents: ${parents}\n-- up\nCREATE TABLE ${table} (id int);\n-- down\nDROP TABLE ${table};\n`;

/** A root with two children: two heads. */
async function writeForked(dir: string): Promise<string> {
  const migrations = join(dir, "migrations");
  await writeMigration(migrations, ROOT, revision("", "root_t"));
  await writeMigration(migrations, LEFT, revision(ROOT, "left_t"));
  await writeMigration(migrations, RIGHT, revision(ROOT, "right_t"));
  return migrations;
}

const writeConfig = (dir: string, config: Record<string, unknown>) =>
  Deno.writeTextFile(join(dir, "strata.json"), JSON.stringify(config));

function refusesSeveralHeads(r: CliResult, what: string): void {
  expectExit(r, 2, what);
  assert.match(r.stderr, new RegExp(`Several heads: ${LEFT}, ${RIGHT}`), dump(r));
  assert.match(r.stderr, /hint: .*strata merge/, dump(r));
  assert.match(r.stderr, /"multipleHeads": true .*--heads/, "the hint names the setting");
}

/** The whole routine on one configured database (`db`: a pglite folder or a server URL). */
async function severalHeads(dir: string, db: string): Promise<void> {
  const migrations = await writeForked(dir);
  const run = (...args: string[]) => strata(args, { cwd: dir });
  const json = async (...args: string[]) => {
    const r = await run(...args, "--json");
    return { r, doc: parseJson(r, args.join(" ")) };
  };

  // Without the setting: apply refuses, as before.
  await writeConfig(dir, { database: db });
  refusesSeveralHeads(await run("apply"), "apply with two heads");
  const upgraded = await json("upgrade", "heads");
  expectExit(upgraded.r, 0, "upgrade heads");
  assert.deepEqual(upgraded.doc.steps.map((s: { revision: string }) => s.revision), [
    ROOT,
    LEFT,
    RIGHT,
  ]);

  // Everything applied, but two heads still count as branched for check.
  const branched = await json("check");
  expectExit(branched.r, 3, "check with two heads, no setting");
  assert.equal(branched.doc.upToDate, false);
  assert.equal(branched.doc.multipleHeads, false);
  assert.deepEqual(branched.doc.pending, []);
  assert.deepEqual(branched.doc.heads, [LEFT, RIGHT]);
  const plainStatus = await run("status");
  expectExit(plainStatus, 0, "status");
  assert.match(plainStatus.stdout, /^Heads: +\S+, \S+ +several heads: strata merge/m);
  assert.match(plainStatus.stdout, /^Not up to date$/m);

  // --heads: several heads are normal, and all are applied.
  const normal = await json("check", "--heads");
  expectExit(normal.r, 0, "check --heads");
  assert.equal(normal.doc.ok, true);
  assert.equal(normal.doc.upToDate, true);
  assert.equal(normal.doc.multipleHeads, true);
  assert.deepEqual(normal.doc.heads, [LEFT, RIGHT]);
  assert.deepEqual(normal.doc.current, [LEFT, RIGHT]);
  const status = await run("status", "--heads");
  expectExit(status, 0, "status --heads");
  assert.match(
    status.stdout,
    new RegExp(`^Heads: +${LEFT}, ${RIGHT} +2 heads \\(multipleHeads`, "m"),
  );
  assert.doesNotMatch(status.stdout, /strata merge/);
  assert.match(status.stdout, /^Up to date$/m);

  // The config key: a new revision on one branch is pending, apply takes it.
  await writeConfig(dir, { database: db, multipleHeads: true });
  await writeMigration(migrations, LEFT_MORE, revision(LEFT, "left_more_t"));
  const pending = await json("check");
  expectExit(pending.r, 3, "check with a pending head");
  assert.deepEqual(pending.doc.pending, [LEFT_MORE]);
  assert.deepEqual(pending.doc.heads, [RIGHT, LEFT_MORE], "in graph order");
  const applied = await json("apply");
  expectExit(applied.r, 0, "apply with multipleHeads");
  assert.deepEqual(applied.doc.steps.map((s: { revision: string }) => s.revision), [LEFT_MORE]);
  const again = await run("apply");
  expectExit(again, 0, "apply again");
  assert.match(again.stdout, /Nothing to upgrade: .* is up to date/);
  const clean = await run("check");
  expectExit(clean, 0, "check with multipleHeads, all applied");
  assert.match(clean.stdout, /^Up to date$/m);

  // create still wants one head, with or without the setting.
  const created = await run("create", "one more");
  expectExit(created, 2, "create with two heads");
  assert.match(created.stderr, /merge/);
}

embeddedTest(
  "several heads: status, check and apply with and without multipleHeads (pglite folder)",
  severalHeads,
);

serverDirTest(
  "several heads: status, check and apply with and without multipleHeads (server)",
  severalHeads,
);

embeddedTest(
  "several heads on pglite:memory: apply --heads upgrades to every head in one run",
  async (dir) => {
    await writeForked(dir);
    const env = { DATABASE_URL: "pglite:memory" };
    const [refused, applied, check] = await Promise.all([
      strata(["apply"], { cwd: dir, env }),
      strata(["apply", "--heads", "--json"], { cwd: dir, env }),
      strata(["check", "--heads", "--json"], { cwd: dir, env }),
    ]);
    refusesSeveralHeads(refused, "apply on pglite:memory");
    expectExit(applied, 0, "apply --heads on pglite:memory");
    const doc = parseJson(applied, "apply --heads --json");
    assert.deepEqual(doc.steps.map((s: { revision: string }) => s.revision), [ROOT, LEFT, RIGHT]);
    // A fresh memory database has everything pending: not up to date, heads or not.
    expectExit(check, 3, "check --heads on a fresh pglite:memory");
    assert.deepEqual(parseJson(check, "check --heads --json").pending, [ROOT, LEFT, RIGHT]);
  },
);

serverDirTest(
  "several heads: reset --reapply with multipleHeads reapplies every head",
  async (dir, url) => {
    await writeForked(dir);
    await writeConfig(dir, { database: url, multipleHeads: true });
    expectExit(await strata(["apply"], { cwd: dir }), 0, "apply");
    const r = await strata(["reset", "--reapply", "--yes", "--json"], { cwd: dir });
    expectExit(r, 0, "reset --reapply");
    const doc = parseJson(r, "reset --reapply --json");
    assert.deepEqual([...doc.rolledBack].sort(), [ROOT, LEFT, RIGHT].sort());
    assert.deepEqual(doc.applied, [ROOT, LEFT, RIGHT]);
    expectExit(await strata(["check"], { cwd: dir }), 0, "check after reset --reapply");
  },
);

serverDirTest(
  "several heads: reset --reapply without multipleHeads refuses before it changes anything",
  async (dir, url) => {
    await writeForked(dir);
    await writeConfig(dir, { database: url, multipleHeads: true });
    expectExit(await strata(["apply"], { cwd: dir }), 0, "apply");
    await writeConfig(dir, { database: url });
    const r = await strata(["reset", "--reapply", "--yes"], { cwd: dir });
    refusesSeveralHeads(r, "reset --reapply without multipleHeads");
    assert.equal((await queryDb(url, "SELECT revision FROM strata_ledger")).length, 3);
    const backups = await Array.fromAsync(Deno.readDir(join(dir, "versions_backup")))
      .catch(() => []);
    assert.deepEqual(backups, [], "no backup taken either");
  },
);

Deno.test("a fresh clone: status, check, current, history, show on a pglite folder not created yet create nothing", async () => {
  const scratch = await scratchDir();
  try {
    const dir = scratch.path;
    await copyExamples(dir);
    await writeConfig(dir, { database: "pglite:.strata/demo" });
    const run = (...args: string[]) => strata(args, { cwd: dir });
    const pending = [
      "20240105_0900_initial_users",
      "20240416_1500_points_ledger_user_index",
    ];

    const status = await run("status");
    expectExit(status, 0, "status");
    assert.match(status.stdout, /pglite:\.strata\/demo .*not created yet/, dump(status));
    assert.match(status.stdout, /Applied: +0\nPending: +13\n/, dump(status));
    for (const id of pending) assert.match(status.stdout, new RegExp(`• ${id}`), dump(status));
    const statusJson = await run("status", "--json");
    const doc = parseJson(statusJson, "status --json");
    assert.equal(doc.created, false);
    assert.equal(doc.pending.length, 13);
    assert.equal(doc.pending[0], pending[0]);
    assert.equal(doc.upToDate, false);
    const checked = await run("check", "--json");
    expectExit(checked, 3, "check: everything pending");
    assert.equal(parseJson(checked, "check --json").created, false);

    const current = await run("current");
    expectExit(current, 0, "current");
    assert.match(current.stdout, /nothing applied; pglite:\.strata\/demo not created yet/);
    assert.deepEqual(parseJson(await run("current", "--json"), "current --json"), {
      ok: true,
      command: "current",
      created: false,
      current: [],
      missing: [],
    });

    const history = await run("history");
    expectExit(history, 0, "history");
    assert.match(history.stdout, /not created yet/);
    // Listed without applied marks (neither ✔ nor ·).
    assert.match(
      history.stdout,
      /^ {2}20240416_1500_points_ledger_user_index \(head\)/m,
      dump(history),
    );
    assert.ok(!/[✔·]/.test(history.stdout), dump(history));
    const historyDoc = parseJson(await run("history", "--json"), "history --json");
    assert.equal(historyDoc.created, false);
    assert.equal(historyDoc.revisions.length, 13);
    assert.ok(historyDoc.revisions.every((r: { applied: unknown }) => r.applied === null));

    const show = await run("show", "20240105");
    expectExit(show, 0, "show");
    assert.match(show.stdout, /Applied: +no \(pglite:\.strata\/demo not created yet/, dump(show));
    assert.match(show.stdout, /CREATE TABLE users/);
    const showDoc = parseJson(await run("show", "20240105", "--json"), "show --json");
    assert.equal(showDoc.created, false);
    assert.equal(showDoc.applied, null);

    // Nothing was created: no folder, no lock file.
    await assert.rejects(Deno.lstat(join(dir, ".strata")), Deno.errors.NotFound);

    // After apply the same commands read the database.
    expectExit(await run("apply"), 0, "apply");
    const after = parseJson(await run("status", "--json"), "status after apply");
    assert.equal(after.created, true);
    assert.equal(after.upToDate, true);
  } finally {
    await scratch.remove();
  }
});

Deno.test("status: 1 file, not 1 file(s); categories in folder order, top-level files as (root)", async () => {
  const scratch = await scratchDir();
  try {
    const dir = scratch.path;
    const migrations = join(dir, "migrations");
    await writeMigration(join(migrations, "02_b"), RIGHT, revision(LEFT, "right_t"));
    await writeMigration(migrations, ROOT, revision("", "root_t"));
    await writeMigration(join(migrations, "01_a"), LEFT, revision(ROOT, "left_t"));
    await writeConfig(dir, { database: "pglite:never-made" });
    const r = await strata(["status"], { cwd: dir });
    expectExit(r, 0, "status");
    assert.match(
      r.stdout,
      /^Migrations: +migrations — 3 files \(\(root\) 1, 01_a 1, 02_b 1\)$/m,
      dump(r),
    );
    const doc = parseJson(await strata(["status", "--json"], { cwd: dir }), "status --json");
    assert.deepEqual(Object.entries(doc.categories), [[".", 1], ["01_a", 1], ["02_b", 1]]);

    await Deno.remove(join(migrations, "02_b"), { recursive: true });
    await Deno.remove(join(migrations, "01_a"), { recursive: true });
    const one = await strata(["status"], { cwd: dir });
    assert.match(one.stdout, /^Migrations: +migrations — 1 file \(\(root\) 1\)$/m, dump(one));
    assert.match(one.stdout, /^Pending: +1$/m, dump(one));
  } finally {
    await scratch.remove();
  }
});
