/**
 * The command line's own errors, through the real CLI: unknown options and
 * commands, option values, --json with --sql and --help, the SQL error frame
 * on both engines, a missing schema.sql, create's untouched template, help
 * against the README, and connection errors (no password, missing database).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  type CliResult,
  dump,
  embeddedTest,
  expectExit,
  parseJson,
  scratchDir,
  SERVER_URL,
  serverDirTest,
  serverTest,
  strata,
  writeMigration,
} from "./helpers.ts";
import { editDistance, suggest } from "../lib/cli_usage.ts";
import { sqlFrame, statementAt } from "../lib/failure.ts";
import { commandHelp, COMMANDS, mainHelp } from "../lib/commands/catalog.ts";
import { parseMigration } from "../lib/migration_file.ts";
import { TEMPLATE_DOWN, TEMPLATE_UP, untouchedTemplateLine } from "../lib/template.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

async function inScratch(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await scratchDir();
  try {
    await fn(dir.path);
  } finally {
    await dir.remove();
  }
}

function run(dir: string, database?: string, env: Record<string, string> = {}) {
  return (...args: string[]) =>
    strata(args, { cwd: dir, env: { ...(database ? { DATABASE_URL: database } : {}), ...env } });
}

/** Exit 2 with a USAGE error whose message matches `message`, in text and in --json. */
function expectUsage(r: CliResult, json: CliResult, message: RegExp, what: string): Json {
  expectExit(r, 2, what);
  assert.match(r.stderr, message, `${what}\n${dump(r)}`);
  assert.doesNotMatch(r.stderr, /positional argument|parseArgs|ERR_PARSE/, `${what}\n${dump(r)}`);
  expectExit(json, 2, `${what} --json`);
  const doc = parseJson(json, `${what} --json`);
  assert.equal(doc.ok, false);
  assert.equal(doc.error.code, "USAGE");
  assert.match(doc.error.message, message);
  return doc;
}

// ---------------------------------------------------------------------------
// Unit: suggestions, frames, the template

Deno.test("suggest: the nearest option or command, or none", () => {
  const options = ["dry-run", "database", "dir", "json", "verbose", "lock-timeout", "lock-wait"];
  assert.equal(suggest("dry-rn", options), "dry-run");
  assert.equal(suggest("databse", options), "database");
  assert.equal(suggest("jsno", options), "json");
  assert.equal(suggest("lock-timout", options), "lock-timeout");
  assert.equal(suggest("verb", options), "verbose", "a unique prefix");
  assert.equal(suggest("lock", options), null, "a prefix of two is no guess");
  assert.equal(suggest("frobnicate", options), null);
  assert.equal(suggest("stauts", ["status", "stamp", "show"]), "status");
  assert.equal(editDistance("ab", "ba"), 1, "a swap is one edit");
  assert.equal(editDistance("", "abc"), 3);
});

Deno.test("statementAt and sqlFrame: the statement holding a position, psql's frame", () => {
  const text = "CREATE TABLE a (id int);\n\n-- note\nCREATE TABLE b (id int,\n   name txet);";
  const position = [...text].indexOf("t", text.indexOf("txet")) + 1;
  const at = statementAt(text, position)!;
  assert.equal(at.statement, "CREATE TABLE b (id int,\n   name txet)");
  assert.equal([...at.statement][at.position - 1], "t");
  assert.equal(at.statement.slice(at.position - 1, at.position + 3), "txet");
  assert.deepEqual(sqlFrame(at.statement, at.position, 7), [
    "LINE 7:    name txet)",
    "                ^",
  ]);
  // Code points, not UTF-16 units: an emoji before the error counts once.
  const wide = "SELECT '😀', nope";
  const frame = sqlFrame(wide, [...wide].indexOf("n") + 1, 1);
  assert.equal(frame[1].indexOf("^") - "LINE 1: ".length, [...wide].indexOf("n"));
  // A long line is cut around the position, the caret still under it.
  const long = `SELECT ${"x, ".repeat(100)}nope FROM t`;
  const [line, caret] = sqlFrame(long, long.indexOf("nope") + 1, 3);
  assert.ok(line.length < 130, line);
  assert.equal(line.slice(caret.indexOf("^"), caret.indexOf("^") + 4), "nope");
});

