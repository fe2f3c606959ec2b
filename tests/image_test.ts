/**
 * The pristine image new embedded databases start from: made by the pinned
 * PGlite, used for new folders, `pglite:memory` and the proofs' scratch
 * databases, refused when it does not match the engine, loaded only on the
 * embedded path, and the scratch folders gone afterwards.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type EngineOptions, openEngine } from "../lib/db/engine.ts";
import { LOCK_FILE } from "../lib/db/embedded.ts";
import { assertImageMatches, imageTar, loadImage } from "../lib/db/image.ts";
import { readTar } from "../lib/db/tar.ts";
import { SCRATCH_PREFIX } from "../lib/schema/scratch.ts";
import {
  dump,
  embeddedTest,
  expectExit,
  parseJson,
  rejection,
  scratchDir,
  strata,
  writeMigration,
} from "./helpers.ts";

const OPTIONS: EngineOptions = {
  connectTimeoutMs: 5000,
  statementTimeoutMs: 0,
  lockWaitMs: 0,
  lockTimeoutMs: 5000,
};
const options = { sanitizeOps: false, sanitizeResources: false };
const ROOT = new URL("../", import.meta.url);

Deno.test("image: made by the PGlite version deno.json pins", async () => {
  const config = JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT)));
  const pinned = /@electric-sql\/pglite@([^/]+)$/.exec(config.imports["@electric-sql/pglite"]);
  assert.ok(pinned, "deno.json pins @electric-sql/pglite");
  const image = await loadImage();
  assert.equal(
    image.PGLITE_VERSION,
    pinned[1],
    "the image was made by another PGlite: run `deno task image`",
  );
  assert.match(
    image.SERVER_VERSION,
    new RegExp(`\\(PGlite ${pinned[1].replaceAll(".", "\\.")}\\)`),
  );
});

Deno.test("image: its bytes are the ones it was made with, PG_VERSION last", async () => {
  const image = await loadImage();
  const gz = Uint8Array.from(atob(image.IMAGE), (c) => c.charCodeAt(0));
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", gz));
  assert.equal([...digest].map((b) => b.toString(16).padStart(2, "0")).join(""), image.SHA256);
  const entries = readTar(await imageTar());
  assert.equal(entries.at(-1)?.path, "PG_VERSION");
  for (const path of ["base", "global", "pg_wal", "postgresql.conf"]) {
    assert.ok(entries.some((e) => e.path === path), path);
  }
});

Deno.test("image: an engine of another version is a clear error", options, async () => {
  const engine = await openEngine("pglite:memory", OPTIONS);
  try {
    const [{ version }] = await engine.query<{ version: string }>("SELECT version()");
    await assertImageMatches(version); // the engine that runs is the one the image was made by
  } finally {
    await engine.close();
  }
  const error = await rejection(assertImageMatches("PostgreSQL 99.0 (PGlite 9.9.9) on wasm32"));
  assert.equal(error.code, "CONNECT");
  assert.match(error.message, /made by PGlite [\d.]+, but this strata runs/);
  assert.match(error.hint ?? "", /deno task image/);
});

/** The image's files are written 0600; PGlite's initdb writes them 0666. */
async function madeFromImage(folder: string): Promise<boolean> {
  return ((await Deno.stat(join(folder, "PG_VERSION"))).mode! & 0o777) === 0o600;
}

embeddedTest("image: a new folder is unpacked from the image and works", async (dir) => {
  const folder = join(dir, "db");
  const engine = await openEngine(`pglite:${folder}`, OPTIONS);
  try {
    await engine.exec("CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1)");
  } finally {
    await engine.close();
  }
  assert.ok(await madeFromImage(folder), "PG_VERSION was written from the image");
  const again = await openEngine(`pglite:${folder}`, { ...OPTIONS, mustExist: true });
  try {
    assert.deepEqual(await again.query("SELECT id FROM t"), [{ id: 1 }]);
  } finally {
    await again.close();
  }
});

embeddedTest("image: an unpacking cut short is finished by the next open", async (dir) => {
  const folder = join(dir, "db");
  // What a run killed before PG_VERSION leaves: some of the image, no PG_VERSION.
  await Deno.mkdir(join(folder, "base", "1"), { recursive: true });
  await Deno.writeTextFile(join(folder, "base", "1", "PG_VERSION"), "garbage");
  await Deno.writeTextFile(join(folder, LOCK_FILE), "");
  const engine = await openEngine(`pglite:${folder}`, OPTIONS);
  try {
    assert.deepEqual(await engine.query("SELECT 1 AS one"), [{ one: 1 }]);
  } finally {
    await engine.close();
  }
  assert.equal((await Deno.readTextFile(join(folder, "base", "1", "PG_VERSION"))).trim(), "18");
});

embeddedTest("image: a folder holding other files is refused and left alone", async (dir) => {
  const folder = join(dir, "db");
  await Deno.mkdir(folder);
  await Deno.writeTextFile(join(folder, "notes.txt"), "mine");
  const error = await rejection(openEngine(`pglite:${folder}`, OPTIONS));
  assert.equal(error.code, "CONNECT");
  assert.match(error.message, /holds other files \("notes\.txt"\)/);
  const left = [];
  for await (const entry of Deno.readDir(folder)) left.push(entry.name);
  assert.deepEqual(left.sort(), [LOCK_FILE, "notes.txt"].sort());
});

