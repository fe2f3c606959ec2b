/**
 * adopt FORMAT through the real CLI on server databases: the other tool's
 * ledger is built (by the real dbmate and node-pg-migrate where the bench
 * installed them, else by the tool's documented table and the rows it
 * writes), its schema run, its folder imported, its ledger adopted; then
 * status is up to date, drift finds nothing, verify passes and a new strata
 * revision applies on top. Refusals change nothing: strata's ledger is not
 * even created.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { dbmateBinary, npmPath } from "../bench/peers.ts";
import { queryDb, scratchDatabase, scratchDir, serverReachable, strata } from "./helpers.ts";

type Files = Record<string, string>;

async function writeTree(root: string, files: Files): Promise<void> {
  for (const [rel, text] of Object.entries(files)) {
    const path = join(root, rel);
    await Deno.mkdir(join(path, ".."), { recursive: true });
    await Deno.writeTextFile(path, text);
  }
}

/** Run statements one by one (as the tool would have run its ups). */
async function run(url: string, statements: string[]): Promise<void> {
  for (const statement of statements) await queryDb(url, statement);
}

interface Case {
  /** The import PATH; null: the strata files are written by hand (alembic). */
  path: string | null;
  files: Files;
  /** Build the other tool's schema and ledger in the database. */
  setup: (url: string, dir: string) => Promise<void>;
  /** The ledger table left in place. */
  table: string;
  /** What the README says to run once the team has switched. */
  drop: string;
  /** How many imported revisions the tool records as applied (all of them). */
  applied: number;
  partial?: boolean;
  /** Extra arguments to adopt. */
  args?: string[];
  /**
   * Imported repeatables adopt leaves pending: the tool's checksums are not
   * strata's, so the next apply re-runs them (they are re-runnable by design).
   */
  rerun?: string[];
}

const USERS = "CREATE TABLE users (id serial PRIMARY KEY, email text NOT NULL)";
const POSTS = "CREATE TABLE posts (id serial PRIMARY KEY, user_id int REFERENCES users)";
const INDEX = "CREATE INDEX users_email ON users (email)";

const GOLANG_LEDGER = "CREATE TABLE schema_migrations (version bigint NOT NULL PRIMARY KEY, " +
  "dirty boolean NOT NULL)";
const GOOSE_LEDGER = "CREATE TABLE goose_db_version (id serial NOT NULL, version_id bigint " +
  "NOT NULL, is_applied boolean NOT NULL, tstamp timestamp NULL DEFAULT now(), PRIMARY KEY(id))";
const FLYWAY_LEDGER = `CREATE TABLE flyway_schema_history (
  installed_rank integer NOT NULL PRIMARY KEY, version varchar(50), description varchar(200) NOT NULL,
  type varchar(20) NOT NULL, script varchar(1000) NOT NULL, checksum integer,
  installed_by varchar(100) NOT NULL, installed_on timestamp NOT NULL DEFAULT now(),
  execution_time integer NOT NULL, success boolean NOT NULL)`;
const flywayRow = (rank: number, version: string | null, type: string, script: string, ok = true) =>
  `INSERT INTO flyway_schema_history (installed_rank, version, description, type, script, ` +
  `checksum, installed_by, execution_time, success) VALUES (${rank}, ${
    version === null ? "NULL" : `'${version}'`
  }, 'd', '${type}', '${script}', 1, 'postgres', 5, ${ok})`;
const SQITCH_LEDGER = [
  "CREATE SCHEMA sqitch",
  `CREATE TABLE sqitch.changes (change_id text PRIMARY KEY, script_hash text, change text NOT NULL,
    project text NOT NULL, note text NOT NULL DEFAULT '',
    committed_at timestamptz NOT NULL DEFAULT clock_timestamp(), committer_name text NOT NULL,
    committer_email text NOT NULL, planned_at timestamptz NOT NULL, planner_name text NOT NULL,
    planner_email text NOT NULL, UNIQUE (project, script_hash))`,
];
const sqitchRow = (id: string, change: string, project = "app") =>
  `INSERT INTO sqitch.changes (change_id, change, project, committer_name, committer_email, ` +
  `planned_at, planner_name, planner_email) VALUES ('${id}', '${change}', '${project}', 'M', ` +
  `'m@e', now(), 'M', 'm@e')`;
