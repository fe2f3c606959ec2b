/**
 * Small readers of libpg-query's parse tree (PostgreSQL's own node types), so
 * the rules read like the SQL they look at. Types only: nothing here loads
 * the parser.
 */
import type { AlterTableCmd, Node, RangeVar, TypeName } from "libpg-query";

type KeysOf<T> = T extends unknown ? keyof T : never;
/** A parse-tree node type name, e.g. "CreateStmt". */
export type NodeKind = KeysOf<Node>;
/** The node behind `kind`, e.g. NodeOf<"CreateStmt"> is CreateStmt. */
export type NodeOf<K extends NodeKind> = Extract<Node, Record<K, unknown>>[K];

/** The node of type `kind`, or undefined when `node` is something else. */
export function nodeOf<K extends NodeKind>(node: Node | undefined, kind: K): NodeOf<K> | undefined {
  return node !== undefined && kind in node
    ? (node as unknown as Record<K, NodeOf<K>>)[kind]
    : undefined;
}

/** Every node of type `kind` inside `node`s (a list or one node), in tree order. */
export function nodesOf<K extends NodeKind>(nodes: Node[] | undefined, kind: K): NodeOf<K>[] {
  const out: NodeOf<K>[] = [];
  for (const node of nodes ?? []) {
    const found = nodeOf(node, kind);
    if (found !== undefined) out.push(found);
  }
  return out;
}

/** The `sval`s of a list of String nodes, e.g. a qualified name. */
export function strings(nodes: Node[] | undefined): string[] {
  return nodesOf(nodes, "String").map((s) => s.sval ?? "");
}

/** How a table is keyed in lint's memory: its name without the schema. */
export function tableKey(relation: RangeVar | undefined): string {
  return relation?.relname ?? "";
}

/** `schema.name` as written, for messages. */
export function displayName(relation: RangeVar | undefined): string {
  if (!relation) return "?";
  return relation.schemaname
    ? `${relation.schemaname}.${relation.relname}`
    : relation.relname ?? "?";
}

/** The type's name without `pg_catalog.`, e.g. "timestamp", "bpchar", "int8", "bigserial". */
export function typeName(type: TypeName | undefined): string {
  const names = strings(type?.names);
  return names.length === 2 && names[0] === "pg_catalog" ? names[1] : names.join(".");
}

/** Whether the type is one of PostgreSQL's built-in `pg_catalog` types named `name`. */
export function isCatalogType(type: TypeName | undefined, name: string): boolean {
  const names = strings(type?.names);
  return names.length === 2 && names[0] === "pg_catalog" && names[1] === name;
}

/** The table and subcommands of an `ALTER TABLE`, or null for any other statement. */
export function alterTable(
  stmt: Node,
): { relation: RangeVar | undefined; cmds: AlterTableCmd[] } | null {
  const alter = nodeOf(stmt, "AlterTableStmt");
  if (!alter || alter.objtype !== "OBJECT_TABLE") return null;
  return { relation: alter.relation, cmds: nodesOf(alter.cmds, "AlterTableCmd") };
}

/** Names (last part, lower case) of every function called anywhere inside `node`. */
export function calledFunctions(node: unknown, into: string[] = []): string[] {
  if (Array.isArray(node)) {
    for (const item of node) calledFunctions(item, into);
  } else if (node !== null && typeof node === "object") {
    for (const [key, value] of Object.entries(node)) {
      if (key === "FuncCall") {
        const name = strings((value as { funcname?: Node[] }).funcname).at(-1);
        if (name) into.push(name.toLowerCase());
      }
      calledFunctions(value, into);
    }
  }
  return into;
}

/** Columns a CHECK expression proves NOT NULL: `col IS NOT NULL`, also inside `AND`. */
export function notNullColumns(expr: Node | undefined): string[] {
  const test = nodeOf(expr, "NullTest");
  if (test) {
    const ref = strings(nodeOf(test.arg, "ColumnRef")?.fields);
    return test.nulltesttype === "IS_NOT_NULL" && ref.length === 1 ? ref : [];
  }
  const bool = nodeOf(expr, "BoolExpr");
  if (bool?.boolop === "AND_EXPR") return (bool.args ?? []).flatMap(notNullColumns);
  return [];
}
