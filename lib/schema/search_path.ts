/**
 * A database's search path, carried over to the scratch database that
 * rebuilds it. Teams put their tables in a schema named only by
 * `ALTER DATABASE … SET search_path` (or the role's setting), outside the
 * migrations; rebuilt without it, every unqualified name would land in
 * `public` and drift would report the whole schema as moved.
 */
import type { Engine } from "../db/engine.ts";
import type { MigrationFile } from "../migration_file.ts";
import { ident } from "./ident.ts";

export interface SearchPath {
  /** The setting as the database's sessions get it. */
  path: string;
  /** Schemas on it that exist there, other than `public`. */
  schemas: string[];
}

export async function readSearchPath(engine: Engine): Promise<SearchPath> {
  // One row per schema (arrays of names come back as text from one of the clients).
  const rows = await engine.query<{ path: string; schema: string | null }>(
    `SELECT current_setting('search_path') AS path, s.name::text AS schema
       FROM (SELECT 1) one
       LEFT JOIN unnest(current_schemas(false)) WITH ORDINALITY AS s(name, i)
         ON s.name <> 'public'
      ORDER BY s.i`,
  );
  return {
    path: rows[0].path,
    schemas: rows.map((row) => row.schema).filter((schema): schema is string => schema !== null),
  };
}

/**
 * Make `model` resolve names as the database does: the schemas its path
 * names that no revision creates itself, then the same path. A schema a
 * revision creates is left to that revision (creating it first would make
 * the revision fail).
 */
export async function mirrorSearchPath(
  model: Engine,
  live: SearchPath,
  files: MigrationFile[],
): Promise<void> {
  const created = (schema: string) => {
    const name = schema.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    const pattern = new RegExp(`CREATE\\s+SCHEMA\\s+(IF\\s+NOT\\s+EXISTS\\s+)?"?${name}"?\\b`, "i");
    return files.some((file) => pattern.test(file.up.sql));
  };
  const missing = live.schemas.filter((schema) => !created(schema));
  const sql = missing.map((schema) => `CREATE SCHEMA IF NOT EXISTS ${ident(schema)};`);
  if (sql.length > 0) await model.exec(sql.join("\n"));
  await model.query("SELECT set_config('search_path', $1, false)", [live.path]);
}
