import assert from "node:assert/strict";
import { join } from "node:path";
import { newRevisionId, renderRevision, slugify } from "../lib/commands/create.ts";
import { loadMigrations } from "../lib/migration_dir.ts";
import { parseMigration, REVISION_ID_REGEXP } from "../lib/migration_file.ts";
import { dump, errorOf, expectExit, parseJson, scratchDir, strata } from "./helpers.ts";

const NOW = new Date(Date.UTC(2024, 11, 19, 14, 5, 7)); // 2024-12-19 14:05:07 UTC

// ---------------------------------------------------------------- slugify

Deno.test("slugify lower-cases and joins words with underscores", () => {
  assert.equal(slugify("Add user avatar"), "add_user_avatar");
  assert.equal(slugify("add_user_avatar"), "add_user_avatar");
  assert.equal(slugify("Create Table2 v3"), "create_table2_v3");
});

Deno.test("slugify keeps Chinese text", () => {
  assert.equal(slugify("添加用户头像"), "添加用户头像");
  assert.equal(slugify("添加 用户头像 v2"), "添加_用户头像_v2");
  assert.equal(slugify("Users 表：添加索引"), "users_表_添加索引");
});

Deno.test("slugify keeps letters of other scripts, composed", () => {
  assert.equal(slugify("Élève café"), "élève_café");
  assert.equal(slugify("Cafe\u0301"), "café"); // decomposed input becomes one letter
  assert.equal(slugify("Добавить таблицу"), "добавить_таблицу");
  assert.equal(slugify("ユーザー追加"), "ユーザー追加");
});

Deno.test("slugify keeps letters written with combining marks (Devanagari, Thai)", () => {
  assert.equal(slugify("हिन्दी तालिका"), "हिन्दी_तालिका");
  assert.equal(slugify("เพิ่มตาราง"), "เพิ่มตาราง");
});

Deno.test("slugify collapses punctuation and trims it at both ends", () => {
  assert.equal(slugify("Add: users' e-mail -- (v2)!!"), "add_users_e_mail_v2");
  assert.equal(slugify("  --  leading & trailing?!  "), "leading_trailing");
  assert.equal(slugify("a...b///c\t\nd"), "a_b_c_d");
  assert.equal(slugify("__already__snake__"), "already_snake");
  assert.equal(slugify("emoji 🚀 rocket"), "emoji_rocket");
});

Deno.test("slugify of text without letters or digits is empty", () => {
  assert.equal(slugify("!!! ---"), "");
  assert.equal(slugify(""), "");
});

Deno.test("a long slug is cut without a trailing underscore", () => {
  const slug = slugify("word ".repeat(40));
  assert.ok(slug.length > 0 && slug.length <= 60, slug);
  assert.ok(!slug.endsWith("_"), slug);
  assert.ok(slug.startsWith("word_word"), slug);
});

Deno.test("a long slug is not cut inside a character", () => {
  // U+20000 (CJK Extension B) is one letter but two UTF-16 code units.
  const slug = slugify("a".repeat(59) + "\u{20000}\u{20000}");
  assert.ok(slug.isWellFormed(), `lone surrogate in ${JSON.stringify(slug)}`);
  assert.ok(slug.startsWith("a".repeat(59)), slug);
});

// ---------------------------------------------------------------- newRevisionId

Deno.test("newRevisionId is YYYYMMDD_HHMM_slug in UTC", () => {
  assert.equal(newRevisionId("Add user avatar", new Set(), NOW), "20241219_1405_add_user_avatar");
  assert.equal(
    newRevisionId("x", new Set(), new Date(Date.UTC(2025, 0, 2, 3, 4, 5))),
    "20250102_0304_x",
  );
  assert.equal(newRevisionId("添加用户头像", new Set(), NOW), "20241219_1405_添加用户头像");
});

Deno.test("newRevisionId adds the seconds when the minute is taken", () => {
  const taken = new Set(["20241219_1405_add_user_avatar"]);
  assert.equal(newRevisionId("Add user avatar", taken, NOW), "20241219_140507_add_user_avatar");
  taken.add("20241219_140507_add_user_avatar");
  assert.equal(newRevisionId("Add user avatar", taken, NOW), "20241219_140508_add_user_avatar");
  // Another slug in the same minute is free.
  assert.equal(newRevisionId("other", taken, NOW), "20241219_1405_other");
});

Deno.test("newRevisionId: a taken minute and no free second is a USAGE error", () => {
  const late = new Date(Date.UTC(2024, 11, 19, 14, 5, 59));
  const taken = new Set(["20241219_1405_x", "20241219_140559_x"]);
  assert.equal(errorOf(() => newRevisionId("x", taken, late)).code, "USAGE");
});

Deno.test("newRevisionId: a description without letters or digits is a USAGE error", () => {
  assert.equal(errorOf(() => newRevisionId("?!", new Set(), NOW)).code, "USAGE");
});

Deno.test("new ids match the revision id pattern", () => {
  const descriptions = ["Add user avatar", "添加用户头像", "Élève", "v2 — cleanup", "हिन्दी तालिका"];
  for (const description of descriptions) {
    const id = newRevisionId(description, new Set(), NOW);
    assert.ok(REVISION_ID_REGEXP.test(id), id);
    const seconds = newRevisionId(description, new Set([id]), NOW);
    assert.ok(REVISION_ID_REGEXP.test(seconds), seconds);
  }
});

// ---------------------------------------------------------------- renderRevision

