/**
 * Lint one revision: each section parsed once by the real PostgreSQL parser,
 * every statement shown to every rule that looks at that section, findings
 * with the file line, minus those a `strata:allow` comment silences.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseMigration } from "../migration_file.ts";
 * import { lintRevision } from "./lint.ts";
 *
 * const text = "-- up\nDROP TABLE users;\n-- down\nCREATE TABLE users (id bigint);\n";
 * const file = parseMigration(text, "x.sql", "20240101_0000_x", null);
 * const findings = await lintRevision(file, { text: () => text });
 * assert.deepEqual(findings.map((f) => `${f.line} ${f.rule}`), ["2 ban-drop-table"]);
 * ```
 */
import { type MigrationFile, normalize } from "../migration_file.ts";
import { scanAllows } from "./allow.ts";
import { isSyntaxError, parseSection } from "./parse.ts";
import { tooDeepAt } from "../sql_split.ts";
import type { Rule, Severity } from "./rule.ts";
import { BAD_ALLOW, MISSING_DOWN, RULES, SYNTAX_ERROR } from "./rules.ts";
import { type Memory, newMemory, newSectionState, record } from "./state.ts";

export interface Finding {
  rule: string;
  severity: Severity;
  file: string;
  line: number;
  /** 1-based column of the statement or clause on that line (1 for file-level findings). */
  column: number;
  revision: string;
  /** The section the finding is in; null for the file as a whole. */
  section: "up" | "down" | null;
  message: string;
  why: string;
  instead: string;
}

export interface LintOptions {
  /** What earlier revisions taught (validated CHECK constraints); shared across a walk. */
  memory?: Memory;
  /** The file's text, for allow comments outside the sections; read from `file.path` when absent. */
  text?: () => string;
}

const STATEMENT_RULES = RULES.filter((rule) => rule.check !== undefined);

export async function lintRevision(
  file: MigrationFile,
  options: LintOptions = {},
): Promise<Finding[]> {
  const memory = options.memory ?? newMemory();
  const findings: Finding[] = [];
  const found = (
    rule: Rule,
    line: number,
    section: Finding["section"],
    message: string,
    column = 1,
  ) =>
    findings.push({
      rule: rule.id,
      severity: rule.severity,
      file: file.path,
      line,
      column,
      revision: file.id,
      section,
      message,
      why: rule.why,
      instead: rule.instead,
    });

  let upHasSql = false;
  let at = file.up.line;
  try {
    for (const which of ["up", "down"] as const) {
      const section = file[which];
      if (!section) continue;
      at = section.line;
      const allows = scanAllows(section.sql, section.line);
      for (const problem of allows.problems) found(BAD_ALLOW, problem.line, which, problem.message);
      const parsed = await parseSection(section);
      if (isSyntaxError(parsed)) {
        const message = parsed.message[0].toUpperCase() + parsed.message.slice(1);
        found(SYNTAX_ERROR, parsed.line, which, message, parsed.column);
        upHasSql ||= which === "up";
        continue;
      }
      upHasSql ||= which === "up" && parsed.statements.length > 0;
      const state = newSectionState(which, file.transaction, memory);
      const rules = STATEMENT_RULES.filter((rule) => which === "up" || rule.sections === "both");
      for (const statement of parsed.statements) {
        for (const rule of rules) {
          for (const hit of rule.check!(statement.node, state)) {
            const at = (hit.location ?? -1) >= 0 ? hit.location! : statement.start;
            const line = parsed.lineAt(at);
            if (allows.allowed(rule.id, statement.line) || allows.allowed(rule.id, line)) continue;
            found(rule, line, which, hit.message, parsed.columnAt(at));
          }
        }
        record(state, statement.node);
      }
    }
  } catch (error) {
    // The parser, or a rule walking a very deep tree, ran out of stack.
    throw tooDeepAt(error, file.path, at);
  }

  if (upHasSql && file.down === null && !allowedOutsideUp(file, options, MISSING_DOWN.id)) {
    found(MISSING_DOWN, file.up.line - 1, null, "Revision has no down section: it is irreversible");
  }
  return findings.sort((a, b) => a.line - b.line);
}

/**
 * Whether an allow comment for `rule` sits outside the up section: in the header, or in a
 * down section that holds only comments. That is where a file-level finding is silenced.
 */
function allowedOutsideUp(file: MigrationFile, options: LintOptions, rule: string): boolean {
  const lines = (options.text?.() ?? normalize(Deno.readTextFileSync(file.path))).split("\n");
  const upEnd = file.up.line - 1 + file.up.sql.split("\n").length;
  const outside = [...lines.slice(0, file.up.line - 2), ...lines.slice(upEnd)];
  return scanAllows(outside.join("\n"), 1).anywhere.has(rule);
}
