/**
 * Hooks: SQL that runs at fixed points of every run that has something to
 * do — `_hooks/before.sql` before the first revision, `_hooks/after_each.sql`
 * after each revision, `_hooks/after.sql` after the last — kept in the
 * migrations folder beside the category folders (migration_dir.ts never reads
 * `_hooks` as revisions). Each hook runs in its own transaction with its
 * journal row (under `--single-transaction` the after-each hook is part of the
 * one transaction); a failing hook is rolled back, journaled and stops the run.
 */
import { join } from "node:path";
import type { Engine } from "./db/engine.ts";
import { StrataError } from "./errors.ts";
import { journalSql, type LedgerNames } from "./ledger.ts";
import type { MigrationFile } from "./migration_file.ts";
import { HOOKS_FOLDER } from "./migration_dir.ts";
import type { Direction } from "./plan.ts";
export { HOOKS_FOLDER };
import { sectionFailure } from "./runner.ts";
import { findNonTransactional, mayControlTransactions } from "./sql_scan.ts";

export type HookPoint = "before" | "after_each" | "after";
export const HOOK_POINTS: readonly HookPoint[] = ["before", "after_each", "after"];

export interface Hook {
  point: HookPoint;
  /** Path as the user names it, e.g. `migrations/_hooks/after.sql`. */
  path: string;
  sql: string;
}

export type Hooks = Partial<Record<HookPoint, Hook>>;

/** The hooks of a migrations folder; a missing or empty file is no hook. */
export async function loadHooks(dir: string): Promise<Hooks> {
  const hooks: Hooks = {};
  for (const point of HOOK_POINTS) {
    const path = join(dir, HOOKS_FOLDER, `${point}.sql`);
    let text: string;
    try {
      text = await Deno.readTextFile(path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) continue;
      throw new StrataError("FILE", `Cannot read hook: ${(error as Error).message}`, {
        file: path,
        cause: error,
      });
    }
    const sql = text.replace(/^\uFEFF/, "").replace(/\r\n/g, "\n");
    if (sql.trim() === "") continue;
    await assertTransactional(path, sql);
    hooks[point] = { point, path, sql };
  }
  return hooks;
}

/** A hook runs inside a transaction: refused before anything runs when it cannot. */
async function assertTransactional(path: string, sql: string): Promise<void> {
  const hint = "A hook runs in a transaction with its journal row; keep VACUUM, " +
    "CREATE INDEX CONCURRENTLY and BEGIN/COMMIT out of it";
  const outside = findNonTransactional(sql);
  if (outside) {
    throw new StrataError("FILE", `Hook runs ${outside.head}, which cannot run in a transaction`, {
      file: path,
      line: 1 + (sql.slice(0, outside.start).split("\n").length - 1),
      hint,
    });
  }
  if (!mayControlTransactions(sql)) return;
  const { splitStatements } = await import("./sql_split.ts");
  const statements = await splitStatements(sql).catch(() => []);
  const control = statements.find((statement) => statement.control);
  if (control) {
    throw new StrataError(
      "FILE",
      `Hook controls its own transaction: ${control.sql.split("\n")[0]}`,
      { file: path, line: control.line, hint },
    );
  }
}

/** Which hooks a run would use, for `--json` and the journal. */
export function hookNames(hooks: Hooks): string[] {
  return HOOK_POINTS.filter((point) => hooks[point]).map((point) => `${point}.sql`);
}

/**
 * Run one hook with its journal row (action `hook`), in its own implicit
 * transaction, or inside the open one when `single`. A failure is rolled
 * back, journaled as a `failure` row and thrown as MIGRATION_FAILED with the
 * hook's file and line.
 */
export async function runHook(
  engine: Engine,
  names: LedgerNames,
  hook: Hook,
  options: { revision?: string; direction: Direction; single?: boolean },
): Promise<void> {
  const { revision, single } = options;
  const after = revision ? ` after ${revision}` : "";
  const entry = {
    revision,
    detail: `${hook.point}.sql (${
      options.direction === "up" ? "upgrade" : "downgrade"
    }): ${hook.path}`,
  };
  if (single) await engine.exec("SAVEPOINT strata_hook");
  try {
    // The hook comes first so PostgreSQL's error positions index into it; the session reset
    // before its journal row, so a hook's SET search_path or SET ROLE decides neither where that
    // row goes nor what the revisions after it see.
    await engine.exec(
      `${hook.sql}\n;\n${engine.sessionResetSql};\n${
        journalSql(names, { action: "hook", ...entry })
      }`,
    );
  } catch (error) {
    if (single) await engine.exec("ROLLBACK TO SAVEPOINT strata_hook").catch(() => {});
    const pseudo: MigrationFile = {
      id: `${HOOKS_FOLDER}/${hook.point}`,
      path: hook.path,
      category: null,
      message: "",
      parents: [],
      transaction: "each",
      replaces: [],
      up: { sql: hook.sql, line: 1 },
      down: null,
      checksum: "",
    };
    const located = await sectionFailure(engine, error, pseudo, "up", single);
    // Under --single-transaction the whole run rolls back with the hook.
    if (single) await engine.exec("ROLLBACK").catch(() => {});
    const failure = new StrataError(
      located.code,
      located.message.replace(
        /^Cannot \w+ revision "[^"]*"/,
        `Hook ${hook.point}.sql failed${after}`,
      ),
      {
        file: located.file,
        line: located.line,
        hint: located.hint,
        cause: error,
        details: { ...located.details, revision, hook: hook.point },
      },
    );
    if (failure.code === "MIGRATION_FAILED") {
      await engine.exec(journalSql(names, {
        action: "failure",
        revision,
        detail: `hook ${failure.located}`,
      })).catch(() => {});
    }
    throw failure;
  }
}
