/**
 * PostgreSQL versions print the same view differently (16 stopped
 * qualifying columns of a single-table view, for one). When two snapshots
 * come from different versions, a view that differs only in print is
 * re-rendered: its text from one side is created as a temporary view on the
 * other side's database and printed there, in that version's words.
 */
import type { Engine } from "../db/engine.ts";
import type { SchemaDiff } from "./diff.ts";

async function render(engine: Engine, definition: string): Promise<string | null> {
  try {
    await engine.exec(`CREATE TEMP VIEW strata_canonical AS ${definition.replace(/;\s*$/, "")}`);
    const [row] = await engine.query<{ text: string }>(
      "SELECT pg_get_viewdef('strata_canonical'::regclass, true) AS text",
    );
    return row.text.trim();
  } catch {
    return null;
  } finally {
    await engine.exec("DROP VIEW IF EXISTS strata_canonical").catch(() => {});
  }
}

/** `diff` without the views whose `after` text prints as `before` on `reference` (the `before` side). */
export async function reconcileViews(reference: Engine, diff: SchemaDiff): Promise<SchemaDiff> {
  const views = diff.changed.filter((c) =>
    (c.kind === "view" || c.kind === "materialized view") && c.before.comment === c.after.comment
  );
  if (views.length === 0) return diff;
  const [{ path }] = await reference.query<{ path: string }>(
    "SELECT current_setting('search_path') AS path",
  );
  // Printed as the snapshots print: every name outside pg_catalog qualified.
  await reference.query("SELECT set_config('search_path', 'pg_catalog', false)");
  const same = new Set<string>();
  try {
    for (const c of views) {
      if ((await render(reference, c.after.definition)) === c.before.definition) same.add(c.name);
    }
  } finally {
    await reference.query("SELECT set_config('search_path', $1, false)", [path]);
  }
  return { ...diff, changed: diff.changed.filter((c) => !same.has(c.name) || !views.includes(c)) };
}
