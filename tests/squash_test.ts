/**
 * `clean`'s squash as a library: planSquash on generated graphs (what is
 * replaced and kept, the baseline's text, every refusal) and proveBaseline
 * on scratch databases of both engines, including a deliberately wrong
 * baseline that the proof must catch and name.
 */
import assert from "node:assert/strict";
import { buildGraph, type Graph } from "../lib/graph.ts";
import type { StrataError } from "../lib/errors.ts";
import { ledgerNames, type LedgerRow } from "../lib/ledger.ts";
import { lintRevision } from "../lib/lint/lint.ts";
import { checksumOf, type MigrationFile, parseMigration } from "../lib/migration_file.ts";
import { formatDiff } from "../lib/schema/diff.ts";
import { embeddedScratch, type ScratchDatabases, serverScratch } from "../lib/schema/scratch.ts";
import { splitStatements } from "../lib/sql_split.ts";
import { planSquash, proveBaseline, type SquashPlan } from "../lib/squash.ts";
import { compareState } from "../lib/state.ts";
import { rejection, SERVER_URL, serverReachable } from "./helpers.ts";

const DIR = "migrations";
const options = { sanitizeOps: false, sanitizeResources: false };

// ---------------------------------------------------------------------------
// Generated graphs

interface Spec {
  id: string;
  /** Explicit parents (space separated), or undefined for no parents line. */
  parents?: string;
  up?: string;
  /** null: no down section (irreversible). */
  down?: string | null;
  transaction?: "none";
  category?: string;
  message?: string;
}

function fileText(spec: Spec): string {
  const header = [
    spec.message === undefined ? `-- message: ${spec.id}` : `-- message: ${spec.message}`,
    spec.parents === undefined ? null : `-- parents: ${spec.parents}`,
    spec.transaction ? `-- transaction: ${spec.transaction}` : null,
  ].filter((line) => line !== null).join("\n");
  const up = spec.up ?? `CREATE TABLE t_${tail(spec.id)} (id int);`;
  const down = spec.down === undefined ? `DROP TABLE t_${tail(spec.id)};` : spec.down;
  return `${header}\n-- up\n${up}\n${down === null ? "" : `-- down\n${down}\n`}`;
}

const tail = (id: string) => id.slice(id.lastIndexOf("_") + 1);

function file(spec: Spec): MigrationFile {
  const category = spec.category ?? null;
  const path = category ? `${DIR}/${category}/${spec.id}.sql` : `${DIR}/${spec.id}.sql`;
  return parseMigration(fileText(spec), path, spec.id, category);
}

function graphOf(specs: Spec[]): Graph {
  return buildGraph(specs.map(file).sort((a, b) => (a.id < b.id ? -1 : 1)));
}

const idOf = (n: number) =>
  `202401${String(n).padStart(2, "0")}_0900_r${String(n).padStart(2, "0")}`;

/** n revisions in a straight line, each with an explicit parents line (as `strata create` writes). */
function lineSpecs(n: number, tweak: (spec: Spec, i: number) => Spec = (s) => s): Spec[] {
  return Array.from({ length: n }, (_, i) =>
    tweak({
      id: idOf(i + 1),
      parents: i === 0 ? "" : idOf(i),
    }, i + 1));
}

const ids = (files: MigrationFile[]) => files.map((f) => f.id);

async function planOf(graph: Graph, keep: number): Promise<SquashPlan> {
  const plan = await planSquash(graph, keep, DIR);
  assert.ok(plan, `expected a plan for keep ${keep}`);
  return plan;
}

/** The SquashPlan's refusal; fails when planSquash plans or fails otherwise. */
async function refusal(graph: Graph, keep: number): Promise<StrataError> {
  const error = await rejection(planSquash(graph, keep, DIR));
  assert.equal(error.code, "USAGE", `a refusal is a usage error (exit 2): ${error.message}`);
  return error;
}

/** 1-based line in `text` of the first line containing `fragment`. */
function lineOf(text: string, fragment: string): number {
  const at = text.split("\n").findIndex((line) => line.includes(fragment));
  assert.ok(at >= 0, `"${fragment}" not in:\n${text}`);
  return at + 1;
}

function ledgerRows(revisions: string[]): LedgerRow[] {
  return revisions.map((revision) => ({
    revision,
    parents: "",
    checksum: "sha256:whatever",
    applied_at: new Date(0),
    applied_by: "test",
    duration_ms: 1,
    strata_version: "test",
  }));
}

// ---------------------------------------------------------------------------
// planSquash

