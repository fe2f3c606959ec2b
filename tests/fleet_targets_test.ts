/**
 * The fleet's target sources: a targets file (URL or NAME URL a line,
 * comments, a bad line named by file and line, duplicate names refused), a
 * targets query (database names or URLs, a name column), and their union.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  collectTargets,
  defaultName,
  type Target,
  type TargetSource,
} from "../lib/fleet/targets.ts";
import { fileTargets, parseTargetsFile } from "../lib/fleet/targets_file.ts";
import { queryTargets, targetsFromRows, withDatabase } from "../lib/fleet/targets_query.ts";
import { resolveConfig } from "../lib/config.ts";
import { redact } from "../lib/redact.ts";
import {
  errorOf,
  queryDb,
  rejection,
  scratchDir,
  SERVER_URL,
  serverTest,
  waitFor,
} from "./helpers.ts";

Deno.test("targets file: URL or NAME URL, comments and blank lines skipped, order kept", () => {
  const targets = parseTargetsFile(
    "tenants.txt",
    [
      "\uFEFF# the primary cluster",
      "",
      "acme    postgres://app@db1:5432/acme",
      "  globex postgresql://app:pw@db1/globex   # moved",
      "postgres://app@db2:6432/initech?sslmode=require",
      "local pglite:.strata/local\r",
      "   # indented comment",
    ].join("\n"),
  );
  assert.deepEqual(targets, [
    { name: "acme", url: "postgres://app@db1:5432/acme", source: "tenants.txt:3" },
    { name: "globex", url: "postgresql://app:pw@db1/globex", source: "tenants.txt:4" },
    {
      name: "db2:6432/initech",
      url: "postgres://app@db2:6432/initech?sslmode=require",
      source: "tenants.txt:5",
    },
    { name: "local", url: "pglite:.strata/local", source: "tenants.txt:6" },
  ]);
});

Deno.test("targets file: a bad line is a CONFIG error naming file and line, password masked", () => {
  const cases: Array<[string, RegExp]> = [
    ["ok postgres://a@h/db\nacme mysql://u:hunter2@h/db\n", /Not a database URL/],
    ["# x\n\nacme postgres://u:hunter2@h/db extra\n", /found 3 words/],
    ["acme\n", /Not a database URL: "acme"/],
    ["postgres://u:hunter2@h/a postgres://u@h/b\n", /Two URLs on one line/],
  ];
  const lines = [2, 3, 1, 1];
  cases.forEach(([text, message], i) => {
    const error = errorOf(() => parseTargetsFile("t.txt", text));
    assert.equal(error.code, "CONFIG");
    assert.equal(error.file, "t.txt");
    assert.equal(error.line, lines[i]);
    assert.ok(error.located.startsWith(`t.txt:${lines[i]}: `), error.located);
    assert.match(error.message, message);
    assert.ok(!redact(error.located).includes("hunter2"), error.located);
    assert.ok(error.hint?.includes("NAME URL"));
  });
});

Deno.test("targets file: a name used twice is refused, naming both lines", () => {
  const error = errorOf(() =>
    parseTargetsFile("t.txt", "a postgres://h/x\nb postgres://h/y\na postgres://h/z\n")
  );
  assert.equal(error.code, "CONFIG");
  assert.match(error.message, /"a" at t\.txt:3 is already used at t\.txt:1/);
  // Unnamed lines for the same database get the same name: refused too.
  const twice = errorOf(() => parseTargetsFile("t.txt", "postgres://h/x\npostgres://u@h/x\n"));
  assert.match(twice.message, /"h\/x" at t\.txt:2/);
});

Deno.test("targets file: a missing file is a CONFIG error naming it", async () => {
  const error = await rejection(fileTargets("no/such/targets.txt").list());
  assert.equal(error.code, "CONFIG");
  assert.match(error.message, /no\/such\/targets\.txt/);
});

Deno.test("default names: host, port and database, never the user or password", () => {
  assert.equal(defaultName("postgres://u:secret@h:5432/db?sslmode=require"), "h:5432/db");
  assert.equal(defaultName("postgresql://h/t%C3%A9nant"), "h/ténant");
  assert.equal(defaultName("pglite:.strata/x"), "pglite:.strata/x");
});

Deno.test("targets query rows: a database name goes into the --database URL; a name column names it", () => {
  const base = "postgres://app:pw@db1:5432/postgres?sslmode=disable";
  assert.equal(
    withDatabase(base, "tenant 1"),
    "postgres://app:pw@db1:5432/tenant%201?sslmode=disable",
  );
  assert.deepEqual(
    targetsFromRows([{ datname: "t1" }, { datname: "postgres://x@db2/t2" }], base),
    [
      {
        name: "t1",
        url: "postgres://app:pw@db1:5432/t1?sslmode=disable",
        source: "--targets-query row 1",
      },
      { name: "db2/t2", url: "postgres://x@db2/t2", source: "--targets-query row 2" },
    ],
  );
  assert.deepEqual(
    targetsFromRows([{ db: "t1", name: "Acme" }], base).map((t) => t.name),
    ["Acme"],
  );
  const empty = errorOf(() => targetsFromRows([{ db: null }], base));
  assert.match(empty.message, /row 1: the first column/);
  const twice = errorOf(() =>
    targetsFromRows([{ db: "a", name: "x" }, { db: "b", name: "x" }], base)
  );
  assert.match(
    twice.message,
    /"x" at --targets-query row 2 is already used at --targets-query row 1/,
  );
  const embedded = errorOf(() => targetsFromRows([{ db: "t1" }], "pglite:memory"));
  assert.equal(embedded.code, "CONFIG");
});

function listed(label: string, targets: Target[]): TargetSource {
  return { label, list: () => Promise.resolve(targets) };
}

Deno.test("union: file then query; the same name and URL once; any other clash refused; none refused", async () => {
  const a = { name: "a", url: "postgres://h/a", source: "f:1" };
  const b = { name: "b", url: "postgres://h/b", source: "f:2" };
  const c = { name: "c", url: "postgres://h/c", source: "--targets-query row 2" };
  const merged = await collectTargets([
    listed("f", [a, b]),
    listed("q", [{ ...b, source: "--targets-query row 1" }, c]),
  ]);
  assert.deepEqual(merged.map((t) => `${t.name} ${t.source}`), [
    "a f:1",
    "b f:2",
    "c --targets-query row 2",
  ]);

  const sameName = await rejection(
    collectTargets([
      listed("f", [a]),
      listed("q", [{ ...a, url: "postgres://h/other", source: "q1" }]),
    ]),
  );
  assert.match(sameName.message, /"a" at q1 is already used at f:1/);
  const sameUrl = await rejection(
    collectTargets([listed("f", [a]), listed("q", [{ ...a, name: "alias", source: "q1" }])]),
  );
  assert.match(sameUrl.message, /listed twice: as "a" \(f:1\) and as "alias" \(q1\)/);
  const none = await rejection(collectTargets([listed("t.txt", [])]));
  assert.equal(none.code, "CONFIG");
  assert.match(none.message, /No targets: t\.txt lists no database/);
});

serverTest(
  "targets query: runs on --database, closes its connection, reports SQL errors as CONFIG",
  async (url) => {
    const config = await resolveConfig({ database: url }, {}, null);
    const name = new URL(url).pathname.slice(1);
    const targets = await queryTargets(
      `SELECT datname, 'the_' || datname AS name FROM pg_database WHERE datname = '${name}'`,
      config,
    ).list();
    assert.deepEqual(targets.map((t) => t.name), [`the_${name}`]);
    assert.equal(targets[0].url, withDatabase(url, name));
    const bad = await rejection(queryTargets("SELECT nope FROM nowhere", config).list());
    assert.equal(bad.code, "CONFIG");
    assert.match(bad.message, /targets query failed/);
    // Its connection is gone before any target would start.
    await waitFor(
      "the query's connection to close",
      async () =>
        (await queryDb<{ n: number }>(
          SERVER_URL,
          "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND application_name = 'strata'",
          [name],
        ))[0].n === 0,
      30_000,
    );
  },
);

Deno.test("targets file read from disk", async () => {
  const dir = await scratchDir();
  try {
    const path = join(dir.path, "t.txt");
    await Deno.writeTextFile(path, "x pglite:memory\n");
    assert.deepEqual((await fileTargets(path).list()).map((t) => t.name), ["x"]);
  } finally {
    await dir.remove();
  }
});
