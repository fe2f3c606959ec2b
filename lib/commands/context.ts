/**
 * What every command receives, and the few steps most of them share: load
 * and check the files, open the configured database, read the ledger.
 */
import { type Config, requireDatabase } from "../config.ts";
import {
  ConnectionLost,
  embeddedNotCreated,
  type Engine,
  openEngine,
  preloadEngine,
  SqlError,
} from "../db/engine.ts";
import { StrataError, usage } from "../errors.ts";
import { redact } from "../redact.ts";
import { buildGraph, type Graph } from "../graph.ts";
import { type LedgerNames, ledgerNames, type LedgerRow, readLedger } from "../ledger.ts";
import { loadMigrations } from "../migration_dir.ts";
import { fillFiles } from "../placeholders.ts";
import type { Output } from "../output.ts";
import { compareState, type State } from "../state.ts";

export interface Flags {
  sql?: boolean;
  "dry-run"?: boolean;
  message?: string;
  category?: string;
  empty?: boolean;
  unstamp?: boolean;
  range?: string;
  verbose?: boolean;
  yes?: boolean;
  hard?: boolean;
  reapply?: boolean;
  strict?: boolean;
  scratch?: string;
  autogenerate?: boolean;
  partial?: boolean;
  /** lint's output: text, json, github or sarif. */
  format?: string;
  stamp?: boolean;
  /** lint: the measured locks of the lock rules' findings (what `strata locks` reports). */
  measured?: boolean;
  "from-migrations"?: boolean;
  output?: string;
  /** fleet: a file of database URLs, one a line. */
  targets?: string;
  /** fleet: a query on --database that lists the databases. */
  "targets-query"?: string;
  /** fleet: how many targets run at once. */
  parallel?: string;
  /** fleet: how many targets run first, alone. */
  canary?: string;
  /** fleet: stop or continue after a target fails. */
  "on-error"?: string;
}

export interface Context {
  config: Config;
  out: Output;
  /** Positional arguments after the command name. */
  args: string[];
  flags: Flags;
  /**
   * This run's own stop: the runner stops after the current revision when it
   * is aborted, as after Ctrl-C, without stopping other runs in the process
   * (`strata fleet` stops its running targets so).
   */
  signal?: AbortSignal;
  /** The files, loaded and checked once for many runs (`strata fleet`); else read by `loadGraph`. */
  graph?: Graph;
}

export type Command = (ctx: Context) => Promise<number>;

/** The files as a graph, placeholders filled where a file opted in (lib/placeholders.ts). */
export async function loadGraph(ctx: Context, pause?: () => Promise<void>): Promise<Graph> {
  if (ctx.graph) return ctx.graph;
  const files = await loadMigrations(ctx.config.dir, pause);
  const { placeholders = {}, placeholdersEverywhere = false } = ctx.config;
  return buildGraph(fillFiles(files, placeholders, placeholdersEverywhere));
}

/** One turn of the event loop: lets a connection being opened read and answer the server. */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export function names(ctx: Context): LedgerNames {
  return ledgerNames(ctx.config.table);
}

/** `readOnly`: the command only reads, so it must not create an embedded database. */
export interface OpenOptions {
  readOnly?: boolean;
}

/**
 * The configured database is a `pglite:PATH` folder that holds no database
 * yet: read-only commands say so and list everything as pending, creating
 * nothing. Null otherwise; the printable name of the database when so.
 */
export async function notCreatedYet(ctx: Context): Promise<string | null> {
  const url = ctx.config.database;
  return url && (await embeddedNotCreated(url)) ? url : null;
}

/** The words every read-only command prints for a database not created yet. */
export const NOT_CREATED = "not created yet: strata apply creates it";

function open(ctx: Context, options: OpenOptions): Promise<Engine> {
  return openEngine(requireDatabase(ctx.config), {
    mustExist: options.readOnly ?? false,
    connectTimeoutMs: ctx.config.connectTimeoutMs,
    statementTimeoutMs: ctx.config.statementTimeoutMs,
    lockWaitMs: ctx.config.lockWaitMs,
    lockTimeoutMs: ctx.config.lockTimeoutMs,
    lockStrategy: ctx.config.lockStrategy,
    lockLeaseMs: ctx.config.lockLeaseMs,
  });
}