Deno.test("image: pglite:memory starts from the image and writes no file", options, async () => {
  const dir = await scratchDir();
  try {
    await writeMigration(
      join(dir.path, "migrations"),
      "20240101_0000_a",
      [
        "-- up",
        "CREATE EXTENSION citext;",
        "CREATE TABLE a (name citext);",
        "-- down",
        "DROP TABLE a;",
        "DROP EXTENSION citext;",
        "",
      ].join("\n"),
    );
    const r = await strata(["apply", "--json"], {
      cwd: dir.path,
      env: { DATABASE_URL: "pglite:memory" },
    });
    expectExit(r, 0, "apply on pglite:memory");
    assert.equal(parseJson(r, "apply").applied?.length ?? 1, 1, dump(r));
    const left = [];
    for await (const entry of Deno.readDir(dir.path)) left.push(entry.name);
    assert.deepEqual(left, ["migrations"]);
  } finally {
    await dir.remove();
  }
});

/** Every module `main.ts` reaches without a dynamic import. */
async function staticModules(): Promise<Set<string>> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", fileURLToPath(new URL("main.ts", ROOT))],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const info = JSON.parse(new TextDecoder().decode(out.stdout));
  const graph = new Map<string, Array<{ code?: { specifier: string }; isDynamic?: boolean }>>();
  for (const m of info.modules) graph.set(m.specifier, m.dependencies ?? []);
  const all = new Set<string>(info.modules.map((m: { specifier: string }) => m.specifier));
  const seen = new Set<string>();
  const walk = (specifier: string) => {
    if (seen.has(specifier)) return;
    seen.add(specifier);
    for (const dep of graph.get(specifier) ?? []) {
      if (dep.code && !dep.isDynamic) walk(dep.code.specifier);
    }
  };
  walk(info.roots[0]);
  seen.add("(all)");
  for (const s of all) if (!seen.has(s)) seen.add(`dynamic:${s}`);
  return seen;
}

Deno.test("image: only the embedded path loads PGlite and the image", async () => {
  const modules = await staticModules();
  const statically = [...modules].filter((s) => !s.startsWith("dynamic:"));
  const dynamically = [...modules].filter((s) => s.startsWith("dynamic:"));
  assert.ok(statically.some((s) => s.endsWith("/lib/db/engine.ts")), "the walk reached the seam");
  for (const s of statically) {
    assert.doesNotMatch(s, /pristine_image|lib\/db\/image\.ts|lib\/db\/embedded\.ts|pglite/, s);
  }
  // In the graph, so `deno compile` embeds it; reached only by a dynamic import.
  assert.ok(dynamically.some((s) => s.endsWith("/lib/db/pristine_image.js")));
  assert.ok(dynamically.some((s) => s.includes("@electric-sql/pglite")));
});

/** Scratch folders in `tmp`. */
async function scratchFolders(tmp: string): Promise<string[]> {
  const found = [];
  for await (const entry of Deno.readDir(tmp)) {
    if (entry.name.startsWith(SCRATCH_PREFIX)) found.push(entry.name);
  }
  return found.sort();
}

Deno.test("image: proofs leave no scratch folder and sweep a dead run's", options, async () => {
  const dir = await scratchDir();
  const tmp = join(dir.path, "tmp");
  await Deno.mkdir(tmp);
  // A dead run's folder (its lock file held by nobody) and a live one's (held here).
  const dead = join(tmp, `${SCRATCH_PREFIX}dead`);
  const live = join(tmp, `${SCRATCH_PREFIX}live`);
  await Deno.mkdir(join(dead, "base"), { recursive: true });
  await Deno.writeTextFile(join(dead, LOCK_FILE), "{}");
  const twoHoursAgo = new Date(Date.now() - 2 * 3_600_000);
  await Deno.utime(dead, twoHoursAgo, twoHoursAgo);
  // A run that has just made its folder and not yet locked it: too young to sweep.
  const starting = join(tmp, `${SCRATCH_PREFIX}starting`);
  await Deno.mkdir(starting);
  await Deno.writeTextFile(join(starting, LOCK_FILE), "");
  await Deno.mkdir(live);
  const held = await Deno.open(join(live, LOCK_FILE), { read: true, write: true, create: true });
  try {
    assert.ok(await held.tryLock(true));
    const migrations = join(dir.path, "migrations");
    await writeMigration(
      migrations,
      "20240101_0000_a",
      "-- up\nCREATE TABLE a (id int);\n-- down\nDROP TABLE a;\n",
    );
    await writeMigration(
      migrations,
      "20240101_0001_b",
      "-- up\nCREATE TABLE b (id int);\n-- down\nDROP TABLE bb;\n",
    );
    const env = { TMPDIR: tmp };
    const verify = await strata(["verify"], { cwd: dir.path, env });
    assert.notEqual(verify.code, 0, dump(verify)); // b's down has a typo
    assert.match(verify.stdout + verify.stderr, /20240101_0001_b/);
    assert.deepEqual(await scratchFolders(tmp), [
      `${SCRATCH_PREFIX}live`,
      `${SCRATCH_PREFIX}starting`,
    ]);
    const clean = await strata(["clean", "1", "--dry-run"], { cwd: dir.path, env });
    assert.ok(clean.code === 0 || clean.code === 1, dump(clean));
    assert.deepEqual(await scratchFolders(tmp), [
      `${SCRATCH_PREFIX}live`,
      `${SCRATCH_PREFIX}starting`,
    ]);
  } finally {
    held.close();
    await dir.remove();
  }
});
