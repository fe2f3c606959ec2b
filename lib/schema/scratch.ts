/**
 * Throwaway databases for the proofs (verify, clean, autogenerate, drift):
 * on the embedded engine by default, or fresh databases on a scratch server
 * that are dropped afterwards. A proof holds one at a time. Nothing here touches the
 * configured database.
 */
import { type Engine, type EngineOptions, openEngine } from "../db/engine.ts";
import { assertEmbeddedExtensions, type SqlSource } from "../db/extensions.ts";
import { StrataError } from "../errors.ts";
import { redactUrl } from "../redact.ts";

export interface ScratchDatabases {
  /**
   * Refuse, before anything runs, SQL these databases cannot run for want of
   * an extension (the embedded engine's EXTENSION_UNAVAILABLE, naming file and line).
   */
  admit(sources: Iterable<SqlSource>): void;
  /** A new, empty database; close it (or `dispose`) before opening the next. */
  open(): Promise<Engine>;
  /** Close and drop everything `open` made. */
  dispose(): Promise<void>;
}

const SCRATCH_OPTIONS: EngineOptions = {
  connectTimeoutMs: 10_000,
  statementTimeoutMs: 0,
  lockWaitMs: 0,
  lockTimeoutMs: 10_000,
};

/** Scratch folders start with this, in the system's temporary folder. */
export const SCRATCH_PREFIX = "strata-scratch-";

/**
 * Embedded scratch databases, one at a time, each in a new temporary folder
 * made from the pristine image and removed when it closes (also when the
 * proof fails). On disk rather than in memory: a database in memory holds
 * its whole data folder (25 MB empty, growing with the history) in the
 * process, which put verify of 200 revisions at 393 MiB against 342. A run
 * that is killed leaves its folder; a later run removes every such folder
 * whose lock no live process holds once it is ten minutes old, so the mess
 * stays bounded.
 */
export function embeddedScratch(): ScratchDatabases {
  const open = new Set<Engine>();
  let swept = false;
  return {
    admit: assertEmbeddedExtensions,
    async open() {
      const { openEmbedded } = await import("../db/embedded.ts");
      if (!swept) (swept = true, await sweepStaleScratch());
      const dir = await Deno.makeTempDir({ prefix: SCRATCH_PREFIX });
      let inner: Engine;
      try {
        inner = await openEmbedded(dir, SCRATCH_OPTIONS);
      } catch (error) {
        await Deno.remove(dir, { recursive: true }).catch(() => {});
        throw error;
      }
      const engine: Engine = {
        ...inner,
        // What the proofs print, as before they moved to disk: a throwaway
        // database nobody else sees (and a label scripts may match).
        label: "pglite:memory",
        async close() {
          if (!open.delete(engine)) return;
          try {
            await inner.close();
          } finally {
            await Deno.remove(dir, { recursive: true }).catch(() => {});
          }
        },
      };
      open.add(engine);
      return engine;
    },
    async dispose() {
      await Promise.allSettled([...open].map((engine) => engine.close()));
    },
  };
}

/**
 * Remove the scratch folders of runs that died: a folder whose lock file can
 * be locked has no live holder. Only real folders owned by this user are
 * touched, never what a link points at.
 */
export async function sweepStaleScratch(): Promise<void> {
  const [{ tmpdir }, { join }, { LOCK_FILE }] = await Promise.all([
    import("node:os"),
    import("node:path"),
    import("../db/embedded.ts"),
  ]);
  const root = tmpdir();
  const uid = Deno.uid();
  try {
    for await (const entry of Deno.readDir(root)) {
      if (!entry.isDirectory || !entry.name.startsWith(SCRATCH_PREFIX)) continue;
      const dir = join(root, entry.name);
      const stat = await Deno.lstat(dir).catch(() => null);
      if (!stat?.isDirectory || (uid !== null && stat.uid !== uid)) continue;
      if (await isAbandoned(join(dir, LOCK_FILE), stat.mtime)) {
        await Deno.remove(dir, { recursive: true }).catch(() => {});
      }
    }
  } catch {
    // A temporary folder that cannot be listed leaves nothing to sweep.
  }
}

/**
 * A run takes its folder's lock a moment after it makes the folder, so a
 * folder changed less than this long ago may be a live run's whose lock is
 * not held yet (another proof running at the same time): it is left alone.
 */
const SWEEP_GRACE_MS = 10 * 60_000;

/** A lock file nobody holds in a folder left alone for a while, or none an hour after. */
async function isAbandoned(lockPath: string, mtime: Date | null): Promise<boolean> {
  if (mtime === null || Date.now() - mtime.getTime() < SWEEP_GRACE_MS) return false;
  const stat = await Deno.lstat(lockPath).catch(() => null);
  if (!stat) return Date.now() - mtime.getTime() > 3_600_000;
  if (!stat.isFile) return false;
  const file = await Deno.open(lockPath, { read: true, write: true }).catch(() => null);
  if (!file) return false;
  try {
    return await file.tryLock(true);
  } finally {
    file.close();
  }
}

/** Fresh databases `strata_scratch_<random>` on the server `url` names, dropped at the end. */
export function serverScratch(url: string): ScratchDatabases {
  if (!/^postgres(ql)?:\/\//i.test(url)) {
    throw new StrataError("USAGE", `--scratch needs a postgres:// URL, not "${redactUrl(url)}"`, {
      hint: "Without --scratch the proof runs on the embedded engine in memory",
    });
  }
  const made: Array<{ name: string; engine: Engine }> = [];
  let admin: Engine | null = null;
  return {
    // The server says for itself which extensions it has.
    admit: () => {},
    async open() {
      admin ??= await openEngine(url, SCRATCH_OPTIONS);
      const name = `strata_scratch_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
      await admin.exec(`CREATE DATABASE ${name}`);
      const target = new URL(url);
      target.pathname = `/${name}`;
      const engine = await openEngine(target.toString(), SCRATCH_OPTIONS);
      made.push({ name, engine });
      return engine;
    },
    async dispose() {
      for (const { name, engine } of made.splice(0)) {
        await engine.close().catch(() => {});
        await admin?.exec(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => {});
      }
      await admin?.close();
      admin = null;
    },
  };
}

export function scratchDatabases(scratchUrl: string | undefined): ScratchDatabases {
  return scratchUrl ? serverScratch(scratchUrl) : embeddedScratch();
}
