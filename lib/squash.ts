/**
 * `clean`'s squash: every revision older than the newest N becomes one
 * baseline file, whose header lists them under `replaces:`. Planning refuses
 * what cannot be squashed safely; the proof (proveBaseline) builds both on
 * scratch databases and compares the schemas before anything is written.
 */
import { StrataError } from "./errors.ts";
import { buildGraph, type Graph } from "./graph.ts";
import type { LedgerNames } from "./ledger.ts";
import { outsideTransactionOnly } from "./lint/rules_run.ts";
import { isSyntaxError, parseSection } from "./lint/parse.ts";
import { tooDeepAt } from "./sql_split.ts";
import { type MigrationFile, parseMigration } from "./migration_file.ts";
import { runSection } from "./schema/build.ts";
import { diffSnapshots, isEmpty, type SchemaDiff } from "./schema/diff.ts";
import type { ScratchDatabases } from "./schema/scratch.ts";
import { snapshot } from "./schema/snapshot.ts";

export interface SquashPlan {
  replaced: MigrationFile[];
  kept: MigrationFile[];
  baseline: MigrationFile;
  /** The baseline's text, as it will be written. */
  text: string;
  /** Where it will be written, relative to the migrations folder. */
  relativePath: string;
  /** Replaced revisions without a down section: the baseline is then irreversible. */
  irreversible: string[];
}

const refuse = (message: string, file: MigrationFile, hint: string, line?: number) =>
  new StrataError("USAGE", message, { file: file.path, line, hint });

/** A section joined after another must end its last statement. */
function terminated(sql: string): string {
  const body = sql.replace(/\s+$/, "");
  const code = body.split("\n").filter((line) => line.trim() && !line.trim().startsWith("--"));
  if (code.length === 0) return body;
  // A trailing "-- comment;" must not pass for a semicolon: an extra empty statement is harmless.
  const last = code[code.length - 1].trim();
  return last.endsWith(";") && !last.includes("--") ? body : `${body}\n;`;
}

/** `transaction: none` revisions go into the baseline's one transaction only when nothing in them forbids it. */
async function assertJoinable(file: MigrationFile): Promise<void> {
  if (file.transaction !== "none") return;
  for (const section of [file.up, file.down]) {
    if (!section) continue;
    const parsed = await parseSection(section).catch((error) => {
      throw tooDeepAt(error, file.path, section.line);
    });
    if (isSyntaxError(parsed)) {
      throw refuse(
        `Cannot squash "${file.id}": ${parsed.message}`,
        file,
        "Fix the SQL first",
        parsed.line,
      );
    }
    for (const statement of parsed.statements) {
      const what = outsideTransactionOnly(statement.node);
      if (what) {
        throw refuse(
          `Cannot squash "${file.id}": it is transaction: none and runs ${what}, ` +
            "which cannot join the baseline's single transaction",
          file,
          "Keep it as a file: choose a larger N so the squash stops before it",
          statement.line,
        );
      }
    }
  }
}

function baselineText(replaced: MigrationFile[], replaces: string[], irreversible: string[]) {
  const up = replaced.map((file) =>
    `-- from ${file.id}${file.message ? `: ${file.message}` : ""}\n${terminated(file.up.sql)}`
  ).join("\n\n");
  const downSection = irreversible.length > 0
    ? ""
    : `-- down\n${
      [...replaced].reverse().map((file) => `-- from ${file.id}\n${terminated(file.down!.sql)}`)
        .join("\n\n")
    }\n`;
  const note = irreversible.length > 0
    ? `-- Irreversible: ${irreversible.join(", ")} had no down section.\n`
    : "";
  return `-- message: Baseline of ${replaced.length} revisions (strata clean)\n` +
    `-- parents:\n-- replaces: ${replaces.join(" ")}\n${note}-- up\n${up}\n${downSection}`;
}

