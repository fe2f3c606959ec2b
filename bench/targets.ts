/**
 * The databases the tools run against: scratch databases on the server
 * (random `bench_…` names, all dropped at the end) and PGlite folders in the
 * scratch folder. Everything created is remembered so cleanup never depends
 * on how far a run got.
 */
import postgres from "postgres";
import { join } from "node:path";
import { DENO, type Engine, type Target } from "./tools.ts";

export interface Places {
  adminUrl: string;
  admin: postgres.Sql;
  scratch: string;
  prefix: string;
  databases: Set<string>;
  counter: number;
  /** An initialised, empty PGlite folder, copied to make "empty" embedded targets. */
  template: string | null;
  /**
   * Per tool and fixture, a database (or PGlite folder) the tool's own apply
   * brought to "all applied" once; copied for every run that starts there.
   */
  applied: Map<string, Target>;
}

export async function openPlaces(adminUrl: string, scratch: string): Promise<Places> {
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {}, connect_timeout: 5 });
  await admin`select 1`;
  const prefix = `bench_${crypto.randomUUID().replaceAll("-", "").slice(0, 8)}`;
  return {
    adminUrl,
    admin,
    scratch,
    prefix,
    databases: new Set(),
    counter: 0,
    template: null,
    applied: new Map(),
  };
}

export async function serverVersion(places: Places): Promise<string> {
  const [row] = await places.admin`select version() as v`;
  return String(row.v);
}

function databaseUrl(places: Places, name: string): string {
  const url = new URL(places.adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/** A name or folder for one tool in one workload; nothing is created yet. */
export function newTarget(places: Places, engine: Engine): Target {
  const name = `${places.prefix}_${++places.counter}`;
  if (engine === "server") return { engine, url: databaseUrl(places, name) };
  const folder = join(places.scratch, "pglite", name);
  return { engine, url: `pglite:${folder}`, folder };
}

function nameOf(target: Target): string {
  return new URL(target.url).pathname.slice(1);
}

async function run(cmd: string[]): Promise<void> {
  const result = await new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  if (!result.success) {
    throw new Error(`${cmd.join(" ")} failed:\n${new TextDecoder().decode(result.stderr)}`);
  }
}

async function removeFolder(folder: string): Promise<void> {
  await Deno.remove(folder, { recursive: true }).catch((error) => {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  });
}

/** PGlite's initdb runs once, here, so "empty" embedded targets do not pay for it. */
async function pgliteTemplate(places: Places): Promise<string> {
  if (places.template) return places.template;
  const script = join(places.scratch, "pglite-init.ts");
  await Deno.writeTextFile(
    script,
    `import { PGlite } from "npm:@electric-sql/pglite@0.5.16";\n` +
      `await (await PGlite.create(Deno.args[0])).close();\n`,
  );
  const folder = join(places.scratch, "pglite-template");
  await run([DENO, "run", "-A", "--no-config", script, folder]);
  places.template = folder;
  return folder;
}

/** The target as a new, empty database: outside any timing. */
export async function makeEmpty(places: Places, target: Target): Promise<void> {
  if (target.engine === "server") {
    const name = nameOf(target);
    places.databases.add(name);
    // FORCE: a killed run may have left a session behind.
    await places.admin.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await places.admin.unsafe(`CREATE DATABASE "${name}"`);
    return settle(places, target);
  }
  const template = await pgliteTemplate(places);
  await removeFolder(target.folder!);
  await Deno.mkdir(join(target.folder!, ".."), { recursive: true });
  await run(["cp", "-a", template, target.folder!]);
  await settle(places, target);
}

/**
 * The target as an exact copy of `source` (a database the tool brought to some
 * state): CREATE DATABASE … TEMPLATE on the server, a folder copy for PGlite.
 * Much faster than running the tool's apply again (Sqitch takes a minute for
 * 1000 revisions), and the state is the one the tool itself wrote.
 */
export async function copyTarget(places: Places, source: Target, target: Target): Promise<void> {
  if (target.engine === "server") {
    const name = nameOf(target);
    places.databases.add(name);
    await places.admin.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await places.admin.unsafe(`CREATE DATABASE "${name}" TEMPLATE "${nameOf(source)}"`);
    return settle(places, target);
  }
  await removeFolder(target.folder!);
  await Deno.mkdir(join(target.folder!, ".."), { recursive: true });
  await run(["cp", "-a", source.folder!, target.folder!]);
  await settle(places, target);
}

/**
 * Write out what the untimed reset left dirty before a timed run: a dropped
 * 1000-table database, an untimed apply (CHECKPOINT on the server), the copy
 * or removal of a PGlite folder (sync). Otherwise that writeback lands on
 * whichever run comes next: the PGlite floor drifted from 0.93 s to 1.28 s
 * over nine runs of W4's apply without the sync.
 */
export async function settle(places: Places, target: Target): Promise<void> {
  if (target.engine === "server") await places.admin.unsafe("CHECKPOINT").catch(() => {});
  await run(["sync"]).catch(() => {});
}

/** No database at all (PGlite only: the folder does not exist yet). */
export async function makeAbsent(places: Places, target: Target): Promise<void> {
  if (target.engine !== "pglite") throw new Error("only a PGlite folder can be absent");
  await removeFolder(target.folder!);
  await settle(places, target);
}

/** Drop a target's database or folder as soon as its workload is done. */
export async function release(places: Places, target: Target): Promise<void> {
  if (target.engine === "pglite") return removeFolder(target.folder!);
  const name = nameOf(target);
  await places.admin.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  places.databases.delete(name);
}

const COUNT_QUERY = `select count(*)::int as n from pg_tables
  where schemaname = 'public' and tablename like 'bench\\_%'`;

/** How many `bench_%` tables the target holds. */
export async function countTables(target: Target): Promise<number> {
  if (target.engine === "pglite") return await countPglite(target.folder!);
  const sql = postgres(target.url, { max: 1, onnotice: () => {}, connect_timeout: 5 });
  try {
    const [row] = await sql.unsafe(COUNT_QUERY);
    return row.n as number;
  } finally {
    await sql.end({ timeout: 1 });
  }
}

/**
 * The same count in a PGlite folder, in a child process: only one process may
 * open a folder, and loading PGlite into the bench would add 300 MiB to it.
 */
async function countPglite(folder: string): Promise<number> {
  const script = join(folder, "..", "count-tables.ts");
  await Deno.writeTextFile(
    script,
    `import { PGlite } from "npm:@electric-sql/pglite@0.5.16";\n` +
      `const db = await PGlite.create(Deno.args[0]);\n` +
      `const { rows } = await db.query(${JSON.stringify(COUNT_QUERY)});\n` +
      `console.log(rows[0].n);\nawait db.close();\n`,
  );
  const result = await new Deno.Command(DENO, {
    args: ["run", "-A", "--no-config", script, folder],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(result.stdout).trim();
  if (!result.success || !/^\d+$/.test(text)) {
    throw new Error(
      `counting tables in ${folder} failed:\n${new TextDecoder().decode(result.stderr)}`,
    );
  }
  return Number(text);
}

/** Drop every database this run created; report (not throw) what could not be dropped. */
export async function closePlaces(places: Places): Promise<string[]> {
  const failed: string[] = [];
  for (const name of places.databases) {
    try {
      await places.admin.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    } catch (error) {
      failed.push(`${name}: ${(error as Error).message}`);
    }
  }
  await places.admin.end({ timeout: 2 }).catch(() => {});
  return failed;
}
