import assert from "node:assert/strict";
import {
  ancestors,
  buildGraph,
  descendants,
  type Graph,
  inOrder,
  resolveRevision,
} from "../lib/graph.ts";
import { type MigrationFile, parseMigration } from "../lib/migration_file.ts";
import { errorOf } from "./helpers.ts";

const A = "20240101_0100_a";
const B = "20240101_0200_b";
const C = "20240101_0300_c";
const D = "20240101_0400_d";
const E = "20240101_0500_e";

const pathOf = (id: string) => `migrations/${id}.sql`;

/** A revision file; `parents` null leaves the header without a parents line (line 2 otherwise). */
function rev(id: string, parents: string[] | null, path = pathOf(id)): MigrationFile {
  const header = parents === null ? "" : `-- parents: ${parents.join(" ")}\n`;
  return parseMigration(
    `-- message: ${id}\n${header}-- up\nselect 1;\n-- down\nselect 2;\n`,
    path,
    id,
    null,
  );
}

const parentsOf = (graph: Graph) => Object.fromEntries(graph.parents);
const childrenOf = (graph: Graph) => Object.fromEntries(graph.children);

// ---------------------------------------------------------------- structure

Deno.test("without parents lines the files form a straight line in id order", () => {
  const graph = buildGraph([rev(A, null), rev(B, null), rev(C, null)]);
  assert.deepEqual(parentsOf(graph), { [A]: [], [B]: [A], [C]: [B] });
  assert.deepEqual(childrenOf(graph), { [A]: [B], [B]: [C], [C]: [] });
  assert.deepEqual(graph.order, [A, B, C]);
  assert.deepEqual(graph.heads, [C]);
  assert.deepEqual([...graph.position], [[A, 0], [B, 1], [C, 2]]);
  assert.equal(graph.files.get(B)!.path, pathOf(B));
});

Deno.test("an empty parents line makes a second root and a second head", () => {
  const graph = buildGraph([rev(A, null), rev(B, null), rev(C, [])]);
  assert.deepEqual(parentsOf(graph), { [A]: [], [B]: [A], [C]: [] });
  assert.deepEqual(graph.order, [A, B, C]);
  assert.deepEqual(graph.heads, [B, C]);
});

Deno.test("implicit parent is the previous id even when that is on another branch", () => {
  const graph = buildGraph([rev(A, []), rev(B, [A]), rev(C, [A]), rev(D, null)]);
  assert.deepEqual(graph.parents.get(D), [C]);
  assert.deepEqual(graph.heads, [B, D]);
  assert.deepEqual(graph.children.get(A), [B, C]);
});

Deno.test("branch and merge: one head, parents before children", () => {
  const graph = buildGraph([rev(A, []), rev(B, [A]), rev(C, [A]), rev(D, [B, C])]);
  assert.deepEqual(graph.order, [A, B, C, D]);
  assert.deepEqual(graph.heads, [D]);
  assert.deepEqual(graph.parents.get(D), [B, C]);
  assert.deepEqual(graph.children.get(B), [D]);
  assert.deepEqual(graph.children.get(C), [D]);
});

Deno.test("topological order puts a parent with a later id before its child", () => {
  // B follows C although B's id is smaller.
  const graph = buildGraph([rev(A, []), rev(B, [C]), rev(C, [A])]);
  assert.deepEqual(graph.order, [A, C, B]);
  assert.deepEqual(graph.heads, [B]);
  assert.equal(graph.position.get(B), 2);
  assert.equal(graph.position.get(C), 1);
});

Deno.test("revisions ready together are ordered by id", () => {
  const graph = buildGraph([rev(A, []), rev(B, [E]), rev(C, [A]), rev(D, [A]), rev(E, [A])]);
  // After A: C, D, E are ready; B waits for E.
  assert.deepEqual(graph.order, [A, C, D, E, B]);
  assert.deepEqual(graph.heads, [C, D, B]);
});

Deno.test("heads are listed in topological order", () => {
  const graph = buildGraph([rev(A, []), rev(B, []), rev(C, [B]), rev(D, [A])]);
  assert.deepEqual(graph.order, [A, B, C, D]);
  assert.deepEqual(graph.heads, [C, D]);
});

Deno.test("no files: an empty graph with no heads", () => {
  const graph = buildGraph([]);
  assert.deepEqual(graph.order, []);
  assert.deepEqual(graph.heads, []);
  assert.equal(graph.files.size, 0);
});

Deno.test("ancestors and descendants include the revision itself", () => {
  const graph = buildGraph([rev(A, []), rev(B, [A]), rev(C, [A]), rev(D, [B, C]), rev(E, [C])]);
  assert.deepEqual(ancestors(graph, D), new Set([A, B, C, D]));
  assert.deepEqual(ancestors(graph, E), new Set([A, C, E]));
  assert.deepEqual(ancestors(graph, A), new Set([A]));
  assert.deepEqual(descendants(graph, A), new Set([A, B, C, D, E]));
  assert.deepEqual(descendants(graph, C), new Set([C, D, E]));
  assert.deepEqual(descendants(graph, D), new Set([D]));
});

Deno.test("inOrder sorts a set by graph order", () => {
  const graph = buildGraph([rev(A, []), rev(B, [C]), rev(C, [A])]);
  assert.deepEqual(inOrder(graph, new Set([B, A, C])), [A, C, B]);
  assert.deepEqual(inOrder(graph, new Set()), []);
});

