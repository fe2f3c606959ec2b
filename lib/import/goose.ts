/**
 * goose (SQL migrations): `VERSION_name.sql` with `-- +goose Up` and
 * `-- +goose Down`; `-- +goose StatementBegin` / `StatementEnd` keep a
 * statement with inner semicolons whole (strata's splitter reads PostgreSQL's
 * grammar, so the block needs no marker: the annotations stay as comments);
 * `-- +goose NO TRANSACTION` runs the file outside a transaction. Go
 * migrations are not SQL: reported, not imported. Order: the version.
 */
import { join } from "node:path";
import {
  compareNumeric,
  type Finding,
  humanize,
  type ImportedRevision,
  listFiles,
  malformed,
  onlyComments,
  readSource,
  type SourceTool,
  timeOfVersion,
} from "./source.ts";

const FILE_REGEXP = /^(\d+)_(.*)\.(sql|go)$/;
const ANNOTATION_REGEXP = /^--\s*\+goose\s+(.*?)\s*$/;

export function readGooseFile(
  path: string,
  text: string,
): { up: string; down: string | null; noTransaction: boolean; notes: string[] } {
  const lines = text.split("\n");
  let upLine = 0, downLine = 0, openBlock = 0;
  let noTransaction = false;
  const notes: string[] = [];
  const drop = new Set<number>();
  lines.forEach((line, i) => {
    const match = ANNOTATION_REGEXP.exec(line.trim());
    if (!match) return;
    const annotation = match[1].toLowerCase().replace(/\s+/g, " ");
    if (annotation === "up") {
      if (upLine) {
        throw malformed(path, i + 1, `Second "-- +goose Up" (the first is on line ${upLine})`);
      }
      upLine = i + 1;
      drop.add(i);
    } else if (annotation === "down") {
      if (downLine) {
        throw malformed(path, i + 1, `Second "-- +goose Down" (the first is on line ${downLine})`);
      }
      downLine = i + 1;
      drop.add(i);
    } else if (annotation === "statementbegin") {
      if (openBlock) {
        throw malformed(path, i + 1, `StatementBegin inside the block opened on line ${openBlock}`);
      }
      openBlock = i + 1;
    } else if (annotation === "statementend") {
      if (!openBlock) throw malformed(path, i + 1, "StatementEnd without StatementBegin");
      openBlock = 0;
    } else if (annotation === "no transaction") {
      noTransaction = true;
      drop.add(i);
    } else if (annotation.startsWith("envsub")) {
      notes.push(`line ${i + 1}: ENVSUB is not supported; \${VAR} references are kept as written`);
    } else {
      throw malformed(path, i + 1, `Unknown goose annotation "${match[1]}"`);
    }
  });
  if (openBlock) throw malformed(path, openBlock, "StatementBegin without StatementEnd");
  if (!upLine) {
    throw malformed(
      path,
      1,
      'No "-- +goose Up" annotation',
      "goose needs one: the file cannot have run",
    );
  }
  const firstMarker = Math.min(upLine, downLine || upLine);
  const before = lines.slice(0, firstMarker - 1).filter((_, i) => !drop.has(i)).join("\n");
  if (!onlyComments(before)) {
    const at = lines.findIndex((line, i) => !drop.has(i) && !onlyComments(line));
    throw malformed(path, at + 1, 'SQL before the "-- +goose Up" annotation');
  }
  const section = (start: number, end: number) =>
    lines.slice(start, end).map((line, i) => (drop.has(start + i) ? "" : line)).join("\n");
  const up = downLine > upLine ? section(upLine, downLine - 1) : section(upLine, lines.length);
  const down = !downLine
    ? null
    : downLine > upLine
    ? section(downLine, lines.length)
    : section(downLine, upLine - 1);
  return { up, down, noTransaction, notes };
}

export const goose: SourceTool = {
  name: "goose",
  layout: "migrations",
  async read(dir) {
    const findings: Finding[] = [];
    const found: Array<{ version: string; name: string; file: string }> = [];
    for (const file of await listFiles(dir)) {
      const match = FILE_REGEXP.exec(file);
      if (!match) {
        findings.push({
          file,
          status: "ignored",
          reason: "not a goose migration (VERSION_name.sql)",
        });
      } else if (match[3] === "go") {
        findings.push({
          file,
          status: "skipped",
          reason: "a Go migration: only SQL migrations are imported",
        });
      } else {
        found.push({ version: BigInt(match[1]).toString(), name: match[2], file });
      }
    }
    found.sort((a, b) => compareNumeric(a.version, b.version));
    const revisions: ImportedRevision[] = [];
    for (const [i, { version, name, file }] of found.entries()) {
      if (i > 0 && found[i - 1].version === version) {
        throw malformed(join(dir, file), 1, `Version ${version} also in ${found[i - 1].file}`);
      }
      const parsed = readGooseFile(join(dir, file), await readSource(dir, file));
      if (parsed.down === null) {
        parsed.notes.push(
          'no "-- +goose Down": goose would run nothing; imported as irreversible, the safer ' +
            'reading (write "-- noop" as its down where nothing needs undoing)',
        );
      }
      revisions.push({
        key: version,
        version,
        name,
        message: humanize(name),
        files: [file],
        time: timeOfVersion(file.slice(0, file.indexOf("_"))),
        ...parsed,
      });
    }
    return { revisions, findings };
  },
};
