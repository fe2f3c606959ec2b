/**
 * A canonical, comparable description of a database's schema: every object
 * keyed by kind and qualified name, with its definition as PostgreSQL prints
 * it. Two databases built the same way give equal snapshots on either
 * engine; strata's own ledger tables are never part of one.
 */
import type { Engine } from "../db/engine.ts";
import { ident, qualified } from "./ident.ts";
import * as q from "./catalog_sql.ts";

export type ObjectKind =
  | "schema"
  | "extension"
  | "type"
  | "sequence"
  | "table"
  | "column"
  | "constraint"
  | "index"
  | "view"
  | "materialized view"
  | "foreign table"
  | "function"
  | "trigger"
  | "policy";

export interface SchemaObject {
  kind: ObjectKind;
  /** Qualified, quoted where PostgreSQL would quote: `public.users`, `public.users.email`. */
  name: string;
  /** The object's definition; two objects are equal when kind, name, definition and comment are. */
  definition: string;
  comment: string | null;
  /** The table a column, constraint, index, trigger or policy belongs to. */
  table?: string;
  /** Structured facts the SQL generator needs (column type, constraint type, …). */
  facts?: Record<string, unknown>;
}

export interface Snapshot {
  objects: Map<string, SchemaObject>;
}

export const objectKey = (o: { kind: string; name: string }) => `${o.kind} ${o.name}`;

/** Tables left out of every snapshot, as `schema.name` pairs (unquoted; schema "*": any). */
export interface SnapshotOptions {
  exclude: Array<{ schema: string | null; table: string }>;
  /**
   * Also compare explicit grants (appended to the definition as `GRANTS
   * {acl}`). Only where both sides live on one database (verify): role names
   * and owners differ between a server and the embedded engine.
   */
  privileges?: boolean;
}

type Row = Record<string, unknown>;
const str = (v: unknown) => (v === null || v === undefined ? null : String(v));
const qual = qualified;

const RELATION_KINDS: Record<string, ObjectKind> = {
  r: "table",
  p: "table",
  v: "view",
  m: "materialized view",
  S: "sequence",
  f: "foreign table",
};

function tableDefinition(r: Row): string {
  const parts: string[] = [r.persistence === "u" ? "UNLOGGED TABLE" : "TABLE"];
  if (r.partition_key) parts.push(`PARTITION BY ${r.partition_key}`);
  if (r.bound) parts.push(`PARTITION OF ${r.parents} ${r.bound}`);
  else if (r.parents) parts.push(`INHERITS (${r.parents})`);
  if (r.rls) parts.push("ROW LEVEL SECURITY");
  if (r.force_rls) parts.push("FORCE ROW LEVEL SECURITY");
  return parts.join(" ");
}

export function columnDefinition(facts: Row): string {
  let text = String(facts.type);
  if (facts.collation) text += ` COLLATE ${facts.collation}`;
  if (facts.generated) {
    text += ` GENERATED ALWAYS AS (${facts.default}) ${
      facts.generated === "v" ? "VIRTUAL" : "STORED"
    }`;
  } else if (facts.default !== null && facts.default !== undefined) {
    text += ` DEFAULT ${facts.default}`;
  }
  if (facts.identity) {
    text += ` GENERATED ${facts.identity === "a" ? "ALWAYS" : "BY DEFAULT"} AS IDENTITY`;
  }
  if (facts.not_null) text += " NOT NULL";
  return text;
}

function typeDefinition(r: Row): string {
  switch (r.kind) {
    case "e":
      return `ENUM (${r.labels ?? ""})`;
    case "c":
      return `COMPOSITE (${r.attributes ?? ""})`;
    case "r":
      return `RANGE (SUBTYPE = ${r.subtype})`;
    default: {
      let text = `DOMAIN ${r.base}`;
      if (r.default !== null) text += ` DEFAULT ${r.default}`;
      if (r.not_null) text += " NOT NULL";
      if (r.checks) text += ` ${r.checks}`;
      return text;
    }
  }
}

/** Take a snapshot of every user schema of the database `engine` is connected to. */
export async function snapshot(engine: Engine, options: SnapshotOptions): Promise<Snapshot> {
  // Definitions qualify every name that is not in pg_catalog, whatever the
  // session's search_path was, so both engines print them alike.
  const [{ path, current }] = await engine.query<{ path: string; current: string | null }>(
    "SELECT current_setting('search_path') AS path, current_schema() AS current",
  );
  await engine.query("SELECT set_config('search_path', 'pg_catalog', false)");
  try {
    return await collect(engine, options, current ?? "public");
  } finally {
    await engine.query("SELECT set_config('search_path', $1, false)", [path]);
  }
}

