/**
 * `apply --require-no-drift` end to end on both engines: the gate passes on a
 * database that matches its applied revisions, and after a change made behind
 * strata's back it refuses with exit 3 and the differences, running nothing
 * (ledger and journal unchanged). Config `driftGate` and STRATA_DRIFT_GATE
 * turn it on too.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { openEngine } from "../lib/db/engine.ts";
import {
  copyExamples,
  dump,
  embeddedTest,
  expectExit,
  parseJson,
  queryDb,
  serverDirTest,
  strata,
} from "./helpers.ts";

const ENGINE_OPTIONS = {
  connectTimeoutMs: 10_000,
  statementTimeoutMs: 0,
  lockWaitMs: 0,
  lockTimeoutMs: 10_000,
  mustExist: true,
};

/** Rows of `text` on a server URL or a `pglite:` folder strata has closed. */
async function query<T = Record<string, unknown>>(db: string, text: string): Promise<T[]> {
  if (!db.startsWith("pglite:")) return await queryDb<T>(db, text);
  const engine = await openEngine(db, ENGINE_OPTIONS);
  try {
    return await engine.query<T>(text);
  } finally {
    await engine.close();
  }
}

const BOOKS = "SELECT (SELECT count(*)::int FROM strata_ledger) AS ledger, " +
  "(SELECT count(*)::int FROM strata_journal) AS journal";

/** The 10th of the 13 example revisions: three stay pending. */
const MIDWAY = "20240325_1000_review_points";

async function gate(dir: string, db: string): Promise<void> {
  await copyExamples(dir);
  await Deno.writeTextFile(join(dir, "strata.json"), JSON.stringify({ database: db }));
  expectExit(
    await strata(["upgrade", "20240318_1400_backfill_display_name"], { cwd: dir }),
    0,
    "up",
  );

  // Clean: the gate passes and the run goes on.
  const clean = await strata(["upgrade", MIDWAY, "--require-no-drift"], { cwd: dir });
  expectExit(clean, 0, "upgrade --require-no-drift on a clean database");
  assert.match(clean.stdout, /^Drift gate: .* matches its 9 applied revisions \(/m, dump(clean));
  assert.match(clean.stdout, /Applied 1 revision/, dump(clean));

  // Behind strata's back: a column added.
  await query(db, "ALTER TABLE users ADD COLUMN nickname text");
  const before = await query(db, BOOKS);

  const refused = await strata(["apply", "--require-no-drift"], { cwd: dir });
  expectExit(refused, 3, "apply --require-no-drift after a change by hand");
  assert.match(refused.stdout, /^Drift gate: .* differs from its 10 applied revisions$/m);
  assert.match(refused.stdout, /^\s+\+ column public\.users\.nickname: text$/m, dump(refused));
  assert.match(refused.stderr, /Cannot upgrade: the database differs .* in 1 object; nothing/);
  assert.doesNotMatch(refused.stdout, /applying/, "nothing ran");
  assert.deepEqual(await query(db, BOOKS), before, "ledger and journal unchanged");

  // The same from the environment and from strata.json, with --json.
  const viaEnv = await strata(["apply", "--json"], {
    cwd: dir,
    env: { STRATA_DRIFT_GATE: "1" },
  });
  expectExit(viaEnv, 3, "STRATA_DRIFT_GATE=1");
  const doc = parseJson(viaEnv, "apply --json refused by the gate");
  assert.equal(doc.error.code, "DRIFT");
  assert.deepEqual(doc.error.added.map((o: { name: string }) => o.name), ["public.users.nickname"]);
  await Deno.writeTextFile(
    join(dir, "strata.json"),
    JSON.stringify({ database: db, driftGate: true }),
  );
  expectExit(await strata(["apply"], { cwd: dir }), 3, "driftGate in strata.json");
  assert.deepEqual(await query(db, BOOKS), before, "still unchanged");
  assert.equal(
    (await query<{ n: number }>(db, "SELECT count(*)::int AS n FROM strata_ledger"))[0].n,
    10,
  );

  // The flag's absence does not beat the file; the environment's 0 does.
  expectExit(
    await strata(["apply"], { cwd: dir, env: { STRATA_DRIFT_GATE: "0" } }),
    0,
    "STRATA_DRIFT_GATE=0 over driftGate in the file",
  );
  assert.equal(
    (await query<{ n: number }>(db, "SELECT count(*)::int AS n FROM strata_ledger"))[0].n,
    13,
  );
}

serverDirTest("apply --require-no-drift: passes when clean, refuses drift with exit 3", gate);
embeddedTest("apply --require-no-drift: passes when clean, refuses drift with exit 3", gate);
