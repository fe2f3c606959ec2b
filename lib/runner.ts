/**
 * Runs revisions: under the migration lock, one revision at a time, each with
 * its ledger and journal rows. In `each` mode a revision's SQL and its rows
 * are one query (one round trip, one implicit transaction): they commit
 * together or not at all. In `none` mode statements run one by one.
 */
import { type Engine, SqlError } from "./db/engine.ts";
import type { Statement } from "./sql_split.ts";
import {
  findNonTransactional,
  mayBeControl,
  mayControlTransactions,
  scanStatements,
} from "./sql_scan.ts";
import { assertBlocks, blockProblem, runStatements } from "./none_mode.ts";
import { formatMs } from "./duration.ts";
import { type LockRetry, NO_LOCK_RETRY, statementRetry, withLockRetries } from "./lock_retry.ts";
import { type Clock, startTicker } from "./ticker.ts";
import { StrataError } from "./errors.ts";
import { assertNotTemplate } from "./template.ts";
import { firstCodeLine, revisionFailure, statementAt } from "./failure.ts";
import type { Graph } from "./graph.ts";
import {
  deleteLedgerSql,
  insertLedgerSql,
  journalSql,
  type LedgerNames,
  type LedgerRow,
  openLedger,
  recordSql,
} from "./ledger.ts";
import type { MigrationFile } from "./migration_file.ts";
import { type Output, plural } from "./output.ts";
import { assertFilled, placeholderDetail } from "./placeholders.ts";
import type { Direction } from "./plan.ts";
import { maskPasswordLiterals, redact } from "./redact.ts";

/** Hold the migration lock around `work`, releasing it whatever happens. */
export async function withLock<T>(
  engine: Engine,
  names: LedgerNames,
  work: (rows: LedgerRow[]) => Promise<T>,
): Promise<T> {
  await engine.lock(names.schema, names.ledger);
  let result: T;
  try {
    // Created and read only under the lock: concurrent CREATE TABLE IF NOT
    // EXISTS from several runners fails with duplicate-key errors.
    result = await work(await openLedger(engine, names));
  } catch (error) {
    await engine.unlock().catch(() => {});
    throw error;
  }
  await engine.unlock();
  return result;
}

export interface StepResult {
  revision: string;
  direction: Direction;
  ms: number;
  /** Tries it took (more than 1 after lock timeouts with --lock-retries). */
  tries: number;
}

/** SIGINT asks the runner to stop between revisions. */
export const interruption = { requested: false };

/**
 * The SQL of one revision in `each` mode, with its bookkeeping, as one query;
 * `reset` (the engine's session reset) runs between them.
 */
export function eachModeSql(
  names: LedgerNames,
  file: MigrationFile,
  parents: string[],
  direction: Direction,
  reset = "",
): string {
  const section = direction === "up" ? file.up : file.down!;
  const bookkeeping = recordSql(names, direction, {
    revision: file.id,
    parents,
    checksum: file.checksum,
    detail: placeholderDetail(file, direction),
  });
  // The section comes first so PostgreSQL's error positions index into it.
  return `${section.sql}\n;\n${reset ? `${reset};\n` : ""}${bookkeeping}`;
}

async function runEach(
  engine: Engine,
  names: LedgerNames,
  file: MigrationFile,
  parents: string[],
  direction: Direction,
  single: boolean,
): Promise<void> {
  // The session is reset before the bookkeeping: a revision's SET search_path or
  // SET ROLE must not decide where, or as whom, its ledger row is written, nor
  // what the revisions after it see.
  const text = eachModeSql(names, file, parents, direction, engine.sessionResetSql);
  // In one transaction for the whole run, a savepoint lets a failure be located
  // by replaying the section before everything is rolled back.
  if (single) await engine.exec(`SAVEPOINT ${SAVEPOINT}`);
  try {
    await engine.exec(text);
  } catch (error) {
    if (single) await engine.exec(`ROLLBACK TO SAVEPOINT ${SAVEPOINT}`).catch(() => {});
    const failure = await sectionFailure(engine, error, file, direction, single);
    if (single) await engine.exec("ROLLBACK").catch(() => {});
    if (failure.code === "MIGRATION_FAILED") {
      // The revision rolled back (with --single-transaction, the whole run did,
      // first); the journal still records that it was tried.
      await engine.exec(journalSql(names, {
        action: "failure",
        revision: file.id,
        checksum: file.checksum,
        detail: failure.located,
      })).catch(() => {});
    }
    throw failure;
  }
}

