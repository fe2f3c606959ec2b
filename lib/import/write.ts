/**
 * The one writer every importer runs through: source revisions in the
 * source's order become strata files with ids that keep that order, explicit
 * parents, the transaction mode the source ran them in and an explicit down
 * (SQL, a `-- noop` the source's empty down meant, or none: irreversible).
 * Each file is parsed back before anything is written.
 */
import { join } from "node:path";
import { StrataError, usage } from "../errors.ts";
import { parseMigration, REVISION_ID_REGEXP } from "../migration_file.ts";
import { assertChangeable, Containment, ensureFolder, writeNewFile } from "../safe_fs.ts";
import type { Statement } from "../sql_split.ts";
import { type ImportedRevision, onlyComments, type SourceResult, stampOf } from "./source.ts";

export interface PlannedRevision {
  id: string;
  /** The file's name inside the migrations folder. */
  file: string;
  text: string;
  source: { version: string; files: string[] };
  parents: string[];
  transaction: "each" | "none";
  down: "sql" | "noop" | "missing";
  notes: string[];
}

/** Letters and digits of any script, as `strata create` makes slugs. */
function slugify(text: string): string {
  const slug = text.normalize("NFC").toLowerCase().replace(/[^\p{L}\p{M}\p{N}]+/gu, "_")
    .replace(/^_+|_+$/g, "");
  return Array.from(slug).slice(0, 60).join("").replace(/_+$/, "");
}

/**
 * Ids in the source's order. When every version is a moment (a timestamp),
 * the id is that moment `YYYYMMDD_HHMMSS` in UTC, a second later than the one
 * before where two would tie; otherwise (sequence numbers, Flyway's dotted
 * versions) `00000000_NNNNNN`, N the position in the source's order.
 */
export function assignIds(revisions: ImportedRevision[]): Array<{ id: string; note?: string }> {
  const timed = revisions.every((r) => r.time !== null);
  let last = -Infinity;
  return revisions.map((revision, i) => {
    const slug = slugify(revision.name) || slugify(`v${revision.version}`) || "revision";
    if (!timed) return { id: `00000000_${String(i + 1).padStart(6, "0")}_${slug}` };
    const wanted = revision.time!.getTime();
    const at = Math.max(wanted, last + 1000);
    last = at;
    const id = `${stampOf(new Date(at))}_${slug}`;
    if (!REVISION_ID_REGEXP.test(id)) {
      throw new StrataError("FILE", `Version "${revision.version}" gives no valid revision id`, {
        file: revision.files[0],
        hint: "Its time falls outside the years 1970-9999",
      });
    }
    return at === wanted ? { id } : {
      id,
      note: `its time ${stampOf(revision.time!)} is moved to ${
        stampOf(new Date(at))
      } to keep the source's order in the ids`,
    };
  });
}

const OUTSIDE_KINDS = new Set([
  "CreatedbStmt",
  "DropdbStmt",
  "AlterSystemStmt",
  "CreateTableSpaceStmt",
  "DropTableSpaceStmt",
]);
const CONCURRENT_KINDS = new Set(["IndexStmt", "DropStmt", "ReindexStmt", "AlterTableStmt"]);

interface Analysis {
  /** The script is exactly `BEGIN; … COMMIT;`; `stripped` is it without them. */
  wrapped: boolean;
  stripped: string;
  /** Line of transaction control that is not an exact wrapper. */
  control: number | null;
  /** A statement PostgreSQL refuses inside a transaction block. */
  outside: { line: number; what: string } | null;
  hasStatements: boolean;
  syntax: string | null;
}

function firstWords(sql: string): string {
  return sql.replace(/\s+/g, " ").split(" ").slice(0, 4).join(" ").replace(/;$/, "");
}

