/**
 * Sorting schema differences: what counts as only a comment, only a
 * function's text, or structural. Pure functions over snapshot objects; the
 * end-to-end cases on a real database are in verify_test.ts.
 */
import assert from "node:assert/strict";
import { classifyChange, classifyDiff, normaliseRoutine } from "../lib/schema/classify.ts";
import type { Change, SchemaDiff } from "../lib/schema/diff.ts";
import type { SchemaObject } from "../lib/schema/snapshot.ts";

const object = (
  kind: SchemaObject["kind"],
  definition: string,
  comment: string | null = null,
): SchemaObject => ({ kind, name: "public.x", definition, comment });

const change = (before: SchemaObject, after: SchemaObject): Change => ({
  kind: before.kind,
  name: before.name,
  before,
  after,
});

const FN = "CREATE OR REPLACE FUNCTION public.f() RETURNS int LANGUAGE plpgsql AS $function$";

Deno.test("normaliseRoutine drops comments and spacing but keeps quoted text", () => {
  assert.equal(
    normaliseRoutine(
      `${FN}\nBEGIN\n  RETURN 1 + 2; -- three\n  /* a /* nested */ note */\nEND\n$function$`,
    ),
    normaliseRoutine(`${FN} BEGIN RETURN 1+2; END $function$`),
  );
  assert.notEqual(normaliseRoutine("SELECT 'a  b'"), normaliseRoutine("SELECT 'a b'"));
  assert.notEqual(normaliseRoutine('SELECT "a  b"'), normaliseRoutine('SELECT "a b"'));
  // A "--" inside a string is data, not a comment.
  assert.notEqual(normaliseRoutine("SELECT '--x' || y"), normaliseRoutine("SELECT '--x'"));
  // Words stay apart; an escaped quote does not end an E'' string.
  assert.notEqual(normaliseRoutine("RETURN x"), normaliseRoutine("RETURNx"));
  assert.equal(normaliseRoutine("SELECT E'it\\'s  -- a'  ;"), "SELECT E'it\\'s  -- a';");
});

Deno.test("classifyChange: comment only, function text only, structural", () => {
  assert.equal(
    classifyChange(change(object("table", "TABLE", "all"), object("table", "TABLE", null))),
    "comment",
  );
  const body = (text: string) => object("function", `${FN}${text}$function$`);
  assert.equal(
    classifyChange(
      change(body("\nBEGIN\n  RETURN 1; -- one\nEND\n"), body(" BEGIN RETURN 1; END ")),
    ),
    "function-text",
  );
  assert.equal(
    classifyChange(change(body(" BEGIN RETURN 1; END "), body(" BEGIN RETURN 2; END "))),
    "structural",
  );
  // Only functions have a text to reformat: a column that differs in spacing differs.
  assert.equal(
    classifyChange(change(object("column", "text"), object("column", "text  NOT NULL"))),
    "structural",
  );
});

Deno.test("classifyDiff takes the most serious change; anything added or removed is structural", () => {
  const comment = change(object("table", "TABLE", "a"), object("table", "TABLE"));
  const text = change(
    object("function", `${FN} SELECT 1 $function$`),
    object("function", `${FN}\n  SELECT 1\n$function$`),
  );
  const diff = (d: Partial<SchemaDiff>): SchemaDiff => ({
    added: [],
    removed: [],
    changed: [],
    ...d,
  });
  assert.equal(classifyDiff(diff({ changed: [comment] })), "comment");
  assert.equal(classifyDiff(diff({ changed: [comment, text] })), "function-text");
  assert.equal(
    classifyDiff(diff({ changed: [comment], added: [object("index", "CREATE INDEX")] })),
    "structural",
  );
  assert.equal(classifyDiff(diff({ removed: [object("table", "TABLE")] })), "structural");
});