const SAVEPOINT = "strata_revision";

/**
 * A section of at most one statement that is not transaction control (the
 * usual `CREATE INDEX CONCURRENTLY` file) needs no parser: nothing can commit
 * before a syntax error in it, which the server then reports with its line.
 * Null when the parser must split the section.
 */
function singleStatement(sql: string): Statement[] | null {
  const scanned = scanStatements(sql);
  if (scanned.length > 1 || scanned.some(mayBeControl)) return null;
  return scanned.map(({ start, end }) => ({
    sql: sql.slice(start, end).trimEnd(),
    line: 1 + countNewlines(sql.slice(0, start)),
    offset: start,
    kind: "",
  }));
}

function countNewlines(text: string): number {
  return text.split("\n").length - 1;
}

/**
 * The statements of a `none`-mode section, by the real parser, with its
 * `BEGIN … COMMIT` blocks checked. A syntax error fails the revision as the
 * server's own would in `each` mode; a block that cannot run (left open, a
 * `COMMIT AND CHAIN` outside one) is refused naming its line.
 */
export async function sectionStatements(
  file: MigrationFile,
  direction: Direction,
): Promise<Statement[]> {
  const section = direction === "up" ? file.up : file.down!;
  const single = singleStatement(section.sql);
  if (single) return single;
  const { splitStatements, SqlSyntaxError, tooDeepAt } = await import("./sql_split.ts");
  let statements: Statement[];
  try {
    statements = await splitStatements(section.sql);
  } catch (error) {
    if (!(error instanceof SqlSyntaxError)) throw tooDeepAt(error, file.path, section.line);
    const at = error.position ? statementAt(section.sql, error.position) : null;
    throw new StrataError(
      "MIGRATION_FAILED",
      `Cannot run revision "${file.id}": ${error.message}`,
      {
        file: file.path,
        line: section.line + error.line - 1,
        details: {
          revision: file.id,
          sqlstate: "42601",
          statement: at ? maskPasswordLiterals(at.statement) : undefined,
          position: at?.position,
        },
      },
    );
  }
  assertBlocks(file, direction, statements);
  return statements;
}

/**
 * A failed each-mode section as an error naming its line: PostgreSQL's
 * position when it gives one, else the statement found by replaying the
 * section in a transaction that is always rolled back.
 */
export async function sectionFailure(
  engine: Engine,
  error: unknown,
  file: MigrationFile,
  direction: Direction,
  nested = false,
): Promise<StrataError> {
  const section = direction === "up" ? file.up : file.down!;
  const failure = revisionFailure(error, file, direction, {
    text: section.sql,
    line: section.line,
    fallbackLine: firstCodeLine(section),
  });
  // A statement or lock timeout would cost its whole wait again: not replayed.
  if (
    error instanceof SqlError && error.position === undefined && error.sqlstate !== "57014" &&
    error.sqlstate !== "55P03"
  ) {
    const failing = await locateFailingStatement(engine, section.sql, nested);
    if (failing) {
      return revisionFailure(error, file, direction, {
        text: failing.sql,
        line: section.line + failing.line - 1,
        statement: failing.sql,
      });
    }
  }
  return failure;
}