Deno.test("planSquash: nothing to squash gives null", async () => {
  const graph = graphOf(lineSpecs(5));
  for (const keep of [4, 5, 6, 10]) {
    assert.equal(await planSquash(graph, keep, DIR), null, `keep ${keep} of 5`);
  }
  assert.equal(await planSquash(buildGraph([]), 0, DIR), null, "an empty folder");
  assert.equal(await planSquash(graphOf(lineSpecs(1)), 0, DIR), null, "one revision");
  // Two revisions are the least a baseline stands for.
  const plan = await planOf(graph, 3);
  assert.deepEqual(ids(plan.replaced), [idOf(1), idOf(2)]);
  const all = await planOf(graph, 0);
  assert.deepEqual(ids(all.replaced), lineSpecs(5).map((s) => s.id));
  assert.deepEqual(all.kept, []);
});

Deno.test("planSquash: the oldest revisions are replaced, the newest N kept", async () => {
  const graph = graphOf(
    lineSpecs(10, (s, i) => (i <= 4 ? { ...s, category: "01_foundation" } : s)),
  );
  const plan = await planOf(graph, 3);
  assert.deepEqual(ids(plan.replaced), [1, 2, 3, 4, 5, 6, 7].map(idOf));
  assert.deepEqual(ids(plan.kept), [8, 9, 10].map(idOf));
  assert.equal(plan.baseline.id, `${idOf(7)}_baseline`);
  // It goes where the oldest replaced revision sits.
  assert.equal(plan.relativePath, `01_foundation/${idOf(7)}_baseline.sql`);
  assert.equal(plan.baseline.path, `${DIR}/01_foundation/${idOf(7)}_baseline.sql`);
  assert.equal(plan.baseline.category, "01_foundation");
  assert.deepEqual(plan.baseline.parents, [], "a baseline is a root");
  assert.equal(plan.baseline.transaction, "each");
  assert.deepEqual(plan.irreversible, []);
  // The baseline is exactly the text that will be written.
  assert.deepEqual(
    plan.baseline,
    parseMigration(plan.text, plan.baseline.path, plan.baseline.id, "01_foundation"),
  );
  assert.equal(plan.baseline.checksum, checksumOf(plan.text));

  // The squashed folder is a sound graph: the first kept revision follows the baseline.
  const after = buildGraph([plan.baseline, ...plan.kept]);
  assert.deepEqual(after.order, [plan.baseline.id, ...ids(plan.kept)]);
  assert.deepEqual(after.parents.get(idOf(8)), [plan.baseline.id]);
  assert.equal(after.replacedBy.get(idOf(3)), plan.baseline.id);
});

Deno.test("planSquash: replaces lists the ids in order, ups in order, downs in reverse", async () => {
  const graph = graphOf(lineSpecs(6, (s, i) => ({
    ...s,
    message: `step ${i}`,
    up: `CREATE TABLE up_${i} (id int);\nCOMMENT ON TABLE up_${i} IS 'step ${i}';`,
    down: `DROP TABLE up_${i};`,
  })));
  const plan = await planOf(graph, 2);
  const replaced = [1, 2, 3, 4].map(idOf);
  assert.deepEqual(plan.baseline.replaces, replaced);
  assert.match(plan.text, new RegExp(`^-- replaces: ${replaced.join(" ")}$`, "m"));
  assert.match(plan.text, /^-- parents:\s*$/m);
  assert.match(plan.text, /^-- message: .*4 revisions/m);

  const up = plan.baseline.up.sql;
  const ups = [1, 2, 3, 4].map((i) => up.indexOf(`CREATE TABLE up_${i} (id int);`));
  assert.ok(ups.every((at) => at >= 0), up);
  assert.deepEqual([...ups].sort((a, b) => a - b), ups, `ups out of order:\n${up}`);
  assert.ok(up.indexOf("COMMENT ON TABLE up_1") < up.indexOf("CREATE TABLE up_2"), up);
  assert.ok(!up.includes("up_5") && !up.includes("up_6"), "a kept revision's SQL is not in it");

  assert.ok(plan.baseline.down, "all four have a down: the baseline has one");
  const down = plan.baseline.down.sql;
  const downs = [4, 3, 2, 1].map((i) => down.indexOf(`DROP TABLE up_${i};`));
  assert.ok(downs.every((at) => at >= 0), down);
  assert.deepEqual([...downs].sort((a, b) => a - b), downs, `downs not reversed:\n${down}`);
  assert.ok(!down.includes("CREATE TABLE"), "no up SQL in the down section");

  const statements = await splitStatements(up);
  assert.equal(statements.length, 8, "every replaced statement, nothing more");
  assert.equal((await splitStatements(down)).length, 4);
});

