/**
 * The contenders, as a table. A tool is a name, the engines it runs on, a
 * setup that writes its files for a fixture into a scratch folder, and one
 * command per step. A tool takes part in a workload exactly when it has a
 * command for that workload's step, so a peer (dbmate, Alembic, …) is one
 * more entry here and nothing else changes.
 *
 * Floors are entries too: the least any migration tool could cost for that
 * step (start a process and connect; or send the same SQL with no bookkeeping).
 */
import { join } from "node:path";
import { fileURLToPath as fromFileUrl } from "node:url";
import type { Fixture } from "./fixtures.ts";
import { capture, firstLine } from "./peers.ts";
import { PEERS } from "./peer_tools.ts";

export type Engine = "server" | "pglite";

/** status: read-only look at the state; noop: apply with nothing to do; apply; downgrade to base. */
export type Step = "status" | "noop" | "apply" | "downgrade";

/** The database one tool uses in one workload. */
export interface Target {
  engine: Engine;
  /** A postgres:// URL for the server, `pglite:FOLDER` for the embedded engine. */
  url: string;
  /** The PGlite data folder (embedded engine only). */
  folder?: string;
}

export interface ToolContext {
  /** Where `setup` wrote this tool's files for the workload's fixture (also the working directory). */
  dir: string;
  target: Target;
  fixture: Fixture;
}

/** What `ensure` gets: whether it may install, where to say what it does, the scratch folder. */
export interface EnsureOptions {
  install: boolean;
  log: (text: string) => void;
  scratch: string;
  /** Measure strata as committed at this git revision instead of the working tree. */
  strataRev?: string;
}

export interface Tool {
  name: string;
  /**
   * strata; a floor (not a migration tool, the least any tool could cost); or
   * a peer (another migration tool). A peer's failure is reported in the table
   * and the bench goes on; anything else failing stops the bench.
   */
  kind: "strata" | "floor" | "peer";
  engines: Engine[];
  /** Write the tool's files for `fixture` into `dir` (which exists, empty). */
  setup(dir: string, fixture: Fixture): Promise<void>;
  commands: Partial<Record<Step, (ctx: ToolContext) => string[]>>;
  /** For a step the tool has no command for, what it lacks (printed as a row without times). */
  lacks?: Partial<Record<Step, string>>;
  /** Extra environment for every command of the tool (e.g. a URL it only reads from a variable). */
  env?: (ctx: ToolContext) => Record<string, string>;
  /**
   * Make the tool runnable, installing it when it is missing and allowed to;
   * resolve to its version for the report header, or throw with the reason
   * to leave it out of this run.
   */
  ensure(options: EnsureOptions): Promise<string>;
}

/** The deno binary running the bench: strata is timed on it directly, never through npx. */
export const DENO = Deno.execPath();
const REPO = fromFileUrl(new URL("../", import.meta.url));
/** What strata needs to run from source: copied to the scratch folder by `ensure`. */
const SOURCES = ["main.ts", "deno.json", "deno.lock", "lib"];
/**
 * Where strata runs from: a copy of the working tree's sources made when the
 * bench starts, so edits made while a long bench runs do not change (or break)
 * the strata being measured halfway through.
 */
let strataRoot = REPO;

/** How the bench runs strata (the copy `ensure` made): for commands beyond the four steps (W6). */
export function strataRun(...args: string[]): string[] {
  // --config: strata runs with the tool's scratch folder as working directory
  // (so the repository's strata.json is not read) and must still find the
  // import map and lock file.
  return [
    DENO,
    "run",
    "-A",
    // A dynamic import's graph is built when it runs, not before strata's first line (PGlite, the
    // image module, the parser). Not set in deno.json: `deno compile` would then embed none of them.
    "--unstable-lazy-dynamic-imports",
    "--config",
    join(strataRoot, "deno.json"),
    join(strataRoot, "main.ts"),
    ...args,
  ];
}

