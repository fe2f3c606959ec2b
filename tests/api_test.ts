/**
 * strata from code (mod.ts): every function returns what the CLI's --json
 * prints for the same state and throws the StrataError whose code the CLI
 * reports; the library prints nothing, reads no environment or strata.json
 * unless asked, and loads no heavy module on import. The README's examples
 * are the files in examples/, run here.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  apply,
  check,
  downgrade,
  drift,
  EXIT_CODES,
  lint,
  type Options,
  status,
  StrataError,
  upgrade,
  verify,
  VERSION,
} from "../mod.ts";
import {
  copyExamples,
  dump,
  embeddedTest,
  queryDb,
  rejection,
  scratchDatabase,
  scratchDir,
  serverDirTest,
  strata,
} from "./helpers.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const CONFIG = join(ROOT, "deno.json");
const REVISIONS = 13;
const LAST = "20240416_1500_points_ledger_user_index";

/** What differs between two runs of the same work: timings. */
function untimed(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(untimed);
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value).filter(([key]) => key !== "ms").map(([key, v]) => [key, untimed(v)]),
    );
  }
  return value;
}

/** The same work on a twin database: timings and the database's name differ. */
function twin(value: unknown): unknown {
  return { ...(untimed(value) as object), database: "(twin)" };
}

async function cli(cwd: string, args: string[]): Promise<{ code: number; doc: unknown }> {
  const r = await strata([...args, "--json"], { cwd });
  try {
    return { code: r.code, doc: JSON.parse(r.stdout) };
  } catch {
    assert.fail(`not one JSON document:\n${dump(r)}`);
  }
}

/** The exit code the CLI gives a returned document. */
function exitCodeOf(doc: { ok: boolean; command: string }): number {
  if (doc.ok) return 0;
  return doc.command === "verify" ? 1 : 3;
}

/**
 * The API call and the CLI on the same state give the same document (and
 * exit code), or the same error code and message.
 */
async function same(
  call: () => Promise<{ ok: boolean; command: string }>,
  cwd: string,
  args: string[],
  normalize: (doc: unknown) => unknown = (doc) => doc,
): Promise<unknown> {
  let result: { ok: boolean; command: string } | undefined;
  let error: StrataError | undefined;
  try {
    result = await call();
  } catch (thrown) {
    assert.ok(thrown instanceof StrataError, `expected a StrataError, got ${thrown}`);
    error = thrown;
  }
  const run = await cli(cwd, args);
  if (error) {
    const doc = run.doc as { ok: boolean; error: { code: string; message: string } };
    assert.equal(doc.ok, false);
    assert.equal(doc.error.code, error.code);
    assert.equal(doc.error.message, error.message);
    assert.equal(run.code, EXIT_CODES[error.code]);
    return error;
  }
  assert.deepEqual(normalize(result), normalize(run.doc));
  assert.equal(run.code, exitCodeOf(result!));
  return result;
}

/**
 * status → apply → status/check → downgrade → check → verify → drift → lint,
 * through the API on `db` and the CLI on `db` (read-only steps) or on its
 * `twin` (steps that change the database).
 */
