/**
 * The seam every importer plugs into: a source tool reads its own folder
 * layout and returns revisions in its own order, plus what it could not map.
 * One file per tool (`dbmate.ts`, `goose.ts`, …); `write.ts` turns the
 * revisions into strata files. Nothing here writes.
 *
 * @example
 * ```ts ignore
 * const { revisions, findings } = await dbmate.read("db/migrations");
 * ```
 */
import { join, relative } from "node:path";
import { StrataError, usage } from "../errors.ts";
import { decodeUtf8, normalize } from "../migration_file.ts";

/** One revision as the source tool knows it. */
export interface ImportedRevision {
  /** How other revisions of the same source name it in `parents`. */
  key: string;
  /** The source's version as the tool spells it (`20240101120000`, `1.2`, a Sqitch change). */
  version: string;
  /** The description the id's slug is made from. */
  name: string;
  message: string;
  /** Source files, relative to the source folder. */
  files: string[];
  /** The moment the version stands for, when it is a timestamp; null for a sequence. */
  time: Date | null;
  /** Keys of the parents; absent means "the revision before it in the source's order". */
  parents?: string[];
  up: string;
  /** Null: the source has no down (irreversible); only comments: a successful no-op. */
  down: string | null;
  /** The source runs it outside a transaction (dbmate `transaction:false`, goose `NO TRANSACTION`). */
  noTransaction: boolean;
  /**
   * The source runs a section statement by statement unless the script wraps
   * itself in `BEGIN … COMMIT` (Sqitch through psql).
   */
  autocommitUnlessWrapped?: boolean;
  /** Remarks on the mapping, for the report. */
  notes: string[];
}

/**
 * A file the importer did not map to a revision: `skipped` carried migration
 * meaning (a Go migration, a repeatable) and needs `--partial`; `ignored` is
 * not a migration (a README, a Sqitch verify script).
 */
export interface Finding {
  file: string;
  status: "skipped" | "ignored";
  reason: string;
}

/** A script the source re-runs whenever it changes (Flyway `R__`): a strata repeatable. */
export interface ImportedRepeatable {
  /** The name in the source (Flyway: after `R__`, without `.sql`). */
  name: string;
  /** The source file, relative to the source folder. */
  file: string;
  sql: string;
}

export interface SourceResult {
  revisions: ImportedRevision[];
  findings: Finding[];
  /** Repeatable scripts, written to `repeatable/NAME.sql`. */
  repeatables?: ImportedRepeatable[];
}

export interface SourceTool {
  name: string;
  /** The folder the PATH argument names, for help and errors. */
  layout: string;
  read(path: string): Promise<SourceResult>;
}

/** A malformed source file: exit 5, naming the file and the line. */
export function malformed(file: string, line: number, message: string, hint?: string): StrataError {
  return new StrataError("FILE", message, { file, line, hint });
}

/** The regular files of `dir` (relative paths, sorted), one level or the whole tree. */
export async function listFiles(dir: string, recursive = false): Promise<string[]> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(dir);
  } catch {
    throw usage(
      `Source folder "${dir}" does not exist`,
      "Name the folder that holds the tool's migrations",
    );
  }
  if (!info.isDirectory) throw usage(`Source "${dir}" is not a folder`);
  const out: string[] = [];
  const walk = async (folder: string) => {
    const entries: Deno.DirEntry[] = [];
    try {
      for await (const entry of Deno.readDir(folder)) entries.push(entry);
    } catch (error) {
      throw new StrataError("FILE", `Cannot read a source folder: ${(error as Error).message}`, {
        file: folder,
        cause: error,
      });
    }
    for (const entry of entries) {
      const path = join(folder, entry.name);
      if (entry.name.startsWith(".")) continue;
      let kind = entry;
      if (entry.isSymlink) {
        try {
          kind = { ...entry, ...(await Deno.stat(path)) };
        } catch {
          continue;
        }
      }
      if (kind.isFile) out.push(relative(dir, path));
      else if (kind.isDirectory && recursive) await walk(path);
    }
  };
  await walk(dir);
  return out.sort();
}

/** A source file as text: UTF-8 checked (naming the line), BOM dropped, CRLF as LF. */
export async function readSource(dir: string, rel: string): Promise<string> {
  const path = join(dir, rel);
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (error) {
    throw new StrataError("FILE", `Cannot read a source file: ${(error as Error).message}`, {
      file: path,
      cause: error,
    });
  }
  return normalize(decodeUtf8(bytes, path));
}

const pad = (n: number) => String(n).padStart(2, "0");

function validDate(
  y: number,
  mo: number,
  d: number,
  h: number,
  mi: number,
  s: number,
): Date | null {
  const date = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
  const same = date.getUTCFullYear() === y && date.getUTCMonth() === mo - 1 &&
    date.getUTCDate() === d && date.getUTCHours() === h && date.getUTCMinutes() === mi &&
    date.getUTCSeconds() === s;
  return same && y >= 1970 ? date : null;
}

/**
 * The moment a numeric version stands for: `YYYYMMDDHHMMSS` (14 digits, or
 * 17 with milliseconds), Unix seconds (10 digits) or milliseconds (13
 * digits). Null for anything else (a sequence number like `1` or `00042`).
 */
export function timeOfVersion(version: string): Date | null {
  if (/^\d{14}(\d{3})?$/.test(version)) {
    const n = (from: number, to: number) => Number(version.slice(from, to));
    return validDate(n(0, 4), n(4, 6), n(6, 8), n(8, 10), n(10, 12), n(12, 14));
  }
  if (/^1\d{9}$/.test(version)) return new Date(Number(version) * 1000);
  if (/^1\d{12}$/.test(version)) return new Date(Math.floor(Number(version) / 1000) * 1000);
  return null;
}

/** `YYYYMMDD_HHMMSS` of a moment (UTC). */
export function stampOf(date: Date): string {
  return `${date.getUTCFullYear()}${pad(date.getUTCMonth() + 1)}${pad(date.getUTCDate())}_` +
    `${pad(date.getUTCHours())}${pad(date.getUTCMinutes())}${pad(date.getUTCSeconds())}`;
}

/** A file-name description as words: `create_users` → `create users`. */
export function humanize(name: string): string {
  return name.replace(/[_-]+/g, " ").trim();
}

export { onlyComments } from "../migration_file.ts";

/** Compare digit strings as numbers (any length). */
export function compareNumeric(a: string, b: string): number {
  const x = BigInt(a), y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}