/** Text of `sql` without statement `s` (and its `;`), dropping the line if nothing else is on it. */
function cut(sql: string, s: Statement): string {
  let end = s.offset + s.sql.length;
  while (end < sql.length && (sql[end] === " " || sql[end] === "\t")) end++;
  if (sql[end] === ";") end++;
  const lineStart = sql.lastIndexOf("\n", s.offset - 1) + 1;
  let lineEnd = sql.indexOf("\n", end);
  if (lineEnd < 0) lineEnd = sql.length;
  const rest = sql.slice(lineStart, s.offset) + sql.slice(end, lineEnd);
  if (rest.trim() === "") {
    return sql.slice(0, lineStart) + sql.slice(Math.min(lineEnd + 1, sql.length));
  }
  return sql.slice(0, s.offset) + sql.slice(end);
}

export async function analyze(sql: string): Promise<Analysis> {
  const { splitStatements, SqlSyntaxError } = await import("../sql_split.ts");
  let statements: Statement[];
  try {
    statements = await splitStatements(sql);
  } catch (error) {
    if (!(error instanceof SqlSyntaxError)) throw error;
    return {
      wrapped: false,
      stripped: sql,
      control: null,
      outside: null,
      hasStatements: true,
      syntax: `line ${error.line}: ${error.message}`,
    };
  }
  const control = statements.filter((s) => s.control);
  const first = statements[0], last = statements[statements.length - 1];
  const wrapped = statements.length >= 2 && control.length === 2 &&
    (first.control?.kind === "BEGIN" || first.control?.kind === "START") &&
    last.control?.kind === "COMMIT" && !last.control.chain;
  const outsideStatement = statements.find((s) =>
    OUTSIDE_KINDS.has(s.kind) || (s.kind === "VacuumStmt" && /^\s*VACUUM\b/i.test(s.sql)) ||
    (CONCURRENT_KINDS.has(s.kind) && /\bCONCURRENTLY\b/i.test(s.sql))
  );
  const savepoints = new Set(["SAVEPOINT", "RELEASE", "ROLLBACK_TO"]);
  const stray = wrapped ? null : control.find((s) => !savepoints.has(s.control!.kind));
  return {
    wrapped,
    stripped: wrapped ? cut(cut(sql, last), first) : sql,
    control: stray?.line ?? null,
    outside: outsideStatement
      ? { line: outsideStatement.line, what: firstWords(outsideStatement.sql) }
      : null,
    hasStatements: statements.length > 0,
    syntax: null,
  };
}

/** A section as written: no blank lines around it, one newline at the end. */
function tidy(sql: string): string {
  const text = sql.replace(/^(?:[^\S\n]*\n)+/, "").trimEnd();
  return text === "" ? "" : text + "\n";
}