Deno.test("planSquash: a revision without a down makes the baseline irreversible", async () => {
  const graph = graphOf(lineSpecs(6, (s, i) => (i === 3 ? { ...s, down: null } : s)));
  const plan = await planOf(graph, 2);
  assert.deepEqual(plan.irreversible, [idOf(3)]);
  assert.equal(plan.baseline.down, null);
  assert.doesNotMatch(plan.text, /^\s*--\s*down\s*$/im);
  assert.ok(plan.text.includes(idOf(3)));
  // A revision past the range has no say.
  const later = graphOf(lineSpecs(6, (s, i) => (i === 6 ? { ...s, down: null } : s)));
  const reversible = await planOf(later, 2);
  assert.deepEqual(reversible.irreversible, []);
  assert.ok(reversible.baseline.down);
});

Deno.test("planSquash: revisions whose downs are all -- noop give a -- noop baseline down", async () => {
  const noop = (s: Spec) => ({ ...s, up: `INSERT INTO log VALUES ('${s.id}');`, down: "-- noop" });
  const graph = graphOf(lineSpecs(5, (s, i) => (i <= 3 ? noop(s) : s)));
  const plan = await planOf(graph, 2);
  assert.deepEqual(plan.irreversible, []);
  assert.ok(plan.baseline.down, plan.text);
  assert.match(plan.text, /^-- down\n-- noop\n$/m);
});

/**
 *  r01 ┬ main ─────┬ merge - late - k06 - k07
 *      └ feat ─────┘
 * feat's id is the newest of the range, so graph order (r01 main feat merge late) is not id order.
 */
const MERGED: Spec[] = [
  { id: "20240101_0900_r01", parents: "" },
  { id: "20240102_0900_main", parents: "20240101_0900_r01" },
  { id: "20240105_0900_feat", parents: "20240101_0900_r01" },
  {
    id: "20240103_0900_merge",
    parents: "20240102_0900_main 20240105_0900_feat",
    up: "",
    down: "",
  },
  { id: "20240104_0900_late", parents: "20240103_0900_merge" },
  { id: "20240106_0900_k06", parents: "20240104_0900_late" },
  { id: "20240107_0900_k07", parents: "20240106_0900_k06" },
];

Deno.test("planSquash: a merge inside the range squashes, in graph order", async () => {
  const graph = graphOf(MERGED);
  const plan = await planOf(graph, 2);
  const range = ["r01", "main", "feat", "merge", "late"];
  assert.deepEqual(
    ids(plan.replaced),
    range.map((slug) => MERGED.find((s) => s.id.endsWith(slug))!.id),
  );
  assert.deepEqual(plan.baseline.replaces, ids(plan.replaced));
  // Named after the newest id it replaces, so it sorts where that one did.
  assert.equal(plan.baseline.id, "20240105_0900_feat_baseline");
  assert.deepEqual(plan.baseline.parents, []);
  const froms = [...plan.baseline.up.sql.matchAll(/^-- from ([^\s:]+)/gm)].map((m) => m[1]);
  assert.deepEqual(froms, ids(plan.replaced), "ups in graph order");
  const downs = [...plan.baseline.down!.sql.matchAll(/^-- from ([^\s:]+)/gm)].map((m) => m[1]);
  assert.deepEqual(downs, ids(plan.replaced).reverse(), "downs in reverse graph order");
  const after = buildGraph([plan.baseline, ...plan.kept].sort((a, b) => (a.id < b.id ? -1 : 1)));
  assert.deepEqual(after.order, [plan.baseline.id, ...ids(plan.kept)]);
  assert.deepEqual(after.parents.get("20240106_0900_k06"), [plan.baseline.id]);

  // A second root merged inside the range: the baseline is the one root.
  const roots = graphOf([
    { id: "20240101_0900_a", parents: "" },
    { id: "20240101_0900_b", parents: "" },
    { id: "20240102_0900_merge", parents: "20240101_0900_a 20240101_0900_b", up: "", down: "" },
    { id: idOf(3), parents: "20240102_0900_merge" },
    { id: idOf(4), parents: idOf(3) },
  ]);
  const rooted = await planOf(roots, 1);
  assert.deepEqual(rooted.baseline.parents, []);
  assert.equal(rooted.replaced.length, 4);
});

