/**
 * What lint remembers while it walks statements: the tables and indexes a
 * section created (new, hence empty: no lock or rewrite matters there), the
 * constraints it added NOT VALID, and, across revisions in graph order, the
 * CHECK constraints that prove a column NOT NULL.
 */
import type { Node } from "libpg-query";
import type { TransactionMode } from "../migration_file.ts";
import { alterTable, nodeOf, nodesOf, notNullColumns, strings, tableKey } from "./ast.ts";

interface NotNullCheck {
  table: string;
  columns: string[];
  validated: boolean;
}

/** Knowledge carried from revision to revision (only up sections add to it). */
export interface Memory {
  /** CHECK constraints proving columns NOT NULL, by `table\0constraint`. */
  checks: Map<string, NotNullCheck>;
}

export function newMemory(): Memory {
  return { checks: new Map() };
}

export interface SectionState {
  section: "up" | "down";
  mode: TransactionMode;
  /** Tables created earlier in this section. */
  tables: Set<string>;
  /** Indexes created earlier in this section. */
  indexes: Set<string>;
  /** `table\0constraint` added NOT VALID earlier in this section. */
  notValid: Set<string>;
  /** Objects dropped with IF EXISTS earlier in this section (see `objectKeys`). */
  droppedIfExists: Set<string>;
  memory: Memory;
}

export function newSectionState(
  section: "up" | "down",
  mode: TransactionMode,
  memory: Memory,
): SectionState {
  // A down undoes its up: what it does is not remembered for later revisions.
  const own = section === "up" ? memory : { checks: new Map(memory.checks) };
  return {
    section,
    mode,
    tables: new Set(),
    indexes: new Set(),
    notValid: new Set(),
    droppedIfExists: new Set(),
    memory: own,
  };
}

export function constraintKey(table: string, name: string): string {
  return `${table}\0${name}`;
}

/** Whether a validated CHECK constraint already proves `table.column` NOT NULL. */
export function provenNotNull(state: SectionState, table: string, column: string): boolean {
  for (const check of state.memory.checks.values()) {
    if (check.table === table && check.validated && check.columns.includes(column)) return true;
  }
  return false;
}

let unnamed = 0;

function rememberCheck(
  state: SectionState,
  table: string,
  name: string | undefined,
  expr: Node | undefined,
  validated: boolean,
): void {
  const columns = notNullColumns(expr);
  if (columns.length === 0) return;
  const key = constraintKey(table, name ?? `#${++unnamed}`);
  state.memory.checks.set(key, { table, columns, validated });
}

