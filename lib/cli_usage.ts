/**
 * Usage errors of the command line in strata's own words: an unknown option
 * or command with the nearest known one, a missing or unexpected option value,
 * instead of Node's parser text.
 */
import { type StrataError, usage } from "./errors.ts";

/** How `parseArgs` describes an option: enough to name its value. */
export interface OptionSpec {
  type: "string" | "boolean";
  short?: string;
}

/** What the value of a string option looks like, for messages. */
const VALUE_NAMES: Record<string, string> = {
  database: "URL",
  dir: "PATH",
  table: "[SCHEMA.]NAME",
  "lock-timeout": "DURATION",
  "connect-timeout": "DURATION",
  "statement-timeout": "DURATION",
  "lock-wait": "DURATION",
  "lock-retries": "N",
  "lock-strategy": "session|table",
  "lock-lease": "DURATION",
  message: '"description"',
  category: "NAME",
  range: "FROM:TO",
  scratch: "URL",
  schema: "PATH",
  "fail-on": "error|warning",
  format: "FORMAT",
};

/** Edit distance (insert, delete, replace, swap of two neighbours). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.length][b.length];
}

/**
 * The candidate `word` was most likely meant to be: the only one it is a
 * prefix of, else the nearest within a few edits; null when none is close.
 */
export function suggest(word: string, candidates: string[]): string | null {
  const lower = word.toLowerCase();
  if (!lower) return null;
  const exact = candidates.find((c) => c.toLowerCase() === lower);
  if (exact) return exact;
  const prefixed = candidates.filter((c) => c.toLowerCase().startsWith(lower));
  if (prefixed.length === 1 && lower.length >= 2) return prefixed[0];
  const limit = Math.max(1, Math.min(3, Math.floor(lower.length / 3)));
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const distance = editDistance(lower, candidate.toLowerCase());
    if (distance < bestDistance) [best, bestDistance] = [candidate, distance];
  }
  return bestDistance <= limit ? best : null;
}

/** `--name` or `-n` of a token as the parser quoted it (`'-d, --database <value>'`). */
function quotedOption(message: string): string | null {
  return /'(-[^' ,]*)/.exec(message)?.[1] ?? null;
}

/** The long name of `flag` (`-d` → `database`, `--dir` → `dir`), if it is known. */
function longName(flag: string, options: Record<string, OptionSpec>): string | null {
  if (flag.startsWith("--")) return Object.hasOwn(options, flag.slice(2)) ? flag.slice(2) : null;
  const short = flag.slice(1);
  return Object.entries(options).find(([, spec]) => spec.short === short)?.[0] ?? null;
}

/**
 * A `node:util` parseArgs error as a usage error in strata's words:
 * `Unknown option --dry-rn (did you mean --dry-run?)`, `Option --database
 * needs a value: --database URL`, `Option --json takes no value`.
 */
export function parseArgsFailure(
  error: unknown,
  options: Record<string, OptionSpec>,
): StrataError {
  const code = (error as { code?: string })?.code;
  const message = String((error as Error)?.message ?? error);
  const flag = quotedOption(message);
  const help = "strata --help lists the options";
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" && flag) {
    const word = flag.replace(/^-+/, "");
    const known = Object.keys(options);
    const guess = flag.startsWith("--")
      ? suggest(word, known)
      : Object.entries(options).find(([, s]) => s.short?.toLowerCase() === word.toLowerCase())
        ?.[0] ?? suggest(word, known);
    return usage(
      `Unknown option ${flag}${guess ? ` (did you mean --${guess}?)` : ""}`,
      help,
    );
  }
  if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE" && flag) {
    const name = longName(flag, options);
    const shown = name ? `--${name}` : flag;
    const spec = name ? options[name] : undefined;
    if (spec?.type === "boolean" || /does not take an argument/.test(message)) {
      return usage(`Option ${shown} takes no value`, `Write ${shown} alone; ${help}`);
    }
    const value = (name && Object.hasOwn(VALUE_NAMES, name) ? VALUE_NAMES[name] : null) ?? "VALUE";
    return usage(
      `Option ${shown} needs a value: ${shown} ${value}`,
      `A value that starts with "-" is written ${shown}=-VALUE`,
    );
  }
  return usage(message.split("\n")[0].replace(/\. To specify .*$/, ""), help);
}

/** An unknown command, with the nearest one or the list of all. */
export function unknownCommand(name: string, commands: string[]): StrataError {
  const guess = suggest(name, commands);
  return usage(
    `Unknown command "${name}"${guess ? ` (did you mean ${guess}?)` : ""}`,
    guess
      ? "strata --help lists the commands"
      : `Commands: ${commands.join(", ")} (strata --help says what each does)`,
  );
}
