/**
 * Resolves configuration in one place: flags beat the environment
 * (`STRATA_*`, `DATABASE_URL`, `PG*`), which beats `strata.json`.
 */
import { parseDuration } from "./duration.ts";
import { StrataError } from "./errors.ts";
import { placeholderValues } from "./placeholders.ts";
import { redactUrl, registerSecret } from "./redact.ts";
import { LOCK_STRATEGIES, type LockStrategy, MIN_LEASE_MS } from "./lock_strategy.ts";

export interface Config {
  /** Database URL, or undefined when nothing names one. */
  database?: string;
  /** Where the database URL came from, for `status` and errors. */
  databaseSource?: string;
  dir: string;
  /** `name` or `schema.name` of the ledger table; undefined: strata_ledger in current_schema(). */
  table?: string;
  lockTimeoutMs: number;
  connectTimeoutMs: number;
  statementTimeoutMs: number;
  lockWaitMs: number;
  /** Tries after a lock timeout (`--lock-retries`, `lockRetries`); 0: fail at once. */
  lockRetries: number;
  allowOutOfOrder: boolean;
  /**
   * Several heads are a normal state: `apply` upgrades to all of them
   * (Alembic's `upgrade heads`) and status/check call the database up to
   * date once every head is applied.
   */
  multipleHeads: boolean;
  /** The schemas the project manages: what `reset --hard` drops and recreates. */
  schemas: string[];
  /** The desired-schema SQL file that `create --autogenerate` and `diff` read. */
  schemaFile: string;
  /** The least severity of a lint finding that makes `lint` exit 3. */
  lintFailOn: LintFailOn;
  /** Run every pending revision and its ledger rows in one transaction (`--single-transaction`). */
  singleTransaction: boolean;
  /** Refuse to apply when the database drifted from its applied revisions (`--require-no-drift`). */
  driftGate: boolean;
  /**
   * The other places that also name a database, different from the one
   * chosen, which they lose to (flag > environment > strata.json).
   */
  databaseOverridden: Array<{ source: string; database: string }>;
  /**
   * Values of `${name}` placeholders: `STRATA_VAR_name` beats `placeholders`
   * in strata.json. Absent when neither sets any.
   */
  placeholders?: Record<string, string>;
  /** Fill placeholders in every file, not only those with `-- placeholders: on`. */
  placeholdersEverywhere?: boolean;
  /** How the migration lock is held on a server (`--lock-strategy`): `session` or `table`. */
  lockStrategy: LockStrategy;
  /** The table strategy's lease (`--lock-lease`), renewed while the run lasts. */
  lockLeaseMs: number;
}

/** Lint severities, most severe first: `lint` fails on findings at or above the chosen one. */
export const LINT_FAIL_ON = ["error", "warning"] as const;
export type LintFailOn = typeof LINT_FAIL_ON[number];

/** Flag values as parsed from the command line (only those given). */
export interface ConfigFlags {
  database?: string;
  dir?: string;
  table?: string;
  "lock-timeout"?: string;
  "connect-timeout"?: string;
  "statement-timeout"?: string;
  "lock-wait"?: string;
  "lock-retries"?: string;
  "allow-out-of-order"?: boolean;
  heads?: boolean;
  schema?: string;
  "fail-on"?: string;
  "single-transaction"?: boolean;
  "require-no-drift"?: boolean;
  "lock-strategy"?: string;
  "lock-lease"?: string;
}

const FILE_KEYS = new Set([
  "database",
  "dir",
  "table",
  "lockTimeout",
  "connectTimeout",
  "statementTimeout",
  "lockWait",
  "lockRetries",
  "allowOutOfOrder",
  "multipleHeads",
  "schemas",
  "schema",
  "lintFailOn",
  "singleTransaction",
  "driftGate",
  "placeholders",
  "placeholdersEverywhere",
  "lockStrategy",
  "lockLease",
]);

export const CONFIG_FILE = "strata.json";