/** The commit strata's sources come from, and whether the working tree differs from it. */
async function commitOf(): Promise<string> {
  const head = await firstLine(["git", "-C", REPO, "rev-parse", "--short", "HEAD"]);
  if (!head) return "not a git checkout";
  const dirty = await firstLine(["git", "-C", REPO, "status", "--porcelain", "--", ...SOURCES]);
  return dirty ? `working tree: commit ${head} with uncommitted changes` : `commit ${head}`;
}

function strataCommand(ctx: ToolContext, ...args: string[]): string[] {
  return [
    ...strataRun(...args),
    "--database",
    ctx.target.url,
    "--dir",
    ctx.dir,
    "--no-color",
  ];
}

const strata: Tool = {
  name: "strata",
  kind: "strata",
  engines: ["server", "pglite"],
  async setup(dir, fixture) {
    for (const rev of fixture.revisions) {
      // One statement per line, as a person would write the file.
      const mode = rev.transaction === "none" ? "-- transaction: none\n" : "";
      const text = `-- message: ${rev.id}\n${mode}-- up\n${rev.up.join(";\n")};\n` +
        `-- down\n${rev.down.join(";\n")};\n`;
      await Deno.writeTextFile(join(dir, `${rev.id}.sql`), text);
    }
  },
  commands: {
    status: (ctx) => strataCommand(ctx, "status"),
    noop: (ctx) => strataCommand(ctx, "apply"),
    apply: (ctx) => strataCommand(ctx, "apply"),
    downgrade: (ctx) => strataCommand(ctx, "downgrade", "base"),
  },
  async ensure({ scratch, strataRev }) {
    const copy = join(scratch, "strata-src");
    await Deno.mkdir(copy, { recursive: true });
    if (strataRev) {
      // A committed revision, read from git (nothing in the repository changes).
      const archive = join(scratch, "strata-src.tar");
      const result = await capture([
        "git",
        "-C",
        REPO,
        "archive",
        "--output",
        archive,
        strataRev,
        ...SOURCES,
      ]);
      if (!result.ok) throw new Error(`git archive ${strataRev} failed: ${result.out}`);
      const untar = await capture(["tar", "-x", "-f", archive, "-C", copy]);
      if (!untar.ok) throw new Error(`cannot unpack ${archive}: ${untar.out}`);
    } else {
      for (const name of SOURCES) {
        const result = await capture(["cp", "-a", join(REPO, name), copy]);
        if (!result.ok) throw new Error(`cannot copy ${name} to ${copy}: ${result.out}`);
      }
    }
    strataRoot = copy;
    const version = await firstLine(strataRun("--version"));
    if (!version) throw new Error(`strata --version failed (sources copied to ${copy})`);
    const from = strataRev
      ? `commit ${await firstLine(["git", "-C", REPO, "rev-parse", "--short", strataRev])}`
      : await commitOf();
    return `${version}, ${from} (deno run from a copy of the sources, not compiled)`;
  },
};

async function psqlVersion(): Promise<string> {
  const version = await firstLine(["psql", "--version"]);
  if (!version) throw new Error("psql is not on the PATH");
  return version;
}

function psql(url: string, ...args: string[]): string[] {
  return ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, ...args];
}

/** Start a client and connect: the least a tool pays for any command. */
const psqlSelect: Tool = {
  name: "floor: psql select 1",
  kind: "floor",
  engines: ["server"],
  setup: () => Promise.resolve(),
  commands: {
    status: (ctx) => psql(ctx.target.url, "-c", "select 1"),
    noop: (ctx) => psql(ctx.target.url, "-c", "select 1"),
  },
  ensure: psqlVersion,
};

const DENO_SELECT = `import postgres from "npm:postgres@3.4.9";
const sql = postgres(Deno.args[0], { max: 1, fetch_types: false, onnotice: () => {} });
await sql\`select 1\`;
await sql.end();
`;

/**
 * A floor script written by `setup`, run by the same deno binary as strata.
 * --no-config: no deno.json above the scratch folder may change how it runs.
 */