Deno.test("renderRevision round-trips through parseMigration", () => {
  const parents = ["20241219_1400_user_system"];
  const body = {
    up: "ALTER TABLE users ADD COLUMN avatar_url text;",
    down: "ALTER TABLE users DROP COLUMN avatar_url;",
  };
  const text = renderRevision("Add user avatar", parents, body);
  const file = parseMigration(
    text,
    "migrations/20241220_0900_add_user_avatar.sql",
    "20241220_0900_add_user_avatar",
    null,
  );
  assert.equal(file.message, "Add user avatar");
  assert.deepEqual(file.parents, parents);
  assert.equal(file.transaction, "each");
  assert.equal(file.up.sql, body.up);
  assert.equal(file.down?.sql, body.down + "\n");
  assert.equal(file.up.line, 4);
});

Deno.test("renderRevision with no parents writes an explicit root", () => {
  const file = parseMigration(
    renderRevision("first", [], { up: "select 1;", down: "select 2;" }),
    "p.sql",
    "x",
    null,
  );
  assert.deepEqual(file.parents, []);
});

Deno.test("renderRevision of a merge: several parents, empty but reversible", () => {
  const parents = ["20240101_0100_a", "20240101_0200_b"];
  const file = parseMigration(
    renderRevision("merge branches", parents, { up: "", down: "" }),
    "p.sql",
    "x",
    null,
  );
  assert.deepEqual(file.parents, parents);
  assert.equal(file.message, "merge branches");
  assert.notEqual(file.down, null);
});

Deno.test("renderRevision keeps the default template's comments and stays parseable", () => {
  const body = {
    up: "-- SQL that applies this revision\n",
    down: "-- SQL that undoes the up section exactly\n",
  };
  const file = parseMigration(
    renderRevision("添加用户头像", ["20240101_0100_a"], body),
    "p.sql",
    "x",
    null,
  );
  assert.equal(file.message, "添加用户头像");
  assert.ok(file.up.sql.includes("-- SQL that applies this revision"));
});

Deno.test("renderRevision puts a multi-line description on one message line", () => {
  const file = parseMigration(
    renderRevision("Add avatar\n  and banner\r\nfor users", [], {
      up: "select 1;",
      down: "select 2;",
    }),
    "p.sql",
    "x",
    null,
  );
  assert.equal(file.message, "Add avatar and banner for users");
  assert.deepEqual(file.parents, []);
  assert.equal(file.up.sql, "select 1;");
});

Deno.test("renderRevision: a description that looks like a marker stays the message", () => {
  const file = parseMigration(
    renderRevision("-- up", [], { up: "select 1;", down: "select 2;" }),
    "p.sql",
    "x",
    null,
  );
  assert.equal(file.message, "-- up");
  assert.equal(file.up.sql, "select 1;");
});

Deno.test("a created revision loads from disk with its id, parents and category", async () => {
  const dir = await Deno.makeTempDir({ prefix: "strata-create-test-" });
  try {
    const first = newRevisionId("Create users", new Set(), new Date(Date.UTC(2024, 0, 1, 9, 0)));
    const second = newRevisionId("添加用户头像", new Set([first]), NOW);
    await Deno.mkdir(join(dir, "01_foundation"));
    await Deno.writeTextFile(
      join(dir, "01_foundation", `${first}.sql`),
      renderRevision("Create users", [], {
        up: "create table users ();",
        down: "drop table users;",
      }),
    );
    await Deno.writeTextFile(
      join(dir, "01_foundation", `${second}.sql`),
      renderRevision("添加用户头像", [first], { up: "select 1;", down: "select 2;" }),
    );
    const files = await loadMigrations(dir);
    assert.deepEqual(files.map((f) => [f.id, f.category, f.parents]), [
      [first, "01_foundation", []],
      [second, "01_foundation", [first]],
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// ---------------------------------------------------------------- where create puts a file

Deno.test("init writes the category folders; create says where each file went and why", async () => {
  const scratch = await scratchDir();
  try {
    const run = (...args: string[]) => strata(args, { cwd: scratch.path });
    const init = await run("init", "--database", "pglite:memory");
    expectExit(init, 0, "init");
    for (
      const category of ["01_foundation", "02_core_features", "03_extensions", "04_optimizations"]
    ) {
      assert.ok((await Deno.stat(join(scratch.path, "migrations", category))).isDirectory);
    }
    assert.match(init.stdout, /Category folders are optional/, dump(init));

    const first = await run("create", "first");
    expectExit(first, 0, "create first");
    assert.match(
      first.stdout,
      /^Created migrations\/\d{8}_\d{4,6}_first\.sql\n {2}at the top level of migrations\/ \(the first revision\); --category NAME puts it in a category folder \(optional\)\n$/,
      dump(first),
    );
    const chosen = await run("create", "chosen", "--category", "02_core_features", "--json");
    expectExit(chosen, 0, "create --category");
    const doc = parseJson(chosen, "create --category --json");
    assert.equal(doc.category, "02_core_features");
    assert.equal(doc.categoryFrom, "option");
    assert.match(doc.path, /^migrations\/02_core_features\//);

    const follows = await run("create", "follows");
    expectExit(follows, 0, "create after a categorized head");
    assert.match(
      follows.stdout,
      new RegExp(
        `^Created migrations/02_core_features/\\d{8}_\\d{4,6}_follows\\.sql\\n {2}in 02_core_features/ ` +
          `\\(the category of the head, ${doc.revision}\\); --category NAME chooses another\\n$`,
      ),
      dump(follows),
    );
    const followsDoc = parseJson(await run("create", "again", "--json"), "create --json");
    assert.equal(followsDoc.category, "02_core_features");
    assert.equal(followsDoc.categoryFrom, "head");
  } finally {
    await scratch.remove();
  }
});
