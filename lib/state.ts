/**
 * What the ledger says against what the files say: applied, pending, edited,
 * missing, renamed and out-of-order revisions. Computed once, before any change.
 */
import type { Graph } from "./graph.ts";
import type { LedgerRow } from "./ledger.ts";
import { StrataError } from "./errors.ts";

export interface State {
  rows: Map<string, LedgerRow>;
  /** Applied revisions that have a file, in graph order. */
  applied: string[];
  /** Not applied, in graph order. */
  pending: string[];
  /** Applied, file present, checksum differs. */
  edited: string[];
  /** Applied, no file with that id. */
  missing: string[];
  /** Missing revisions whose content now sits under another, unapplied id. */
  renamed: Array<{ from: string; to: string }>;
  /** Pending revisions that are ancestors of an applied revision. */
  outOfOrder: string[];
  /** The applied revisions with no applied child: the database's current revision(s). */
  current: string[];
  /**
   * Baselines whose replaced revisions are all applied: the database is at
   * the baseline already, and the next run records it (journal `adopt`)
   * without running its SQL. They count as applied.
   */
  adopt: string[];
  /** Baselines of which only some replaced revisions are applied: no way forward from here. */
  partial: Array<{ baseline: string; applied: string[]; notApplied: string[] }>;
}

export function compareState(graph: Graph, rows: LedgerRow[]): State {
  const byId = new Map(rows.map((row) => [row.revision, row]));
  const applied: string[] = [];
  const pending: string[] = [];
  const edited: string[] = [];
  const adopt: string[] = [];
  const partial: State["partial"] = [];
  for (const id of graph.order) {
    const row = byId.get(id);
    const replaces = graph.files.get(id)!.replaces;
    if (!row && replaces.length > 0) {
      // The replaced revisions form a line, so the newest one applied means all are.
      const done = replaces.filter((replaced) => byId.has(replaced));
      if (done.length > 0 && byId.has(replaces[replaces.length - 1])) {
        adopt.push(id);
        applied.push(id);
        continue;
      }
      if (done.length > 0) {
        partial.push({
          baseline: id,
          applied: done,
          notApplied: replaces.filter((replaced) => !byId.has(replaced)),
        });
      }
    }
    if (!row) {
      pending.push(id);
      continue;
    }
    applied.push(id);
    if (row.checksum !== graph.files.get(id)!.checksum) edited.push(id);
  }
  const missing = rows.map((row) => row.revision)
    .filter((id) => !graph.files.has(id) && !graph.replacedBy.has(id)).sort();
  const isApplied = (id: string) => byId.has(id) || adopt.includes(id);
  const pendingByChecksum = new Map(pending.map((id) => [graph.files.get(id)!.checksum, id]));
  const renamed = missing.flatMap((id) => {
    const to = pendingByChecksum.get(byId.get(id)!.checksum ?? "");
    return to ? [{ from: id, to }] : [];
  });

  // A pending revision is out of order when something after it in the graph is applied.
  const appliedBelow = new Set<string>();
  for (let i = graph.order.length - 1; i >= 0; i--) {
    const id = graph.order[i];
    if (graph.children.get(id)!.some((child) => isApplied(child) || appliedBelow.has(child))) {
      appliedBelow.add(id);
    }
  }
  const outOfOrder = pending.filter((id) => appliedBelow.has(id));
  // Current: applied and below no other applied revision (a gap is not a branch).
  const current = applied.filter((id) => !appliedBelow.has(id));
  return {
    rows: byId,
    applied,
    pending,
    edited,
    missing,
    renamed,
    outOfOrder,
    current,
    adopt,
    partial,
  };
}

/** Stop (exit 5) when an applied revision's file is gone or was edited. */
export function assertIntact(graph: Graph, state: State, dir: string): void {
  for (const { baseline, applied, notApplied } of state.partial) {
    throw new StrataError(
      "INTEGRITY",
      `Baseline "${baseline}" replaces revisions this database has only partly applied ` +
        `(${applied.length} of ${applied.length + notApplied.length}; not applied: ${
          notApplied.join(", ")
        })`,
      {
        file: graph.files.get(baseline)!.path,
        hint: "Restore the files from before clean (strata backups; strata restore ID), " +
          "run strata apply, then clean again",
        details: { baseline, applied, notApplied },
      },
    );
  }
  const renamedFrom = new Map(state.renamed.map((r) => [r.from, r.to]));
  for (const id of state.missing) {
    const to = renamedFrom.get(id);
    if (to) {
      throw new StrataError(
        "INTEGRITY",
        `Applied revision "${id}" was renamed to "${to}"`,
        {
          file: graph.files.get(to)!.path,
          hint: `Rename the file back to ${id}.sql; a revision id must not change once applied`,
          details: { revision: id, renamedTo: to },
        },
      );
    }
  }
  if (state.missing.length > 0) {
    throw new StrataError(
      "INTEGRITY",
      `Applied revision${state.missing.length > 1 ? "s" : ""} without a file in ${dir}: ${
        state.missing.join(", ")
      }`,
      {
        hint: "Restore the missing files (strata restore, or from version control); " +
          `if the revision was abandoned and will not come back, forget its ledger row with: strata stamp --unstamp ${
            state.missing[0]
          }`,
        details: { missing: state.missing },
      },
    );
  }
  if (state.edited.length > 0) {
    const first = graph.files.get(state.edited[0])!;
    throw new StrataError(
      "INTEGRITY",
      `Applied revision${state.edited.length > 1 ? "s" : ""} edited since applied: ${
        state.edited.join(", ")
      }`,
      {
        file: first.path,
        hint: `Undo the edit, or accept it with: strata rehash ${state.edited[0]}`,
        details: { edited: state.edited },
      },
    );
  }
}
