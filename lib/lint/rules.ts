/**
 * The rule table: every rule lint knows, in the order the README lists them.
 * Statement rules live in one file per concern; the three below are about a
 * file or a comment rather than one statement.
 */
import type { Rule } from "./rule.ts";
import { DATA_RULES } from "./rules_data.ts";
import { LOCK_RULES } from "./rules_locks.ts";
import { RUN_RULES } from "./rules_run.ts";
import { TYPE_RULES } from "./rules_types.ts";

export const SYNTAX_ERROR: Rule = {
  id: "syntax-error",
  severity: "error",
  sections: "both",
  what: "a section PostgreSQL's parser rejects",
  why: "the revision fails when it runs, and lint cannot check the section's statements",
  instead: "fix the SQL (the line is where the parser stopped)",
};

export const MISSING_DOWN: Rule = {
  id: "missing-down",
  severity: "warning",
  sections: "up",
  what: "a revision with SQL in its up and no down",
  why: "the revision cannot be undone: strata refuses to downgrade past it",
  instead: "write a `-- down` section that reverses the up; for a change that cannot be " +
    "undone, say so with `-- strata:allow missing-down reason` in the header or the empty down",
};

export const BAD_ALLOW: Rule = {
  id: "bad-allow",
  severity: "warning",
  sections: "both",
  what: "a `strata:allow` comment without a known rule id and a reason",
  why: "it suppresses nothing, so the finding it was written for still stands",
  instead: "write `-- strata:allow RULE reason` on the line before the statement",
};

/** Every rule, statement rules first. */
export const RULES: Rule[] = [
  ...RUN_RULES,
  ...LOCK_RULES,
  ...DATA_RULES,
  ...TYPE_RULES,
  SYNTAX_ERROR,
  MISSING_DOWN,
  BAD_ALLOW,
];

export const RULE_BY_ID: ReadonlyMap<string, Rule> = new Map(RULES.map((rule) => [rule.id, rule]));

/** Rules a `strata:allow` comment cannot silence: they are about the file itself. */
export const UNSUPPRESSIBLE: ReadonlySet<string> = new Set([SYNTAX_ERROR.id, BAD_ALLOW.id]);
