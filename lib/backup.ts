/**
 * Snapshots of the migrations folder. `createBackup` copies every migration
 * file, raw bytes, into `ROOT/backup_YYYYMMDD_HHMMSS/` (category folders kept)
 * and writes `manifest.json` last; `restoreBackup` verifies a snapshot
 * completely before it touches the folder, backs up the current files, then
 * puts the snapshot's files back. Nothing here prints: `backup`, `restore`,
 * `clean` and `reset` call it and report.
 *
 * @example
 * ```ts ignore
 * const safety = await createBackup("migrations", "versions_backup");
 * const { written, removed } = await restoreBackup("migrations", "versions_backup", "latest");
 * ```
 */
import { createHash } from "node:crypto";
import { dirname, join } from "node:path";
import { cutList, StrataError, usage } from "./errors.ts";
import {
  checksumOf,
  decodeUtf8,
  normalize,
  parseMigration,
  REVISION_ID_REGEXP,
} from "./migration_file.ts";
import {
  assertChangeable,
  Containment,
  ensureFolder,
  refusedEntry,
  replaceFile,
  sweepTemporaries,
  writeNewFile,
} from "./safe_fs.ts";
import { VERSION } from "./version.ts";

export const DEFAULT_BACKUP_ROOT = "versions_backup";
export const MANIFEST_NAME = "manifest.json";

export interface ManifestFile {
  /** Relative to the migrations folder, `/`-separated: `x.sql` or `01_foundation/x.sql`. */
  path: string;
  /** The revision id, or null when the file name is not one. */
  id: string | null;
  /** Parents as declared; null without a `parents` line or when the file does not parse. */
  parents: string[] | null;
  /** The ledger's checksum (`sha256:<hex>` of the normalized text); null when not UTF-8. */
  checksum: string | null;
  /** Hex SHA-256 of the raw bytes: what restore checks, with `bytes`. */
  sha256: string;
  bytes: number;
  /** Why the file would not load (`path:line: message`), or null. */
  error: string | null;
}

export interface Manifest {
  strata: string;
  createdAt: string;
  /** The migrations folder as it was given. */
  source: string;
  /** Category folders present at backup time, empty ones included. */
  folders: string[];
  files: ManifestFile[];
}

export interface BackupInfo {
  id: string;
  /** `ROOT/ID`. */
  path: string;
  /** From the manifest; for a partial backup, the time in its name. */
  createdAt: string;
  files: number;
  bytes: number;
  /** No readable manifest: an interrupted or damaged backup, which restore refuses. */
  partial: boolean;
  problem: string | null;
}

export interface RestoreResult {
  restored: string;
  /** Paths (as under `dir`) written because they were missing or different. */
  written: string[];
  /** `.sql` paths the snapshot does not have, removed. */
  removed: string[];
  unchanged: number;
  /** The backup of the files as they were; null when the folder did not exist. */
  safetyBackup: BackupInfo | null;
}

const BACKUP_ID_REGEXP = /^backup_(\d{8})_(\d{6})(?:_(\d+))?$/;
/** `name.sql` or `folder/name.sql`; no segment starts with a dot (so no `..`), no backslash. */
const MANIFEST_PATH_REGEXP = /^(?:[^/\\.][^/\\]*\/)?[^/\\.][^/\\]*\.sql$/;
const FOLDER_REGEXP = /^[^/\\.][^/\\]*$/;
const SHA256_REGEXP = /^[0-9a-f]{64}$/;

interface Layout {
  /** `/`-separated relative paths of the `.sql` files, sorted. */
  files: string[];
  folders: string[];
}

async function isFolder(path: string): Promise<boolean> {
  return (await Deno.stat(path).catch(() => null))?.isDirectory ?? false;
}

/**
 * The layout loadMigrations reads: `*.sql` in the folder and one level down in
 * category folders, names starting with a dot skipped. A directory named
 * `*.sql` is neither a file nor a category, so it is left out. What strata
 * will not read (a named pipe, a symlink leading outside) is refused unopened.
 */
