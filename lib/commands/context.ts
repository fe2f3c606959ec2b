/**
 * What every command receives, and the few steps most of them share: load
 * and check the files, open the configured database, read the ledger.
 */
import { type Config, requireDatabase } from "../config.ts";
import { ConnectionLost, type Engine, openEngine, SqlError } from "../db/engine.ts";
import { StrataError, usage } from "../errors.ts";
import { redact } from "../redact.ts";
import { buildGraph, type Graph } from "../graph.ts";
import { type LedgerNames, ledgerNames, type LedgerRow, readLedger } from "../ledger.ts";
import { loadMigrations } from "../migration_dir.ts";
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
  stamp?: boolean;
  "from-migrations"?: boolean;
  output?: string;
}

export interface Context {
  config: Config;
  out: Output;
  /** Positional arguments after the command name. */
  args: string[];
  flags: Flags;
}

export type Command = (ctx: Context) => Promise<number>;

export async function loadGraph(ctx: Context): Promise<Graph> {
  return buildGraph(await loadMigrations(ctx.config.dir));
}

export function names(ctx: Context): LedgerNames {
  return ledgerNames(ctx.config.table);
}

/** `readOnly`: the command only reads, so it must not create an embedded database. */
export interface OpenOptions {
  readOnly?: boolean;
}

function open(ctx: Context, options: OpenOptions): Promise<Engine> {
  return openEngine(requireDatabase(ctx.config), {
    mustExist: options.readOnly ?? false,
    connectTimeoutMs: ctx.config.connectTimeoutMs,
    statementTimeoutMs: ctx.config.statementTimeoutMs,
    lockWaitMs: ctx.config.lockWaitMs,
    lockTimeoutMs: ctx.config.lockTimeoutMs,
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
 * which is most of a no-op run. A broken file still wins over a connection
 * error, and a connection opened for nothing is closed.
 */
export async function withGraphAndEngine<T>(
  ctx: Context,
  work: (graph: Graph, engine: Engine) => Promise<T>,
  options: OpenOptions = {},
): Promise<T> {
  requireDatabase(ctx.config);
  const opening = open(ctx, options);
  opening.catch(() => {});
  let graph: Graph;
  try {
    graph = await loadGraph(ctx);
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

/** Between `min` and `max` positional arguments, else a usage error showing `usageLine`. */
export function positionals(ctx: Context, min: number, max: number, usageLine: string): string[] {
  if (ctx.args.length < min || ctx.args.length > max) {
    const got = ctx.args.length === 0 ? "no arguments" : `"${ctx.args.join(" ")}"`;
    throw usage(`Wrong arguments: ${got}`, `Usage: strata ${usageLine}`);
  }
  return ctx.args;
}
