/**
 * SQL that creates, drops or alters one snapshot object, built from the
 * definitions PostgreSQL printed for it. The generator decides the order.
 */
import { ident, qualified } from "./ident.ts";
import { quoteLiteral } from "../sql_literal.ts";
import { columnDefinition, type SchemaObject } from "./snapshot.ts";

type Facts = Record<string, unknown>;
const facts = (o: SchemaObject): Facts => o.facts ?? {};
const literal = quoteLiteral;
const stripNote = (definition: string) => definition.replace(/ -- (INVALID|DISABLED)$/, "");

export function enumLabels(o: SchemaObject): string[] {
  return JSON.parse(String(facts(o).labels_json ?? "[]"));
}

/** What COMMENT ON needs to name the object. */
function commentTarget(o: SchemaObject): string {
  const f = facts(o);
  switch (o.kind) {
    case "constraint":
      return `CONSTRAINT ${ident(String(f.constraint))} ON ${o.table}`;
    case "trigger":
      return `TRIGGER ${ident(String(f.trigger))} ON ${o.table}`;
    case "policy":
      return `POLICY ${ident(String(f.policy))} ON ${o.table}`;
    case "function":
      return `${
        f.prokind === "p" ? "PROCEDURE" : f.prokind === "a" ? "AGGREGATE" : "FUNCTION"
      } ${o.name}`;
    case "foreign table":
      return `FOREIGN TABLE ${o.name}`;
    default:
      return `${o.kind.toUpperCase()} ${o.name}`;
  }
}

export function commentSql(o: SchemaObject, comment: string | null): string {
  return `COMMENT ON ${commentTarget(o)} IS ${comment === null ? "NULL" : literal(comment)};`;
}

export function columnSpec(column: SchemaObject): string {
  return `${ident(String(facts(column).name))} ${column.definition}`;
}

export function createTable(table: SchemaObject, columns: SchemaObject[]): string {
  const f = facts(table);
  const unlogged = f.persistence === "u" ? "UNLOGGED " : "";
  if (f.bound) return `CREATE ${unlogged}TABLE ${table.name} PARTITION OF ${f.parents} ${f.bound};`;
  const body = columns
    .sort((a, b) => Number(facts(a).position) - Number(facts(b).position))
    .map((c) => `  ${columnSpec(c)}`).join(",\n");
  let sql = `CREATE ${unlogged}TABLE ${table.name} (\n${body}\n)`;
  if (f.parents) sql += ` INHERITS (${f.parents})`;
  if (f.partition_key) sql += ` PARTITION BY ${f.partition_key}`;
  const rls = [
    f.rls ? `ALTER TABLE ${table.name} ENABLE ROW LEVEL SECURITY;` : "",
    f.force_rls ? `ALTER TABLE ${table.name} FORCE ROW LEVEL SECURITY;` : "",
  ].filter(Boolean);
  return [`${sql};`, ...rls].join("\n");
}

export function alterTableFlags(before: SchemaObject, after: SchemaObject): string[] | null {
  const [b, a] = [facts(before), facts(after)];
  if (b.partition_key !== a.partition_key || b.bound !== a.bound || b.parents !== a.parents) {
    return null;
  }
  const out: string[] = [];
  if (b.persistence !== a.persistence) {
    out.push(`ALTER TABLE ${after.name} SET ${a.persistence === "u" ? "UNLOGGED" : "LOGGED"};`);
  }
  if (b.rls !== a.rls) {
    out.push(`ALTER TABLE ${after.name} ${a.rls ? "ENABLE" : "DISABLE"} ROW LEVEL SECURITY;`);
  }
  if (b.force_rls !== a.force_rls) {
    out.push(`ALTER TABLE ${after.name} ${a.force_rls ? "" : "NO "}FORCE ROW LEVEL SECURITY;`);
  }
  return out;
}

