/**
 * Rows for a scratch database's empty tables, so that what a statement does
 * to existing rows (a rewrite, a validation scan) shows when `locks` measures
 * it. Values are made up from each column's type; what a table refuses is
 * reported with the database's reason, never guessed around.
 */
import type { Engine } from "../db/engine.ts";

/** Relations of the user's schemas: not the catalogs, TOAST or temporary schemas. */
export const USER_RELATIONS = `n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
  AND n.nspname NOT LIKE 'pg_temp%' AND n.nspname NOT LIKE 'pg_toast_temp%'`;

interface Column {
  name: string;
  type: string;
  category: string;
  skip: boolean;
  notnull: boolean;
  /** For a one-column foreign key: a query for the g-th row's key in the table it references. */
  ref: string | null;
}

function valueOf(column: Column): string {
  const t = column.type;
  if (column.ref) return `${column.ref}::${t}`;
  switch (column.category) {
    case "N":
      return `g::${t}`;
    case "S":
      return `('row_' || g)::${t}`;
    case "B":
      return "true";
    case "D":
      return `(timestamp '2024-01-01' + g * interval '1 day')::${t}`;
    case "T":
      return `(g * interval '1 minute')::${t}`;
    case "E":
      return `(enum_range(null::${t}))[1]`;
    case "A":
      return `'{}'::${t}`;
    case "I":
      return `('10.0.0.' || g)::${t}`;
  }
  if (t === "uuid") return "gen_random_uuid()";
  if (t === "json" || t === "jsonb") return `'{}'::${t}`;
  if (t === "bytea") return "convert_to(g::text, 'UTF8')";
  return `NULL::${t}`;
}

const EMPTY_TABLES_SQL = `SELECT c.oid::text AS oid,
  quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS name
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND ${USER_RELATIONS}
ORDER BY 2`;

const COLUMNS_SQL = `SELECT quote_ident(a.attname) AS name,
  format_type(a.atttypid, a.atttypmod) AS type, t.typcategory::text AS category,
  (a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> '') AS skip, a.attnotnull AS notnull,
  (SELECT format('(SELECT %I FROM %s ORDER BY 1 LIMIT 1 OFFSET g - 1)', r.attname, c.confrelid::regclass)
   FROM pg_constraint c JOIN pg_attribute r ON r.attrelid = c.confrelid AND r.attnum = c.confkey[1]
   WHERE c.conrelid = a.attrelid AND c.contype = 'f' AND cardinality(c.conkey) = 1
     AND c.conkey[1] = a.attnum LIMIT 1) AS ref
FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`;

/** Rows given to each empty table, so a rewrite has something to rewrite. */
export const SEED_ROWS = 3;

/**
 * Give every empty table a few generated rows (numbers, strings, dates by
 * type; columns with defaults keep them). Tables whose insert fails (a check,
 * a foreign key not yet satisfiable, a type strata cannot make up) are tried
 * again after the others, then reported with the database's reason.
 */
export async function seed(
  engine: Engine,
): Promise<{ seeded: string[]; unseeded: Array<{ table: string; reason: string }> }> {
  const tables = await engine.query<{ oid: string; name: string }>(EMPTY_TABLES_SQL);
  let pending: Array<{ name: string; variants: string[] }> = [];
  const reasons = new Map<string, string>();
  const reason = (error: unknown) => error instanceof Error ? error.message : String(error);
  for (const table of tables) {
    let columns: Column[];
    try {
      const [{ has }] = await engine.query<{ has: boolean }>(
        `SELECT EXISTS (SELECT 1 FROM ${table.name}) AS has`,
      );
      if (has) continue;
      columns = (await engine.query<Column>(COLUMNS_SQL, [table.oid])).filter((c) => !c.skip);
    } catch (error) {
      // A table this session may not read (a revision changed the role): say so, go on.
      reasons.set(table.name, reason(error));
      pending.push({ name: table.name, variants: [] });
      continue;
    }
    // Every column filled first; then only the NOT NULL ones (a CHECK tying a column to another
    // often holds for NULL).
    const variants = [columns, columns.filter((c) => c.notnull)].map((cols) =>
      cols.length === 0
        ? Array.from({ length: SEED_ROWS }, () => `INSERT INTO ${table.name} DEFAULT VALUES`)
          .join(";\n")
        : `INSERT INTO ${table.name} (${cols.map((c) => c.name).join(", ")}) SELECT ${
          cols.map(valueOf).join(", ")
        } FROM generate_series(1, ${SEED_ROWS}) AS g`
    );
    pending.push({ name: table.name, variants: [...new Set(variants)] });
  }
  const seeded: string[] = [];
  for (let progress = true; progress && pending.length > 0;) {
    progress = false;
    const left: typeof pending = [];
    for (const table of pending) {
      let done = false;
      for (const sql of table.variants) {
        try {
          await engine.exec(sql);
          done = true;
          break;
        } catch (error) {
          if (!reasons.has(table.name) || sql === table.variants[0]) {
            reasons.set(table.name, reason(error));
          }
        }
      }
      if (done) (seeded.push(table.name), progress = true);
      else left.push(table);
    }
    pending = left;
  }
  const short = (name: string) => name.replace(/^public\./, "");
  return {
    seeded: seeded.map(short).sort(),
    unseeded: pending.map((t) => ({ table: short(t.name), reason: reasons.get(t.name)! })),
  };
}