async function scan(dir: string): Promise<Layout> {
  const root = new Containment(dir);
  const files: string[] = [];
  const folders: string[] = [];
  const kindOf = (path: string, entry: Deno.DirEntry) => {
    const kind = root.kind(path, entry.isSymlink ? undefined : entry);
    if (kind === "file" || kind === "folder") return kind;
    throw refusedEntry(path, kind);
  };
  for await (const entry of Deno.readDir(dir)) {
    if (entry.name.startsWith(".")) continue;
    const path = join(dir, entry.name);
    if (entry.name.endsWith(".sql")) {
      if (kindOf(path, entry) === "file") files.push(entry.name);
    } else if (entry.isDirectory || (entry.isSymlink && (await isFolder(path)))) {
      folders.push(entry.name);
      for await (const inner of Deno.readDir(path)) {
        if (inner.name.startsWith(".") || !inner.name.endsWith(".sql")) continue;
        if (kindOf(join(path, inner.name), inner) === "file") {
          files.push(`${entry.name}/${inner.name}`);
        }
      }
    }
  }
  return { files: files.sort(), folders: folders.sort() };
}

const local = (dir: string, rel: string) => join(dir, ...rel.split("/"));
const sha256Hex = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");
const messageOf = (error: unknown) => (error as Error)?.message ?? String(error);

/**
 * One manifest entry. A file that does not parse is still backed up (a backup
 * must never fail because a file is broken): its `error` says why, and the
 * facts that need parsing (`parents`, and `checksum` when not UTF-8) are null.
 */
function describe(rel: string, bytes: Uint8Array): ManifestFile {
  const name = rel.slice(rel.lastIndexOf("/") + 1, -".sql".length);
  const category = rel.includes("/") ? rel.slice(0, rel.indexOf("/")) : null;
  const id = REVISION_ID_REGEXP.test(name) ? name : null;
  const file: ManifestFile = {
    path: rel,
    id,
    parents: null,
    checksum: null,
    sha256: sha256Hex(bytes),
    bytes: bytes.length,
    error: id ? null : `${rel}: File name does not follow YYYYMMDD_HHMM_slug.sql`,
  };
  try {
    const text = decodeUtf8(bytes, rel);
    file.checksum = checksumOf(normalize(text));
    file.parents = parseMigration(text, rel, name, category).parents;
  } catch (error) {
    file.error = error instanceof StrataError ? error.located : messageOf(error);
  }
  return file;
}

/** The ledger's checksum of raw bytes, or null when they are not UTF-8. */
function ledgerChecksum(bytes: Uint8Array): string | null {
  try {
    return checksumOf(normalize(decodeUtf8(bytes, "")));
  } catch {
    return null;
  }
}

/** `backup_<stamp>`, or the next free `_2`, `_3` …: mkdir fails on an existing name, atomically. */
async function claimFolder(root: string, stamp: string): Promise<string> {
  for (let n = 1;; n++) {
    const id = n === 1 ? `backup_${stamp}` : `backup_${stamp}_${n}`;
    try {
      await Deno.mkdir(join(root, id));
      return id;
    } catch (error) {
      if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
    }
  }
}

/**
 * Copy every migration file of `dir` to a new snapshot under `root` (default
 * `versions_backup`, relative to the working folder). The manifest is written
 * to `manifest.json.tmp` and renamed last, so a backup without `manifest.json`
 * is recognisably partial. Two backups in the same second get `_2`, `_3` ….
 */
export async function createBackup(
  dir: string,
  root: string = DEFAULT_BACKUP_ROOT,
  now: Date = new Date(),
): Promise<BackupInfo> {
  const layout = await scanSource(dir);
  if (!layout) {
    throw new StrataError("CONFIG", `Migrations folder "${dir}" does not exist`, {
      hint: "Run: strata init, or point --dir at the folder",
    });
  }
  const copies: Array<{ file: ManifestFile; bytes: Uint8Array }> = [];
  for (const rel of layout.files) {
    const path = local(dir, rel);
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(path);
    } catch (error) {
      throw new StrataError("FILE", `Cannot back up a migration file: ${messageOf(error)}`, {
        file: path,
        cause: error,
      });
    }
    copies.push({ file: describe(rel, bytes), bytes });
  }
  const createdAt = now.toISOString();
  const stamp = createdAt.replace(/[-:]/g, "").replace("T", "_").slice(0, 15);
  let id: string;
  try {
    await Deno.mkdir(root, { recursive: true });
    id = await claimFolder(root, stamp);
  } catch (error) {
    throw new StrataError("FILE", `Cannot create a backup folder: ${messageOf(error)}`, {
      file: root,
      cause: error,
      hint: `"${root}" must be a folder strata can write to`,
    });
  }
  const path = join(root, id);
  const manifest: Manifest = {
    strata: VERSION,
    createdAt,
    source: dir,
    folders: layout.folders,
    files: copies.map((copy) => copy.file),
  };
  try {
    for (const folder of new Set(layout.files.filter((rel) => rel.includes("/")).map(folderOf))) {
      await Deno.mkdir(join(path, folder));
    }
    // A folder just made: every file in it is new, created exclusively.
    for (const copy of copies) writeNewFile(local(path, copy.file.path), copy.bytes);
    const temporary = join(path, `${MANIFEST_NAME}.tmp`);
    writeNewFile(temporary, JSON.stringify(manifest, null, 2) + "\n");
    await Deno.rename(temporary, join(path, MANIFEST_NAME));
  } catch (error) {
    await Deno.remove(path, { recursive: true }).catch(() => {});
    throw new StrataError("FILE", `Cannot write backup "${id}": ${messageOf(error)}`, {
      file: path,
      cause: error,
    });
  }
  return summary(id, path, manifest);
}

