/**
 * `transaction: none` sections: each statement commits alone, except inside
 * an explicit `BEGIN … COMMIT` block of the file, which commits as one
 * (`COMMIT AND CHAIN` ends one block and opens the next). The blocks are
 * checked before anything runs, so a section never ends with a block open
 * and strata's own ledger and journal rows are always written outside one.
 */
import type { Engine } from "./db/engine.ts";
import { StrataError } from "./errors.ts";
import { revisionFailure } from "./failure.ts";
import type { MigrationFile } from "./migration_file.ts";
import type { Direction } from "./plan.ts";
import type { Statement } from "./sql_split.ts";
import type { StatementRetry } from "./lock_retry.ts";

/** What is wrong with a section's blocks, and the line in the file. */
export interface BlockProblem {
  message: string;
  line: number;
  hint: string;
}

const OPENS = new Set(["BEGIN", "START"]);

function word(statement: Statement): string {
  return statement.sql.split(/\s+/, 1)[0].toUpperCase();
}

/**
 * The first thing that keeps `statements` from running as blocks, or null
 * when they can; lines counted from `firstLine`, the section's line in its file.
 */
export function blockProblem(statements: Statement[], firstLine = 1): BlockProblem | null {
  let open: Statement | null = null;
  const lineOf = (statement: Statement) => firstLine + statement.line - 1;
  for (const statement of statements) {
    const control = statement.control;
    if (!control) continue;
    const at = (message: string, hint: string): BlockProblem => ({
      message,
      line: lineOf(statement),
      hint,
    });
    const text = statement.sql.replace(/\s+/g, " ");
    if (OPENS.has(control.kind)) {
      if (open) {
        return at(
          `${text} inside the block opened at line ${lineOf(open)}`,
          "Blocks do not nest: end the first one with COMMIT; before opening the next, " +
            "or use SAVEPOINT inside it",
        );
      }
      open = statement;
    } else if (control.kind === "COMMIT" || control.kind === "ROLLBACK") {
      if (!open && (control.chain || control.kind === "ROLLBACK")) {
        return at(
          `${text} outside a BEGIN … COMMIT block: each statement before it has already committed`,
          "Open the block with BEGIN; before the statements it should hold " +
            "(in transaction: none mode only an explicit block commits as one)",
        );
      }
      // AND CHAIN opens the next block at once; a plain COMMIT with none open only warns.
      open = control.chain ? statement : null;
    } else if (["SAVEPOINT", "RELEASE", "ROLLBACK_TO"].includes(control.kind)) {
      if (!open) {
        return at(
          `${text} outside a BEGIN … COMMIT block`,
          "Savepoints exist only inside a block: open one with BEGIN; first",
        );
      }
    } else {
      return at(
        `${text}: two-phase commit is not run by strata`,
        "Remove it; a migration commits with COMMIT",
      );
    }
  }
  if (open) {
    return {
      message: `The block opened at line ${lineOf(open)} (${word(open)}) is never closed`,
      line: lineOf(open),
      hint: "End it with COMMIT; strata records the revision only after the last statement, " +
        "outside any block",
    };
  }
  return null;
}

/** Refuse (exit 5) a section whose blocks cannot run, naming the file and line. */
export function assertBlocks(
  file: MigrationFile,
  direction: Direction,
  statements: Statement[],
): void {
  const section = direction === "up" ? file.up : file.down!;
  const problem = blockProblem(statements, section.line);
  if (!problem) return;
  throw new StrataError("FILE", `Revision "${file.id}" (${direction}): ${problem.message}`, {
    file: file.path,
    line: problem.line,
    hint: problem.hint,
    details: { revision: file.id },
  });
}

/**
 * Run a checked section statement by statement. A statement that fails inside
 * a block rolls the block back (the server would otherwise keep it open and
 * refuse everything after) before the failure, naming its line, is thrown.
 */
export async function runStatements(
  engine: Engine,
  file: MigrationFile,
  direction: Direction,
  statements: Statement[],
  before: (statement: Statement) => void = () => {},
  retry?: StatementRetry,
): Promise<void> {
  const section = direction === "up" ? file.up : file.down!;
  let inBlock = false;
  for (const statement of statements) {
    before(statement);
    try {
      for (let attempt = 1;; attempt++) {
        try {
          await engine.exec(statement.sql);
          break;
        } catch (error) {
          const blocked = inBlock || !!statement.control;
          if (!retry || !(await retry(statement, error, attempt, blocked))) throw error;
        }
      }
    } catch (error) {
      // A failed COMMIT has already ended its block; ROLLBACK then only warns.
      if (inBlock || statement.control) await engine.exec("ROLLBACK").catch(() => {});
      throw revisionFailure(error, file, direction, {
        text: statement.sql,
        line: section.line + statement.line - 1,
        statement: statement.sql,
      });
    }
    const control = statement.control;
    if (control && OPENS.has(control.kind)) inBlock = true;
    else if (control && (control.kind === "COMMIT" || control.kind === "ROLLBACK")) {
      inBlock = control.chain;
    }
  }
}
