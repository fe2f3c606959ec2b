/**
 * Every command with its help text: the one table main.ts dispatches on.
 * A command's module is loaded only when it runs, so `status` and `apply`
 * never pay for loading the proof, lint and squash code.
 */
import type { Command, Context } from "./context.ts";
import { positionals } from "./context.ts";
import { usage } from "../errors.ts";

/** The command `name` of a module, imported on first use. */
function lazy<K extends string>(
  load: () => Promise<{ [key in K]: Command }>,
  name: K,
): Command {
  return async (ctx) => (await load())[name](ctx);
}

export interface CommandEntry {
  summary: string;
  usage: string;
  help: string;
  example: string;
  run: (ctx: Context) => Promise<number>;
}

/** What apply and a bare upgrade aim at: "head", or "heads" where several heads are normal. */
const upgradeTarget = (ctx: Context) => ctx.config.multipleHeads ? "heads" : "head";

const target = (ctx: Context, fallback: string | null, usageLine: string) => {
  const [value] = positionals(ctx, fallback === null ? 1 : 0, 1, usageLine);
  return value ?? fallback!;
};

const MIGRATE_HELP = `Targets: head, heads, base, a revision id or unique prefix, +N, -N, REV+N.
  --sql        print the complete SQL (ledger statements included) without connecting;
               a range FROM:TO sets the assumed starting point (default base, or head for downgrade)
  --dry-run    connect, read the state, print the plan and its SQL; change nothing
  --allow-out-of-order  apply revisions older than applied ones (with a warning)
  --single-transaction  every pending revision and its ledger rows in one transaction
               (config singleTransaction): a failure anywhere changes nothing
  --require-no-drift  under the lock, before anything runs, compare the database with what its
               applied revisions build (as strata drift); refuse with exit 3 when they differ
               (config driftGate, STRATA_DRIFT_GATE)
  --heads      several heads are normal (config multipleHeads): apply and a bare upgrade go to
               every head, as upgrade heads; without it they refuse several heads`;

