/**
 * SQL that turns one schema into another, from the diff of their snapshots:
 * what `create --autogenerate` and `diff` write. Drops go first, newest
 * dependents first; creates follow in dependency order. What it cannot
 * express it lists, and the caller writes nothing then. Every result is
 * proven by running it (lib/autogenerate.ts), so the order here may be
 * simple: a mistake shows up as a failed proof, never as a wrong file.
 */
import * as ddl from "./ddl.ts";
import { qualified } from "./ident.ts";
import { diffSnapshots } from "./diff.ts";
import type { SchemaObject, Snapshot } from "./snapshot.ts";

export interface GeneratedStatement {
  sql: string;
  /** Why it may lose data, for the comment above it; lint flags these too. */
  destructive?: string;
}

export interface Generated {
  statements: GeneratedStatement[];
  /** Changes this generator cannot express, by object. */
  unsupported: string[];
}

const DROP_ORDER: SchemaObject["kind"][] = [
  "trigger",
  "policy",
  "materialized view",
  "view",
  "constraint",
  "index",
  "column",
  "table",
  "foreign table",
  "sequence",
  "function",
  "type",
  "extension",
  "schema",
];

/** Views that mention another view come after it. */
function byReference(objects: SchemaObject[]): SchemaObject[] {
  const left = [...objects];
  const out: SchemaObject[] = [];
  while (left.length > 0) {
    const i = left.findIndex((o) =>
      !left.some((other) => other !== o && o.definition.includes(other.name))
    );
    out.push(...left.splice(i < 0 ? 0 : i, 1));
  }
  return out;
}

function usesNewLabel(
  diff: ReturnType<typeof diffSnapshots>,
  before: SchemaObject,
  after: SchemaObject,
): boolean {
  const fresh = ddl.enumLabels(after).filter((label) => !ddl.enumLabels(before).includes(label));
  const texts = [...diff.added, ...diff.changed.map((c) => c.after)]
    .filter((o) => o !== after).map((o) => o.definition);
  return fresh.some((label) => {
    const quoted = `'${label.replace(/'/g, "''")}'`;
    return texts.some((text) => text.includes(quoted));
  });
}

