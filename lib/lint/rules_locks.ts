/**
 * Rules about locks and rewrites: statements that make reads or writes of an
 * existing table wait while an index builds, rows are scanned or the table is
 * rewritten. A table created earlier in the same section is new and empty, so
 * none of these fire on it.
 */
import type { ColumnDef, Constraint, Node } from "libpg-query";
import {
  alterTable,
  calledFunctions,
  displayName,
  nodeOf,
  nodesOf,
  strings,
  tableKey,
  typeName,
} from "./ast.ts";
import { isNew, type Rule } from "./rule.ts";
import { constraintKey, provenNotNull, type SectionState } from "./state.ts";

const OWN_REVISION = "put it in a revision of its own marked `-- transaction: none`, as ";

/** Columns an ALTER TABLE of an existing table adds. */
function addedColumns(stmt: Node, state: SectionState) {
  const alter = alterTable(stmt);
  if (!alter || isNew(state, alter.relation)) return [];
  const table = displayName(alter.relation);
  return alter.cmds.flatMap((cmd) => {
    const column = cmd.subtype === "AT_AddColumn" ? nodeOf(cmd.def, "ColumnDef") : undefined;
    return column ? [{ table, column }] : [];
  });
}

function constraintsOf(column: ColumnDef): Constraint[] {
  return nodesOf(column.constraints, "Constraint");
}

// Functions a default may call without PostgreSQL evaluating it once per row: stable or
// immutable built-ins. Anything else (random(), gen_random_uuid(), clock_timestamp(), nextval(),
// and every user function, volatile unless declared otherwise) is treated as volatile.
// deno-fmt-ignore
const NON_VOLATILE = new Set([
  "now", "transaction_timestamp", "statement_timestamp", "current_setting", "current_schema",
  "current_database", "current_user", "session_user", "lower", "upper", "btrim", "ltrim", "rtrim",
  "length", "char_length", "substr", "substring", "replace", "concat", "concat_ws", "format",
  "to_char", "to_date", "to_timestamp", "to_number", "date_trunc", "date_part", "make_date",
  "make_time", "make_timestamp", "make_timestamptz", "make_interval", "timezone", "abs", "round",
  "floor", "ceil", "jsonb_build_object", "jsonb_build_array", "json_build_object",
  "json_build_array", "to_json", "to_jsonb", "array_fill", "md5", "inet", "int4range", "int8range",
  "tstzrange", "daterange",
]);

// deno-fmt-ignore
const KNOWN_VOLATILE = new Set([
  "random", "random_normal", "gen_random_uuid", "uuidv4", "uuidv7", "uuid_generate_v1",
  "uuid_generate_v1mc", "uuid_generate_v4", "clock_timestamp", "timeofday", "nextval", "setval",
  "txid_current", "pg_current_xact_id", "gen_random_bytes",
]);

// deno-fmt-ignore
const SERIAL_TYPES = new Set([
  "smallserial", "serial", "bigserial", "serial2", "serial4", "serial8",
]);

/** Why adding this column to a table with rows rewrites the table, or null. */
function rewriteReason(column: ColumnDef): string | null {
  const type = typeName(column.typeName);
  if (SERIAL_TYPES.has(type)) return `is ${type}: its nextval() default is volatile`;
  for (const c of constraintsOf(column)) {
    if (c.contype === "CONSTR_IDENTITY") return "is an identity column: every row gets a value";
    if (c.contype === "CONSTR_GENERATED" && c.generated_kind !== "v") {
      return "is a stored generated column: every row is computed";
    }
    if (c.contype === "CONSTR_DEFAULT") {
      const called = calledFunctions(c.raw_expr).find((name) => !NON_VOLATILE.has(name));
      if (called) {
        return `has a default that calls ${called}(), which ${
          KNOWN_VOLATILE.has(called) ? "is volatile" : "is not known to be stable"
        }`;
      }
    }
  }
  return null;
}