async function walk(
  cwd: string,
  db: string,
  twinDb: string,
  outOfBand?: () => Promise<void>,
): Promise<void> {
  const dir = await copyExamples(cwd);
  const options: Options = { database: db, dir };
  const flags = (database: string) => ["--database", database, "--dir", dir];

  // Before anything: whatever status says about a new database, both say it.
  await same(() => status(options), cwd, ["status", ...flags(db)]);

  const applied = await apply(options);
  assert.equal(applied.steps.length, REVISIONS);
  assert.deepEqual(applied.steps[0].direction, "up");
  const applyRun = await cli(cwd, ["apply", ...flags(twinDb)]);
  assert.equal(applyRun.code, 0);
  assert.deepEqual(twin(applied), twin(applyRun.doc));

  const after = await same(() => status(options), cwd, ["status", ...flags(db)]);
  assert.equal((after as { upToDate: boolean }).upToDate, true);
  const checked = await check(options);
  assert.equal(checked.ok, true);
  await same(() => check(options), cwd, ["check", ...flags(db)]);

  // Nothing left: an empty run, not an error.
  assert.deepEqual((await upgrade(options)).steps, []);

  const down = await downgrade({ ...options, target: "-1" });
  assert.deepEqual(down.steps.map((s) => [s.revision, s.direction]), [[LAST, "down"]]);
  const downRun = await cli(cwd, ["downgrade", "-1", ...flags(twinDb)]);
  assert.deepEqual(twin(down), twin(downRun.doc));

  // check's exit 3 is a result.
  const behind = await check(options);
  assert.equal(behind.ok, false);
  assert.equal(behind.upToDate, false);
  assert.deepEqual(behind.pending, [LAST]);
  await same(() => check(options), cwd, ["check", ...flags(db)]);

  const dry = await apply({ ...options, dryRun: true });
  assert.deepEqual(dry.steps, [LAST]);
  await same(() => apply({ ...options, dryRun: true }), cwd, ["apply", "--dry-run", ...flags(db)]);

  const proof = await same(() => verify({ dir }), cwd, ["verify", "--dir", dir], untimed);
  assert.equal((proof as { ok: boolean }).ok, true);

  const drifted = await same(() => drift(options), cwd, ["drift", ...flags(db)]);
  assert.equal((drifted as { drifted: boolean }).drifted, false);
  if (outOfBand) {
    // A change made out of band: drift's exit 3 is a result with ok false, in both.
    await outOfBand();
    const found = await same(() => drift(options), cwd, ["drift", ...flags(db)]);
    assert.equal((found as { ok: boolean }).ok, false);
    const added = (found as { added: Array<{ name: string }> }).added.map((o) => o.name);
    assert.ok(added.includes("public.stray"), added.join(", "));
  }

  const linted = await same(() => lint({ dir }), cwd, ["lint", "--dir", dir]);
  assert.equal((linted as { command: string }).command, "lint");
  // The examples lint clean; a revision with a lock warning fails only with failOn warning.
  const warned = join(cwd, "warned");
  await Deno.mkdir(warned);
  await Deno.writeTextFile(
    join(warned, "20240101_0000_index.sql"),
    "-- up\nCREATE INDEX users_name_idx ON users (name);\n-- down\nDROP INDEX users_name_idx;\n",
  );
  const lenient = await same(() => lint({ dir: warned }), cwd, ["lint", "--dir", warned]);
  assert.equal((lenient as { ok: boolean }).ok, true);
  const strictLint = await same(
    () => lint({ dir: warned, failOn: "warning" }),
    cwd,
    ["lint", "--fail-on", "warning", "--dir", warned],
  );
  assert.equal((strictLint as { ok: boolean }).ok, false);

  // Errors: the same code and message as the CLI's.
  const usage = await same(
    () => downgrade({ ...options } as never),
    cwd,
    ["downgrade", ...flags(db)],
  );
  assert.equal((usage as StrataError).code, "USAGE");
  const unknown = await same(
    () => upgrade({ ...options, target: "nosuchrevision" }),
    cwd,
    ["upgrade", "nosuchrevision", ...flags(db)],
  );
  assert.ok(unknown instanceof StrataError);
  const duration = await same(
    () => status({ ...options, lockTimeout: "soon" }),
    cwd,
    ["status", "--lock-timeout", "soon", ...flags(db)],
  );
  assert.equal((duration as StrataError).code, "USAGE");

  // An applied file edited: INTEGRITY, exit 5, and nothing runs.
  const first = join(dir, "01_foundation", "20240105_0900_initial_users.sql");
  await Deno.writeTextFile(first, (await Deno.readTextFile(first)) + "\n-- edited\n");
  const integrity = await same(() => apply(options), cwd, ["apply", ...flags(db)]);
  assert.equal((integrity as StrataError).code, "INTEGRITY");
  assert.equal((await status(options)).pending.length, 1);
}

embeddedTest("the API gives what the CLI's --json prints, on the embedded engine", async (dir) => {
  await walk(dir, `pglite:${join(dir, "api-db")}`, `pglite:${join(dir, "twin-db")}`);
});

serverDirTest("the API gives what the CLI's --json prints, on a server", async (dir, url) => {
  const twinDb = await scratchDatabase();
  try {
    await walk(
      dir,
      url,
      twinDb.url,
      () => queryDb(url, "CREATE TABLE stray (id int)").then(() => {}),
    );
  } finally {
    await twinDb.drop();
  }
});

embeddedTest("pglite:memory: apply and status give what the CLI prints", async (dir) => {
  const migrations = await copyExamples(dir);
  const options = { database: "pglite:memory", dir: migrations };
  await same(() => status(options), dir, [
    "status",
    "--database",
    "pglite:memory",
    "--dir",
    migrations,
  ]);
  const applied = await same(
    () => apply(options),
    dir,
    ["apply", "--database", "pglite:memory", "--dir", migrations],
    untimed,
  );
  assert.equal((applied as { steps: unknown[] }).steps.length, REVISIONS);
});