async function collect(
  engine: Engine,
  options: SnapshotOptions,
  currentSchema: string,
): Promise<Snapshot> {
  const excluded = new Set(
    options.exclude.map((t) => `${t.schema ?? currentSchema}\u0000${t.table}`),
  );
  // Schema "*" leaves a table out in every schema.
  const isExcluded = (schema: unknown, table: unknown) =>
    excluded.has(`${schema}\u0000${table}`) || excluded.has(`*\u0000${table}`);
  const skip = (r: Row) => isExcluded(r.schema, r.table ?? r.name);
  const [
    schemas,
    extensions,
    relations,
    columns,
    constraints,
    indexes,
    functions,
    triggers,
    types,
    policies,
  ] = await Promise.all(
    [
      q.SCHEMAS_SQL,
      q.EXTENSIONS_SQL,
      q.RELATIONS_SQL,
      q.COLUMNS_SQL,
      q.CONSTRAINTS_SQL,
      q.INDEXES_SQL,
      q.FUNCTIONS_SQL,
      q.TRIGGERS_SQL,
      q.TYPES_SQL,
      q.POLICIES_SQL,
    ].map((sql) => engine.query<Row>(sql)),
  );
  const objects = new Map<string, SchemaObject>();
  const add = (o: SchemaObject) => objects.set(objectKey(o), o);

  for (const r of schemas) {
    add({
      kind: "schema",
      name: ident(String(r.name)),
      definition: "SCHEMA",
      comment: str(r.comment),
    });
  }
  for (const r of extensions) {
    add({
      kind: "extension",
      name: ident(String(r.name)),
      definition: `EXTENSION SCHEMA ${ident(String(r.schema))}`,
      comment: str(r.comment),
      facts: { schema: r.schema },
    });
  }
  for (const r of relations) {
    if (skip(r) || r.identity_sequence) continue;
    const kind = RELATION_KINDS[String(r.kind)];
    const name = qual(r.schema, r.name);
    let definition: string;
    if (kind === "sequence") {
      definition = `SEQUENCE ${r.sequence}` +
        (r.owner_table ? ` OWNED BY ${qual(r.owner_schema, r.owner_table, r.owner_column)}` : "");
      // An owned sequence belonging to a ledger table goes with it.
      if (r.owner_table && isExcluded(r.owner_schema, r.owner_table)) continue;
    } else if (kind === "view" || kind === "materialized view") {
      definition = String(r.view).trim();
    } else {
      definition = tableDefinition(r);
    }
    add({ kind, name, definition, comment: str(r.comment), facts: { ...r } });
  }
  for (const r of columns) {
    if (skip(r)) continue;
    add({
      kind: "column",
      name: qual(r.schema, r.table, r.name),
      table: qual(r.schema, r.table),
      definition: columnDefinition(r),
      comment: str(r.comment),
      facts: { ...r },
    });
  }
  for (const r of constraints) {
    if (skip(r)) continue;
    add({
      kind: "constraint",
      name: qual(r.schema, r.table, r.name),
      table: qual(r.schema, r.table),
      definition: String(r.definition),
      comment: str(r.comment),
      facts: { type: r.type, constraint: r.name, inherited: r.inherited },
    });
  }
  for (const r of indexes) {
    if (skip(r)) continue;
    add({
      kind: "index",
      name: qual(r.schema, r.name),
      table: qual(r.schema, r.table),
      definition: String(r.definition) + (r.valid ? "" : " -- INVALID"),
      comment: str(r.comment),
      facts: { valid: r.valid, inherited: r.inherited, index: r.name },
    });
  }
  for (const r of functions) {
    add({
      kind: "function",
      name: `${qual(r.schema, r.name)}(${r.args})`,
      definition: String(r.definition).trim(),
      comment: str(r.comment),
      facts: { prokind: r.kind, args: r.args, function: r.name, schema: r.schema },
    });
  }
  for (const r of triggers) {
    if (skip(r)) continue;
    add({
      kind: "trigger",
      name: qual(r.schema, r.table, r.name),
      table: qual(r.schema, r.table),
      definition: String(r.definition) + (r.enabled === "D" ? " -- DISABLED" : ""),
      comment: str(r.comment),
      facts: {
        trigger: r.name,
        create: r.definition,
        disabled: r.enabled === "D",
        inherited: r.inherited,
      },
    });
  }
  for (const r of types) {
    add({
      kind: "type",
      name: qual(r.schema, r.name),
      definition: typeDefinition(r),
      comment: str(r.comment),
      facts: { ...r },
    });
  }
  for (const r of policies) {
    if (skip(r)) continue;
    add({
      kind: "policy",
      name: qual(r.schema, r.table, r.name),
      table: qual(r.schema, r.table),
      definition: `${r.permissive} FOR ${r.cmd} TO ${r.roles}` +
        (r.qual ? ` USING (${r.qual})` : "") +
        (r.with_check ? ` WITH CHECK (${r.with_check})` : ""),
      comment: null,
      facts: { ...r, policy: r.name },
    });
  }
  if (options.privileges) addPrivileges(objects, await engine.query<Row>(q.PRIVILEGES_SQL));
  return { objects };
}

/** Append each object's explicit grants to its definition, so a lost GRANT is a difference. */
function addPrivileges(objects: Map<string, SchemaObject>, rows: Row[]): void {
  for (const r of rows) {
    let key: string;
    if (r.what === "schema") key = objectKey({ kind: "schema", name: ident(String(r.name)) });
    else if (r.what === "function") {
      key = objectKey({ kind: "function", name: `${qual(r.schema, r.name)}(${r.args})` });
    } else if (r.what === "column") {
      key = objectKey({ kind: "column", name: qual(r.schema, r.name, r.col) });
    } else {
      const kind = RELATION_KINDS[String(r.kind)];
      if (!kind) continue;
      key = objectKey({ kind, name: qual(r.schema, r.name) });
    }
    const object = objects.get(key);
    // Objects left out of the snapshot (ledger tables, extension members) stay out.
    if (object) object.definition += ` GRANTS ${r.acl}`;
  }
}
