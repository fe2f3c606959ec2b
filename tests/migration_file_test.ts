import assert from "node:assert/strict";
import type { StrataError } from "../lib/errors.ts";
import { checksumOf, decodeUtf8, normalize, parseMigration } from "../lib/migration_file.ts";
import { errorOf } from "./helpers.ts";

const PATH = "migrations/20241220_0900_add_avatar.sql";
const ID = "20241220_0900_add_avatar";

function parse(text: string, category: string | null = null) {
  return parseMigration(text, PATH, ID, category);
}

function assertFileError(fn: () => unknown, line: number, file = PATH): StrataError {
  const error = errorOf(fn);
  assert.equal(error.code, "FILE");
  assert.equal(error.file, file);
  assert.equal(error.line, line);
  return error;
}

const SHA256_EMPTY = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const SHA256_ABC = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

// ---------------------------------------------------------------- parsing

Deno.test("parses header directives and both sections with their lines", () => {
  const text = [
    "-- message: Add user avatar",
    "-- parents: 20241219_1400_user_system",
    "-- up",
    "ALTER TABLE users ADD COLUMN avatar_url text;",
    "-- down",
    "ALTER TABLE users DROP COLUMN avatar_url;",
    "",
  ].join("\n");
  const file = parse(text, "02_core_features");
  assert.equal(file.id, ID);
  assert.equal(file.path, PATH);
  assert.equal(file.category, "02_core_features");
  assert.equal(file.message, "Add user avatar");
  assert.deepEqual(file.parents, ["20241219_1400_user_system"]);
  assert.equal(file.parentsLine, 2);
  assert.equal(file.transaction, "each");
  assert.deepEqual(file.replaces, []);
  assert.deepEqual(file.up, { sql: "ALTER TABLE users ADD COLUMN avatar_url text;", line: 4 });
  assert.deepEqual(file.down, { sql: "ALTER TABLE users DROP COLUMN avatar_url;\n", line: 6 });
  assert.equal(file.checksum, checksumOf(text));
});

Deno.test("an absent parents line is null (implicit parent), an empty one is a root", () => {
  const absent = parse("-- message: x\n-- up\nselect 1;\n");
  assert.equal(absent.parents, null);
  assert.equal(absent.parentsLine, undefined);
  assert.equal(absent.message, "x");

  const root = parse("-- parents:\n-- up\nselect 1;\n");
  assert.deepEqual(root.parents, []);
  assert.equal(root.parentsLine, 1);

  const blank = parse("-- parents:    \n-- up\nselect 1;\n");
  assert.deepEqual(blank.parents, []);
});

Deno.test("parents are space separated, any amount of whitespace", () => {
  const file = parse(
    "-- message: merge\n\n-- parents:   20240101_0100_a\t 20240101_0200_b  \n-- up\n-- down\n",
  );
  assert.deepEqual(file.parents, ["20240101_0100_a", "20240101_0200_b"]);
  assert.equal(file.parentsLine, 3);
});

Deno.test("the message directive is optional and trimmed", () => {
  assert.equal(parse("-- up\nselect 1;\n").message, "");
  assert.equal(parse("--   message:   Spaced out   \n-- up\nselect 1;\n").message, "Spaced out");
  assert.equal(parse("-- message: 添加用户头像\n-- up\nselect 1;\n").message, "添加用户头像");
});

Deno.test("directive keys are case-insensitive", () => {
  const file = parse("-- Message: hi\n-- PARENTS: 20240101_0100_a\n-- Transaction: NONE\n-- up\n");
  assert.equal(file.message, "hi");
  assert.deepEqual(file.parents, ["20240101_0100_a"]);
  assert.equal(file.transaction, "none");
});

Deno.test("up and down markers accept any case and spacing", () => {
  const file = parse("  --UP  \nselect 1;\n\t-- \t Down\t\nselect 2;\n");
  assert.deepEqual(file.up, { sql: "select 1;", line: 2 });
  assert.deepEqual(file.down, { sql: "select 2;\n", line: 4 });
});

Deno.test("a marker-like line with more text is not a marker", () => {
  const file = parse("-- up\n-- upgrade note\nselect 1;\n-- down here\n");
  assert.equal(file.down, null);
  assert.equal(file.up.sql, "-- upgrade note\nselect 1;\n-- down here\n");
});

Deno.test("transaction: none is read; each is the default", () => {
  assert.equal(parse("-- up\nselect 1;\n").transaction, "each");
  assert.equal(parse("-- transaction: each\n-- up\nselect 1;\n").transaction, "each");
  assert.equal(
    parse("-- transaction: none\n-- up\nCREATE INDEX CONCURRENTLY i ON t (c);\n").transaction,
    "none",
  );
});