async function readConfigFile(path: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return {};
    throw new StrataError("CONFIG", `Cannot read ${path}: ${(error as Error).message}`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new StrataError("CONFIG", `${path} is not valid JSON: ${(error as Error).message}`, {
      file: path,
    });
  }
  if (typeof data !== "object" || data === null || Array.isArray(data)) {
    throw new StrataError("CONFIG", `${path} must hold a JSON object`, { file: path });
  }
  for (const key of Object.keys(data)) {
    if (!FILE_KEYS.has(key)) {
      throw new StrataError("CONFIG", `Unknown key "${key}" in ${path}`, {
        file: path,
        hint: `Known keys: ${[...FILE_KEYS].join(", ")}`,
      });
    }
  }
  return data as Record<string, unknown>;
}

/** A server URL from the libpq variables, when any of them names a server. */
function urlFromPgEnv(env: Record<string, string | undefined>): string | undefined {
  if (!env.PGHOST && !env.PGDATABASE && !env.PGPORT && !env.PGUSER) return undefined;
  const user = encodeURIComponent(env.PGUSER ?? "postgres");
  const host = env.PGHOST ?? "localhost";
  const port = env.PGPORT ?? "5432";
  const database = encodeURIComponent(env.PGDATABASE ?? env.PGUSER ?? "postgres");
  // A socket folder goes in the host parameter, as libpq writes it.
  if (host.startsWith("/")) {
    return `postgres://${user}@localhost:${port}/${database}?host=${encodeURIComponent(host)}`;
  }
  const bracketed = host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
  return `postgres://${user}@${bracketed}:${port}/${database}`;
}

function pick<T>(
  sources: Array<[string, T | undefined]>,
): [T, string] | [undefined, undefined] {
  for (const [name, value] of sources) {
    if (value !== undefined && value !== "") return [value, name];
  }
  return [undefined, undefined];
}

