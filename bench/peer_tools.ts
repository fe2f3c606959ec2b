/**
 * The peer migration tools as entries of the bench's tool table: each one
 * writes the same fixture in its own migration format and runs with its
 * defaults, except where a default would change what is measured (said at
 * the option): every peer commits each revision's SQL on its own, as strata
 * does, instead of one transaction for the whole run. (dbmate,
 * node-pg-migrate and Alembic commit their bookkeeping row in that same
 * transaction, like strata; postgrator and Sqitch record it afterwards, in a
 * separate statement or connection.)
 *
 * What a peer cannot do in one command is left out: dbmate rolls back one
 * migration per run; node-pg-migrate and postgrator have no status command.
 */
import { join } from "node:path";
import type { Fixture, Revision } from "./fixtures.ts";
import {
  capture,
  dbmateBinary,
  debianPackageVersion,
  ensureDebianPackages,
  ensureNpmPeers,
  firstLine,
  npmPath,
  npmVersion,
} from "./peers.ts";
import type { EnsureOptions, Tool, ToolContext } from "./tools.ts";

function pad(n: number, width = 5): string {
  return String(n).padStart(width, "0");
}

/** The part of a strata id after the date and time (`r00001`, `big`): each tool's file names use it. */
function slugOf(rev: Revision): string {
  return rev.id.split("_").slice(2).join("_") || "rev";
}

/** Statements one per line, each ending with a semicolon, as in strata's own files. */
function lines(statements: string[]): string {
  return statements.map((s) => `${s};\n`).join("");
}

async function writeAll(dir: string, files: [string, string][]): Promise<void> {
  for (const [name, text] of files) {
    await Deno.mkdir(join(dir, name, ".."), { recursive: true });
    await Deno.writeTextFile(join(dir, name), text);
  }
}

/** Throw the reason a peer is left out, or return normally. */
function skipUnless(reason: string | null): void {
  if (reason !== null) throw new Error(reason);
}

async function ensureNode(options: EnsureOptions): Promise<string> {
  skipUnless(await ensureNpmPeers(options.install, options.log));
  const node = await firstLine(["node", "--version"]);
  if (!node) throw new Error("node is not on the PATH");
  return node;
}

// ---------------------------------------------------------------- dbmate

/** dbmate's Go driver asks for TLS unless told otherwise; the local server has none. */
function dbmateUrl(ctx: ToolContext): string {
  const url = new URL(ctx.target.url);
  url.searchParams.set("sslmode", "disable");
  return url.toString();
}

function dbmate(ctx: ToolContext, command: string): string[] {
  return [
    dbmateBinary(),
    "--url",
    dbmateUrl(ctx),
    "--migrations-dir",
    join(ctx.dir, "db", "migrations"),
    // dbmate runs pg_dump after every migrate by default; that is not migrating.
    "--no-dump-schema",
    command,
  ];
}

const dbmateTool: Tool = {
  name: "dbmate",
  kind: "peer",
  engines: ["server"],
  setup: (dir, fixture) =>
    writeAll(
      dir,
      // An empty folder too: dbmate refuses a missing one.
      [
        ["db/migrations/.keep", ""],
        ...fixture.revisions.map((rev, i): [string, string] => [
          `db/migrations/${pad(i + 1)}_${slugOf(rev)}.sql`,
          rev.transaction === "none"
            ? `-- migrate:up transaction:false\n${lines(rev.up)}\n` +
              `-- migrate:down transaction:false\n${lines(rev.down)}`
            : `-- migrate:up\n${lines(rev.up)}\n-- migrate:down\n${lines(rev.down)}`,
        ]),
      ],
    ),
  commands: {
    status: (ctx) => dbmate(ctx, "status"),
    noop: (ctx) => dbmate(ctx, "migrate"),
    apply: (ctx) => dbmate(ctx, "migrate"),
  },
  // `dbmate rollback` undoes the latest migration only: one process per revision.
  lacks: { downgrade: "rolls back one migration per run" },
  async ensure(options) {
    skipUnless(await ensureNpmPeers(options.install, options.log));
    const version = await firstLine([dbmateBinary(), "--version"]);
    if (!version) throw new Error(`${dbmateBinary()} --version failed`);
    return `${version} (npm dbmate@${await npmVersion("dbmate")}, Go binary run directly)`;
  },
};

// ---------------------------------------------------------------- node-pg-migrate

function nodePgMigrate(...args: string[]): string[] {
  return [
    "node",
    npmPath("node-pg-migrate", "bin", "node-pg-migrate.js"),
    ...args,
    "--migrations-dir",
    "migrations",
    // Its default runs all pending migrations in one transaction; strata and
    // the other peers commit each revision on its own.
    "--no-single-transaction",
    // Its default prints every statement.
    "--no-verbose",
  ];
}

