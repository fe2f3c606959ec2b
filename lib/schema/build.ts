/**
 * Run revisions' SQL on a scratch database, with no ledger: how the proofs
 * build "the schema these revisions give". A failure names the file and line
 * like any failed revision.
 */
import type { Engine } from "../db/engine.ts";
import type { SqlSource } from "../db/extensions.ts";
import type { MigrationFile } from "../migration_file.ts";
import { runStatements } from "../none_mode.ts";
import { assertFilled } from "../placeholders.ts";
import { sectionFailure, sectionStatements } from "../runner.ts";

/**
 * Run one section: in `each` mode as one implicit transaction, in `none` mode
 * statement by statement, its `BEGIN … COMMIT` blocks as the runner runs them.
 */
export async function runSection(
  engine: Engine,
  file: MigrationFile,
  direction: "up" | "down",
): Promise<void> {
  const section = direction === "up" ? file.up : file.down;
  if (!section || section.sql.trim() === "") return;
  assertFilled([file]);
  if (file.transaction === "each") {
    try {
      await engine.exec(section.sql);
    } catch (error) {
      throw await sectionFailure(engine, error, file, direction);
    }
    return;
  }
  await runStatements(engine, file, direction, await sectionStatements(file, direction));
}

/** Every `up` of `files`, in the order given. */
export async function buildUp(engine: Engine, files: MigrationFile[]): Promise<void> {
  for (const file of files) await runSection(engine, file, "up");
}

/** The `directions` sections of `files` as SQL sources, for checks before anything runs. */
export function* sectionSources(
  files: Iterable<MigrationFile>,
  directions: Array<"up" | "down"> = ["up", "down"],
): Generator<SqlSource> {
  // Read by every proof before it builds anything: an undefined placeholder stops it here.
  files = [...files];
  assertFilled(files);
  for (const file of files) {
    for (const direction of directions) {
      const section = direction === "up" ? file.up : file.down;
      if (section) yield { path: file.path, line: section.line, sql: section.sql };
    }
  }
}
