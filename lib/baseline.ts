/**
 * A schema as SQL that builds it from nothing, proven: what `baseline` writes
 * as a root revision and `dump` writes as the desired-schema file. The SQL
 * comes from the generator autogenerate uses (an empty database against the
 * target snapshot, both ways); it is then run on a scratch database, and the
 * result must snapshot exactly as the target does, and the down must give the
 * empty database back. Nothing is written by this module.
 */
import type { Engine } from "./db/engine.ts";
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

export const UNSUPPORTED_HINT = "Nothing was written. strata cannot generate these objects: " +
  "drop or move them out of the managed schemas, or write the revision by hand (strata create)";

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
      { hint: UNSUPPORTED_HINT, details: { unsupported } },
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

/**
 * Objects in the database that no snapshot records, so a generated baseline
 * would silently leave them out: foreign servers and wrappers, event
 * triggers, publications, and, in `schemas`, rules, operators, collations and
 * text search configurations. Members of an extension go with it and are not
 * listed.
 */
const UNREPRODUCIBLE_SQL = `
WITH member AS MATERIALIZED (SELECT classid, objid FROM pg_depend WHERE deptype = 'e')
SELECT 'foreign data wrapper ' || quote_ident(fdwname) AS what FROM pg_foreign_data_wrapper w
  WHERE NOT EXISTS (SELECT 1 FROM member m
    WHERE m.classid = 'pg_foreign_data_wrapper'::regclass AND m.objid = w.oid)
UNION ALL SELECT 'foreign server ' || quote_ident(srvname) FROM pg_foreign_server
UNION ALL SELECT 'event trigger ' || quote_ident(evtname) FROM pg_event_trigger e
  WHERE NOT EXISTS (SELECT 1 FROM member m
    WHERE m.classid = 'pg_event_trigger'::regclass AND m.objid = e.oid)
UNION ALL SELECT 'publication ' || quote_ident(pubname) FROM pg_publication
UNION ALL SELECT 'rule ' || quote_ident(schemaname) || '.' || quote_ident(tablename) || '.' ||
    quote_ident(rulename) FROM pg_rules WHERE schemaname IN (SELECT json_array_elements_text($1::text::json))
UNION ALL SELECT 'operator ' || n.nspname || '.' || o.oprname FROM pg_operator o
  JOIN pg_namespace n ON n.oid = o.oprnamespace WHERE n.nspname IN (SELECT json_array_elements_text($1::text::json))
  AND NOT EXISTS (SELECT 1 FROM member m WHERE m.classid = 'pg_operator'::regclass AND m.objid = o.oid)
UNION ALL SELECT 'collation ' || quote_ident(n.nspname) || '.' || quote_ident(c.collname)
  FROM pg_collation c JOIN pg_namespace n ON n.oid = c.collnamespace
  WHERE n.nspname IN (SELECT json_array_elements_text($1::text::json)) AND NOT EXISTS (SELECT 1 FROM member m
    WHERE m.classid = 'pg_collation'::regclass AND m.objid = c.oid)
UNION ALL SELECT 'text search configuration ' || quote_ident(n.nspname) || '.' ||
    quote_ident(c.cfgname) FROM pg_ts_config c JOIN pg_namespace n ON n.oid = c.cfgnamespace
  WHERE n.nspname IN (SELECT json_array_elements_text($1::text::json)) AND NOT EXISTS (SELECT 1 FROM member m
    WHERE m.classid = 'pg_ts_config'::regclass AND m.objid = c.oid)
ORDER BY 1`;

export async function unreproducible(engine: Engine, schemas: string[]): Promise<string[]> {
  const rows = await engine.query<{ what: string }>(UNREPRODUCIBLE_SQL, [JSON.stringify(schemas)]);
  return rows.map((row) => row.what);
}
