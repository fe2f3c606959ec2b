/**
 * drift: the schema the database's applied revisions should give, built on a
 * scratch database, against the database itself. Read-only on the database:
 * it reads the ledger and the catalog, takes no lock and writes nothing.
 */
import {
  diffCount,
  diffJson,
  diffSnapshots,
  formatDiff,
  isEmpty,
  type SchemaDiff,
} from "../schema/diff.ts";
import type { Engine } from "../db/engine.ts";
import type { LedgerNames } from "../ledger.ts";
import type { MigrationFile } from "../migration_file.ts";
import { scratchDatabases } from "../schema/scratch.ts";
import { buildUp, sectionSources } from "../schema/build.ts";
import { reconcileViews } from "../schema/reconcile.ts";
import { mirrorSearchPath, readSearchPath, type SearchPath } from "../schema/search_path.ts";
import { type Snapshot, snapshot } from "../schema/snapshot.ts";
import { assertIntact } from "../state.ts";
import { plural } from "../output.ts";
import { StrataError } from "../errors.ts";
import { formatMs } from "../duration.ts";
import { recordedRepeatableFiles } from "../repeatable.ts";
import {
  announceEngine,
  type Context,
  names,
  positionals,
  readState,
  withGraphAndEngine,
} from "./context.ts";

/** The ledger's own tables, which are never drift. */
function ledgerTables(ledger: LedgerNames) {
  return [
    { schema: ledger.schema, table: ledger.ledger },
    { schema: ledger.schema, table: ledger.journal },
  ];
}

/** What the database holds, read before the model is built. */
export async function readActual(
  engine: Engine,
  ledger: LedgerNames,
): Promise<{ actual: Snapshot; searchPath: SearchPath }> {
  return {
    actual: await snapshot(engine, { exclude: ledgerTables(ledger) }),
    searchPath: await readSearchPath(engine),
  };
}

/**
 * Build what `applied` should give on a scratch database (embedded, or
 * `--scratch URL`) and compare it with `actual`, read as "what happened out
 * of band": added = in the database only. Shared by `drift` and the drift
 * gate of `apply --require-no-drift`.
 */
export async function compareWithApplied(
  ctx: Context,
  applied: MigrationFile[],
  read: { actual: Snapshot; searchPath: SearchPath },
  repeatables: MigrationFile[] = [],
): Promise<SchemaDiff> {
  const scratch = scratchDatabases(ctx.flags.scratch);
  scratch.admit(sectionSources([...applied, ...repeatables], ["up"]));
  announceEngine(ctx, `rebuild what ${plural(applied.length, "applied revision")} should give`);
  try {
    const model = await scratch.open();
    await mirrorSearchPath(model, read.searchPath, applied);
    await buildUp(model, applied);
    // The repeatables the ledger records, on top, as their files are now.
    await buildUp(model, repeatables);
    const expected = await snapshot(model, { exclude: ledgerTables(names(ctx)) });
    return await reconcileViews(model, diffSnapshots(expected, read.actual));
  } finally {
    await scratch.dispose();
  }
}

export async function drift(ctx: Context): Promise<number> {
  positionals(ctx, 0, 0, "drift [--scratch URL] [--json]");
  const { out } = ctx;
  // The database is read and closed before the model is built: an embedded
  // one then never shares the process's memory with the scratch database.
  const { label, read, applied, repeatables, changed } = await withGraphAndEngine(
    ctx,
    async (graph, engine) => {
      const { state } = await readState(engine, ctx, graph);
      // Edited or missing files cannot say what the database should hold.
      assertIntact(graph, state, ctx.config.dir);
      const { files, changed } = await recordedRepeatableFiles(engine, names(ctx), ctx.config.dir);
      return {
        label: engine.label,
        read: await readActual(engine, names(ctx)),
        applied: state.applied.map((id) => graph.files.get(id)!),
        repeatables: files,
        changed,
      };
    },
    { readOnly: true },
  );
  const diff = await compareWithApplied(ctx, applied, read, repeatables);
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

/**
 * The drift gate of `apply --require-no-drift` (config `driftGate`): called
 * under the migration lock before anything runs; refuses (DRIFT, exit 3)
 * with the differences when the database is not what its applied revisions
 * build. Costs one catalog snapshot of the database and one rebuild of the
 * applied revisions on a scratch database.
 */
export async function requireNoDrift(
  ctx: Context,
  engine: Engine,
  applied: MigrationFile[],
  label: string,
): Promise<void> {
  const { out } = ctx;
  const started = performance.now();
  const { files } = await recordedRepeatableFiles(engine, names(ctx), ctx.config.dir);
  const diff = await compareWithApplied(
    ctx,
    applied,
    await readActual(engine, names(ctx)),
    files,
  );
  const took = formatMs(performance.now() - started);
  const revisions = plural(applied.length, "applied revision");
  if (isEmpty(diff)) {
    out.line(out.dim(`Drift gate: ${engine.label} matches its ${revisions} (${took})`));
    return;
  }
  if (!out.json) {
    out.line(out.red(`Drift gate: ${engine.label} differs from its ${revisions}`));
    out.line("  (+ only in the database, - missing from it, ~ changed)");
    for (const line of formatDiff(diff)) out.line(line);
  }
  throw new StrataError(
    "DRIFT",
    `Cannot ${label}: the database differs from its ${revisions} in ${
      plural(diffCount(diff), "object")
    }; nothing was run`,
    {
      hint: "Bring the database back to what its revisions build, or record the change in a new " +
        "revision, then run again (strata drift shows the differences; --require-no-drift is " +
        "config driftGate)",
      details: { database: engine.label, applied: applied.length, ...diffJson(diff) },
    },
  );
}
