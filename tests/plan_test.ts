import assert from "node:assert/strict";
import { buildGraph, type Graph } from "../lib/graph.ts";
import type { LedgerRow } from "../lib/ledger.ts";
import { type MigrationFile, parseMigration } from "../lib/migration_file.ts";
import { planDowngrade, planUpgrade } from "../lib/plan.ts";
import { assertIntact, compareState, type State } from "../lib/state.ts";
import { errorOf } from "./helpers.ts";

const A = "20240101_0100_a";
const B = "20240101_0200_b";
const C = "20240101_0300_c";
const D = "20240101_0400_d";
const E = "20240101_0500_e";

const pathOf = (id: string) => `migrations/${id}.sql`;

function rev(
  id: string,
  parents: string[] | null,
  options: { down?: boolean; body?: string } = {},
): MigrationFile {
  const header = parents === null ? "" : `-- parents: ${parents.join(" ")}\n`;
  const body = options.body ?? `create table t_${id.slice(-1)} ();`;
  const down = options.down === false ? "" : `-- down\ndrop table t_${id.slice(-1)};\n`;
  return parseMigration(
    `-- message: ${id}\n${header}-- up\n${body}\n${down}`,
    pathOf(id),
    id,
    null,
  );
}

function row(id: string, checksum: string): LedgerRow {
  return {
    revision: id,
    parents: "",
    checksum,
    applied_at: new Date("2024-06-01T00:00:00Z"),
    applied_by: "test",
    duration_ms: 1,
    strata_version: "0.0.0",
  };
}

/** Ledger rows for `ids`, with the files' own checksums (as if applied unchanged). */
function rowsFor(graph: Graph, ids: string[]): LedgerRow[] {
  return ids.map((id) => row(id, graph.files.get(id)!.checksum));
}

function stateOf(graph: Graph, applied: string[]): State {
  return compareState(graph, rowsFor(graph, applied));
}

const linear = () =>
  buildGraph([rev(A, null), rev(B, null), rev(C, null), rev(D, null), rev(E, null)]);
/** A -> B and A -> C: two heads. */
const branched = () => buildGraph([rev(A, []), rev(B, [A]), rev(C, [A]), rev(D, [B])]);

const up = (graph: Graph, applied: string[], target: string) =>
  planUpgrade(graph, stateOf(graph, applied), target);
const down = (graph: Graph, applied: string[], target: string) =>
  planDowngrade(graph, stateOf(graph, applied), target);

// ---------------------------------------------------------------- planUpgrade

Deno.test("upgrade head runs every pending revision in order", () => {
  const graph = linear();
  assert.deepEqual(up(graph, [], "head"), { direction: "up", steps: [A, B, C, D, E] });
  assert.deepEqual(up(graph, [A, B], "head").steps, [C, D, E]);
  assert.deepEqual(up(graph, [A, B, C, D, E], "head").steps, []);
});

Deno.test("upgrade heads runs every branch", () => {
  const graph = branched();
  assert.deepEqual(up(graph, [], "heads").steps, [A, B, C, D]);
  assert.deepEqual(up(graph, [A, B], "heads").steps, [C, D]);
});

Deno.test("upgrade base runs nothing", () => {
  assert.deepEqual(up(linear(), [], "base"), { direction: "up", steps: [] });
});

Deno.test("upgrade to an id or a unique prefix runs its pending ancestors", () => {
  const graph = linear();
  assert.deepEqual(up(graph, [], C).steps, [A, B, C]);
  assert.deepEqual(up(graph, [A], "20240101_03").steps, [B, C]);
  assert.deepEqual(up(graph, [A, B, C], B).steps, []);
});

Deno.test("upgrade to one branch leaves the other alone", () => {
  const graph = branched();
  assert.deepEqual(up(graph, [], D).steps, [A, B, D]);
  assert.deepEqual(up(graph, [A, B, D], C).steps, [C]);
});

