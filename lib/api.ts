/**
 * strata from code: each function runs the very command the CLI runs (the
 * same entry of lib/commands/catalog.ts), with an Output that captures the
 * JSON document instead of printing it, and returns that document. Nothing
 * here prints, exits or listens for signals; the command modules, PGlite and
 * the SQL parser load on the first call, not on import.
 */
import { type ConfigFlags, resolveConfig } from "./config.ts";
import { StrataError } from "./errors.ts";
import { redact } from "./redact.ts";
import type { Flags } from "./commands/context.ts";
import type {
  CheckResult,
  DriftResult,
  DryRunResult,
  FleetResult,
  LintResult,
  MigrateResult,
  StatusResult,
  VerifyResult,
} from "./api_types.ts";

/**
 * A duration as the command line and strata.json take it: `"500ms"`, `"2s"`,
 * `"1m"`, `"1h"`, or a number of seconds.
 */
export type Duration = string | number;

/** A line strata would print: a human line, a warning, an error, or a `verbose` line. */
export interface LogEvent {
  /** `info` for what the CLI prints on stdout, the rest for what goes to stderr. */
  level: "info" | "warn" | "error" | "debug";
  /** The line, uncoloured, passwords masked. */
  text: string;
}

/**
 * The settings every function takes: the global options of the command line.
 *
 * Nothing is read from the process's environment or from `strata.json`
 * unless asked: pass `env` (for example `Deno.env.toObject()` or
 * `process.env`) to let `DATABASE_URL`, `STRATA_*` and `PG*` fill what the
 * options leave out, and `configFile` to read a strata.json. Options beat
 * `env`, which beats the file, as flags do on the command line. A relative
 * `dir` or `configFile` is taken from the process's working folder.
 */
export interface Options {
  /** `postgres://user@host:5432/db`, `pglite:PATH` or `pglite:memory`. */
  database?: string;
  /** The migrations folder (default `migrations`). */
  dir?: string;
  /** The ledger table, `name` or `schema.name` (default `strata_ledger`). */
  table?: string;
  /** How long to wait for the migration lock (default 60 s); then LOCK_TIMEOUT. */
  lockTimeout?: Duration;
  /** How long to wait for a connection (default 10 s). */
  connectTimeout?: Duration;
  /** `statement_timeout` for the migrations (default none). */
  statementTimeout?: Duration;
  /** `lock_timeout` for the migrations' own statements (default none). */
  lockWait?: Duration;
  /** After a lock timeout, try a revision again this many times with backoff (default 0). */
  lockRetries?: number;
  /** Apply revisions older than applied ones (with a warning) instead of refusing. */
  allowOutOfOrder?: boolean;
  /** Several heads are normal: `apply` goes to every head, and up to date means all applied. */
  multipleHeads?: boolean;
  /** Every pending revision and its ledger rows in one transaction (`--single-transaction`). */
  singleTransaction?: boolean;
  /**
   * How the migration lock is held on a server (default `session`): `table`
   * keeps it as a leased row beside the ledger, for a transaction pooler or a
   * server without advisory locks (`--lock-strategy`).
   */
  lockStrategy?: "session" | "table";
  /** The table strategy's lease, renewed while the run lasts (default 30 s; `--lock-lease`). */
  lockLease?: Duration;
  /**
   * Environment variables to read settings from, as the command line does
   * (`STRATA_DATABASE`, `DATABASE_URL`, `PG*`, `STRATA_DIR`, …). Default: none.
   */
  env?: Record<string, string | undefined>;
  /** A strata.json to read settings from (as the command line reads ./strata.json). Default: none. */
  configFile?: string;
  /** Called with each line the command line would print (default: nothing is printed). */
  log?: (event: LogEvent) => void;
  /** Called as revisions are done, where the command line draws a progress bar. */
  onProgress?: (done: number, total: number) => void;
  /** Also log each statement as it runs (`--verbose`), at level `debug`. */
  verbose?: boolean;
  /**
   * Stop after the current revision when aborted: the call then throws a
   * StrataError with code INTERRUPTED (Ctrl-C on the command line). Other
   * strata calls running in this process at that moment stop too.
   */
  signal?: AbortSignal;
}