Deno.test("replaces lists the revisions a baseline stands for", () => {
  const file = parse(
    "-- message: baseline\n-- parents:\n-- replaces: 20240101_0100_a 20240101_0200_b\n-- up\n" +
      "select 1;\n-- down\nselect 2;\n",
  );
  assert.deepEqual(file.replaces, ["20240101_0100_a", "20240101_0200_b"]);
});

Deno.test("comments with unknown keys and plain comments in the header are comments", () => {
  const file = parse(
    "-- author: bob\n-- A free comment: with a colon\n\n/* a block comment */\n-- message: m\n" +
      "-- up\nselect 1;\n",
  );
  assert.equal(file.message, "m");
  assert.equal(file.parents, null);
  assert.equal(file.up.line, 7);
});

Deno.test("a block comment spanning several header lines is a comment", () => {
  const file = parse("/*\n  Adds the avatar column.\n*/\n-- message: m\n-- up\nselect 1;\n");
  assert.equal(file.message, "m");
  assert.equal(file.up.line, 6);
});

Deno.test("directive-like lines after -- up belong to the SQL", () => {
  const file = parse("-- message: real\n-- up\n-- message: not a directive\nselect 1;\n");
  assert.equal(file.message, "real");
  assert.equal(file.up.sql, "-- message: not a directive\nselect 1;\n");
});

Deno.test("a missing, empty or comment-only down section makes the revision irreversible", () => {
  assert.equal(parse("-- up\nselect 1;\n").down, null);
  assert.equal(parse("-- up\nselect 1;\n-- down\n").down, null);
  assert.equal(parse("-- up\nselect 1;\n-- down\n\n   \n").down, null);
  assert.equal(parse("-- up\nselect 1;\n-- down\n-- nothing to undo\n/* really */\n").down, null);
});

Deno.test("an empty up with an empty down (a merge point) stays reversible", () => {
  const file = parse(
    "-- message: merge\n-- parents: 20240101_0100_a 20240101_0200_b\n-- up\n-- down\n",
  );
  assert.deepEqual(file.up, { sql: "", line: 4 });
  assert.deepEqual(file.down, { sql: "", line: 5 });
});

Deno.test("a down that is only the line -- noop is a reversible no-op", () => {
  for (const down of ["-- noop\n", "  --noop  \n\n", "-- NOOP"]) {
    const file = parse(`-- up\nINSERT INTO t VALUES (1);\n-- down\n${down}`);
    assert.ok(file.down, JSON.stringify(down));
  }
  // Anything else beside it is a comment-only down: irreversible.
  assert.equal(parse("-- up\nINSERT INTO t VALUES (1);\n-- down\n-- noop\n-- really\n").down, null);
  assert.equal(parse("-- up\nINSERT INTO t VALUES (1);\n-- down\n-- noop here\n").down, null);
});

Deno.test("CRLF files parse like LF files, lines unchanged", () => {
  const lf = "-- message: m\n-- up\nselect 1;\n-- down\nselect 2;\n";
  const crlf = lf.replaceAll("\n", "\r\n");
  const a = parse(lf);
  const b = parse(crlf);
  assert.deepEqual(b.up, a.up);
  assert.deepEqual(b.down, a.down);
  assert.equal(b.message, "m");
  assert.equal(b.checksum, a.checksum);
});

Deno.test("a UTF-8 BOM is ignored by parser and checksum", () => {
  const text = "-- message: m\n-- up\nselect 1;\n";
  const withBom = "\ufeff" + text;
  const file = parse(withBom);
  assert.equal(file.message, "m");
  assert.equal(file.checksum, parse(text).checksum);
  assert.equal(
    parse("\ufeff-- up\r\nselect 1;\r\n").checksum,
    parse("-- up\nselect 1;\n").checksum,
  );
});

Deno.test("the checksum covers the whole file: header edits change it", () => {
  const base = parse("-- message: a\n-- up\nselect 1;\n");
  assert.notEqual(parse("-- message: b\n-- up\nselect 1;\n").checksum, base.checksum);
  assert.notEqual(parse("-- message: a\n-- up\nselect 1; \n").checksum, base.checksum);
  assert.notEqual(parse("-- message: a\n-- up\nselect 1;").checksum, base.checksum);
  assert.match(base.checksum, /^sha256:[0-9a-f]{64}$/);
});

// ---------------------------------------------------------------- errors

Deno.test("no -- up marker: FILE error at the last line", () => {
  assertFileError(() => parse("-- message: m\n-- parents:\n"), 2);
  assertFileError(() => parse("-- message: m"), 1);
});

Deno.test("an empty file has no -- up marker: FILE error at line 1", () => {
  assertFileError(() => parse(""), 1);
});

Deno.test("SQL before -- up: FILE error at that line", () => {
  assertFileError(() => parse("-- message: m\n\nCREATE TABLE t ();\n-- up\nselect 1;\n"), 3);
});