Deno.test("upgrade +N runs the next N pending revisions", () => {
  const graph = linear();
  assert.deepEqual(up(graph, [], "+1").steps, [A]);
  assert.deepEqual(up(graph, [A, B], "+2").steps, [C, D]);
  assert.deepEqual(up(graph, [A, B, C, D], "+1").steps, [E]);
});

Deno.test("upgrade rev+N runs up to N revisions after rev", () => {
  const graph = linear();
  assert.deepEqual(up(graph, [], `${B}+2`).steps, [A, B, C, D]);
  assert.deepEqual(up(graph, [A, B], "20240101_02+1").steps, [C]);
  assert.deepEqual(up(graph, [], `${A}+0`).steps, [A]);
});

Deno.test("upgrade rev+N past the head is a USAGE error", () => {
  const error = errorOf(() => up(linear(), [], `${D}+2`));
  assert.equal(error.code, "USAGE");
});

Deno.test("upgrade rev+N through a fork is a USAGE error", () => {
  const error = errorOf(() => up(branched(), [], `${A}+1`));
  assert.equal(error.code, "USAGE");
});

Deno.test("upgrade -N is a USAGE error", () => {
  assert.equal(errorOf(() => up(linear(), [A, B], "-1")).code, "USAGE");
});

Deno.test("upgrade head with several heads is a USAGE error listing the heads", () => {
  const graph = branched();
  const error = errorOf(() => up(graph, [], "head"));
  assert.equal(error.code, "USAGE");
  assert.deepEqual(error.details?.heads, [C, D]);
});

Deno.test("upgrade head or heads with no revisions has nothing to do (not an error)", () => {
  const graph = buildGraph([]);
  assert.deepEqual(up(graph, [], "head").steps, []);
  assert.deepEqual(up(graph, [], "heads").steps, []);
});

Deno.test("upgrade to an unknown or ambiguous revision is a USAGE error", () => {
  const graph = linear();
  assert.equal(errorOf(() => up(graph, [], "20990101")).code, "USAGE");
  assert.equal(errorOf(() => up(graph, [], "20240101_0")).code, "USAGE");
  assert.equal(errorOf(() => up(graph, [], "nope+1")).code, "USAGE");
});

Deno.test("upgrade includes out-of-order revisions below the target", () => {
  const graph = linear();
  assert.deepEqual(up(graph, [A, C], "head").steps, [B, D, E]);
});

// ---------------------------------------------------------------- planDowngrade

Deno.test("downgrade -N rolls back the newest N revisions", () => {
  const graph = linear();
  assert.deepEqual(down(graph, [A, B, C, D], "-1"), { direction: "down", steps: [D] });
  assert.deepEqual(down(graph, [A, B, C, D], "-2").steps, [D, C]);
});

Deno.test("downgrade base rolls back everything, newest first", () => {
  assert.deepEqual(down(linear(), [A, B, C], "base").steps, [C, B, A]);
  assert.deepEqual(down(linear(), [], "base").steps, []);
});

Deno.test("downgrade to an id or prefix rolls back what descends from it", () => {
  const graph = linear();
  assert.deepEqual(down(graph, [A, B, C, D], B).steps, [D, C]);
  assert.deepEqual(down(graph, [A, B, C, D], "20240101_03").steps, [D]);
  assert.deepEqual(down(graph, [A, B, C, D], D).steps, []);
});

Deno.test("downgrade on branches rolls back both branches above the target", () => {
  const graph = branched();
  assert.deepEqual(down(graph, [A, B, C, D], A).steps, [D, C, B]);
  assert.deepEqual(down(graph, [A, B, C, D], B).steps, [D]);
  assert.deepEqual(down(graph, [A, B, C, D], "-1").steps, [D]);
});

Deno.test("downgrade +N, head and heads are USAGE errors", () => {
  const graph = linear();
  for (const target of ["+1", "head", "heads"]) {
    assert.equal(errorOf(() => down(graph, [A, B], target)).code, "USAGE", target);
  }
});

