/**
 * A cheap first look at SQL text, before paying for the real parser
 * (libpg-query: a 1.7 MB wasm module and about 60 MiB of memory). It walks
 * the text once, skipping comments, quoted strings, quoted identifiers and
 * dollar-quoted bodies, and reads only the first word of each top-level
 * statement, so the `BEGIN` / `END` lines of PL/pgSQL bodies never count.
 * It may answer "maybe" where the parser says no (a `BEGIN ATOMIC` body's
 * `END`), never the other way round.
 */

const CONTROL_WORDS = new Set([
  "BEGIN",
  "START",
  "COMMIT",
  "END",
  "ROLLBACK",
  "ABORT",
  "SAVEPOINT",
  "RELEASE",
  "PREPARE",
]);

// The scan runs once per file on every apply, cold (in the interpreter, before any JIT), so
// it jumps from one character that matters to the next with a regular expression (native
// code) and compares character codes, instead of looking at every character in JavaScript.
const SPECIAL_REGEXP = /[;'"$()]|--|\/\*/g;
const COMMENT_EDGE_REGEXP = /\/\*|\*\//g;
const SPACE = 32, TAB = 9, NL = 10, VT = 11, FF = 12, CR = 13, SEMI = 59;
const DOLLAR = 36, UPPER_E = 69, LOWER_E = 101;

/** A letter, `_` or any non-ASCII character: what may start an identifier or keyword. */
function isIdentStart(code: number): boolean {
  return (code >= 97 && code <= 122) || (code >= 65 && code <= 90) || code === 95 || code >= 128;
}

/** What may continue an identifier: also digits and `$`. */
function isIdent(code: number): boolean {
  return isIdentStart(code) || (code >= 48 && code <= 57) || code === DOLLAR;
}

/** Index just past a dollar-quote tag (`$$`, `$tag$`) starting at `i`, or -1 when there is none. */
function dollarTag(sql: string, i: number): number {
  let j = i + 1;
  if (j < sql.length && isIdentStart(sql.charCodeAt(j))) {
    j++;
    while (j < sql.length) {
      const code = sql.charCodeAt(j);
      if (code === DOLLAR || !isIdent(code)) break;
      j++;
    }
  }
  return sql.charCodeAt(j) === DOLLAR ? j + 1 : -1;
}

/** Index just past a quoted run that starts at `i` (a `'` or `"`), `''` / `""` doubled inside. */
function skipQuoted(sql: string, i: number, backslashes: boolean): number {
  const quote = sql[i];
  if (backslashes) {
    for (i++; i < sql.length; i++) {
      const ch = sql[i];
      if (ch === "\\") i++;
      else if (ch === quote) {
        if (sql[i + 1] !== quote) return i + 1;
        i++;
      }
    }
    return sql.length;
  }
  for (;;) {
    const close = sql.indexOf(quote, i + 1);
    if (close < 0) return sql.length;
    if (sql[close + 1] !== quote) return close + 1;
    i = close + 1;
  }
}

/** Index just past a block comment that starts at `i`; PostgreSQL's block comments nest. */
function skipBlockComment(sql: string, i: number): number {
  let depth = 0;
  COMMENT_EDGE_REGEXP.lastIndex = i;
  for (let edge; (edge = COMMENT_EDGE_REGEXP.exec(sql));) {
    depth += edge[0] === "/*" ? 1 : -1;
    if (depth === 0) return COMMENT_EDGE_REGEXP.lastIndex;
  }
  return sql.length;
}

/** Index of the first token at or after `i`: whitespace, comments and empty statements skipped. */
function skipBetween(sql: string, i: number): number {
  while (i < sql.length) {
    const code = sql.charCodeAt(i);
    if (
      code === SPACE || code === NL || code === TAB || code === CR || code === FF ||
      code === VT || code === SEMI
    ) {
      i++;
    } else if (sql.startsWith("--", i)) {
      const nl = sql.indexOf("\n", i);
      i = nl < 0 ? sql.length : nl + 1;
    } else if (sql.startsWith("/*", i)) {
      i = skipBlockComment(sql, i);
    } else break;
  }
  return i;
}

/** A top-level statement as the scanner sees it: where it lies and its first word. */
export interface ScannedStatement {
  /** JS string index of its first token. */
  start: number;
  /** Index of its closing `;`, or the text's end. */
  end: number;
  /** Its first word, upper-cased ("" when it starts with something else). */
  word: string;
}

/**
 * The top-level statements of `sql`, cut at every `;` outside comments,
 * quotes, dollar-quoted bodies and parentheses. Exact except inside a
 * `BEGIN ATOMIC` body, whose `;` it cuts too (so it sees more statements
 * than there are, never fewer).
 */
export function scanStatements(sql: string): ScannedStatement[] {
  const out: ScannedStatement[] = [];
  let depth = 0;
  let i = 0;
  let current: ScannedStatement | null = null;
  while (i < sql.length) {
    if (current === null) {
      i = skipBetween(sql, i);
      if (i >= sql.length) break;
      let j = i;
      if (isIdentStart(sql.charCodeAt(i))) {
        for (j = i + 1; j < sql.length && isIdent(sql.charCodeAt(j)); j++);
      }
      current = { start: i, end: sql.length, word: sql.slice(i, j).toUpperCase() };
      out.push(current);
      i = j;
      continue;
    }
    SPECIAL_REGEXP.lastIndex = i;
    const found = SPECIAL_REGEXP.exec(sql);
    if (!found) break;
    i = found.index;
    switch (found[0]) {
      case ";":
        if (depth === 0) {
          current.end = i;
          current = null;
        }
        i++;
        break;
      case "(":
        depth++;
        i++;
        break;
      case ")":
        depth = Math.max(0, depth - 1);
        i++;
        break;
      case "'": {
        // E'…' strings escape with backslashes; in standard strings a backslash is a character.
        const before = sql.charCodeAt(i - 1);
        const escaped = (before === UPPER_E || before === LOWER_E) &&
          !(i >= 2 && isIdent(sql.charCodeAt(i - 2)));
        i = skipQuoted(sql, i, escaped);
        break;
      }
      case '"':
        i = skipQuoted(sql, i, false);
        break;
      case "$": {
        const tagEnd = isIdent(sql.charCodeAt(i - 1)) ? -1 : dollarTag(sql, i);
        if (tagEnd < 0) i++;
        else {
          const close = sql.indexOf(sql.slice(i, tagEnd), tagEnd);
          i = close < 0 ? sql.length : close + (tagEnd - i);
        }
        break;
      }
      case "--": {
        const nl = sql.indexOf("\n", i);
        i = nl < 0 ? sql.length : nl + 1;
        break;
      }
      default:
        i = skipBlockComment(sql, i);
    }
  }
  return out;
}

/** Whether a scanned statement may be transaction control: only then is the parser needed. */
export function mayBeControl(statement: ScannedStatement): boolean {
  return CONTROL_WORDS.has(statement.word);
}

/**
 * Whether some top-level statement of `sql` may be transaction control
 * (BEGIN, START TRANSACTION, COMMIT, END, ROLLBACK, ABORT, SAVEPOINT,
 * RELEASE, PREPARE TRANSACTION): only then is the parser needed to be sure.
 */
export function mayControlTransactions(sql: string): boolean {
  return scanStatements(sql).some(mayBeControl);
}

/** The first words of a statement that PostgreSQL refuses to run inside a transaction block. */
const NON_TRANSACTIONAL_REGEXP = new RegExp(
  "^(?:" + [
    "CREATE\\s+(?:UNIQUE\\s+)?INDEX\\s+CONCURRENTLY\\b",
    "DROP\\s+INDEX\\s+CONCURRENTLY\\b",
    "REINDEX\\b(?:\\s*\\([^)]*\\))?\\s*(?:SYSTEM|DATABASE)\\b",
    "REINDEX\\b[^;]*?\\bCONCURRENTLY\\b",
    "VACUUM\\b",
    "(?:CREATE|DROP)\\s+(?:DATABASE|TABLESPACE)\\b",
    "ALTER\\s+SYSTEM\\b",
    "ALTER\\s+DATABASE\\b[^;]*?\\bSET\\s+TABLESPACE\\b",
  ].join("|") + ")",
  "i",
);
const NON_TRANSACTIONAL_WORDS = new Set(["CREATE", "DROP", "REINDEX", "VACUUM", "ALTER"]);
const COMMENTS_REGEXP = /--[^\n]*|\/\*[\s\S]*?\*\//g;

/** A top-level statement that cannot run inside a transaction, and its JS string index. */
export interface NonTransactional {
  start: number;
  /** The statement's head, comments dropped and spaces collapsed (`CREATE INDEX CONCURRENTLY`). */
  head: string;
}

/**
 * The first top-level statement of `sql` that PostgreSQL refuses inside a
 * transaction block (`CREATE INDEX CONCURRENTLY`, `DROP INDEX CONCURRENTLY`,
 * `REINDEX … CONCURRENTLY`, `VACUUM`, `CREATE/DROP DATABASE`, `ALTER SYSTEM`,
 * …), or null. Only the statement's first words are read, from the scan, so
 * no parser is loaded. `ALTER TYPE … ADD VALUE` runs in a transaction since
 * PostgreSQL 12 and is not listed.
 */
export function findNonTransactional(sql: string): NonTransactional | null {
  for (const statement of scanStatements(sql)) {
    if (!NON_TRANSACTIONAL_WORDS.has(statement.word)) continue;
    // The head sits before any string, so dropping comments naively cannot change it.
    const text = sql.slice(statement.start, Math.min(statement.end, statement.start + 2000))
      .replace(COMMENTS_REGEXP, " ").replace(/\s+/g, " ");
    const match = NON_TRANSACTIONAL_REGEXP.exec(text);
    if (match) return { start: statement.start, head: match[0].trim() };
  }
  return null;
}
