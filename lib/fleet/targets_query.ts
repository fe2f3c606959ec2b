/**
 * `--targets-query SQL`: a query run on the `--database` server lists the
 * databases, one a row (the database-per-tenant case). The first column is a
 * database name or a URL; a column called `name`, when there is one besides,
 * names the target. A bare database name is the `--database` URL with that
 * database in it (same host, port, user, password, parameters).
 *
 * ```sh
 * strata fleet apply --database postgres://app@db1/postgres \
 *   --targets-query "SELECT datname FROM pg_database WHERE datname LIKE 'tenant\_%' ORDER BY 1"
 * ```
 *
 * The query's connection is closed before the first target starts.
 */
import type { Config } from "../config.ts";
import { requireDatabase } from "../config.ts";
import { openEngine, SqlError } from "../db/engine.ts";
import { StrataError } from "../errors.ts";
import { redact, redactUrl } from "../redact.ts";
import {
  defaultName,
  duplicateName,
  isDatabaseUrl,
  type Target,
  type TargetSource,
} from "./targets.ts";

const HINT = "The query returns one row per database: a database name or a URL first, " +
  "optionally a column called name";

/** `url` (a server URL) with its database replaced by `database`. */
export function withDatabase(url: string, database: string): string {
  const match = /^(postgres(?:ql)?:\/\/[^/?#]*)(\/[^?#]*)?([?#].*)?$/i.exec(url);
  if (!match) {
    throw new StrataError("CONFIG", `Cannot put database "${database}" into ${redactUrl(url)}`, {
      hint: "A bare database name from --targets-query needs a postgres:// --database URL",
    });
  }
  return `${match[1]}/${encodeURIComponent(database)}${match[3] ?? ""}`;
}

/** The targets the rows of a targets query give; `base` is the URL bare names go into. */
export function targetsFromRows(rows: Record<string, unknown>[], base: string): Target[] {
  const targets: Target[] = [];
  const byName = new Map<string, Target>();
  rows.forEach((row, index) => {
    const source = `--targets-query row ${index + 1}`;
    const columns = Object.keys(row);
    const value = row[columns[0]];
    const named = columns.length > 1 && columns.includes("name") && columns[0] !== "name"
      ? row.name
      : null;
    if (typeof value !== "string" || value === "") {
      throw new StrataError("CONFIG", `${source}: the first column is not a database name or URL`, {
        hint: HINT,
      });
    }
    const url = isDatabaseUrl(value) ? value : withDatabase(base, value);
    const name = named === null || named === undefined || named === ""
      ? (isDatabaseUrl(value) ? defaultName(value) : value)
      : String(named);
    const target = { name, url, source };
    const first = byName.get(name);
    if (first) throw duplicateName(target, first);
    byName.set(name, target);
    targets.push(target);
  });
  return targets;
}

/** The query `sql`, run on the configured database. */
export function queryTargets(sql: string, config: Config): TargetSource {
  return {
    label: "--targets-query",
    async list() {
      const base = requireDatabase(config);
      const engine = await openEngine(base, {
        mustExist: true,
        connectTimeoutMs: config.connectTimeoutMs,
        statementTimeoutMs: config.statementTimeoutMs,
        lockWaitMs: config.lockWaitMs,
        lockTimeoutMs: config.lockTimeoutMs,
      });
      let rows: Record<string, unknown>[];
      try {
        rows = await engine.query(sql);
      } catch (error) {
        if (!(error instanceof SqlError)) throw error;
        throw new StrataError(
          "CONFIG",
          `The targets query failed on ${engine.label}: ${redact(error.message)}`,
          { hint: HINT, details: { sqlstate: error.sqlstate } },
        );
      } finally {
        await engine.close();
      }
      return targetsFromRows(rows, base);
    },
  };
}
