/**
 * Repeatable scripts of a source tool (Flyway's `R__name.sql`) as strata
 * repeatable files, `repeatable/NAME.sql` in the migrations folder
 * (lib/repeatable.ts). Never overwrites: a name that exists is refused before
 * anything is written.
 */
import { join } from "node:path";
import { StrataError, usage } from "../errors.ts";
import { REPEATABLE_FOLDER } from "../migration_dir.ts";
import { assertChangeable, Containment, ensureFolder, writeNewFile } from "../safe_fs.ts";
import type { ImportedRepeatable } from "./source.ts";

/** A source's name as a repeatable name: characters strata's names do not take become `_`. */
export function repeatableName(name: string): string {
  return name.replace(/[^\p{L}\p{M}\p{N}_.-]/gu, "_");
}

/** Where each repeatable goes, refusing a name given twice or a file that exists. */
export function planRepeatables(
  dir: string,
  repeatables: ImportedRepeatable[],
): Array<ImportedRepeatable & { path: string }> {
  const seen = new Map<string, string>();
  return repeatables.map((r) => {
    const name = repeatableName(r.name);
    const other = seen.get(name);
    if (other) {
      throw new StrataError("FILE", `Repeatables ${other} and ${r.file} both become "${name}"`, {
        file: r.file,
        hint: "Rename one of them in the source",
      });
    }
    seen.set(name, r.file);
    const path = join(dir, REPEATABLE_FOLDER, `${name}.sql`);
    let exists = true;
    try {
      Deno.lstatSync(path);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
      exists = false;
    }
    if (exists) {
      throw usage(
        `File ${path} already exists`,
        "import never overwrites: import into an empty folder with --dir",
      );
    }
    return { ...r, name, path };
  });
}

/** Write the planned repeatables (the folder created when missing). */
export function writeRepeatables(
  dir: string,
  planned: Array<ImportedRepeatable & { path: string }>,
): void {
  if (planned.length === 0) return;
  const root = new Containment(dir);
  ensureFolder(root, dir);
  ensureFolder(root, join(dir, REPEATABLE_FOLDER));
  for (const r of planned) {
    assertChangeable(root, r.path, "write");
    try {
      writeNewFile(r.path, r.sql.endsWith("\n") ? r.sql : r.sql + "\n");
    } catch (error) {
      throw new StrataError("FILE", `Cannot write a repeatable file: ${(error as Error).message}`, {
        file: r.path,
        cause: error,
      });
    }
  }
}
