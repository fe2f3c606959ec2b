/**
 * Alembic: `alembic_version(version_num)`, one row per head the database is
 * at (several after a branch). The applied set is every one of them and all
 * their ancestors, found through the imported revisions' parents (which
 * `import alembic` takes from `down_revision`); the files carry the Alembic
 * revision id in their first line, `-- imported from alembic REV: FILE`.
 */
import { ancestors } from "../graph.ts";
import type { ForeignState, LedgerReader } from "./source.ts";
import { requireColumns, requireTable } from "./source.ts";

export const alembic: LedgerReader = {
  name: "alembic",
  table: "alembic_version",
  async read(engine, imported, graph) {
    const table = "alembic_version";
    await requireTable(engine, "Alembic", table);
    await requireColumns(engine, "Alembic", table, ["version_num"]);
    const heads = (await engine.query<{ rev: string }>(
      "SELECT version_num::text AS rev FROM alembic_version ORDER BY 1",
    )).map((row) => row.rev);
    const byRev = new Map(imported.map((file) => [file.version, file.id]));
    const revOf = new Map(imported.map((file) => [file.id, file.version]));
    const state: ForeignState = { table, applied: new Map(), unknown: [], notes: [] };
    for (const head of heads) {
      const id = byRev.get(head);
      if (id === undefined) {
        state.unknown.push(head);
        continue;
      }
      for (const rev of ancestors(graph, id)) {
        // A head names itself; an ancestor is named after the first head it was reached from.
        if (rev === id) state.applied.set(rev, head);
        else if (!state.applied.has(rev)) {
          state.applied.set(rev, `${revOf.get(rev) ?? rev} (ancestor of ${head})`);
        }
      }
    }
    return state;
  },
};
