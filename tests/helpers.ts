/**
 * Shared test helpers: the real server (a scratch database per test), the
 * real CLI as a subprocess, scratch folders. No mocks: tests run against the
 * local PostgreSQL and the embedded engine.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { StrataError } from "../lib/errors.ts";
import { join } from "node:path";
import { fileURLToPath as fromFileUrl } from "node:url";

export const SERVER_URL = Deno.env.get("STRATA_TEST_DATABASE_URL") ??
  "postgres://postgres@127.0.0.1:5432/postgres";
const REQUIRE_SERVER = Deno.env.get("STRATA_REQUIRE_SERVER") === "1";
export const MAIN = fromFileUrl(new URL("../main.ts", import.meta.url));
export const EXAMPLES = fromFileUrl(new URL("../migrations", import.meta.url));

async function probeServer(): Promise<boolean> {
  const sql = postgres(SERVER_URL, { max: 1, connect_timeout: 3, onnotice: () => {} });
  try {
    await sql`select 1`;
    return true;
  } catch {
    return false;
  } finally {
    await sql.end({ timeout: 1 }).catch(() => {});
  }
}

export const serverReachable = await probeServer();
if (!serverReachable) {
  console.warn(
    `\n*** PostgreSQL at ${SERVER_URL} is not reachable: server tests are skipped` +
      (REQUIRE_SERVER ? " — but STRATA_REQUIRE_SERVER=1, so they fail ***\n" : " ***\n"),
  );
}

/**
 * A test that needs the server. Without one it is skipped with a visible
 * message, unless STRATA_REQUIRE_SERVER=1 (CI), where it fails.
 */
export function serverTest(name: string, fn: (url: string) => Promise<void>): void {
  Deno.test({
    name: `[server] ${name}`,
    ignore: !serverReachable && !REQUIRE_SERVER,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      if (!serverReachable) {
        throw new Error(`PostgreSQL at ${SERVER_URL} is required (STRATA_REQUIRE_SERVER=1)`);
      }
      const db = await scratchDatabase();
      try {
        await fn(db.url);
      } finally {
        await db.drop();
      }
    },
  });
}

/** A fresh database with a random name; `drop` removes it (terminating leftover sessions). */
export async function scratchDatabase(): Promise<
  { url: string; name: string; drop: () => Promise<void> }
> {
  const name = `strata_test_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
  const admin = postgres(SERVER_URL, { max: 1, onnotice: () => {} });
  await admin.unsafe(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(SERVER_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    async drop() {
      const sql = postgres(SERVER_URL, { max: 1, onnotice: () => {} });
      try {
        await sql.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await sql.end();
      }
    },
  };
}

/** Run a query against a database URL and return its rows. */
export async function queryDb<T = Record<string, unknown>>(
  url: string,
  text: string,
  params: unknown[] = [],
): Promise<T[]> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    return [...(await sql.unsafe(text, params as never[]))] as T[];
  } finally {
    await sql.end();
  }
}

/** A scratch folder, removed by the returned function. */
export async function scratchDir(): Promise<{ path: string; remove: () => Promise<void> }> {
  const path = await Deno.makeTempDir({ prefix: "strata-test-" });
  return { path, remove: () => Deno.remove(path, { recursive: true }).catch(() => {}) };
}

/** Copy the repository's example migrations into `dir/migrations`. */
export async function copyExamples(dir: string): Promise<string> {
  const target = join(dir, "migrations");
  await copyTree(EXAMPLES, target);
  return target;
}

async function copyTree(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const entry of Deno.readDir(from)) {
    if (entry.isDirectory) await copyTree(join(from, entry.name), join(to, entry.name));
    else await Deno.copyFile(join(from, entry.name), join(to, entry.name));
  }
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The environment a CLI subprocess starts from: nothing that configures strata. */
function baseEnv(): Record<string, string> {
  // Runners that meet on one lock wait for one another: on a busy machine that may take
  // minutes, so the default lock timeout is a bound for a hang here (tests of exit 4 pass
  // their own --lock-timeout).
  const env: Record<string, string> = { NO_COLOR: "1", STRATA_LOCK_TIMEOUT: "600s" };
  for (const key of ["PATH", "HOME", "DENO_DIR", "TMPDIR"]) {
    const value = Deno.env.get(key);
    if (value) env[key] = value;
  }
  return env;
}

/** Run the real CLI (`deno run -A main.ts ...`) in `cwd`, with a clean environment plus `env`. */
export async function strata(
  args: string[],
  options: { cwd: string; env?: Record<string, string>; stdin?: string },
): Promise<CliResult> {
  const command = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", MAIN, ...args],
    cwd: options.cwd,
    env: { ...baseEnv(), ...options.env },
    clearEnv: true,
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  });
  const child = command.spawn();
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(options.stdin));
    await writer.close();
  }
  const { code, stdout, stderr } = await child.output();
  const decoder = new TextDecoder();
  return { code, stdout: decoder.decode(stdout), stderr: decoder.decode(stderr) };
}

/** Write a migration file `dir/<id>.sql` (folders created). */
export async function writeMigration(dir: string, id: string, text: string): Promise<string> {
  await Deno.mkdir(dir, { recursive: true });
  const path = join(dir, `${id}.sql`);
  await Deno.writeTextFile(path, text);
  return path;
}

/** A CLI subprocess we keep a handle on (to watch its output, kill it, wait for it). */
export function spawnStrata(args: string[], cwd: string, env: Record<string, string>) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", MAIN, ...args],
    cwd,
    env: { ...baseEnv(), ...env },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let stdout = "";
  let stderr = "";
  let exited = false;
  const drained = Promise.all([
    (async () => {
      for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) stdout += chunk;
    })(),
    (async () => {
      for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) stderr += chunk;
    })(),
  ]);
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  async function waitIn(stream: "stdout" | "stderr", text: string, timeoutMs: number) {
    const deadline = Date.now() + timeoutMs;
    while (!(stream === "stdout" ? stdout : stderr).includes(text)) {
      if (exited || Date.now() > deadline) {
        throw new Error(
          `waiting for "${text}" on ${stream} (exited: ${exited})\n--- stdout\n${stdout}\n--- stderr\n${stderr}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }
  return {
    pid: child.pid,
    kill: (signal: Deno.Signal) => child.kill(signal),
    waitForStdout: (text: string, timeoutMs: number) => waitIn("stdout", text, timeoutMs),
    waitForStderr: (text: string, timeoutMs: number) => waitIn("stderr", text, timeoutMs),
    async finish(): Promise<CliResult & { signal: Deno.Signal | null }> {
      const { code, signal } = await status;
      await drained;
      return { code, signal, stdout, stderr };
    },
  };
}

