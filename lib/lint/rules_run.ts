/**
 * Rules about how strata runs a section: `transaction: each` (the default)
 * sends the section and its ledger row as one transaction, so some statements
 * cannot run there at all; `transaction: none` commits statement by statement,
 * so a re-run after a failure meets the objects the first run already made.
 */
import type { Node } from "libpg-query";
import { alterTable, nodeOf, nodesOf } from "./ast.ts";
import type { Hit, Rule } from "./rule.ts";
import { createdKeys } from "./state.ts";

/** The statement PostgreSQL refuses inside a transaction block, named as written, or null. */
export function outsideTransactionOnly(stmt: Node): string | null {
  if (nodeOf(stmt, "IndexStmt")?.concurrent) return "CREATE INDEX CONCURRENTLY";
  const drop = nodeOf(stmt, "DropStmt");
  if (drop?.concurrent) return "DROP INDEX CONCURRENTLY";
  const reindex = nodeOf(stmt, "ReindexStmt");
  if (nodesOf(reindex?.params, "DefElem").some((option) => option.defname === "concurrently")) {
    return "REINDEX CONCURRENTLY";
  }
  // PostgreSQL refuses these three in a transaction block in any form.
  const many = (reindex?.kind ?? "").replace("REINDEX_OBJECT_", "");
  if (many === "SCHEMA" || many === "DATABASE" || many === "SYSTEM") return `REINDEX ${many}`;
  if (nodeOf(stmt, "VacuumStmt")?.is_vacuumcmd) return "VACUUM";
  if (nodeOf(stmt, "CreatedbStmt")) return "CREATE DATABASE";
  if (nodeOf(stmt, "DropdbStmt")) return "DROP DATABASE";
  if (nodeOf(stmt, "AlterSystemStmt")) return "ALTER SYSTEM";
  if (nodeOf(stmt, "CreateTableSpaceStmt")) return "CREATE TABLESPACE";
  if (nodeOf(stmt, "DropTableSpaceStmt")) return "DROP TABLESPACE";
  const detach = alterTable(stmt)?.cmds.some((cmd) =>
    cmd.subtype === "AT_DetachPartition" && nodeOf(cmd.def, "PartitionCmd")?.concurrent
  );
  return detach ? "DETACH PARTITION CONCURRENTLY" : null;
}

// Statements with an IF NOT EXISTS / IF EXISTS / OR REPLACE form: the node type, the flag
// the parser sets for it, and what is missing without it.
const GUARDED: Record<string, [flag: string, missing: string]> = {
  CreateStmt: ["if_not_exists", "CREATE TABLE without IF NOT EXISTS"],
  CreateTableAsStmt: ["if_not_exists", "CREATE TABLE AS without IF NOT EXISTS"],
  IndexStmt: ["if_not_exists", "CREATE INDEX without IF NOT EXISTS"],
  CreateSeqStmt: ["if_not_exists", "CREATE SEQUENCE without IF NOT EXISTS"],
  CreateSchemaStmt: ["if_not_exists", "CREATE SCHEMA without IF NOT EXISTS"],
  CreateExtensionStmt: ["if_not_exists", "CREATE EXTENSION without IF NOT EXISTS"],
  ViewStmt: ["replace", "CREATE VIEW without OR REPLACE"],
  CreateFunctionStmt: ["replace", "CREATE FUNCTION without OR REPLACE"],
  CreateTrigStmt: ["replace", "CREATE TRIGGER without OR REPLACE"],
  DropStmt: ["missing_ok", "DROP without IF EXISTS"],
};

const GUARDED_COMMANDS: Record<string, string> = {
  AT_AddColumn: "ADD COLUMN without IF NOT EXISTS",
  AT_DropColumn: "DROP COLUMN without IF EXISTS",
  AT_DropConstraint: "DROP CONSTRAINT without IF EXISTS",
};

/** What a statement lacks to be safe to run twice; empty when it is (or has no such form). */
function notRerunnable(stmt: Node): string[] {
  const [kind, body] = Object.entries(stmt)[0] as [string, Record<string, unknown>];
  const guarded = GUARDED[kind];
  if (guarded && !body[guarded[0]]) {
    const drop = nodeOf(stmt, "DropStmt");
    const object = drop?.removeType?.replace("OBJECT_", "").replace("_", " ");
    return [drop ? `DROP ${object} without IF EXISTS` : guarded[1]];
  }
  const enumValue = nodeOf(stmt, "AlterEnumStmt");
  if (enumValue?.newVal && !enumValue.oldVal && !enumValue.skipIfNewValExists) {
    return ["ALTER TYPE ... ADD VALUE without IF NOT EXISTS"];
  }
  return (alterTable(stmt)?.cmds ?? [])
    .filter((cmd) => GUARDED_COMMANDS[cmd.subtype ?? ""] && !cmd.missing_ok)
    .map((cmd) => GUARDED_COMMANDS[cmd.subtype!]);
}

export const RUN_RULES: Rule[] = [
  {
    id: "cannot-run-in-transaction",
    severity: "error",
    sections: "both",
    what: "CONCURRENTLY, VACUUM, CREATE/DROP DATABASE and the like in a `transaction: each` " +
      "revision",
    why: "strata runs a `transaction: each` section (the default) and its ledger row in one " +
      "transaction, and PostgreSQL refuses this statement inside a transaction block: the " +
      "revision fails every time",
    instead: "move it to a revision of its own marked `-- transaction: none` " +
      "(with IF NOT EXISTS / IF EXISTS, so a re-run after a failure works)",
    check(stmt, state): Hit[] {
      const what = state.mode === "each" ? outsideTransactionOnly(stmt) : null;
      return what ? [{ message: `${what} cannot run inside the revision's transaction` }] : [];
    },
  },
  {
    id: "transaction-nesting",
    severity: "error",
    sections: "both",
    what: "BEGIN, COMMIT, ROLLBACK, SAVEPOINT... in a `transaction: each` revision",
    why: "strata commits the section together with its ledger row; a statement that ends or " +
      "nests that transaction breaks the promise, so `apply` refuses the revision (exit 5)",
    instead: "remove it (the section already runs in one transaction), or mark the file " +
      "`-- transaction: none` and manage transactions yourself",
    check(stmt, state): Hit[] {
      const control = nodeOf(stmt, "TransactionStmt");
      if (!control || state.mode !== "each") return [];
      const word = (control.kind ?? "").replace("TRANS_STMT_", "").replace("_", " ");
      return [{ message: `${word} inside the revision's own transaction` }];
    },
  },
  {
    id: "prefer-robust-stmts",
    severity: "warning",
    sections: "both",
    what: "a `transaction: none` statement without IF [NOT] EXISTS / OR REPLACE (a CREATE " +
      "right after DROP ... IF EXISTS of the same object is re-runnable as it is)",
    why: "in `transaction: none` mode each statement commits alone; after a failure the " +
      "revision stays unapplied and the re-run starts it again, where this statement fails " +
      "because its object already exists (or is already gone)",
    instead: "write IF NOT EXISTS / IF EXISTS / OR REPLACE, so the revision can be run again",
    check(stmt, state): Hit[] {
      if (state.mode !== "none") return [];
      // DROP ... IF EXISTS just before makes the CREATE safe to run again.
      const created = createdKeys(stmt);
      if (created.length > 0 && created.every((key) => state.droppedIfExists.has(key))) return [];
      return notRerunnable(stmt).map((message) => ({ message }));
    },
  },
];