const SQITCH_PLAN = "%syntax-version=1.0.0\n%project=app\n\n" +
  "users 2024-01-01T00:00:00Z M <m@e> # users\n" +
  "posts [users] 2024-01-02T00:00:00Z M <m@e> # posts\n" +
  "@v1 2024-01-02T00:00:01Z M <m@e>\n" +
  "email_index [users] 2024-01-03T00:00:00Z M <m@e> # index\n";

const alembicFile = (rev: string, file: string, parents: string[], up: string, down: string) =>
  `-- imported from alembic ${rev}: ${file}\n-- message: ${rev}\n-- parents:${
    parents.map((p) => ` ${p}`).join("")
  }\n-- up\n${up};\n-- down\n${down};\n`;

const CASES: Record<string, Case> = {
  dbmate: {
    path: "db/migrations",
    files: {
      "db/migrations/20240101120000_users.sql":
        `-- migrate:up\n${USERS};\n\n-- migrate:down\nDROP TABLE users;\n`,
      "db/migrations/20240102120000_posts.sql":
        `-- migrate:up\n${POSTS};\n\n-- migrate:down\nDROP TABLE posts;\n`,
      "db/migrations/20240103120000_index.sql": "-- migrate:up transaction:false\n" +
        `${INDEX};\n\n-- migrate:down transaction:false\nDROP INDEX users_email;\n`,
    },
    table: "schema_migrations",
    drop: "DROP TABLE schema_migrations",
    applied: 3,
    async setup(url, dir) {
      await realTool(dir, [
        dbmateBinary(),
        "--no-dump-schema",
        "--url",
        `${url}?sslmode=disable`,
        "-d",
        "db/migrations",
        "up",
      ], url);
    },
  },
  "node-pg-migrate": {
    path: "migrations-npm",
    files: {
      "migrations-npm/1704110400000_users.sql":
        `-- Up Migration\n${USERS};\n\n-- Down Migration\nDROP TABLE users;\n`,
      "migrations-npm/1704196800000_posts.sql":
        `-- Up Migration\n${POSTS};\n\n-- Down Migration\nDROP TABLE posts;\n`,
    },
    table: "pgmigrations",
    drop: "DROP TABLE pgmigrations",
    applied: 2,
    async setup(url, dir) {
      await realTool(dir, [
        "node",
        npmPath("node-pg-migrate", "bin", "node-pg-migrate.js"),
        "up",
        "--migrations-dir",
        "migrations-npm",
        "--database-url-var",
        "ADOPT_TEST_URL",
        "--no-verbose",
      ], url);
    },
  },
  "golang-migrate": {
    path: "gm",
    files: {
      "gm/000001_users.up.sql": `${USERS};\n`,
      "gm/000001_users.down.sql": "DROP TABLE users;\n",
      "gm/000002_posts.up.sql": `${POSTS};\n`,
      "gm/000002_posts.down.sql": "DROP TABLE posts;\n",
    },
    table: "schema_migrations",
    drop: "DROP TABLE schema_migrations",
    applied: 2,
    setup: (url) =>
      run(url, [USERS, POSTS, GOLANG_LEDGER, "INSERT INTO schema_migrations VALUES (2, false)"]),
  },
  goose: {
    path: "goose",
    files: {
      "goose/00001_users.sql": `-- +goose Up\n${USERS};\n-- +goose Down\nDROP TABLE users;\n`,
      "goose/00002_posts.sql": `-- +goose Up\n${POSTS};\n-- +goose Down\nDROP TABLE posts;\n`,
      "goose/00003_index.sql": `-- +goose Up\n${INDEX};\n-- +goose Down\nDROP INDEX users_email;\n`,
    },
    table: "goose_db_version",
    drop: "DROP TABLE goose_db_version",
    applied: 3,
    // Up 1, 2, down 2, up 2 and 3: the latest row of a version decides.
    setup: (url) =>
      run(url, [
        USERS,
        POSTS,
        INDEX,
        GOOSE_LEDGER,
        "INSERT INTO goose_db_version (version_id, is_applied) VALUES " +
        "(0, true), (1, true), (2, true), (2, false), (2, true), (3, true)",
      ]),
  },
  flyway: {
    path: "sql",
    partial: true,
    files: {
      "sql/V1__users.sql": `${USERS};\n`,
      "sql/V1_1__posts.sql": `${POSTS};\n`,
      "sql/U1_1__posts.sql": "DROP TABLE posts;\n",
      "sql/V2__index.sql": `${INDEX};\n`,
      "sql/R__view.sql": "CREATE OR REPLACE VIEW emails AS SELECT email FROM users;\n",
    },
    table: "flyway_schema_history",
    drop: "DROP TABLE flyway_schema_history",
    applied: 3,
    rerun: ["repeatable/view"],
    // 1.1 applied, undone and applied again; a repeatable row adopt leaves to the next apply.
    setup: (url) =>
      run(url, [
        USERS,
        POSTS,
        INDEX,
        FLYWAY_LEDGER,
        flywayRow(1, "1", "SQL", "V1__users.sql"),
        flywayRow(2, "1.1", "SQL", "V1_1__posts.sql"),
        flywayRow(3, "1.1", "UNDO_SQL", "U1_1__posts.sql"),
        flywayRow(4, "1.1", "SQL", "V1_1__posts.sql"),
        flywayRow(5, "2", "SQL", "V2__index.sql"),
        flywayRow(6, null, "SQL", "R__view.sql"),
      ]),
  },
  sqitch: {
    path: "sq",
    files: {
      "sq/sqitch.plan": SQITCH_PLAN,
      "sq/sqitch.conf": "[core]\n\tengine = pg\n",
      "sq/deploy/users.sql": `BEGIN;\n${USERS};\nCOMMIT;\n`,
      "sq/revert/users.sql": "BEGIN;\nDROP TABLE users;\nCOMMIT;\n",
      "sq/deploy/posts.sql": `BEGIN;\n${POSTS};\nCOMMIT;\n`,
      "sq/revert/posts.sql": "BEGIN;\nDROP TABLE posts;\nCOMMIT;\n",
      "sq/deploy/email_index.sql": `BEGIN;\n${INDEX};\nCOMMIT;\n`,
      "sq/revert/email_index.sql": "BEGIN;\nDROP INDEX users_email;\nCOMMIT;\n",
    },
    table: "sqitch.changes",
    drop: "DROP SCHEMA sqitch CASCADE",
    applied: 3,
    // The real Sqitch where Debian's package is installed (CI does not install it), else its
    // documented registry table with the rows it writes; either way another project's change
    // in the same registry is not this project's.
    args: ["app"],
    async setup(url, dir) {
      if (SQITCH) {
        const target = `db:${url.replace(/^postgres(ql)?:/, "pg:")}`;
        await realTool(join(dir, "sq"), ["sqitch", "deploy", target], url);
        const [row] = await queryDb<{ n: number }>(
          url,
          "SELECT count(*)::int AS n FROM sqitch.changes WHERE project = 'app'",
        );
        assert.equal(row.n, 3);
        await run(url, [
          "INSERT INTO sqitch.projects (project, creator_name, creator_email) " +
          "VALUES ('elsewhere', 'M', 'm@e')",
          sqitchRow("b1", "other", "elsewhere"),
        ]);
        return;
      }
      await run(url, [
        USERS,
        POSTS,
        INDEX,
        ...SQITCH_LEDGER,
        sqitchRow("a1", "users"),
        sqitchRow("a2", "posts"),
        sqitchRow("a3", "email_index"),
        sqitchRow("b1", "other", "elsewhere"),
      ]);
    },
  },
  alembic: {
    // No `import alembic` yet: files as it would write them, by hand. Two branches, merged.
    path: null,
    files: {
      "migrations/20240101_0000_base.sql": alembicFile(
        "a1b2c3",
        "20240101_0000_base.py",
        [],
        USERS,
        "DROP TABLE users",
      ),
      "migrations/20240102_0000_posts.sql": alembicFile(
        "d4e5f6",
        "20240102_0000_posts.py",
        ["20240101_0000_base"],
        POSTS,
        "DROP TABLE posts",
      ),
      "migrations/20240103_0000_index.sql": alembicFile(
        "0a0b0c",
        "20240103_0000_index.py",
        ["20240101_0000_base"],
        INDEX,
        "DROP INDEX users_email",
      ),
      // A merge of the two branches (down_revision a tuple); alembic_version holds it.
      "migrations/20240104_0000_merge.sql":
        "-- imported from alembic 9f9f9f: 20240104_0000_merge.py\n-- message: merge\n" +
        "-- parents: 20240102_0000_posts 20240103_0000_index\n-- up\n-- down\n-- noop\n",
    },
    table: "alembic_version",
    drop: "DROP TABLE alembic_version",
    applied: 4,
    setup: (url) =>
      run(url, [
        USERS,
        POSTS,
        INDEX,
        "CREATE TABLE alembic_version (version_num varchar(32) NOT NULL PRIMARY KEY)",
        "INSERT INTO alembic_version VALUES ('9f9f9f')",
      ]),
  },
};

