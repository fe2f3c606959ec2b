/**
 * SQL strata writes itself lints clean: where lint would flag a statement of
 * a generated file, an `-- strata:allow RULE reason` comment goes on the line
 * above it, saying why the rule does not apply there. `clean` uses it for a
 * baseline (it only ever runs on a new, empty database), `create
 * --autogenerate` for what it writes.
 */
import { lintRevision } from "./lint.ts";
import { isSyntaxError, parseSection } from "./parse.ts";
import { parseMigration } from "../migration_file.ts";

/** Rules an allow comment cannot silence, or that the header already answers. */
const NOT_HERE = new Set(["syntax-error", "bad-allow", "missing-down"]);

export interface Annotated<T> {
  text: string;
  /** One entry per line of `text`, carried along when lines are inserted. */
  origins: T[];
}

/** Why `rules` do not apply to the statement on file line `line` (null: leave the finding). */
export type Reason = (rules: string[], line: number) => string | null;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** `text` with an allow comment above every statement lint flags, when `reason` gives one. */
export async function allowFindings<T>(
  input: Annotated<T>,
  path: string,
  id: string,
  reason: Reason,
): Promise<Annotated<T>> {
  const file = parseMigration(input.text, path, id, null);
  const findings = (await lintRevision(file, { text: () => input.text }))
    .filter((finding) => !NOT_HERE.has(finding.rule));
  if (findings.length === 0) return input;

  const lines = input.text.split("\n");
  const lineIndex: number[] = [0];
  for (const line of lines) lineIndex.push(lineIndex[lineIndex.length - 1] + line.length + 1);
  // Each flagged statement: where it starts in the text, and the rules it broke.
  const flagged = new Map<number, { line: number; rules: Set<string> }>();
  for (const which of ["up", "down"] as const) {
    const section = file[which];
    const mine = findings.filter((finding) => finding.section === which);
    if (!section || mine.length === 0) continue;
    const parsed = await parseSection(section);
    if (isSyntaxError(parsed)) continue;
    const bytes = encoder.encode(section.sql);
    for (const finding of mine) {
      const statement = parsed.statements.findLast((s) => s.line <= finding.line);
      if (!statement) continue;
      const at = lineIndex[section.line - 1] +
        decoder.decode(bytes.subarray(0, statement.start)).length;
      const entry = flagged.get(at) ?? { line: statement.line, rules: new Set() };
      entry.rules.add(finding.rule);
      flagged.set(at, entry);
    }
  }

  let text = input.text;
  const origins = [...input.origins];
  for (const [at, { line, rules }] of [...flagged].sort((a, b) => b[0] - a[0])) {
    const ids = [...rules].sort();
    const why = reason(ids, line);
    if (why === null) continue;
    const comment = `-- strata:allow ${ids.join(",")} ${why}\n`;
    const lineStart = lineIndex[line - 1];
    const blank = text.slice(lineStart, at).trim() === "";
    // Above the statement's line, or splitting the line where the statement starts.
    const insert = blank ? comment : `\n${comment}`;
    const where = blank ? lineStart : at;
    text = text.slice(0, where) + insert + text.slice(where);
    const added = insert.split("\n").length - 1;
    origins.splice(line - 1, 0, ...Array(added).fill(origins[line - 1]));
  }
  return { text, origins };
}

/** Up and down sections with allow comments where `reason` gives one (autogenerate's output). */
export async function annotateSections(
  up: string,
  down: string,
  reason: Reason,
): Promise<{ up: string; down: string }> {
  const text = `-- up\n${up}\n-- down\n${down}\n`;
  const origins = text.split("\n").map(() => null);
  const id = "00000000_0000_generated";
  const annotated = await allowFindings({ text, origins }, `${id}.sql`, id, reason);
  if (annotated.text === text) return { up, down };
  const file = parseMigration(annotated.text, `${id}.sql`, id, null);
  return { up: file.up.sql.replace(/\n$/, ""), down: (file.down?.sql ?? "").replace(/\n$/, "") };
}
