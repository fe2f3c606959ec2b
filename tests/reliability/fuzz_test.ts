/**
 * The last guard in main.ts is for defects only: random command lines,
 * random environments, random migration files (bytes and grammar pieces) and
 * random ledger rows (in strata's tables and in tables damaged by hand) go
 * through the real command line, and none may end in INTERNAL, a stack
 * trace, a signal or an exit code outside the design's table.
 *
 * Each process carries several inputs at once (its argument vector, its
 * environment, a folder of random files, a ledger of random rows), so a few
 * thousand inputs cost a few hundred processes. The seed is printed;
 * STRATA_FUZZ_SEED replays a run, STRATA_FUZZ_CASES sets the number of processes.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { createLedgerSql, ledgerNames } from "../../lib/ledger.ts";
import {
  dump,
  type Measured,
  prng,
  queryDb,
  REQUIRE_SERVER,
  run,
  scratchDatabase,
  scratchDir,
  serverReachable,
} from "./support.ts";

const SEED = Number(Deno.env.get("STRATA_FUZZ_SEED") ?? 20261202);
const CASES = Number(Deno.env.get("STRATA_FUZZ_CASES") ?? 300);
const PARALLEL = 4;
const EXIT_CODES = new Set([0, 1, 2, 3, 4, 5]);

type Rng = ReturnType<typeof prng>;

const COMMANDS = [
  "status",
  "check",
  "apply",
  "upgrade",
  "downgrade",
  "current",
  "heads",
  "history",
  "show",
  "stamp",
  "rehash",
  "create",
  "revision",
  "merge",
  "backup",
  "backups",
  "restore",
  "lint",
  "drift",
  "verify",
  "clean",
  "reset",
  "diff",
  "init",
  "import",
  "adopt",
  "baseline",
  "dump",
  "locks",
  "help",
  "nonsense",
  "",
];
/** Commands that start the embedded engine (slow): drawn less often. */
const HEAVY = new Set(["verify", "clean", "drift", "diff", "baseline", "dump", "locks"]);

const IDS = ["20240101_0000_a", "20240101_0001_b", "20240101_0002_c", "20240101_0003_d"];
const WEIRD = [
  "",
  " ",
  "-",
  "--",
  "-1",
  "+1",
  "-99",
  "head",
  "heads",
  "base",
  "2024",
  "20240101_0001_b+2",
  "20240101_0000_a:head",
  "ü中文",
  "'; DROP TABLE x; --",
  "a".repeat(300),
  "../../etc",
  "/dev/null",
  "latest",
  "1e400",
  "NaN",
  "-0",
  ...IDS,
];
const DURATIONS = [
  "0",
  "1",
  "500ms",
  "2s",
  "1m",
  "1h",
  "1000000m",
  "99999999999999999999",
  "-1",
  "abc",
  "1.5s",
  "0.0001ms",
  "24d",
  " 3 s",
  "",
];
const URLS = [
  "postgres://postgres@127.0.0.1:1/x",
  "postgres://u:secret@127.0.0.1:1/x",
  "postgres://%zz@127.0.0.1/x",
  "postgres://[::1:5432/x",
  "postgresql://",
  "mysql://x",
  "pglite:memory",
  "pglite:",
  "pglite:/dev/null",
  "pglite:/proc/x",
  "not a url",
  "",
];
const STRING_OPTIONS = ["--dir", "--table", "--range", "-m", "--category", "--scratch", "--schema"];
const BOOLEAN_OPTIONS = [
  "--json",
  "--verbose",
  "--no-color",
  "--sql",
  "--dry-run",
  "--empty",
  "--unstamp",
  "--yes",
  "--hard",
  "--reapply",
  "--strict",
  "--measured",
  "--allow-out-of-order",
  "--autogenerate",
  "--help",
  "--version",
  "--bogus",
];
const DURATION_OPTIONS = [
  "--lock-timeout",
  "--connect-timeout",
  "--statement-timeout",
  "--lock-wait",
];