async function realTool(dir: string, [cmd, ...args]: string[], url: string) {
  const result = await new Deno.Command(cmd, {
    args,
    cwd: dir,
    env: { ADOPT_TEST_URL: url, SQITCH_FULLNAME: "Strata Test", SQITCH_EMAIL: "test@localhost" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  assert.equal(result.code, 0, decode(result.stdout) + decode(result.stderr));
}

const REAL: Record<string, string> = {
  dbmate: dbmateBinary(),
  "node-pg-migrate": npmPath("node-pg-migrate", "bin", "node-pg-migrate.js"),
};
const installed = (path: string) => {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
};
const requirePeers = Deno.env.get("STRATA_REQUIRE_PEERS") === "1";
/** Debian's sqitch, when this machine has it. */
const SQITCH = await new Deno.Command("sqitch", {
  args: ["--version"],
  stdout: "null",
  stderr: "null",
})
  .output().then((r) => r.success, () => false);

async function strataLedgerExists(url: string): Promise<boolean> {
  const [row] = await queryDb<{ present: boolean }>(
    url,
    "SELECT to_regclass('strata_ledger') IS NOT NULL AS present",
  );
  return row.present;
}

async function withProject(
  files: Files,
  work: (dir: string, url: string) => Promise<void>,
) {
  const scratch = await scratchDir();
  const db = await scratchDatabase();
  try {
    await writeTree(scratch.path, files);
    await work(scratch.path, db.url);
  } finally {
    await db.drop();
    await scratch.remove();
  }
}

async function importInto(dir: string, format: string, path: string, partial = false) {
  const args = ["import", format, path, ...(partial ? ["--partial"] : [])];
  const imported = await strata(args, { cwd: dir });
  assert.equal(imported.code, 0, imported.stdout + imported.stderr);
}

const ON_TOP = "-- up\nCREATE TABLE extra (id int REFERENCES users);\n-- down\nDROP TABLE extra;\n";

for (const [format, c] of Object.entries(CASES)) {
  Deno.test({
    name: `[server] adopt ${format}: status up to date, no drift, verify, a new revision on top`,
    ignore: !serverReachable || (format in REAL && !requirePeers && !installed(REAL[format])),
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      await withProject(c.files, async (dir, url) => {
        await c.setup(url, dir);
        if (c.path !== null) await importInto(dir, format, c.path, c.partial);
        const adoptArgs = ["adopt", format, ...(c.args ?? []), "-d", url, "--json"];

        const dry = await strata([...adoptArgs, "--dry-run"], { cwd: dir });
        assert.equal(dry.code, 0, dry.stdout + dry.stderr);
        assert.equal(JSON.parse(dry.stdout).adopted.length, c.applied, dry.stdout);
        assert.equal(await strataLedgerExists(url), false, "a dry run creates nothing");

        const adopted = await strata(adoptArgs, { cwd: dir });
        assert.equal(adopted.code, 0, adopted.stdout + adopted.stderr);
        const report = JSON.parse(adopted.stdout);
        assert.deepEqual(report.adopted, JSON.parse(dry.stdout).adopted);
        assert.deepEqual(report.notApplied, []);
        const journal = await queryDb<{ n: number }>(
          url,
          "SELECT count(*)::int AS n FROM strata_journal WHERE action = 'adopt'",
        );
        assert.equal(journal[0].n, c.applied);
        // The other tool's table is left in place.
        const [kept] = await queryDb<{ present: boolean }>(
          url,
          `SELECT to_regclass('${c.table}') IS NOT NULL AS present`,
        );
        assert.equal(kept.present, true);

        const again = await strata(adoptArgs, { cwd: dir });
        assert.equal(again.code, 0, again.stdout + again.stderr);
        assert.deepEqual(JSON.parse(again.stdout).adopted, []);

        if (c.rerun) {
          const before = await strata(["status", "-d", url, "--json"], { cwd: dir });
          assert.deepEqual(JSON.parse(before.stdout).repeatablesPending, c.rerun, before.stdout);
          const rerun = await strata(["apply", "-d", url, "--json"], { cwd: dir });
          assert.equal(rerun.code, 0, rerun.stdout + rerun.stderr);
          const doc = JSON.parse(rerun.stdout);
          assert.deepEqual(doc.steps, []);
          assert.deepEqual(doc.repeatables, c.rerun);
        }
        const status = await strata(["status", "-d", url, "--json"], { cwd: dir });
        assert.equal(status.code, 0, status.stderr);
        const state = JSON.parse(status.stdout);
        assert.equal(state.upToDate, true, status.stdout);
        assert.equal(state.applied, c.applied);
        // drift sees the other tool's table, and nothing else; once dropped, nothing at all.
        const drift = await strata(["drift", "-d", url, "--json"], { cwd: dir });
        assert.equal(drift.code, 3, drift.stdout + drift.stderr);
        const plain = await strata(["drift", "-d", url], { cwd: dir });
        const found = (plain.stdout + plain.stderr).split("\n").filter((line) =>
          /^ {2}[-+~] /.test(line)
        );
        assert.ok(found.length > 0);
        const owner = c.table.includes(".") ? c.table.split(".")[0] : c.table;
        for (const line of found) assert.match(line, new RegExp(`^ {2}\\+ .*\\b${owner}\\b`));
        await queryDb(url, c.drop);
        const clean = await strata(["drift", "-d", url], { cwd: dir });
        assert.equal(clean.code, 0, clean.stdout + clean.stderr);
        const verify = await strata(["verify"], { cwd: dir });
        assert.equal(verify.code, 0, verify.stdout + verify.stderr);

        const created = await strata(["create", "extra table", "--json"], { cwd: dir });
        assert.equal(created.code, 0, created.stderr);
        const { path } = JSON.parse(created.stdout);
        const text = await Deno.readTextFile(join(dir, path));
        await Deno.writeTextFile(join(dir, path), text.slice(0, text.indexOf("-- up")) + ON_TOP);
        const apply = await strata(["apply", "-d", url], { cwd: dir });
        assert.equal(apply.code, 0, apply.stdout + apply.stderr);
        const check = await strata(["check", "-d", url], { cwd: dir });
        assert.equal(check.code, 0, check.stdout + check.stderr);
        const [extra] = await queryDb<{ present: boolean }>(
          url,
          "SELECT to_regclass('extra') IS NOT NULL AS present",
        );
        assert.equal(extra.present, true);
      });
    },
  });
}

interface Refusal {
  format: string;
  base: string;
  setup: string[];
  error: RegExp;
}

const REFUSALS: Record<string, Refusal> = {
  "a dirty golang-migrate state": {
    format: "golang-migrate",
    base: "golang-migrate",
    setup: [USERS, GOLANG_LEDGER, "INSERT INTO schema_migrations VALUES (2, true)"],
    error: /dirty at version 2/,
  },
  "a failed Flyway migration": {
    format: "flyway",
    base: "flyway",
    setup: [
      USERS,
      FLYWAY_LEDGER,
      flywayRow(1, "1", "SQL", "V1__users.sql"),
      flywayRow(2, "1.1", "SQL", "V1_1__posts.sql", false),
    ],
    error: /failed migration: 1\.1/,
  },
  "an applied entry with no imported revision": {
    format: "goose",
    base: "goose",
    setup: [
      USERS,
      POSTS,
      INDEX,
      GOOSE_LEDGER,
      "INSERT INTO goose_db_version (version_id, is_applied) VALUES (0, true), (1, true), " +
      "(2, true), (3, true), (4, true)",
    ],
    error: /1 applied goose entry has no imported revision: 4/,
  },
  "an applied set not closed under parents": {
    format: "goose",
    base: "goose",
    setup: [
      USERS,
      INDEX,
      GOOSE_LEDGER,
      "INSERT INTO goose_db_version (version_id, is_applied) VALUES (0, true), (1, true), " +
      "(3, true)",
    ],
    error: /goose applied 3 \(00000000_000003_index\) but not its parent 00000000_000002_posts/,
  },
};

for (const [what, r] of Object.entries(REFUSALS)) {
  Deno.test({
    name: `[server] adopt refuses ${what}: exit 5, nothing changed`,
    ignore: !serverReachable,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      const c = CASES[r.base];
      await withProject(c.files, async (dir, url) => {
        await run(url, r.setup);
        await importInto(dir, r.format, c.path!, c.partial);
        for (const extra of [["--dry-run"], []]) {
          const refused = await strata(["adopt", r.format, "-d", url, "--json", ...extra], {
            cwd: dir,
          });
          assert.equal(refused.code, 5, refused.stdout + refused.stderr);
          const { error } = JSON.parse(refused.stdout);
          assert.equal(error.code, "INTEGRITY");
          assert.match(error.message, r.error);
          assert.equal(await strataLedgerExists(url), false, "strata's ledger is not created");
        }
      });
    },
  });
}

Deno.test({
  name: "[server] adopt: no other tool's table is a usage error (exit 2), nothing created",
  ignore: !serverReachable,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withProject(CASES.goose.files, async (dir, url) => {
      await importInto(dir, "goose", "goose");
      const refused = await strata(["adopt", "goose", "-d", url], { cwd: dir });
      assert.equal(refused.code, 2, refused.stdout + refused.stderr);
      assert.match(refused.stderr, /No goose table goose_db_version/);
      assert.equal(await strataLedgerExists(url), false);
      const none = await strata(["adopt", "dbmate", "-d", url], { cwd: dir });
      assert.equal(none.code, 2, none.stdout + none.stderr);
      assert.match(none.stderr, /No revision in "migrations" was imported from dbmate/);
    });
  },
});