export const LOCK_RULES: Rule[] = [
  {
    id: "require-concurrent-index-creation",
    severity: "warning",
    sections: "both",
    what: "CREATE INDEX without CONCURRENTLY on a table not created in the same section",
    why: "the build holds a SHARE lock: every INSERT, UPDATE and DELETE on the table waits " +
      "until the whole index is built",
    instead: OWN_REVISION + "CREATE INDEX CONCURRENTLY IF NOT EXISTS (a failed concurrent " +
      "build leaves an INVALID index, which `strata status` lists: drop it before the re-run)",
    check(stmt, state) {
      const index = nodeOf(stmt, "IndexStmt");
      if (!index || index.concurrent || isNew(state, index.relation)) return [];
      const name = index.idxname ? ` "${index.idxname}"` : "";
      return [{
        message: `CREATE INDEX${name} on existing table "${
          displayName(index.relation)
        }" without CONCURRENTLY`,
      }];
    },
  },
  {
    id: "require-concurrent-index-deletion",
    severity: "warning",
    sections: "both",
    what: "DROP INDEX without CONCURRENTLY",
    why: "DROP INDEX takes an ACCESS EXCLUSIVE lock on the table: while it waits for running " +
      "queries, every new read and write queues behind it",
    instead: OWN_REVISION + "DROP INDEX CONCURRENTLY IF EXISTS",
    check(stmt, state) {
      const drop = nodeOf(stmt, "DropStmt");
      if (drop?.removeType !== "OBJECT_INDEX" || drop.concurrent) return [];
      const names = nodesOf(drop.objects, "List").map((list) => strings(list.items).join("."));
      const existing = names.filter((name) => !state.indexes.has(name.split(".").at(-1)!));
      if (existing.length === 0) return [];
      return [{ message: `DROP INDEX "${existing.join('", "')}" without CONCURRENTLY` }];
    },
  },
  {
    id: "constraint-builds-index",
    severity: "warning",
    sections: "both",
    what: "ADD PRIMARY KEY / UNIQUE / EXCLUDE on an existing table without USING INDEX",
    why: "the constraint's index is built while the table is under an ACCESS EXCLUSIVE lock: " +
      "reads and writes wait for the whole build",
    instead: "CREATE UNIQUE INDEX CONCURRENTLY in a `-- transaction: none` revision, then " +
      "ALTER TABLE ... ADD CONSTRAINT ... PRIMARY KEY / UNIQUE USING INDEX (instant)",
    check(stmt, state) {
      const alter = alterTable(stmt);
      if (!alter || isNew(state, alter.relation)) return [];
      const kinds = new Set(["CONSTR_PRIMARY", "CONSTR_UNIQUE", "CONSTR_EXCLUSION"]);
      const added = alter.cmds.flatMap((cmd) =>
        cmd.subtype === "AT_AddConstraint"
          ? nodesOf([cmd.def!], "Constraint")
          : cmd.subtype === "AT_AddColumn"
          ? constraintsOf(nodeOf(cmd.def, "ColumnDef") ?? {})
          : []
      );
      return added.filter((c) => kinds.has(c.contype ?? "") && !c.indexname).map((c) => ({
        message: `${
          { CONSTR_PRIMARY: "PRIMARY KEY", CONSTR_UNIQUE: "UNIQUE" }[c.contype as string] ??
            "EXCLUDE"
        } constraint on existing table "${displayName(alter.relation)}" builds its index`,
        location: c.location,
      }));
    },
  },
  {
    id: "adding-field-with-default",
    severity: "warning",
    sections: "both",
    what: "ADD COLUMN with a volatile default, serial, identity or stored generated column",
    why: "PostgreSQL rewrites the whole table to fill the column while holding an ACCESS " +
      "EXCLUSIVE lock: reads and writes wait until it ends (a constant or stable default, such " +
      "as now(), is stored once and costs nothing since PostgreSQL 11)",
    instead: "add the column without that default, SET DEFAULT for new rows, and backfill " +
      "existing rows in batches",
    check(stmt, state) {
      return addedColumns(stmt, state).flatMap(({ table, column }) => {
        const reason = rewriteReason(column);
        return reason
          ? [{
            message: `Column "${column.colname}" added to "${table}" ${reason}`,
            location: column.location,
          }]
          : [];
      });
    },
  },
  {
    id: "adding-required-field",
    severity: "warning",
    sections: "both",
    what: "ADD COLUMN ... NOT NULL without a default on an existing table",
    why: "the new column is NULL in every existing row, so the statement fails on any table " +
      "that has rows",
    instead: "add it with a constant DEFAULT, or add it nullable, backfill it, and then make it " +
      "NOT NULL (see adding-not-nullable-field)",
    check(stmt, state) {
      return addedColumns(stmt, state).filter(({ column }) => {
        const types = new Set(constraintsOf(column).map((c) => c.contype));
        const filled = ["CONSTR_DEFAULT", "CONSTR_IDENTITY", "CONSTR_GENERATED"]
          .some((t) => types.has(t as Constraint["contype"]));
        return (types.has("CONSTR_NOTNULL") || types.has("CONSTR_PRIMARY")) && !filled &&
          !SERIAL_TYPES.has(typeName(column.typeName));
      }).map(({ table, column }) => ({
        message: `NOT NULL column "${column.colname}" added to "${table}" without a default`,
        location: column.location,
      }));
    },
  },
  {
    id: "changing-column-type",
    severity: "warning",
    sections: "both",
    what: "ALTER COLUMN ... TYPE on an existing table",
    why: "most type changes rewrite the table and rebuild its indexes under an ACCESS EXCLUSIVE " +
      "lock: reads and writes wait until it ends",
    instead: "add a column of the new type, backfill it in batches, move the application to " +
      "it, then drop the old one (varchar(n) to text or to a longer varchar does not rewrite)",
    check(stmt, state) {
      const alter = alterTable(stmt);
      if (!alter || isNew(state, alter.relation)) return [];
      return alter.cmds.filter((cmd) => cmd.subtype === "AT_AlterColumnType").map((cmd) => {
        const def = nodeOf(cmd.def, "ColumnDef");
        return {
          message: `Column "${cmd.name}" of "${displayName(alter.relation)}" changes type to ${
            typeName(def?.typeName)
          }`,
          location: def?.location,
        };
      });
    },
  },
  {
    id: "adding-not-nullable-field",
    severity: "warning",
    sections: "both",
    what: "SET NOT NULL on an existing table without a validated CHECK (col IS NOT NULL)",
    why: "PostgreSQL scans the whole table to prove no NULL is left, holding an ACCESS " +
      "EXCLUSIVE lock: reads and writes wait until the scan ends",
    instead: "ADD CONSTRAINT c CHECK (col IS NOT NULL) NOT VALID; VALIDATE CONSTRAINT c in a " +
      "later revision (or a `-- transaction: none` one); then SET NOT NULL skips the scan " +
      "(PostgreSQL 12+) and the CHECK can be dropped",
    check(stmt, state) {
      const alter = alterTable(stmt);
      if (!alter || isNew(state, alter.relation)) return [];
      const table = tableKey(alter.relation);
      const columns = alter.cmds.flatMap((cmd) => {
        if (cmd.subtype === "AT_SetNotNull") return [cmd.name ?? ""];
        const c = nodeOf(cmd.def, "Constraint");
        return cmd.subtype === "AT_AddConstraint" && c?.contype === "CONSTR_NOTNULL" &&
            !c.skip_validation
          ? strings(c.keys)
          : [];
      });
      return columns.filter((column) => !provenNotNull(state, table, column)).map((column) => ({
        message: `SET NOT NULL on column "${column}" of existing table "${
          displayName(alter.relation)
        }" without a validated CHECK`,
      }));
    },
  },
  {
    id: "constraint-missing-not-valid",
    severity: "warning",
    sections: "both",
    what: "ADD CHECK / FOREIGN KEY (or ALTER DOMAIN ADD CONSTRAINT) without NOT VALID on an " +
      "existing table, or VALIDATE in the same transaction",
    why: "every existing row is checked while the table is locked against writes (ACCESS " +
      "EXCLUSIVE for a CHECK; SHARE ROW EXCLUSIVE on both tables for a foreign key)",
    instead: "ADD CONSTRAINT ... NOT VALID (instant), then VALIDATE CONSTRAINT in a later " +
      "revision or a `-- transaction: none` one: validating takes a SHARE UPDATE EXCLUSIVE lock " +
      "and lets reads and writes go on",
    check(stmt, state) {
      const domain = nodeOf(stmt, "AlterDomainStmt");
      const domainCheck = nodeOf(domain?.def, "Constraint");
      if (domain?.subtype === "C" && domainCheck && !domainCheck.skip_validation) {
        return [{
          message: `ALTER DOMAIN ${strings(domain.typeName).join(".")} ADD CONSTRAINT without ` +
            "NOT VALID checks every column of that type",
          location: domainCheck.location,
        }];
      }
      const alter = alterTable(stmt);
      if (!alter || isNew(state, alter.relation)) return [];
      const table = displayName(alter.relation);
      return alter.cmds.flatMap((cmd) => {
        if (cmd.subtype === "AT_ValidateConstraint") {
          const key = constraintKey(tableKey(alter.relation), cmd.name ?? "");
          return state.mode === "each" && state.notValid.has(key)
            ? [{ message: `VALIDATE CONSTRAINT "${cmd.name}" in the transaction that added it` }]
            : [];
        }
        const column = nodeOf(cmd.def, "ColumnDef");
        const constraints = cmd.subtype === "AT_AddConstraint"
          ? nodesOf([cmd.def!], "Constraint")
          : cmd.subtype === "AT_AddColumn" && column
          ? constraintsOf(column).filter((c) =>
            // An inline foreign key on a new column is checked only when a default fills it.
            c.contype === "CONSTR_CHECK" ||
            constraintsOf(column).some((d) => d.contype === "CONSTR_DEFAULT")
          )
          : [];
        return constraints.filter((c) =>
          (c.contype === "CONSTR_CHECK" || c.contype === "CONSTR_FOREIGN") && !c.skip_validation
        ).map((c) => ({
          message: `${c.contype === "CONSTR_CHECK" ? "CHECK" : "FOREIGN KEY"} constraint${
            c.conname ? ` "${c.conname}"` : ""
          } added to existing table "${table}" without NOT VALID`,
          location: c.location,
        }));
      });
    },
  },
];
