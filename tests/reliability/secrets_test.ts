/**
 * Reliability scenario 19: secrets. A password full of URL punctuation
 * (`p@ss:w/rd%ü`, percent-encoded in URLs) given through the URL, PGPASSWORD
 * and a .pgpass file (PGPASSFILE, mode 0600), across a wrong password, an
 * unknown host, a closed port, malformed URLs, a failing migration, --verbose
 * and --json: the password, raw or encoded, appears in no output, no journal
 * row and no command line of strata or its children; a failing
 * `CREATE ROLE ... PASSWORD '...'` shows the literal masked.
 *
 * Password authentication needs a server that asks for one: a private cluster
 * (SCRAM for every role but the superuser), never the shared server's config.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import postgres from "postgres";
import {
  type Cluster,
  clusterTest,
  dump,
  freePort,
  type Measured,
  parseJson,
  processTree,
  queryDb,
  revId,
  revisionText,
  run,
  scratchDir,
  sleep,
  writeMigration,
} from "./support.ts";

const PASSWORD = "p@ss:w/rd%ü";
const WRONG = "wr0ng:p@ss/%ö";
const LITERAL = "Lit3ral-S3cret!";

/** Every form a secret could leak in: raw, percent-encoded (both cases), .pgpass-escaped. */
function forms(secret: string): string[] {
  const encoded = encodeURIComponent(secret);
  return [secret, encoded, encoded.toLowerCase(), secret.replaceAll(":", "\\:")];
}

const SECRETS = [...forms(PASSWORD), ...forms(WRONG), LITERAL];

function assertNoSecret(text: string, where: string): void {
  for (const secret of SECRETS) {
    assert.ok(
      !text.includes(secret),
      `${where} shows a secret (${JSON.stringify(secret)}):\n${text}`,
    );
  }
}

interface Setup {
  cluster: Cluster;
  dir: string;
  url: (password?: string) => string;
  pgpass: (password: string) => Promise<string>;
  commandLines: string[];
  runs: number;
}

/** Run strata, watching the command lines of it and of every child it starts. */
async function watched(setup: Setup, args: string[], env: Record<string, string>) {
  let pid = 0;
  let done = false;
  const seen = new Set<string>();
  const running = run(args, {
    cwd: setup.dir,
    env,
    limitMs: 60_000,
    onSpawn: (p) => (pid = p),
  });
  const watcher = (async () => {
    while (!done) {
      if (pid) { for (const line of (await processTree(pid)).values()) seen.add(line); }
      await sleep(10);
    }
  })();
  const r = await running;
  done = true;
  await watcher;
  setup.commandLines.push(...seen);
  setup.runs++;
  const what = `strata ${args.join(" ")} (env ${Object.keys(env).join(", ")})`;
  assertNoSecret(r.stdout, `${what}: stdout`);
  assertNoSecret(r.stderr, `${what}: stderr`);
  return { r, what };
}

/** A run that reached the database: r1 applies (or was applied), r2's CREATE ROLE fails. */
async function failsInMigration(setup: Setup, env: Record<string, string>, json: boolean) {
  const { r, what } = await watched(
    setup,
    ["apply", "--verbose", ...(json ? ["--json"] : [])],
    env,
  );
  assert.equal(r.code, 1, `${what}: the migration should fail (exit 1)\n${dump(r)}`);
  if (json) {
    const error = parseJson(r, what).error;
    assert.equal(error.code, "MIGRATION_FAILED", dump(r));
    assert.equal(error.sqlstate, "42710", dump(r));
  }
  assert.match(r.stderr, /PASSWORD '\*\*\*'/, `${what}: the statement is shown masked\n${dump(r)}`);
  return r;
}

/** A run that cannot connect: exit 2. */
async function cannotConnect(
  setup: Setup,
  env: Record<string, string>,
  reason: RegExp,
): Promise<Measured> {
  let last: Measured | undefined;
  for (const extra of [["--verbose"], ["--verbose", "--json"]]) {
    const { r, what } = await watched(setup, ["apply", "--connect-timeout", "3s", ...extra], env);
    assert.equal(r.code, 2, `${what}: expected exit 2\n${dump(r)}`);
    assert.match(r.stderr, reason, `${what}\n${dump(r)}`);
    last = r;
  }
  return last!;
}

async function prepare(cluster: Cluster, dir: string): Promise<Setup> {
  const admin = postgres(cluster.adminUrl(), { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`CREATE ROLE strata_app LOGIN CREATEROLE PASSWORD '${PASSWORD}'`);
    await admin.unsafe(`CREATE DATABASE appdb OWNER strata_app`);
  } finally {
    await admin.end();
  }
  const migrations = join(dir, "migrations");
  await writeMigration(
    migrations,
    revId(0, "reader_role"),
    revisionText(
      `CREATE ROLE app_reader LOGIN PASSWORD '${LITERAL}';`,
      "DROP ROLE app_reader;",
      { transaction: "none" },
    ),
  );
  await writeMigration(
    migrations,
    revId(1, "role_again"),
    revisionText(
      `CREATE TABLE s_two (id int);\nCREATE ROLE app_reader PASSWORD '${LITERAL}';`,
      "DROP TABLE s_two;",
    ),
  );
  let files = 0;
  return {
    cluster,
    dir,
    url: (password?: string) =>
      `postgres://strata_app${
        password === undefined ? "" : `:${encodeURIComponent(password)}`
      }@127.0.0.1:${cluster.port}/appdb`,
    async pgpass(password: string) {
      const path = join(dir, `pgpass-${files++}`);
      const escaped = password.replaceAll("\\", "\\\\").replaceAll(":", "\\:");
      await Deno.writeTextFile(
        path,
        `# strata reliability\n127.0.0.1:${cluster.port}:appdb:strata_app:${escaped}\n`,
      );
      await Deno.chmod(path, 0o600);
      return path;
    },
    commandLines: [],
    runs: 0,
  };
}