Deno.test({
  name: "[server] adopt alembic: several heads in alembic_version, each with its ancestors",
  ignore: !serverReachable,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withProject(CASES.alembic.files, async (dir, url) => {
      await run(url, [
        USERS,
        POSTS,
        INDEX,
        "CREATE TABLE alembic_version (version_num varchar(32) NOT NULL PRIMARY KEY)",
        "INSERT INTO alembic_version VALUES ('d4e5f6'), ('0a0b0c')",
      ]);
      const dry = await strata(["adopt", "alembic", "-d", url, "--dry-run", "--json"], {
        cwd: dir,
      });
      assert.equal(dry.code, 0, dry.stdout + dry.stderr);
      const report = JSON.parse(dry.stdout);
      assert.deepEqual(report.adopted, [
        { revision: "20240101_0000_base", entry: "a1b2c3 (ancestor of 0a0b0c)" },
        { revision: "20240102_0000_posts", entry: "d4e5f6" },
        { revision: "20240103_0000_index", entry: "0a0b0c" },
      ]);
      assert.deepEqual(report.notApplied, ["20240104_0000_merge"]);
      assert.equal(await strataLedgerExists(url), false);
    });
  },
});

Deno.test({
  name: "[server] adopt sqitch: a reworked change's rows match NAME@TAG first, then the newest",
  ignore: !serverReachable,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const plan = "%syntax-version=1.0.0\n%project=p\n\n" +
      "f 2024-01-01T00:00:00Z M <m@e> # first f\n@v1 2024-01-02T00:00:00Z M <m@e>\n" +
      "g [f] 2024-01-03T00:00:00Z M <m@e>\nf [f@v1] 2024-01-04T00:00:00Z M <m@e> # rework f\n";
    const fn = (n: number) =>
      `CREATE OR REPLACE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT ${n}';`;
    const files = {
      "p/sqitch.plan": plan,
      "p/deploy/f@v1.sql": `BEGIN;\n${fn(1)}\nCOMMIT;\n`,
      "p/revert/f@v1.sql": "BEGIN;\nDROP FUNCTION f();\nCOMMIT;\n",
      "p/deploy/g.sql": "BEGIN;\nCREATE TABLE g (n int DEFAULT f());\nCOMMIT;\n",
      "p/revert/g.sql": "BEGIN;\nDROP TABLE g;\nCOMMIT;\n",
      "p/deploy/f.sql": `BEGIN;\n${fn(2)}\nCOMMIT;\n`,
      "p/revert/f.sql": `BEGIN;\n${fn(1)}\nCOMMIT;\n`,
    };
    await withProject(files, async (dir, url) => {
      await importInto(dir, "sqitch", "p");
      // Deployed up to g: the first f and g, not the rework.
      await run(url, [...SQITCH_LEDGER, sqitchRow("c1", "f", "p"), sqitchRow("c2", "g", "p")]);
      const args = ["adopt", "sqitch", "-d", url, "--dry-run", "--json"];
      const dry = await strata(args, { cwd: dir });
      assert.equal(dry.code, 0, dry.stdout + dry.stderr);
      const report = JSON.parse(dry.stdout);
      assert.deepEqual(report.adopted.map((a: { entry: string }) => a.entry), [
        "p:f (c1)",
        "p:g (c2)",
      ]);
      assert.equal(report.notApplied.length, 1);
      assert.match(report.notApplied[0], /_f$/);
      // The rework deployed too: all three.
      await run(url, [sqitchRow("c3", "f", "p")]);
      const all = await strata(args, { cwd: dir });
      assert.equal(JSON.parse(all.stdout).adopted.length, 3, all.stdout);
    });
  },
});

