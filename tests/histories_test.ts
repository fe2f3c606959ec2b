/**
 * The whole routine on histories shaped like real ones (tests/fixtures/histories.ts),
 * through the real command line, on both engines: apply, a no-op apply,
 * downgrade and re-apply, verify (every revision checked), drift, lint, and
 * clean, whose folder is built fresh and compared with the original database.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { type Engine, openEngine } from "../lib/db/engine.ts";
import { diffSnapshots, formatDiff, isEmpty } from "../lib/schema/diff.ts";
import { snapshot } from "../lib/schema/snapshot.ts";
import {
  graphHistory,
  type History,
  revisionIds,
  schemaHistory,
  typoHistory,
  writeHistory,
} from "./fixtures/histories.ts";
import {
  type CliResult,
  dump,
  embeddedTest,
  expectExit,
  parseJson,
  scratchDatabase,
  SERVER_URL,
  serverDirTest,
  strata,
} from "./helpers.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

const ENGINE_OPTIONS = {
  connectTimeoutMs: 30_000,
  statementTimeoutMs: 0,
  lockWaitMs: 0,
  lockTimeoutMs: 60_000,
};

const EXCLUDE = {
  exclude: [{ schema: null, table: "strata_ledger" }, { schema: null, table: "strata_journal" }],
};

async function withDb<T>(url: string, fn: (engine: Engine) => Promise<T>): Promise<T> {
  const engine = await openEngine(url, ENGINE_OPTIONS);
  try {
    return await fn(engine);
  } finally {
    await engine.close();
  }
}

/**
 * What the schema history needs before any migration: `app` first on the
 * database's search path. PGlite ignores per-database settings, so there the
 * history runs in `public`.
 */
async function prepare(history: History, url: string): Promise<void> {
  if (history.name !== "schema" || url.startsWith("pglite:")) return;
  await withDb(url, (engine) =>
    engine.exec(`CREATE SCHEMA app;
DO $$ BEGIN
  EXECUTE format('ALTER DATABASE %I SET search_path = app, public', current_database());
END $$;`));
}

interface Target {
  /** The database the routine runs on. */
  db: string;
  /** A second, empty database for the fresh build of the cleaned folder. */
  fresh: string;
  /** `--scratch` for the proofs, or none for the embedded engine. */
  scratch: string[];
}

async function routine(history: History, dir: string, target: Target): Promise<void> {
  const ids = revisionIds(history);
  const migrations = join(dir, "migrations");
  await writeHistory(migrations, history);
  await prepare(history, target.db);
  await prepare(history, target.fresh);
  const heads = history.heads > 1 ? ["--heads"] : [];
  const run = (folder: string, db: string, ...args: string[]): Promise<CliResult> =>
    strata([...args, "--dir", folder, "--database", db], { cwd: dir });
  const json = async (result: Promise<CliResult>, code: number, what: string): Promise<Json> => {
    const r = await result;
    expectExit(r, code, `${history.name}: ${what}`);
    return parseJson(r, what);
  };

  // apply, then a no-op apply
  const applied = await json(run(migrations, target.db, "apply", "--json", ...heads), 0, "apply");
  assert.equal(applied.steps.length, ids.length, `${history.name}: every revision applied`);
  const again = await json(run(migrations, target.db, "apply", "--json", ...heads), 0, "no-op");
  assert.equal(again.steps.length, 0, `${history.name}: nothing to do\n${JSON.stringify(again)}`);
  expectExit(await run(migrations, target.db, "check", ...heads), 0, `${history.name}: check`);

  // downgrade and re-apply
  const down = await json(
    run(migrations, target.db, "downgrade", history.downgradeTo, "--json"),
    0,
    "downgrade",
  );
  assert.ok(down.steps.length > 0, `${history.name}: the downgrade ran revisions`);
  const reapplied = await json(
    run(migrations, target.db, "apply", "--json", ...heads),
    0,
    "re-apply",
  );
  assert.equal(reapplied.steps.length, down.steps.length, `${history.name}: re-applied`);

  // verify: every revision checked, the broken downs reported
  const verified = await json(
    run(migrations, target.db, "verify", "--json", ...target.scratch),
    history.brokenDowns.length > 0 ? 1 : 0,
    "verify",
  );
  assert.equal(verified.counts.revisions, ids.length, JSON.stringify(verified.counts));
  assert.deepEqual(verified.unchecked, [], `${history.name}: nothing left unchecked`);
  assert.equal(
    verified.counts.verified,
    ids.length - history.brokenDowns.length,
    JSON.stringify(verified.counts),
  );
  const failing = verified.revisions
    .filter((step: Json) => step.result !== "ok" && step.result !== "irreversible")
    .map((step: Json) => step.revision);
  assert.deepEqual(failing, history.brokenDowns, JSON.stringify(verified.revisions, null, 1));

  // drift: none
  const drift = await run(migrations, target.db, "drift", ...target.scratch);
  expectExit(drift, 0, `${history.name}: drift`);

  // lint: no error-level finding
  const lint = await run(migrations, target.db, "lint");
  expectExit(lint, 0, `${history.name}: lint`);

  // clean a copy, build it fresh, compare with the original database
  const cleaned = join(dir, "cleaned");
  await writeHistory(cleaned, history);
  const clean = await json(
    run(cleaned, target.db, "clean", String(history.cleanKeep), "--json", ...target.scratch),
    0,
    "clean",
  );
  assert.ok(clean.squashed.length > 1, JSON.stringify(clean));
  const built = await json(run(cleaned, target.fresh, "apply", "--json", ...heads), 0, "fresh");
  assert.equal(
    built.steps.length,
    history.cleanKeep + 1,
    dump(await run(cleaned, target.fresh, "history")),
  );
  await withDb(target.db, async (old) => {
    await withDb(target.fresh, async (now) => {
      const diff = diffSnapshots(await snapshot(old, EXCLUDE), await snapshot(now, EXCLUDE));
      assert.ok(isEmpty(diff), `${history.name}: ${formatDiff(diff).join("\n")}`);
    });
  });
  // The original database adopts the baseline and is up to date.
  const adopted = await json(run(cleaned, target.db, "apply", "--json", ...heads), 0, "adopt");
  assert.equal(adopted.steps.length, 0, JSON.stringify(adopted));
  expectExit(
    await run(cleaned, target.db, "check", ...heads),
    0,
    `${history.name}: check after clean`,
  );
}

for (const make of [graphHistory, schemaHistory, typoHistory]) {
  const history = make();
  embeddedTest(`history "${history.name}": the whole routine`, async (dir, db) => {
    await routine(history, dir, { db, fresh: `pglite:${join(dir, "fresh")}`, scratch: [] });
  });
  serverDirTest(`history "${history.name}": the whole routine`, async (dir, url) => {
    const fresh = await scratchDatabase();
    try {
      await routine(history, dir, {
        db: url,
        fresh: fresh.url,
        scratch: ["--scratch", SERVER_URL],
      });
    } finally {
      await fresh.drop();
    }
  });
}
