/**
 * The only ways strata reads, writes and deletes under the migrations folder
 * and its backups. A checkout, a shared volume or a container image can hold
 * a symlink or a named pipe where a migration file should be; strata then
 * refuses, naming the path, before it changes anything:
 *
 * - it reads regular files only (or symlinks to one inside the folder), and
 *   never opens anything else: a named pipe would block forever;
 * - a category folder may be a symlink to a folder elsewhere, which is read,
 *   but nothing is written or deleted outside the migrations folder (by
 *   real path);
 * - it never writes, truncates or deletes through a symlink: new files are
 *   created exclusively (no link can sit at a new name), replaced files are
 *   written to a new temporary name and renamed over the old one, and a
 *   path that is a symlink is refused.
 *
 * The folder a user names (`--dir`, `versions_backup`, a `pglite:` folder)
 * is taken as given, symlink or not: the checks guard what lies below it.
 */
import { basename, dirname, join, sep as SEPARATOR } from "node:path";
import { StrataError } from "./errors.ts";

/** What a folder entry is once symlinks are followed, without opening it. */
export type EntryKind =
  | "file" // a regular file, or a symlink to one inside the root
  | "folder" // a directory, or a symlink to one inside the root
  | "special" // a named pipe, socket or device, or a symlink to one
  | "outside" // a symlink that leads out of the root
  | "dangling"; // a symlink that leads nowhere

function realPathOrNull(path: string): string | null {
  try {
    return Deno.realPathSync(path);
  } catch {
    return null;
  }
}

