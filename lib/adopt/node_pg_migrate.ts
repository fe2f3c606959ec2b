/**
 * node-pg-migrate: `pgmigrations(id, name, run_on)`, one row per applied
 * migration, named by its file name without the extension.
 */
import { type LedgerReader, matchByKey, requireColumns, requireTable } from "./source.ts";

export const nodePgMigrate: LedgerReader = {
  name: "node-pg-migrate",
  table: "pgmigrations",
  async read(engine, imported) {
    await requireTable(engine, "node-pg-migrate", "pgmigrations");
    await requireColumns(engine, "node-pg-migrate", "pgmigrations", ["name", "run_on"]);
    const rows = await engine.query<{ name: string }>(
      "SELECT name::text AS name FROM pgmigrations ORDER BY run_on, id",
    );
    return matchByKey(
      "pgmigrations",
      imported,
      rows.map((row) => row.name),
      (file) => file.files[0].replace(/\.[^./]+$/, ""),
    );
  },
};
