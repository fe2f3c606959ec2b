/**
 * `-- strata:allow RULE reason` comments: a whole-line comment that silences
 * one rule (or several, comma separated) for the statement right below it.
 * It counts when it sits in the block of comment lines directly above the
 * statement's first line, or above the line the finding points at.
 */
import { RULE_BY_ID, UNSUPPRESSIBLE } from "./rules.ts";

const ALLOW_REGEXP = /^\s*--\s*strata:allow\b(.*)$/i;
const COMMENT_LINE_REGEXP = /^\s*--/;

export interface AllowProblem {
  line: number;
  message: string;
}

export interface Allows {
  /** Whether `rule` is allowed for a statement or finding on file line `line`. */
  allowed(rule: string, line: number): boolean;
  /** Rules allowed anywhere in the text (for the header). */
  anywhere: Set<string>;
  /** Malformed comments: no rule, an unknown rule, no reason. */
  problems: AllowProblem[];
}

/** The allow comments of `text`, whose first line is file line `firstLine`. */
export function scanAllows(text: string, firstLine: number): Allows {
  const lines = text.split("\n");
  const byLine = new Map<number, Set<string>>();
  const anywhere = new Set<string>();
  const problems: AllowProblem[] = [];
  lines.forEach((content, i) => {
    const match = ALLOW_REGEXP.exec(content);
    if (!match) return;
    const line = firstLine + i;
    const [ids = "", ...reason] = match[1].trim().split(/\s+/);
    const rules = ids.split(",").filter((id) => id !== "");
    if (rules.length === 0) {
      problems.push({ line, message: "strata:allow names no rule" });
      return;
    }
    const unknown = rules.filter((id) => !RULE_BY_ID.has(id) || UNSUPPRESSIBLE.has(id));
    if (unknown.length > 0) {
      problems.push({ line, message: `strata:allow names an unknown rule "${unknown[0]}"` });
      return;
    }
    if (reason.join(" ").trim() === "") {
      problems.push({ line, message: `strata:allow ${rules.join(",")} gives no reason` });
      return;
    }
    byLine.set(line, new Set(rules));
    for (const id of rules) anywhere.add(id);
  });

  return {
    allowed(rule, line) {
      // Walk up through the comment lines directly above `line`, staying inside the text.
      for (let at = line - 1; at >= firstLine; at--) {
        if (!COMMENT_LINE_REGEXP.test(lines[at - firstLine])) return false;
        if (byLine.get(at)?.has(rule)) return true;
      }
      return false;
    },
    anywhere,
    problems,
  };
}
