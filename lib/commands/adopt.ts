/**
 * adopt FORMAT: a database another tool migrated, recognised as migrated.
 * Reads that tool's bookkeeping table, maps its applied entries onto the
 * revisions `strata import` wrote (matched by their first line,
 * `-- imported from TOOL VERSION: files`), and records strata's ledger rows
 * for them without running any SQL: under the migration lock, in one
 * transaction, each row journaled as `adopt`. Refuses, changing nothing
 * (strata's ledger is not even created), when the other tool's state is
 * dirty or failed, an applied entry has no imported revision, or the applied
 * set is not closed under parents. The other tool's table is left in place.
 */
import { adoptImportedSql } from "../adopt.ts";
import { StrataError, usage } from "../errors.ts";
import { inOrder } from "../graph.ts";
import { openLedger, readLedger } from "../ledger.ts";
import { normalize } from "../migration_file.ts";
import { type ImportedFile, importedHeader, type LedgerReader } from "../adopt/source.ts";
import { type Context, loadGraph, names, positionals, withEngine } from "./context.ts";

const READERS: Record<string, () => Promise<LedgerReader>> = {
  dbmate: async () => (await import("../adopt/dbmate.ts")).dbmate,
  "golang-migrate": async () => (await import("../adopt/golang_migrate.ts")).golangMigrate,
  goose: async () => (await import("../adopt/goose.ts")).goose,
  flyway: async () => (await import("../adopt/flyway.ts")).flyway,
  sqitch: async () => (await import("../adopt/sqitch.ts")).sqitch,
  "node-pg-migrate": async () => (await import("../adopt/node_pg_migrate.ts")).nodePgMigrate,
  alembic: async () => (await import("../adopt/alembic.ts")).alembic,
};

export const ADOPT_FORMATS = Object.keys(READERS);
const USAGE_LINE = "adopt FORMAT [PROJECT] [--dry-run] [--json]";

export async function adopt(ctx: Context): Promise<number> {
  const [format, ...rest] = positionals(ctx, 1, 2, USAGE_LINE);
  const load = READERS[format];
  if (!load) {
    throw usage(`Unknown adopt format "${format}"`, `Formats: ${ADOPT_FORMATS.join(", ")}`);
  }
  const reader = await load();
  if (rest.length > 0 && !reader.extra) {
    throw usage(`adopt ${format} takes no further argument`, `Usage: strata adopt ${format}`);
  }
  const graph = await loadGraph(ctx);
  const imported: ImportedFile[] = [];
  for (const file of graph.files.values()) {
    let text: string;
    try {
      text = normalize(await Deno.readTextFile(file.path));
    } catch (error) {
      throw new StrataError("FILE", `Cannot read a revision file: ${(error as Error).message}`, {
        file: file.path,
        cause: error,
      });
    }
    const header = importedHeader(text);
    if (header?.tool === reader.name) {
      imported.push({ id: file.id, version: header.version, files: header.files });
    }
  }
  if (imported.length === 0) {
    throw usage(
      `No revision in "${ctx.config.dir}" was imported from ${reader.name}`,
      `Import the history first: strata import ${reader.name} PATH`,
    );
  }
  const dryRun = !!ctx.flags["dry-run"];
  const n = names(ctx);
  const out = ctx.out;
  return await withEngine(ctx, async (engine) => {
    await engine.lock(n.schema, n.ledger);
    try {
      const rows = await readLedger(engine, n) ?? [];
      const foreign = await reader.read(engine, imported, graph, rest);
      const source = `${reader.name} ${foreign.table}`;
      if (foreign.unknown.length > 0) {
        throw new StrataError(
          "INTEGRITY",
          `${foreign.unknown.length} applied ${reader.name} entr${
            foreign.unknown.length > 1 ? "ies have" : "y has"
          } no imported revision: ${foreign.unknown.slice(0, 5).join(", ")}`,
          {
            hint:
              `Import the folder ${reader.name} ran them from (strata import ${reader.name} PATH), then adopt again; nothing was recorded`,
            details: { format: reader.name, table: foreign.table, unknown: foreign.unknown },
          },
        );
      }
      const recorded = new Set(rows.map((row) => row.revision));
      const applied = new Set(foreign.applied.keys());
      const gaps: Array<{ revision: string; parent: string }> = [];
      for (const id of inOrder(graph, applied)) {
        for (const parent of graph.parents.get(id)!) {
          if (!applied.has(parent) && !recorded.has(parent)) gaps.push({ revision: id, parent });
        }
      }
      if (gaps.length > 0) {
        const [gap] = gaps;
        throw new StrataError(
          "INTEGRITY",
          `${reader.name} applied ${
            foreign.applied.get(gap.revision)
          } (${gap.revision}) but not its parent ${gap.parent}`,
          {
            hint:
              `The applied set is not closed under parents (a migration ran out of order?); bring the database and ${reader.name} in line, then adopt again; nothing was recorded`,
            details: { format: reader.name, table: foreign.table, gaps },
          },
        );
      }
      const importedIds = new Set(imported.map((file) => file.id));
      const contradicted = [...recorded].filter((id) => importedIds.has(id) && !applied.has(id));
      if (contradicted.length > 0) {
        throw new StrataError(
          "INTEGRITY",
          `strata's ledger records ${contradicted[0]} as applied, but ${reader.name} does not`,
          {
            hint: "Compare the two ledgers; strata stamp --unstamp corrects strata's",
            details: { format: reader.name, contradicted },
          },
        );
      }
      const add = inOrder(graph, new Set([...applied].filter((id) => !recorded.has(id))))
        .map((id) => ({ id, entry: foreign.applied.get(id)! }));
      const already = inOrder(graph, new Set([...applied].filter((id) => recorded.has(id))));
      const pending = imported.filter((file) => !applied.has(file.id)).map((file) => file.id);
      if (!dryRun && add.length > 0) {
        await openLedger(engine, n);
        // The session reset ends the transaction as it ends a revision's: under the table lock
        // strategy with the lease fence, so a runner whose lease was taken over records nothing.
        await engine.exec(`${adoptImportedSql(n, graph, source, add)}\n${engine.sessionResetSql}`);
      }
      out.document({
        ok: true,
        command: "adopt",
        format: reader.name,
        table: foreign.table,
        dryRun,
        adopted: add.map(({ id, entry }) => ({ revision: id, entry })),
        alreadyRecorded: already,
        notApplied: pending,
        notes: foreign.notes,
      });
      for (const { id, entry } of add) {
        out.line(`${out.green("+")} ${dryRun ? "would adopt" : "adopted"} ${id}  ← ${entry}`);
      }
      for (const note of foreign.notes) out.line(out.dim(`  ${note}`));
      if (already.length > 0) out.line(`${already.length} already recorded in strata's ledger`);
      if (pending.length > 0) {
        out.line(
          `${pending.length} imported revisions ${reader.name} has not applied: strata apply runs them`,
        );
      }
      out.line(
        add.length === 0
          ? "Nothing to adopt: strata's ledger already says so"
          : dryRun
          ? `Dry run: nothing recorded (${add.length} revisions)`
          : `Adopted ${add.length} revisions from ${source}; its table is left in place`,
      );
      return 0;
    } finally {
      await engine.unlock().catch(() => {});
    }
  });
}
