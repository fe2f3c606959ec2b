/**
 * drift: the schema the database's applied revisions should give, built on a
 * scratch database, against the database itself. Read-only on the database:
 * it reads the ledger and the catalog, takes no lock and writes nothing.
 */
import { diffCount, diffJson, diffSnapshots, formatDiff, isEmpty } from "../schema/diff.ts";
import { scratchDatabases } from "../schema/scratch.ts";
import { buildUp, sectionSources } from "../schema/build.ts";
import { reconcileViews } from "../schema/reconcile.ts";
import { mirrorSearchPath, readSearchPath } from "../schema/search_path.ts";
import { snapshot } from "../schema/snapshot.ts";
import { assertIntact } from "../state.ts";
import { plural } from "../output.ts";
import { recordedRepeatableFiles } from "../repeatable.ts";
import {
  announceEngine,
  type Context,
  names,
  positionals,
  readState,
  withGraphAndEngine,
} from "./context.ts";

export async function drift(ctx: Context): Promise<number> {
  positionals(ctx, 0, 0, "drift [--scratch URL] [--json]");
  const { out } = ctx;
  const ledger = names(ctx);
  const exclude = [
    { schema: ledger.schema, table: ledger.ledger },
    { schema: ledger.schema, table: ledger.journal },
  ];
  // The database is read and closed before the model is built: an embedded
  // one then never shares the process's memory with the scratch database.
  const { label, actual, applied, searchPath, repeatables, changed } = await withGraphAndEngine(
    ctx,
    async (graph, engine) => {
      const { state } = await readState(engine, ctx, graph);
      // Edited or missing files cannot say what the database should hold.
      assertIntact(graph, state, ctx.config.dir);
      // Built on top of the applied revisions, as their files are now.
      const { files, changed } = await recordedRepeatableFiles(engine, ledger, ctx.config.dir);
      return {
        label: engine.label,
        repeatables: files,
        changed,
        actual: await snapshot(engine, { exclude }),
        searchPath: await readSearchPath(engine),
        applied: state.applied.map((id) => graph.files.get(id)!),
      };
    },
    { readOnly: true },
  );
  const scratch = scratchDatabases(ctx.flags.scratch);
  scratch.admit(sectionSources([...applied, ...repeatables], ["up"]));
  announceEngine(ctx, `rebuild what ${plural(applied.length, "applied revision")} should give`);
  let diff;
  try {
    const model = await scratch.open();
    await mirrorSearchPath(model, searchPath, applied);
    await buildUp(model, applied);
    await buildUp(model, repeatables);
    const expected = await snapshot(model, { exclude });
    // Read as "what happened out of band": added = in the database only.
    diff = await reconcileViews(model, diffSnapshots(expected, actual));
  } finally {
    await scratch.dispose();
  }
  const drifted = !isEmpty(diff);
  for (const file of changed) {
    out.notice(`${file.id} changed since its last run: compared as the file is now`);
  }
  out.document({
    ok: !drifted,
    command: "drift",
    database: label,
    applied: applied.length,
    repeatables: repeatables.map((file) => file.id),
    drifted,
    ...diffJson(diff),
  });
  if (!drifted) {
    out.line(
      out.green(`No drift: ${label} matches its ${plural(applied.length, "applied revision")}`),
    );
    return 0;
  }
  out.line(
    out.red(
      `Drift: ${label} differs from its ${plural(applied.length, "applied revision")} in ${
        plural(diffCount(diff), "object")
      }`,
    ),
  );
  out.line("  (+ only in the database, - missing from it, ~ changed)");
  for (const line of formatDiff(diff)) out.line(line);
  return 3;
}
