/**
 * SQL string literals that read the same under every session setting.
 * A plain `'…'` literal changes meaning with `standard_conforming_strings`
 * (off: a backslash escapes the next character, so `\'` no longer closes
 * the string), and strata cannot know the setting of a session it shares
 * with the migrations it runs (a database or role default, or a revision's
 * own `SET`). So a value with a backslash is dollar-quoted, where nothing is
 * an escape, under a tag the value cannot close early; any other value is a
 * plain literal, which no setting changes when it holds no backslash.
 *
 * @example
 * ```ts
 * import { quoteLiteral } from "./sql_literal.ts";
 * quoteLiteral("it's"); // 'it''s'
 * quoteLiteral("x\\'); DROP TABLE t; --"); // $strata$x\'); DROP TABLE t; --$strata$
 * ```
 */
export function quoteLiteral(value: string): string {
  if (!value.includes("\\")) return `'${value.replaceAll("'", "''")}'`;
  for (let n = 0;; n++) {
    const tag = n === 0 ? "$strata$" : `$strata${n}$`;
    // The first occurrence of the tag must be the closing one (the value may
    // also end in a prefix of it, as in "…$strata").
    if ((value + tag).indexOf(tag) === value.length) return `${tag}${value}${tag}`;
  }
}
