// Splits a SQL section into statements with the real PostgreSQL grammar, so dollar quotes,
// BEGIN ATOMIC bodies, strings and comments containing `;` are never guessed at.
import { StrataError } from "./errors.ts";

export interface Statement {
  sql: string;
  line: number;
  /** JS string index of the statement's first real token within the section. */
  offset: number;
  /** The parse tree's node type, e.g. "CreateStmt", "TransactionStmt". */
  kind: string;
  /** For a TransactionStmt: its kind ("BEGIN", "COMMIT", "ROLLBACK_TO"…) and whether it chains. */
  control?: { kind: string; chain: boolean };
}

export class SqlSyntaxError extends Error {
  line: number;
  /** 1-based character (code point) position in the parsed text, when the parser gives one. */
  position?: number;
  constructor(message: string, line: number, position?: number) {
    super(message);
    this.name = "SqlSyntaxError";
    this.line = line;
    this.position = position;
  }
}

/**
 * SQL nested so deeply that the parser runs out of stack (thousands of
 * nested expressions): a file strata cannot read, so exit 5. `line` is the
 * first line of the text that was parsed; callers that know the file add it.
 */
export class SqlTooDeepError extends StrataError {
  constructor(line = 1) {
    super("FILE", "SQL nested too deeply for the parser (its stack overflowed)", {
      line,
      hint: "Split the expression or statement into smaller ones (a temporary table, a function)",
    });
  }

  /** The same error pointing at `line` of `file`. */
  at(file: string, line: number): StrataError {
    return new StrataError("FILE", this.message, { file, line, hint: this.hint, cause: this });
  }
}

/**
 * `error` pointing into `file` when it is a parser (or tree walker) stack
 * overflow, else `error` unchanged; `line` is the file line where the parsed
 * text starts.
 */
export function tooDeepAt(error: unknown, file: string, line: number): unknown {
  if (error instanceof SqlTooDeepError) return error.at(file, line + (error.line ?? 1) - 1);
  if (error instanceof RangeError) return new SqlTooDeepError().at(file, line);
  return error;
}

type PgQuery = typeof import("libpg-query");

// Importing libpg-query starts loading and compiling its 1.7 MB wasm at once, so the import
// is deferred until the first split and shared by every later one.
let pgQuery: Promise<PgQuery> | undefined;

export function loadPgQuery(): Promise<PgQuery> {
  pgQuery ??= (async () => {
    const pg = await import("libpg-query");
    // The async API awaits init on its own, but the *Sync functions we use do not.
    await pg.loadModule();
    // Deep nesting overflows the wasm stack as a RangeError; every caller parses through here.
    const guard = <A extends unknown[], R>(call: (...args: A) => R) => (...args: A): R => {
      try {
        return call(...args);
      } catch (error) {
        if (error instanceof RangeError) throw new SqlTooDeepError();
        throw error;
      }
    };
    return { ...pg, parseSync: guard(pg.parseSync), scanSync: guard(pg.scanSync) };
  })();
  return pgQuery;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const WHITESPACE = " \t\n\r\f\v";

// The parser's statement location starts right after the previous `;`, so only whitespace,
// comments and stray `;` of empty statements can precede the first token.
function skipLeading(text: string): number {
  let i = 0;
  while (i < text.length) {
    if (WHITESPACE.includes(text[i]) || text[i] === ";") i++;
    else if (text.startsWith("--", i)) {
      const nl = text.indexOf("\n", i);
      i = nl < 0 ? text.length : nl + 1;
    } else if (text.startsWith("/*", i)) {
      // PostgreSQL block comments nest.
      let depth = 0;
      do {
        if (text.startsWith("/*", i)) (depth++, i += 2);
        else if (text.startsWith("*/", i)) (depth--, i += 2);
        else i++;
      } while (depth > 0 && i < text.length);
    } else break;
  }
  return i;
}

// A trailing comment can only be told apart from `--` inside a string by lexing, so the
// scanner runs only in the rare case where the statement might end in a comment.
function trimTrailing(pg: PgQuery, sql: string): string {
  sql = sql.trimEnd();
  const lastLine = sql.slice(sql.lastIndexOf("\n") + 1);
  if (!lastLine.includes("--") && !sql.endsWith("*/")) return sql;
  const tokens = pg.scanSync(sql).tokens.filter((t) => !t.tokenName.endsWith("_COMMENT"));
  const end = tokens.at(-1)?.end ?? 0;
  return decoder.decode(encoder.encode(sql).subarray(0, end)).trimEnd();
}

// libpg_query reports the error cursor in Unicode code points (PostgreSQL's
// pg_mbstrlen), which is neither a UTF-8 byte offset nor a JS (UTF-16) index.
function lineAtCodePoint(text: string, codePoint: number): number {
  let line = 1;
  let n = 0;
  for (const ch of text) {
    if (n++ >= codePoint) break;
    if (ch === "\n") line++;
  }
  return line;
}

export async function splitStatements(section: string): Promise<Statement[]> {
  // libpg-query rejects "" outright instead of returning no statements.
  if (section.trim() === "") return [];
  const pg = await loadPgQuery();
  let stmts;
  try {
    stmts = pg.parseSync(section).stmts ?? [];
  } catch (e) {
    if (!pg.hasSqlDetails(e)) throw e;
    // cursorPosition is 0 both for "start of text" and "no position known"; line 1 fits both.
    // (sqlDetails.lineNumber is the line in the C scanner source, not in the SQL.)
    const cursor = e.sqlDetails!.cursorPosition;
    throw new SqlSyntaxError(e.message, lineAtCodePoint(section, cursor), cursor || undefined);
  }

  // Parser locations are UTF-8 byte offsets; walk them in order, converting each byte range
  // once, so multi-byte text costs linear time rather than re-decoding from the start.
  const bytes = encoder.encode(section);
  const out: Statement[] = [];
  let byteCursor = 0;
  let charCursor = 0;
  let line = 1;
  for (const { stmt, stmt_location: loc = 0, stmt_len: len = 0 } of stmts) {
    const end = len ? loc + len : bytes.length;
    const gap = decoder.decode(bytes.subarray(byteCursor, loc));
    const raw = decoder.decode(bytes.subarray(loc, end));
    const skip = skipLeading(raw);
    const offset = charCursor + gap.length + skip;
    line += countNewlines(gap) + countNewlines(raw.slice(0, skip));
    const kind = Object.keys(stmt ?? {})[0] ?? "";
    const control = kind === "TransactionStmt"
      ? (stmt as { TransactionStmt: { kind?: string; chain?: boolean } }).TransactionStmt
      : undefined;
    out.push({
      sql: trimTrailing(pg, raw.slice(skip)),
      line,
      offset,
      kind,
      ...(control
        ? {
          control: {
            kind: (control.kind ?? "").replace("TRANS_STMT_", ""),
            chain: !!control.chain,
          },
        }
        : {}),
    });
    line += countNewlines(raw.slice(skip));
    byteCursor = end;
    charCursor = offset + raw.length - skip;
  }
  return out;
}

function countNewlines(s: string): number {
  let n = 0;
  for (let i = s.indexOf("\n"); i >= 0; i = s.indexOf("\n", i + 1)) n++;
  return n;
}