Deno.test("a second -- up marker: FILE error at the second one", () => {
  assertFileError(() => parse("-- up\nselect 1;\n\n-- UP\nselect 2;\n"), 4);
});

Deno.test("a second -- down marker: FILE error at the second one", () => {
  assertFileError(() => parse("-- up\nselect 1;\n-- down\nselect 2;\n-- down\n"), 5);
});

Deno.test("-- down before -- up: FILE error at the down marker", () => {
  assertFileError(() => parse("-- message: m\n-- down\nselect 2;\n-- up\nselect 1;\n"), 2);
});

Deno.test("-- up after -- down: FILE error at the up marker", () => {
  assertFileError(() => parse("-- up\nselect 1;\n-- down\nselect 2;\n-- up\n"), 5);
});

Deno.test("a directive given twice: FILE error at the second one", () => {
  assertFileError(() => parse("-- message: a\n-- parents:\n-- message: b\n-- up\n"), 3);
  assertFileError(() => parse("-- parents: x\n-- Parents: y\n-- up\n"), 2);
});

Deno.test("an unknown transaction mode: FILE error at the directive", () => {
  assertFileError(() => parse("-- message: m\n-- transaction: sometimes\n-- up\nselect 1;\n"), 2);
});

Deno.test("error lines count CRLF lines like LF lines", () => {
  assertFileError(() => parse("\ufeff-- message: m\r\n\r\nselect 1;\r\n-- up\r\n"), 3);
});

Deno.test("errors carry the path they were given", () => {
  const other = "migrations/01_foundation/20240101_0100_x.sql";
  assertFileError(
    () => parseMigration("select 1;\n", other, "20240101_0100_x", "01_foundation"),
    1,
    other,
  );
});

// ---------------------------------------------------------------- normalize / checksumOf

Deno.test("normalize drops a leading BOM and turns CRLF into LF", () => {
  assert.equal(normalize("\ufeffa\r\nb\r\n"), "a\nb\n");
  assert.equal(normalize("a\nb"), "a\nb");
  assert.equal(normalize(""), "");
  // Only a leading BOM is dropped; a lone CR is not a line break to convert.
  assert.equal(normalize("a\ufeffb"), "a\ufeffb");
  assert.equal(normalize("a\rb"), "a\rb");
  assert.equal(normalize("\ufeff\ufeffx"), "\ufeffx");
});

Deno.test("checksumOf is sha256:<hex> of the UTF-8 text", () => {
  assert.equal(checksumOf(""), SHA256_EMPTY);
  assert.equal(checksumOf("abc"), SHA256_ABC);
  // Non-ASCII text is hashed as UTF-8 bytes.
  assert.equal(checksumOf("ü"), checksumOf("\u00fc"));
  assert.notEqual(checksumOf("ü"), checksumOf("u\u0308"));
});

// ---------------------------------------------------------------- decodeUtf8

const enc = (s: string) => new TextEncoder().encode(s);
const bytes = (...parts: Array<string | number[]>) =>
  new Uint8Array(parts.flatMap((p) => typeof p === "string" ? [...enc(p)] : p));

Deno.test("decodeUtf8 decodes valid UTF-8, any script", () => {
  assert.equal(decodeUtf8(enc("-- message: 添加 ü 🙂\n"), PATH), "-- message: 添加 ü 🙂\n");
  assert.equal(decodeUtf8(new Uint8Array(), PATH), "");
});

Deno.test("decodeUtf8: an invalid byte is a FILE error naming its line", () => {
  assertFileError(
    () => decodeUtf8(bytes("-- up\n", "select 1;\n", "select '", [0xe9], "';\n"), PATH),
    3,
  );
  assertFileError(() => decodeUtf8(bytes([0xff], "\n"), PATH), 1);
  assertFileError(() => decodeUtf8(bytes("a\nb\nc\nd", [0x80]), PATH), 4);
});

Deno.test("decodeUtf8: a truncated sequence at the end names the last line", () => {
  assertFileError(() => decodeUtf8(bytes("a\n\nselect '", [0xe6, 0xb7]), PATH), 3);
});

Deno.test("decodeUtf8: an overlong encoding names its line", () => {
  assertFileError(() => decodeUtf8(bytes("a\nb ", [0xc0, 0xaf]), PATH), 2);
  assertFileError(() => decodeUtf8(bytes("a\nb\nc ", [0xe0, 0x80, 0xaf]), PATH), 3);
});

Deno.test("decodeUtf8: an encoded surrogate (CESU-8) names its line", () => {
  assertFileError(() => decodeUtf8(bytes("a\nb\nc ", [0xed, 0xa0, 0x80]), PATH), 3);
});

Deno.test("decodeUtf8: a code point past U+10FFFF names its line", () => {
  assertFileError(() => decodeUtf8(bytes("a\nb ", [0xf4, 0x90, 0x80, 0x80]), PATH), 2);
});