const folderOf = (rel: string) => rel.slice(0, rel.indexOf("/"));

/** The layout of `dir`, or null when it does not exist. */
async function scanSource(dir: string): Promise<Layout | null> {
  try {
    return await scan(dir);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    if (error instanceof StrataError) throw error;
    throw new StrataError("FILE", `Cannot read the migrations folder: ${messageOf(error)}`, {
      file: dir,
      cause: error,
    });
  }
}

function summary(id: string, path: string, manifest: Manifest): BackupInfo {
  const bytes = manifest.files.reduce((sum, file) => sum + file.bytes, 0);
  return {
    id,
    path,
    createdAt: manifest.createdAt,
    files: manifest.files.length,
    bytes,
    partial: false,
    problem: null,
  };
}

function damaged(id: string, file: string, reason: string): StrataError {
  return new StrataError("INTEGRITY", `Backup "${id}" is corrupt or partial: ${reason}`, {
    file,
    hint: "Nothing was changed; strata backups lists the other snapshots",
    details: { backup: id, reason },
  });
}

const isStringList = (value: unknown) =>
  Array.isArray(value) && value.every((item) => typeof item === "string");

/** The manifest's text checked for shape; anything off is an INTEGRITY error on the manifest. */
function parseManifest(text: string, id: string, file: string): Manifest {
  let data: Manifest;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw damaged(id, file, `manifest.json is not valid JSON (${messageOf(error)})`);
  }
  const bad = (what: string) => damaged(id, file, `manifest.json ${what}`);
  if (typeof data !== "object" || data === null || !Array.isArray(data.files)) {
    throw bad(`has no "files" list`);
  }
  if (typeof data.createdAt !== "string" || Number.isNaN(Date.parse(data.createdAt))) {
    throw bad(`has no valid "createdAt"`);
  }
  if (!isStringList(data.folders) || !data.folders.every((f) => FOLDER_REGEXP.test(f))) {
    throw bad(`has no valid "folders" list`);
  }
  const seen = new Set<string>();
  for (const [i, f] of data.files.entries()) {
    const ok = typeof f === "object" && f !== null && typeof f.path === "string" &&
      MANIFEST_PATH_REGEXP.test(f.path) && !/\.sql\//.test(f.path) && !seen.has(f.path) &&
      typeof f.sha256 === "string" && SHA256_REGEXP.test(f.sha256) &&
      Number.isSafeInteger(f.bytes) && f.bytes >= 0 &&
      (f.id === null || typeof f.id === "string") &&
      (f.checksum === null || typeof f.checksum === "string") &&
      (f.parents === null || isStringList(f.parents));
    if (!ok) throw bad(`has an invalid entry ${i + 1} (${JSON.stringify(f?.path ?? null)})`);
    seen.add(f.path);
  }
  return data;
}

/**
 * Every file of backup `id` read and checked against its manifest: present,
 * same size and SHA-256 (and ledger checksum), and no `.sql` file the
 * manifest does not list. The bytes returned are the bytes checked.
 */
