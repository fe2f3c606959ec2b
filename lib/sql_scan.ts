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

const IDENT_REGEXP = /[A-Za-z0-9_$\u0080-\uffff]/;
const WORD_REGEXP = /[A-Za-z_\u0080-\uffff][A-Za-z0-9_$\u0080-\uffff]*/y;
const DOLLAR_TAG_REGEXP = /\$(?:[A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/y;

function isIdent(ch: string | undefined): boolean {
  return ch !== undefined && IDENT_REGEXP.test(ch);
}

/** Index just past a quoted run that starts at `i` (a `'` or `"`), `''` / `""` doubled inside. */
function skipQuoted(sql: string, i: number, backslashes: boolean): number {
  const quote = sql[i];
  for (i++; i < sql.length; i++) {
    const ch = sql[i];
    if (backslashes && ch === "\\") i++;
    else if (ch === quote) {
      if (sql[i + 1] !== quote) return i + 1;
      i++;
    }
  }
  return sql.length;
}

/** Index just past a block comment that starts at `i`; PostgreSQL's block comments nest. */
function skipBlockComment(sql: string, i: number): number {
  let depth = 0;
  while (i < sql.length) {
    if (sql.startsWith("/*", i)) (depth++, i += 2);
    else if (sql.startsWith("*/", i)) {
      depth--;
      i += 2;
      if (depth === 0) return i;
    } else i++;
  }
  return sql.length;
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
  let inStatement = false;
  let depth = 0;
  let i = 0;
  // The first token of a statement opens it.
  const token = (word = "") => {
    if (!inStatement) out.push({ start: i, end: sql.length, word });
    inStatement = true;
  };
  while (i < sql.length) {
    const ch = sql[i];
    if (ch === " " || ch === "\n" || ch === "\t" || ch === "\r" || ch === "\f" || ch === "\v") {
      i++;
    } else if (ch === "-" && sql[i + 1] === "-") {
      const nl = sql.indexOf("\n", i);
      i = nl < 0 ? sql.length : nl + 1;
    } else if (ch === "/" && sql[i + 1] === "*") {
      i = skipBlockComment(sql, i);
    } else if (ch === ";") {
      if (depth === 0 && inStatement) {
        out[out.length - 1].end = i;
        inStatement = false;
      }
      i++;
    } else if (ch === "'") {
      token();
      // E'…' strings escape with backslashes; in standard strings a backslash is a character.
      const escaped = (sql[i - 1] === "E" || sql[i - 1] === "e") && !isIdent(sql[i - 2]);
      i = skipQuoted(sql, i, escaped);
    } else if (ch === '"') {
      token();
      i = skipQuoted(sql, i, false);
    } else if (ch === "$" && !isIdent(sql[i - 1])) {
      token();
      DOLLAR_TAG_REGEXP.lastIndex = i;
      const tag = DOLLAR_TAG_REGEXP.exec(sql);
      if (tag) {
        const end = sql.indexOf(tag[0], i + tag[0].length);
        i = end < 0 ? sql.length : end + tag[0].length;
      } else i++;
    } else {
      if (ch === "(") depth++;
      else if (ch === ")") depth = Math.max(0, depth - 1);
      WORD_REGEXP.lastIndex = i;
      const word = isIdent(ch) ? WORD_REGEXP.exec(sql) : null;
      token(word && depth === 0 ? word[0].toUpperCase() : "");
      i += word ? word[0].length : 1;
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
