import assert from "node:assert/strict";
import { join } from "node:path";
import { openEngine } from "../lib/db/engine.ts";
import { diffSnapshots, formatDiff, isEmpty } from "../lib/schema/diff.ts";
import { snapshot } from "../lib/schema/snapshot.ts";
import {
  copyExamples,
  embeddedTest,
  expectExit,
  MAIN,
  parseJson,
  queryDb,
  scratchDatabase,
  serverDirTest,
  strata,
  writeMigration,
} from "./helpers.ts";

const pgDump = async (url: string) => {
  const { stdout, success } = await new Deno.Command("pg_dump", {
    args: ["--schema-only", "--no-owner", url],
    stdout: "piped",
  }).output();
  assert.ok(success, "pg_dump ran");
  return new TextDecoder().decode(stdout).split("\n")
    .filter((line) => !/^\\(un)?restrict /.test(line)).join("\n");
};

const backups = (dir: string) => {
  try {
    return [...Deno.readDirSync(join(dir, "versions_backup"))].length;
  } catch {
    return 0;
  }
};

const tables = async (url: string) =>
  (await queryDb<{ t: string }>(
    url,
    "SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public' ORDER BY 1",
  )).map((r) => r.t);

serverDirTest(
  "reset: refused without --yes when stdin is not a terminal; nothing changes",
  async (dir, url) => {
    await copyExamples(dir);
    expectExit(await strata(["apply", "-d", url], { cwd: dir }), 0, "apply");
    const before = await tables(url);
    const r = await strata(["reset", "--hard", "-d", url], { cwd: dir });
    expectExit(r, 2, "reset without --yes");
    assert.match(r.stderr, /no terminal to confirm/);
    assert.match(r.stderr, /--yes/);
    assert.match(r.stdout, /drop and recreate schema public/, "says what it would do first");
    assert.deepEqual(await tables(url), before);
    assert.equal(backups(dir), 0, "no backup either");
  },
);

serverDirTest(
  "reset --hard --reapply --yes leaves the database equal to a fresh build",
  async (dir, url) => {
    await copyExamples(dir);
    expectExit(await strata(["apply", "-d", url], { cwd: dir }), 0, "apply");
    await queryDb(url, "CREATE TABLE stray (id int)");
    const r = await strata(["reset", "--hard", "--reapply", "--yes", "--json", "-d", url], {
      cwd: dir,
    });
    expectExit(r, 0, "reset --hard --reapply");
    const doc = parseJson(r, "reset --json");
    assert.equal(doc.hard, true);
    assert.equal(doc.applied.length, 13);
    assert.equal(backups(dir), 1);
    assert.ok(!(await tables(url)).includes("stray"), "the stray table is gone");

    const fresh = await scratchDatabase();
    try {
      expectExit(await strata(["apply", "-d", fresh.url], { cwd: dir }), 0, "fresh apply");
      assert.equal(await pgDump(url), await pgDump(fresh.url));
    } finally {
      await fresh.drop();
    }
    const journal = await queryDb<{ action: string; n: number }>(
      url,
      "SELECT action, count(*)::int AS n FROM strata_journal GROUP BY 1 ORDER BY 1",
    );
    assert.deepEqual(journal, [
      { action: "reset", n: 1 },
      { action: "start", n: 6 }, // three transaction: none revisions, applied twice
      { action: "upgrade", n: 26 },
    ], "the journal kept the history from before the reset");
  },
);

serverDirTest(
  "reset --yes downgrades to base; irreversible revisions need --hard",
  async (dir, url) => {
    await copyExamples(dir);
    expectExit(await strata(["apply", "-d", url], { cwd: dir }), 0, "apply");
    const r = await strata(["reset", "--yes", "-d", url], { cwd: dir });
    expectExit(r, 0, "reset");
    assert.match(r.stdout, /downgrade 13 revisions to base/);
    assert.deepEqual(await tables(url), ["strata_journal", "strata_ledger"]);
    assert.equal((await queryDb(url, "SELECT 1 FROM strata_ledger")).length, 0);

    await writeMigration(
      join(dir, "migrations"),
      "20250101_0000_one_way",
      "-- up\nCREATE TABLE one_way (id int);\n",
    );
    expectExit(await strata(["apply", "-d", url], { cwd: dir }), 0, "apply again");
    const refused = await strata(["reset", "--yes", "-d", url], { cwd: dir });
    expectExit(refused, 2, "reset past an irreversible revision");
    assert.match(refused.stderr, /20250101_0000_one_way/);
    assert.match(refused.stderr, /strata reset --hard/);
    assert.ok((await tables(url)).includes("one_way"), "nothing changed");
  },
);