Deno.test("downgrade to an unknown revision is a USAGE error", () => {
  assert.equal(errorOf(() => down(linear(), [A, B], "20990101")).code, "USAGE");
});

Deno.test("downgrade past an irreversible revision is refused, naming its file", () => {
  const graph = buildGraph([
    rev(A, null),
    rev(B, null, { down: false }),
    rev(C, null),
    rev(D, null),
  ]);
  for (const target of ["base", A, "-3"]) {
    const error = errorOf(() => down(graph, [A, B, C, D], target));
    assert.equal(error.code, "USAGE", target);
    assert.equal(error.file, pathOf(B), target);
  }
  // Stopping above it is fine.
  assert.deepEqual(down(graph, [A, B, C, D], B).steps, [D, C]);
  assert.deepEqual(down(graph, [A, B, C, D], "-2").steps, [D, C]);
});

Deno.test("an empty merge revision is reversible", () => {
  const graph = buildGraph([
    rev(A, []),
    rev(B, [A]),
    rev(C, [A]),
    parseMigration(`-- parents: ${B} ${C}\n-- up\n-- down\n`, pathOf(D), D, null),
  ]);
  assert.deepEqual(down(graph, [A, B, C, D], "-1").steps, [D]);
});

// ---------------------------------------------------------------- compareState

Deno.test("compareState: applied and pending in graph order, current revision", () => {
  const graph = buildGraph([rev(A, []), rev(B, [C]), rev(C, [A])]); // order A, C, B
  const state = compareState(graph, rowsFor(graph, [C, A]));
  assert.deepEqual(state.applied, [A, C]);
  assert.deepEqual(state.pending, [B]);
  assert.deepEqual(state.current, [C]);
  assert.deepEqual(state.edited, []);
  assert.deepEqual(state.missing, []);
  assert.deepEqual(state.renamed, []);
  assert.deepEqual(state.outOfOrder, []);
  assert.equal(state.rows.get(A)!.revision, A);
});

Deno.test("compareState: an empty ledger has everything pending and no current", () => {
  const graph = linear();
  const state = compareState(graph, []);
  assert.deepEqual(state.applied, []);
  assert.deepEqual(state.pending, [A, B, C, D, E]);
  assert.deepEqual(state.current, []);
  assert.deepEqual(state.outOfOrder, []);
});

Deno.test("compareState: one current revision per applied branch tip", () => {
  const graph = branched();
  assert.deepEqual(stateOf(graph, [A, B, C]).current, [B, C]);
  assert.deepEqual(stateOf(graph, [A, B, C, D]).current, [C, D]);
});

Deno.test("compareState: a changed checksum is edited", () => {
  const graph = linear();
  const rows = rowsFor(graph, [A, B, C]);
  rows[1] = row(B, "sha256:" + "0".repeat(64));
  const state = compareState(graph, rows);
  assert.deepEqual(state.edited, [B]);
  assert.deepEqual(state.applied, [A, B, C]);
});

Deno.test("compareState: a ledger row without a file is missing", () => {
  const graph = buildGraph([rev(A, null), rev(B, null)]);
  const rows = [
    ...rowsFor(graph, [A, B]),
    row("20240101_0900_z", "sha256:" + "1".repeat(64)),
    row("20240101_0800_y", "sha256:" + "2".repeat(64)),
  ];
  const state = compareState(graph, rows);
  assert.deepEqual(state.missing, ["20240101_0800_y", "20240101_0900_z"]);
  assert.deepEqual(state.applied, [A, B]);
  assert.deepEqual(state.renamed, []);
});

Deno.test("compareState: a missing revision whose content sits under a new id is renamed", () => {
  const renamedTo = "20240101_0300_c_renamed";
  const graph = buildGraph([rev(A, null), rev(B, null), rev(renamedTo, null, { body: "x;" })]);
  const rows = [
    ...rowsFor(graph, [A, B]),
    row(C, graph.files.get(renamedTo)!.checksum),
  ];
  const state = compareState(graph, rows);
  assert.deepEqual(state.missing, [C]);
  assert.deepEqual(state.renamed, [{ from: C, to: renamedTo }]);
  assert.deepEqual(state.pending, [renamedTo]);
});