Deno.test("planSquash: a kept merge of every head of the range follows the baseline once", async () => {
  //  r01 ┬ a ┬ m (kept merge) - k
  //      └ b ┘
  const specs: Spec[] = [
    { id: idOf(1), parents: "" },
    { id: "20240102_0900_a", parents: idOf(1) },
    { id: "20240102_0900_b", parents: idOf(1) },
    { id: "20240103_0900_m", parents: "20240102_0900_a 20240102_0900_b", up: "", down: "" },
    { id: "20240104_0900_k", parents: "20240103_0900_m" },
  ];
  const plan = await planOf(graphOf(specs), 2);
  assert.deepEqual(ids(plan.kept), ["20240103_0900_m", "20240104_0900_k"]);
  const after = buildGraph([plan.baseline, ...plan.kept].sort((a, b) => (a.id < b.id ? -1 : 1)));
  assert.deepEqual(after.parents.get("20240103_0900_m"), [plan.baseline.id]);
  assert.deepEqual(after.heads, ["20240104_0900_k"]);
});

Deno.test("planSquash: refuses a kept revision that follows only part of the range", async () => {
  //  r01 - r02 - r03 ┬ r04a
  //                  └ r04b     (two heads: keep 1 squashes r04a, keeps r04b)
  const specs: Spec[] = [
    { id: idOf(1), parents: "" },
    { id: idOf(2), parents: idOf(1) },
    { id: idOf(3), parents: idOf(2) },
    { id: "20240104_0900_r04a", parents: idOf(3) },
    { id: "20240104_0900_r04b", parents: idOf(3) },
  ];
  const graph = graphOf(specs);
  const error = await refusal(graph, 1);
  assert.match(
    error.message,
    /"20240104_0900_r04b" \(kept\) follows "20240103_0900_r03" but not "20240104_0900_r04a"/,
  );
  assert.equal(error.file, `${DIR}/20240104_0900_r04b.sql`);
  assert.equal(error.line, lineOf(fileText(specs[4]), "-- parents:"));
  assert.match(error.hint ?? "", /strata clean 2 squashes the oldest 3 instead/);
  // As the hint says: both branches then follow the baseline.
  const plan = await planOf(graph, 2);
  const after = buildGraph([plan.baseline, ...plan.kept]);
  assert.deepEqual(after.parents.get("20240104_0900_r04a"), [plan.baseline.id]);
  assert.equal(after.heads.length, 2);

  // The range ends in two heads and nothing kept merges them.
  const all = await refusal(graph, 0);
  assert.match(all.message, /2 heads .*no kept revision merges/);
  assert.match(all.hint ?? "", /strata clean 2/);

  // A fork in the middle of the range: the branch's child is kept, the main line squashed.
  const fork = graphOf([
    { id: idOf(1), parents: "" },
    { id: idOf(2), parents: idOf(1) },
    { id: idOf(3), parents: idOf(2) },
    { id: idOf(4), parents: idOf(3) },
    { id: idOf(5), parents: idOf(2) },
  ]);
  const middle = await refusal(fork, 1);
  assert.match(
    middle.message,
    new RegExp(`"${idOf(5)}" \\(kept\\) follows "${idOf(2)}" but not "${idOf(4)}"`),
  );
  assert.match(middle.hint ?? "", /strata clean 3 squashes the oldest 2/);
});

const CONCURRENT_UP = [
  "CREATE TABLE IF NOT EXISTS big (id int, email text);",
  "",
  "CREATE INDEX CONCURRENTLY IF NOT EXISTS big_email_idx ON big (email);",
  "REINDEX (VERBOSE, CONCURRENTLY) INDEX big_email_idx; REINDEX TABLE CONCURRENTLY big;",
  "REINDEX (CONCURRENTLY) INDEX big_email_idx;",
  "VACUUM (ANALYZE)",
  "  big;",
  "BEGIN;",
  "CREATE TABLE IF NOT EXISTS small (id int);",
  "COMMIT AND CHAIN;",
  "CREATE TABLE IF NOT EXISTS smaller (id int);",
  "COMMIT;",
].join("\n");