export async function withEngine<T>(
  ctx: Context,
  work: (engine: Engine) => Promise<T>,
  options: OpenOptions = {},
): Promise<T> {
  const engine = await open(ctx, options);
  try {
    return await work(engine);
  } catch (error) {
    throw engineFailure(error, engine.label);
  } finally {
    await engine.close();
  }
}

/**
 * A database error that no step turned into a StrataError (a revision's own
 * failures already are): the connection broke, or the server refused one of
 * strata's own queries (a standby, a timeout, a missing privilege).
 */
export function engineFailure(error: unknown, label: string): unknown {
  if (error instanceof ConnectionLost) {
    return new StrataError("CONNECT", `Lost the connection to ${label}: ${error.message}`, {
      cause: error,
      hint: "Check that the database still exists and the server runs, then run the command " +
        "again (strata status says what was applied)",
    });
  }
  if (error instanceof SqlError) {
    const privilege = error.sqlstate === "42501";
    return new StrataError(
      privilege ? "PRIVILEGE" : "DATABASE",
      `The database refused a query strata needs: ${redact(error.message)}`,
      {
        cause: error,
        hint: privilege
          ? "Run strata as a role with the privilege the message names"
          : "Check the server's state (a read-only standby? a timeout?) and the message",
        details: { sqlstate: error.sqlstate },
      },
    );
  }
  return error;
}

/**
 * Read the files while the connection is being made: the two waits overlap,
 * which is most of a no-op run. The engine's module is loaded first, so the
 * connection is under way before the first file is read, and the reading
 * pauses every few files for the connection's next step (the server starts a
 * backend and answers meanwhile). A broken file still wins over a connection
 * error, and a connection opened for nothing is closed.
 */
export async function withGraphAndEngine<T>(
  ctx: Context,
  work: (graph: Graph, engine: Engine) => Promise<T>,
  options: OpenOptions = {},
): Promise<T> {
  const url = requireDatabase(ctx.config);
  if (url.startsWith("pglite:")) {
    // Nothing to overlap on the embedded engine, and a broken file must not
    // leave a database made for nothing.
    const graph = await loadGraph(ctx);
    return await withEngine(ctx, (engine) => work(graph, engine), options);
  }
  // Loading fails again, and is reported, in open().
  await preloadEngine(url).catch(() => {});
  const opening = open(ctx, options);
  opening.catch(() => {});
  let graph: Graph;
  try {
    await nextTurn();
    graph = await loadGraph(ctx, nextTurn);
  } catch (error) {
    opening.then((engine) => engine.close(), () => {});
    throw error;
  }
  const engine = await opening;
  try {
    return await work(graph, engine);
  } catch (error) {
    throw engineFailure(error, engine.label);
  } finally {
    await engine.close();
  }
}

/** The ledger rows and the state against the files, without the lock and without creating anything. */
export async function readState(
  engine: Engine,
  ctx: Context,
  graph: Graph,
): Promise<{ rows: LedgerRow[]; state: State; ledgerExists: boolean }> {
  const rows = await readLedger(engine, names(ctx));
  return { rows: rows ?? [], state: compareState(graph, rows ?? []), ledgerExists: rows !== null };
}

/**
 * Said before a proof starts the embedded engine (PGlite: seconds of start-up
 * and hundreds of MiB), so the pause that follows is not mistaken for a hang.
 * `--scratch URL` proves on a server instead: nothing to start.
 */
export function announceEngine(
  ctx: Context,
  purpose: string,
  options: { stderr?: boolean } = {},
): void {
  if (ctx.flags.scratch) return;
  const text = `Starting the embedded engine (PGlite) to ${purpose}: this takes a few seconds`;
  // A command whose stdout is a script (diff) says it on stderr, as --json does.
  if (options.stderr) ctx.out.error(ctx.out.dim(text));
  else ctx.out.notice(text);
}

/** Between `min` and `max` positional arguments, else a usage error showing `usageLine`. */
export function positionals(ctx: Context, min: number, max: number, usageLine: string): string[] {
  if (ctx.args.length < min || ctx.args.length > max) {
    const got = ctx.args.length === 0 ? "no arguments" : `"${ctx.args.join(" ")}"`;
    throw usage(`Wrong arguments: ${got}`, `Usage: strata ${usageLine}`);
  }
  return ctx.args;
}
