/**
 * dbmate: `schema_migrations(version)`, one row per applied migration, the
 * version as the file name spells it.
 */
import { type LedgerReader, matchByKey, numeric, requireColumns, requireTable } from "./source.ts";

export const dbmate: LedgerReader = {
  name: "dbmate",
  table: "schema_migrations",
  async read(engine, imported) {
    await requireTable(engine, "dbmate", "schema_migrations");
    await requireColumns(engine, "dbmate", "schema_migrations", ["version"]);
    const rows = await engine.query<{ version: string }>(
      "SELECT version::text AS version FROM schema_migrations ORDER BY version",
    );
    return matchByKey(
      "schema_migrations",
      imported,
      rows.map((row) => row.version),
      (file) => numeric(file.version),
      numeric,
    );
  },
};
