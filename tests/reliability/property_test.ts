/**
 * Reliability scenario 10: property tests of the parser and the graph. With a
 * seeded PRNG (the seed is printed; STRATA_PROPERTY_SEED replays a run),
 * random byte strings, random migration texts and random migration folders
 * never crash lib/migration_file.ts (parseMigration) or lib/graph.ts
 * (buildGraph via lib/migration_dir.ts loadMigrations): every case ends in a
 * result that keeps the invariants, or in a StrataError naming a file.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { StrataError } from "../../lib/errors.ts";
import { buildGraph, type Graph } from "../../lib/graph.ts";
import { loadMigrations } from "../../lib/migration_dir.ts";
import {
  checksumOf,
  decodeUtf8,
  type MigrationFile,
  normalize,
  parseMigration,
} from "../../lib/migration_file.ts";
import { prng } from "./support.ts";

const SEED = Number(Deno.env.get("STRATA_PROPERTY_SEED") ?? 20240101);
const BYTE_CASES = 3000;
const TEXT_CASES = 3000;
const FOLDER_CASES = 400;

type Rng = ReturnType<typeof prng>;

/** Fail with everything needed to replay the case. */
function failCase(kind: string, index: number, input: unknown, error: unknown): never {
  assert.fail(
    `${kind} case ${index} (STRATA_PROPERTY_SEED=${SEED}) broke: ${
      (error as Error)?.stack ?? error
    }\ninput: ${JSON.stringify(input).slice(0, 4000)}`,
  );
}

/** A StrataError naming `path` (and a line within the text, when it gives one). */
function assertNamesFile(error: unknown, path: string, lineCount: number): void {
  assert.ok(error instanceof StrataError, `not a StrataError: ${error}`);
  assert.equal(error.file, path, `the error names the file: ${error.located}`);
  if (error.line !== undefined) {
    assert.ok(
      Number.isInteger(error.line) && error.line >= 1 && error.line <= lineCount + 1,
      `line ${error.line} outside 1..${lineCount + 1}: ${error.located}`,
    );
  }
}

/** Invariants of a parsed file. */
function assertParsed(file: MigrationFile, text: string, path: string, id: string): void {
  assert.equal(file.id, id);
  assert.equal(file.path, path);
  assert.equal(file.checksum, checksumOf(normalize(text)));
  assert.match(file.checksum, /^sha256:[0-9a-f]{64}$/);
  const lines = normalize(text).split("\n").length;
  assert.ok(file.up.line >= 2 && file.up.line <= lines + 1, `up.line ${file.up.line}`);
  if (file.down) assert.ok(file.down.line > file.up.line, "down after up");
  assert.ok(file.transaction === "each" || file.transaction === "none");
  // A CRLF or BOM copy is the same revision.
  const twin = parseMigration("\ufeff" + normalize(text).replaceAll("\n", "\r\n"), path, id, null);
  assert.equal(twin.checksum, file.checksum, "CRLF + BOM twin has the same checksum");
  assert.equal(twin.up.sql, file.up.sql);
  assert.equal(twin.up.line, file.up.line);
}

// ---------------------------------------------------------------------------
// Random migration texts from the grammar's own pieces

const SQL = [
  "CREATE TABLE t (id int);",
  "SELECT 1;",
  "INSERT INTO t VALUES ('-- up');",
  "SELECT $$\n-- down\n$$;",
  "/* block */ SELECT 2;",
  "/* open block",
  "*/",
  "DROP TABLE t;",
  "CREATE INDEX CONCURRENTLY i ON t (id);",
  "SELECT 'ü中文';",
];
const PIECES = [
  "-- up",
  "-- down",
  "--UP",
  "  --   Down  ",
  "-- up here",
  "-- message: hello",
  "-- parents: 20240101_0000_a 20240101_0001_b",
  "-- parents:",
  "-- transaction: none",
  "-- transaction: each",
  "-- transaction: sometimes",
  "-- replaces: 20240101_0000_a",
  "-- MESSAGE: twice",
  "-- unknown: key",
  "-- plain comment",
  "/* header",
  "comment */",
  "/* nested /* deeper */ still */",
  "",
  "   ",
  "\t",
  "\r",
  "\ufeff",
  "\u0000",
  ...SQL,
];

const HEADER = PIECES.filter((piece) => piece.startsWith("-- ") && piece.includes(":"));

function randomLine(rng: Rng): string {
  return rng.chance(0.1)
    ? String.fromCodePoint(...Array.from({ length: rng.int(8) }, () => rng.int(0x3000)))
    : rng.pick(PIECES);
}