/** A test on the embedded engine in a scratch folder; `db` is `pglite:<scratch>/db`. */
export function embeddedTest(name: string, fn: (dir: string, db: string) => Promise<void>): void {
  Deno.test({
    name: `[embedded] ${name}`,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      const dir = await scratchDir();
      try {
        await fn(dir.path, `pglite:${join(dir.path, "db")}`);
      } finally {
        await dir.remove();
      }
    },
  });
}

/** A server test that also gets a scratch folder. */
export function serverDirTest(name: string, fn: (dir: string, url: string) => Promise<void>): void {
  serverTest(name, async (url) => {
    const dir = await scratchDir();
    try {
      await fn(dir.path, url);
    } finally {
      await dir.remove();
    }
  });
}

/** The StrataError `fn` throws; fails the test when it throws nothing or something else. */
export function errorOf(fn: () => unknown): StrataError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof StrataError, `expected a StrataError, got ${error}`);
    return error;
  }
  assert.fail("expected an error");
}

/** The StrataError `promise` rejects with; fails the test when it resolves or rejects otherwise. */
export async function rejection(promise: Promise<unknown>): Promise<StrataError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof StrataError, `expected a StrataError, got ${error}`);
    return error;
  }
  assert.fail("expected an error");
}

/** Poll `probe` until it returns a truthy value; fail after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T> | T,
  timeoutMs: number,
  everyMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/** The pid of the backend (other than ours) running a query that contains `fragment`. */
export async function waitForQuery(
  url: string,
  fragment: string,
  timeoutMs: number,
): Promise<number> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const rows = await sql.unsafe(
        `SELECT pid FROM pg_stat_activity
          WHERE datname = current_database() AND pid <> pg_backend_pid()
            AND state = 'active' AND position($1 in query) > 0`,
        [fragment],
      );
      if (rows.length > 0) return rows[0].pid as number;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`no session ran a query containing "${fragment}" within ${timeoutMs}ms`);
  } finally {
    await sql.end();
  }
}

/** Exit code, stdout and stderr of a CLI run, for assertion messages. */
export function dump(r: CliResult): string {
  return `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
}

/** Fail with the whole output when the CLI did not exit with `code`. */
export function expectExit(r: CliResult, code: number, what: string): void {
  assert.equal(r.code, code, `${what}: expected exit ${code}\n${dump(r)}`);
}

/** The one JSON document on stdout; fails the test with the whole output otherwise. */
// deno-lint-ignore no-explicit-any
export function parseJson(r: CliResult, what: string): any {
  try {
    return JSON.parse(r.stdout);
  } catch {
    assert.fail(`${what}: stdout is not one JSON document\n${dump(r)}`);
  }
}

/**
 * Every file and folder under `dir` with its bytes (hex), skipping top-level
 * `skip` names: equal listings, equal trees.
 */
export async function treeListing(dir: string, skip: string[] = []): Promise<string[]> {
  const out: string[] = [];
  async function walk(path: string, rel: string) {
    for await (const entry of Deno.readDir(path)) {
      if (!rel && skip.includes(entry.name)) continue;
      const child = join(path, entry.name);
      const name = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory) {
        out.push(`${name}/`);
        await walk(child, name);
      } else {
        const hex = [...await Deno.readFile(child)].map((b) => b.toString(16).padStart(2, "0"));
        out.push(`${name} ${hex.join("")}`);
      }
    }
  }
  await walk(dir, "");
  return out.sort();
}
