/**
 * What docs/distributed.md says of Citus, YugabyteDB, CockroachDB and
 * Aurora/RDS, imitated on the local PostgreSQL 15 where it can be: DDL that
 * runs outside a transaction and fails half-way, session settings a revision
 * changes, a role that is not a superuser, and a function that creates tables
 * inside a revision. Each test is named after the behaviour it imitates; none
 * of these engines runs here, so none of them is tested itself.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  type CliResult,
  dump,
  expectExit,
  parseJson,
  queryDb,
  scratchDatabase,
  SERVER_URL,
  serverDirTest,
  strata,
  writeMigration,
} from "./helpers.ts";

function cli(cwd: string, url: string, ...extra: string[]) {
  return (...args: string[]): Promise<CliResult> =>
    strata([...args, "--database", url, ...extra], { cwd });
}

async function revisions(url: string): Promise<string[]> {
  const rows = await queryDb<{ revision: string }>(
    url,
    "SELECT revision FROM strata_ledger ORDER BY revision",
  );
  return rows.map((row) => row.revision);
}

async function journal(url: string, revision: string): Promise<string[]> {
  const rows = await queryDb<{ action: string }>(
    url,
    "SELECT action FROM strata_journal WHERE revision = $1 ORDER BY id",
    [revision],
  );
  return rows.map((row) => row.action);
}

async function indexes(url: string, table: string): Promise<Record<string, boolean>> {
  const rows = await queryDb<{ name: string; valid: boolean }>(
    url,
    `SELECT c.relname AS name, i.indisvalid AS valid
       FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
      WHERE i.indrelid = $1::regclass`,
    [table],
  );
  return Object.fromEntries(rows.map((row) => [row.name, row.valid]));
}

async function exists(url: string, relation: string): Promise<boolean> {
  const [row] = await queryDb<{ found: boolean }>(
    url,
    "SELECT to_regclass($1) IS NOT NULL AS found",
    [relation],
  );
  return row.found;
}

// ---------------------------------------------------------------------------
// Citus CREATE INDEX CONCURRENTLY on a distributed table, CockroachDB's schema
// changes outside explicit transactions: statements that commit one by one.

const EVENTS = "20250101_0000_events";
const EVENTS_TEXT = [
  "-- up",
  "CREATE TABLE events (id int PRIMARY KEY, tenant int NOT NULL, kind text NOT NULL);",
  "INSERT INTO events VALUES (1, 1, 'signup'), (2, 1, 'signup'), (3, 2, 'login');",
  "-- down",
  "DROP TABLE events;",
  "",
].join("\n");

const ONLINE = "20250101_0001_online_ddl";
const ONLINE_TEXT = [
  "-- transaction: none", // 1
  "-- up", // 2
  "CREATE TABLE IF NOT EXISTS event_audit (id bigserial PRIMARY KEY, note text);", // 3
  "ALTER TABLE events ADD COLUMN IF NOT EXISTS seen_at timestamptz;", // 4
  "CREATE INDEX CONCURRENTLY IF NOT EXISTS events_tenant_idx ON events (tenant);", // 5
  "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS events_tenant_kind_key ON events (tenant, kind);", // 6
  "CREATE INDEX CONCURRENTLY IF NOT EXISTS events_seen_idx ON events (seen_at);", // 7
  "-- down",
  "DROP INDEX CONCURRENTLY IF EXISTS events_seen_idx;",
  "DROP INDEX CONCURRENTLY IF EXISTS events_tenant_kind_key;",
  "DROP INDEX CONCURRENTLY IF EXISTS events_tenant_idx;",
  "ALTER TABLE events DROP COLUMN IF EXISTS seen_at;",
  "DROP TABLE IF EXISTS event_audit;",
  "",
].join("\n");

serverDirTest(
  "non-transactional DDL (Citus CREATE INDEX CONCURRENTLY, CockroachDB schema changes): a failure half-way keeps what ran, records nothing, and the re-run after the fix applies it",
  async (dir, url) => {
    const run = cli(dir, url);
    const migrations = join(dir, "migrations");
    await writeMigration(migrations, EVENTS, EVENTS_TEXT);
    await writeMigration(migrations, ONLINE, ONLINE_TEXT);

    // The unique index meets a duplicate (tenant 1, 'signup') on line 6.
    const failed = await run("apply", "--json");
    expectExit(failed, 1, "apply with a duplicate under the unique index");
    const error = parseJson(failed, "apply --json").error;
    assert.equal(error.code, "MIGRATION_FAILED");
    assert.equal(error.sqlstate, "23505", dump(failed));
    assert.equal(error.line, 6, dump(failed));
    assert.deepEqual(error.completed, [EVENTS]);

    // What ran before line 6 committed statement by statement and stays.
    assert.ok(await exists(url, "event_audit"), "line 3 committed");
    const [column] = await queryDb<{ n: number }>(
      url,
      "SELECT count(*)::int AS n FROM information_schema.columns WHERE table_name = 'events' AND column_name = 'seen_at'",
    );
    assert.equal(column.n, 1, "line 4 committed");
    // The failed concurrent build leaves its index behind, INVALID; line 7 never ran.
    assert.deepEqual(await indexes(url, "events"), {
      events_pkey: true,
      events_tenant_idx: true,
      events_tenant_kind_key: false,
    });
    // The ledger says the revision is not applied; the journal says it was tried.
    assert.deepEqual(await revisions(url), [EVENTS]);
    assert.deepEqual(await journal(url, ONLINE), ["start", "failure"]);
    const status = await run("status", "--json");
    const report = parseJson(status, "status --json");
    assert.deepEqual(report.pending, [ONLINE]);
    assert.deepEqual(report.invalidIndexes, ["public.events_tenant_kind_key"]);
    assert.equal(report.interrupted[0].revision, ONLINE);

    // Fixing the data is not enough: IF NOT EXISTS skips the INVALID index, and
    // strata refuses to record a revision that leaves one behind.
    await queryDb(url, "DELETE FROM events WHERE id = 2");
    const invalid = await run("apply", "--json");
    expectExit(invalid, 1, "re-run over the INVALID index");
    const again = parseJson(invalid, "apply --json").error;
    assert.match(again.message, /left invalid index: public\.events_tenant_kind_key/);
    assert.match(again.hint, /DROP INDEX CONCURRENTLY public\.events_tenant_kind_key/);
    assert.deepEqual(await revisions(url), [EVENTS]);

    // Dropping it, as the hint says, lets the re-run finish what is left.
    await queryDb(url, "DROP INDEX CONCURRENTLY events_tenant_kind_key");
    const fixed = await run("apply");
    expectExit(fixed, 0, "re-run after the fix");
    assert.deepEqual(await indexes(url, "events"), {
      events_pkey: true,
      events_seen_idx: true,
      events_tenant_idx: true,
      events_tenant_kind_key: true,
    });
    assert.deepEqual(await revisions(url), [EVENTS, ONLINE]);
    assert.deepEqual(await journal(url, ONLINE), [
      "start",
      "failure",
      "start",
      "failure",
      "start",
      "upgrade",
    ]);
    expectExit(await run("check"), 0, "check after the re-run");
  },
);

// ---------------------------------------------------------------------------
// SET semantics (CockroachDB SET / SET LOCAL, an RDS Proxy session, Citus
// settings such as citus.multi_shard_modify_mode): what one revision sets stays
// in that revision.

const SETS = "20250201_0000_sets";
const SETS_TEXT = [
  "-- up",
  "CREATE SCHEMA app;",
  "SET search_path TO app;",
  "SET statement_timeout TO '4321ms';",
  "SET work_mem TO '7MB';",
  "SET citus.multi_shard_modify_mode TO 'sequential';",
  "CREATE TABLE app_items (id int);",
  "SET ROLE :role;",
  "-- down",
  "DROP SCHEMA app CASCADE;",
  "",
].join("\n");

// What the session looks like to a revision, recorded in `seen` (one row per revision).
function observe(label: string): string {
  return `INSERT INTO seen SELECT '${label}', current_user, current_setting('search_path'),
  current_setting('statement_timeout'), current_setting('lock_timeout'), current_setting('work_mem'),
  current_setting('citus.multi_shard_modify_mode', true),
  current_setting('client_connection_check_interval');`;
}

const SEEN = "20250201_0001_observe";
const SEEN_TEXT = [
  "-- up",
  "CREATE TABLE public.seen (label text, role name, search_path text, statement_timeout text,",
  "  lock_timeout text, work_mem text, modify_mode text, check_interval text);",
  observe("after SET"),
  // SET LOCAL holds for the rest of the revision: each mode is one transaction.
  "SET LOCAL lock_timeout TO '1234ms';",
  "SET LOCAL citus.multi_shard_modify_mode TO 'sequential';",
  observe("inside SET LOCAL"),
  "-- down",
  "DROP TABLE public.seen;",
  "",
].join("\n");

// transaction: none: each statement is its own transaction, so SET LOCAL ends
// with its own statement, while SET holds for the statements after it.
const NONE_SETS = "20250201_0002_none_sets";
const NONE_SETS_TEXT = [
  "-- transaction: none",
  "-- up",
  "SET LOCAL lock_timeout TO '1234ms';",
  observe("none after SET LOCAL"),
  "SET search_path TO app, public;",
  "CREATE TABLE none_items (id int);",
  "-- down",
  "DROP TABLE app.none_items;",
  "",
].join("\n");

const AFTER = "20250201_0003_after";
const AFTER_TEXT = [
  "-- up",
  observe("next revision"),
  "CREATE TABLE after_items (id int);",
  "-- down",
  "DROP TABLE after_items;",
  "",
]
  .join("\n");

serverDirTest(
  "SET semantics (CockroachDB SET and SET LOCAL, RDS Proxy sessions, Citus settings): a revision's SET, SET ROLE and search_path never reach its ledger row or the next revision",
  async (dir, url) => {
    const role = `strata_dist_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
    await queryDb(url, `CREATE ROLE ${role} NOLOGIN`);
    // A database default is the session's own: the reset goes back to it, not past it.
    await queryDb(url, `ALTER DATABASE ${new URL(url).pathname.slice(1)} SET work_mem = '5MB'`);
    try {
      const migrations = join(dir, "migrations");
      await writeMigration(migrations, SETS, SETS_TEXT.replace(":role", role));
      await writeMigration(migrations, SEEN, SEEN_TEXT);
      await writeMigration(migrations, NONE_SETS, NONE_SETS_TEXT);
      await writeMigration(migrations, AFTER, AFTER_TEXT);
      const [defaults] = await queryDb<{ search_path: string; work_mem: string; who: string }>(
        url,
        "SELECT current_setting('search_path') AS search_path, current_setting('work_mem') AS work_mem, current_user AS who",
      );
      assert.equal(defaults.work_mem, "5MB");

      const r = await cli(dir, url, "--statement-timeout", "7s", "--lock-wait", "3s")("apply");
      expectExit(r, 0, "apply");
      // The ledger rows went to public.strata_ledger, written as the connecting role,
      // although the first revision ended with search_path = app and a role that may
      // not write there.
      assert.deepEqual(await revisions(url), [SETS, SEEN, NONE_SETS, AFTER]);
      const [first] = await queryDb<{ applied_by: string }>(
        url,
        "SELECT applied_by FROM strata_ledger WHERE revision = $1",
        [SETS],
      );
      assert.equal(first.applied_by, defaults.who);
      const owners = await queryDb<{ schema: string; name: string }>(
        url,
        `SELECT n.nspname AS schema, c.relname AS name FROM pg_class c
           JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE c.relname IN ('app_items', 'none_items', 'after_items', 'strata_ledger') ORDER BY 2`,
      );
      assert.deepEqual(owners, [
        { schema: "public", name: "after_items" },
        { schema: "app", name: "app_items" },
        { schema: "app", name: "none_items" },
        { schema: "public", name: "strata_ledger" },
      ]);

      const seen = await queryDb<Record<string, string | null>>(
        url,
        "SELECT label, role, search_path, statement_timeout, lock_timeout, work_mem, modify_mode, check_interval FROM seen",
      );
      const strataSession = {
        role: defaults.who,
        search_path: defaults.search_path,
        statement_timeout: "7s",
        lock_timeout: "3s",
        work_mem: defaults.work_mem,
        // A custom setting, once set in the session, stays defined: reset, it is empty.
        modify_mode: "",
        check_interval: "1s",
      };
      assert.deepEqual(seen, [
        { label: "after SET", ...strataSession },
        {
          label: "inside SET LOCAL",
          ...strataSession,
          lock_timeout: "1234ms",
          modify_mode: "sequential",
        },
        // PostgreSQL warns that SET LOCAL outside a transaction block has no effect.
        { label: "none after SET LOCAL", ...strataSession },
        { label: "next revision", ...strataSession },
      ]);
    } finally {
      await queryDb(url, `DROP ROLE IF EXISTS ${role}`);
    }
  },
);

// ---------------------------------------------------------------------------
// Citus create_distributed_table() inside a revision: a function call that
// creates tables and writes metadata, in the revision's one transaction.

const DIST_BASE = "20250301_0000_dist_api";
const DIST_BASE_TEXT = [
  "-- up",
  "CREATE TABLE dist_partition (logicalrelid regclass PRIMARY KEY, partkey text NOT NULL, mode text);",
  // Stands in for Citus's create_distributed_table(): shard tables and a metadata row.
  "CREATE FUNCTION create_distributed_table(rel regclass, col text) RETURNS void",
  "LANGUAGE plpgsql AS $$",
  "BEGIN",
  "  FOR shard IN 1..2 LOOP",
  "    EXECUTE format('CREATE TABLE %I (LIKE %s INCLUDING ALL)', rel::text || '_' || shard, rel);",
  "  END LOOP;",
  "  INSERT INTO dist_partition",
  "    VALUES (rel, col, current_setting('citus.multi_shard_modify_mode', true));",
  "END",
  "$$;",
  "-- down",
  "DROP FUNCTION create_distributed_table(regclass, text);",
  "DROP TABLE dist_partition;",
  "",
].join("\n");

const DISTRIBUTE = "20250301_0001_distribute_orders";
function distributeText(last: string): string {
  return [
    "-- up", // 1
    "SET LOCAL citus.multi_shard_modify_mode TO 'sequential';", // 2
    "CREATE TABLE orders (tenant int NOT NULL, id int NOT NULL, total numeric, PRIMARY KEY (tenant, id));", // 3
    "SELECT create_distributed_table('orders', 'tenant');", // 4
    "CREATE INDEX orders_total_idx ON orders (total);", // 5
    last, // 6
    "-- down",
    "DROP TABLE orders_1, orders_2;",
    "DELETE FROM dist_partition WHERE logicalrelid = 'orders'::regclass;",
    "DROP TABLE orders;",
    "",
  ].join("\n");
}

serverDirTest(
  "Citus create_distributed_table inside a revision: a function that creates tables runs in the revision's one transaction, all or nothing",
  async (dir, url) => {
    const run = cli(dir, url);
    const migrations = join(dir, "migrations");
    await writeMigration(migrations, DIST_BASE, DIST_BASE_TEXT);
    await writeMigration(
      migrations,
      DISTRIBUTE,
      distributeText("INSERT INTO orders VALUES (1, 1, 10), (1, 1, 20);"),
    );

    const failed = await run("apply", "--json");
    expectExit(failed, 1, "apply with a failing last statement");
    const error = parseJson(failed, "apply --json").error;
    assert.equal(error.sqlstate, "23505", dump(failed));
    assert.equal(error.line, 6, dump(failed));
    // Nothing of the revision is left: not the table, not what the function made.
    for (const relation of ["orders", "orders_1", "orders_2", "orders_total_idx"]) {
      assert.equal(await exists(url, relation), false, relation);
    }
    const [meta] = await queryDb<{ n: number }>(
      url,
      "SELECT count(*)::int AS n FROM dist_partition",
    );
    assert.equal(meta.n, 0);
    assert.deepEqual(await revisions(url), [DIST_BASE]);
    assert.deepEqual(await journal(url, DISTRIBUTE), ["failure"]);

    await writeMigration(
      migrations,
      DISTRIBUTE,
      distributeText("INSERT INTO orders VALUES (1, 1, 10), (1, 2, 20);"),
    );
    expectExit(await run("apply"), 0, "apply after the fix");
    for (const relation of ["orders", "orders_1", "orders_2", "orders_total_idx"]) {
      assert.ok(await exists(url, relation), relation);
    }
    // The SET LOCAL at the top held when the function ran, as Citus's workaround needs.
    const rows = await queryDb<{ rel: string; partkey: string; mode: string }>(
      url,
      "SELECT logicalrelid::text AS rel, partkey, mode FROM dist_partition",
    );
    assert.deepEqual(rows, [{ rel: "orders", partkey: "tenant", mode: "sequential" }]);
    assert.deepEqual(await revisions(url), [DIST_BASE, DISTRIBUTE]);

    // And back down in one transaction too.
    expectExit(await run("downgrade", DIST_BASE), 0, "downgrade");
    assert.equal(await exists(url, "orders_1"), false);
  },
);

// ---------------------------------------------------------------------------
// Amazon RDS / Aurora: the master user is a member of rds_superuser, never a
// superuser. Imitated with an owner role that has CREATEDB and CREATEROLE only.

const RDS_APP = "20250401_0000_app";
const RDS_APP_TEXT = [
  "-- up",
  // A trusted extension: a database owner may create it without superuser (PostgreSQL 13+).
  "CREATE EXTENSION IF NOT EXISTS pgcrypto;",
  "CREATE TABLE accounts (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), email text NOT NULL);",
  "-- down",
  "DROP TABLE accounts;",
  "DROP EXTENSION pgcrypto;",
  "",
].join("\n");

const RDS_INDEX = "20250401_0001_accounts_email";
const RDS_INDEX_TEXT = [
  "-- transaction: none",
  "-- up",
  "CREATE INDEX CONCURRENTLY IF NOT EXISTS accounts_email_idx ON accounts (email);",
  "-- down",
  "DROP INDEX CONCURRENTLY IF EXISTS accounts_email_idx;",
  "",
].join("\n");

const RDS_SUPER = "20250401_0002_file_fdw";
const RDS_SUPER_TEXT = [
  "-- up", // 1
  "CREATE TABLE imports (id int);", // 2
  "CREATE EXTENSION file_fdw;", // 3
  "-- down",
  "DROP EXTENSION file_fdw;",
  "DROP TABLE imports;",
  "",
].join("\n");

serverDirTest(
  "RDS-like owner that is not a superuser (rds_superuser): apply, ledger and status work; an untrusted extension fails naming the file, line and SQLSTATE 42501",
  async (dir) => {
    const role = `strata_rds_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
    await queryDb(SERVER_URL, `CREATE ROLE ${role} LOGIN NOSUPERUSER CREATEDB CREATEROLE`);
    const db = await scratchDatabase();
    try {
      await queryDb(SERVER_URL, `ALTER DATABASE ${db.name} OWNER TO ${role}`);
      const owner = new URL(db.url);
      owner.username = role;
      const url = owner.toString();
      const run = cli(dir, url);
      const migrations = join(dir, "migrations");
      await writeMigration(migrations, RDS_APP, RDS_APP_TEXT);
      await writeMigration(migrations, RDS_INDEX, RDS_INDEX_TEXT);

      expectExit(await run("apply"), 0, "apply as the owner");
      const [ledger] = await queryDb<{ owner: string; superuser: boolean }>(
        url,
        `SELECT pg_get_userbyid(c.relowner) AS owner, (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS superuser
           FROM pg_class c WHERE c.relname = 'strata_ledger'`,
      );
      assert.deepEqual(ledger, { owner: role, superuser: false });
      const applied = await queryDb<{ revision: string; applied_by: string }>(
        url,
        "SELECT revision, applied_by FROM strata_ledger ORDER BY revision",
      );
      assert.deepEqual(applied.map((row) => row.revision), [RDS_APP, RDS_INDEX]);
      assert.deepEqual(applied.map((row) => row.applied_by), [role, role]);
      const status = await run("status", "--json");
      expectExit(status, 0, "status as the owner");
      const report = parseJson(status, "status --json");
      assert.equal(report.applied, 2);
      assert.equal(report.upToDate, true);
      expectExit(await run("check"), 0, "check as the owner");

      // What needs a real superuser fails as a failed revision: its earlier statement
      // rolled back with it, nothing recorded, the server's reason and hint shown.
      await writeMigration(migrations, RDS_SUPER, RDS_SUPER_TEXT);
      const denied = await run("apply", "--json");
      expectExit(denied, 1, "an untrusted extension as a non-superuser");
      const error = parseJson(denied, "apply --json").error;
      assert.equal(error.code, "MIGRATION_FAILED");
      assert.equal(error.sqlstate, "42501");
      assert.equal(error.line, 3);
      assert.match(error.message, /permission denied to create extension "file_fdw"/);
      assert.match(error.hint, /superuser/);
      assert.equal(await exists(url, "imports"), false);
      assert.deepEqual(await revisions(url), [RDS_APP, RDS_INDEX]);
      expectExit(await run("check"), 3, "check with the refused revision pending");

      // And back down as the owner, concurrent index first.
      expectExit(await run("downgrade", "base"), 0, "downgrade as the owner");
      assert.deepEqual(await revisions(url), []);
    } finally {
      await db.drop();
      await queryDb(SERVER_URL, `DROP ROLE IF EXISTS ${role}`);
    }
  },
);