const SQL = [
  "CREATE TABLE IF NOT EXISTS fz (id int);",
  "SELECT 1;",
  "INSERT INTO fz VALUES (1);",
  "SELECT $$\n-- down\n$$;",
  "DROP TABLE IF EXISTS fz;",
  "CREATE INDEX CONCURRENTLY IF NOT EXISTS fz_i ON fz (id);",
  "BEGIN;",
  "COMMIT;",
  "SELECT 1/0;",
  "CREATE EXTENSION IF NOT EXISTS nonexistent_ext;",
  "ALTER TABLE fz ADD COLUMN v text;",
  "SELECT 'ü中文';",
  "SELEC oops;",
  "/* open",
  "SELECT pg_sleep(0.01);",
];
const HEADER = [
  "-- message: fuzz",
  "-- parents:",
  "-- parents: 20240101_0000_a",
  "-- parents: 20240101_0003_d",
  "-- parents: nope",
  "-- transaction: none",
  "-- transaction: each",
  "-- transaction: maybe",
  "-- replaces: 20240101_0000_a",
];

function randomText(rng: Rng): string {
  const lines: string[] = [];
  for (let i = rng.int(3); i > 0; i--) lines.push(rng.pick(HEADER));
  lines.push("-- up");
  for (let i = rng.int(4); i > 0; i--) lines.push(rng.pick(SQL));
  if (rng.chance(0.7)) {
    lines.push("-- down");
    for (let i = rng.int(3); i > 0; i--) lines.push(rng.pick(SQL));
  }
  return lines.join(rng.chance(0.2) ? "\r\n" : "\n") + "\n";
}

/** A file's bytes: mostly a migration, sometimes broken in one of the ways files break. */
function randomFile(rng: Rng): Uint8Array {
  const text = new TextEncoder().encode(randomText(rng));
  const roll = rng.next();
  if (roll < 0.8) return text;
  if (roll < 0.84) return rng.bytes(rng.int(200));
  if (roll < 0.9) {
    const at = rng.int(text.length);
    return new Uint8Array([
      ...text.slice(0, at),
      rng.pick([0, 0xff, 0xc3, 0xfe]),
      ...text.slice(at),
    ]);
  }
  if (roll < 0.93) {
    return new TextEncoder().encode(`-- up\nSELECT ${Array(20000).fill("1").join("+")};\n`);
  }
  if (roll < 0.96) return new Uint8Array([0xff, 0xfe, ...text]);
  return new TextEncoder().encode(
    String.fromCodePoint(...Array.from({ length: rng.int(80) }, () => rng.int(0x3000))),
  );
}

/** The commands that read files and the ledger, drawn often so those inputs get read. */
const COMMON = ["apply", "status", "check", "lint", "upgrade", "history", "stamp", "downgrade"];

/**
 * Wild arguments a third of the time; otherwise a command that reaches the
 * files and the database, so most processes get past the option parser.
 */
function randomArgs(rng: Rng): string[] {
  const wild = rng.chance(0.35);
  let command = wild ? rng.pick(COMMANDS) : rng.pick(COMMON);
  if (HEAVY.has(command) && rng.chance(0.7)) command = "status";
  const args = command ? [command] : [];
  const targets = wild ? WEIRD : ["head", "base", "-1", "+1", ...IDS];
  if (command === "stamp" || command === "downgrade" || wild) {
    for (let i = wild ? rng.int(3) : 1; i > 0; i--) args.push(rng.pick(targets));
  }
  for (let i = rng.int(wild ? 4 : 2); i > 0; i--) {
    const roll = rng.next();
    if (roll < 0.35) args.push(rng.pick(wild ? BOOLEAN_OPTIONS : ["--json", "--verbose", "--yes"]));
    else if (roll < 0.65) {
      args.push(rng.pick(DURATION_OPTIONS), wild ? rng.pick(DURATIONS) : rng.pick(["2s", "500ms"]));
    } else if (wild && roll < 0.9) args.push(rng.pick(STRING_OPTIONS), rng.pick(WEIRD));
    else if (wild) args.push("--database", rng.pick(URLS));
  }
  return args;
}

