/**
 * The shape of a lint rule: an id, a severity, why the statement is risky and
 * the safer way, and a check over one statement's parse tree.
 */
import type { Node, RangeVar } from "libpg-query";
import { tableKey } from "./ast.ts";
import type { SectionState } from "./state.ts";

/** `error`: cannot run, or loses data or breaks the running application: exit 3. */
export type Severity = "error" | "warning";

/** One thing a check found in a statement. */
export interface Hit {
  message: string;
  /** Parser location (byte offset in the section) of the clause, when the tree has one. */
  location?: number;
}

export interface Rule {
  id: string;
  severity: Severity;
  /**
   * `up`: data-loss, rename and style rules, which a down exists to break
   * (it drops what its up created); `both`: a down runs on the same live
   * tables, so lock, rewrite and cannot-run rules look at it too.
   */
  sections: "up" | "both";
  /** What the rule looks for, in a few words (the README's table). */
  what: string;
  why: string;
  instead: string;
  /** Absent for rules that are not about one statement (syntax, missing down, allow comments). */
  check?: (stmt: Node, state: SectionState) => Hit[];
}

/** Whether the table was created earlier in the same section (so it is new and empty). */
export function isNew(state: SectionState, relation: RangeVar | undefined): boolean {
  return state.tables.has(tableKey(relation));
}
