/**
 * Repeatable revisions: views, functions, triggers and grants kept as one file
 * each in the `repeatable/` folder of the migrations folder
 * (`migrations/repeatable/NAME.sql`), the whole file being the SQL. They run
 * after the versioned revisions whenever the file's checksum differs from the
 * one recorded (or none is), in name order, each in its own transaction with
 * its ledger row. The ledger keeps one row per repeatable, its revision
 * `repeatable/NAME` (a `/` no revision id can hold marks the kind), its
 * checksum the latest applied; so an edit is never an integrity error, only a
 * re-run. Downgrades never revert them.
 */
import { join } from "node:path";
import type { Engine } from "./db/engine.ts";
import { StrataError } from "./errors.ts";
import {
  journalSql,
  journalTable,
  type LedgerNames,
  ledgerTable,
  quoteLiteral,
  readRepeatableRows,
  REPEATABLE_PREFIX,
} from "./ledger.ts";
import { checksumOf, decodeUtf8, type MigrationFile, normalize } from "./migration_file.ts";
import { type Output, plural } from "./output.ts";
import { assertNoTransactionControl, sectionFailure } from "./runner.ts";
import { formatMs } from "./duration.ts";
import { REPEATABLE_FOLDER } from "./migration_dir.ts";
import { Containment, refusedEntry } from "./safe_fs.ts";
import { VERSION } from "./version.ts";

export { REPEATABLE_FOLDER };

/** A repeatable's name: the file name without `.sql`, no timestamp needed. */
export const REPEATABLE_NAME_REGEXP = /^[\p{L}\p{M}\p{N}_.-]+$/u;

/**
 * A repeatable as a migration file: `id` is its ledger revision
 * (`repeatable/NAME`), `up` the whole file, no down.
 */
export type Repeatable = MigrationFile & { name: string };

/** Every repeatable of `dir`, in name order; [] when there is no `repeatable/` folder. */
export function loadRepeatables(dir: string): Repeatable[] {
  const folder = join(dir, REPEATABLE_FOLDER);
  let entries: Deno.DirEntry[];
  try {
    if (!Deno.statSync(folder).isDirectory) return [];
    entries = [...Deno.readDirSync(folder)];
  } catch (error) {
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) {
      return [];
    }
    throw new StrataError("FILE", `Cannot read repeatables folder: ${(error as Error).message}`, {
      file: folder,
      cause: error,
    });
  }
  const root = new Containment(dir);
  const found: Repeatable[] = [];
  for (const entry of entries) {
    if (entry.name.startsWith(".") || !entry.name.endsWith(".sql")) continue;
    const path = join(folder, entry.name);
    const kind = root.kind(path, entry.isSymlink ? undefined : entry);
    if (kind === "folder") {
      throw new StrataError("FILE", "A repeatable file is a directory", { file: path });
    }
    if (kind !== "file") throw refusedEntry(path, kind);
    const name = entry.name.slice(0, -4);
    if (!REPEATABLE_NAME_REGEXP.test(name)) {
      throw new StrataError("FILE", `Repeatable file name "${entry.name}" is not NAME.sql`, {
        file: path,
        hint: "Use letters, digits, _, - and . in the name",
      });
    }
    let bytes: Uint8Array;
    try {
      bytes = Deno.readFileSync(path);
    } catch (error) {
      throw new StrataError("FILE", `Cannot read repeatable file: ${(error as Error).message}`, {
        file: path,
        cause: error,
      });
    }
    const text = normalize(decodeUtf8(bytes, path));
    if (text.includes("\0")) {
      throw new StrataError("FILE", "File holds a NUL byte", { file: path });
    }
    found.push({
      name,
      id: REPEATABLE_PREFIX + name,
      path,
      category: REPEATABLE_FOLDER,
      message: "",
      parents: [],
      transaction: "each",
      replaces: [],
      up: { sql: text, line: 1 },
      down: null,
      checksum: checksumOf(text),
    });
  }
  return found.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Refuse, before anything runs, a repeatable that controls transactions itself. */
export async function prepareRepeatables(files: Repeatable[]): Promise<void> {
  for (const file of files) {
    try {
      await assertNoTransactionControl(file, "up");
    } catch (error) {
      if (!(error instanceof StrataError)) throw error;
      throw new StrataError(error.code, error.message, {
        file: error.file,
        line: error.line,
        cause: error,
        details: error.details,
        hint:
          "A repeatable runs in one transaction with its ledger row: remove the statement (a statement that cannot run in a transaction belongs in a versioned revision with transaction: none)",
      });
    }
  }
}

/** The repeatables whose checksum differs from the recorded one, or that were never run. */
export function pendingRepeatables(
  files: Repeatable[],
  recorded: Map<string, string | null>,
): Repeatable[] {
  return files.filter((file) => recorded.get(file.id) !== file.checksum);
}