export function generateSql(from: Snapshot, to: Snapshot): Generated {
  const diff = diffSnapshots(from, to);
  const statements: GeneratedStatement[] = [];
  const unsupported: string[] = [];
  const emit = (sql: string | string[], destructive?: string) => {
    (Array.isArray(sql) ? sql : [sql]).forEach((one, i) =>
      statements.push({ sql: one, destructive: i === 0 ? destructive : undefined })
    );
  };

  const addedTables = new Set(diff.added.filter((o) => o.kind === "table").map((o) => o.name));
  const removedTables = new Set(diff.removed.filter((o) => o.kind === "table").map((o) => o.name));
  const toDrop: SchemaObject[] = [];
  const toCreate: SchemaObject[] = [];
  const comments: Array<[SchemaObject, string | null]> = [];
  const columnChanges: string[] = [];
  const enumChanges: string[] = [];
  const tableChanges: string[] = [];
  const sequenceChanges: string[] = [];
  const viewReplaces: SchemaObject[] = [];
  const enumRebuilds: Array<{ after: SchemaObject; users: SchemaObject[] }> = [];
  // Tables whose columns change type: views over them must be dropped and made again.
  const retyped = new Set<string>();

  for (const o of diff.removed) {
    // A dropped table takes its columns, constraints, indexes, triggers and policies along.
    // A foreign key between two dropped tables goes first, whichever table drops first.
    const crossKey = o.kind === "constraint" && o.facts?.type === "f" && removedTables.size > 1;
    if (o.table && removedTables.has(o.table) && !crossKey) continue;
    // ... and the sequences it owns (serial columns).
    const owner = o.kind === "sequence" && o.facts?.owner_table
      ? qualified(o.facts.owner_schema, o.facts.owner_table)
      : null;
    if (owner && removedTables.has(owner)) continue;
    if (o.facts?.inherited) continue;
    toDrop.push(o);
  }
  for (const o of diff.added) {
    if (o.facts?.inherited) continue;
    // A new table's columns come with it; their comments do not.
    if (o.comment !== null) comments.push([o, o.comment]);
    if (o.kind === "column" && addedTables.has(o.table!)) continue;
    toCreate.push(o);
  }
  for (const { before, after } of diff.changed) {
    if (before.comment !== after.comment) comments.push([after, after.comment]);
    if (before.definition === after.definition) continue;
    switch (after.kind) {
      case "column": {
        const steps = ddl.alterColumn(before, after);
        if (steps?.some((step) => / TYPE /.test(step))) retyped.add(after.table!);
        if (steps) columnChanges.push(...steps);
        else {
          toDrop.push(before);
          toCreate.push(after);
        }
        break;
      }
      case "type": {
        let added = after.facts?.kind === "e" ? ddl.addEnumValues(before, after) : null;
        // A value added in this transaction cannot be used in it: then rebuild the type.
        if (added && usesNewLabel(diff, before, after)) added = null;
        if (added) enumChanges.push(...added);
        else if (after.facts?.kind === "e") {
          const users = [...to.objects.values()].filter((c) =>
            c.kind === "column" &&
            String(c.facts?.type).replace(/\[\]$/, "") === after.name
          );
          enumRebuilds.push({ after, users });
          for (const user of users) retyped.add(user.table!);
        } else {
          toDrop.push(before);
          toCreate.push(after);
        }
        break;
      }
      case "table": {
        const steps = ddl.alterTableFlags(before, after);
        if (steps) tableChanges.push(...steps);
        else unsupported.push(`table ${after.name}: partitioning or inheritance changed`);
        break;
      }
      case "sequence":
        sequenceChanges.push(ddl.alterSequence(after));
        break;
      case "view":
        viewReplaces.push(after);
        break;
      case "function":
        toCreate.push(after);
        break;
      case "schema":
      case "extension":
        unsupported.push(
          `${after.kind} ${after.name}: ${before.definition} -> ${after.definition}`,
        );
        break;
      default:
        toDrop.push(before);
        toCreate.push(after);
    }
  }

  // Views over retyped tables (and views over those) go and come back unchanged.
  const dependent = new Set<string>();
  for (let grew = true; grew;) {
    grew = false;
    for (const view of from.objects.values()) {
      if (view.kind !== "view" && view.kind !== "materialized view") continue;
      if (dependent.has(view.name) || !to.objects.has(`${view.kind} ${view.name}`)) continue;
      const mentions = [...retyped, ...dependent].some((name) => view.definition.includes(name));
      if (mentions) {
        dependent.add(view.name);
        grew = true;
        if (!toDrop.includes(view)) toDrop.push(view);
        const again = to.objects.get(`${view.kind} ${view.name}`)!;
        const replaced = viewReplaces.indexOf(again);
        if (replaced >= 0) viewReplaces.splice(replaced, 1);
        if (!toCreate.includes(again)) toCreate.push(again);
      }
    }
  }

  // Drops: dependents first.
  for (const kind of DROP_ORDER) {
    const group = toDrop.filter((o) => o.kind === kind);
    const ordered = kind === "view" || kind === "materialized view"
      ? byReference(group).reverse()
      : kind === "constraint"
      ? [
        ...group.filter((o) => o.facts?.type === "f"),
        ...group.filter((o) => o.facts?.type !== "f"),
      ]
      : group;
    for (const o of ordered) {
      const loss = o.kind === "table"
        ? `drops table ${o.name} and its data`
        : o.kind === "column"
        ? `drops column ${o.name} and its data`
        : undefined;
      emit(ddl.dropObject(o), loss);
    }
  }

  // Creates: what others depend on first.
  const created = (kind: SchemaObject["kind"]) => toCreate.filter((o) => o.kind === kind);
  for (const o of created("schema")) emit(ddl.createObject(o));
  for (const o of created("extension")) emit(ddl.createObject(o));
  for (const o of created("type")) emit(ddl.createObject(o));
  emit(enumChanges);
  for (const { after, users } of enumRebuilds) {
    emit(
      ddl.rebuildEnum(after, users),
      `rebuilds enum ${after.name}: fails on rows holding a removed value`,
    );
  }
  for (const o of created("sequence")) emit(ddl.createObject(o));
  if (created("function").length > 0) {
    // As pg_dump does: bodies are checked when called, so creation order does not matter.
    emit("SET LOCAL check_function_bodies = off;");
    for (const o of created("function")) emit(ddl.createObject(o));
  }
  for (const o of created("table")) {
    const columns = diff.added.filter((c) => c.kind === "column" && c.table === o.name);
    emit(ddl.createTable(o, columns));
  }
  emit(tableChanges);
  for (const o of created("column")) {
    emit(`ALTER TABLE ${o.table} ADD COLUMN ${ddl.columnSpec(o)};`);
  }
  for (const change of columnChanges) {
    emit(
      change,
      / TYPE /.test(change)
        ? "changes a column's type: may fail or lose precision on existing rows"
        : undefined,
    );
  }
  for (
    const o of [
      ...created("sequence"),
      ...diff.changed.filter((c) => c.kind === "sequence").map((c) => c.after),
    ]
  ) {
    const owner = ddl.sequenceOwner(o);
    if (owner) emit(owner);
  }
  emit(sequenceChanges);
  const constraints = created("constraint");
  for (const o of constraints.filter((c) => c.facts?.type !== "f")) emit(ddl.createObject(o));
  for (const o of constraints.filter((c) => c.facts?.type === "f")) emit(ddl.createObject(o));
  for (const o of created("index")) emit(ddl.createObject(o));
  for (const o of byReference([...created("view"), ...viewReplaces])) {
    emit(viewReplaces.includes(o) ? ddl.replaceView(o) : ddl.createObject(o));
  }
  for (const o of byReference(created("materialized view"))) emit(ddl.createObject(o));
  for (const o of created("trigger")) emit(ddl.createObject(o));
  for (const o of created("policy")) emit(ddl.createObject(o));
  for (const o of created("foreign table")) unsupported.push(`foreign table ${o.name}`);
  for (const [o, comment] of comments) emit(ddl.commentSql(o, comment));
  return { statements, unsupported };
}

/** The statements as a section: destructive ones under a comment that says why. */
export function renderStatements(statements: GeneratedStatement[]): string {
  return statements.map((s) => s.destructive ? `-- destructive: ${s.destructive}\n${s.sql}` : s.sql)
    .join("\n");
}
