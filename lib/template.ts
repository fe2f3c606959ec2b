/**
 * The sections `strata create` writes, and the check that refuses a revision
 * whose up section is still that template: applying it would record an empty
 * revision that was meant to hold SQL.
 */
import { StrataError } from "./errors.ts";
import type { MigrationFile } from "./migration_file.ts";

/** The up section `create` writes (without --empty). */
export const TEMPLATE_UP = "-- SQL that applies this revision\n";
/** The down section `create` writes (without --empty). */
export const TEMPLATE_DOWN = "-- SQL that undoes the up section exactly\n";

const TEMPLATE_UP_LINE = TEMPLATE_UP.trim();

/**
 * The line of the template comment when `file`'s up section holds nothing
 * but it (blank lines aside); null otherwise. An empty up (`merge`,
 * `create --empty`) or one with any other line is not the template.
 */
export function untouchedTemplateLine(file: MigrationFile): number | null {
  const lines = file.up.sql.split("\n");
  const filled = lines.map((text, i) => ({ text: text.trim(), i })).filter((l) => l.text !== "");
  if (filled.length !== 1 || filled[0].text !== TEMPLATE_UP_LINE) return null;
  return file.up.line + filled[0].i;
}

/** Refuse (exit 5, file and line) to apply a revision whose up is still create's template. */
export function assertNotTemplate(file: MigrationFile): void {
  const line = untouchedTemplateLine(file);
  if (line === null) return;
  throw new StrataError(
    "FILE",
    `Revision "${file.id}" still has the template up section: write its SQL first`,
    {
      file: file.path,
      line,
      hint: "Replace the comment with the SQL of the change; for an intentional no-op, " +
        "delete the comment (strata create --empty writes empty sections)",
      details: { revision: file.id, template: true },
    },
  );
}
