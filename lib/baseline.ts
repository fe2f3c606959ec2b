/**
 * A schema as SQL that builds it from nothing, proven: what `baseline` writes
 * as a root revision and `dump` writes as the desired-schema file. The SQL
 * comes from the generator autogenerate uses (an empty database against the
 * target snapshot, both ways); it is then run on a scratch database, and the
 * result must snapshot exactly as the target does, and the down must give the
 * empty database back. Nothing is written by this module.
 */
import { StrataError } from "./errors.ts";
import type { LedgerNames } from "./ledger.ts";
import { parseMigration } from "./migration_file.ts";
import { runSection } from "./schema/build.ts";
import { diffCount, diffSnapshots, formatDiff, isEmpty, type SchemaDiff } from "./schema/diff.ts";
import { generateSql, renderStatements } from "./schema/generate.ts";
import { reconcileViews } from "./schema/reconcile.ts";
import type { ScratchDatabases } from "./schema/scratch.ts";
import { ident } from "./schema/ident.ts";
import { type Snapshot, snapshot, type SnapshotOptions } from "./schema/snapshot.ts";

export interface Reproduced {
  up: string;
  down: string;
  /** Objects of the target schema (columns, indexes, … each count). */
  objects: number;
}

/**
 * strata's own tables, left out wherever they appear: the configured ledger
 * and journal, and the default names, in any schema.
 */
export function ledgerExclusions(names: LedgerNames): SnapshotOptions["exclude"] {
  const tables = new Set([names.ledger, names.journal, "strata_ledger", "strata_journal"]);
  return [...tables].map((table) => ({ schema: "*", table }));
}

/** The part of `snap` in `schemas` (extensions by the schema they live in). */
export function onlySchemas(snap: Snapshot, schemas: string[]): Snapshot {
  const quoted = schemas.map((s) => ident(s));
  const objects = new Map(
    [...snap.objects].filter(([, o]) => {
      if (o.kind === "schema") return quoted.includes(o.name);
      if (o.kind === "extension") return schemas.includes(String(o.facts?.schema));
      return quoted.some((q) => o.name.startsWith(`${q}.`));
    }),
  );
  return { objects };
}

function failure(what: string, diff: SchemaDiff, hint: string): StrataError {
  return new StrataError(
    "PROOF_FAILED",
    `${what} (${diffCount(diff)} difference(s)):\n${formatDiff(diff).join("\n")}`,
    { hint, details: { differences: diffCount(diff) } },
  );
}

/**
 * SQL that builds `target` (restricted to `schemas` when given) on an empty
 * database, and SQL that removes it again, proven on `scratch`. Throws
 * PROOF_FAILED naming every object the generator cannot reproduce or that
 * comes out different, and EXTENSION_UNAVAILABLE for an extension the
 * scratch engine lacks.
 */
export async function reproduce(
  target: Snapshot,
  scratch: ScratchDatabases,
  options: { exclude: SnapshotOptions["exclude"]; schemas?: string[]; hint: string },
): Promise<Reproduced> {
  const restrict = (s: Snapshot) => options.schemas ? onlySchemas(s, options.schemas) : s;
  const wanted = restrict(target);
  const engine = await scratch.open();
  const empty = restrict(await snapshot(engine, { exclude: options.exclude }));
  const forward = generateSql(empty, wanted);
  const backward = generateSql(wanted, empty);
  const unsupported = [...new Set([...forward.unsupported, ...backward.unsupported])];
  if (unsupported.length > 0) {
    throw new StrataError(
      "PROOF_FAILED",
      `Cannot reproduce these objects: ${unsupported.join("; ")}`,
      { hint: options.hint, details: { unsupported } },
    );
  }
  const up = renderStatements(forward.statements);
  const down = renderStatements(backward.statements);
  scratch.admit([{ path: "(generated schema)", line: 1, sql: up }]);
  const text = `-- message: proof\n-- parents:\n-- up\n${up}\n-- down\n${down}\n`;
  const revision = parseMigration(text, "(generated schema)", "00000000_0000_proof", null);
  try {
    await runSection(engine, revision, "up");
  } catch (error) {
    if (!(error instanceof StrataError) || error.code === "EXTENSION_UNAVAILABLE") throw error;
    throw new StrataError(
      "PROOF_FAILED",
      `Cannot reproduce the schema: the generated SQL fails: ${error.message}`,
      { hint: options.hint },
    );
  }
  const built = restrict(await snapshot(engine, { exclude: options.exclude }));
  const upDiff = await reconcileViews(engine, diffSnapshots(built, wanted));
  if (!isEmpty(upDiff)) {
    throw failure(
      "Cannot reproduce the schema: the generated SQL builds something else " +
        "(+ only in the source, - only in the rebuild, ~ changed)",
      upDiff,
      options.hint,
    );
  }
  await runSection(engine, revision, "down");
  const downDiff = diffSnapshots(
    empty,
    restrict(await snapshot(engine, { exclude: options.exclude })),
  );
  if (!isEmpty(downDiff)) {
    throw failure("Cannot prove the down: it does not empty the schema", downDiff, options.hint);
  }
  return { up, down, objects: wanted.objects.size };
}