serverDirTest("reset on a terminal asks for the database name", async (dir, url) => {
  await copyExamples(dir);
  expectExit(await strata(["apply", "-d", url], { cwd: dir }), 0, "apply");
  const name = new URL(url).pathname.slice(1);
  const onTerminal = async (answer: string) => {
    // script(1) gives the command a pseudo-terminal, as a person at a shell has.
    const command = `${Deno.execPath()} run -A --quiet ${MAIN} reset --hard -d ${url}`;
    const child = new Deno.Command("script", {
      args: ["-qec", command, "/dev/null"],
      cwd: dir,
      env: { NO_COLOR: "1" },
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(`${answer}\n`));
    await writer.close();
    const out = await child.output();
    return { code: out.code, text: new TextDecoder().decode(out.stdout) };
  };
  const wrong = await onTerminal("not-the-name");
  assert.equal(wrong.code, 2, wrong.text);
  assert.match(wrong.text, new RegExp(`Type the database name \\(${name}\\)`));
  assert.match(wrong.text, /Not confirmed: nothing done/);
  assert.ok((await tables(url)).includes("users"));

  const right = await onTerminal(name);
  assert.equal(right.code, 0, right.text);
  assert.deepEqual(await tables(url), ["strata_journal", "strata_ledger"]);
});

serverDirTest(
  "reset --hard drops only the managed schemas and keeps their grants",
  async (dir, url) => {
    await Deno.writeTextFile(join(dir, "strata.json"), JSON.stringify({ schemas: ["app"] }));
    await writeMigration(
      join(dir, "migrations"),
      "20250101_0000_app",
      "-- up\nCREATE SCHEMA app;\nCREATE TABLE app.things (id int);\n-- down\nDROP SCHEMA app CASCADE;\n",
    );
    expectExit(await strata(["apply", "-d", url], { cwd: dir }), 0, "apply");
    await queryDb(url, "CREATE TABLE public.keep_me (id int)");
    await queryDb(url, "GRANT USAGE ON SCHEMA app TO PUBLIC");
    const r = await strata(["reset", "--hard", "--yes", "-d", url], { cwd: dir });
    expectExit(r, 0, "reset --hard");
    assert.ok((await tables(url)).includes("keep_me"), "public is not managed here");
    const [app] = await queryDb<{ n: number; acl: string }>(
      url,
      `SELECT (SELECT count(*)::int FROM pg_tables WHERE schemaname = 'app') AS n,
            nspacl::text AS acl FROM pg_namespace WHERE nspname = 'app'`,
    );
    assert.equal(app.n, 0, "app was emptied");
    assert.match(app.acl, /=U\//, "the USAGE grant to PUBLIC is back");
    assert.equal((await queryDb(url, "SELECT 1 FROM strata_ledger")).length, 0, "ledger cleared");
  },
);

embeddedTest(
  "reset --hard --reapply --yes on the embedded engine equals a fresh build",
  async (dir, db) => {
    await copyExamples(dir);
    expectExit(await strata(["apply", "-d", db], { cwd: dir }), 0, "apply");
    expectExit(
      await strata(["reset", "--hard", "--reapply", "--yes", "-d", db], { cwd: dir }),
      0,
      "reset",
    );
    const freshDb = `pglite:${join(dir, "fresh")}`;
    expectExit(await strata(["apply", "-d", freshDb], { cwd: dir }), 0, "fresh apply");
    const options = {
      connectTimeoutMs: 10_000,
      statementTimeoutMs: 0,
      lockWaitMs: 0,
      lockTimeoutMs: 10_000,
    };
    const shot = async (url: string) => {
      const engine = await openEngine(url, options);
      try {
        return await snapshot(engine, { exclude: [] });
      } finally {
        await engine.close();
      }
    };
    const diff = diffSnapshots(await shot(db), await shot(freshDb));
    assert.ok(isEmpty(diff), formatDiff(diff).join("\n"));
  },
);
