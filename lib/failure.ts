/**
 * Turns a database error raised while running a revision into a StrataError
 * that names the file, the line in the file, and PostgreSQL's own fields.
 */
import { ConnectionLost, SqlError } from "./db/engine.ts";
import { StrataError } from "./errors.ts";
import type { MigrationFile, Section } from "./migration_file.ts";
import { maskPasswordLiterals, redact } from "./redact.ts";
import { scanStatements } from "./sql_scan.ts";

/** Line in the file of a 1-based character `position` within `text`, which starts at `firstLine`. */
export function lineAt(text: string, position: number, firstLine: number): number {
  let line = firstLine;
  let chars = 0;
  // PostgreSQL counts characters (code points), not UTF-16 units.
  for (const ch of text) {
    if (++chars >= position) break;
    if (ch === "\n") line++;
  }
  return line;
}

/**
 * The top-level statement of `text` that holds the 1-based character
 * `position` (PostgreSQL's error position), and the position within it.
 */
export function statementAt(
  text: string,
  position: number,
): { statement: string; position: number } | null {
  // PostgreSQL counts characters (code points); the scanner works in UTF-16 indexes.
  let index = 0;
  let chars = 1;
  for (const ch of text) {
    if (chars >= position) break;
    index += ch.length;
    chars++;
  }
  const statements = scanStatements(text);
  const found = statements.findLast((s) => s.start <= index) ?? statements[0];
  if (!found) return null;
  const statement = text.slice(found.start, found.end);
  const before = [...text.slice(0, found.start)].length;
  const within = Math.max(1, Math.min(position - before, [...statement].length + 1));
  return { statement, position: within };
}

/**
 * psql's error frame from a statement and the 1-based character position in
 * it: the line that holds the position, labelled with its line in the file,
 * and a caret under the position. Long lines are cut around the position.
 */
export function sqlFrame(statement: string, position: number, fileLine: number): string[] {
  const chars = [...statement];
  const upTo = chars.slice(0, Math.max(0, position - 1));
  const lineStart = upTo.lastIndexOf("\n") + 1;
  let lineEnd = chars.indexOf("\n", lineStart);
  if (lineEnd < 0) lineEnd = chars.length;
  let text = chars.slice(lineStart, lineEnd).join("").replaceAll("\t", " ");
  let column = upTo.length - lineStart;
  const WIDTH = 100;
  if ([...text].length > WIDTH) {
    const from = Math.max(0, column - WIDTH / 2);
    const cut = [...text].slice(from, from + WIDTH).join("");
    text = `${from > 0 ? "..." : ""}${cut}${from + WIDTH < [...text].length ? "..." : ""}`;
    column = column - from + (from > 0 ? 3 : 0);
  }
  const label = `LINE ${fileLine}: `;
  return [`${label}${text.trimEnd()}`, `${" ".repeat(label.length + column)}^`];
}

/** The line of the first non-blank, non-comment line of a section. */
export function firstCodeLine(section: Section): number {
  const lines = section.sql.split("\n");
  const at = lines.findIndex((line) => line.trim() !== "" && !line.trim().startsWith("--"));
  return section.line + Math.max(at, 0);
}

const DIRECTION_WORD = { up: "apply", down: "roll back" } as const;

/** strata's own advice where PostgreSQL gives none. */
const HINTS: Record<string, string> = {
  "55P03": "Another session holds a lock on that object (see pg_locks and pg_stat_activity); " +
    "run again when it is free, or give it longer with --lock-wait",
  "57014": "The statement ran longer than --statement-timeout allows; raise it for this run " +
    "(or run the change in smaller steps)",
};

/**
 * `text` is what was sent, starting with `section.sql` (each mode) or one
 * statement that starts at `statementLine` in the file (none mode).
 */
export function revisionFailure(
  error: unknown,
  file: MigrationFile,
  direction: "up" | "down",
  where: { text: string; line: number; fallbackLine?: number; statement?: string },
): StrataError {
  const action = `Cannot ${DIRECTION_WORD[direction]} revision "${file.id}"`;
  // The engine's own verdict (a lost lock lease) already says what happened.
  if (error instanceof StrataError && error.code === "LOCK_LOST") return error;
  if (error instanceof ConnectionLost) {
    return new StrataError(
      "OUTCOME_UNKNOWN",
      `${action}: the connection was lost while it ran (${error.message}); whether it committed is unknown`,
      {
        file: file.path,
        hint: "Run strata status: the ledger alone says whether the revision was applied; " +
          "then run the command again",
        cause: error,
      },
    );
  }
  if (error instanceof SqlError) {
    const line = error.position
      ? lineAt(where.text, error.position, where.line)
      : where.fallbackLine ?? where.line;
    const at = error.position
      ? (where.statement !== undefined
        ? { statement: where.statement, position: error.position }
        : statementAt(where.text, error.position))
      : null;
    const statement = at?.statement ?? where.statement;
    return new StrataError("MIGRATION_FAILED", `${action}: ${redact(error.message)}`, {
      file: file.path,
      line,
      hint: error.hint ? redact(error.hint) : HINTS[error.sqlstate],
      details: {
        revision: file.id,
        sqlstate: error.sqlstate,
        detail: error.detail ? redact(error.detail) : undefined,
        pgHint: error.hint ? redact(error.hint) : undefined,
        statement: statement ? maskPasswordLiterals(statement) : undefined,
        position: at?.position,
      },
      cause: error,
    });
  }
  return new StrataError(
    "MIGRATION_FAILED",
    `${action}: ${redact(String((error as Error)?.message ?? error))}`,
    {
      file: file.path,
      cause: error,
    },
  );
}