/** Settings of `apply`, `upgrade` and `downgrade`. */
export interface MigrateOptions extends Options {
  /** Connect, read the state and return the plan; change nothing (`--dry-run`). */
  dryRun?: boolean;
}

/** Settings of `upgrade`. */
export interface UpgradeOptions extends MigrateOptions {
  /** `head` (default; `heads` with multipleHeads), `heads`, a revision or prefix, `+N`, `REV+N`. */
  target?: string;
}

/** Settings of `downgrade`. */
export interface DowngradeOptions extends MigrateOptions {
  /** Required: `base`, a revision or prefix, `-N`. */
  target: string;
}

/** Settings of `verify` and `drift`. */
export interface ProofOptions extends Options {
  /**
   * Build on fresh databases of this server (created and dropped) instead of
   * the embedded engine in memory (`--scratch URL`).
   */
  scratch?: string;
}

/** Settings of `verify`. */
export interface VerifyOptions extends ProofOptions {
  /** Comment-only, function-text-only and irreversible revisions fail too. */
  strict?: boolean;
}

/** Settings of `lint`. */
export interface LintOptions extends Options {
  /** Lint only these revisions (ids or unique prefixes); default all. */
  revisions?: string[];
  /** The least severity that makes `ok` false: `error` (default) or `warning`. */
  failOn?: "error" | "warning";
}

function durationFlag(value: Duration | undefined): string | undefined {
  return value === undefined ? undefined : String(value);
}

/** Run one command of the catalog as the CLI would with --json; return its document. */
async function run<T>(
  name: string,
  options: Options,
  args: string[] = [],
  flags: Flags = {},
  extra: ConfigFlags = {},
): Promise<T> {
  const configFlags: ConfigFlags = {
    database: options.database,
    dir: options.dir,
    table: options.table,
    "lock-timeout": durationFlag(options.lockTimeout),
    "connect-timeout": durationFlag(options.connectTimeout),
    "statement-timeout": durationFlag(options.statementTimeout),
    "lock-wait": durationFlag(options.lockWait),
    "lock-retries": options.lockRetries === undefined ? undefined : String(options.lockRetries),
    "allow-out-of-order": options.allowOutOfOrder,
    heads: options.multipleHeads,
    "single-transaction": options.singleTransaction,
    "lock-strategy": options.lockStrategy,
    "lock-lease": durationFlag(options.lockLease),
    ...extra,
  };
  const stop = options.signal && (await import("./runner.ts")).interruption;
  const onAbort = () => stop && (stop.requested = true);
  try {
    if (options.signal?.aborted) {
      throw new StrataError("INTERRUPTED", `Interrupted before strata ${name} started`, {
        hint: "The signal was already aborted; nothing ran",
      });
    }
    options.signal?.addEventListener("abort", onAbort);
    const config = await resolveConfig(configFlags, options.env ?? {}, options.configFile ?? null);
    // An explicit false beats the environment and the file, as a flag would.
    if (options.allowOutOfOrder === false) config.allowOutOfOrder = false;
    if (options.multipleHeads === false) config.multipleHeads = false;
    if (options.singleTransaction === false) config.singleTransaction = false;
    const { COMMANDS } = await import("./commands/catalog.ts");
    const { runCaptured } = await import("./captured.ts");
    const command = { name, run: COMMANDS[name].run, args, flags };
    const { document } = await runCaptured<T>(command, config, {
      log: options.log && ((level, text) => options.log!({ level, text })),
      progress: options.onProgress,
      verbose: options.verbose,
    });
    return document;
  } catch (error) {
    if (error instanceof StrataError) {
      // What the CLI masks on its way to the terminal is masked here before it leaves.
      error.message = redact(error.message);
      if (error.hint) (error as { hint?: string }).hint = redact(error.hint);
    }
    throw error;
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
    if (options.signal?.aborted && stop) stop.requested = false;
  }
}