/** Resolve flags > environment > strata.json into one Config; a null `path` reads no file. */
export async function resolveConfig(
  flags: ConfigFlags,
  env: Record<string, string | undefined> = Deno.env.toObject(),
  path: string | null = CONFIG_FILE,
): Promise<Config> {
  const json = path === null ? {} : await readConfigFile(path);
  const file = path ?? CONFIG_FILE;
  const fromFile = (key: string) => {
    const value = json[key];
    if (value === undefined || key === "schemas" || key === "placeholders") return undefined;
    if (typeof value !== "string" && typeof value !== "number" && typeof value !== "boolean") {
      throw new StrataError("CONFIG", `Key "${key}" in ${file} must be a string or number`, {
        file,
      });
    }
    return String(value);
  };

  const databaseSources: Array<[string, string | undefined]> = [
    ["--database", flags.database],
    ["STRATA_DATABASE", env.STRATA_DATABASE],
    ["DATABASE_URL", env.DATABASE_URL],
    ["PG* variables", urlFromPgEnv(env)],
    [file, fromFile("database")],
  ];
  const [database, databaseSource] = pick<string>(databaseSources);
  const databaseOverridden = databaseSources
    .filter(([source, value]) => value && source !== databaseSource && value !== database)
    .map(([source, value]) => ({ source, database: value! }));
  if (database) {
    registerUrlPassword(database);
  }
  registerSecret(env.PGPASSWORD);

  const duration = (flag: keyof ConfigFlags, envName: string, key: string, fallback: string) => {
    const [value, source] = pick<string>([
      [`--${flag}`, flags[flag] as string | undefined],
      [envName, env[envName]],
      [`"${key}" in ${file}`, fromFile(key)],
    ]);
    return parseDuration(value ?? fallback, source ?? `--${flag}`);
  };

  const [outOfOrder] = pick<string>([
    ["--allow-out-of-order", flags["allow-out-of-order"] ? "true" : undefined],
    ["STRATA_ALLOW_OUT_OF_ORDER", env.STRATA_ALLOW_OUT_OF_ORDER],
    [file, fromFile("allowOutOfOrder")],
  ]);

  const [single, singleSource] = pick<string>([
    ["--single-transaction", flags["single-transaction"] ? "true" : undefined],
    ["STRATA_SINGLE_TRANSACTION", env.STRATA_SINGLE_TRANSACTION],
    [`"singleTransaction" in ${file}`, fromFile("singleTransaction")],
  ]);

  const [gate, gateSource] = pick<string>([
    ["--require-no-drift", flags["require-no-drift"] ? "true" : undefined],
    ["STRATA_DRIFT_GATE", env.STRATA_DRIFT_GATE],
    [`"driftGate" in ${file}`, fromFile("driftGate")],
  ]);

  const [multipleHeads, multipleHeadsSource] = pick<string>([
    ["--heads", flags.heads ? "true" : undefined],
    ["STRATA_MULTIPLE_HEADS", env.STRATA_MULTIPLE_HEADS],
    [`"multipleHeads" in ${file}`, fromFile("multipleHeads")],
  ]);

  const [everywhere, everywhereSource] = pick<string>([
    ["STRATA_PLACEHOLDERS_EVERYWHERE", env.STRATA_PLACEHOLDERS_EVERYWHERE],
    [`"placeholdersEverywhere" in ${file}`, fromFile("placeholdersEverywhere")],
  ]);
  const values = placeholderValues(placeholderObject(json.placeholders, file), env);

  return {
    ...(Object.keys(values).length > 0 ? { placeholders: values } : {}),
    ...(yesOrNo(everywhere, everywhereSource) ? { placeholdersEverywhere: true } : {}),
    database,
    databaseSource,
    dir: pick<string>([
      ["--dir", flags.dir],
      ["STRATA_DIR", env.STRATA_DIR],
      [file, fromFile("dir")],
    ])[0] ?? "migrations",
    table: pick<string>([
      ["--table", flags.table],
      ["STRATA_TABLE", env.STRATA_TABLE],
      [file, fromFile("table")],
    ])[0],
    lockTimeoutMs: duration("lock-timeout", "STRATA_LOCK_TIMEOUT", "lockTimeout", "60s"),
    connectTimeoutMs: duration(
      "connect-timeout",
      "STRATA_CONNECT_TIMEOUT",
      "connectTimeout",
      "10s",
    ),
    statementTimeoutMs: duration(
      "statement-timeout",
      "STRATA_STATEMENT_TIMEOUT",
      "statementTimeout",
      "0",
    ),
    lockWaitMs: duration("lock-wait", "STRATA_LOCK_WAIT", "lockWait", "0"),
    lockRetries: count(pick<string>([
      ["--lock-retries", flags["lock-retries"]],
      ["STRATA_LOCK_RETRIES", env.STRATA_LOCK_RETRIES],
      [`"lockRetries" in ${file}`, fromFile("lockRetries")],
    ])),
    allowOutOfOrder: outOfOrder === "true" || outOfOrder === "1",
    multipleHeads: yesOrNo(multipleHeads, multipleHeadsSource),
    schemas: schemaList(json.schemas, env.STRATA_SCHEMAS, file),
    schemaFile: pick<string>([
      ["--schema", flags.schema],
      ["STRATA_SCHEMA", env.STRATA_SCHEMA],
      [file, fromFile("schema")],
    ])[0] ?? "schema.sql",
    lintFailOn: lintFailOn(pick<string>([
      ["--fail-on", flags["fail-on"]],
      ["STRATA_LINT_FAIL_ON", env.STRATA_LINT_FAIL_ON],
      [`"lintFailOn" in ${file}`, fromFile("lintFailOn")],
    ])),
    singleTransaction: yesOrNo(single, singleSource),
    driftGate: yesOrNo(gate, gateSource),
    databaseOverridden,
    lockStrategy: lockStrategy(pick<string>([
      ["--lock-strategy", flags["lock-strategy"]],
      ["STRATA_LOCK_STRATEGY", env.STRATA_LOCK_STRATEGY],
      [`"lockStrategy" in ${file}`, fromFile("lockStrategy")],
    ])),
    lockLeaseMs: lease(pick<string>([
      ["--lock-lease", flags["lock-lease"]],
      ["STRATA_LOCK_LEASE", env.STRATA_LOCK_LEASE],
      [`"lockLease" in ${file}`, fromFile("lockLease")],
    ])),
  };
}

function lockStrategy([value, source]: [string, string] | [undefined, undefined]): LockStrategy {
  if (value === undefined) return "session";
  if ((LOCK_STRATEGIES as readonly string[]).includes(value)) return value as LockStrategy;
  throw new StrataError("USAGE", `Unknown lock strategy "${value}" in ${source}`, {
    hint: `Use one of: ${LOCK_STRATEGIES.join(", ")} (table: a leased row beside the ledger, ` +
      `for a transaction pooler or a server without advisory locks)`,
  });
}

