/**
 * Flyway: `flyway_schema_history(installed_rank, version, description, type,
 * script, checksum, installed_by, installed_on, execution_time, success)`,
 * a log in installed_rank order. A row with success false (a failed
 * migration on a database without transactional DDL, or one `repair` has not
 * cleared) is refused. Versioned rows add their version, `UNDO_*` and
 * `DELETE` rows (Flyway's undo and repair) remove it, a `BASELINE` row counts
 * every version up to its own as applied; repeatable rows (no version) and
 * the `SCHEMA` row are noted, not adopted (strata imports no repeatables).
 */
import { type LedgerReader, refuse, requireColumns, requireTable } from "./source.ts";

/** Flyway's version equality: parts as numbers, `_` as `.`, trailing zeros dropped (1.0 = 1). */
function normal(version: string): string | null {
  if (!/^\d+(?:[._]\d+)*$/.test(version)) return null;
  const parts = version.split(/[._]/).map((part) => BigInt(part));
  while (parts.length > 1 && parts[parts.length - 1] === 0n) parts.pop();
  return parts.join(".");
}

function compare(a: string, b: string): number {
  const x = a.split(".").map(BigInt), y = b.split(".").map(BigInt);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const p = x[i] ?? 0n, q = y[i] ?? 0n;
    if (p !== q) return p < q ? -1 : 1;
  }
  return 0;
}

interface HistoryRow {
  rank: number;
  version: string | null;
  description: string | null;
  type: string;
  script: string | null;
  success: boolean;
}

export const flyway: LedgerReader = {
  name: "flyway",
  table: "flyway_schema_history",
  async read(engine, imported) {
    const table = "flyway_schema_history";
    await requireTable(engine, "Flyway", table);
    await requireColumns(engine, "Flyway", table, [
      "installed_rank",
      "version",
      "type",
      "script",
      "success",
    ]);
    const rows = await engine.query<HistoryRow>(
      `SELECT installed_rank AS rank, version::text AS version, description::text AS description,
              type::text AS type, script::text AS script, success
         FROM ${table} ORDER BY installed_rank`,
    );
    const failed = rows.filter((row) => !row.success);
    if (failed.length > 0) {
      const row = failed[0];
      throw refuse(
        `Flyway recorded a failed migration: ${
          row.version ?? row.script
        } (installed_rank ${row.rank})`,
        "Fix the database and run flyway repair (or finish the migration with Flyway), then adopt again",
        { installedRank: row.rank, version: row.version, script: row.script },
      );
    }
    const byVersion = new Map<string, string>();
    for (const file of imported) {
      const v = normal(file.version);
      if (v !== null) byVersion.set(v, file.id);
    }
    const current = new Map<string, string>(); // normal version → as Flyway spells it
    const notes: string[] = [];
    let baseline: string | null = null;
    for (const row of rows) {
      const type = row.type.toUpperCase();
      if (type === "SCHEMA") continue;
      if (row.version === null) {
        notes.push(
          `repeatable ${row.script} (installed_rank ${row.rank}) is not a strata revision`,
        );
        continue;
      }
      const v = normal(row.version);
      if (v === null) {
        current.set(row.version, row.version);
        continue;
      }
      if (type === "BASELINE") {
        baseline = v;
        notes.push(`baseline at ${row.version}: every version up to it counts as applied`);
      } else if (type.startsWith("UNDO") || type === "DELETE") current.delete(v);
      else current.set(v, row.version);
    }
    const applied = new Map<string, string>();
    const unknown: string[] = [];
    if (baseline !== null) {
      for (const [v, id] of byVersion) {
        if (compare(v, baseline) <= 0) applied.set(id, `${v} (baseline)`);
      }
    }
    for (const [v, spelled] of current) {
      const id = byVersion.get(v);
      if (id === undefined) unknown.push(spelled);
      else applied.set(id, spelled);
    }
    return { table, applied, unknown, notes };
  },
};
