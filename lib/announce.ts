/**
 * Said before a command changes a database: which database (password
 * masked) and where that setting came from, and every other place that named
 * a different one, so the environment never silently beats strata.json.
 */
import type { Config } from "./config.ts";
import type { Output } from "./output.ts";
import { redactUrl } from "./redact.ts";

const PRECEDENCE = "flags beat the environment, which beats strata.json";

/** The database line and any overridden settings; on stderr with --json. */
export function announceDatabase(out: Output, config: Config): void {
  if (!config.database) return;
  out.notice(`Database: ${redactUrl(config.database)} (from ${config.databaseSource})`);
  for (const other of config.databaseOverridden) {
    out.warn(
      `${other.source} names another database, ${redactUrl(other.database)}: ` +
        `${config.databaseSource} wins (${PRECEDENCE})`,
    );
  }
}
