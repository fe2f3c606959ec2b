/**
 * One section of a migration through the real PostgreSQL parser, once: the
 * statements' parse trees with the file line of each, and a map from any
 * parser location in the section to its file line.
 */
import type { Node } from "libpg-query";
import type { Section } from "../migration_file.ts";
import { loadPgQuery } from "../sql_split.ts";

export interface ParsedStatement {
  node: Node;
  /** File line of the statement's first token. */
  line: number;
  /** UTF-8 byte offsets in the section: the first token, and just past the statement's end. */
  start: number;
  end: number;
}

export interface ParsedSection {
  statements: ParsedStatement[];
  /** File line of a parser location (a UTF-8 byte offset in the section). */
  lineAt(location: number): number;
  /** 1-based column (in characters) of a parser location on its line. */
  columnAt(location: number): number;
}

export interface SectionSyntaxError {
  message: string;
  /** File line the parser's error cursor points at. */
  line: number;
  /** 1-based column of the cursor on that line. */
  column: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const NEWLINE = 0x0a;

/** Parse `section`; a syntax error is returned, not thrown. */
export async function parseSection(
  section: Section,
): Promise<ParsedSection | SectionSyntaxError> {
  const bytes = encoder.encode(section.sql);
  const newlines: number[] = [];
  for (let i = bytes.indexOf(NEWLINE); i >= 0; i = bytes.indexOf(NEWLINE, i + 1)) newlines.push(i);
  const lineAt = (location: number) => section.line + countBelow(newlines, location);
  const columnAt = (location: number) => {
    const below = countBelow(newlines, location);
    const lineStart = below ? newlines[below - 1] + 1 : 0;
    return decoder.decode(bytes.subarray(lineStart, Math.max(lineStart, location))).length + 1;
  };
  // libpg-query rejects "" outright instead of returning no statements.
  if (section.sql.trim() === "") return { statements: [], lineAt, columnAt };

  const pg = await loadPgQuery();
  let stmts;
  try {
    stmts = pg.parseSync(section.sql).stmts ?? [];
  } catch (error) {
    if (!pg.hasSqlDetails(error)) throw error;
    // The cursor counts code points, not bytes (0 also means "unknown": line 1 fits both).
    const cursor = error.sqlDetails?.cursorPosition ?? 0;
    const before = Array.from(section.sql).slice(0, cursor).join("");
    const column = before.length - (before.lastIndexOf("\n") + 1) + 1;
    return { message: error.message, line: section.line + countNewlines(before), column };
  }
  const statements = stmts.map(({ stmt, stmt_location: at = 0, stmt_len: len = 0 }) => {
    const start = skipLeading(bytes, at);
    return { node: stmt as Node, line: lineAt(start), start, end: len ? at + len : bytes.length };
  });
  return { statements, lineAt, columnAt };
}

export function isSyntaxError(
  parsed: ParsedSection | SectionSyntaxError,
): parsed is SectionSyntaxError {
  return "message" in parsed;
}

/** How many of the sorted `offsets` lie below `value`. */
function countBelow(offsets: number[], value: number): number {
  let low = 0;
  let high = offsets.length;
  while (low < high) {
    const mid = (low + high) >> 1;
    if (offsets[mid] < value) low = mid + 1;
    else high = mid;
  }
  return low;
}

function countNewlines(text: string): number {
  let n = 0;
  for (let i = text.indexOf("\n"); i >= 0; i = text.indexOf("\n", i + 1)) n++;
  return n;
}

const SPACE = new Set([0x20, 0x09, 0x0a, 0x0d, 0x0c, 0x0b, 0x3b /* ; */]);
const DASH = 0x2d;
const SLASH = 0x2f;
const STAR = 0x2a;

/**
 * A statement's location starts right after the previous `;`: step over the
 * whitespace, comments and empty statements before its first token.
 */
function skipLeading(bytes: Uint8Array, at: number): number {
  let i = at;
  while (i < bytes.length) {
    if (SPACE.has(bytes[i])) i++;
    else if (bytes[i] === DASH && bytes[i + 1] === DASH) {
      const nl = bytes.indexOf(NEWLINE, i);
      i = nl < 0 ? bytes.length : nl + 1;
    } else if (bytes[i] === SLASH && bytes[i + 1] === STAR) {
      // PostgreSQL block comments nest.
      let depth = 0;
      do {
        if (bytes[i] === SLASH && bytes[i + 1] === STAR) (depth++, i += 2);
        else if (bytes[i] === STAR && bytes[i + 1] === SLASH) (depth--, i += 2);
        else i++;
      } while (depth > 0 && i < bytes.length);
    } else break;
  }
  return i;
}
