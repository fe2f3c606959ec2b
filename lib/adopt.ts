/**
 * Adopting a baseline written by `clean`: a database that already ran every
 * revision the baseline replaces is at the baseline. Its ledger gets the
 * baseline's row in place of the replaced rows (their history stays in the
 * journal, and the `adopt` row lists them), in one transaction, without
 * running the baseline's SQL.
 */
import type { Engine } from "./db/engine.ts";
import type { Graph } from "./graph.ts";
import { deleteLedgerSql, insertLedgerSql, journalSql, type LedgerNames } from "./ledger.ts";
import type { Output } from "./output.ts";
import type { State } from "./state.ts";

export function adoptionSql(names: LedgerNames, graph: Graph, baseline: string, applied: string[]) {
  const file = graph.files.get(baseline)!;
  return [
    ...applied.map((id) => deleteLedgerSql(names, id)),
    insertLedgerSql(names, {
      revision: baseline,
      parents: graph.parents.get(baseline)!,
      checksum: file.checksum,
    }),
    journalSql(names, {
      action: "adopt",
      revision: baseline,
      checksum: file.checksum,
      detail: `replaces ${applied.join(" ")}`,
    }),
  ].join("\n");
}

/** Record every baseline the state says is due; call under the lock. */
export async function adoptBaselines(
  engine: Engine,
  names: LedgerNames,
  graph: Graph,
  state: State,
  out: Output,
): Promise<string[]> {
  for (const baseline of state.adopt) {
    const replaced = graph.files.get(baseline)!.replaces.filter((id) => state.rows.has(id));
    await engine.exec(adoptionSql(names, graph, baseline, replaced));
    out.line(`adopted baseline ${baseline} (it replaces ${replaced.length} applied revisions)`);
  }
  return state.adopt;
}

/**
 * Adopting another tool's ledger (`strata adopt FORMAT`): each imported
 * revision that tool recorded as applied gets its strata row, without
 * running its SQL, and a journal row `adopt` naming the entry it came from.
 */
export function adoptImportedSql(
  names: LedgerNames,
  graph: Graph,
  source: string,
  rows: Array<{ id: string; entry: string }>,
): string {
  return rows.flatMap(({ id, entry }) => {
    const file = graph.files.get(id)!;
    return [
      insertLedgerSql(names, {
        revision: id,
        parents: graph.parents.get(id)!,
        checksum: file.checksum,
      }),
      journalSql(names, {
        action: "adopt",
        revision: id,
        checksum: file.checksum,
        detail: `from ${source}: ${entry}`,
      }),
    ];
  }).join("\n");
}