Deno.test("untouchedTemplateLine: only create's template up, not an empty or written one", () => {
  const file = (up: string, down = "") =>
    parseMigration(
      `-- message: x\n-- parents:\n-- up\n${up}-- down\n${down}`,
      "m/20240101_0000_x.sql",
      "20240101_0000_x",
      null,
    );
  assert.equal(untouchedTemplateLine(file(TEMPLATE_UP, TEMPLATE_DOWN)), 4);
  assert.equal(untouchedTemplateLine(file(`\n${TEMPLATE_UP}\n`, TEMPLATE_DOWN)), 5);
  assert.equal(untouchedTemplateLine(file("")), null, "merge and create --empty");
  assert.equal(untouchedTemplateLine(file("-- noop\n")), null, "a comment of one's own");
  assert.equal(untouchedTemplateLine(file(`${TEMPLATE_UP}SELECT 1;\n`)), null);
});

// ---------------------------------------------------------------------------
// Usage errors

Deno.test("unknown options and commands, missing and unexpected values: exit 2 in strata's words", async () => {
  await inScratch(async (dir) => {
    const cli = run(dir);
    const cases: Array<[string[], RegExp]> = [
      [["apply", "--dry-rn"], /Unknown option --dry-rn \(did you mean --dry-run\?\)/],
      [["status", "--databse", "x"], /Unknown option --databse \(did you mean --database\?\)/],
      [["status", "--jsno"], /Unknown option --jsno \(did you mean --json\?\)/],
      [["status", "-x"], /Unknown option -x/],
      [["status", "--database"], /Option --database needs a value: --database URL/],
      [["status", "-d"], /Option --database needs a value: --database URL/],
      [["status", "--dir", "--verbose"], /Option --dir needs a value: --dir PATH/],
      [["status", "--verbose=yes"], /Option --verbose takes no value/],
      [["stauts"], /Unknown command "stauts" \(did you mean status\?\)/],
      [["help", "upgrad"], /Unknown command "upgrad" \(did you mean upgrade\?\)/],
      [["constructor"], /Unknown command "constructor"/],
      [["help", "__proto__"], /Unknown command "__proto__"/],
      [["frobnicate"], /Unknown command "frobnicate"/],
    ];
    const results = await Promise.all(
      cases.flatMap(([args]) => [cli(...args), cli(...args, "--json")]),
    );
    cases.forEach(([args, message], i) => {
      expectUsage(results[2 * i], results[2 * i + 1], message, `strata ${args.join(" ")}`);
    });
    // With nothing near, the hint lists the commands.
    const far = results[2 * (cases.length - 1)];
    assert.match(far.stderr, /hint: Commands: init, status, check/, dump(far));
    assert.doesNotMatch(far.stderr, /did you mean/);
    const noGuess = results[2 * 3];
    assert.doesNotMatch(noGuess.stderr, /did you mean/, dump(noGuess));
  });
});

Deno.test("--json: --sql, --help, help COMMAND and --version print one JSON document", async () => {
  await inScratch(async (dir) => {
    const migrations = join(dir, "migrations");
    await writeMigration(
      migrations,
      "20240101_0000_one",
      "-- parents:\n-- up\nCREATE TABLE one (id int);\n-- down\nDROP TABLE one;\n",
    );
    const cli = run(dir);
    const [sql, sqlDown, help, commandHelpRun, helpCommand, version, bare] = await Promise.all([
      cli("upgrade", "--sql", "--json"),
      cli("downgrade", "base", "--sql", "--json"),
      cli("--help", "--json"),
      cli("apply", "--help", "--json"),
      cli("help", "stamp", "--json"),
      cli("--version", "--json"),
      cli("--json"),
    ]);
    const up = parseJson(sql, "upgrade --sql --json");
    expectExit(sql, 0, "upgrade --sql --json");
    assert.equal(up.ok, true);
    assert.equal(up.command, "upgrade");
    assert.deepEqual(up.steps, ["20240101_0000_one"]);
    assert.match(up.sql, /CREATE TABLE one \(id int\);/);
    assert.match(up.sql, /strata_ledger/);
    const down = parseJson(sqlDown, "downgrade base --sql --json");
    assert.equal(down.command, "downgrade");
    assert.match(down.sql, /DROP TABLE one;/);
    for (const [r, what] of [[help, "--help"], [commandHelpRun, "apply --help"]] as const) {
      expectExit(r, 0, what);
      const doc = parseJson(r, what);
      assert.equal(doc.ok, true);
      assert.match(doc.help, /Global options:/);
    }
    assert.equal(parseJson(help, "--help").help, mainHelp());
    assert.equal(parseJson(commandHelpRun, "apply --help").command, "apply");
    assert.equal(parseJson(helpCommand, "help stamp").help, commandHelp("stamp"));
    expectExit(version, 0, "--version --json");
    assert.match(parseJson(version, "--version").version, /^\d+\.\d+/);
    // No command: a usage error, still one document.
    expectExit(bare, 2, "--json alone");
    assert.equal(parseJson(bare, "--json alone").error.code, "USAGE");
  });
});