/** Half the time shaped like a migration (header, -- up, SQL, -- down, SQL) with noise. */
function randomText(rng: Rng): string {
  const lines: string[] = [];
  if (rng.chance(0.5)) {
    for (let i = rng.int(4); i > 0; i--) {
      lines.push(rng.chance(0.8) ? rng.pick(HEADER) : randomLine(rng));
    }
    lines.push(rng.pick(["-- up", "--UP", "  -- Up  "]));
    for (let i = rng.int(5); i > 0; i--) {
      lines.push(rng.chance(0.8) ? rng.pick(SQL) : randomLine(rng));
    }
    if (rng.chance(0.7)) {
      lines.push("-- down");
      for (let i = rng.int(4); i > 0; i--) {
        lines.push(rng.chance(0.8) ? rng.pick(SQL) : randomLine(rng));
      }
    }
  } else {
    for (let i = rng.int(14); i > 0; i--) lines.push(randomLine(rng));
  }
  const eol = rng.chance(0.3) ? "\r\n" : "\n";
  return (rng.chance(0.15) ? "\ufeff" : "") + lines.join(eol) + (rng.chance(0.5) ? eol : "");
}

/** Random bytes, biased towards UTF-8 lead bytes, newlines and marker text. */
function randomBytes(rng: Rng): Uint8Array {
  const encoder = new TextEncoder();
  if (rng.chance(0.4)) {
    // A migration-shaped text with a few bytes changed, inserted or cut off.
    const bytes = [...encoder.encode(randomText(rng))];
    for (let k = rng.int(4); k > 0 && bytes.length > 0; k--) {
      const at = rng.int(bytes.length);
      const roll = rng.int(3);
      if (roll === 0) bytes[at] = rng.int(256);
      else if (roll === 1) bytes.splice(at, 0, rng.int(256));
      else bytes.length = at;
    }
    return new Uint8Array(bytes);
  }
  const parts: number[] = [];
  const n = rng.int(200);
  while (parts.length < n) {
    const roll = rng.int(10);
    if (roll < 3) parts.push(...encoder.encode(rng.pick(PIECES) + "\n"));
    else if (roll < 4) parts.push(rng.pick([0x0a, 0x0d, 0xef, 0xbb, 0xbf, 0xc0, 0xed, 0xf4, 0xff]));
    else parts.push(rng.int(256));
  }
  return new Uint8Array(parts);
}

Deno.test("reliability 10a (property): random byte strings never crash decoding and parsing", () => {
  const rng = prng(SEED);
  let parsed = 0;
  let errors = 0;
  const started = performance.now();
  for (let i = 0; i < BYTE_CASES; i++) {
    const bytes = randomBytes(rng);
    const path = `migrations/case_${i}.sql`;
    const lineCount = bytes.filter((b) => b === 0x0a).length + 1;
    try {
      const text = decodeUtf8(bytes, path);
      assertParsed(
        parseMigration(text, path, `20240101_0000_c${i}`, null),
        text,
        path,
        `20240101_0000_c${i}`,
      );
      parsed++;
    } catch (error) {
      if (error instanceof assert.AssertionError) failCase("bytes", i, [...bytes], error);
      try {
        assertNamesFile(error, path, lineCount);
      } catch (why) {
        failCase("bytes", i, [...bytes], why);
      }
      errors++;
    }
  }
  console.log(
    `  seed ${SEED}: ${BYTE_CASES} byte strings: ${parsed} parsed, ${errors} StrataErrors naming the file, ` +
      `0 crashes (${Math.round(performance.now() - started)} ms)`,
  );
});

Deno.test("reliability 10b (property): random migration texts parse or fail naming file and line", () => {
  const rng = prng(SEED + 1);
  let parsed = 0;
  let errors = 0;
  const started = performance.now();
  for (let i = 0; i < TEXT_CASES; i++) {
    const text = randomText(rng);
    const path = `migrations/01_foundation/case_${i}.sql`;
    const id = `20240101_0000_t${i}`;
    try {
      assertParsed(parseMigration(text, path, id, "01_foundation"), text, path, id);
      parsed++;
    } catch (error) {
      if (error instanceof assert.AssertionError) failCase("text", i, text, error);
      try {
        assertNamesFile(error, path, normalize(text).split("\n").length);
        assert.ok((error as StrataError).line !== undefined, "a file error has a line");
      } catch (why) {
        failCase("text", i, text, why);
      }
      errors++;
    }
  }
  console.log(
    `  seed ${
      SEED + 1
    }: ${TEXT_CASES} texts: ${parsed} parsed, ${errors} StrataErrors with file and line, ` +
      `0 crashes (${Math.round(performance.now() - started)} ms)`,
  );
});

// ---------------------------------------------------------------------------
// Random folders: names, categories, parents (unknown, self, cycles), odd entries

const CATEGORIES = ["01_foundation", "02_core_features", "03_extensions", "04_optimizations"];

