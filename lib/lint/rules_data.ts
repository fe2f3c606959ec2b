/**
 * Rules about data and names the running application depends on: drops,
 * TRUNCATE, DELETE or UPDATE of every row, renames. They look at up sections
 * only (a down exists to drop what its up made), and never at a table created
 * earlier in the same section.
 */
import type { Node } from "libpg-query";
import { alterTable, displayName, nodeOf, nodesOf, strings } from "./ast.ts";
import { isNew, type Rule } from "./rule.ts";
import type { SectionState } from "./state.ts";

function deliberate(rule: string): string {
  return "when it is deliberate (the application no longer uses it, a backup exists), mark it " +
    `with \`-- strata:allow ${rule} reason\` on the line before`;
}

/** Tables a DROP TABLE names that were not created in this section. */
function droppedTables(stmt: Node, state: SectionState): string[] {
  const drop = nodeOf(stmt, "DropStmt");
  if (drop?.removeType !== "OBJECT_TABLE") return [];
  return nodesOf(drop.objects, "List").map((list) => strings(list.items))
    .filter((name) => !state.tables.has(name.at(-1)!)).map((name) => name.join("."));
}

export const DATA_RULES: Rule[] = [
  {
    id: "ban-drop-table",
    severity: "error",
    sections: "up",
    what: "DROP TABLE",
    why: "the rows are gone for good (no down can bring them back), and the running " +
      "application fails as soon as it touches the table",
    instead: `stop using the table in the application first and drop it in a later release; ${
      deliberate("ban-drop-table")
    }`,
    check(stmt, state) {
      const names = droppedTables(stmt, state);
      return names.length ? [{ message: `DROP TABLE "${names.join('", "')}"` }] : [];
    },
  },
  {
    id: "ban-drop-column",
    severity: "error",
    sections: "up",
    what: "ALTER TABLE ... DROP COLUMN",
    why: "the column's values are gone for good (no down can bring them back), and the " +
      "running application fails as soon as it reads or writes the column",
    instead: `stop using the column in the application first and drop it in a later release; ${
      deliberate("ban-drop-column")
    }`,
    check(stmt, state) {
      const alter = alterTable(stmt);
      if (!alter || isNew(state, alter.relation)) return [];
      return alter.cmds.filter((cmd) => cmd.subtype === "AT_DropColumn").map((cmd) => ({
        message: `DROP COLUMN "${cmd.name}" of "${displayName(alter.relation)}"`,
      }));
    },
  },
  {
    id: "ban-drop-database",
    severity: "error",
    sections: "up",
    what: "DROP DATABASE",
    why: "a whole database and all its data are gone for good",
    instead: "drop databases by hand, never from a migration",
    check(stmt) {
      const drop = nodeOf(stmt, "DropdbStmt");
      return drop ? [{ message: `DROP DATABASE "${drop.dbname}"` }] : [];
    },
  },
  {
    id: "ban-truncate",
    severity: "error",
    sections: "up",
    what: "TRUNCATE of a table not created in the same section",
    why: "every row is gone for good (CASCADE also empties every table that refers to it), " +
      "under an ACCESS EXCLUSIVE lock",
    instead: `delete the rows that must go with a WHERE clause, in batches; ${
      deliberate("ban-truncate")
    }`,
    check(stmt, state) {
      const truncate = nodeOf(stmt, "TruncateStmt");
      const tables = nodesOf(truncate?.relations, "RangeVar").filter((t) => !isNew(state, t));
      if (tables.length === 0) return [];
      const cascade = truncate?.behavior === "DROP_CASCADE" ? " CASCADE" : "";
      return [{ message: `TRUNCATE "${tables.map(displayName).join('", "')}"${cascade}` }];
    },
  },
  {
    id: "renaming-table",
    severity: "error",
    sections: "up",
    what: "ALTER TABLE ... RENAME TO",
    why: "the rename is instant, but the running application still uses the old name and " +
      "fails until it is redeployed",
    instead: "create the new name beside the old (e.g. rename and leave a view with the old " +
      `name), move the application over, then remove the old name in a later release; ${
        deliberate("renaming-table")
      }`,
    check(stmt, state) {
      const rename = nodeOf(stmt, "RenameStmt");
      if (rename?.renameType !== "OBJECT_TABLE" || isNew(state, rename.relation)) return [];
      return [{
        message: `Table "${displayName(rename.relation)}" renamed to "${rename.newname}"`,
      }];
    },
  },
  {
    id: "renaming-column",
    severity: "error",
    sections: "up",
    what: "ALTER TABLE ... RENAME COLUMN",
    why: "the rename is instant, but the running application still uses the old name and " +
      "fails until it is redeployed",
    instead: "add the new column, keep both in step (trigger or application) while the " +
      `application moves over, then drop the old one in a later release; ${
        deliberate("renaming-column")
      }`,
    check(stmt, state) {
      const rename = nodeOf(stmt, "RenameStmt");
      if (
        rename?.renameType !== "OBJECT_COLUMN" || rename.relationType !== "OBJECT_TABLE" ||
        isNew(state, rename.relation)
      ) return [];
      return [{
        message: `Column "${rename.subname}" of "${
          displayName(rename.relation)
        }" renamed to "${rename.newname}"`,
      }];
    },
  },
  {
    id: "delete-without-where",
    severity: "error",
    sections: "up",
    what: "DELETE without WHERE",
    why: "every row of the table is deleted, and no down can bring them back",
    instead: `add a WHERE clause that names the rows to delete; ${
      deliberate("delete-without-where")
    }`,
    check(stmt, state) {
      const del = nodeOf(stmt, "DeleteStmt");
      if (!del || del.whereClause || isNew(state, del.relation)) return [];
      return [{ message: `DELETE FROM "${displayName(del.relation)}" without WHERE` }];
    },
  },
  {
    id: "update-without-where",
    severity: "warning",
    sections: "up",
    what: "UPDATE without WHERE",
    why: "every row is rewritten in one transaction: the row locks block concurrent writes " +
      "to the whole table until it commits, and the dead rows double its size until vacuum",
    instead: "backfill in batches with a WHERE clause (e.g. by id range), in a " +
      "`-- transaction: none` revision or a job outside the migrations",
    check(stmt, state) {
      const update = nodeOf(stmt, "UpdateStmt");
      if (!update || update.whereClause || isNew(state, update.relation)) return [];
      return [{ message: `UPDATE "${displayName(update.relation)}" without WHERE` }];
    },
  },
];
