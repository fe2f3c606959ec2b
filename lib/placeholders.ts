/**
 * Placeholders: `${name}` in a migration that opted in, filled from
 * `STRATA_VAR_name` (first) or the `placeholders` object of strata.json.
 * Filled once, where the files are loaded for a command, so every path that
 * runs or prints a revision's SQL (apply, upgrade, downgrade, `--sql`, the
 * proofs, lint) sees the same text. The checksum stays that of the file as
 * written; an undefined placeholder stops whatever would run it, before
 * anything runs, naming the file, the line and the name.
 */
import { StrataError } from "./errors.ts";
import type { MigrationFile, Section } from "./migration_file.ts";
import { redact, registerSecret } from "./redact.ts";

/** `${name}`: a letter or `_`, then letters, digits, `_`, `.` or `-`. */
const PLACEHOLDER_REGEXP = /\$\{([A-Za-z_][A-Za-z0-9_.-]*)\}/g;
/** Names whose values the journal and the output never show. */
const SECRET_NAME_REGEXP = /password|passwd|secret|token|key|credential/i;

/** The prefix of the environment variables that set placeholders. */
export const ENV_PREFIX = "STRATA_VAR_";

export interface Unfilled {
  name: string;
  /** 1-based line in the file. */
  line: number;
}

/**
 * What filling did to one file: the values each section used, and the names
 * nothing defines (in either section: such a file is refused in both
 * directions).
 */
export interface Filled {
  values: { up: Record<string, string>; down: Record<string, string> };
  missing: Unfilled[];
}

/** What filling did, by the filled file; absent: the file did not opt in. */
const filledFiles = new WeakMap<MigrationFile, Filled>();

/** Whether `file` takes placeholders: its own directive wins over the project's default. */
export function optedIn(file: MigrationFile, everywhere: boolean): boolean {
  return file.placeholders ?? everywhere;
}

/** Whether a placeholder's value is a secret, by its name. */
export function isSecretName(name: string): boolean {
  return SECRET_NAME_REGEXP.test(name);
}

/**
 * Placeholder values: strata.json's `placeholders`, then `STRATA_VAR_name`
 * over them (the environment beats the file, as for every setting). Secret
 * values are registered so that nothing strata prints shows them.
 */
export function placeholderValues(
  fromFile: Record<string, string> | undefined,
  env: Record<string, string | undefined>,
): Record<string, string> {
  const values: Record<string, string> = { ...fromFile };
  for (const [key, value] of Object.entries(env)) {
    if (key.startsWith(ENV_PREFIX) && key.length > ENV_PREFIX.length && value !== undefined) {
      values[key.slice(ENV_PREFIX.length)] = value;
    }
  }
  for (const [name, value] of Object.entries(values)) {
    if (isSecretName(name)) registerSecret(value);
  }
  return values;
}

function fillSection(
  section: Section,
  values: Record<string, string>,
  used: Record<string, string>,
  missing: Unfilled[],
): Section {
  let line = section.line;
  let at = 0;
  const sql = section.sql.replace(PLACEHOLDER_REGEXP, (whole, name: string, offset: number) => {
    for (
      let i = section.sql.indexOf("\n", at);
      i >= 0 && i < offset;
      i = section.sql.indexOf("\n", i + 1)
    ) {
      line++;
      at = i + 1;
    }
    if (!Object.hasOwn(values, name)) {
      missing.push({ name, line });
      return whole;
    }
    used[name] = values[name];
    return values[name];
  });
  return { ...section, sql };
}

/**
 * The files with their sections filled where they opted in; the others are
 * returned as they are. Nothing is thrown here: a file whose placeholder is
 * undefined only stops a command that runs or prints it (`assertFilled`).
 */
export function fillFiles(
  files: MigrationFile[],
  values: Record<string, string>,
  everywhere: boolean,
): MigrationFile[] {
  return files.map((file) => {
    if (!optedIn(file, everywhere)) return file;
    const filled: Filled = { values: { up: {}, down: {} }, missing: [] };
    const result: MigrationFile = {
      ...file,
      up: fillSection(file.up, values, filled.values.up, filled.missing),
      down: file.down && fillSection(file.down, values, filled.values.down, filled.missing),
    };
    filledFiles.set(result, filled);
    return result;
  });
}

/** What filling did to `file`, or undefined when it did not opt in. */
export function filledOf(file: MigrationFile): Filled | undefined {
  return filledFiles.get(file);
}

/**
 * Refuse, before anything runs, when any of `files` holds a placeholder that
 * nothing defines: the first one, with file and line, and every name missing.
 */
export function assertFilled(files: Iterable<MigrationFile>): void {
  for (const file of files) {
    const missing = filledFiles.get(file)?.missing;
    if (!missing || missing.length === 0) continue;
    const first = missing[0];
    const names = [...new Set(missing.map((item) => item.name))];
    throw new StrataError("FILE", `Placeholder "\${${first.name}}" is not defined`, {
      file: file.path,
      line: first.line,
      hint: `Set it in "placeholders" of strata.json or as ${ENV_PREFIX}${first.name} ` +
        `in the environment (missing in this file: ${names.join(", ")})`,
      details: { placeholder: first.name, missing: names },
    });
  }
}

/**
 * The values a revision's section ran with, for its journal row:
 * `name=value` pairs, secrets (by name, and anything redact masks) shown as
 * `***`. Undefined when the file did not opt in or the section used none.
 */
export function placeholderDetail(
  file: MigrationFile,
  direction: "up" | "down",
): string | undefined {
  const values = filledFiles.get(file)?.values[direction];
  if (!values || Object.keys(values).length === 0) return undefined;
  const pairs = Object.keys(values).sort().map((name) =>
    `${name}=${isSecretName(name) ? "***" : redact(values[name])}`
  );
  return `placeholders: ${pairs.join(", ")}`;
}