/**
 * The database against the files: current revision, heads, pending,
 * edited, missing, out of order (`strata status`). Read-only, takes no lock,
 * and creates no embedded database.
 *
 * @example Which revisions are pending
 * ```ts ignore
 * import { status } from "@strata/strata";
 *
 * const report = await status({ database: "postgres://app@127.0.0.1/app", dir: "migrations" });
 * console.log(report.pending);
 * ```
 */
export function status(options: Options = {}): Promise<StatusResult> {
  return run("status", options);
}

/**
 * Like {@link status}, judged (`strata check`): `ok` is false, where the
 * command line exits 3, when anything is pending, edited, missing, branched,
 * out of order or interrupted.
 *
 * @example Fail a deploy when migrations are pending
 * ```ts ignore
 * import { check } from "@strata/strata";
 *
 * const result = await check({ database: "postgres://app@127.0.0.1/app" });
 * if (!result.ok) throw new Error(`pending: ${result.pending.join(", ")}`);
 * ```
 */
export function check(options: Options = {}): Promise<CheckResult> {
  return run("check", options);
}

/**
 * Upgrade to head (to every head with `multipleHeads`), as `strata apply`:
 * everything is validated first, then the revisions run under the migration
 * lock. A runner that waited for the lock finds the work done.
 *
 * @example Migrate at boot
 * ```ts ignore
 * import { apply } from "@strata/strata";
 *
 * const { steps } = await apply({ database: "postgres://app@127.0.0.1/app" });
 * console.log(`applied ${steps.length} revisions`);
 * ```
 */
export function apply(options?: Options & { dryRun?: false }): Promise<MigrateResult>;
/** With `dryRun: true`: the revisions apply would run; nothing changes. */
export function apply(options: Options & { dryRun: true }): Promise<DryRunResult>;
/** Either, as `dryRun` says. */
export function apply(options?: MigrateOptions): Promise<MigrateResult | DryRunResult>;
export function apply(options: MigrateOptions = {}): Promise<MigrateResult | DryRunResult> {
  return run("apply", options, [], { "dry-run": options.dryRun });
}

/**
 * Move up to `target` (default head), as `strata upgrade TARGET`.
 *
 * @example One revision up
 * ```ts ignore
 * import { upgrade } from "@strata/strata";
 *
 * await upgrade({ database: "pglite:.strata/dev", target: "+1" });
 * ```
 */
export function upgrade(options?: UpgradeOptions & { dryRun?: false }): Promise<MigrateResult>;
/** With `dryRun: true`: the revisions upgrade would run; nothing changes. */
export function upgrade(options: UpgradeOptions & { dryRun: true }): Promise<DryRunResult>;
/** Either, as `dryRun` says. */
export function upgrade(options?: UpgradeOptions): Promise<MigrateResult | DryRunResult>;
export function upgrade(options: UpgradeOptions = {}): Promise<MigrateResult | DryRunResult> {
  const args = options.target === undefined ? [] : [options.target];
  return run("upgrade", options, args, { "dry-run": options.dryRun });
}

/**
 * Roll back down to `target`, as `strata downgrade TARGET`.
 *
 * @example The last revision back
 * ```ts ignore
 * import { downgrade } from "@strata/strata";
 *
 * await downgrade({ database: "pglite:.strata/dev", target: "-1" });
 * ```
 */
export function downgrade(options: DowngradeOptions & { dryRun?: false }): Promise<MigrateResult>;
/** With `dryRun: true`: the revisions downgrade would roll back; nothing changes. */
export function downgrade(options: DowngradeOptions & { dryRun: true }): Promise<DryRunResult>;
/** Either, as `dryRun` says. */
export function downgrade(options: DowngradeOptions): Promise<MigrateResult | DryRunResult>;
export function downgrade(options: DowngradeOptions): Promise<MigrateResult | DryRunResult> {
  // A missing target is the CLI's usage error, not a silent default.
  const args = options?.target === undefined ? [] : [options.target];
  return run("downgrade", options ?? {}, args, { "dry-run": options?.dryRun });
}

