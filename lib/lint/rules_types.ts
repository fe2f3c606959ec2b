/**
 * Rules about column types chosen in CREATE TABLE, ADD COLUMN and ALTER
 * COLUMN ... TYPE: types that work today and bite later. Up sections only (a
 * down restores whatever type was there before).
 */
import type { ColumnDef, Node } from "libpg-query";
import { alterTable, isCatalogType, nodeOf, nodesOf } from "./ast.ts";
import type { Hit, Rule } from "./rule.ts";

/** Every column definition a statement writes a type for. */
function columnDefs(stmt: Node): ColumnDef[] {
  const create = nodeOf(stmt, "CreateStmt");
  if (create) return nodesOf(create.tableElts, "ColumnDef");
  return (alterTable(stmt)?.cmds ?? []).flatMap((cmd) => {
    const def = nodeOf(cmd.def, "ColumnDef");
    if (!def) return [];
    // ALTER COLUMN ... TYPE carries the column's name on the command, not the definition.
    return [{ ...def, colname: def.colname ?? cmd.name }];
  });
}

function columnsOfType(stmt: Node, type: string, message: (column: string) => string): Hit[] {
  return columnDefs(stmt).filter((def) => isCatalogType(def.typeName, type))
    .map((def) => ({ message: message(def.colname ?? "?"), location: def.location }));
}

export const TYPE_RULES: Rule[] = [
  {
    id: "prefer-timestamptz",
    severity: "warning",
    sections: "up",
    what: "a column of type timestamp (without time zone)",
    why: "timestamp stores a wall-clock reading without its zone: the same instant reads " +
      "differently, and comparisons go wrong, as soon as servers or clients use another time zone",
    instead: "timestamptz (timestamp with time zone), which stores an instant",
    check(stmt) {
      return columnsOfType(
        stmt,
        "timestamp",
        (c) => `Column "${c}" is timestamp without time zone`,
      );
    },
  },
  {
    id: "ban-char-field",
    severity: "warning",
    sections: "up",
    what: "a column of type char(n) / character(n)",
    why: "char(n) pads values with spaces, ignores trailing spaces in some comparisons and not " +
      "in others, and is no faster than text",
    instead: "text (or varchar), with a CHECK on the length if one is needed",
    check(stmt) {
      return columnsOfType(stmt, "bpchar", (c) => `Column "${c}" is char(n)`);
    },
  },
];