async function readVerified(
  root: string,
  id: string,
): Promise<{ manifest: Manifest; contents: Map<string, Uint8Array> }> {
  const path = join(root, id);
  const manifestPath = join(path, MANIFEST_NAME);
  let text: string;
  try {
    text = await Deno.readTextFile(manifestPath);
  } catch (error) {
    throw damaged(
      id,
      manifestPath,
      error instanceof Deno.errors.NotFound
        ? "it has no manifest.json (an interrupted backup)"
        : `manifest.json cannot be read (${messageOf(error)})`,
    );
  }
  const manifest = parseManifest(text, id, manifestPath);
  // Listed first: a named pipe among the files is refused before anything is opened.
  const layout = await scan(path);
  const contents = new Map<string, Uint8Array>();
  for (const file of manifest.files) {
    const filePath = local(path, file.path);
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(filePath);
    } catch (error) {
      throw damaged(
        id,
        filePath,
        error instanceof Deno.errors.NotFound
          ? "a file the manifest lists is missing"
          : `a file cannot be read (${messageOf(error)})`,
      );
    }
    if (bytes.length !== file.bytes || sha256Hex(bytes) !== file.sha256) {
      throw damaged(id, filePath, "a file differs from its manifest entry (size or SHA-256)");
    }
    if (file.checksum !== null && ledgerChecksum(bytes) !== file.checksum) {
      throw damaged(id, filePath, "a file's checksum differs from its manifest entry");
    }
    contents.set(file.path, bytes);
  }
  for (const rel of layout.files) {
    if (!contents.has(rel)) throw damaged(id, local(path, rel), "a file is not in the manifest");
  }
  return { manifest, contents };
}

/** Check backup `id` under `root` completely; INTEGRITY error naming the first file that fails. */
export async function verifyBackup(root: string, id: string): Promise<Manifest> {
  return (await readVerified(root, id)).manifest;
}

/** What the listing shows of one backup: the manifest alone is read (no hashing). */
async function inspect(root: string, id: string): Promise<BackupInfo> {
  const path = join(root, id);
  const manifestPath = join(path, MANIFEST_NAME);
  try {
    return summary(
      id,
      path,
      parseManifest(await Deno.readTextFile(manifestPath), id, manifestPath),
    );
  } catch (error) {
    const [, day, time] = BACKUP_ID_REGEXP.exec(id)!;
    const createdAt = `${day.slice(0, 4)}-${day.slice(4, 6)}-${day.slice(6)}T${time.slice(0, 2)}:${
      time.slice(2, 4)
    }:${time.slice(4)}.000Z`;
    const layout = await scan(path).catch(() => ({ files: [] as string[] }));
    let bytes = 0;
    for (const rel of layout.files) {
      bytes += (await Deno.stat(local(path, rel)).catch(() => null))?.size ?? 0;
    }
    const problem = error instanceof Deno.errors.NotFound
      ? "no manifest.json"
      : error instanceof StrataError
      ? String(error.details.reason)
      : messageOf(error);
    return { id, path, createdAt, files: layout.files.length, bytes, partial: true, problem };
  }
}

/** Newest first: by the time in the name, then by the `_N` suffix. */
function newestFirst(a: BackupInfo, b: BackupInfo): number {
  const key = (id: string) => {
    const [, day, time, n] = BACKUP_ID_REGEXP.exec(id)!;
    return `${day}${time}${(n ?? "1").padStart(12, "0")}`;
  };
  const [ka, kb] = [key(a.id), key(b.id)];
  return ka < kb ? 1 : ka > kb ? -1 : 0;
}