Deno.test("planSquash: a transaction: none revision is rewritten: CONCURRENTLY dropped, said where", async () => {
  const spec: Spec = {
    id: idOf(3),
    parents: idOf(2),
    transaction: "none",
    up: CONCURRENT_UP,
    down:
      "DROP INDEX CONCURRENTLY IF EXISTS big_email_idx;\nDROP TABLE IF EXISTS smaller, small, big;",
  };
  const text = fileText(spec);
  const plan = await planOf(graphOf(lineSpecs(6, (s, i) => (i === 3 ? spec : s))), 2);
  assert.equal(plan.baseline.transaction, "each");
  const up = plan.baseline.up.sql;
  const comment = (fragment: string) => `(${idOf(3)} line ${lineOf(text, fragment)})`;
  assert.ok(up.includes("CREATE INDEX IF NOT EXISTS big_email_idx ON big (email);"), up);
  assert.ok(
    up.includes(`-- strata clean: CREATE INDEX CONCURRENTLY ${comment("CREATE INDEX CONC")}`),
    up,
  );
  assert.ok(up.includes("\nREINDEX (VERBOSE) INDEX big_email_idx;"), up);
  assert.ok(up.includes("\nREINDEX TABLE big;"), up);
  assert.ok(up.includes("\nREINDEX INDEX big_email_idx;"), up);
  assert.ok(up.includes(`-- strata clean: left out VACUUM ${comment("VACUUM")}`), up);
  assert.ok(up.includes("-- VACUUM (ANALYZE)\n--   big;"), up);
  assert.ok(up.includes(`left out BEGIN ${comment("BEGIN;")}`), up);
  assert.ok(up.includes(`left out COMMIT AND CHAIN ${comment("COMMIT AND CHAIN")}`), up);
  assert.ok(plan.baseline.down!.sql.includes("DROP INDEX IF EXISTS big_email_idx;"));
  assert.ok(plan.baseline.down!.sql.includes("-- strata clean: DROP INDEX CONCURRENTLY"));
  const statements = await splitStatements(up);
  assert.ok(!statements.some((s) => /CONCURRENTLY|VACUUM|BEGIN|COMMIT/i.test(s.sql)), up);
  // Every baseline line still traces back to the line it came from.
  const lines = plan.text.split("\n");
  const at = lines.findIndex((line) => line.startsWith("CREATE TABLE IF NOT EXISTS smaller"));
  assert.deepEqual(plan.origins[at], {
    revision: idOf(3),
    file: `${DIR}/${idOf(3)}.sql`,
    line: lineOf(text, "CREATE TABLE IF NOT EXISTS smaller"),
  });
});

Deno.test("planSquash: the baseline lints clean: an allow comment with the revision and line", async () => {
  const spec: Spec = {
    id: idOf(2),
    parents: idOf(1),
    up: "CREATE TABLE a (id int); CREATE TABLE n (at timestamp);\nCREATE TABLE m (at timestamp);",
    down: "DROP TABLE m, n, a;",
  };
  const plan = await planOf(graphOf(lineSpecs(4, (s, i) => (i === 2 ? spec : s))), 1);
  const reason = (line: number) =>
    `-- strata:allow prefer-timestamptz ${idOf(2)} line ${line}, in a baseline: it only runs ` +
    "on a new, empty database";
  // A statement that shares its line is split off below the comment.
  assert.ok(
    plan.text.includes(`CREATE TABLE a (id int); \n${reason(4)}\nCREATE TABLE n (at timestamp);`),
    plan.text,
  );
  assert.ok(plan.text.includes(`\n${reason(5)}\nCREATE TABLE m (at timestamp);`), plan.text);
  assert.deepEqual(await lintRevision(plan.baseline, { text: () => plan.text }), []);
  const lines = plan.text.split("\n");
  assert.equal(plan.origins.length, lines.length - 1, "one per line; the text ends in a newline");
  assert.equal(plan.origins[lines.indexOf("CREATE TABLE m (at timestamp);")]?.line, 5);
});

Deno.test("planSquash: a statement with no in-transaction form is refused with file and line", async () => {
  for (
    const [statement, what] of [
      ["CREATE DATABASE other;", /CREATE DATABASE/],
      ["ALTER SYSTEM SET work_mem = '8MB';", /ALTER SYSTEM/],
      ["BEGIN;\nCREATE TABLE x (id int);\nROLLBACK;", /ROLLBACK/],
    ] as const
  ) {
    const spec: Spec = {
      id: idOf(3),
      parents: idOf(2),
      transaction: "none",
      up: `CREATE TABLE IF NOT EXISTS big (id int);\n${statement}`,
      down: "SELECT 1;",
    };
    const graph = graphOf(lineSpecs(6, (s, i) => (i === 3 ? spec : s)));
    const error = await refusal(graph, 2);
    assert.equal(error.file, `${DIR}/${idOf(3)}.sql`);
    assert.equal(error.line, lineOf(fileText(spec), statement.split("\n").at(-1)!));
    assert.match(error.message, what);
    assert.ok(error.message.includes(idOf(3)), error.message);
    // The range stopping before it is fine.
    assert.deepEqual(ids((await planOf(graph, 4)).replaced), [idOf(1), idOf(2)]);
  }
});