Deno.test("downgrade without a target says what a target looks like", async () => {
  await inScratch(async (dir) => {
    const r = await run(dir, "pglite:memory")("downgrade");
    expectExit(r, 2, "downgrade");
    assert.match(r.stderr, /needs a target/);
    assert.match(r.stderr, /-1/);
    assert.match(r.stderr, /base/);
    assert.match(r.stderr, /prefix/);
  });
});

Deno.test("an ambiguous prefix names ten candidates and says how many more", async () => {
  await inScratch(async (dir) => {
    const migrations = join(dir, "migrations");
    for (let day = 10; day < 23; day++) {
      await writeMigration(migrations, `203001${day}_0000_x`, "-- up\n-- down\n");
    }
    const cli = run(dir);
    const [show, json] = await Promise.all([cli("show", "2030"), cli("show", "2030", "--json")]);
    expectExit(show, 2, "show 2030");
    assert.match(show.stderr, /matches 13 revisions/);
    assert.match(show.stderr, /20300119_0000_x\.sql … and 3 more/, dump(show));
    assert.doesNotMatch(show.stderr, /20300120/);
    assert.match(parseJson(json, "show --json").error.hint, /… and 3 more$/);
  });
});

// ---------------------------------------------------------------------------
// Help against the README

const README = await Deno.readTextFile(
  fileURLToPath(new URL("../README.md", import.meta.url)),
);
const LONG_OPTION_REGEXP = /--[a-z][a-z-]*[a-z]/g;

function optionsIn(text: string): Set<string> {
  return new Set([...text.matchAll(LONG_OPTION_REGEXP)].map((m) => m[0]));
}