// ---------------------------------------------------------------- errors

Deno.test("an unknown parent is a GRAPH error at the parents line", () => {
  const error = errorOf(() => buildGraph([rev(A, []), rev(B, [A, "20231231_0000_gone"])]));
  assert.equal(error.code, "GRAPH");
  assert.equal(error.file, pathOf(B));
  assert.equal(error.line, 2);
});

Deno.test("a revision naming itself as parent is a GRAPH error at the parents line", () => {
  for (const parents of [[B], [A, B]]) {
    const error = errorOf(() => buildGraph([rev(A, []), rev(B, parents)]));
    assert.equal(error.code, "GRAPH");
    assert.equal(error.file, pathOf(B));
    assert.equal(error.line, 2);
  }
});

Deno.test("a duplicate id is a GRAPH error naming the second file", () => {
  const first = rev(A, [], "migrations/01_foundation/" + A + ".sql");
  const second = rev(A, [], "migrations/02_core_features/" + A + ".sql");
  const error = errorOf(() => buildGraph([first, second]));
  assert.equal(error.code, "GRAPH");
  assert.equal(error.file, second.path);
  assert.ok(error.hint?.includes(first.path), `hint names the other file: ${error.hint}`);
});

Deno.test("a two-revision cycle is a GRAPH error at a parents line in the cycle", () => {
  const error = errorOf(() => buildGraph([rev(A, []), rev(B, [C]), rev(C, [B])]));
  assert.equal(error.code, "GRAPH");
  assert.ok([pathOf(B), pathOf(C)].includes(error.file!), `file: ${error.file}`);
  assert.equal(error.line, 2);
});

Deno.test("a cycle reached from a revision outside it is still reported inside it", () => {
  // D hangs below the cycle B <-> C.
  const error = errorOf(() => buildGraph([rev(A, []), rev(B, [C]), rev(C, [B]), rev(D, [C])]));
  assert.equal(error.code, "GRAPH");
  assert.ok([pathOf(B), pathOf(C)].includes(error.file!), `file: ${error.file}`);
  assert.equal(error.line, 2);
});

Deno.test("a cycle through an implicit parent is reported at an explicit parents line", () => {
  // B (outside) -> D; the cycle is C -> E -> D -> C, where D's parent C is implicit.
  const files = [rev(A, []), rev(B, [D]), rev(C, [E]), rev(D, null), rev(E, [D])];
  const error = errorOf(() => buildGraph(files));
  assert.equal(error.code, "GRAPH");
  assert.ok([pathOf(C), pathOf(E)].includes(error.file!), `file: ${error.file}`);
  assert.equal(error.line, 2);
});

Deno.test("a cycle of every revision (no root) is a GRAPH error", () => {
  const error = errorOf(() => buildGraph([rev(A, [C]), rev(B, [A]), rev(C, [B])]));
  assert.equal(error.code, "GRAPH");
  assert.ok([pathOf(A), pathOf(B), pathOf(C)].includes(error.file!), `file: ${error.file}`);
  assert.equal(error.line, 2);
});

// ---------------------------------------------------------------- resolveRevision

Deno.test("resolveRevision: exact ids and unique prefixes", () => {
  const graph = buildGraph([rev(A, null), rev(B, null), rev(C, null)]);
  assert.equal(resolveRevision(graph, B), B);
  assert.equal(resolveRevision(graph, "20240101_02"), B);
  assert.equal(resolveRevision(graph, "20240101_0300_"), C);
});

Deno.test("resolveRevision: an exact id wins over a longer id it prefixes", () => {
  const short = "20240101_0100_add";
  const long = "20240101_0100_add_index";
  const graph = buildGraph([rev(short, []), rev(long, [short])]);
  assert.equal(resolveRevision(graph, short), short);
  assert.equal(resolveRevision(graph, "20240101_0100_add_"), long);
});

Deno.test("resolveRevision: an ambiguous prefix is a USAGE error listing candidates", () => {
  const graph = buildGraph([rev(A, null), rev(B, null), rev(C, null)]);
  const error = errorOf(() => resolveRevision(graph, "20240101_0"));
  assert.equal(error.code, "USAGE");
  for (const id of [A, B, C]) assert.ok(error.hint?.includes(pathOf(id)), error.hint);
});

Deno.test("resolveRevision: an unknown revision is a USAGE error", () => {
  const graph = buildGraph([rev(A, null), rev(B, null)]);
  assert.equal(errorOf(() => resolveRevision(graph, "20990101")).code, "USAGE");
  assert.equal(errorOf(() => resolveRevision(graph, "0100_a")).code, "USAGE");
  assert.equal(errorOf(() => resolveRevision(buildGraph([]), A)).code, "USAGE");
});

Deno.test("a parent given as a prefix is unknown, and the hint says full ids are needed", () => {
  const error = errorOf(() =>
    buildGraph([
      rev("20240101_0000_alpha", []),
      rev("20240101_0000_beta", ["20240101_0000_alpha"]),
      rev("20240102_0000_child", ["20240101_0000"]),
    ])
  );
  assert.equal(error.code, "GRAPH");
  assert.match(error.message, /Unknown parent revision "20240101_0000"/);
  assert.match(error.hint!, /full revision ids, not prefixes/);
  assert.match(error.hint!, /20240101_0000_alpha, 20240101_0000_beta/);
});
