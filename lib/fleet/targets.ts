/**
 * The seam every fleet target source plugs into: a source lists the databases
 * to run on, in its own order, each with a name and where it came from. One
 * file per source (`targets_file.ts`, `targets_query.ts`); `collectTargets`
 * joins them. Nothing here connects to a target.
 *
 * @example
 * ```ts ignore
 * const targets = await collectTargets([fileTargets("tenants.txt")]);
 * ```
 */
import { StrataError } from "../errors.ts";
import { redactUrl, registerSecret } from "../redact.ts";

/** One database of the fleet. */
export interface Target {
  /** Unique in the run: given by the source, or derived from the URL (`defaultName`). */
  name: string;
  /** The database URL, password included (never printed: `redactUrl`). */
  url: string;
  /** Where it came from, for errors and the report: `tenants.txt:12`, `--targets-query row 3`. */
  source: string;
}

/** A list of targets: a file, a query, … */
export interface TargetSource {
  /** What the source is, as errors name it: `tenants.txt`, `--targets-query`. */
  readonly label: string;
  /**
   * The targets in the source's order. Throws a CONFIG (or USAGE) error
   * naming the source and line or row for anything it cannot read; a
   * duplicate name within the source is such an error.
   */
  list(): Promise<Target[]>;
}

const SERVER_URL_REGEXP = /^postgres(?:ql)?:\/\//i;

/** Whether `text` is a database URL strata opens: `postgres://`, `postgresql://`, `pglite:`. */
export function isDatabaseUrl(text: string): boolean {
  return SERVER_URL_REGEXP.test(text) || /^pglite:./.test(text);
}

/**
 * The name of an unnamed target: the URL without scheme, user, password and
 * parameters (`127.0.0.1:5432/tenant_1`), or the whole `pglite:PATH`.
 */
export function defaultName(url: string): string {
  if (!SERVER_URL_REGEXP.test(url)) return url;
  const rest = url.replace(SERVER_URL_REGEXP, "").split(/[?#]/)[0];
  const at = rest.lastIndexOf("@", rest.indexOf("/") < 0 ? rest.length : rest.indexOf("/"));
  const hostAndPath = at >= 0 ? rest.slice(at + 1) : rest;
  try {
    return decodeURIComponent(hostAndPath);
  } catch {
    return hostAndPath;
  }
}

/** A target URL's password is masked wherever it is printed, as the configured one is. */
export function registerTargetSecret(url: string): void {
  const match = /^[a-z][a-z0-9+.-]*:\/\/[^:/?#@\s]*:(\S*)@(?=[^@\s/?#]*(?:[/?#]|$))/i.exec(url);
  if (match) registerSecret(match[1]);
  const param = /[?&]password=([^&]*)/i.exec(url);
  if (param) registerSecret(param[1]);
}

/** A name used twice within one source. */
export function duplicateName(target: Target, first: Target): StrataError {
  return new StrataError(
    "CONFIG",
    `Target name "${target.name}" at ${target.source} is already used at ${first.source}`,
    { hint: "Give each database its own name (a line is NAME URL)" },
  );
}

/**
 * The union of the sources, in order: a source's targets after the previous
 * source's. A target both sources list with the same name and URL runs once
 * (merged); the same name for two URLs, or one URL under two names, is a
 * CONFIG error naming both places. An empty fleet is a CONFIG error too: a
 * query or file that lists nothing is more likely a mistake than a wish.
 */
export async function collectTargets(sources: TargetSource[]): Promise<Target[]> {
  const byName = new Map<string, Target>();
  const byUrl = new Map<string, Target>();
  const all: Target[] = [];
  for (const source of sources) {
    for (const target of await source.list()) {
      registerTargetSecret(target.url);
      const named = byName.get(target.name);
      if (named && named.url === target.url) continue;
      if (named) throw duplicateName(target, named);
      const same = byUrl.get(target.url);
      if (same) {
        throw new StrataError(
          "CONFIG",
          `Database ${redactUrl(target.url)} is listed twice: as "${same.name}" (${same.source}) ` +
            `and as "${target.name}" (${target.source})`,
          { hint: "List each database once; running it twice would only wait on its own lock" },
        );
      }
      byName.set(target.name, target);
      byUrl.set(target.url, target);
      all.push(target);
    }
  }
  if (all.length === 0) {
    throw new StrataError(
      "CONFIG",
      `No targets: ${sources.map((s) => s.label).join(" and ")} ` +
        `${sources.length > 1 ? "list" : "lists"} no database`,
      {
        hint: "A targets file holds one URL (or NAME URL) a line; a targets query returns a row " +
          "per database",
      },
    );
  }
  return all;
}