const ELAPSED_MS = "(extract(epoch FROM clock_timestamp() - statement_timestamp()) * 1000)::int";

/** A repeatable's SQL, its ledger row replaced and its journal row, as one query. */
export function repeatableSql(names: LedgerNames, file: Repeatable, reset = ""): string {
  const table = ledgerTable(names);
  return [
    file.up.sql,
    ";",
    // Before the bookkeeping, as after a revision: the file's SET search_path or SET ROLE must not
    // decide where, or as whom, its ledger row is written.
    ...(reset ? [`${reset};`] : []),
    `DELETE FROM ${table} WHERE revision = ${quoteLiteral(file.id)};`,
    `INSERT INTO ${table} (revision, parents, checksum, duration_ms, strata_version) VALUES (${
      quoteLiteral(file.id)
    }, '', ${quoteLiteral(file.checksum)}, ${ELAPSED_MS}, ${quoteLiteral(VERSION)});`,
    journalSql(names, { action: "upgrade", revision: file.id, checksum: file.checksum }),
  ].join("\n");
}

/** The recorded checksums of repeatables, by ledger revision. */
export async function recordedRepeatables(
  engine: Engine,
  names: LedgerNames,
): Promise<Map<string, string | null>> {
  const rows = await readRepeatableRows(engine, names);
  return new Map(rows.map((row) => [row.revision, row.checksum]));
}

/**
 * What drift (and the drift gate) builds on top of the applied revisions: the
 * repeatables the ledger records, as their files are now, in name order; and
 * those of them changed since their last run (compared as they are now).
 */
export async function recordedRepeatableFiles(
  engine: Engine,
  names: LedgerNames,
  dir: string,
): Promise<{ files: Repeatable[]; changed: Repeatable[] }> {
  const all = loadRepeatables(dir);
  if (all.length === 0) return { files: [], changed: [] };
  const recorded = await recordedRepeatables(engine, names);
  const files = all.filter((file) => recorded.has(file.id));
  return { files, changed: pendingRepeatables(files, recorded) };
}

/**
 * Run the pending repeatables, each with its ledger and journal rows in one
 * implicit transaction. Call under the lock, after the versioned revisions.
 * A failure rolls that repeatable back (its previous checksum stays recorded),
 * is journaled and thrown.
 */
export async function runRepeatables(
  engine: Engine,
  names: LedgerNames,
  files: Repeatable[],
  out: Output,
): Promise<string[]> {
  if (files.length === 0) return [];
  const pending = pendingRepeatables(files, await recordedRepeatables(engine, names));
  await prepareRepeatables(pending);
  const done: string[] = [];
  for (const file of pending) {
    const started = performance.now();
    out.line(out.dim(`→ re-running ${file.id} (${file.path})`));
    try {
      await engine.exec(repeatableSql(names, file, engine.sessionResetSql));
    } catch (error) {
      const failure = await sectionFailure(engine, error, file, "up");
      if (failure.code === "MIGRATION_FAILED") {
        await engine.exec(journalSql(names, {
          action: "failure",
          revision: file.id,
          checksum: file.checksum,
          detail: failure.located,
        })).catch(() => {});
      }
      failure.details.completed = done;
      throw failure;
    }
    done.push(file.id);
    out.line(
      `${out.green("↻")} ${file.id} ${out.dim(`(${formatMs(performance.now() - started)})`)}`,
    );
  }
  if (done.length > 0) out.line(out.dim(`Re-ran ${plural(done.length, "repeatable")}`));
  return done;
}

/**
 * After a downgrade: repeatables are not reverted, but their rows are
 * forgotten (journaled as `unstamp`), so the next apply re-runs every one on
 * the schema as it now is (a down may have dropped what they made). In the
 * transaction of nothing else: what it forgets is only bookkeeping.
 */
export function forgetRepeatablesSql(names: LedgerNames): string {
  return `WITH gone AS (DELETE FROM ${ledgerTable(names)} WHERE revision LIKE ${
    quoteLiteral(REPEATABLE_PREFIX + "%")
  } RETURNING revision, checksum)
INSERT INTO ${journalTable(names)} (action, revision, checksum, detail, strata_version)
SELECT 'unstamp', revision, checksum, ${quoteLiteral("downgrade: re-run on the next apply")}, ${
    quoteLiteral(VERSION)
  } FROM gone;`;
}

/** The script `--sql` prints for repeatables: every one, since the state is assumed. */
export function repeatablesScript(names: LedgerNames, files: Repeatable[]): string {
  return files.map((file) =>
    [`-- repeatable ${file.id} (${file.path})`, "BEGIN;", repeatableSql(names, file), "COMMIT;", ""]
      .join("\n")
  ).join("\n");
}