function lstatOrNull(path: string): Deno.FileInfo | null {
  try {
    return Deno.lstatSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

/** Whether `path`, links followed, is a folder (false when it leads nowhere). */
function isFolder(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return false;
  }
}

function inside(realRoot: string, realPath: string): boolean {
  return realPath === realRoot ||
    realPath.startsWith(realRoot.endsWith(SEPARATOR) ? realRoot : realRoot + SEPARATOR);
}

/**
 * Resolves the root once, and only when a symlink asks for it: a folder of
 * plain files costs no extra system call.
 */
export class Containment {
  readonly root: string;
  #real: string | null = null;

  constructor(root: string) {
    this.root = root;
  }

  /** The root with every symlink resolved (null while it does not exist). */
  get realRoot(): string | null {
    if (!this.#real) this.#real = realPathOrNull(this.root);
    return this.#real;
  }

  /** Whether `path` (which exists) resolves inside the root. */
  contains(path: string): boolean {
    const real = realPathOrNull(path);
    return real !== null && this.realRoot !== null && inside(this.realRoot, real);
  }

  /** The kind of the entry at `path`; `entry` saves a system call for plain files and folders. */
  kind(path: string, entry?: Deno.DirEntry): EntryKind {
    const info = entry ?? lstatOrNull(path);
    if (!info) return "dangling";
    if (info.isFile) return "file";
    if (info.isDirectory) return "folder";
    if (!info.isSymlink) return "special";
    let target: Deno.FileInfo;
    try {
      target = Deno.statSync(path);
    } catch {
      return "dangling";
    }
    if (!this.contains(path)) return "outside";
    return target.isFile ? "file" : target.isDirectory ? "folder" : "special";
  }
}

const REASONS: Record<Exclude<EntryKind, "file" | "folder">, string> = {
  special: "it is not a regular file (a named pipe, socket or device)",
  outside: "it is a symlink that leads outside the migrations folder",
  dangling: "it is a symlink that leads nowhere",
};

/** The FILE error (exit 5) for an entry strata will not read. */
export function refusedEntry(
  path: string,
  kind: Exclude<EntryKind, "file" | "folder">,
): StrataError {
  return new StrataError("FILE", `Will not read this file: ${REASONS[kind]}`, {
    file: path,
    hint:
      "Replace it with a regular file (or a folder) inside the migrations folder, or move it out",
    details: { reason: kind },
  });
}

function refusedWrite(path: string, action: string, why: string): StrataError {
  return new StrataError("FILE", `Will not ${action} this path: ${why}`, {
    file: path,
    hint: "strata never writes or deletes through a symlink, nor outside the folder it manages; " +
      "replace the link with a regular file or folder, then run again",
    details: { reason: why },
  });
}

/**
 * Check, before anything changes, that `path` under `root` may be written
 * (`write`) or deleted (`delete`): the folder holding it, where it exists,
 * resolves inside the root, and `path` itself is absent or a regular file,
 * never a symlink.
 */
export function assertChangeable(
  root: Containment,
  path: string,
  action: "write" | "delete",
): void {
  const folder = dirname(path);
  const folderInfo = lstatOrNull(folder);
  if (folderInfo) {
    if (!folderInfo.isDirectory && !folderInfo.isSymlink) {
      throw refusedWrite(path, action, `"${folder}" is not a folder`);
    }
    if (root.realRoot !== null && !root.contains(folder)) {
      throw refusedWrite(path, action, `its folder "${folder}" leads outside "${root.root}"`);
    }
    if (!isFolder(folder)) throw refusedWrite(path, action, `"${folder}" is not a folder`);
  }
  const info = lstatOrNull(path);
  if (!info) return;
  if (info.isSymlink) throw refusedWrite(path, action, "it is a symlink");
  if (!info.isFile) throw refusedWrite(path, action, "it is not a regular file");
}

/** Create `folder` (and its parents) under `root`, refusing one that leads outside it. */
export function ensureFolder(root: Containment, folder: string): void {
  const info = lstatOrNull(folder);
  if (info) {
    if (root.realRoot !== null && !root.contains(folder)) {
      throw refusedWrite(folder, "write into", `it leads outside "${root.root}"`);
    }
    if (!isFolder(folder)) throw refusedWrite(folder, "write into", "it is not a folder");
    return;
  }
  let existing = dirname(folder);
  while (!lstatOrNull(existing) && dirname(existing) !== existing) existing = dirname(existing);
  if (root.realRoot !== null && !root.contains(existing)) {
    throw refusedWrite(folder, "create", `"${existing}" leads outside "${root.root}"`);
  }
  Deno.mkdirSync(folder, { recursive: true });
}

/** A new file: fails with AlreadyExists rather than follow or replace anything at `path`. */
export function writeNewFile(path: string, bytes: Uint8Array | string): void {
  if (typeof bytes === "string") Deno.writeTextFileSync(path, bytes, { createNew: true });
  else Deno.writeFileSync(path, bytes, { createNew: true });
}

/**
 * A temporary name beside `path`: hidden, the target's name, a random UUID.
 * A run killed between writing it and renaming it leaves it behind;
 * `sweepTemporaries` recognises exactly this pattern.
 */
export function temporaryPath(path: string): string {
  return join(dirname(path), `.${basename(path)}.${crypto.randomUUID()}.tmp`);
}

const TEMPORARY_REGEXP =
  /^\..+\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.tmp$/;

/**
 * Replace `path` whole: written to a new temporary name (created exclusively)
 * and renamed over it, so no reader sees half a file and nothing is written
 * through a link. Call `assertChangeable` first.
 */
export function replaceFile(path: string, bytes: Uint8Array | string): void {
  const temporary = temporaryPath(path);
  try {
    writeNewFile(temporary, bytes);
    Deno.renameSync(temporary, path);
  } catch (error) {
    try {
      Deno.removeSync(temporary);
    } catch {
      // never written, or already renamed
    }
    throw error;
  }
}

/**
 * Remove the temporary files a killed run left in `root` and its folders one
 * level down (only regular files named as `temporaryPath` names them).
 * Returns their paths.
 */
export function sweepTemporaries(root: Containment): string[] {
  const removed: string[] = [];
  const sweep = (folder: string, depth: number) => {
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(folder)];
    } catch {
      return;
    }
    for (const entry of entries) {
      const path = join(folder, entry.name);
      if (entry.isFile && TEMPORARY_REGEXP.test(entry.name)) {
        Deno.removeSync(path);
        removed.push(path);
      } else if (entry.isDirectory && depth === 0 && !entry.name.startsWith(".")) {
        sweep(path, 1);
      }
    }
  };
  sweep(root.root, 0);
  return removed;
}
