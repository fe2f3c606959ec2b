/**
 * The embedded engine: PGlite, loaded only when a `pglite:` URL is used.
 * PGlite has no cross-process locking, and two processes on one folder
 * corrupt it, so the folder is guarded by an OS file lock (flock) taken
 * before PGlite opens it: the kernel frees it when the holder dies, which
 * is how a dead holder's lock is taken over and a live one never is.
 */
import { formatMs } from "../duration.ts";
import { join } from "node:path";
import { StrataError } from "../errors.ts";
import { extensionsCreatedBy, loadExtensions } from "./extensions.ts";
import {
  type Engine,
  type EngineOptions,
  type ServerErrorFields,
  sessionResetSql,
  sessionSql,
  sqlErrorFrom,
} from "./engine.ts";

export const LOCK_FILE = "strata.lock";

type PGliteClass = typeof import("@electric-sql/pglite").PGlite;

/**
 * PGlite's start-up parameters with memory capped. Its defaults are a
 * server's: 128 MB of shared buffers that fill as a history creates
 * relations, and up to 1 GB of WAL kept before a checkpoint, all of it in
 * memory (the data folder of an in-memory database, and the WAL of every
 * one, live in the process). A migration run reads little twice, so 16 MB of
 * buffers cost it nothing, and a small WAL is recycled at each checkpoint:
 * memory stays flat in the number of revisions. Set per start, so a folder
 * keeps nothing of it.
 */
export function startParams(PGlite: PGliteClass): string[] {
  return [
    ...PGlite.defaultStartParams,
    ...["-c", "shared_buffers=16MB", "-c", "wal_buffers=1MB", "-c", "temp_buffers=2MB"],
    ...["-c", "wal_level=minimal", "-c", "max_wal_senders=0"],
    ...["-c", "max_wal_size=32MB", "-c", "min_wal_size=32MB"],
  ];
}

function translate(error: unknown): unknown {
  const e = error as ServerErrorFields;
  if (e && typeof e.code === "string" && /^[0-9A-Z]{5}$/.test(e.code)) {
    return sqlErrorFrom(e, e.code);
  }
  return error;
}

/** Hold the folder's lock file, waiting up to `timeoutMs`; LOCK_TIMEOUT names the holder's pid. */
async function lockFolder(dir: string, timeoutMs: number): Promise<Deno.FsFile> {
  await Deno.mkdir(dir, { recursive: true });
  const path = join(dir, LOCK_FILE);
  const file = await openLockFile(path);
  const deadline = Date.now() + timeoutMs;
  for (let delay = 20;; delay = Math.min(delay * 2, 250)) {
    if (await file.tryLock(true)) break;
    const left = deadline - Date.now();
    if (left <= 0) {
      file.close();
      throw await holderError(path, timeoutMs);
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(delay, left)));
  }
  const holder = JSON.stringify({ pid: Deno.pid, since: new Date().toISOString() });
  await file.truncate(0);
  await file.write(new TextEncoder().encode(holder + "\n"));
  return file;
}

function refusedLockFile(path: string, why: string): StrataError {
  return new StrataError("FILE", `Will not open the lock file: ${why}`, {
    file: path,
    hint: "strata writes its lock file itself and never through a link; remove it and run again",
  });
}

/**
 * The lock file, opened without following a link (Deno has no O_NOFOLLOW): a
 * new one is created exclusively; an existing one must be a regular file, and
 * the file opened must be the one checked, so a link swapped in between is
 * caught before anything is truncated.
 */
async function openLockFile(path: string): Promise<Deno.FsFile> {
  for (;;) {
    const before = await Deno.lstat(path).catch((error) => {
      if (error instanceof Deno.errors.NotFound) return null;
      throw error;
    });
    if (!before) {
      try {
        return await Deno.open(path, { read: true, write: true, createNew: true });
      } catch (error) {
        if (error instanceof Deno.errors.AlreadyExists) continue;
        throw error;
      }
    }
    if (before.isSymlink) throw refusedLockFile(path, "it is a symlink");
    if (!before.isFile) throw refusedLockFile(path, "it is not a regular file");
    const file = await Deno.open(path, { read: true, write: true });
    const opened = await file.stat();
    if (opened.ino !== before.ino || opened.dev !== before.dev) {
      file.close();
      throw refusedLockFile(path, "it was replaced while being opened");
    }
    return file;
  }
}

