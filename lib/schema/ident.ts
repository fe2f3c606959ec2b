/**
 * Identifiers as PostgreSQL's `quote_ident` prints them: bare when that reads
 * back the same, quoted otherwise. Snapshots and generated SQL then read like
 * what a person writes.
 */

// PostgreSQL's reserved and type/function-name keywords: bare, they would not parse as names.
const RESERVED = new Set(
  ("all analyse analyze and any array as asc asymmetric authorization binary both case cast " +
    "check collate collation column concurrently constraint create cross current_catalog " +
    "current_date current_role current_schema current_time current_timestamp current_user " +
    "default deferrable desc distinct do else end except false fetch for foreign freeze from " +
    "full grant group having ilike in initially inner intersect into is isnull join lateral " +
    "leading left like limit localtime localtimestamp natural not notnull null offset on only " +
    "or order outer overlaps placing primary references returning right select session_user " +
    "similar some symmetric system_user table tablesample then to trailing true union unique " +
    "user using variadic verbose when where window with")
    .split(" "),
);

export function ident(name: string): string {
  if (/^[a-z_][a-z0-9_$]*$/.test(name) && !RESERVED.has(name)) return name;
  return `"${name.replace(/"/g, '""')}"`;
}

export const qualified = (...parts: unknown[]): string =>
  parts.map((part) => ident(String(part))).join(".");
