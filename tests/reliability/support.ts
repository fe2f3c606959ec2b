/**
 * Shared helpers of the reliability suite: the real CLI with a time limit and
 * a peak-memory reading, a TCP proxy that cuts, drops or freezes a link, a
 * private PostgreSQL cluster with password authentication, PgBouncer, a
 * seeded PRNG. Nothing here mocks the database: every helper runs the real
 * server binaries or the real CLI.
 */
import assert from "node:assert/strict";
import net from "node:net";
import { Buffer } from "node:buffer";
import { join } from "node:path";
import postgres from "postgres";
import {
  type CliResult,
  dump,
  MAIN,
  queryDb,
  spawnStrata as spawnStrataUntallied,
  waitFor,
} from "../helpers.ts";

export * from "../helpers.ts";

/**
 * With STRATA_RELIABILITY_TALLY=<file>, every CLI process the suite starts
 * appends a line there (for the process counts the README reports).
 */
const TALLY = Deno.env.get("STRATA_RELIABILITY_TALLY");
function tally(args: string[]): void {
  if (TALLY) Deno.writeTextFileSync(TALLY, `${args[0]}\n`, { append: true });
}

/** helpers.spawnStrata, counted. */
export function spawnStrata(args: string[], cwd: string, env: Record<string, string>) {
  tally(args);
  return spawnStrataUntallied(args, cwd, env);
}

// deno-lint-ignore no-explicit-any
export type Json = any;

export const REQUIRE_SERVER = Deno.env.get("STRATA_REQUIRE_SERVER") === "1";

/** Text of a migration file. */
export function revisionText(
  up: string,
  down: string,
  header: { parents?: string; transaction?: "each" | "none"; message?: string } = {},
): string {
  const lines = [`-- message: ${header.message ?? "reliability"}`];
  if (header.parents !== undefined) lines.push(`-- parents: ${header.parents}`);
  if (header.transaction) lines.push(`-- transaction: ${header.transaction}`);
  return `${lines.join("\n")}\n-- up\n${up}\n-- down\n${down}\n`;
}

