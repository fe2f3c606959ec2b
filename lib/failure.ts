/**
 * Turns a database error raised while running a revision into a StrataError
 * that names the file, the line in the file, and PostgreSQL's own fields.
 */
import { ConnectionLost, SqlError } from "./db/engine.ts";
import { StrataError } from "./errors.ts";
import type { MigrationFile, Section } from "./migration_file.ts";
import { maskPasswordLiterals, redact } from "./redact.ts";

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
    return new StrataError("MIGRATION_FAILED", `${action}: ${redact(error.message)}`, {
      file: file.path,
      line,
      hint: error.hint ? redact(error.hint) : HINTS[error.sqlstate],
      details: {
        revision: file.id,
        sqlstate: error.sqlstate,
        detail: error.detail ? redact(error.detail) : undefined,
        pgHint: error.hint ? redact(error.hint) : undefined,
        statement: where.statement ? maskPasswordLiterals(where.statement) : undefined,
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