Deno.test({
  name: "[server] adopt flyway: a BASELINE row counts every version up to its own",
  ignore: !serverReachable,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withProject(CASES.flyway.files, async (dir, url) => {
      await importInto(dir, "flyway", "sql", true);
      await run(url, [
        USERS,
        POSTS,
        FLYWAY_LEDGER,
        flywayRow(1, "1.1", "BASELINE", "<< Flyway Baseline >>"),
      ]);
      const dry = await strata(["adopt", "flyway", "-d", url, "--dry-run", "--json"], {
        cwd: dir,
      });
      assert.equal(dry.code, 0, dry.stdout + dry.stderr);
      const report = JSON.parse(dry.stdout);
      assert.deepEqual(report.adopted.map((a: { entry: string }) => a.entry), [
        "1 (baseline)",
        "1.1 (baseline)",
      ]);
      assert.equal(report.notApplied.length, 1);
    });
  },
});

Deno.test({
  name: "[server] adopt refuses when strata's ledger records what the tool no longer does",
  ignore: !serverReachable,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withProject(CASES.goose.files, async (dir, url) => {
      await importInto(dir, "goose", "goose");
      await CASES.goose.setup(url, dir);
      const first = await strata(["adopt", "goose", "-d", url], { cwd: dir });
      assert.equal(first.code, 0, first.stdout + first.stderr);
      // goose then rolled 3 back; strata's row for it stays until someone decides.
      await run(url, ["INSERT INTO goose_db_version (version_id, is_applied) VALUES (3, false)"]);
      const before = await queryDb(url, "SELECT count(*)::int AS n FROM strata_journal");
      const again = await strata(["adopt", "goose", "-d", url, "--json"], { cwd: dir });
      assert.equal(again.code, 5, again.stdout + again.stderr);
      assert.match(JSON.parse(again.stdout).error.message, /records 00000000_000003_index/);
      assert.deepEqual(
        await queryDb(url, "SELECT count(*)::int AS n FROM strata_journal"),
        before,
      );
    });
  },
});
