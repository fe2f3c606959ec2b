/**
 * The complete SQL of a plan, bookkeeping included, as a script psql can run:
 * what `--sql` prints without connecting and `--dry-run` prints after reading
 * the real state.
 */
import type { Graph } from "./graph.ts";
import {
  createLedgerSql,
  deleteLedgerSql,
  insertLedgerSql,
  journalSql,
  type LedgerNames,
} from "./ledger.ts";
import { assertFilled, placeholderDetail } from "./placeholders.ts";
import type { Plan } from "./plan.ts";
import { eachModeSql } from "./runner.ts";

export function planSql(graph: Graph, names: LedgerNames, plan: Plan, header: string): string {
  assertFilled(plan.steps.map((id) => graph.files.get(id)!));
  const parts = [`-- ${header}`, "", createLedgerSql(names), ""];
  for (const id of plan.steps) {
    const file = graph.files.get(id)!;
    const parents = graph.parents.get(id)!;
    parts.push(`-- ${plan.direction === "up" ? "upgrade" : "downgrade"} ${id} (${file.path})`);
    if (file.transaction === "none") {
      // Outside a transaction, statement by statement, as strata runs it: the file's own
      // BEGIN … COMMIT blocks (checked closed before this is printed) commit as one, and
      // the ledger row follows the last statement, outside any block.
      const section = plan.direction === "up" ? file.up : file.down!;
      const action = plan.direction === "up" ? "upgrade" : "downgrade";
      parts.push(
        "-- transaction: none: each statement commits alone, a BEGIN … COMMIT block as one",
        section.sql.trim(),
        ";",
      );
      parts.push(
        plan.direction === "up"
          ? insertLedgerSql(names, { revision: id, parents, checksum: file.checksum })
          : deleteLedgerSql(names, id),
        journalSql(names, {
          action,
          revision: id,
          checksum: file.checksum,
          detail: placeholderDetail(file, plan.direction),
        }),
      );
    } else {
      parts.push("BEGIN;", eachModeSql(names, file, parents, plan.direction), "COMMIT;");
    }
    parts.push("");
  }
  return parts.join("\n");
}