async function locateFailingStatement(
  engine: Engine,
  sql: string,
  nested: boolean,
): Promise<Statement | null> {
  let statements: Statement[];
  try {
    const { splitStatements } = await import("./sql_split.ts");
    statements = await splitStatements(sql);
  } catch {
    return null;
  }
  if (statements.length < 2) return statements[0] ?? null;
  // Replaying a section that controls transactions itself could commit part of it.
  if (statements.some((statement) => statement.control)) return null;
  // Inside the run's one transaction, a savepoint stands in for BEGIN … ROLLBACK.
  const [open, close] = nested
    ? ["SAVEPOINT strata_locate", "ROLLBACK TO SAVEPOINT strata_locate"]
    : ["BEGIN", "ROLLBACK"];
  try {
    await engine.exec(open);
    for (const statement of statements) {
      try {
        await engine.exec(statement.sql);
      } catch (error) {
        return error instanceof SqlError ? statement : null;
      }
    }
    return null;
  } catch {
    return null;
  } finally {
    await engine.exec(close).catch(() => {});
  }
}

interface InvalidIndex {
  name: string;
}

const INVALID_INDEXES_SQL = `SELECT n.nspname || '.' || c.relname AS name
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE NOT i.indisvalid`;

async function runNone(
  engine: Engine,
  names: LedgerNames,
  file: MigrationFile,
  parents: string[],
  direction: Direction,
  out: Output,
  statements: Statement[],
  retry: LockRetry = NO_LOCK_RETRY,
): Promise<void> {
  const section = direction === "up" ? file.up : file.down!;
  const before = new Set(
    (await engine.query<InvalidIndex>(INVALID_INDEXES_SQL)).map((row) => row.name),
  );
  await engine.exec(
    journalSql(names, {
      action: "start",
      revision: file.id,
      checksum: file.checksum,
      detail: direction,
    }),
  );
  try {
    await runStatements(engine, file, direction, statements, (statement) =>
      out.debug(
        `  ${file.id}:${section.line + statement.line - 1}: ${maskPasswordLiterals(statement.sql)}`,
      ), statementRetry(engine, names, file, retry, out));
  } catch (error) {
    // runStatements rolled back an open block: the journal row is written outside it.
    if (error instanceof StrataError && error.code === "MIGRATION_FAILED") {
      const statement = error.details.statement;
      await engine
        .exec(journalSql(names, {
          action: "failure",
          revision: file.id,
          checksum: file.checksum,
          detail: statement ? `${error.located}\n${statement}` : error.located,
        }))
        .catch(() => {});
    }
    throw error;
  }
  await engine.exec(engine.sessionResetSql);
  const invalid = (await engine.query<InvalidIndex>(INVALID_INDEXES_SQL))
    .map((row) => row.name)
    .filter((name) => !before.has(name) || section.sql.includes(name.slice(name.indexOf(".") + 1)));
  if (invalid.length > 0) {
    const message = `Revision "${file.id}" left invalid index${invalid.length > 1 ? "es" : ""}: ${
      invalid.join(", ")
    }`;
    await engine.exec(
      journalSql(names, {
        action: "failure",
        revision: file.id,
        checksum: file.checksum,
        detail: message,
      }),
    );
    throw new StrataError("MIGRATION_FAILED", message, {
      file: file.path,
      hint:
        `A failed CREATE INDEX CONCURRENTLY leaves an INVALID index behind; drop it (DROP INDEX CONCURRENTLY ${
          invalid[0]
        }), fix the cause, and run again`,
      details: { revision: file.id, invalidIndexes: invalid },
    });
  }
  const bookkeeping = direction === "up"
    ? insertLedgerSql(names, { revision: file.id, parents, checksum: file.checksum })
    : deleteLedgerSql(names, file.id);
  await engine.exec(
    `${bookkeeping}\n${
      journalSql(names, {
        action: direction === "up" ? "upgrade" : "downgrade",
        revision: file.id,
        checksum: file.checksum,
        detail: placeholderDetail(file, direction),
      })
    }`,
  );
}

const NONE_MODE_FORM =
  "In transaction: none mode each statement commits alone, except inside an explicit " +
  "BEGIN … COMMIT block (COMMIT AND CHAIN included), which commits as one; strata records the " +
  "revision after its last statement";

/**
 * An `each` revision that commits on its own would break the promise that
 * its SQL and its ledger row commit together: refuse it before anything runs,
 * naming the form that does work.
 */