Deno.test("planSquash: a transaction: none revision with its own BEGIN … COMMIT blocks is joined without them", async () => {
  const spec: Spec = {
    id: idOf(3),
    parents: idOf(2),
    transaction: "none",
    up:
      "BEGIN;\nUPDATE t_r02 SET id = id;\nCOMMIT AND CHAIN;\nCREATE INDEX i ON t_r02 (id);\nCOMMIT;",
    down: "DROP INDEX IF EXISTS i;",
  };
  const plan = await planOf(graphOf(lineSpecs(6, (s, i) => (i === 3 ? spec : s))), 2);
  assert.deepEqual(ids(plan.replaced), [1, 2, 3, 4].map(idOf));
  const code = plan.baseline.up.sql.split("\n").filter((line) => !line.trim().startsWith("--"));
  assert.ok(code.includes("UPDATE t_r02 SET id = id;"));
  assert.ok(code.includes("CREATE INDEX i ON t_r02 (id);"));
  assert.ok(!code.some((line) => /^(BEGIN|COMMIT)/.test(line.trim())), code.join("\n"));
  assert.match(plan.baseline.up.sql, /-- strata clean: left out/);
});

Deno.test("planSquash: a transaction: none revision without such statements is joined", async () => {
  const spec: Spec = {
    id: idOf(3),
    parents: idOf(2),
    transaction: "none",
    up: "CREATE INDEX IF NOT EXISTS r02_id_idx ON t_r02 (id);",
    down: "DROP INDEX IF EXISTS r02_id_idx;",
  };
  const plan = await planOf(graphOf(lineSpecs(6, (s, i) => (i === 3 ? spec : s))), 2);
  assert.deepEqual(ids(plan.replaced), [1, 2, 3, 4].map(idOf));
  assert.equal(plan.baseline.transaction, "each", "the baseline runs in one transaction");
  assert.ok(plan.baseline.up.sql.includes("CREATE INDEX IF NOT EXISTS r02_id_idx ON t_r02 (id);"));
  assert.ok(plan.baseline.down!.sql.includes("DROP INDEX IF EXISTS r02_id_idx;"));
});

Deno.test("planSquash: a last statement without a semicolon is joined correctly", async () => {
  const graph = graphOf(lineSpecs(4, (s, i) =>
    i === 1
      ? {
        ...s,
        up: "CREATE TABLE a (id int);\nCREATE TABLE a2 (id int)",
        down: "DROP TABLE a2;\nDROP TABLE a\n\n-- the end\n",
      }
      : i === 2
      ? { ...s, up: "CREATE TABLE b (id int)\n/* no semicolon */\n", down: "DROP TABLE b" }
      : s));
  const plan = await planOf(graph, 1);
  const up = await splitStatements(plan.baseline.up.sql);
  assert.deepEqual(
    up.map((s) => s.sql.replace(/\s+/g, " ").trim()),
    [
      "CREATE TABLE a (id int)",
      "CREATE TABLE a2 (id int)",
      "CREATE TABLE b (id int)",
      "CREATE TABLE t_r03 (id int)",
    ],
    plan.baseline.up.sql,
  );
  const down = await splitStatements(plan.baseline.down!.sql);
  assert.deepEqual(
    down.map((s) => s.sql.replace(/\s+/g, " ").trim()),
    ["DROP TABLE t_r03", "DROP TABLE b", "DROP TABLE a2", "DROP TABLE a"],
    plan.baseline.down!.sql,
  );
});

Deno.test("planSquash: a last statement followed by a comment ending in ';' is joined correctly", async () => {
  const graph = graphOf(
    lineSpecs(
      3,
      (s, i) =>
        i === 1
          ? { ...s, up: "CREATE TABLE a (id int) -- the a table;", down: "DROP TABLE a -- bye;" }
          : s,
    ),
  );
  const plan = await planOf(graph, 1);
  const up = await splitStatements(plan.baseline.up.sql).catch((error) => {
    assert.fail(`the baseline's up does not parse (${error.message}):\n${plan.baseline.up.sql}`);
  });
  assert.equal(up.length, 2, plan.baseline.up.sql);
  const down = await splitStatements(plan.baseline.down!.sql).catch((error) => {
    assert.fail(
      `the baseline's down does not parse (${error.message}):\n${plan.baseline.down!.sql}`,
    );
  });
  assert.equal(down.length, 2, plan.baseline.down!.sql);
});

