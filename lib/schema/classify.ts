/**
 * How much a schema difference matters. Real histories are full of downs
 * that recreate an object without its COMMENT, or put back a function whose
 * body was reindented: worth knowing, not worth failing a build over. Only a
 * structural difference (an object added or removed, a definition that
 * differs) changes what the database does.
 */
import type { Change, SchemaDiff } from "./diff.ts";

/** `structural` > `function-text` > `comment`: a diff takes its most serious change's class. */
export type FindingClass = "structural" | "function-text" | "comment";

const RANK: Record<FindingClass, number> = { comment: 0, "function-text": 1, structural: 2 };

const WORD_REGEXP = /[A-Za-z0-9_$]/;

/**
 * A routine's text with comments dropped and whitespace reduced to what
 * separates two words; quoted strings and identifiers stay as written, since
 * a space inside `'a b'` is data. Dollar quotes are read through as text:
 * the body of a function is one, and its comments are what we want gone.
 */
export function normaliseRoutine(text: string): string {
  let out = "";
  let space = false;
  let i = 0;
  const emit = (piece: string) => {
    if (space && out !== "" && WORD_REGEXP.test(out.at(-1)!) && WORD_REGEXP.test(piece[0])) {
      out += " ";
    }
    space = false;
    out += piece;
  };
  while (i < text.length) {
    const ch = text[i];
    if (ch === "-" && text[i + 1] === "-") {
      while (i < text.length && text[i] !== "\n") i++;
      space = true;
    } else if (ch === "/" && text[i + 1] === "*") {
      // PostgreSQL block comments nest.
      let depth = 0;
      do {
        if (text.startsWith("/*", i)) {
          depth++;
          i += 2;
        } else if (text.startsWith("*/", i)) {
          depth--;
          i += 2;
        } else i++;
      } while (depth > 0 && i < text.length);
      space = true;
    } else if (/\s/.test(ch)) {
      i++;
      space = true;
    } else if (ch === "'" || ch === '"') {
      const escapes = ch === "'" && /[eE]/.test(text[i - 1] ?? "");
      let j = i + 1;
      while (j < text.length) {
        if (escapes && text[j] === "\\") j += 2;
        else if (text[j] === ch && text[j + 1] === ch) j += 2;
        else if (text[j] === ch) break;
        else j++;
      }
      emit(text.slice(i, j + 1));
      i = j + 1;
    } else {
      emit(ch);
      i++;
    }
  }
  return out;
}

/** The class of one changed object. */
export function classifyChange(change: Change): FindingClass {
  const { before, after } = change;
  if (before.definition === after.definition) return "comment";
  if (
    change.kind === "function" &&
    normaliseRoutine(before.definition) === normaliseRoutine(after.definition)
  ) {
    return "function-text";
  }
  return "structural";
}

/** The class of a whole diff: structural as soon as anything appeared, vanished or truly changed. */
export function classifyDiff(diff: SchemaDiff): FindingClass {
  if (diff.added.length > 0 || diff.removed.length > 0) return "structural";
  let worst: FindingClass = "comment";
  for (const change of diff.changed) {
    const found = classifyChange(change);
    if (RANK[found] > RANK[worst]) worst = found;
  }
  return worst;
}
