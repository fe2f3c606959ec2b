/**
 * goose: `goose_db_version(id, version_id, is_applied, tstamp)`, a log: each
 * up adds a row with is_applied true, each down one with false. The latest
 * row of a version decides; version 0 is goose's own first row.
 */
import { type LedgerReader, matchByKey, numeric, requireColumns, requireTable } from "./source.ts";

export const goose: LedgerReader = {
  name: "goose",
  table: "goose_db_version",
  async read(engine, imported) {
    await requireTable(engine, "goose", "goose_db_version");
    await requireColumns(engine, "goose", "goose_db_version", ["id", "version_id", "is_applied"]);
    const rows = await engine.query<{ version: string }>(
      `SELECT version FROM (
         SELECT DISTINCT ON (version_id) version_id::text AS version, version_id, is_applied
           FROM goose_db_version ORDER BY version_id, id DESC) latest
        WHERE is_applied AND version_id <> 0 ORDER BY version_id`,
    );
    return matchByKey(
      "goose_db_version",
      imported,
      rows.map((row) => row.version),
      (file) => numeric(file.version),
      numeric,
    );
  },
};