const nodePgMigrateTool: Tool = {
  name: "node-pg-migrate",
  kind: "peer",
  engines: ["server"],
  setup: (dir, fixture) =>
    writeAll(
      dir,
      fixture.revisions.map((rev, i) =>
        rev.transaction === "none"
          // Its SQL files always run in a transaction; outside one takes a JS migration.
          ? [
            `migrations/${pad(i + 1)}_${slugOf(rev)}.js`,
            `exports.up = (pgm) => { pgm.noTransaction(); pgm.sql(${
              JSON.stringify(lines(rev.up))
            }); };\n` +
            `exports.down = (pgm) => { pgm.noTransaction(); pgm.sql(${
              JSON.stringify(lines(rev.down))
            }); };\n`,
          ]
          : [
            `migrations/${pad(i + 1)}_${slugOf(rev)}.sql`,
            `-- Up Migration\n${lines(rev.up)}\n-- Down Migration\n${lines(rev.down)}`,
          ]
      ),
    ),
  // It reads the URL from a variable only (or a config file).
  env: (ctx) => ({ DATABASE_URL: ctx.target.url }),
  commands: {
    noop: () => nodePgMigrate("up"),
    apply: () => nodePgMigrate("up"),
    // `down N` undoes N migrations (default 1).
    downgrade: (ctx) => nodePgMigrate("down", String(ctx.fixture.revisions.length)),
  },
  lacks: { status: "no status command" },
  async ensure(options) {
    const node = await ensureNode(options);
    return `node-pg-migrate ${await npmVersion("node-pg-migrate")}, pg ${await npmVersion(
      "pg",
    )}, node ${node}`;
  },
};

// ---------------------------------------------------------------- postgrator

function postgrator(ctx: ToolContext, ...args: string[]): string[] {
  const url = new URL(ctx.target.url);
  return [
    "node",
    npmPath("postgrator-cli", "index.js"),
    ...args,
    "--no-config",
    "--driver",
    "pg",
    "--host",
    url.hostname,
    "--port",
    url.port || "5432",
    "--database",
    decodeURIComponent(url.pathname.slice(1)),
    "--username",
    decodeURIComponent(url.username) || "postgres",
    "--migration-pattern",
    "migrations/*",
  ];
}

const postgratorTool: Tool = {
  name: "postgrator",
  kind: "peer",
  engines: ["server"],
  setup: (dir, fixture) =>
    writeAll(
      dir,
      fixture.revisions.flatMap((rev, i): [string, string][] => [
        [`migrations/${pad(i + 1)}.do.${slugOf(rev)}.sql`, lines(rev.up)],
        [`migrations/${pad(i + 1)}.undo.${slugOf(rev)}.sql`, lines(rev.down)],
      ]),
    ),
  commands: {
    noop: (ctx) => postgrator(ctx),
    apply: (ctx) => postgrator(ctx),
    downgrade: (ctx) => postgrator(ctx, "--to", "0"),
  },
  lacks: { status: "no status command" },
  async ensure(options) {
    const node = await ensureNode(options);
    return `postgrator-cli ${await npmVersion("postgrator-cli")} (postgrator ${await npmVersion(
      "postgrator",
    )}), pg ${await npmVersion("pg")}, node ${node}`;
  },
};

// ---------------------------------------------------------------- Alembic

// python3-alembic has the module; the `alembic` script is in another package
// (alembic), and `python3 -m alembic` is the same entry point.
const ALEMBIC = ["/usr/bin/python3", "-m", "alembic"];

const ALEMBIC_INI = `[alembic]
script_location = .
`;

// Online mode with the URL from -x url=…; one transaction per revision
// (Alembic's default is one for the whole run).
const ALEMBIC_ENV = `from alembic import context
from sqlalchemy import create_engine, pool

url = context.get_x_argument(as_dictionary=True)["url"]
engine = create_engine(url, poolclass=pool.NullPool)
with engine.connect() as connection:
    context.configure(connection=connection, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()
`;

function pyString(text: string): string {
  return JSON.stringify(text); // a JSON string is a valid Python string literal for this SQL
}

function alembicRevision(rev: Revision, parent: Revision | undefined): string {
  // Outside the migration's transaction, Alembic's way: an autocommit block.
  const body = (statements: string[]) =>
    rev.transaction === "none"
      ? `    with op.get_context().autocommit_block():\n` +
        statements.map((s) => `        op.execute(${pyString(s)})\n`).join("")
      : statements.map((s) => `    op.execute(${pyString(s)})\n`).join("");
  return `"""${rev.id}"""
from alembic import op

revision = ${pyString(slugOf(rev))}
down_revision = ${parent ? pyString(slugOf(parent)) : "None"}
branch_labels = None
depends_on = None


def upgrade():
${body(rev.up)}

def downgrade():
${body(rev.down)}`;
}

function alembic(ctx: ToolContext, ...args: string[]): string[] {
  const url = new URL(ctx.target.url);
  url.protocol = "postgresql+psycopg2:";
  return [...ALEMBIC, "-c", join(ctx.dir, "alembic.ini"), "-x", `url=${url}`, ...args];
}