async function holderError(path: string, timeoutMs: number): Promise<StrataError> {
  let holder: { pid?: number; since?: string } = {};
  try {
    holder = JSON.parse(await Deno.readTextFile(path));
  } catch {
    // the holder may be between truncating and writing; name what we can
  }
  return new StrataError(
    "LOCK_TIMEOUT",
    `Embedded database lock not obtained within ${formatMs(timeoutMs)}: held by pid ${
      holder.pid ?? "?"
    } (since ${holder.since ?? "?"})`,
    {
      hint: `Another strata process is using ${path.slice(0, -LOCK_FILE.length - 1)}; ` +
        "wait for it, or raise --lock-timeout",
      details: { pid: holder.pid ?? null, since: holder.since ?? null },
    },
  );
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Open the embedded database at `location` (a folder, or "memory"). A new
 * database starts from the pristine image (lib/db/image.ts), not from
 * PGlite's initdb: unpacked into the folder before PGlite opens it, or
 * written into the in-memory file system as the engine starts.
 */
export async function openEmbedded(location: string, options: EngineOptions): Promise<Engine> {
  const inMemory = location === "memory" || location === "";
  if (!inMemory && options.mustExist && !(await exists(join(location, "PG_VERSION")))) {
    throw new StrataError("CONNECT", `Embedded database pglite:${location} does not exist`, {
      hint: "Check the path; strata apply creates it",
    });
  }
  const lockFile = inMemory ? null : await lockFolder(location, options.lockTimeoutMs);
  const image = await import("./image.ts");
  let created = inMemory;
  let db: PGliteInstance | null = null;
  try {
    if (!inMemory && !(await exists(join(location, "PG_VERSION")))) {
      await image.unpackImage(location, [LOCK_FILE]);
      created = true;
    }
    const { PGlite } = await import("@electric-sql/pglite");
    db = await PGlite.create({
      ...(inMemory ? { fs: await image.imageMemoryFs() } : { dataDir: location }),
      startParams: startParams(PGlite),
    });
    if (created) {
      const { rows } = await db.query<{ version: string }>("SELECT version()");
      await image.assertImageMatches(rows[0].version);
    }
    await db.exec(sessionSql(options));
    // An extension's types and functions need its bundle in every session
    // that uses them, not only in the one that created it.
    if (!created) await loadInstalledExtensions(db);
  } catch (error) {
    await db?.close().catch(() => {});
    // What this run unpacked goes again: no half-made database stays behind.
    if (created && !inMemory) await image.removeImage(location).catch(() => {});
    lockFile?.close();
    if (error instanceof StrataError) throw error;
    throw new StrataError(
      "CONNECT",
      `Cannot open embedded database pglite:${location}: ${(error as Error).message}`,
      {
        hint: created
          ? "The empty-database image may not match this PGlite: rebuild it with `deno task image`"
          : "The folder may hold another program's data or be damaged",
        cause: error,
      },
    );
  }

  return wrapPglite(db, `pglite:${location}`, options, () => lockFile?.close());
}

type PGliteInstance = InstanceType<typeof import("@electric-sql/pglite").PGlite>;

async function loadInstalledExtensions(db: PGliteInstance): Promise<void> {
  const { rows } = await db.query<{ extname: string }>(
    "SELECT extname FROM pg_extension WHERE extname <> 'plpgsql'",
  );
  if (rows.length > 0) await loadExtensions(db, rows.map((row) => row.extname));
}

/** A PGlite instance behind the Engine interface; `release` runs after it closes. */
export function wrapPglite(
  db: PGliteInstance,
  label: string,
  options: EngineOptions,
  release: () => void = () => {},
): Engine {
  async function run<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      throw translate(error);
    }
  }

  return {
    kind: "embedded",
    label,
    sessionResetSql: sessionResetSql(options),
    exec: (text) =>
      run(async () => {
        await loadExtensions(db, extensionsCreatedBy(text));
        await db.exec(text);
      }),
    query: <T>(text: string, params: unknown[] = []) =>
      run(async () => {
        await loadExtensions(db, extensionsCreatedBy(text));
        return (await db.query<T>(text, params)).rows;
      }),
    // The folder lock taken at open already makes this process the only user.
    lock: () => Promise.resolve(),
    unlock: () => Promise.resolve(),
    async close() {
      try {
        await db.close();
      } finally {
        release();
      }
    },
  };
}