/** The backups under `root`, newest first, partial ones flagged; none when `root` does not exist. */
export async function listBackups(root: string = DEFAULT_BACKUP_ROOT): Promise<BackupInfo[]> {
  const ids: string[] = [];
  try {
    for await (const entry of Deno.readDir(root)) {
      if (entry.isDirectory && BACKUP_ID_REGEXP.test(entry.name)) ids.push(entry.name);
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw new StrataError("FILE", `Cannot read the backups folder: ${messageOf(error)}`, {
      file: root,
      cause: error,
      hint: `strata keeps snapshots in the folder "${root}": move away what is there`,
    });
  }
  return (await Promise.all(ids.map((id) => inspect(root, id)))).sort(newestFirst);
}

/**
 * A backup by exact id, unique prefix (`backup_` may be left out), or `latest`
 * (the newest complete one). Unknown or ambiguous: a usage error naming candidates.
 */
export async function resolveBackup(root: string, ref: string): Promise<BackupInfo> {
  const all = await listBackups(root);
  const names = (list: BackupInfo[]) => cutList(list.map((b) => b.id), 8);
  if (all.length === 0) throw usage(`No backups in "${root}"`, "Make one with: strata backup");
  if (ref === "latest") {
    const latest = all.find((b) => !b.partial);
    if (!latest) throw usage(`No complete backup in "${root}"`, `Partial: ${names(all)}`);
    return latest;
  }
  const exact = all.find((b) => b.id === ref || b.id === `backup_${ref}`);
  if (exact) return exact;
  const matches = ref === ""
    ? []
    : all.filter((b) => b.id.startsWith(ref) || b.id.startsWith(`backup_${ref}`));
  if (matches.length === 1) return matches[0];
  if (matches.length === 0) {
    throw usage(`Unknown backup "${ref}"`, `Newest: ${names(all)}; strata backups lists them all`);
  }
  throw usage(
    `Ambiguous backup "${ref}": ${matches.length} backups match`,
    `Candidates: ${names(matches)}`,
  );
}

async function readOrNull(path: string): Promise<Uint8Array | null> {
  try {
    return await Deno.readFile(path);
  } catch {
    return null;
  }
}

function sameBytes(a: Uint8Array | null, b: Uint8Array): boolean {
  return a !== null && a.length === b.length && a.every((byte, i) => byte === b[i]);
}

/** A category folder restore would write into: absent, or a folder inside `dir`. */
function checkFolder(target: Containment, folder: string): void {
  const info = (() => {
    try {
      return Deno.lstatSync(folder);
    } catch {
      return null;
    }
  })();
  if (!info) return;
  const kind = target.kind(folder);
  if (kind !== "folder") {
    throw new StrataError(
      "FILE",
      `Will not write into this folder: it is not a folder inside "${target.root}"`,
      {
        file: folder,
        hint:
          "strata never writes or deletes through a symlink leading outside the folder it manages; " +
          "replace the link with a regular folder, then run again",
      },
    );
  }
}

/**
 * Put backup `ref` (see resolveBackup) back into `dir`: verify it fully (a
 * corrupt or partial one is refused before anything changes), back up the
 * current files, write the snapshot's files that are missing or differ, then
 * remove `.sql` files it does not have (and the category folders that left
 * empty, unless the snapshot had them). Other files are left alone.
 */
export async function restoreBackup(
  dir: string,
  root: string,
  ref: string,
): Promise<RestoreResult> {
  const { id } = await resolveBackup(root, ref);
  const { manifest, contents } = await readVerified(root, id);
  const target = new Containment(dir);
  // A restore killed between writing a temporary file and renaming it left it behind.
  sweepTemporaries(target);
  const current = await scanSource(dir);
  const keep = new Set(contents.keys());
  const doomed = (current?.files ?? []).filter((rel) => !keep.has(rel));
  // Every path checked before anything changes: no write or delete through a link.
  for (const folder of manifest.folders) checkFolder(target, join(dir, folder));
  const differing: string[] = [];
  for (const [rel, bytes] of contents) {
    if (!sameBytes(await readOrNull(local(dir, rel)), bytes)) differing.push(rel);
  }
  for (const rel of differing) assertChangeable(target, local(dir, rel), "write");
  for (const rel of doomed) assertChangeable(target, local(dir, rel), "delete");
  const safetyBackup = current ? await createBackup(dir, root) : null;
  const written: string[] = [];
  const removed: string[] = [];
  let unchanged = 0;
  try {
    await Deno.mkdir(dir, { recursive: true });
    for (const folder of manifest.folders) ensureFolder(target, join(dir, folder));
    unchanged = contents.size - differing.length;
    for (const rel of differing) {
      const path = local(dir, rel);
      const bytes = contents.get(rel)!;
      ensureFolder(target, dirname(path));
      assertChangeable(target, path, "write");
      replaceFile(path, bytes);
      written.push(path);
    }
    const emptied = new Set<string>();
    for (const rel of doomed) {
      assertChangeable(target, local(dir, rel), "delete");
      await Deno.remove(local(dir, rel));
      removed.push(local(dir, rel));
      if (rel.includes("/")) emptied.add(folderOf(rel));
    }
    for (const folder of emptied) {
      // Only an empty, real folder goes: a non-recursive remove fails on anything else,
      // and a symlink is never removed.
      const path = join(dir, folder);
      if (manifest.folders.includes(folder) || Deno.lstatSync(path).isSymlink) continue;
      await Deno.remove(path).catch(() => {});
    }
  } catch (error) {
    if (error instanceof StrataError && !safetyBackup) throw error;
    throw new StrataError("FILE", `Cannot restore backup "${id}": ${messageOf(error)}`, {
      file: error instanceof StrataError ? error.file : dir,
      cause: error,
      hint: safetyBackup
        ? `The files as they were are in "${safetyBackup.path}": strata restore ${safetyBackup.id}`
        : undefined,
    });
  }
  return { restored: id, written, removed, unchanged, safetyBackup };
}