clusterTest(
  "reliability 19 (secrets): p@ss:w/rd%ü through URL, PGPASSWORD and .pgpass never shows up in output, journal or command lines",
  async (cluster) => {
    const scratch = await scratchDir();
    try {
      const setup = await prepare(cluster, scratch.path);

      // The right password from each source reaches the database; r2 fails there.
      const viaUrl = await failsInMigration(setup, { DATABASE_URL: setup.url(PASSWORD) }, false);
      assert.match(viaUrl.stdout, /20240101_0000_reader_role/, "r1 was applied");
      await failsInMigration(setup, { DATABASE_URL: setup.url(PASSWORD) }, true);
      await failsInMigration(setup, { DATABASE_URL: setup.url(), PGPASSWORD: PASSWORD }, false);
      await failsInMigration(setup, { DATABASE_URL: setup.url(), PGPASSWORD: PASSWORD }, true);
      const pgpass = await setup.pgpass(PASSWORD);
      const viaFile = { DATABASE_URL: setup.url(), PGPASSFILE: pgpass };
      await failsInMigration(setup, viaFile, false);
      await failsInMigration(setup, viaFile, true);
      const status = await watched(setup, ["status", "--json", "--verbose"], viaFile);
      assert.equal(status.r.code, 0, `status with the .pgpass password\n${dump(status.r)}`);
      assert.equal(parseJson(status.r, "status").applied, 1);

      // Wrong passwords, from each source.
      const auth = /password authentication failed/;
      await cannotConnect(setup, { DATABASE_URL: setup.url(WRONG) }, auth);
      await cannotConnect(setup, { DATABASE_URL: setup.url(), PGPASSWORD: WRONG }, auth);
      await cannotConnect(
        setup,
        { DATABASE_URL: setup.url(), PGPASSFILE: await setup.pgpass(WRONG) },
        auth,
      );

      // The right password towards places that are not the server.
      const encoded = encodeURIComponent(PASSWORD);
      await cannotConnect(
        setup,
        { DATABASE_URL: `postgres://strata_app:${encoded}@strata-no-such-host.invalid:5432/appdb` },
        /unknown host|no answer/,
      );
      await cannotConnect(
        setup,
        { DATABASE_URL: `postgres://strata_app:${encoded}@127.0.0.1:${await freePort()}/appdb` },
        /connection refused/,
      );
      await cannotConnect(
        setup,
        {
          DATABASE_URL: `postgres://strata_app:${encoded}@127.0.0.1:${await freePort()}/appdb`,
          PGPASSWORD: PASSWORD,
        },
        /connection refused/,
      );
      // Malformed URLs: the raw password unencoded, and a port that is not a number.
      for (
        const malformed of [
          `postgres://strata_app:${PASSWORD}@127.0.0.1:${cluster.port}/appdb`,
          `postgres://strata_app:${encoded}@127.0.0.1:port/appdb`,
          `postgres://strata_app:${PASSWORD}@/appdb?host=127.0.0.1&port=x`,
        ]
      ) {
        const { r, what } = await watched(
          setup,
          ["apply", "--verbose", "--json", "--connect-timeout", "3s"],
          { DATABASE_URL: malformed },
        );
        assert.equal(r.code, 2, `${what}: a malformed URL is a configuration error\n${dump(r)}`);
        assert.ok(parseJson(r, what).ok === false);
      }

      // Nothing the runs journaled holds a secret; the failure rows are there, masked.
      const journal = await queryDb<{ row: string }>(
        cluster.adminUrl("appdb"),
        `SELECT row_to_json(j)::text AS row FROM strata_journal j ORDER BY id`,
      );
      const failures = journal.filter((j) => j.row.includes('"failure"'));
      assert.ok(failures.length >= 6, `failure rows journaled: ${failures.length}`);
      for (const { row } of journal) assertNoSecret(row, "a journal row");
      const ledger = await queryDb<{ row: string }>(
        cluster.adminUrl("appdb"),
        `SELECT row_to_json(l)::text AS row FROM strata_ledger l`,
      );
      for (const { row } of ledger) assertNoSecret(row, "a ledger row");

      assert.ok(setup.commandLines.length >= setup.runs, "command lines were watched");
      for (const line of setup.commandLines) assertNoSecret(line, "a command line");
      console.log(
        `  ${setup.runs} runs (URL, PGPASSWORD, .pgpass; right and wrong password; unknown host; ` +
          `closed port; 3 malformed URLs; --verbose and --json): no secret in output, ` +
          `${journal.length} journal rows, ${new Set(setup.commandLines).size} command lines`,
      );
    } finally {
      await scratch.remove();
    }
  },
);