function denoScript(ctx: ToolContext, script: string, ...args: string[]): string[] {
  return [DENO, "run", "-A", "--no-config", join(ctx.dir, script), ...args];
}

/** The same runtime and client strata uses, doing nothing but connect: strata's own floor. */
const denoSelect: Tool = {
  name: "floor: deno + postgres select 1",
  kind: "floor",
  engines: ["server"],
  setup: (dir) => Deno.writeTextFile(join(dir, "select1.ts"), DENO_SELECT),
  commands: {
    status: (ctx) => denoScript(ctx, "select1.ts", ctx.target.url),
    noop: (ctx) => denoScript(ctx, "select1.ts", ctx.target.url),
  },
  ensure: () => Promise.resolve(`deno ${Deno.version.deno}, npm:postgres@3.4.9`),
};

/**
 * One line per revision; `separator` joins its statements so psql sends them
 * as one query (a `transaction: none` revision's statements go one by one).
 */
async function writeScripts(dir: string, fixture: Fixture, separator: string): Promise<void> {
  const line = (statements: string[], none: boolean) =>
    statements.join(`${none ? ";" : separator} `) + ";\n";
  const up = fixture.revisions.map((rev) => line(rev.up, rev.transaction === "none")).join("");
  const down = [...fixture.revisions].reverse()
    .map((rev) => line(rev.down, rev.transaction === "none")).join("");
  await Deno.writeTextFile(join(dir, "up.sql"), up);
  await Deno.writeTextFile(join(dir, "down.sql"), down);
}

/** The server's own cost: the same SQL, one query per revision, one process, no bookkeeping. */
const psqlScript: Tool = {
  name: "floor: psql, one query per revision",
  kind: "floor",
  engines: ["server"],
  setup: (dir, fixture) => writeScripts(dir, fixture, "\\;"),
  commands: {
    apply: (ctx) => psql(ctx.target.url, "-f", join(ctx.dir, "up.sql")),
    downgrade: (ctx) => psql(ctx.target.url, "-f", join(ctx.dir, "down.sql")),
  },
  ensure: psqlVersion,
};

// Without a file: open the folder and select 1 (PGlite's start-up cost).
// With one: exec each line (one revision) in turn, as strata would.
const PGLITE_SCRIPT = `import { PGlite } from "npm:@electric-sql/pglite@0.5.16";
const [folder, file] = Deno.args;
const db = await PGlite.create(folder);
if (file) {
  for (const line of (await Deno.readTextFile(file)).split("\\n")) {
    if (line.trim()) await db.exec(line);
  }
} else {
  await db.query("select 1");
}
await db.close();
`;

/** PGlite alone in the same runtime: its start-up, or the same SQL without bookkeeping. */
const denoPglite: Tool = {
  name: "floor: deno + PGlite",
  kind: "floor",
  engines: ["pglite"],
  async setup(dir, fixture) {
    await writeScripts(dir, fixture, ";");
    await Deno.writeTextFile(join(dir, "pglite.ts"), PGLITE_SCRIPT);
  },
  commands: {
    status: (ctx) => denoScript(ctx, "pglite.ts", ctx.target.folder!),
    noop: (ctx) => denoScript(ctx, "pglite.ts", ctx.target.folder!),
    apply: (ctx) => denoScript(ctx, "pglite.ts", ctx.target.folder!, join(ctx.dir, "up.sql")),
    downgrade: (ctx) => denoScript(ctx, "pglite.ts", ctx.target.folder!, join(ctx.dir, "down.sql")),
  },
  ensure: () => Promise.resolve(`deno ${Deno.version.deno}, npm:@electric-sql/pglite@0.5.16`),
};

/** Every entry, in the order rows are printed within a workload: strata, the floors, the peers. */
export const TOOLS: Tool[] = [strata, psqlSelect, denoSelect, psqlScript, denoPglite, ...PEERS];
