/**
 * The pre-check that decides whether an each-mode section needs the parser:
 * PL/pgSQL bodies, strings and comments never count; a top-level transaction
 * statement always does.
 */
import assert from "node:assert/strict";
import { mayControlTransactions } from "../lib/sql_scan.ts";
import { splitStatements } from "../lib/sql_split.ts";

const PLPGSQL = `CREATE OR REPLACE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.updated_at := now();
  IF NEW.state = 'done' THEN
    BEGIN
      PERFORM 1;
    EXCEPTION WHEN others THEN
      NULL;
    END;
  END IF;
  RETURN NEW;
END;
$$;
CREATE FUNCTION tagged() RETURNS void LANGUAGE plpgsql AS $body$
BEGIN
  COMMIT;
END
$body$;
DO $do$
BEGIN
  ROLLBACK;
END $do$;
SELECT 'x;
BEGIN' AS s, E'it\\'s; END' AS e, "weird;
END" FROM (SELECT 1) AS "q;BEGIN";
-- COMMIT;
/* nested /* ROLLBACK; */ still a comment;
END; */
SELECT CASE WHEN true THEN 1 END;
SELECT $1;
`;

Deno.test("PL/pgSQL bodies, DO blocks, strings and comments are not transaction control", () => {
  assert.equal(mayControlTransactions(PLPGSQL), false);
});

Deno.test("every top-level transaction statement is seen", () => {
  for (
    const sql of [
      "BEGIN;",
      "CREATE TABLE a (x int);\ncommit;",
      "SELECT 1; END",
      "SELECT 1;\n  -- comment\n  Rollback and chain;",
      "SELECT 'a' ; /* c */ START TRANSACTION;",
      "ABORT",
      "SELECT 1;SAVEPOINT s",
      "SELECT 1; RELEASE s;",
      "PREPARE TRANSACTION 'x';",
      `${PLPGSQL}COMMIT AND CHAIN;`,
      "SELECT E'\\\\'; BEGIN;",
      "SELECT $$a$$; COMMIT;",
    ]
  ) {
    assert.equal(mayControlTransactions(sql), true, sql);
  }
});

Deno.test("the pre-check never misses what the parser finds", async () => {
  // The parser is the authority; the pre-check may say "maybe" but never "no" to a hit.
  const samples = [
    PLPGSQL,
    "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END;",
    "UPDATE t SET v = 1; COMMIT AND CHAIN; CREATE INDEX i ON t (v);",
    "SELECT U&'d\\0061t;a'; END;",
    "SELECT a$b$c FROM t; BEGIN;",
  ];
  for (const sql of samples) {
    const parsed = (await splitStatements(sql)).some((statement) => statement.control);
    if (parsed) assert.equal(mayControlTransactions(sql), true, sql);
  }
});