/** Plan every file: ids, parents, modes, sections, each parsed back as strata reads it. */
export async function planImport(
  tool: string,
  result: SourceResult,
  sourceDir: string,
): Promise<PlannedRevision[]> {
  const ids = assignIds(result.revisions);
  const idOf = new Map(result.revisions.map((r, i) => [r.key, ids[i].id]));
  const planned: PlannedRevision[] = [];
  for (const [i, revision] of result.revisions.entries()) {
    const id = ids[i].id;
    const notes = [...revision.notes];
    if (ids[i].note) notes.push(ids[i].note!);
    const parents = revision.parents
      ? revision.parents.map((key) => idOf.get(key)!)
      : i > 0
      ? [ids[i - 1].id]
      : [];
    const up = await analyze(revision.up);
    const down = revision.down === null ? null : await analyze(revision.down);
    const reasons: string[] = [];
    if (revision.noTransaction) reasons.push(`${tool} runs it outside a transaction`);
    for (const [label, section] of [["up", up], ["down", down]] as const) {
      if (!section) continue;
      if (section.syntax) {
        notes.push(`the ${label} does not parse here (${section.syntax}); copied as is`);
      }
      if (section.control) {
        reasons.push(`the ${label} controls its own transactions (line ${section.control})`);
      }
      if (section.outside) {
        reasons.push(`the ${label} runs ${section.outside.what} (line ${section.outside.line})`);
      }
    }
    if (revision.autocommitUnlessWrapped && up.hasStatements && !up.wrapped) {
      reasons.push("the deploy script has no BEGIN/COMMIT: psql ran it statement by statement");
    }
    const transaction = reasons.length > 0 ? "none" : "each";
    if (transaction === "none") notes.push(`transaction: none, since ${reasons.join("; ")}`);
    // In `none` mode a BEGIN … COMMIT block commits as one, as it did in the source: kept.
    const upSql = transaction === "each" ? up.stripped : revision.up;
    let downSql: string | null = null;
    let downKind: PlannedRevision["down"] = "missing";
    if (down) {
      const text = transaction === "each" ? down.stripped : revision.down!;
      downKind = onlyComments(text) ? "noop" : "sql";
      downSql = downKind === "noop" ? "-- noop\n" : tidy(text);
      if (
        transaction === "each" && revision.autocommitUnlessWrapped && down.hasStatements &&
        !down.wrapped
      ) {
        notes.push("the revert script has no BEGIN/COMMIT: strata runs it in one transaction");
      }
    }
    if (up.wrapped && transaction === "each") {
      notes.push("the BEGIN/COMMIT around the script is dropped: strata runs it in a transaction");
    }
    const header = [
      `-- imported from ${tool} ${revision.version}: ${revision.files.join(", ")}`,
      `-- message: ${revision.message.replace(/\s*\n\s*/g, " ")}`,
      `-- parents:${parents.map((p) => ` ${p}`).join("")}`,
      ...(transaction === "none" ? ["-- transaction: none"] : []),
    ];
    const text = `${header.join("\n")}\n-- up\n${tidy(upSql)}` +
      (downSql === null ? "" : `-- down\n${downSql}`);
    const file = `${id}.sql`;
    // A source line strata would read as a section marker cannot be written as it is.
    for (const [label, section] of [["up", upSql], ["down", downSql ?? ""]] as const) {
      const at = section.split("\n").findIndex((l) => /^\s*--\s*(up|down)\s*$/i.test(l));
      if (at >= 0) {
        throw new StrataError(
          "FILE",
          `Line ${at + 1} of the ${label} section reads as a strata "-- up"/"-- down" marker`,
          {
            file: join(sourceDir, revision.files[0]),
            hint: 'Reword that comment in the source (e.g. "-- undo:"), then import again',
            details: { revision: id, section: label, lineInSection: at + 1 },
          },
        );
      }
    }
    const parsed = parseMigration(text, file, id, null);
    if ((parsed.down === null) !== (downKind === "missing")) {
      throw new StrataError("FILE", `Cannot write the down section of ${file} as strata reads it`, {
        file: join(sourceDir, revision.files[0]),
      });
    }
    planned.push({
      id,
      file,
      text,
      source: { version: revision.version, files: revision.files },
      parents,
      transaction,
      down: downKind,
      notes,
    });
  }
  return planned;
}

/**
 * Write the planned files into `dir` (created if missing), refusing before
 * anything is written when a file or revision id already exists; a failure
 * part way removes the files this call wrote.
 */
export function writePlanned(
  dir: string,
  planned: PlannedRevision[],
  existing: Set<string>,
): string[] {
  const root = new Containment(dir);
  const clash = planned.filter((p) => existing.has(p.id));
  if (clash.length > 0) {
    throw usage(
      `Revision ${clash[0].id} already exists in "${dir}"${
        clash.length > 1 ? ` (and ${clash.length - 1} more)` : ""
      }`,
      "import never overwrites: import into an empty folder with --dir",
    );
  }
  ensureFolder(root, dir);
  const paths = planned.map((p) => join(dir, p.file));
  for (const path of paths) {
    assertChangeable(root, path, "write");
    try {
      Deno.lstatSync(path);
      throw usage(
        `File ${path} already exists`,
        "import never overwrites: import into an empty folder with --dir",
      );
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
  const written: string[] = [];
  try {
    for (const [i, path] of paths.entries()) {
      writeNewFile(path, planned[i].text);
      written.push(path);
    }
  } catch (error) {
    for (const path of written) Deno.removeSync(path);
    if (error instanceof Deno.errors.AlreadyExists) {
      throw usage(`File ${paths[written.length]} already exists`, "import never overwrites");
    }
    throw new StrataError("FILE", `Cannot write a revision file: ${(error as Error).message}`, {
      file: paths[written.length],
      cause: error,
      hint: "Nothing was written; check the folder's permissions",
    });
  }
  return written;
}
