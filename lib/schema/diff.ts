/**
 * The difference between two snapshots, by qualified name: what was added,
 * removed and changed, for a person (one line per object) and as JSON.
 */
import { objectKey, type SchemaObject, type Snapshot } from "./snapshot.ts";

export interface Change {
  kind: SchemaObject["kind"];
  name: string;
  before: SchemaObject;
  after: SchemaObject;
}

export interface SchemaDiff {
  added: SchemaObject[];
  removed: SchemaObject[];
  changed: Change[];
}

const byKey = (a: { kind: string; name: string }, b: { kind: string; name: string }) =>
  objectKey(a) < objectKey(b) ? -1 : objectKey(a) > objectKey(b) ? 1 : 0;

export function diffSnapshots(before: Snapshot, after: Snapshot): SchemaDiff {
  const diff: SchemaDiff = { added: [], removed: [], changed: [] };
  for (const [key, old] of before.objects) {
    const now = after.objects.get(key);
    if (!now) diff.removed.push(old);
    else if (now.definition !== old.definition || now.comment !== old.comment) {
      diff.changed.push({ kind: old.kind, name: old.name, before: old, after: now });
    }
  }
  for (const [key, now] of after.objects) {
    if (!before.objects.has(key)) diff.added.push(now);
  }
  diff.added.sort(byKey);
  diff.removed.sort(byKey);
  diff.changed.sort(byKey);
  return diff;
}

export const isEmpty = (diff: SchemaDiff) =>
  diff.added.length + diff.removed.length + diff.changed.length === 0;

export const diffCount = (diff: SchemaDiff) =>
  diff.added.length + diff.removed.length + diff.changed.length;

const oneLine = (text: string) => {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > 160 ? flat.slice(0, 157) + "..." : flat;
};

/** One line per object: `+ added`, `- removed`, `~ changed` with what changed under it. */
export function formatDiff(diff: SchemaDiff, indent = "  "): string[] {
  const lines: string[] = [];
  for (const o of diff.added) {
    lines.push(`${indent}+ ${o.kind} ${o.name}: ${oneLine(o.definition)}`);
  }
  for (const o of diff.removed) {
    lines.push(`${indent}- ${o.kind} ${o.name}: ${oneLine(o.definition)}`);
  }
  for (const c of diff.changed) {
    lines.push(`${indent}~ ${c.kind} ${c.name}`);
    if (c.before.definition !== c.after.definition) {
      lines.push(`${indent}    was: ${oneLine(c.before.definition)}`);
      lines.push(`${indent}    now: ${oneLine(c.after.definition)}`);
    }
    if (c.before.comment !== c.after.comment) {
      lines.push(`${indent}    comment was: ${JSON.stringify(c.before.comment)}`);
      lines.push(`${indent}    comment now: ${JSON.stringify(c.after.comment)}`);
    }
  }
  return lines;
}

const plain = (o: SchemaObject) => ({
  kind: o.kind,
  name: o.name,
  definition: o.definition,
  comment: o.comment,
});

export function diffJson(diff: SchemaDiff) {
  return {
    added: diff.added.map(plain),
    removed: diff.removed.map(plain),
    changed: diff.changed.map((c) => ({
      kind: c.kind,
      name: c.name,
      before: { definition: c.before.definition, comment: c.before.comment },
      after: { definition: c.after.definition, comment: c.after.comment },
    })),
  };
}
