/**
 * The error type every strata failure travels as. `code` is a stable string
 * that tests and `main.ts` rely on; only `main.ts` turns it into an exit code.
 */

export type ErrorCode =
  | "USAGE" // bad flag, argument or configuration: exit 2
  | "CONFIG" // nothing or something broken configured: exit 2
  | "CONNECT" // the database cannot be reached: exit 2
  | "EXTENSION_UNAVAILABLE" // SQL creates an extension the embedded engine lacks: exit 2
  | "MIGRATION_FAILED" // a revision's SQL failed: exit 1
  | "OUTCOME_UNKNOWN" // the connection broke while a revision ran: exit 1
  | "PROOF_FAILED" // a proof on scratch databases found a schema difference: exit 1
  | "LOCK_TIMEOUT" // the migration lock was not obtained in time: exit 4
  | "INTEGRITY" // edited or missing applied file, out of order: exit 5
  | "GRAPH" // broken file graph: exit 5
  | "FILE" // unreadable or malformed migration file: exit 5
  | "LEDGER" // a ledger or journal table strata cannot read as its own: exit 5
  | "PRIVILEGE" // the role lacks a privilege strata needs: exit 2
  | "DATABASE" // the server refused one of strata's own queries (a standby, a timeout): exit 2
  | "DRIFT" // --require-no-drift: the database differs from its applied revisions: exit 3
  | "INTERRUPTED" // SIGINT: exit 130
  | "FLEET_PARTIAL" // strata fleet: some targets succeeded, some did not: exit 6
  | "LOCK_LOST"; // --lock-strategy table: the lease was taken over, the revision rolled back: exit 4

/** What a StrataError carries besides its code and message. */
export interface StrataErrorOptions {
  /** What to do about it. */
  hint?: string;
  /** The file it points into. */
  file?: string;
  /** The line in that file (1-based). */
  line?: number;
  /** The error underneath (a database error, an I/O error). */
  cause?: unknown;
  /** Extra machine-readable facts for `--json` (never secrets). */
  details?: Record<string, unknown>;
}

/** Every failure a user can cause: a stable `code`, a message, and where useful a hint and a file. */
export class StrataError extends Error {
  /** The stable code: test and branch on it, not on the message. */
  readonly code: ErrorCode;
  /** What to do about it. */
  readonly hint?: string;
  /** The file it points into. */
  readonly file?: string;
  /** The line in that file (1-based). */
  readonly line?: number;
  /** Facts for `--json`; the runner adds the revisions that did commit. */
  readonly details: Record<string, unknown>;

  /** An error with `code` and `message` (sentence case, no period). */
  constructor(code: ErrorCode, message: string, options: StrataErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "StrataError";
    this.code = code;
    this.hint = options.hint;
    this.file = options.file;
    this.line = options.line;
    this.details = options.details ?? {};
  }

  /** "file:line: message" when the error points into a file. */
  get located(): string {
    if (!this.file) return this.message;
    return this.line
      ? `${this.file}:${this.line}: ${this.message}`
      : `${this.file}: ${this.message}`;
  }
}

/** The command line's exit code for each error code. */
export const EXIT_CODES: Record<ErrorCode, number> = {
  USAGE: 2,
  CONFIG: 2,
  CONNECT: 2,
  EXTENSION_UNAVAILABLE: 2,
  MIGRATION_FAILED: 1,
  OUTCOME_UNKNOWN: 1,
  PROOF_FAILED: 1,
  LOCK_TIMEOUT: 4,
  INTEGRITY: 5,
  GRAPH: 5,
  FILE: 5,
  LEDGER: 5,
  PRIVILEGE: 2,
  DATABASE: 2,
  DRIFT: 3,
  INTERRUPTED: 130,
  FLEET_PARTIAL: 6,
  LOCK_LOST: 4,
};

export function usage(message: string, hint?: string): StrataError {
  return new StrataError("USAGE", message, { hint });
}

/** `items` joined with ", ", cut after `max` with "… and N more". */
export function cutList(items: string[], max = 10): string {
  const shown = items.slice(0, max).join(", ");
  return items.length > max ? `${shown} … and ${items.length - max} more` : shown;
}