/** ALTER TABLE steps that turn column `b` into `a`; null when only drop-and-add can. */
export function alterColumn(before: SchemaObject, after: SchemaObject): string[] | null {
  const [b, a] = [facts(before), facts(after)];
  if (b.generated || a.generated) return null;
  const at = `ALTER TABLE ${after.table} ALTER COLUMN ${ident(String(a.name))}`;
  const out: string[] = [];
  if (b.identity && !a.identity) out.push(`${at} DROP IDENTITY;`);
  if (b.type !== a.type || b.collation !== a.collation) {
    if (b.default !== null && b.default !== undefined) out.push(`${at} DROP DEFAULT;`);
    out.push(
      `${at} TYPE ${a.type}${a.collation ? ` COLLATE ${a.collation}` : ""} USING ${
        ident(String(a.name))
      }::${a.type};`,
    );
    if (a.default !== null && a.default !== undefined) out.push(`${at} SET DEFAULT ${a.default};`);
  } else if (b.default !== a.default) {
    out.push(
      a.default === null || a.default === undefined
        ? `${at} DROP DEFAULT;`
        : `${at} SET DEFAULT ${a.default};`,
    );
  }
  if (!b.identity && a.identity) {
    out.push(`${at} ADD GENERATED ${a.identity === "a" ? "ALWAYS" : "BY DEFAULT"} AS IDENTITY;`);
  } else if (b.identity && a.identity && b.identity !== a.identity) {
    out.push(`${at} SET GENERATED ${a.identity === "a" ? "ALWAYS" : "BY DEFAULT"};`);
  }
  if (b.not_null !== a.not_null) out.push(`${at} ${a.not_null ? "SET" : "DROP"} NOT NULL;`);
  return out;
}

export function createObject(o: SchemaObject): string {
  const f = facts(o);
  switch (o.kind) {
    case "schema":
      return `CREATE SCHEMA ${o.name};`;
    case "extension":
      return `CREATE EXTENSION IF NOT EXISTS ${o.name} SCHEMA ${ident(String(f.schema))};`;
    case "type":
      return createType(o);
    case "sequence":
      return `CREATE SEQUENCE ${o.name} ${sequenceOptions(o)};`;
    case "function":
      return `${stripNote(o.definition)};`;
    case "view":
      return `CREATE VIEW ${o.name} AS\n${o.definition.replace(/;$/, "")};`;
    case "materialized view":
      return `CREATE MATERIALIZED VIEW ${o.name} AS\n${o.definition.replace(/;$/, "")};`;
    case "constraint":
      return `ALTER TABLE ${o.table} ADD CONSTRAINT ${
        ident(String(f.constraint))
      } ${o.definition};`;
    case "index":
      return `${stripNote(o.definition)};`;
    case "trigger":
      return [
        `${f.create};`,
        f.disabled ? `ALTER TABLE ${o.table} DISABLE TRIGGER ${ident(String(f.trigger))};` : "",
      ].filter(Boolean).join("\n");
    case "policy":
      return `CREATE POLICY ${
        ident(String(f.policy))
      } ON ${o.table} AS ${f.permissive} FOR ${f.cmd} TO ${f.roles}` +
        (f.qual ? ` USING (${f.qual})` : "") +
        (f.with_check ? ` WITH CHECK (${f.with_check})` : "") + ";";
    default:
      throw new Error(`cannot create a ${o.kind} on its own`);
  }
}

function createType(o: SchemaObject): string {
  const f = facts(o);
  switch (f.kind) {
    case "e":
      return `CREATE TYPE ${o.name} AS ENUM (${enumLabels(o).map(literal).join(", ")});`;
    case "c":
      return `CREATE TYPE ${o.name} AS (${f.attributes ?? ""});`;
    case "r":
      return `CREATE TYPE ${o.name} AS RANGE (SUBTYPE = ${f.subtype});`;
    default:
      return `CREATE DOMAIN ${o.name} AS ${f.base}` +
        (f.default !== null && f.default !== undefined ? ` DEFAULT ${f.default}` : "") +
        (f.not_null ? " NOT NULL" : "") + (f.checks ? ` ${f.checks}` : "") + ";";
  }
}