Deno.test("compareState: a pending ancestor of an applied revision is out of order", () => {
  const graph = linear();
  const state = stateOf(graph, [A, C, D]);
  assert.deepEqual(state.pending, [B, E]);
  assert.deepEqual(state.outOfOrder, [B]);
});

Deno.test("compareState: current is the tip of the applied line, not a revision below a gap", () => {
  // A, C, D applied; B pending in between: A is an ancestor of D, not a second current revision.
  const graph = linear();
  assert.deepEqual(stateOf(graph, [A, C, D]).current, [D]);
  assert.deepEqual(stateOf(graph, [A, E]).current, [E]);
});

Deno.test("compareState: a late file with an older id and implicit parent is out of order", () => {
  // A and C were applied; B arrived later (merged from a branch) with no parents line.
  const before = buildGraph([rev(A, null), rev(C, null)]);
  const rows = rowsFor(before, [A, C]);
  const after = buildGraph([rev(A, null), rev(B, null), rev(C, null)]);
  const state = compareState(after, rows);
  assert.deepEqual(state.pending, [B]);
  assert.deepEqual(state.outOfOrder, [B]);
});

Deno.test("compareState: a pending revision on another branch is not out of order", () => {
  const graph = branched();
  const state = stateOf(graph, [A, B, D]);
  assert.deepEqual(state.pending, [C]);
  assert.deepEqual(state.outOfOrder, []);
});

Deno.test("compareState: out of order deep below an applied revision", () => {
  const graph = buildGraph([rev(A, []), rev(B, [A]), rev(C, [B]), rev(D, [C]), rev(E, [D])]);
  const state = stateOf(graph, [A, E]);
  assert.deepEqual(state.outOfOrder, [B, C, D]);
});

// ---------------------------------------------------------------- assertIntact

Deno.test("assertIntact passes a clean state", () => {
  const graph = linear();
  assertIntact(graph, stateOf(graph, [A, B]), "migrations");
});

Deno.test("assertIntact: an edited applied file is an INTEGRITY error naming it", () => {
  const graph = linear();
  const rows = rowsFor(graph, [A, B, C]);
  rows[2] = row(C, "sha256:" + "0".repeat(64));
  rows[1] = row(B, "sha256:" + "f".repeat(64));
  const error = errorOf(() => assertIntact(graph, compareState(graph, rows), "migrations"));
  assert.equal(error.code, "INTEGRITY");
  assert.equal(error.file, pathOf(B));
  assert.deepEqual(error.details?.edited, [B, C]);
});

Deno.test("assertIntact: a missing applied file is an INTEGRITY error naming the revision", () => {
  const graph = linear();
  const rows = [...rowsFor(graph, [A]), row("20231231_2300_gone", "sha256:" + "3".repeat(64))];
  const error = errorOf(() => assertIntact(graph, compareState(graph, rows), "migrations"));
  assert.equal(error.code, "INTEGRITY");
  assert.deepEqual(error.details?.missing, ["20231231_2300_gone"]);
});

Deno.test("assertIntact: a renamed applied file is an INTEGRITY error naming the new file", () => {
  const renamedTo = "20240101_0300_c_renamed";
  const graph = buildGraph([rev(A, null), rev(B, null), rev(renamedTo, null, { body: "x;" })]);
  const rows = [...rowsFor(graph, [A, B]), row(C, graph.files.get(renamedTo)!.checksum)];
  const error = errorOf(() => assertIntact(graph, compareState(graph, rows), "migrations"));
  assert.equal(error.code, "INTEGRITY");
  assert.equal(error.file, pathOf(renamedTo));
  assert.deepEqual(error.details, { revision: C, renamedTo });
});