embeddedTest("an abort signal stops after the current revision", async (dir) => {
  const migrations = await copyExamples(dir);
  const options = { database: `pglite:${join(dir, "db")}`, dir: migrations };
  const controller = new AbortController();
  const seen: number[] = [];
  const error = await rejection(apply({
    ...options,
    signal: controller.signal,
    onProgress: (done) => {
      seen.push(done);
      controller.abort();
    },
  }));
  assert.equal(error.code, "INTERRUPTED");
  assert.deepEqual(seen, [1]);
  assert.equal((await status(options)).applied, 1);
  // The next call is not interrupted by the last one's signal.
  assert.equal((await apply(options)).steps.length, REVISIONS - 1);
  const already = await rejection(status({ ...options, signal: AbortSignal.abort() }));
  assert.equal(already.code, "INTERRUPTED");
});

embeddedTest("log receives the lines the CLI prints, uncoloured", async (dir) => {
  const migrations = await copyExamples(dir);
  const lines: string[] = [];
  await apply({
    database: `pglite:${join(dir, "db")}`,
    dir: migrations,
    log: ({ level, text }) => lines.push(`${level} ${text}`),
  });
  assert.equal(lines.filter((line) => line.startsWith("info ↑ ")).length, REVISIONS);
  assert.ok(lines.every((line) => !line.includes("\x1b[")), "no colour codes");
});

/** Run a script that imports the package by name, in `cwd`, with a clean environment. */
async function script(
  cwd: string,
  name: string,
  text: string,
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const path = join(cwd, name);
  await Deno.writeTextFile(path, text);
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", "--config", CONFIG, path],
    cwd,
    env: { PATH: Deno.env.get("PATH") ?? "", HOME: Deno.env.get("HOME") ?? "", ...env },
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return { code, stdout: decoder.decode(stdout), stderr: decoder.decode(stderr) };
}

embeddedTest(
  "the library prints nothing and reads env and strata.json only when asked",
  async (dir) => {
    await copyExamples(dir);
    await Deno.writeTextFile(
      join(dir, "strata.json"),
      JSON.stringify({ database: "pglite:memory", dir: "migrations", table: "from_file" }),
    );
    const r = await script(
      dir,
      "probe.ts",
      `import { apply, lint, status, StrataError, verify } from "@strata/strata";
const seen = [];
try {
  await status({ dir: "migrations" });
  seen.push("no error");
} catch (error) {
  seen.push(error instanceof StrataError ? error.code : String(error));
}
seen.push((await status({ dir: "migrations", env: Deno.env.toObject() })).source);
const fromFile = await status({ configFile: "strata.json" });
seen.push(fromFile.database, fromFile.dir);
seen.push((await apply({ database: "pglite:memory", dir: "migrations", verbose: true })).steps.length);
seen.push((await verify({ dir: "migrations" })).ok, (await lint({ dir: "migrations" })).ok);
console.log(JSON.stringify(seen));
`,
      { DATABASE_URL: "pglite:memory", NO_COLOR: "1" },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, "");
    assert.equal(
      r.stdout,
      JSON.stringify([
        "CONFIG",
        "DATABASE_URL",
        "pglite:memory",
        "migrations",
        REVISIONS,
        true,
        true,
      ]) +
        "\n",
    );
  },
);

Deno.test("importing mod.ts loads neither PGlite nor the SQL parser nor any command", async () => {
  const { stdout, success } = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", "--config", CONFIG, join(ROOT, "mod.ts")],
    stdout: "piped",
    stderr: "null",
  }).output();
  assert.ok(success);
  const info = JSON.parse(new TextDecoder().decode(stdout)) as {
    roots: string[];
    modules: Array<{
      specifier: string;
      dependencies?: Array<{ code?: { specifier: string }; isDynamic?: boolean }>;
    }>;
  };
  const bySpecifier = new Map(info.modules.map((m) => [m.specifier, m]));
  const loaded = new Set<string>();
  const stack = [...info.roots];
  while (stack.length) {
    const specifier = stack.pop()!;
    if (loaded.has(specifier)) continue;
    loaded.add(specifier);
    for (const dep of bySpecifier.get(specifier)?.dependencies ?? []) {
      if (dep.code && !dep.isDynamic) stack.push(dep.code.specifier);
    }
  }
  const names = [...loaded].map((s) => s.replace(/^file:\/\/.*?\/(lib\/|mod\.ts)/, "$1"));
  assert.ok(names.includes("lib/api.ts"), names.join(" "));
  for (const name of names) {
    assert.ok(!/pglite|libpg-query|postgres|lib\/commands\/|lib\/db\//.test(name), name);
  }
});

