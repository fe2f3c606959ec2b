/**
 * golang-migrate: `schema_migrations(version, dirty)`, one row: the version
 * the database is at. Every migration up to it ran (golang-migrate is
 * linear); `dirty` means the last one failed part way, and is refused.
 */
import { type LedgerReader, numeric, refuse, requireColumns, requireTable } from "./source.ts";

export const golangMigrate: LedgerReader = {
  name: "golang-migrate",
  table: "schema_migrations",
  async read(engine, imported) {
    await requireTable(engine, "golang-migrate", "schema_migrations");
    await requireColumns(engine, "golang-migrate", "schema_migrations", ["version", "dirty"]);
    const rows = await engine.query<{ version: string; dirty: boolean }>(
      "SELECT version::text AS version, dirty FROM schema_migrations",
    );
    const table = "schema_migrations";
    if (rows.length === 0) return { table, applied: new Map(), unknown: [], notes: [] };
    if (rows.length > 1) {
      throw refuse(
        `golang-migrate's schema_migrations holds ${rows.length} rows, not one`,
        "golang-migrate keeps one row; is this dbmate's table? Then: strata adopt dbmate",
      );
    }
    const [{ version, dirty }] = rows;
    if (dirty) {
      throw refuse(
        `golang-migrate's state is dirty at version ${version}: that migration failed part way`,
        `Repair the database, then: migrate force ${version} (or force the version before it) and adopt again`,
        { version },
      );
    }
    const at = BigInt(numeric(version));
    const applied = new Map<string, string>();
    for (const file of imported) {
      if (/^\d+$/.test(file.version) && BigInt(file.version) <= at) {
        applied.set(file.id, numeric(file.version));
      }
    }
    const known = imported.some((file) =>
      /^\d+$/.test(file.version) && BigInt(file.version) === at
    );
    return { table, applied, unknown: known ? [] : [numeric(version)], notes: [] };
  },
};