function randomEnv(rng: Rng): Record<string, string> {
  const env: Record<string, string> = {};
  const pool: Array<[string, () => string]> = [
    ["STRATA_LOCK_TIMEOUT", () => rng.pick(DURATIONS)],
    ["STRATA_CONNECT_TIMEOUT", () => rng.pick(DURATIONS)],
    ["STRATA_STATEMENT_TIMEOUT", () => rng.pick(DURATIONS)],
    ["STRATA_DIR", () => rng.pick(["migrations", "nowhere", "strata.json", ""])],
    ["STRATA_TABLE", () => rng.pick(WEIRD)],
    ["STRATA_SCHEMAS", () => rng.pick(["public", ",", "a,,b", ""])],
    ["STRATA_ALLOW_OUT_OF_ORDER", () => rng.pick(["1", "true", "yes", ""])],
    ["DATABASE_URL", () => rng.pick(URLS)],
    ["PGHOST", () => rng.pick(["127.0.0.1", "/nonexistent", "localhost", ""])],
    ["PGPORT", () => rng.pick(["1", "5432", "x", "99999"])],
    ["PGUSER", () => rng.pick(["postgres", "nobody_here", "ü"])],
    ["PGPASSWORD", () => rng.pick(["secret", ""])],
    ["PGDATABASE", () => rng.pick(["postgres", "missing_db", ""])],
    ["NO_COLOR", () => "1"],
  ];
  for (const [key, value] of pool) if (rng.chance(0.06)) env[key] = value();
  return env;
}

const LEDGER_COLUMNS = [
  "revision text",
  "parents text",
  "checksum text",
  "applied_at timestamptz DEFAULT now()",
  "applied_by text",
  "duration_ms integer",
  "strata_version text",
];

/** SQL that leaves random rows in schema `schema`: in strata's own tables or in damaged ones. */
function randomLedger(rng: Rng, schema: string): string {
  const names = ledgerNames(`${schema}.strata_ledger`);
  const sql = [`CREATE SCHEMA ${schema};`];
  const damaged = rng.chance(0.4);
  if (damaged) {
    const columns = LEDGER_COLUMNS.filter(() => rng.chance(0.85));
    if (rng.chance(0.3)) columns.push("extra text NOT NULL");
    sql.push(`CREATE TABLE ${schema}.strata_ledger (${columns.join(", ") || "x int"});`);
    if (rng.chance(0.5)) sql.push(`CREATE TABLE ${schema}.strata_journal (id int, action text);`);
    return sql.join("\n");
  }
  sql.push(createLedgerSql(names));
  for (let i = rng.int(5); i > 0; i--) {
    const revision = rng.pick([...IDS, "20991231_0000_z", "x", "ü"]);
    const checksum = rng.pick(["sha256:00", "garbage", "sha256:" + "a".repeat(64), ""]);
    const parents = rng.pick(["", IDS[0], "nope x", "20240101_0001_b"]);
    sql.push(
      `INSERT INTO ${schema}.strata_ledger (revision, parents, checksum, strata_version) ` +
        `VALUES ('${revision}', '${parents}', '${checksum}', 'fuzz') ON CONFLICT DO NOTHING;`,
    );
  }
  return sql.join("\n");
}

interface Case {
  index: number;
  args: string[];
  env: Record<string, string>;
  files: number;
  rows: boolean;
}