function lease([value, source]: [string, string] | [undefined, undefined]): number {
  const ms = parseDuration(value ?? "30s", source ?? "--lock-lease");
  if (ms >= MIN_LEASE_MS) return ms;
  throw new StrataError("USAGE", `${source} must be at least 1s, not "${value}"`, {
    hint: "The lease is renewed three times per period over the network; e.g. --lock-lease 30s",
  });
}

/** A count of tries: a whole number from 0 to 100. */
function count([value, source]: [string, string] | [undefined, undefined]): number {
  if (value === undefined) return 0;
  const n = /^\d+$/.test(value.trim()) ? Number(value.trim()) : NaN;
  if (!Number.isInteger(n) || n > 100) {
    throw new StrataError(
      "CONFIG",
      `${source} must be a whole number from 0 to 100, not "${value}"`,
      {
        hint: "The number of tries after a lock timeout, e.g. --lock-retries 5",
      },
    );
  }
  return n;
}

/** A boolean setting: true/1 or false/0; anything else would silently mean false. */
function yesOrNo(value: string | undefined, source: string | undefined): boolean {
  if (value === undefined) return false;
  if (value === "true" || value === "1") return true;
  if (value === "false" || value === "0") return false;
  throw new StrataError("CONFIG", `${source} must be true or false, not "${value}"`, {
    hint: "Use true or false (1 or 0 in the environment)",
  });
}

function lintFailOn([value, source]: [string, string] | [undefined, undefined]): LintFailOn {
  if (value === undefined) return "error";
  const level = value.toLowerCase();
  if ((LINT_FAIL_ON as readonly string[]).includes(level)) return level as LintFailOn;
  throw new StrataError("CONFIG", `Unknown lint level "${value}" in ${source}`, {
    hint: `Use one of: ${LINT_FAIL_ON.join(", ")} (lint exits 3 on findings at or above it)`,
  });
}

function schemaList(fromFile: unknown, fromEnv: string | undefined, file: string): string[] {
  if (fromEnv) return fromEnv.split(",").map((name) => name.trim()).filter(Boolean);
  if (fromFile === undefined) return ["public"];
  if (
    !Array.isArray(fromFile) || fromFile.length === 0 ||
    !fromFile.every((name) => typeof name === "string" && name !== "")
  ) {
    throw new StrataError("CONFIG", `Key "schemas" in ${file} must be a list of schema names`, {
      file,
      hint: 'For example "schemas": ["public", "audit"]',
    });
  }
  return fromFile as string[];
}

/** strata.json's `placeholders`: an object of names to strings (numbers and booleans as written). */
function placeholderObject(value: unknown, file: string): Record<string, string> | undefined {
  if (value === undefined) return undefined;
  const fail = () =>
    new StrataError("CONFIG", `Key "placeholders" in ${file} must map names to strings`, {
      file,
      hint: 'For example "placeholders": {"app_role": "app_rw", "tablespace": "fast"}',
    });
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw fail();
  const values: Record<string, string> = {};
  for (const [name, item] of Object.entries(value)) {
    if (typeof item !== "string" && typeof item !== "number" && typeof item !== "boolean") {
      throw fail();
    }
    values[name] = String(item);
  }
  return values;
}

function registerUrlPassword(url: string): void {
  const match = /^[a-z][a-z0-9+.-]*:\/\/[^:/?#@\s]*:(\S*)@(?=[^@\s/?#]*(?:[/?#]|$))/i.exec(url);
  if (match) registerSecret(match[1]);
  const param = /[?&]password=([^&]*)/i.exec(url);
  if (param) registerSecret(param[1]);
}

/** The configured database, or a CONFIG error saying how to configure one. */
export function requireDatabase(config: Config): string {
  if (!config.database) {
    throw new StrataError("CONFIG", "No database configured", {
      hint: 'Pass --database URL, set DATABASE_URL, or add "database" to strata.json ' +
        "(postgres://user@host:5432/db, pglite:PATH or pglite:memory)",
    });
  }
  return config.database;
}

export function databaseLabel(config: Config): string {
  return config.database ? redactUrl(config.database) : "(none)";
}
