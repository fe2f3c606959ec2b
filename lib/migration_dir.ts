/**
 * Finds and reads every migration file of a folder: `*.sql` directly in it and
 * one level down in category folders. All files are read and parsed before
 * anything runs, so a broken file stops the run before any change. A named
 * pipe, a socket or a symlink leading outside the folder is refused unopened.
 */
import { join } from "node:path";
import { StrataError } from "./errors.ts";
import { Containment, refusedEntry } from "./safe_fs.ts";
import {
  decodeUtf8,
  type MigrationFile,
  parseMigration,
  REVISION_ID_REGEXP,
} from "./migration_file.ts";

/** The folder of hook SQL (hooks.ts) beside the category folders: never read as revisions. */
export const HOOKS_FOLDER = "_hooks";
/**
 * The folder of repeatable files (lib/repeatable.ts): not a category, so its
 * files are not versioned revisions and need no timestamp.
 */
export const REPEATABLE_FOLDER = "repeatable";

interface Found {
  path: string;
  name: string;
  category: string | null;
}

// Synchronous: for a folder of many small files it is a fraction of the async cost.
function listSql(root: Containment, dir: string, category: string | null, into: Found[]): void {
  for (const entry of readFolder(dir)) {
    if (entry.name.startsWith(".")) continue;
    // The hooks folder holds SQL run around every run, not revisions (hooks.ts).
    if (category === null && entry.name === HOOKS_FOLDER) continue;
    const path = join(dir, entry.name);
    if (entry.name.endsWith(".sql")) {
      const kind = root.kind(path, entry.isSymlink ? undefined : entry);
      if (kind === "folder") {
        throw new StrataError("FILE", "A migration file is a directory", { file: path });
      }
      if (kind !== "file") throw refusedEntry(path, kind);
      into.push({ path, name: entry.name, category });
    } else if (category === null && entry.name === REPEATABLE_FOLDER) {
      continue;
    } else if (category === null && (entry.isDirectory || (entry.isSymlink && isFolder(path)))) {
      // A category folder may be a symlink, also to a folder elsewhere: it is read,
      // but strata refuses to write or delete there (safe_fs.ts).
      listSql(root, path, entry.name, into);
    }
  }
}

function isFolder(path: string): boolean {
  return statOrNull(path)?.isDirectory ?? false;
}

function readFolder(dir: string): Deno.DirEntry[] {
  try {
    return [...Deno.readDirSync(dir)];
  } catch (error) {
    throw new StrataError("FILE", `Cannot read migrations folder: ${(error as Error).message}`, {
      file: dir,
      cause: error,
      hint: "Give the user running strata read and search (x) permission on the folder",
    });
  }
}

function statOrNull(path: string): Deno.FileInfo | null {
  try {
    return Deno.statSync(path);
  } catch {
    return null;
  }
}

function readOne(found: Found): MigrationFile {
  const id = found.name.slice(0, -4);
  if (!REVISION_ID_REGEXP.test(id)) {
    throw new StrataError(
      "FILE",
      `File name "${found.name}" does not follow YYYYMMDD_HHMM_slug.sql`,
      {
        file: found.path,
        hint: 'Rename it, or create revisions with: strata create "description"',
      },
    );
  }
  let bytes: Uint8Array;
  try {
    bytes = Deno.readFileSync(found.path);
  } catch (error) {
    throw new StrataError("FILE", `Cannot read migration file: ${(error as Error).message}`, {
      file: found.path,
      cause: error,
    });
  }
  return parseMigration(decodeUtf8(bytes, found.path), found.path, id, found.category);
}

/** How many files are read between two pauses of `loadMigrations`. */
const FILES_PER_PAUSE = 16;

/**
 * Every migration in `dir`, sorted by id. Duplicate ids are an error naming both files.
 * `pause`, when given, runs every few files: a caller that is opening a connection at the
 * same time lets it make progress there (the reads themselves are synchronous).
 */
export async function loadMigrations(
  dir: string,
  pause?: () => Promise<void>,
): Promise<MigrationFile[]> {
  let info: Deno.FileInfo | null = null;
  try {
    info = Deno.statSync(dir);
  } catch (error) {
    // A path through a file (ENOTDIR) names nothing, like a missing one; anything else is real.
    if (!(error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory)) {
      throw new StrataError("FILE", `Cannot read migrations folder: ${(error as Error).message}`, {
        file: dir,
        cause: error,
        hint: "Give the user running strata search (x) permission on every folder above it",
      });
    }
  }
  if (info && !info.isDirectory) {
    throw new StrataError("CONFIG", `Migrations folder "${dir}" is a file, not a folder`, {
      hint: 'Point --dir (or "dir" in strata.json) at the folder of .sql files',
    });
  }
  if (!info?.isDirectory) {
    throw new StrataError("CONFIG", `Migrations folder "${dir}" does not exist`, {
      hint: "Run: strata init, or point --dir at the folder",
    });
  }
  const found: Found[] = [];
  listSql(new Containment(dir), dir, null, found);
  found.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.path < b.path ? -1 : 1));
  for (let i = 1; i < found.length; i++) {
    if (found[i].name === found[i - 1].name) {
      throw new StrataError("GRAPH", `Duplicate revision id "${found[i].name.slice(0, -4)}"`, {
        file: found[i].path,
        hint: `Also in ${found[i - 1].path}; a revision id must be unique across all folders`,
      });
    }
  }
  // Plain synchronous reads: for many small files they cost a third of async ones.
  if (!pause) return found.map(readOne);
  const files: MigrationFile[] = [];
  for (const [i, entry] of found.entries()) {
    if (i % FILES_PER_PAUSE === FILES_PER_PAUSE - 1) await pause();
    files.push(readOne(entry));
  }
  return files;
}
