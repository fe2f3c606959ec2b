/**
 * Throwaway databases for the proofs (verify, clean, autogenerate, drift):
 * in memory on the embedded engine by default, or fresh databases on a
 * scratch server that are dropped afterwards. Nothing here touches the
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
  /** A new, empty database. */
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

/**
 * In-memory PGlite. initdb costs about two seconds; every database after the
 * first is loaded from the first one's pristine image instead, in a third
 * of that.
 */
export function embeddedScratch(): ScratchDatabases {
  let image: Blob | null = null;
  const open: Engine[] = [];
  return {
    admit: assertEmbeddedExtensions,
    async open() {
      const [{ PGlite }, { startParams, wrapPglite }] = await Promise.all([
        import("@electric-sql/pglite"),
        import("../db/embedded.ts"),
      ]);
      const options = { startParams: startParams(PGlite) };
      const db = await PGlite.create(image ? { ...options, loadDataDir: image } : options);
      if (!image) image = await db.dumpDataDir("none");
      const engine = wrapPglite(db, "pglite:memory", SCRATCH_OPTIONS);
      open.push(engine);
      return engine;
    },
    async dispose() {
      await Promise.allSettled(open.splice(0).map((engine) => engine.close()));
    },
  };
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