export async function assertNoTransactionControl(
  file: MigrationFile,
  direction: Direction,
): Promise<void> {
  const section = direction === "up" ? file.up : file.down!;
  const outside = findNonTransactional(section.sql);
  if (outside) {
    throw new StrataError(
      "FILE",
      `Revision "${file.id}" runs ${outside.head}, which cannot run inside a transaction`,
      {
        file: file.path,
        line: section.line + countNewlines(section.sql.slice(0, outside.start)),
        hint: `strata runs a transaction: each revision in one transaction with its ledger row; ` +
          `mark the file "-- transaction: none" (and keep such statements in their own ` +
          `revision). ${NONE_MODE_FORM}`,
        details: { revision: file.id },
      },
    );
  }
  // Only a possible hit pays for the parser (PL/pgSQL bodies' BEGIN and END do not).
  if (!mayControlTransactions(section.sql)) return;
  const { splitStatements } = await import("./sql_split.ts");
  const statements = await splitStatements(section.sql).catch(() => []);
  const control = statements.find((statement) => statement.control);
  if (!control) return;
  const problem = blockProblem(statements, section.line);
  const form = problem
    ? `mark the file "-- transaction: none" and write its blocks out in full, ` +
      `BEGIN; … COMMIT AND CHAIN; … COMMIT; (as it stands, line ${problem.line}: ${problem.message})`
    : `mark the file "-- transaction: none" and it runs as written`;
  throw new StrataError(
    "FILE",
    `Revision "${file.id}" controls its own transaction: ${control.sql.split("\n")[0]}`,
    {
      file: file.path,
      line: section.line + control.line - 1,
      hint: `strata runs a transaction: each revision in one transaction with its ledger row; ` +
        `remove the statement, or ${form}. ${NONE_MODE_FORM}`,
    },
  );
}

/**
 * Check every revision of a plan before the first runs: no `each` revision
 * controls its own transaction, and every `none` section parses and its
 * blocks close. Returns the `none` sections' statements, split once.
 */
export async function prepareSteps(
  graph: Graph,
  direction: Direction,
  steps: string[],
): Promise<Map<string, Statement[]>> {
  const split = new Map<string, Statement[]>();
  assertFilled(steps.map((id) => graph.files.get(id)!));
  for (const id of steps) {
    const file = graph.files.get(id)!;
    if (direction === "up") assertNotTemplate(file);
    if (file.transaction === "none") split.set(id, await sectionStatements(file, direction));
    else await assertNoTransactionControl(file, direction);
  }
  return split;
}

/** How a run goes: `single` puts every revision and its ledger rows in one transaction. */
export interface RunOptions {
  single?: boolean;
  /**
   * Lock-timeout retries. Not with `single`: a failed statement there rolls
   * back the whole run, so there is nothing left to retry.
   */
  retry?: LockRetry;
  /** The ticker's clock (tests). */
  clock?: Clock;
  /** Called after each revision (its after-each hook; inside the transaction with `single`). */
  afterEach?: (step: StepResult) => Promise<void>;
  /** This run's own stop, besides Ctrl-C (`interruption`): aborted, it stops before the next revision. */
  signal?: AbortSignal;
}

/**
 * `--single-transaction` cannot hold a `transaction: none` revision (its
 * statements must run outside any transaction): refused before anything runs.
 */
export function assertSingleTransaction(graph: Graph, steps: string[]): void {
  const none = steps.filter((id) => graph.files.get(id)!.transaction === "none");
  if (none.length === 0) return;
  throw new StrataError(
    "USAGE",
    `Cannot run in a single transaction: ${none.join(", ")} ${
      none.length > 1 ? "are" : "is"
    } "transaction: none"`,
    {
      file: graph.files.get(none[0])!.path,
      hint: "Its statements cannot run inside a transaction; run without --single-transaction " +
        "(config singleTransaction), or upgrade to the revision before it in one transaction " +
        "and run the rest without",
      details: { revisions: none },
    },
  );
}

/**
 * Run `steps` in order: a line before each revision starts, on a terminal
 * its elapsed time while it runs, and a line with its time when it is done.
 */