function readmeSection(heading: string): string {
  const after = README.split(`\n${heading}\n`)[1];
  assert.ok(after !== undefined, `README has no "${heading}"`);
  return after.split(/\n#{2,3} /)[0];
}

/** Table rows `| ... |` of a README section whose first cell is code. */
function rows(section: string): string[] {
  return section.split("\n").filter((line) => line.startsWith("| `"));
}

/** The options the global options part of a help text lists (the first column). */
function globalOptions(help: string): Set<string> {
  const part = help.split("Global options:")[1].split("\nDurations")[0];
  return new Set(
    part.split("\n").map((line) => /^\s+(?:-\w, )?(--[a-z-]+)/.exec(line)?.[1]).filter((o) =>
      o !== undefined
    ),
  );
}

Deno.test("--help lists the options the README lists (global table and command table)", () => {
  const readmeGlobal = new Set(
    rows(readmeSection("### Global options")).flatMap((row) => [...optionsIn(row.split("|")[1])]),
  );
  const helpGlobal = globalOptions(mainHelp());
  assert.ok(readmeGlobal.size >= 15, `README global options: ${[...readmeGlobal]}`);
  assert.deepEqual(
    [...helpGlobal].sort(),
    [...readmeGlobal].sort(),
    "strata --help's global options are the README's Global options table",
  );

  const commandRows = rows(readmeSection("## Commands"));
  const paragraphs = README.split(/\n\s*\n/);
  for (const name of Object.keys(COMMANDS)) {
    const help = commandHelp(name)!;
    assert.deepEqual(globalOptions(help), helpGlobal, `${name} --help: global options`);
    const own = optionsIn(help.split("Global options:")[0]);
    const mine = commandRows.filter((row) =>
      [...row.split("|")[1].matchAll(/`([a-z]+)/g)].some((m) => m[1] === name)
    );
    assert.ok(mine.length > 0, `the README's command table has a row for ${name}`);
    // What the README's row says the command takes, its help lists.
    for (const option of mine.flatMap((row) => [...optionsIn(row)])) {
      assert.ok(
        own.has(option) || helpGlobal.has(option),
        `README lists ${option} for ${name}; strata ${name} --help does not`,
      );
    }
    // What the help lists, the README documents: in the command's row, a paragraph naming the
    // command, or the global table.
    const naming = new RegExp(`\`(strata )?${name}[\` /]`);
    const documented = new Set([
      ...mine.flatMap((row) => [...optionsIn(row)]),
      ...paragraphs.filter((p) => naming.test(p)).flatMap((p) => [...optionsIn(p)]),
    ]);
    for (const option of own) {
      assert.ok(
        documented.has(option) || readmeGlobal.has(option),
        `strata ${name} --help lists ${option}; the README does not document it for ${name}`,
      );
    }
  }
});

// ---------------------------------------------------------------------------
// A missing schema.sql

Deno.test("a missing schema.sql is exit 2 CONFIG naming the path", async () => {
  await inScratch(async (dir) => {
    await writeMigration(
      join(dir, "migrations"),
      "20240101_0000_one",
      "-- parents:\n-- up\nCREATE TABLE one (id int);\n-- down\nDROP TABLE one;\n",
    );
    const cli = run(dir);
    const [diff, diffJson, create, named] = await Promise.all([
      cli("diff"),
      cli("diff", "--json"),
      cli("create", "--autogenerate", "grow"),
      cli("diff", "--schema", "db/desired.sql"),
    ]);
    for (
      const [r, path] of [
        [diff, "schema.sql"],
        [create, "schema.sql"],
        [named, "db/desired.sql"],
      ] as Array<[CliResult, string]>
    ) {
      expectExit(r, 2, `missing ${path}`);
      assert.ok(r.stderr.includes(`${path} does not exist`), dump(r));
      assert.doesNotMatch(r.stderr, /os error|readfile|No such file/, dump(r));
      assert.match(r.stderr, /--schema PATH/);
    }
    expectExit(diffJson, 2, "diff --json");
    const doc = parseJson(diffJson, "diff --json");
    assert.equal(doc.error.code, "CONFIG");
    assert.equal(doc.error.path, "schema.sql");
    // Nothing was written.
    const files = [...Deno.readDirSync(join(dir, "migrations"))].map((e) => e.name);
    assert.deepEqual(files, ["20240101_0000_one.sql"]);
  });
});

// ---------------------------------------------------------------------------
// create's untouched template

embeddedTest(
  "an up still create's template is refused before anything runs; status flags it",
  async (dir, db) => {
    const cli = run(dir, db);
    const migrations = join(dir, "migrations");
    await writeMigration(
      migrations,
      "20240101_0000_one",
      "-- parents:\n-- up\nCREATE TABLE one (id int);\n-- down\nDROP TABLE one;\n",
    );
    const created = parseJson(await cli("create", "forgot to write it", "--json"), "create");
    const id: string = created.revision;
    const refused = await cli("apply");
    expectExit(refused, 5, "apply with a template revision");
    assert.ok(refused.stderr.includes(`${created.path}:4:`), dump(refused));
    assert.match(refused.stderr, /template/);
    assert.match(refused.stderr, /create --empty/);
    const doc = parseJson(await cli("apply", "--json"), "apply --json");
    assert.equal(doc.error.code, "FILE");
    assert.equal(doc.error.revision, id);
    assert.equal(doc.error.line, 4);
    // Refused before anything ran: not even the revision before it.
    const status = parseJson(await cli("status", "--json"), "status");
    assert.equal(status.applied, 0);
    assert.deepEqual(status.unwritten, [id]);
    const text = await cli("status");
    assert.match(text.stdout, new RegExp(`Still the template.*${id}`));
    const sql = await cli("upgrade", "--sql");
    expectExit(sql, 5, "upgrade --sql with a template revision");

    // Written: it applies. An empty (--empty) revision and a merge revision apply as no-ops.
    await Deno.writeTextFile(
      join(dir, created.path),
      (await Deno.readTextFile(join(dir, created.path))).replace(
        TEMPLATE_UP,
        "CREATE TABLE two (id int);\n",
      ),
    );
    const empty = parseJson(
      await cli("create", "nothing on purpose", "--empty", "--json"),
      "empty",
    );
    await writeMigration(
      migrations,
      "20240102_0000_side",
      "-- parents: 20240101_0000_one\n-- up\nCREATE TABLE side (id int);\n-- down\nDROP TABLE side;\n",
    );
    const merged = parseJson(await cli("merge", "-m", "join", "--json"), "merge");
    const applied = parseJson(await cli("apply", "--json"), "apply");
    assert.equal(applied.ok, true, JSON.stringify(applied));
    const steps = applied.steps.map((s: Json) => s.revision);
    for (const revision of [id, empty.revision, merged.revision]) {
      assert.ok(steps.includes(revision), `${revision} applied: ${steps}`);
    }
    assert.deepEqual(parseJson(await cli("status", "--json"), "status").unwritten, []);
  },
);

// ---------------------------------------------------------------------------
// The SQL error frame, on both engines

async function sqlErrorFrame(dir: string, database: string): Promise<void> {
  const cli = run(dir, database);
  const migrations = join(dir, "migrations");
  await writeMigration(
    migrations,
    "20240101_0000_each",
    "-- parents:\n-- up\nCREATE TABLE a (id int);\n\n-- the bad one\nCREATE TABLE b (id int,\n   name txet);\n-- down\nDROP TABLE b;\nDROP TABLE a;\n",
  );
  const failed = await cli("apply");
  expectExit(failed, 1, "apply with a type typo");
  const path = join("migrations", "20240101_0000_each.sql");
  assert.ok(failed.stderr.includes(`${path}:7:`), dump(failed));
  // psql's frame, without --verbose: the line, and a caret under "txet".
  const lines = failed.stderr.split("\n");
  const at = lines.findIndex((line) => line.startsWith("  LINE 7:"));
  assert.ok(at >= 0, dump(failed));
  assert.equal(lines[at], "  LINE 7:    name txet)");
  assert.equal(lines[at + 1].indexOf("^"), lines[at].indexOf("txet"), dump(failed));
  const doc = parseJson(await cli("apply", "--json"), "apply --json");
  assert.equal(doc.error.code, "MIGRATION_FAILED");
  assert.equal(doc.error.line, 7);
  assert.equal(doc.error.statement, "CREATE TABLE b (id int,\n   name txet)");
  assert.equal(doc.error.statement.slice(doc.error.position - 1).slice(0, 4), "txet");

  // Two statements on one line: the second one is the statement, the caret under its error.
  await Deno.writeTextFile(
    join(dir, path),
    "-- parents:\n-- up\nCREATE TABLE a (id int);\nSELECT 1; SELECT nope FROM a;\n-- down\nDROP TABLE a;\n",
  );
  const second = await cli("apply", "--json");
  const d2 = parseJson(second, "apply --json, two on a line");
  assert.equal(d2.error.line, 4);
  assert.equal(d2.error.statement, "SELECT nope FROM a");
  assert.equal(d2.error.position, 8);

  // transaction: none, a syntax error found by the parser before anything runs.
  await Deno.writeTextFile(
    join(dir, path),
    "-- transaction: none\n-- parents:\n-- up\nCREATE TABLE a (id int);\nSELECT 1 +\n  2 + ;\n-- down\nDROP TABLE a;\n",
  );
  const none = await cli("apply");
  expectExit(none, 1, "none mode syntax error");
  const noneLines = none.stderr.split("\n");
  const noneAt = noneLines.findIndex((line) => line.startsWith("  LINE 6:"));
  assert.ok(noneAt >= 0, dump(none));
  assert.equal(noneLines[noneAt + 1].trim(), "^");
  // A runtime error in none mode: the statement sent alone, its own position.
  await Deno.writeTextFile(
    join(dir, path),
    "-- transaction: none\n-- parents:\n-- up\nCREATE TABLE IF NOT EXISTS a (id int);\nSELECT\n  nope FROM a;\n-- down\nDROP TABLE a;\n",
  );
  const runtime = await cli("apply", "--json");
  expectExit(runtime, 1, "none mode runtime error");
  const d3 = parseJson(runtime, "none mode runtime error");
  assert.equal(d3.error.line, 6);
  assert.equal(d3.error.statement, "SELECT\n  nope FROM a");
  assert.equal(d3.error.position, 10);
  const human = await cli("apply");
  assert.match(human.stderr, /\n {2}LINE 6: {3}nope FROM a\n {12}\^\n/, dump(human));
}

embeddedTest(
  "a SQL error shows the line and a caret, and --json the statement (embedded)",
  sqlErrorFrame,
);
serverDirTest(
  "a SQL error shows the line and a caret, and --json the statement (server)",
  sqlErrorFrame,
);

// ---------------------------------------------------------------------------
// Connections: a missing database, no password

serverTest("a missing database's hint names it for createdb", async () => {
  await inScratch(async (dir) => {
    await Deno.mkdir(join(dir, "migrations"));
    const name = `strata_missing_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
    const url = new URL(SERVER_URL);
    url.pathname = `/${name}`;
    const cli = run(dir, url.toString());
    const [r, json] = await Promise.all([cli("status"), cli("status", "--json")]);
    expectExit(r, 2, "status on a missing database");
    assert.ok(r.stderr.includes(`database "${name}" does not exist`), dump(r));
    assert.ok(r.stderr.includes(`createdb ${name}`), dump(r));
    const doc = parseJson(json, "status --json");
    assert.equal(doc.error.code, "CONNECT");
    assert.ok(doc.error.hint.includes(`createdb ${name}`));
  });
});

/** The bytes of one backend message: type, length, body. */
function message(type: string, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + body.length);
  out[0] = type.charCodeAt(0);
  new DataView(out.buffer).setInt32(1, 4 + body.length);
  out.set(body, 5);
  return out;
}

function int32(n: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setInt32(0, n);
  return out;
}

const encoder = new TextEncoder();

/** An ErrorResponse as PostgreSQL sends for a failed password. */
function authFailed(user: string): Uint8Array {
  const fields = [
    "SFATAL",
    "VFATAL",
    "C28P01",
    `Mpassword authentication failed for user "${user}"`,
  ];
  return message("E", encoder.encode(fields.map((f) => `${f}\0`).join("") + "\0"));
}

/**
 * A server that speaks just enough of the protocol to ask for a password:
 * it answers the startup message with `request` (cleartext, MD5 or SASL),
 * waits for the client's reply and rejects it as PostgreSQL does. Records
 * what each client sent back.
 */
function passwordServer(request: Uint8Array) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const replies: string[] = [];
  const serving = (async () => {
    for await (const conn of listener) {
      (async () => {
        try {
          const buffer = new Uint8Array(65536);
          let startup = true;
          while (true) {
            const n = await conn.read(buffer);
            if (n === null) break;
            const data = buffer.subarray(0, n);
            if (startup) {
              const code = new DataView(data.buffer).getInt32(4);
              if (code === 80877103) { // SSLRequest
                await conn.write(encoder.encode("N"));
                continue;
              }
              startup = false;
              await conn.write(request);
              continue;
            }
            replies.push(String.fromCharCode(data[0]));
            await conn.write(authFailed("alice"));
            break;
          }
        } catch {
          // the client went away
        } finally {
          try {
            conn.close();
          } catch { /* closed */ }
        }
      })();
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    replies,
    async close() {
      listener.close();
      await serving.catch(() => {});
    },
  };
}

const AUTH_REQUESTS: Array<[string, Uint8Array]> = [
  ["cleartext", message("R", int32(3))],
  ["MD5", message("R", new Uint8Array([...int32(5), 1, 2, 3, 4]))],
  ["SCRAM", message("R", new Uint8Array([...int32(10), ...encoder.encode("SCRAM-SHA-256\0\0")]))],
];

for (const [kind, request] of AUTH_REQUESTS) {
  Deno.test({
    name: `a server asking for a password (${kind}) and none given: "no password given"`,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      const server = passwordServer(request);
      try {
        await inScratch(async (dir) => {
          // No password file (PGPASSFILE names none there) and no PGPASSWORD.
          await Deno.mkdir(join(dir, "migrations"));
          const url = `postgres://alice@127.0.0.1:${server.port}/app`;
          const cli = run(dir, url, { PGPASSFILE: join(dir, "none") });
          const [r, json] = await Promise.all([
            cli("status", "--connect-timeout", "30s"),
            cli("status", "--connect-timeout", "30s", "--json"),
          ]);
          expectExit(r, 2, `status against a ${kind} password request`);
          assert.match(r.stderr, /no password given \(URL, PGPASSWORD or ~\/\.pgpass\)/, dump(r));
          const doc = parseJson(json, "status --json");
          assert.equal(doc.error.code, "CONNECT");
          assert.equal(doc.error.reason, "NO_PASSWORD");
          // With a password, the same refusal is a failed password, and the password is not shown.
          const wrong = await run(dir, `postgres://alice:s3cr3t-pw@127.0.0.1:${server.port}/app`, {
            PGPASSFILE: join(dir, "none"),
          })("status", "--connect-timeout", "30s");
          expectExit(wrong, 2, "status with a wrong password");
          assert.match(wrong.stderr, /password authentication failed/, dump(wrong));
          assert.doesNotMatch(wrong.stderr, /no password given|s3cr3t-pw/);
        });
        assert.ok(server.replies.length >= 3, `the client answered the request: ${server.replies}`);
      } finally {
        await server.close();
      }
    },
  });
}