function assertGraph(graph: Graph, files: MigrationFile[]): void {
  assert.equal(graph.order.length, files.length, "every revision is in the order once");
  assert.equal(new Set(graph.order).size, files.length);
  for (const id of graph.order) {
    for (const parent of graph.parents.get(id)!) {
      assert.ok(graph.position.get(parent)! < graph.position.get(id)!, `${parent} before ${id}`);
      assert.ok(graph.children.get(parent)!.includes(id));
    }
  }
  const heads = graph.order.filter((id) => graph.children.get(id)!.length === 0);
  assert.deepEqual(graph.heads, heads);
  if (files.length > 0) assert.ok(graph.heads.length >= 1);
}

function randomFolder(rng: Rng, root: string): string[] {
  const made: string[] = [];
  const ids: string[] = [];
  const count = rng.int(9);
  for (let i = 0; i < count; i++) {
    const id = rng.chance(0.05) && ids.length > 0
      ? rng.pick(ids) // a duplicate id, maybe in another folder
      : `2024${String(1 + rng.int(12)).padStart(2, "0")}${
        String(1 + rng.int(28)).padStart(2, "0")
      }_${String(rng.int(2400)).padStart(4, "0")}_${rng.pick(["a", "b", "ü", "中文", "x_1"])}${i}`;
    ids.push(id);
    const name = rng.chance(0.05) ? `bad name ${i}.sql` : `${id}.sql`;
    const folder = rng.chance(0.5) ? join(root, rng.pick(CATEGORIES)) : root;
    Deno.mkdirSync(folder, { recursive: true });
    const path = join(folder, name);
    if (made.includes(path)) continue;
    made.push(path);
    const roll = rng.int(60);
    if (roll === 0) {
      Deno.mkdirSync(path, { recursive: true }); // a directory named .sql
      continue;
    }
    if (roll === 1) {
      Deno.symlinkSync(join(root, "nowhere"), path); // dangling
      continue;
    }
    if (roll === 2) {
      Deno.writeFileSync(path, randomBytes(rng));
      continue;
    }
    let parents: string | null;
    const p = rng.int(24);
    if (p < 8) parents = null; // implicit
    else if (p < 10) parents = "";
    else if (p === 10) parents = "20200101_0000_unknown";
    else if (p === 11) parents = id; // itself
    else {
      // Earlier ids, and now and then a later one (which can close a cycle).
      const pool = rng.chance(0.1) ? ids : ids.slice(0, -1);
      parents = pool.length === 0
        ? ""
        : Array.from({ length: 1 + rng.int(2) }, () => rng.pick(pool)).join(" ");
    }
    const header = [
      `-- message: case ${i}`,
      ...(parents === null ? [] : [`-- parents: ${parents}`]),
      ...(rng.chance(0.2) ? ["-- transaction: none"] : []),
    ];
    const body = rng.chance(0.05) ? randomText(rng) : "-- up\nSELECT 1;\n-- down\nSELECT 1;\n";
    Deno.writeTextFileSync(path, `${header.join("\n")}\n${body}`);
  }
  if (rng.chance(0.2)) Deno.writeTextFileSync(join(root, "README.txt"), "not a migration");
  if (rng.chance(0.2)) {
    Deno.mkdirSync(join(root, ".hidden"), { recursive: true });
    Deno.writeTextFileSync(join(root, ".hidden", "20240101_0000_h.sql"), "garbage");
  }
  return made;
}

Deno.test("reliability 10c (property): random migration folders load into a sound graph or fail naming a file", async () => {
  const rng = prng(SEED + 2);
  const base = await Deno.makeTempDir({ prefix: "strata-property-" });
  let graphs = 0;
  let errors = 0;
  let files = 0;
  const started = performance.now();
  try {
    for (let i = 0; i < FOLDER_CASES; i++) {
      const root = join(base, `case_${i}`);
      Deno.mkdirSync(root);
      const made = randomFolder(rng, root);
      files += made.length;
      let loaded: MigrationFile[] | undefined;
      try {
        loaded = await loadMigrations(root);
        assertGraph(buildGraph(loaded), loaded);
        graphs++;
      } catch (error) {
        const listing = made.map((path) => path.slice(root.length + 1));
        if (error instanceof assert.AssertionError) failCase("folder", i, listing, error);
        try {
          assert.ok(error instanceof StrataError, `not a StrataError: ${error}`);
          assert.ok(error.file, `the error names no file: ${error.message}`);
          assert.ok(
            made.includes(error.file!),
            `the error names ${error.file}, which is not one of the folder's files`,
          );
        } catch (why) {
          failCase("folder", i, listing, why);
        }
        errors++;
      }
    }
  } finally {
    await Deno.remove(base, { recursive: true });
  }
  console.log(
    `  seed ${SEED + 2}: ${FOLDER_CASES} folders (${files} entries): ${graphs} sound graphs, ` +
      `${errors} StrataErrors naming a file, 0 crashes (${
        Math.round(performance.now() - started)
      } ms)`,
  );
});