/** Take in what `stmt` creates, renames, validates or drops (after the rules saw it). */
export function record(state: SectionState, stmt: Node): void {
  const create = nodeOf(stmt, "CreateStmt");
  if (create) {
    const table = tableKey(create.relation);
    state.tables.add(table);
    const columnConstraints = nodesOf(create.tableElts, "ColumnDef")
      .flatMap((c) => c.constraints ?? []);
    for (const c of nodesOf([...(create.tableElts ?? []), ...columnConstraints], "Constraint")) {
      if (c.contype === "CONSTR_CHECK") rememberCheck(state, table, c.conname, c.raw_expr, true);
    }
    return;
  }
  const into = nodeOf(stmt, "CreateTableAsStmt")?.into ?? nodeOf(stmt, "SelectStmt")?.intoClause;
  if (into) state.tables.add(tableKey(into.rel));
  const index = nodeOf(stmt, "IndexStmt");
  if (index?.idxname) state.indexes.add(index.idxname);
  const rename = nodeOf(stmt, "RenameStmt");
  if (rename?.renameType === "OBJECT_TABLE" && state.tables.has(tableKey(rename.relation))) {
    state.tables.add(rename.newname ?? "");
  }
  const drop = nodeOf(stmt, "DropStmt");
  if (drop?.missing_ok) { for (const key of droppedKeys(stmt)) state.droppedIfExists.add(key); }
  const altered = alterTable(stmt);
  for (const cmd of altered?.cmds ?? []) {
    if (cmd.subtype === "AT_DropColumn" && cmd.missing_ok) {
      state.droppedIfExists.add(`column\0${tableKey(altered!.relation)}\0${cmd.name}`);
    }
  }
  if (drop?.removeType === "OBJECT_TABLE") {
    for (const name of nodesOf(drop.objects, "List")) {
      state.tables.delete(strings(name.items).at(-1)!);
    }
  }
  const alter = alterTable(stmt);
  if (!alter) return;
  const table = tableKey(alter.relation);
  for (const cmd of alter.cmds) {
    const key = constraintKey(table, cmd.name ?? "");
    if (cmd.subtype === "AT_AddConstraint") {
      const c = nodeOf(cmd.def, "Constraint");
      if (c?.skip_validation && c.conname) state.notValid.add(constraintKey(table, c.conname));
      if (c?.contype === "CONSTR_CHECK") {
        rememberCheck(state, table, c.conname, c.raw_expr, !c.skip_validation);
      }
    } else if (cmd.subtype === "AT_ValidateConstraint") {
      const check = state.memory.checks.get(key);
      // Replaced, not changed: a down's copy of the memory shares the entries.
      if (check) state.memory.checks.set(key, { ...check, validated: true });
    } else if (cmd.subtype === "AT_DropConstraint") {
      state.memory.checks.delete(key);
    }
  }
}

/**
 * `kind\0name` keys for what a DROP removes, and for what a CREATE (or ADD
 * COLUMN) makes: a CREATE whose key a DROP ... IF EXISTS just removed runs
 * again after a failure, so it needs no IF NOT EXISTS of its own.
 */
export function droppedKeys(stmt: Node): string[] {
  const drop = nodeOf(stmt, "DropStmt");
  if (!drop) return [];
  const kind = (drop.removeType ?? "").replace("OBJECT_", "").toLowerCase();
  return (drop.objects ?? []).map((object) => {
    const owa = nodeOf(object, "ObjectWithArgs");
    const name = owa
      ? strings(owa.objname)
      : nodeOf(object, "List")
      ? strings(nodeOf(object, "List")!.items)
      : strings([object]);
    return `${kind}\0${name.at(-1)}`;
  });
}

export function createdKeys(stmt: Node): string[] {
  const key = (kind: string, name: string | undefined) => name ? [`${kind}\0${name}`] : [];
  const create = nodeOf(stmt, "CreateStmt");
  if (create) return key("table", create.relation?.relname);
  const index = nodeOf(stmt, "IndexStmt");
  if (index) return key("index", index.idxname);
  const view = nodeOf(stmt, "ViewStmt");
  if (view) return key("view", view.view?.relname);
  const sequence = nodeOf(stmt, "CreateSeqStmt");
  if (sequence) return key("sequence", sequence.sequence?.relname);
  const schema = nodeOf(stmt, "CreateSchemaStmt");
  if (schema) return key("schema", schema.schemaname);
  const extension = nodeOf(stmt, "CreateExtensionStmt");
  if (extension) return key("extension", extension.extname);
  const fn = nodeOf(stmt, "CreateFunctionStmt");
  if (fn) return key(fn.is_procedure ? "procedure" : "function", strings(fn.funcname).at(-1));
  const trigger = nodeOf(stmt, "CreateTrigStmt");
  if (trigger) return key("trigger", trigger.trigname);
  const as = nodeOf(stmt, "CreateTableAsStmt");
  if (as) return key(as.objtype === "OBJECT_MATVIEW" ? "matview" : "table", as.into?.rel?.relname);
  const alter = alterTable(stmt);
  return (alter?.cmds ?? []).filter((cmd) => cmd.subtype === "AT_AddColumn").flatMap((cmd) =>
    key(`column\0${tableKey(alter!.relation)}`, nodeOf(cmd.def, "ColumnDef")?.colname)
  );
}