/** A revision id with a 4-digit counter: 20240101_HHMM_slug. */
export function revId(n: number, slug: string): string {
  return `20240101_${String(n).padStart(4, "0")}_${slug}`;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------
// The CLI with a limit, elapsed time and peak RSS

export interface Measured extends CliResult {
  signal: Deno.Signal | null;
  ms: number;
  /** Peak resident set size of the strata process (VmHWM), in KiB; 0 if never sampled. */
  peakKb: number;
  /** True when the process had to be killed at `limitMs`. */
  timedOut: boolean;
}

function cliEnv(extra: Record<string, string>): Record<string, string> {
  // As in helpers.ts: the lock timeout is a bound for a hang, unless a test passes its own.
  const env: Record<string, string> = { NO_COLOR: "1", STRATA_LOCK_TIMEOUT: "600s" };
  for (const key of ["PATH", "HOME", "DENO_DIR", "TMPDIR"]) {
    const value = Deno.env.get(key);
    if (value) env[key] = value;
  }
  return { ...env, ...extra };
}

/** Peak RSS of a live process, from /proc (0 when it is gone or /proc is absent). */
async function vmHwm(pid: number): Promise<number> {
  try {
    const status = await Deno.readTextFile(`/proc/${pid}/status`);
    return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
  } catch {
    return 0;
  }
}

export interface RunOptions {
  cwd: string;
  env?: Record<string, string>;
  /** Kill the process (SIGKILL) after this long; the result says `timedOut`. Default 600 s. */
  limitMs?: number;
  /** Sample the peak RSS every few milliseconds. */
  measure?: boolean;
  /** Called with the child's pid once it runs (e.g. to watch its command line). */
  onSpawn?: (pid: number) => void;
}

/** Run the real CLI (`deno run main.ts ...`) like helpers.strata(), with a limit and measurements. */
export async function run(args: string[], options: RunOptions): Promise<Measured> {
  tally(args);
  const started = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", MAIN, ...args],
    cwd: options.cwd,
    env: cliEnv(options.env ?? {}),
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  options.onSpawn?.(child.pid);
  let exited = false;
  let timedOut = false;
  const limit = setTimeout(() => {
    timedOut = true;
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }, options.limitMs ?? 600_000);
  let peakKb = 0;
  const sampler = options.measure
    ? (async () => {
      while (!exited) {
        peakKb = Math.max(peakKb, await vmHwm(child.pid));
        await sleep(5);
      }
    })()
    : Promise.resolve();
  const output = child.output();
  const { code, signal, stdout, stderr } = await output;
  exited = true;
  clearTimeout(limit);
  await sampler;
  const decoder = new TextDecoder();
  return {
    code,
    signal,
    stdout: decoder.decode(stdout),
    stderr: decoder.decode(stderr),
    ms: Math.round(performance.now() - started),
    peakKb,
    timedOut,
  };
}

/** Fail, with the whole output, unless the run exited with `code`. */
export function expectCode(r: Measured | CliResult, code: number, what: string): void {
  assert.equal(r.code, code, `${what}: expected exit ${code}\n${dump(r)}`);
}

export const mib = (kb: number) => `${(kb / 1024).toFixed(0)} MiB`;

/** Stack traces or internal errors in the output: a crash, not a clear error. */
export function assertNoCrash(r: CliResult, what: string): void {
  const all = r.stdout + r.stderr;
  assert.doesNotMatch(
    all,
    /internal error|\n\s+at .*\.(ts|js):\d+/i,
    `${what}: crashed\n${dump(r)}`,
  );
  assert.doesNotMatch(
    all,
    /Uncaught|panicked|RangeError|TypeError/,
    `${what}: crashed\n${dump(r)}`,
  );
}

// ---------------------------------------------------------------------------
// The server: advisory locks, the migration lock key, sessions

/** Advisory locks held in the database `url` names. */
export async function advisoryLocks(url: string): Promise<Array<{ pid: number; objid: number }>> {
  return await queryDb(
    url,
    `SELECT l.pid, l.objid::int8::int AS objid FROM pg_locks l
      WHERE l.locktype = 'advisory' AND l.granted
        AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
  );
}

/** Whether a backend with this pid still exists. */
export async function backendAlive(url: string, pid: number): Promise<boolean> {
  const rows = await queryDb(url, `SELECT 1 FROM pg_stat_activity WHERE pid = $1`, [pid]);
  return rows.length > 0;
}

/**
 * Hold strata's migration lock from another session, the way strata keys it
 * (lib/db/server.ts: hashtext(database) and hashtext(schema.table), both
 * masked to 31 bits), with our own application_name.
 */
export async function holdMigrationLock(
  url: string,
  applicationName: string,
  table = "strata_ledger",
): Promise<{ pid: number; since: Date; release: () => Promise<void> }> {
  const sql = postgres(url, {
    max: 1,
    onnotice: () => {},
    connection: { application_name: applicationName },
  });
  const reserved = await sql.reserve();
  const [row] = await reserved.unsafe(
    `SELECT pg_advisory_lock(hashtext(current_database()) & 2147483647,
                             hashtext(current_schema() || '.' || $1) & 2147483647),
            pg_backend_pid() AS pid,
            (SELECT backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()) AS since`,
    [table],
  );
  return {
    pid: row.pid as number,
    since: new Date(row.since as string),
    async release() {
      reserved.release();
      await sql.end({ timeout: 1 });
    },
  };
}

/** A session holding ACCESS EXCLUSIVE on `table` in an open transaction until released. */
export async function holdTableLock(
  url: string,
  table: string,
): Promise<{ pid: number; release: () => Promise<void> }> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  const reserved = await sql.reserve();
  await reserved`BEGIN`;
  await reserved.unsafe(`LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`);
  const [{ pid }] = await reserved`SELECT pg_backend_pid() AS pid`;
  return {
    pid,
    async release() {
      await reserved`ROLLBACK`.catch(() => {});
      reserved.release();
      await sql.end({ timeout: 1 });
    },
  };
}

// ---------------------------------------------------------------------------
// Ports and a TCP proxy that can cut, drop or freeze a link

/** A TCP port nobody listens on right now. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A listener that accepts connections and never says a word (a server that does not answer). */
export async function silentServer(): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => {});
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * What the proxy does when the client sends a simple Query whose text matches:
 * - `drop`: the query never reaches the server; both sides are closed.
 * - `drop-reply`: the query runs on the server; when the server says it is
 *   done (ReadyForQuery), that reply is thrown away and both sides are closed.
 * - `freeze`: the query is forwarded, then nothing is relayed any more in
 *   either direction, and nothing is closed.
 */
export type ProxyAction = "drop" | "drop-reply" | "freeze";

interface Pair {
  client: net.Socket;
  server: net.Socket;
  frozen: boolean;
  dropReply: boolean;
}

export interface Proxy {
  port: number;
  /** `url` with its host and port replaced by the proxy's. */
  via(url: string): string;
  /** Act on the next Query whose text contains `marker`; resolves when it did. */
  arm(marker: string, action: ProxyAction): Promise<void>;
  /** Close every relayed connection, both sides, now. */
  cutAll(): void;
  /** Number of faults the proxy injected. */
  faults: number;
  close(): Promise<void>;
}

const SSL_REQUEST = 80877103;
const GSS_REQUEST = 80877104;

/** A proxy in front of `host:port` that reads the PostgreSQL protocol's message frames. */
export async function startProxy(host = "127.0.0.1", port = 5432): Promise<Proxy> {
  const pairs = new Set<Pair>();
  let armed: { marker: string; action: ProxyAction; done: () => void } | null = null;
  const proxy: Proxy = {
    port: 0,
    faults: 0,
    via(url: string) {
      const u = new URL(url);
      u.hostname = "127.0.0.1";
      u.port = String(proxy.port);
      return u.toString();
    },
    arm(marker, action) {
      return new Promise<void>((resolve) => {
        armed = { marker, action, done: resolve };
      });
    },
    cutAll() {
      proxy.faults++;
      for (const pair of pairs) closePair(pair);
    },
    async close() {
      for (const pair of pairs) closePair(pair);
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };

  function closePair(pair: Pair) {
    pair.client.destroy();
    pair.server.destroy();
    pairs.delete(pair);
  }

  const server = net.createServer((client) => {
    const upstream = net.connect(port, host);
    const pair: Pair = { client, server: upstream, frozen: false, dropReply: false };
    pairs.add(pair);
    client.on("error", () => {});
    upstream.on("error", () => {});
    client.on("close", () => {
      if (!pair.frozen) closePair(pair);
    });
    upstream.on("close", () => {
      if (!pair.frozen) closePair(pair);
    });

    // client -> server: frame by frame, so a Query can be recognised.
    let fromClient = Buffer.alloc(0);
    let startup = true;
    let sslAnswerPending = false;
    client.on("data", (chunk: Buffer) => {
      if (pair.frozen) return;
      fromClient = Buffer.concat([fromClient, chunk]);
      for (;;) {
        if (startup) {
          if (fromClient.length < 8) return;
          const length = fromClient.readInt32BE(0);
          if (fromClient.length < length) return;
          const code = fromClient.readInt32BE(4);
          if (code === SSL_REQUEST || code === GSS_REQUEST) sslAnswerPending = true;
          else startup = false;
          upstream.write(fromClient.subarray(0, length));
          fromClient = fromClient.subarray(length);
          continue;
        }
        if (fromClient.length < 5) return;
        const length = fromClient.readInt32BE(1);
        if (fromClient.length < length + 1) return;
        const message = fromClient.subarray(0, length + 1);
        fromClient = fromClient.subarray(length + 1);
        if (
          armed && message[0] === 0x51 /* Q */ &&
          message.subarray(5).toString("utf8").includes(armed.marker)
        ) {
          const { action, done } = armed;
          armed = null;
          proxy.faults++;
          if (action === "drop") {
            closePair(pair);
            done();
            return;
          }
          upstream.write(message);
          if (action === "drop-reply") pair.dropReply = true;
          else {
            pair.frozen = true;
            client.pause();
            upstream.pause();
          }
          done();
          if (pair.frozen) return;
          continue;
        }
        upstream.write(message);
      }
    });

    // server -> client: frame by frame, so the end of a dropped reply is seen.
    let fromServer = Buffer.alloc(0);
    upstream.on("data", (chunk: Buffer) => {
      if (pair.frozen) return;
      fromServer = Buffer.concat([fromServer, chunk]);
      if (sslAnswerPending && fromServer.length > 0) {
        sslAnswerPending = false;
        client.write(fromServer.subarray(0, 1));
        fromServer = fromServer.subarray(1);
      }
      for (;;) {
        if (fromServer.length < 5) return;
        const length = fromServer.readInt32BE(1);
        if (fromServer.length < length + 1) return;
        const message = fromServer.subarray(0, length + 1);
        fromServer = fromServer.subarray(length + 1);
        if (pair.dropReply) {
          // The query has finished on the server (committed or not): the reply never arrives.
          if (message[0] === 0x5a /* Z */) {
            closePair(pair);
            return;
          }
          continue;
        }
        client.write(message);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  proxy.port = (server.address() as net.AddressInfo).port;
  return proxy;
}

// ---------------------------------------------------------------------------
// A private PostgreSQL cluster (password authentication without touching the shared server)

function findPgBin(): string | null {
  const fromEnv = Deno.env.get("STRATA_PG_BINDIR");
  if (fromEnv) return fromEnv;
  try {
    const versions = [...Deno.readDirSync("/usr/lib/postgresql")]
      .map((entry) => entry.name)
      .filter((name) => /^\d+$/.test(name))
      .sort((a, b) => Number(b) - Number(a));
    for (const version of versions) {
      const bin = `/usr/lib/postgresql/${version}/bin`;
      try {
        Deno.statSync(join(bin, "initdb"));
        return bin;
      } catch {
        // not this one
      }
    }
  } catch {
    // no Debian layout
  }
  return null;
}

export const PG_BIN = findPgBin();
const IS_ROOT = Deno.uid() === 0;

async function exec(
  cmd: string,
  args: string[],
  options: { asPostgres?: boolean; env?: Record<string, string> } = {},
): Promise<{ code: number; out: string }> {
  const [file, argv] = options.asPostgres && IS_ROOT
    ? ["runuser", ["-u", "postgres", "--", cmd, ...args]]
    : [cmd, args];
  const result = await new Deno.Command(file, {
    args: argv,
    env: options.env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: result.code,
    out: decoder.decode(result.stdout) + decoder.decode(result.stderr),
  };
}

async function postgresIds(): Promise<{ uid: number; gid: number } | null> {
  if (!IS_ROOT) return null;
  const line = (await Deno.readTextFile("/etc/passwd")).split("\n").find((l) =>
    l.startsWith("postgres:")
  );
  if (!line) throw new Error("running as root, but there is no postgres user to run initdb as");
  const [, , uid, gid] = line.split(":");
  return { uid: Number(uid), gid: Number(gid) };
}

export interface Cluster {
  port: number;
  /** Superuser URL (trust on 127.0.0.1 for the user postgres only). */
  adminUrl(database?: string): string;
  stop(): Promise<void>;
}

/**
 * initdb + pg_ctl start of a throw-away cluster on a free port: trust for the
 * superuser `postgres`, SCRAM password authentication for every other role.
 * The shared server's configuration is never touched.
 */
export async function startCluster(): Promise<Cluster> {
  if (!PG_BIN) throw new Error("initdb not found (set STRATA_PG_BINDIR)");
  const dir = await Deno.makeTempDir({ prefix: "strata-cluster-" });
  const ids = await postgresIds();
  if (ids) await Deno.chown(dir, ids.uid, ids.gid);
  const data = join(dir, "data");
  const init = await exec(join(PG_BIN, "initdb"), [
    "-D",
    data,
    "-U",
    "postgres",
    "-A",
    "trust",
    "--no-sync",
    "--no-instructions",
  ], { asPostgres: true });
  if (init.code !== 0) throw new Error(`initdb failed:\n${init.out}`);
  const hba = [
    "local all all trust",
    "host all postgres 127.0.0.1/32 trust",
    "host all all 127.0.0.1/32 scram-sha-256",
    "",
  ].join("\n");
  await Deno.writeTextFile(join(data, "pg_hba.conf"), hba);
  if (ids) await Deno.chown(join(data, "pg_hba.conf"), ids.uid, ids.gid);
  let port = 0;
  for (let attempt = 0; attempt < 5; attempt++) {
    port = await freePort();
    const start = await exec(join(PG_BIN, "pg_ctl"), [
      "-D",
      data,
      "-l",
      join(dir, "log"),
      "-w",
      "-t",
      "30",
      "-o",
      `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=30 -c shared_buffers=16MB`,
      "start",
    ], { asPostgres: true });
    if (start.code === 0) break;
    port = 0;
  }
  if (!port) {
    const log = await Deno.readTextFile(join(dir, "log")).catch(() => "");
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw new Error(`the private cluster did not start:\n${log}`);
  }
  return {
    port,
    adminUrl: (database = "postgres") => `postgres://postgres@127.0.0.1:${port}/${database}`,
    async stop() {
      await exec(join(PG_BIN!, "pg_ctl"), ["-D", data, "-m", "immediate", "-w", "stop"], {
        asPostgres: true,
      });
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

/**
 * A test that needs a private cluster (PostgreSQL binaries on this machine).
 * Skipped visibly without them, failing instead with STRATA_REQUIRE_SERVER=1.
 */
export function clusterTest(name: string, fn: (cluster: Cluster) => Promise<void>): void {
  const available = PG_BIN !== null;
  if (!available) {
    console.warn(
      `*** "${name}": needs the PostgreSQL server binaries (initdb); ${
        REQUIRE_SERVER ? "failing (STRATA_REQUIRE_SERVER=1)" : "skipped"
      } ***`,
    );
  }
  Deno.test({
    name: `[cluster] ${name}`,
    ignore: !available && !REQUIRE_SERVER,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      if (!available) throw new Error("the PostgreSQL server binaries (initdb) are required");
      const cluster = await startCluster();
      try {
        await fn(cluster);
      } finally {
        await cluster.stop();
      }
    },
  });
}

// ---------------------------------------------------------------------------
// PgBouncer (installed here when missing: CI machines start without it)

async function which(name: string): Promise<string | null> {
  for (const candidate of [`/usr/sbin/${name}`, `/usr/bin/${name}`, `/usr/local/bin/${name}`]) {
    try {
      await Deno.stat(candidate);
      return candidate;
    } catch {
      // next
    }
  }
  const r = await exec("sh", ["-c", `command -v ${name}`]);
  return r.code === 0 ? r.out.trim() : null;
}

/** The pgbouncer binary, installing Debian's package first when it is missing (root only). */
export async function ensurePgbouncer(): Promise<string> {
  const found = await which("pgbouncer");
  if (found) return found;
  if (!IS_ROOT) throw new Error("pgbouncer is not installed and we are not root to install it");
  const env = { DEBIAN_FRONTEND: "noninteractive", PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin" };
  const install = () =>
    exec("apt-get", ["install", "-y", "-q", "--no-install-recommends", "pgbouncer"], { env });
  let r = await install();
  if (r.code !== 0) {
    await exec("apt-get", ["update", "-q"], { env });
    r = await install();
  }
  const path = await which("pgbouncer");
  if (!path) throw new Error(`apt-get install pgbouncer failed:\n${r.out}`);
  return path;
}

export interface Bouncer {
  port: number;
  via(url: string): string;
  log(): string;
  stop(): Promise<void>;
}

/** Start PgBouncer in transaction pooling mode in front of `host:port`, on a free port. */
export async function startPgbouncer(
  settings: Record<string, string | number> = {},
  target = { host: "127.0.0.1", port: 5432 },
): Promise<Bouncer> {
  const binary = await ensurePgbouncer();
  // A free port can be taken between the probe and PgBouncer's bind: try again then.
  for (let attempt = 1;; attempt++) {
    try {
      return await startPgbouncerOn(binary, await freePort(), settings, target);
    } catch (error) {
      if (attempt >= 3) throw error;
    }
  }
}

async function startPgbouncerOn(
  binary: string,
  port: number,
  settings: Record<string, string | number>,
  target: { host: string; port: number },
): Promise<Bouncer> {
  const dir = await Deno.makeTempDir({ prefix: "strata-pgbouncer-" });
  await Deno.chmod(dir, 0o755);
  const config = {
    listen_addr: "127.0.0.1",
    listen_port: port,
    unix_socket_dir: "",
    auth_type: "any",
    pool_mode: "transaction",
    default_pool_size: 2,
    max_client_conn: 200,
    ...settings,
  };
  const ini = [
    "[databases]",
    `* = host=${target.host} port=${target.port} user=postgres`,
    "[pgbouncer]",
    ...Object.entries(config).map(([key, value]) => `${key} = ${value}`),
    "",
  ].join("\n");
  const file = join(dir, "pgbouncer.ini");
  await Deno.writeTextFile(file, ini);
  await Deno.chmod(file, 0o644);
  // PgBouncer refuses to run as root: -u switches to the postgres user.
  const child = new Deno.Command(binary, {
    args: IS_ROOT ? ["-u", "postgres", file] : [file],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let log = "";
  const decoder = new TextDecoder();
  const drain = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) log += decoder.decode(chunk);
  };
  const drained = Promise.all([drain(child.stdout), drain(child.stderr)]);
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  const stop = async () => {
    if (!exited) child.kill("SIGTERM");
    await status;
    await drained;
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  try {
    await waitFor("pgbouncer to listen", async () => {
      if (exited) throw new Error(`pgbouncer exited:\n${log}`);
      if (!log.includes("listening on")) return false;
      return await new Promise<boolean>((resolve) => {
        const socket = net.connect(port, "127.0.0.1");
        socket.on("connect", () => {
          socket.destroy();
          resolve(true);
        });
        socket.on("error", () => resolve(false));
      });
    }, 15_000);
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    port,
    via(url: string) {
      const u = new URL(url);
      u.hostname = "127.0.0.1";
      u.port = String(port);
      return u.toString();
    },
    log: () => log,
    stop,
  };
}

// ---------------------------------------------------------------------------
// A seeded PRNG for the property tests

/** mulberry32: small, fast, and the same sequence for the same seed everywhere. */
export function prng(seed: number) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  return {
    next,
    int,
    chance: (p: number) => next() < p,
    pick: <T>(items: readonly T[]): T => items[int(items.length)],
    bytes(n: number): Uint8Array {
      const out = new Uint8Array(n);
      for (let i = 0; i < n; i++) out[i] = int(256);
      return out;
    },
  };
}

/** Every process whose parent chain leads to `root` (root included): pid -> command line. */
export async function processTree(root: number): Promise<Map<number, string>> {
  const parent = new Map<number, number>();
  const found = new Map<number, string>();
  try {
    for (const entry of Deno.readDirSync("/proc")) {
      if (!/^\d+$/.test(entry.name)) continue;
      try {
        const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
        const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
        parent.set(Number(entry.name), ppid);
      } catch {
        // gone
      }
    }
  } catch {
    return found;
  }
  for (const pid of parent.keys()) {
    for (let p: number | undefined = pid; p && p > 1; p = parent.get(p)) {
      if (p === root) {
        try {
          const raw = await Deno.readFile(`/proc/${pid}/cmdline`);
          found.set(pid, new TextDecoder().decode(raw).replaceAll("\0", " "));
        } catch {
          // gone
        }
        break;
      }
    }
  }
  return found;
}