const alembicTool: Tool = {
  name: "Alembic",
  kind: "peer",
  engines: ["server"],
  setup: (dir: string, fixture: Fixture) =>
    writeAll(dir, [
      ["alembic.ini", ALEMBIC_INI],
      ["env.py", ALEMBIC_ENV],
      ...fixture.revisions.map((rev, i): [string, string] => [
        `versions/${pad(i + 1)}_${slugOf(rev)}.py`,
        alembicRevision(rev, fixture.revisions[i - 1]),
      ]),
    ]),
  commands: {
    // Alembic 1.8 has no `check`; `current` reads the scripts and the version table.
    status: (ctx) => alembic(ctx, "current"),
    noop: (ctx) => alembic(ctx, "upgrade", "head"),
    apply: (ctx) => alembic(ctx, "upgrade", "head"),
    downgrade: (ctx) => alembic(ctx, "downgrade", "base"),
  },
  async ensure(options) {
    skipUnless(
      await ensureDebianPackages(
        ["python3-alembic", "python3-psycopg2"],
        options.install,
        options.log,
      ),
    );
    const version = await firstLine([...ALEMBIC, "--version"]);
    if (!version) throw new Error(`${ALEMBIC.join(" ")} --version failed`);
    const python = await firstLine(["/usr/bin/python3", "--version"]);
    return `${version}, SQLAlchemy ${await debianPackageVersion("python3-sqlalchemy")}, ` +
      `psycopg2 ${await debianPackageVersion("python3-psycopg2")}, ${python} (Debian packages)`;
  },
};

// ---------------------------------------------------------------- Sqitch

const SQITCH = "/usr/bin/sqitch";
const SQITCH_USER = "strata bench <bench@example.invalid>";

const SQITCH_CONF = `[core]
\tengine = pg
\tplan_file = sqitch.plan
\ttop_dir = .
[user]
\tname = strata bench
\temail = bench@example.invalid
`;

function sqitchPlan(fixture: Fixture): string {
  const changes = fixture.revisions.map((rev) =>
    `${slugOf(rev)} 2024-01-01T00:00:00Z ${SQITCH_USER} # ${rev.id}\n`
  );
  return `%syntax-version=1.0.0\n%project=strata_bench\n\n${changes.join("")}`;
}

/** The target as Sqitch spells it: db:pg://user@host:port/name. */
function sqitchTarget(ctx: ToolContext): string {
  const url = new URL(ctx.target.url);
  return `db:pg://${url.username || "postgres"}@${url.host}${url.pathname}`;
}

function script(rev: Revision, statements: string[]): string {
  return rev.transaction === "none" ? lines(statements) : `BEGIN;\n${lines(statements)}COMMIT;\n`;
}

function sqitch(ctx: ToolContext, ...args: string[]): string[] {
  return [SQITCH, ...args, sqitchTarget(ctx)];
}

const sqitchTool: Tool = {
  name: "Sqitch",
  kind: "peer",
  engines: ["server"],
  setup: (dir, fixture) =>
    writeAll(dir, [
      ["sqitch.conf", SQITCH_CONF],
      ["sqitch.plan", sqitchPlan(fixture)],
      ...fixture.revisions.flatMap((rev): [string, string][] => [
        // As Sqitch's own templates: each script is its own transaction (none: no BEGIN).
        [`deploy/${slugOf(rev)}.sql`, script(rev, rev.up)],
        [`revert/${slugOf(rev)}.sql`, script(rev, rev.down)],
        // Written because the format has it; deploy runs verify scripts only with --verify.
        [`verify/${slugOf(rev)}.sql`, `SELECT 1;\n`],
      ]),
    ]),
  commands: {
    status: (ctx) => sqitch(ctx, "status"),
    noop: (ctx) => sqitch(ctx, "deploy"),
    apply: (ctx) => sqitch(ctx, "deploy"),
    downgrade: (ctx) => sqitch(ctx, "revert", "-y"),
  },
  async ensure(options) {
    skipUnless(
      await ensureDebianPackages(["sqitch", "libdbd-pg-perl"], options.install, options.log),
    );
    const version = await firstLine([SQITCH, "--version"]);
    if (!version) throw new Error(`${SQITCH} --version failed`);
    const driver = await capture(["perl", "-MDBD::Pg", "-e", "print $DBD::Pg::VERSION"]);
    if (!driver.ok) throw new Error(`Sqitch's driver DBD::Pg does not load: ${driver.out}`);
    const perl = await capture(["perl", "-e", "print $^V"]);
    return `${version}, DBD::Pg ${driver.out}, perl ${perl.out} (Debian packages; one psql per change)`;
  },
};

/** The peers, in the order their rows are printed. */
export const PEERS: Tool[] = [
  dbmateTool,
  nodePgMigrateTool,
  postgratorTool,
  alembicTool,
  sqitchTool,
];