/**
 * Prove every down undoes its up, on the embedded engine in memory (or
 * `scratch`), never on `database` (`strata verify`). A finding is a result:
 * `ok` is false where the command line exits 1.
 *
 * @example In a test
 * ```ts ignore
 * import { verify } from "@strata/strata";
 *
 * const result = await verify({ dir: "migrations" });
 * if (!result.ok) throw new Error(`not reversible: ${result.notRestored.join(", ")}`);
 * ```
 */
export function verify(options: VerifyOptions = {}): Promise<VerifyResult> {
  return run("verify", options, [], { strict: options.strict, scratch: options.scratch });
}

/**
 * What changed in the database out of band, against the schema its applied
 * revisions build on a scratch database (`strata drift`). Read-only on the
 * database. `ok` is false where the command line exits 3.
 *
 * @example
 * ```ts ignore
 * import { drift } from "@strata/strata";
 *
 * const result = await drift({ database: "postgres://app@127.0.0.1/app" });
 * for (const object of result.added) console.log(`+ ${object.kind} ${object.name}`);
 * ```
 */
export function drift(options: ProofOptions = {}): Promise<DriftResult> {
  return run("drift", options, [], { scratch: options.scratch });
}

/**
 * Risky statements (locks, rewrites, data loss) with file and line
 * (`strata lint`). Needs no database. `ok` is false where the command line
 * exits 3.
 *
 * @example
 * ```ts ignore
 * import { lint } from "@strata/strata";
 *
 * const { findings } = await lint({ dir: "migrations", failOn: "warning" });
 * ```
 */
export function lint(options: LintOptions = {}): Promise<LintResult> {
  return run("lint", options, options.revisions ?? [], {}, { "fail-on": options.failOn });
}

/** Settings of `fleet`. */
export interface FleetOptions extends Options {
  /** A targets file: one database a line, `URL` or `NAME URL`, `#` comments (`--targets`). */
  targets?: string;
  /**
   * A query run on `database` that lists the targets, one a row: a database
   * name (put into the `database` URL) or a URL first, optionally a column
   * called `name` (`--targets-query`).
   */
  targetsQuery?: string;
  /** At most this many targets at once (default 4). */
  parallel?: number;
  /** The first this many targets run first; the rest only if all of them succeed (default 0). */
  canary?: number;
  /** `stop` (default): after a failure no new target starts; `continue`: every target runs. */
  onError?: "stop" | "continue";
  /** For `upgrade`: the target revision (default head). */
  target?: string;
  /** For `drift`: build on fresh databases of this server instead of the embedded engine. */
  scratch?: string;
}

/**
 * One command over many databases, as `strata fleet COMMAND`: each target
 * runs exactly as that command alone, at most `parallel` at once. A target's
 * failure is a row of the result, not a throw; the call throws only for what
 * stops the whole fleet before it starts (a bad targets file, a broken
 * migration file). Aborting `signal` starts no more targets and stops the
 * running ones after their current revision.
 *
 * @example Every tenant database to head
 * ```ts ignore
 * import { fleet } from "@strata/strata";
 *
 * const report = await fleet("apply", {
 *   database: "postgres://app@127.0.0.1/postgres",
 *   targetsQuery: "SELECT datname FROM pg_database WHERE datname LIKE 'tenant_%'",
 *   parallel: 8,
 * });
 * for (const t of report.targets) if (t.error) console.error(t.name, t.error.message);
 * ```
 */
export function fleet(
  command: FleetResult["action"],
  options: FleetOptions = {},
): Promise<FleetResult> {
  const args = [command, ...(options.target === undefined ? [] : [options.target])];
  return run("fleet", options, args, {
    targets: options.targets,
    "targets-query": options.targetsQuery,
    parallel: options.parallel === undefined ? undefined : String(options.parallel),
    canary: options.canary === undefined ? undefined : String(options.canary),
    "on-error": options.onError,
    scratch: options.scratch,
  });
}