async function runCase(rng: Rng, index: number, root: string, serverUrl: string | null) {
  const cwd = join(root, `case${index}`);
  const dir = join(cwd, "migrations");
  await Deno.mkdir(dir, { recursive: true });
  const files = rng.int(5);
  for (let i = 0; i < files; i++) {
    const name = rng.chance(0.9) ? `${IDS[i]}.sql` : rng.pick(["bad name.sql", "x.sql"]);
    await Deno.writeFile(join(dir, name), randomFile(rng));
  }
  if (rng.chance(0.1)) await Deno.writeTextFile(join(cwd, "versions_backup"), "a file");
  if (rng.chance(0.1)) {
    await Deno.writeTextFile(
      join(cwd, "strata.json"),
      rng.pick(['{"dir": 3}', "{", '{"lockTimeout": "1000000m"}', '{"schemas": []}', "[]"]),
    );
  }
  const args = randomArgs(rng);
  const env = randomEnv(rng);
  let rows = false;
  if (serverUrl && rng.chance(0.8)) {
    // Each case its own ledger: parallel cases never wait on one another's lock.
    const schema = `fz${index}`;
    if (rng.chance(0.5)) {
      await queryDb(serverUrl, randomLedger(rng, schema)).catch(() => {});
      rows = true;
    }
    args.push(
      "--database",
      serverUrl,
      "--table",
      `${schema}.strata_ledger`,
      "--lock-timeout",
      "30s",
    );
  } else if (rng.chance(0.5)) {
    args.push("--database", "pglite:memory");
  }
  const result = await run(args, { cwd, env, limitMs: 600_000 });
  return { c: { index, args, env, files, rows } as Case, result };
}

function check(c: Case, r: Measured): void {
  const all = r.stdout + r.stderr;
  const what = `fuzz case ${c.index} (STRATA_FUZZ_SEED=${SEED}): strata ${
    JSON.stringify(c.args)
  } env ${JSON.stringify(c.env)}`;
  assert.ok(!r.timedOut, `${what}: did not end\n${dump(r)}`);
  assert.equal(r.signal, null, `${what}: killed by ${r.signal}\n${dump(r)}`);
  assert.ok(EXIT_CODES.has(r.code), `${what}: exit ${r.code}\n${dump(r)}`);
  assert.doesNotMatch(
    all,
    /internal error|"INTERNAL"/i,
    `${what}: reached the last guard\n${dump(r)}`,
  );
  assert.doesNotMatch(
    all,
    /\n\s+at .*\.(ts|js):\d+|Uncaught|panicked/,
    `${what}: crashed\n${dump(r)}`,
  );
}

Deno.test({
  name: "fuzz: random arguments, environments, files and ledger rows never reach the last guard",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    console.log(`fuzz seed ${SEED} (STRATA_FUZZ_SEED replays it), ${CASES} processes`);
    const root = await scratchDir();
    const db = serverReachable ? await scratchDatabase() : null;
    if (!db && REQUIRE_SERVER) assert.fail("STRATA_REQUIRE_SERVER=1 but no server");
    // One generator per case, seeded from the run's seed, so a case replays alone.
    const master = prng(SEED);
    const seeds = Array.from({ length: CASES }, () => Math.floor(master.next() * 2 ** 31));
    let next = 0;
    let inputs = 0;
    const codes = new Map<number, number>();
    try {
      await Promise.all(Array.from({ length: PARALLEL }, async () => {
        while (next < CASES) {
          const index = next++;
          const { c, result } = await runCase(
            prng(seeds[index]),
            index,
            root.path,
            db?.url ?? null,
          );
          inputs += c.args.length + c.files + Object.keys(c.env).length + (c.rows ? 1 : 0);
          codes.set(result.code, (codes.get(result.code) ?? 0) + 1);
          check(c, result);
        }
      }));
    } finally {
      await db?.drop();
      await root.remove();
    }
    console.log(
      `fuzz: ${CASES} processes carried ${inputs} random inputs, none reached the guard; exits ${
        JSON.stringify(Object.fromEntries([...codes].sort()))
      }`,
    );
  },
});