export async function runSteps(
  engine: Engine,
  names: LedgerNames,
  graph: Graph,
  direction: Direction,
  steps: string[],
  out: Output,
  options: RunOptions = {},
): Promise<StepResult[]> {
  const single = !!options.single && steps.length > 0;
  if (single) assertSingleTransaction(graph, steps);
  const retry = single ? NO_LOCK_RETRY : options.retry ?? NO_LOCK_RETRY;
  const split = await prepareSteps(graph, direction, steps);
  if (engine.kind === "embedded" && steps.length > 0) {
    const { assertEmbeddedExtensions } = await import("./db/extensions.ts");
    const { sectionSources } = await import("./schema/build.ts");
    assertEmbeddedExtensions(sectionSources(steps.map((id) => graph.files.get(id)!), [direction]));
  }
  const done: StepResult[] = [];
  // Off a terminal, a revision's "done" line goes out with the next one's "→" line: one write per
  // revision instead of two. It waits for nothing but the building of that line.
  let doneLine: string | null = null;
  const flushDone = () => {
    if (doneLine !== null) out.line(doneLine);
    doneLine = null;
  };
  if (single) await engine.exec("BEGIN");
  let open = single;
  try {
    for (const id of steps) {
      if (interruption.requested || options.signal?.aborted) {
        throw new StrataError(
          "INTERRUPTED",
          `Interrupted after ${done.length} of ${plural(steps.length, "revision")}`,
          {
            hint: single
              ? "The single transaction was rolled back: nothing changed; run the command again"
              : "Nothing is half-applied; run the command again to continue",
            // What did commit, as a failed revision's error says it.
            details: { completed: single ? [] : done.map((step) => step.revision) },
          },
        );
      }
      const file = graph.files.get(id)!;
      const parents = graph.parents.get(id)!;
      const started = performance.now();
      const startLine = out.dim(
        `→ ${direction === "up" ? "applying" : "reverting"} ${id} (${file.path})`,
      );
      if (doneLine !== null) out.lines([doneLine, startLine]);
      else out.line(startLine);
      doneLine = null;
      if (out.verbose && file.transaction === "each") {
        out.debug(redact(`-- ${file.path}\n${(direction === "up" ? file.up : file.down!).sql}`));
      }
      const stop = out.live
        ? startTicker(`  ${id} running`, (text) => out.status(out.dim(text)), {
          clock: options.clock,
        })
        : () => {};
      let tries: number;
      try {
        const none = file.transaction === "none";
        const sql = (direction === "up" ? file.up : file.down!).sql;
        tries = await withLockRetries(
          engine,
          names,
          file,
          sql,
          retry,
          out,
          !none,
          () =>
            none
              ? runNone(engine, names, file, parents, direction, out, split.get(id)!, retry)
              : runEach(engine, names, file, parents, direction, single),
        );
      } catch (error) {
        // runEach rolled the single transaction back before journaling the failure.
        if (single && error instanceof StrataError) open = false;
        if (error instanceof StrataError) {
          error.details.completed = single ? [] : done.map((step) => step.revision);
        }
        throw error;
      } finally {
        stop();
      }
      const ms = performance.now() - started;
      done.push({ revision: id, direction, ms: Math.round(ms), tries });
      const arrow = direction === "up" ? out.green("↑") : out.yellow("↓");
      doneLine = `${arrow} ${id} ${out.dim(`(${formatMs(ms)})`)}`;
      // A progress bar or an after-each hook comes after the line: it goes out now.
      if (out.live || options.afterEach) flushDone();
      out.progress(done.length, steps.length);
      if (options.afterEach) await options.afterEach(done[done.length - 1]);
    }
    flushDone();
    if (single) {
      open = false;
      await engine.exec("COMMIT");
      out.line(out.dim(`Committed ${plural(done.length, "revision")} in one transaction`));
    }
  } finally {
    flushDone();
    if (open) await engine.exec("ROLLBACK").catch(() => {});
  }
  return done;
}