export const COMMANDS: Record<string, CommandEntry> = {
  init: {
    summary: "write strata.json, the migrations folder and its category folders",
    usage: "init [--dir PATH] [--database URL]",
    help: "Never overwrites an existing strata.json.",
    example: "strata init --database postgres://postgres@127.0.0.1:5432/app",
    run: lazy(() => import("./init.ts"), "init"),
  },
  status: {
    summary: "the database against the files: current, heads, pending, edited, missing",
    usage: "status [--heads] [--json]",
    help:
      "Read-only; takes no lock. Lists pending revisions, edited or missing files,\nout-of-order revisions, interrupted runs and invalid indexes. A pglite: folder not created\nyet is reported as such, everything pending; nothing is created.\n" +
      "  --heads   several heads are normal (config multipleHeads): up to date once all are applied",
    example: "strata status --database pglite:.strata/demo",
    run: lazy(() => import("./status.ts"), "status"),
  },
  check: {
    summary: "like status; exit 3 when anything is pending, edited, missing or branched",
    usage: "check [--heads] [--json]",
    help: "For CI and cron: exit 0 when up to date, 3 when not. Several heads count as branched\n" +
      "(exit 3) unless --heads or config multipleHeads says they are normal; then exit 0 once\n" +
      "every head is applied.",
    example: "strata check || echo 'migrations pending'",
    run: lazy(() => import("./status.ts"), "check"),
  },
  create: {
    summary: "new revision file YYYYMMDD_HHMM_slug.sql whose parent is the head",
    usage: 'create "description" [--category NAME] [--empty] [--autogenerate [--schema PATH]]',
    help: "Prints where the file went and why.\n" +
      "--category NAME  the category folder (default: the head's; categories are optional)\n" +
      "--empty          no template comments in the sections\n" +
      "--autogenerate   fill up and down from the desired schema (config schema, default\n" +
      "                 schema.sql; --schema PATH): the SQL from head to it and back, proven on\n" +
      "                 the embedded engine before the file is written; destructive statements\n" +
      "                 carry a comment and are flagged by strata lint",
    example: 'strata create "add user avatar" --category 02_core_features',
    run: lazy(() => import("./create.ts"), "create"),
  },
  revision: {
    summary: "alias of create",
    usage: 'revision -m "description" [--category NAME] [--empty]',
    help: "Same as create, Alembic style.",
    example: 'strata revision -m "add user avatar"',
    run: lazy(() => import("./create.ts"), "create"),
  },
  apply: {
    summary: "upgrade to head (to every head with --heads / multipleHeads)",
    usage: "apply [--heads] [--sql] [--dry-run]",
    help: MIGRATE_HELP,
    example: "strata apply --database postgres://postgres@127.0.0.1:5432/app",
    run: async (ctx) =>
      (await import("./migrate.ts")).migrate(ctx, "up", target(ctx, upgradeTarget(ctx), "apply")),
  },
  upgrade: {
    summary: "apply revisions up to a target (default head; heads with --heads / multipleHeads)",
    usage: "upgrade [TARGET] [--heads] [--sql] [--dry-run]",
    help: MIGRATE_HELP,
    example: "strata upgrade +1",
    run: async (ctx) =>
      (await import("./migrate.ts")).migrate(
        ctx,
        "up",
        target(ctx, upgradeTarget(ctx), "upgrade [TARGET]"),
      ),
  },
  downgrade: {
    summary: "roll back revisions down to a target",
    usage: "downgrade TARGET [--sql] [--dry-run]",
    help: MIGRATE_HELP,
    example: "strata downgrade -1",
    run: async (ctx) => {
      if (ctx.args.length === 0) {
        throw usage(
          "downgrade needs a target",
          "A target is -1 (one revision back), -N, a revision id or a unique prefix of one " +
            "(roll back what follows it), or base (everything): strata downgrade -1",
        );
      }
      return (await import("./migrate.ts")).migrate(
        ctx,
        "down",
        target(ctx, null, "downgrade TARGET"),
      );
    },
  },
  current: {
    summary: "the current revision recorded in the database (one per applied branch)",
    usage: "current",
    help: "The applied revisions that have no applied child.",
    example: "strata current --json",
    run: lazy(() => import("./inspect.ts"), "current"),
  },
  heads: {
    summary: "the heads of the file graph",
    usage: "heads",
    help: "Revisions with no children. More than one: join them with strata merge.",
    example: "strata heads",
    run: lazy(() => import("./inspect.ts"), "heads"),
  },
  history: {
    summary: "the graph in order, newest first, with applied marks",
    usage: "history [--verbose] [-r FROM:TO]",
    help: "Applied marks need a configured database; without one, or on a pglite: folder not\n" +
      "created yet, the files alone are listed.",
    example: "strata history -r base:head --verbose",
    run: lazy(() => import("./inspect.ts"), "history"),
  },
  show: {
    summary: "one revision: header, parents, children, checksum, when applied, its SQL",
    usage: "show REV",
    help: "REV is an id or a unique prefix.",
    example: "strata show 20240105",
    run: lazy(() => import("./inspect.ts"), "show"),
  },
  stamp: {
    summary: "record revisions as applied without running them (or --unstamp)",
    usage: "stamp TARGET [--unstamp]",
    help:
      "stamp REV records REV and its ancestors; --unstamp REV removes REV and what follows it\n(also a revision whose file is gone: its row is forgotten); stamp base clears every row.\nEvery change is journaled.",
    example: "strata stamp head",
    run: lazy(() => import("./stamp.ts"), "stamp"),
  },
  rehash: {
    summary: "accept a deliberate edit of an applied revision (journaled)",
    usage: "rehash REV",
    help: "Stores the file's current checksum in the ledger.",
    example: "strata rehash 20240105_0900_initial_users",
    run: lazy(() => import("./stamp.ts"), "rehash"),
  },
  merge: {
    summary: "write a merge revision over the given heads (default: all)",
    usage: 'merge -m "description" [REV ...]',
    help: "The merge revision has empty up and down sections.",
    example: 'strata merge -m "merge feature branches"',
    run: lazy(() => import("./create.ts"), "merge"),
  },
  backup: {
    summary: "copy every migration file, with a manifest, to versions_backup/backup_…",
    usage: "backup [--dir PATH]",
    help:
      "Raw bytes, category folders kept, also files that do not parse; manifest.json holds ids,\nparents, checksums and the strata version. Needs no database.",
    example: "strata backup --json",
    run: lazy(() => import("./backup.ts"), "backup"),
  },
  backups: {
    summary: "list the snapshots in versions_backup, newest first",
    usage: "backups [--json]",
    help: "Files and size of each; an interrupted (partial) backup is flagged.",
    example: "strata backups",
    run: lazy(() => import("./backup.ts"), "backups"),
  },
  restore: {
    summary: "put a snapshot's files back (the current files are backed up first)",
    usage: "restore ID|PREFIX|latest",
    help:
      "Verifies every file against the manifest first: a corrupt or partial snapshot is refused\n(exit 5) and nothing changes. Then writes the snapshot's files byte for byte and removes\n.sql files it does not have. latest is the newest complete backup.",
    example: "strata restore latest",
    run: lazy(() => import("./backup.ts"), "restore"),
  },
  clean: {
    summary: "squash all but the newest N revisions (default 10) into one proven baseline",
    usage: "clean [N] [--dry-run] [--scratch URL]",
    help:
      "The range is the oldest revisions in graph order, merges included, and runs in that order.\n" +
      "Refused when a kept revision would follow only part of it (the hint names an N that works).\n" +
      "transaction: none revisions join it rewritten: CONCURRENTLY dropped, VACUUM and BEGIN/COMMIT\n" +
      "left out, each said in a comment; CREATE DATABASE, ALTER SYSTEM and the like are refused.\n" +
      "Proves, on the embedded engine (or --scratch URL), that the baseline\n" +
      "builds the same schema as the revisions, up and down; then backs up the files, writes the\n" +
      "baseline (header replaces: ...) and removes the squashed files. A configured database that\n" +
      "applied only part of the range is refused; one that applied all of it adopts the baseline\n" +
      "on its next apply (journal: adopt).\n  --dry-run  plan and prove; write nothing",
    example: "strata clean 10 --dry-run",
    run: lazy(() => import("./clean.ts"), "clean"),
  },
  reset: {
    summary: "dangerous: back up the files, then downgrade to base (or --hard: drop the schemas)",
    usage: "reset [--hard] [--reapply] [--yes]",
    help: "Prints what it will do, then asks for the database name on a terminal; without a\n" +
      "terminal it refuses unless --yes is given. The files are backed up first.\n" +
      '  --hard     drop and recreate the managed schemas (config schemas, default ["public"])\n' +
      "             and clear the ledger, in one transaction; the journal is kept\n" +
      "  --reapply  then apply every revision to head (every head with multipleHeads)\n" +
      "  --yes      confirm without asking",
    example: "strata reset --hard --reapply --yes --database postgres://postgres@127.0.0.1/dev",
    run: lazy(() => import("./reset.ts"), "reset"),
  },
  verify: {
    summary: "prove every down undoes its up, on a scratch database (embedded by default)",
    usage: "verify [--strict] [--scratch URL] [--json]",
    help: "Applies the revisions one at a time in graph order on a fresh embedded database in\n" +
      "memory; after each up it runs the down and checks the schema is exactly the one before,\n" +
      "then runs the up again and goes on; after a failing or faulty down it rebuilds and goes on.\n" +
      "Findings are structural, comment only (a lost COMMENT) or function text only (a body that\n" +
      "differs only in whitespace or comments). Never touches the configured database.\n" +
      "  --strict        comment-only, function-text-only and irreversible revisions (no down)\n" +
      "                  are errors (default: warnings)\n" +
      "  --scratch URL   use fresh databases on this server instead (created and dropped)\n" +
      "Exit 1 on a structural finding or a revision that fails to run.",
    example: "strata verify --strict",
    run: lazy(() => import("./verify.ts"), "verify"),
  },
  locks: {
    summary: "each statement's measured locks, rewrites and scans, on a scratch database",
    usage: "locks [REV ...] [--scratch URL] [--json]",
    help:
      "Runs the revisions (REV: ids or unique prefixes; default every revision) in graph order\n" +
      "on a fresh embedded database (or --scratch URL), with a few generated rows in every empty\n" +
      "table, each statement of a measured revision in its own transaction, and reports what\n" +
      "PostgreSQL says it did: the locks it held before COMMIT (pg_locks), the tables and indexes\n" +
      "it rewrote (relfilenode changed), the tables it read whole (a validation scan, a rewrite,\n" +
      "an index build), and what each lock blocks. transaction: none revisions run outside a\n" +
      "transaction: only rewrites are measured there. Never touches the configured database.\n" +
      "  --scratch URL   use a fresh database on this server instead (created and dropped)",
    example: "strata locks 20240101_1200 --json",
    run: lazy(() => import("./locks.ts"), "locks"),
  },
  diff: {
    summary: "the SQL that turns head into the desired schema (schema.sql), proven, not written",
    usage: "diff [--schema PATH] [--json]",
    help: "What create --autogenerate would write, printed: the up and down sections that turn\n" +
      "head into the desired schema and back, each proven on the embedded engine first.",
    example: "strata diff --schema db/schema.sql",
    run: lazy(() => import("./autogen.ts"), "diff"),
  },
  drift: {
    summary: "what changed in the database out of band, against its applied revisions",
    usage: "drift [--scratch URL] [--json]",
    help:
      "Builds the schema the applied revisions give on the embedded engine (or --scratch URL),\n" +
      "snapshots the configured database and lists objects added (+), removed (-) or changed (~)\n" +
      "out of band. Read-only on the database. Exit 3 when drifted, 0 when not.",
    example: "strata drift --json",
    run: lazy(() => import("./drift.ts"), "drift"),
  },
  import: {
    summary: "another tool's migrations as strata files (dbmate, golang-migrate, goose, …)",
    usage: "import FORMAT PATH [--dir PATH] [--dry-run] [--partial] [--json]",
    help:
      "Formats: dbmate, golang-migrate, goose (SQL), flyway (SQL), sqitch, node-pg-migrate (SQL),\n" +
      "alembic (PATH holds alembic.ini; runs the project's Alembic offline through python3).\n" +
      "PATH is the tool's folder (db/migrations, migrations, Flyway's location, the Sqitch project).\n" +
      "Keeps the order, parents (Sqitch dependencies), transaction modes, no-op and missing downs;\n" +
      "prints what it mapped and what it could not. Writes into the migrations folder (--dir),\n" +
      "never over a file, after a backup when the folder already holds files.\n" +
      "  --dry-run  print the mapping, write nothing\n" +
      "  --partial  write what can be imported when some files cannot (a Go migration, a\n" +
      "             Flyway repeatable); without it such a file stops the import (exit 5)",
    example: "strata import dbmate db/migrations && strata verify",
    run: lazy(() => import("./import.ts"), "importCommand"),
  },
  adopt: {
    summary: "record as applied what another tool's ledger says ran (after strata import)",
    usage: "adopt FORMAT [PROJECT] [--dry-run] [--json]",
    help: "Formats and the table read: dbmate and golang-migrate schema_migrations, goose\n" +
      "goose_db_version, flyway flyway_schema_history, sqitch sqitch.changes (PROJECT when it holds\n" +
      "several), node-pg-migrate pgmigrations, alembic alembic_version. Matches the entries to the\n" +
      "revisions strata import wrote (their first line names the source) and records strata's rows\n" +
      "without running SQL, under the lock, in one transaction, journaled as adopt. Refuses (exit 5,\n" +
      "nothing changed) a dirty or failed state, an applied entry with no imported revision, or an\n" +
      "applied set not closed under parents. The other tool's table is left in place.\n" +
      "  --dry-run  print what it would record; change nothing",
    example: "strata import dbmate db/migrations && strata adopt dbmate --dry-run",
    run: lazy(() => import("./adopt.ts"), "adopt"),
  },
  baseline: {
    summary: "one root revision that builds the live database's schema, proven first",
    usage: 'baseline [-m "description"] [--stamp] [--scratch URL] [--json]',
    help:
      "For a database no tool managed: reads the managed schemas (config schemas, default public)\n" +
      "and writes one root revision that builds them from nothing, with a down that removes them.\n" +
      "Proven first: built on the embedded engine (or --scratch URL), it must snapshot as the\n" +
      "database does; any difference or object strata cannot reproduce is named and nothing is\n" +
      "written (exit 1; an extension the embedded engine lacks: exit 2). Refused when the\n" +
      "migrations folder has revisions or the database's ledger has rows.\n" +
      "  --stamp    record the revision as applied in that database (under the lock, journaled)",
    example: "strata baseline --stamp && strata status",
    run: lazy(() => import("./baseline.ts"), "baseline"),
  },
  dump: {
    summary: "the desired-schema file (schema.sql) from the database or from head",
    usage: "dump [--from-migrations] [-o FILE] [--scratch URL] [--json]",
    help:
      "Writes the file create --autogenerate reads (config schema, default schema.sql) from the\n" +
      "database, or with --from-migrations from every revision built on the embedded engine;\n" +
      "strata's ledger and journal are left out, and the SQL is proven to rebuild the same schema.\n" +
      "  -o FILE   write FILE instead (inside the working folder; -o - prints it). A FILE that\n" +
      "            exists with other contents is kept as FILE.YYYYMMDD_HHMMSS.bak first",
    example: "strata dump && strata diff",
    run: lazy(() => import("./dump.ts"), "dump"),
  },
  lint: {
    summary: "flag risky statements (locks, rewrites, data loss) with file and line",
    usage:
      "lint [REV ...] [--fail-on error|warning] [--format text|json|github|sarif] [--measured [--scratch URL]]",
    help:
      "Lints every revision in graph order, or the given ones (ids or unique prefixes).\nNeeds no database. Silence one finding with a comment on the line before the statement:\n  -- strata:allow RULE reason\nExit 3 when an error-level finding remains; warnings alone exit 0.\n" +
      "  --fail-on LEVEL  exit 3 on findings at or above LEVEL: error (default) or warning\n" +
      '                   (or STRATA_LINT_FAIL_ON, or "lintFailOn" in strata.json)\n' +
      "  --format FORMAT  text (default); json (as --json); github: GitHub Actions annotations\n" +
      "                   (::error / ::warning file=,line=,col=); sarif: SARIF 2.1.0 for code scanning\n" +
      "  --measured       each lock-rule finding also names what strata locks measures for its\n" +
      "                   statement on a scratch database (embedded, or --scratch URL)",
    example: "strata lint --format github",
    run: lazy(() => import("./lint.ts"), "lint"),
  },
  fleet: {
    summary: "apply, status, check, drift or verify-applied over many databases, one report",
    usage: "fleet COMMAND (--targets FILE | --targets-query SQL) [--parallel N] [--canary K] " +
      "[--on-error stop|continue] [--json]",
    help:
      "COMMAND is apply, upgrade [TARGET], status, check, drift or verify-applied (the ledger\n" +
      "against the files: each applied file present with its checksum; nothing else). Each target\n" +
      "runs as strata COMMAND alone would run it: its own connection, lock and ledger, the global\n" +
      "options below; the files are read and checked once, before any target is touched.\n" +
      "  --targets FILE         one database a line: URL or NAME URL; # comments, blank lines\n" +
      "  --targets-query SQL    run on --database; each row a database name (put into the\n" +
      "                         --database URL) or a URL, optionally a column called name.\n" +
      "                         Both together: the file's targets, then the query's; the same\n" +
      "                         name and URL in both runs once, any other clash is refused\n" +
      "  --parallel N           at most N targets at once (default 4): N connections\n" +
      "  --canary K             the first K targets run first; the rest only if all K succeed\n" +
      "  --on-error stop|continue  stop (default): after a failure no new target starts and\n" +
      "                         running ones stop after their current revision\n" +
      "On a terminal one line shows done, running, failed, left and the slowest target; elsewhere\n" +
      "a line per finished target. The report: per target its result (ok, found, failed,\n" +
      "interrupted, skipped), revisions, time and error. Exit 0 when every target succeeded\n" +
      "(check, drift, verify-applied: and found nothing), 3 when they did and some found\n" +
      "something, 6 when some succeeded and some did not, the failures' code when all failed,\n" +
      "130 after Ctrl-C. Running it again continues: targets at head have nothing to do.",
    example: "strata fleet apply --targets tenants.txt --parallel 8 --canary 1",
    run: lazy(() => import("./fleet.ts"), "fleet"),
  },
};

