/**
 * Sqitch: `sqitch.changes(change_id, change, project, committed_at, …)` in
 * the registry schema `sqitch`, one row per deployed change (Sqitch reverts
 * a failed deploy, so there is no dirty state). Rows are matched by change
 * name within the project; a reworked change is deployed once per version,
 * so its rows, oldest first, match the imported revisions of that name
 * (`NAME@TAG` first) in plan order.
 */
import { usage } from "../errors.ts";
import type { ForeignState, LedgerReader } from "./source.ts";
import { requireColumns, requireTable } from "./source.ts";

export const sqitch: LedgerReader = {
  name: "sqitch",
  table: "sqitch.changes",
  extra: "[PROJECT]",
  async read(engine, imported, graph, args) {
    const table = "sqitch.changes";
    await requireTable(engine, "Sqitch", table);
    await requireColumns(engine, "Sqitch", table, ["change_id", "change", "project"]);
    const projects = (await engine.query<{ project: string }>(
      "SELECT DISTINCT project::text AS project FROM sqitch.changes ORDER BY 1",
    )).map((row) => row.project);
    let project = args[0];
    if (project === undefined) {
      if (projects.length > 1) {
        throw usage(
          `sqitch.changes holds the projects ${projects.join(", ")}`,
          "Name the one imported: strata adopt sqitch PROJECT",
        );
      }
      project = projects[0];
    }
    const rows = project === undefined ? [] : await engine.query<{ change: string; id: string }>(
      `SELECT change::text AS change, change_id::text AS id FROM sqitch.changes
        WHERE project = $1 ORDER BY committed_at, change_id`,
      [project],
    );
    const byName = new Map<string, string[]>();
    for (
      const file of [...imported].sort((a, b) =>
        graph.position.get(a.id)! - graph.position.get(b.id)!
      )
    ) {
      const name = file.version.replace(/@.*$/, "");
      byName.set(name, [...(byName.get(name) ?? []), file.id]);
    }
    const state: ForeignState = { table, applied: new Map(), unknown: [], notes: [] };
    const taken = new Map<string, number>();
    for (const row of rows) {
      const n = taken.get(row.change) ?? 0;
      taken.set(row.change, n + 1);
      const id = byName.get(row.change)?.[n];
      const entry = `${project}:${row.change} (${row.id.slice(0, 12)})`;
      if (id === undefined) state.unknown.push(entry);
      else state.applied.set(id, entry);
    }
    return state;
  },
};