/** What `clean keep` would do to the folder the graph was read from; throws when it must not. */
export async function planSquash(
  graph: Graph,
  keep: number,
  dir: string,
): Promise<SquashPlan | null> {
  const order = graph.order.map((id) => graph.files.get(id)!);
  if (order.length - keep < 2) return null;
  const replaced = order.slice(0, order.length - keep);
  const kept = order.slice(order.length - keep);
  const mergeAfter = (i: number) =>
    replaced.slice(i).find((file) => graph.parents.get(file.id)!.length > 1);
  const mergeRefusal = (merge: MigrationFile) =>
    refuse(
      `Cannot squash across a merge: "${merge.id}" joins ${
        graph.parents.get(merge.id)!.join(", ")
      }`,
      merge,
      "Squash only a straight line: keep more revisions (a larger N) so the squash ends " +
        "before the branches split",
      merge.parentsLine,
    );
  for (const [i, file] of replaced.entries()) {
    const parents = graph.parents.get(file.id)!;
    const children = graph.children.get(file.id)!;
    if (i > 0 && parents.length === 0) {
      throw refuse(
        `Cannot squash across a second root: "${file.id}" has no parents`,
        file,
        "Squash only a straight line: keep more revisions (a larger N)",
        file.parentsLine,
      );
    }
    if (parents.length > 1) throw mergeRefusal(file);
    // The last one may fork: its children are all kept, and follow the baseline.
    if (children.length > 1 && i < replaced.length - 1) {
      const merge = mergeAfter(i);
      if (merge) throw mergeRefusal(merge);
      throw refuse(
        `Cannot squash across a branch: "${file.id}" has ${children.length} children (${
          children.join(", ")
        })`,
        file,
        "Merge the branches first (strata merge), or keep more revisions (a larger N)",
      );
    }
    if (i > 0 && parents[0] !== replaced[i - 1].id) {
      throw refuse(
        `Cannot squash: "${file.id}" does not follow "${replaced[i - 1].id}" in a straight line`,
        file,
        "Squash only a straight line: keep more revisions (a larger N)",
        file.parentsLine,
      );
    }
    await assertJoinable(file);
  }
  const last = replaced[replaced.length - 1];
  const id = `${last.id}_baseline`;
  // A baseline stands for everything it replaces, including earlier baselines' revisions.
  const replaces = replaced.flatMap((file) => [...file.replaces, file.id]);
  const irreversible = replaced.filter((file) => file.down === null).map((file) => file.id);
  const text = baselineText(replaced, replaces, irreversible);
  const category = replaced[0].category;
  const relativePath = category ? `${category}/${id}.sql` : `${id}.sql`;
  const baseline = parseMigration(text, `${dir}/${relativePath}`, id, category);

  // The squashed folder must give the kept revisions the same parents (a baseline for
  // a replaced parent), or a kept file's implicit parent would silently change.
  const after = buildGraph([baseline, ...kept].sort((a, b) => (a.id < b.id ? -1 : 1)));
  for (const file of kept) {
    const expected = graph.parents.get(file.id)!.map((p) => (p === last.id ? id : p));
    const got = after.parents.get(file.id)!;
    if (expected.join(" ") !== got.join(" ")) {
      throw refuse(
        `Cannot squash: "${file.id}" would follow ${got.join(", ") || "nothing"} instead of ${
          expected.join(", ")
        }`,
        file,
        `Give ${file.id} an explicit "-- parents:" line first`,
      );
    }
  }
  return { replaced, kept, baseline, text, relativePath, irreversible };
}

export interface Proof {
  ok: boolean;
  /** Schema from the replaced revisions' ups against the baseline's up. */
  up: SchemaDiff;
  /** Schema after all their downs against after the baseline's down (empty when irreversible). */
  down: SchemaDiff;
}

/**
 * Build the replaced revisions on one scratch database and the baseline on
 * another, and compare; then run the downs and compare again.
 */
export async function proveBaseline(
  replaced: MigrationFile[],
  baseline: MigrationFile,
  scratch: ScratchDatabases,
  names: LedgerNames,
): Promise<Proof> {
  const exclude = [{ schema: names.schema, table: names.ledger }, {
    schema: names.schema,
    table: names.journal,
  }];
  const original = await scratch.open();
  const squashed = await scratch.open();
  for (const file of replaced) await runSection(original, file, "up");
  await runSection(squashed, baseline, "up");
  const up = diffSnapshots(
    await snapshot(original, { exclude }),
    await snapshot(squashed, { exclude }),
  );
  let down: SchemaDiff = { added: [], removed: [], changed: [] };
  if (baseline.down && isEmpty(up)) {
    for (const file of [...replaced].reverse()) await runSection(original, file, "down");
    await runSection(squashed, baseline, "down");
    down = diffSnapshots(
      await snapshot(original, { exclude }),
      await snapshot(squashed, { exclude }),
    );
  }
  return { ok: isEmpty(up) && isEmpty(down), up, down };
}