const GLOBAL_HELP = `Global options:
  -d, --database URL        postgres://…, pglite:PATH or pglite:memory (or DATABASE_URL, PG*, strata.json)
      --dir PATH            migrations folder (default: migrations)
      --table [SCHEMA.]NAME ledger table (default: strata_ledger, journal beside it)
      --lock-timeout D      wait for the migration lock at most D (default 60s; exit 4)
      --connect-timeout D   wait for a connection at most D (default 10s)
      --statement-timeout D statement_timeout for migrations (default none)
      --lock-wait D         lock_timeout for migrations' own statements (default none)
      --lock-retries N      after a lock timeout, try again N times with backoff (default 0)
      --lock-strategy S     session (advisory lock, default) or table (leased row; poolers)
      --lock-lease D        the table strategy's lease, renewed while the run lasts (default 30s)
      --allow-out-of-order  apply revisions older than applied ones (with a warning)
      --heads               several heads are normal (config multipleHeads)
      --single-transaction  all pending revisions in one transaction (config singleTransaction)
      --json                one JSON document on stdout (help and --sql output included)
  -v, --verbose             print each statement as it runs
      --no-color            no colours (also NO_COLOR)
  -y, --yes                 confirm reset without being asked
      --scratch URL         prove on fresh databases of this server, not the embedded engine
      --schema PATH         the desired-schema file of diff and create --autogenerate (default schema.sql)
  -h, --help                help; strata COMMAND --help for one command
  -V, --version             the version
Durations: 500ms, 2s, 1m; a bare number is seconds.
Exit codes: 0 done, 1 a migration failed, 2 usage or configuration, 3 check found something,
4 lock not obtained, 5 integrity (edited or missing applied file, broken graph), 6 fleet: some
targets failed, 130 interrupted.
`;

export function mainHelp(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((name) => name.length));
  const lines = Object.entries(COMMANDS).map(([name, c]) =>
    `  ${name.padEnd(width)}  ${c.summary}`
  );
  return `strata: PostgreSQL schema migrations in plain SQL files

Usage: strata COMMAND [options]

Commands:
${lines.join("\n")}

${GLOBAL_HELP}`;
}

export function commandHelp(name: string): string | null {
  const c = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!c) return null;
  return `Usage: strata ${c.usage}

${c.summary[0].toUpperCase()}${c.summary.slice(1)}.
${c.help}

Example:
  ${c.example}

${GLOBAL_HELP}`;
}