Deno.test("deno.json's version is strata's VERSION and its exports name mod.ts", async () => {
  const config = JSON.parse(await Deno.readTextFile(CONFIG));
  assert.equal(config.version, VERSION);
  assert.equal(config.exports["."], "./mod.ts");
});

/** The ```ts blocks of the README's "strata from code" section. */
async function readmeExamples(): Promise<string[]> {
  const readme = await Deno.readTextFile(join(ROOT, "README.md"));
  const start = readme.indexOf("\n## strata from code\n");
  assert.ok(start >= 0, 'README has a "strata from code" section');
  const end = readme.indexOf("\n## ", start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]);
}

Deno.test("the README's examples are examples/server.ts and examples/migrations_test.ts", async () => {
  const blocks = await readmeExamples();
  for (const file of ["server.ts", "migrations_test.ts"]) {
    const text = await Deno.readTextFile(join(ROOT, "examples", file));
    assert.ok(blocks.includes(text), `README shows examples/${file} as it is`);
  }
});

embeddedTest("README example: a Deno server migrates at boot, then serves", async (dir) => {
  await copyExamples(dir);
  const db = `pglite:${join(dir, "db")}`;
  for (const expected of [REVISIONS, 0]) {
    const child = new Deno.Command(Deno.execPath(), {
      // Not --quiet: that hides Deno.serve's "Listening on" line.
      args: ["run", "-A", "--config", CONFIG, join(ROOT, "examples", "server.ts")],
      cwd: dir,
      env: { PATH: Deno.env.get("PATH") ?? "", DATABASE_URL: db, PORT: "0" },
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    let stdout = "";
    let stderr = "";
    const drained = Promise.all([
      (async () => {
        for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
          stdout += chunk;
        }
      })(),
      (async () => {
        for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
          stderr += chunk;
        }
      })(),
    ]);
    let exited = false;
    const status = child.status.then((s) => {
      exited = true;
      return s;
    });
    const deadline = Date.now() + 120_000;
    while (!stderr.includes("Listening on")) {
      assert.ok(!exited && Date.now() < deadline, `server did not start:\n${stdout}\n${stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    child.kill("SIGTERM");
    await status;
    await drained;
    assert.ok(stdout.includes(`migrate: revisions applied: ${expected}`), stdout);
  }
});

embeddedTest("README example: a test of the migrations on pglite:memory passes", async (dir) => {
  await copyExamples(dir);
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["test", "-A", "--config", CONFIG, join(ROOT, "examples", "migrations_test.ts")],
    cwd: dir,
    env: { PATH: Deno.env.get("PATH") ?? "", NO_COLOR: "1" },
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const out = new TextDecoder().decode(stdout);
  assert.equal(code, 0, out + new TextDecoder().decode(stderr));
  assert.match(out, /3 passed \| 0 failed/);
});

Deno.test("the README example test fails when a down does not undo its up", async () => {
  const dir = await scratchDir();
  try {
    const migrations = await copyExamples(dir.path);
    const file = join(migrations, "01_foundation", "20240119_1400_user_avatar.sql");
    const text = await Deno.readTextFile(file);
    // The down keeps the column the up added.
    const edited = text.replace(/^ALTER TABLE users DROP COLUMN avatar_url;$/m, "");
    assert.notEqual(edited, text);
    await Deno.writeTextFile(file, edited);
    const { code } = await new Deno.Command(Deno.execPath(), {
      args: ["test", "-A", "--config", CONFIG, join(ROOT, "examples", "migrations_test.ts")],
      cwd: dir.path,
      env: { PATH: Deno.env.get("PATH") ?? "", NO_COLOR: "1" },
      clearEnv: true,
      stdout: "null",
      stderr: "null",
    }).output();
    assert.notEqual(code, 0);
  } finally {
    await dir.remove();
  }
});

serverDirTest(
  "a program without --allow-env gets a CONFIG error that names the permission",
  async (dir, url) => {
    await copyExamples(dir);
    const path = join(dir, "probe.ts");
    await Deno.writeTextFile(
      path,
      `import { status, StrataError } from "@strata/strata";
try {
  await status({ database: ${JSON.stringify(url)}, dir: "migrations" });
  console.log("no error");
} catch (error) {
  console.log(error instanceof StrataError ? error.code + " " + error.message : String(error));
}
`,
    );
    const { stdout } = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--quiet", "--allow-read", "--allow-net", "--config", CONFIG, path],
      cwd: dir,
      env: { PATH: Deno.env.get("PATH") ?? "" },
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const line = new TextDecoder().decode(stdout);
    assert.match(line, /^CONFIG Cannot open postgres:\/\/.*--allow-env/);
  },
);
