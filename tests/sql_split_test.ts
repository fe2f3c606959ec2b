import assert from "node:assert/strict";
import { splitStatements, SqlSyntaxError } from "../lib/sql_split.ts";

async function sqls(section: string): Promise<string[]> {
  return (await splitStatements(section)).map((s) => s.sql);
}

Deno.test("splits simple statements without their semicolons", async () => {
  assert.deepEqual(await sqls("create table a (id int);\ninsert into a values (1);select 1"), [
    "create table a (id int)",
    "insert into a values (1)",
    "select 1",
  ]);
});

Deno.test("reports 1-based lines and string offsets of the first token", async () => {
  const section = "select 1;\n\n  select 2;\nselect\n  3;\n";
  assert.deepEqual(await splitStatements(section), [
    { sql: "select 1", line: 1, offset: 0, kind: "SelectStmt" },
    { sql: "select 2", line: 3, offset: 13, kind: "SelectStmt" },
    { sql: "select\n  3", line: 4, offset: 23, kind: "SelectStmt" },
  ]);
});

Deno.test("skips leading comments, including nested block comments", async () => {
  const section = "-- header; with semicolon\n/* a /* nested; */ b */\n  select 1; -- tail\n" +
    "/* c */ -- d\nselect 2";
  const stmts = await splitStatements(section);
  assert.deepEqual(stmts.map((s) => [s.sql, s.line]), [["select 1", 3], ["select 2", 5]]);
  for (const s of stmts) assert.equal(section.slice(s.offset, s.offset + s.sql.length), s.sql);
});

Deno.test("drops trailing comments but keeps comment-like text inside strings", async () => {
  assert.deepEqual(
    await sqls("select 1 -- why\n;\nselect '--not a comment';\nselect 2 /* end */\n-- bye\n"),
    ["select 1", "select '--not a comment'", "select 2"],
  );
});

Deno.test("semicolons inside strings, identifiers, comments and dollar quotes", async () => {
  const section = [
    "select 'a;b', E'c\\';d', \"we;ird\";",
    "select 1 /* x; y */ + 2 -- z;\n;",
    "select $$ ; $$;",
    "select $body$ ; $$ ; $body$;",
  ].join("\n");
  assert.deepEqual(await sqls(section), [
    "select 'a;b', E'c\\';d', \"we;ird\"",
    "select 1 /* x; y */ + 2",
    "select $$ ; $$",
    "select $body$ ; $$ ; $body$",
  ]);
});

Deno.test("keeps a PL/pgSQL function in one piece", async () => {
  const fn = `create function bump() returns trigger language plpgsql as $fn$
declare
  n int;
begin
  n := 1; -- note;
  new.v := new.v + n;
  return new;
end;
$fn$`;
  const stmts = await splitStatements(
    `${fn};\ncreate trigger t before insert on x for each row execute function bump();`,
  );
  assert.equal(stmts.length, 2);
  assert.equal(stmts[0].sql, fn);
  assert.equal(stmts[1].line, 10);
});

Deno.test("keeps a BEGIN ATOMIC function body in one piece", async () => {
  const fn = `create function two() returns int language sql
begin atomic
  select 1;
  select 2;
end`;
  assert.deepEqual(await sqls(`${fn};\nselect two();`), [fn, "select two()"]);
});

Deno.test("handles multi-byte text before statements (byte vs char offsets)", async () => {
  const section = "-- 中文注释；说明\ninsert into t values ('你好; 世界');\n/* 😀 */ select '表';";
  const stmts = await splitStatements(section);
  assert.deepEqual(stmts.map((s) => [s.sql, s.line]), [
    ["insert into t values ('你好; 世界')", 2],
    ["select '表'", 3],
  ]);
  for (const s of stmts) assert.equal(section.slice(s.offset, s.offset + s.sql.length), s.sql);
});

Deno.test("ignores empty statements", async () => {
  assert.deepEqual(await sqls(";;select 1;;;\n;select 2;;"), ["select 1", "select 2"]);
});

Deno.test("comment-only, whitespace-only and empty sections give no statements", async () => {
  assert.deepEqual(await splitStatements("-- nothing here;\n/* or; here */\n  \n"), []);
  assert.deepEqual(await splitStatements("   \n\t"), []);
  assert.deepEqual(await splitStatements(""), []);
});

Deno.test("syntax errors carry the parser message and the line", async () => {
  // The cursor is in code points: read as UTF-8 bytes or UTF-16 units it would land on line 3.
  const section = "select 1;\n-- 中文 😀😀😀\nselect 2;\nfrm;\nselect 4;";
  const err = await splitStatements(section).then(
    () => assert.fail("expected a syntax error"),
    (e) => e,
  );
  assert.ok(err instanceof SqlSyntaxError);
  assert.equal(err.line, 4);
  assert.match(err.message, /syntax error at or near "frm"/);
});

Deno.test("syntax error at end of input points at the last line", async () => {
  await assert.rejects(
    splitStatements("select 1;\n\nselect * from"),
    (e) => e instanceof SqlSyntaxError && e.line === 3 && /end of input/.test(e.message),
  );
});

Deno.test("unterminated dollar quote is a syntax error on its line", async () => {
  await assert.rejects(
    splitStatements("select 1;\nselect $$ open;\nselect 2;"),
    (e) => e instanceof SqlSyntaxError && e.line === 2,
  );
});

Deno.test("each statement carries its parse-tree node type", async () => {
  const statements = await splitStatements("BEGIN;\nCREATE TABLE t (x int);\nCOMMIT;");
  assert.deepEqual(statements.map((s) => s.kind), [
    "TransactionStmt",
    "CreateStmt",
    "TransactionStmt",
  ]);
});