function sequenceOptions(o: SchemaObject): string {
  // "bigint START 1 INCREMENT 1 MINVALUE 1 MAXVALUE … CACHE 1[ CYCLE]"
  const text = String(facts(o).sequence);
  const [type, ...rest] = text.split(" START ");
  const options = `START ${rest.join(" START ")}`.replace(/MINVALUE (\S+)/, "MINVALUE $1")
    .replace(/ CYCLE$/, " CYCLE");
  return `AS ${type} ${options.includes(" CYCLE") ? options : `${options} NO CYCLE`}`;
}

export function alterSequence(o: SchemaObject): string {
  return `ALTER SEQUENCE ${o.name} ${sequenceOptions(o)};`;
}

export function sequenceOwner(o: SchemaObject): string | null {
  const f = facts(o);
  if (!f.owner_table) return null;
  return `ALTER SEQUENCE ${o.name} OWNED BY ${
    qualified(f.owner_schema, f.owner_table, f.owner_column)
  };`;
}

export function dropObject(o: SchemaObject): string {
  const f = facts(o);
  switch (o.kind) {
    case "constraint":
      return `ALTER TABLE ${o.table} DROP CONSTRAINT ${ident(String(f.constraint))};`;
    case "column":
      return `ALTER TABLE ${o.table} DROP COLUMN ${ident(String(f.name))};`;
    case "trigger":
      return `DROP TRIGGER ${ident(String(f.trigger))} ON ${o.table};`;
    case "policy":
      return `DROP POLICY ${ident(String(f.policy))} ON ${o.table};`;
    case "function": {
      const what = f.prokind === "p" ? "PROCEDURE" : f.prokind === "a" ? "AGGREGATE" : "FUNCTION";
      return `DROP ${what} ${o.name};`;
    }
    case "type":
      return `DROP ${f.kind === "d" ? "DOMAIN" : "TYPE"} ${o.name};`;
    default:
      return `DROP ${o.kind.toUpperCase()} ${o.name};`;
  }
}

export function replaceView(o: SchemaObject): string {
  return `CREATE OR REPLACE VIEW ${o.name} AS\n${o.definition.replace(/;$/, "")};`;
}

/** `ALTER TYPE … ADD VALUE` for labels inserted into an enum, or null when labels went away or moved. */
export function addEnumValues(before: SchemaObject, after: SchemaObject): string[] | null {
  const old = enumLabels(before);
  const now = enumLabels(after);
  let i = 0;
  for (const label of now) if (label === old[i]) i++;
  if (i !== old.length) return null;
  const out: string[] = [];
  now.forEach((label, at) => {
    if (old.includes(label)) return;
    const next = now.slice(at + 1).find((l) => old.includes(l));
    out.push(
      `ALTER TYPE ${after.name} ADD VALUE ${literal(label)}${
        next ? ` BEFORE ${literal(next)}` : ""
      };`,
    );
  });
  return out;
}

/** Rebuild an enum whose labels were removed or reordered; the columns using it are cast over. */
export function rebuildEnum(after: SchemaObject, columns: SchemaObject[]): string[] {
  const [schema, name] = after.name.includes(".")
    ? [
      after.name.slice(0, after.name.lastIndexOf(".")),
      after.name.slice(after.name.lastIndexOf(".") + 1),
    ]
    : ["public", after.name];
  const old = `${schema}.${ident(`${name.replace(/^"|"$/g, "")}__strata_old`)}`;
  const out = [
    `ALTER TYPE ${after.name} RENAME TO ${ident(`${name.replace(/^"|"$/g, "")}__strata_old`)};`,
    createType(after),
  ];
  for (const column of columns) {
    const f = facts(column);
    const at = `ALTER TABLE ${column.table} ALTER COLUMN ${ident(String(f.name))}`;
    const array = String(f.type).endsWith("[]") ? "[]" : "";
    if (f.default !== null && f.default !== undefined) out.push(`${at} DROP DEFAULT;`);
    out.push(
      `${at} TYPE ${after.name}${array} USING ${
        ident(String(f.name))
      }::text${array}::${after.name}${array};`,
    );
    if (f.default !== null && f.default !== undefined) out.push(`${at} SET DEFAULT ${f.default};`);
  }
  out.push(`DROP TYPE ${old};`);
  return out;
}

export { columnDefinition };