Deno.test("planSquash: a kept revision without a parents line still follows the baseline", async () => {
  // A plain folder of timestamped files: every parent is implicit.
  const graph = graphOf(Array.from({ length: 6 }, (_, i) => ({ id: idOf(i + 1) })));
  const plan = await planOf(graph, 2);
  const after = buildGraph([plan.baseline, ...plan.kept]);
  assert.deepEqual(after.order, [plan.baseline.id, idOf(5), idOf(6)]);
  assert.deepEqual(after.parents.get(idOf(5)), [plan.baseline.id]);
});

Deno.test("planSquash: a second clean flattens replaces, and every database finds its way", async () => {
  const first = await planOf(graphOf(lineSpecs(10)), 3);
  const once = buildGraph([first.baseline, ...first.kept]);
  const second = await planOf(once, 1);
  assert.deepEqual(ids(second.replaced), [first.baseline.id, idOf(8), idOf(9)]);
  assert.deepEqual(ids(second.kept), [idOf(10)]);
  const flat = [...[1, 2, 3, 4, 5, 6, 7].map(idOf), first.baseline.id, idOf(8), idOf(9)];
  assert.deepEqual(second.baseline.replaces, flat);
  assert.match(second.text, new RegExp(`^-- replaces: ${flat.join(" ")}$`, "m"));
  assert.equal(second.baseline.id, `${idOf(9)}_baseline`);
  // The first baseline's SQL is in the second, once, in order.
  assert.equal(second.baseline.up.sql.split("CREATE TABLE t_r01 ").length, 2);
  assert.ok(second.baseline.up.sql.indexOf("t_r07") < second.baseline.up.sql.indexOf("t_r08"));
  assert.ok(
    second.baseline.down!.sql.indexOf("t_r09") < second.baseline.down!.sql.indexOf("t_r01"),
  );

  const twice = buildGraph([second.baseline, ...second.kept]);
  assert.equal(twice.replacedBy.get(idOf(2)), second.baseline.id);
  assert.equal(twice.replacedBy.get(first.baseline.id), second.baseline.id);
  // Never squashed, squashed once and adopted, or squashed and not adopted yet: all adopt.
  for (
    const rows of [
      [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map(idOf),
      [first.baseline.id, idOf(8), idOf(9), idOf(10)],
      [first.baseline.id, idOf(8), idOf(9)],
    ]
  ) {
    const state = compareState(twice, ledgerRows(rows));
    assert.deepEqual(state.adopt, [second.baseline.id], rows.join(" "));
    assert.deepEqual(state.partial, []);
    assert.deepEqual(state.missing, []);
  }
  const partial = compareState(twice, ledgerRows([first.baseline.id, idOf(8)]));
  assert.deepEqual(partial.adopt, []);
  assert.deepEqual(partial.partial.map((p) => p.baseline), [second.baseline.id]);
  assert.deepEqual(partial.partial[0].notApplied.includes(idOf(9)), true);
});

// ---------------------------------------------------------------------------
// proveBaseline

/** Seven realistic revisions and three kept ones. */
const REALISTIC: Array<[slug: string, up: string, down: string]> = [
  [
    "users",
    "CREATE TABLE users (\n  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n  email text NOT NULL UNIQUE\n);",
    "DROP TABLE users;",
  ],
  [
    "mood",
    "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');\nALTER TABLE users ADD COLUMN mood mood NOT NULL DEFAULT 'ok';",
    "ALTER TABLE users DROP COLUMN mood;\nDROP TYPE mood;",
  ],
  [
    "posts",
    "CREATE TABLE posts (\n  id bigserial PRIMARY KEY,\n  user_id bigint NOT NULL REFERENCES users (id),\n  title text NOT NULL\n);",
    "DROP TABLE posts;",
  ],
  ["posts_user", "CREATE INDEX posts_user_idx ON posts (user_id);", "DROP INDEX posts_user_idx;"],
  [
    "slugify",
    "CREATE FUNCTION slugify(value text) RETURNS text LANGUAGE sql IMMUTABLE\n  AS $$ SELECT lower(regexp_replace(value, '[^a-z0-9]+', '-', 'gi')) $$;",
    "DROP FUNCTION slugify(text);",
  ],
  [
    "active_users",
    "CREATE VIEW active_users AS SELECT id, email FROM users WHERE mood <> 'sad';",
    "DROP VIEW active_users;",
  ],
  [
    "created_at",
    "ALTER TABLE users ADD COLUMN created_at timestamptz NOT NULL DEFAULT now();",
    "ALTER TABLE users DROP COLUMN created_at;",
  ],
  ["tags", "CREATE TABLE tags (id serial PRIMARY KEY, name text NOT NULL);", "DROP TABLE tags;"],
  [
    "tags_name",
    "CREATE UNIQUE INDEX tags_name_idx ON tags (lower(name));",
    "DROP INDEX tags_name_idx;",
  ],
  ["notes", "CREATE TABLE notes (id int);", "DROP TABLE notes;"],
];

async function realisticPlan(): Promise<SquashPlan> {
  const graph = graphOf(lineSpecs(REALISTIC.length, (s, i) => {
    const [slug, up, down] = REALISTIC[i - 1];
    return { ...s, message: slug, up, down };
  }));
  return await planOf(graph, 3);
}

/** The plan's baseline with its text edited: the test seam for a wrong baseline. */
function tampered(plan: SquashPlan, edit: (text: string) => string): MigrationFile {
  const text = edit(plan.text);
  assert.notEqual(text, plan.text, "the edit changed nothing");
  return parseMigration(text, plan.baseline.path, plan.baseline.id, plan.baseline.category);
}

const objectNames = (objects: Array<{ kind: string; name: string }>) =>
  objects.map((o) => `${o.kind} ${o.name}`);

async function proofChecks(scratch: ScratchDatabases): Promise<void> {
  const names = ledgerNames();
  const plan = await realisticPlan();
  try {
    const good = await proveBaseline(plan.replaced, plan.baseline, scratch, names);
    assert.ok(good.ok, [...formatDiff(good.up), ...formatDiff(good.down)].join("\n"));
    assert.deepEqual(objectNames([...good.up.added, ...good.up.removed, ...good.up.changed]), []);
    assert.deepEqual(
      objectNames([...good.down.added, ...good.down.removed, ...good.down.changed]),
      [],
    );

    // Up: one statement left out, one default changed.
    const wrongUp = tampered(
      plan,
      (text) =>
        text.replace("CREATE INDEX posts_user_idx ON posts (user_id);\n", "")
          .replace("DEFAULT 'ok'", "DEFAULT 'happy'"),
    );
    const up = await proveBaseline(plan.replaced, wrongUp, scratch, names);
    assert.equal(up.ok, false, "a baseline without an index and with another default passed");
    assert.deepEqual(objectNames(up.up.removed), ["index public.posts_user_idx"]);
    assert.deepEqual(objectNames(up.up.changed), ["column public.users.mood"]);
    assert.deepEqual(objectNames(up.up.added), []);
    assert.match(up.up.changed[0].before.definition, /'ok'/);
    assert.match(up.up.changed[0].after.definition, /'happy'/);

    // Down: the type is left behind.
    const wrongDown = tampered(plan, (text) => text.replace("DROP TYPE mood;\n", ""));
    const down = await proveBaseline(plan.replaced, wrongDown, scratch, names);
    assert.equal(down.ok, false, "a baseline whose down leaves a type behind passed");
    assert.deepEqual(objectNames([...down.up.added, ...down.up.removed, ...down.up.changed]), []);
    assert.deepEqual(objectNames(down.down.added), ["type public.mood"]);
  } finally {
    await scratch.dispose();
  }
}

Deno.test(
  "proveBaseline: embedded: a good baseline passes, a wrong one is caught and named",
  options,
  async () => {
    await proofChecks(embeddedScratch());
  },
);

Deno.test({
  name: "[server] proveBaseline: a good baseline passes, a wrong one is caught and named",
  ignore: !serverReachable,
  ...options,
  async fn() {
    await proofChecks(serverScratch(SERVER_URL));
  },
});

Deno.test({
  name: "[server] proveBaseline: a rewritten transaction: none revision builds the same schema",
  ignore: !serverReachable,
  ...options,
  async fn() {
    const spec: Spec = {
      id: idOf(3),
      parents: idOf(2),
      transaction: "none",
      up: CONCURRENT_UP,
      down: "DROP INDEX CONCURRENTLY IF EXISTS big_email_idx;\n" +
        "DROP TABLE IF EXISTS smaller, small, big;",
    };
    const plan = await planOf(graphOf(lineSpecs(5, (s, i) => (i === 3 ? spec : s))), 1);
    const scratch = serverScratch(SERVER_URL);
    try {
      const proof = await proveBaseline(
        plan.replaced,
        plan.baseline,
        scratch,
        ledgerNames(),
        plan.origins,
      );
      assert.ok(proof.ok, [...formatDiff(proof.up), ...formatDiff(proof.down)].join("\n"));
    } finally {
      await scratch.dispose();
    }
  },
});
