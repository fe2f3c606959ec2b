/**
 * W6, a fleet: one history of 50 small revisions applied to every one of N
 * empty databases (10 and 100). Three ways to do it, alternating:
 * `strata fleet apply --parallel 4` (one process), a shell loop of
 * `strata apply` (one process per database, run exactly as the bench runs
 * strata elsewhere), and a shell loop of dbmate. Besides wall time, peak RSS
 * and CPU time, a poller on its own connection counts the server backends
 * connected to the fleet's databases while a run goes on.
 */
import postgres from "postgres";
import { join } from "node:path";
import { smallRevisions } from "./fixtures.ts";
import { median, type Sample, stop, timed } from "./measure.ts";
import { capture } from "./peers.ts";
import { countTables, newTarget, type Places, release, settle } from "./targets.ts";
import { strataRun, type Target, type Tool, type ToolContext } from "./tools.ts";

export const FLEET_REVISIONS = 50;
export const FLEET_PARALLEL = 4;
/** strata fleet's peak RSS at the most targets over that at the fewest, at most this: "flat". */
export const FLAT_LIMIT = 1.2;

export const FLEET = `strata fleet apply --parallel ${FLEET_PARALLEL}`;
export const STRATA_LOOP = "loop: strata apply";
export const DBMATE_LOOP = "loop: dbmate migrate";
export const PSQL_LOOP = "floor: loop of psql, one query per revision";
export const PSQL_PARALLEL = `floor: psql, one query per revision, ${FLEET_PARALLEL} at a time`;

export interface FleetSample extends Sample {
  /** The most backends seen at once on the fleet's databases (the poller's own excluded). */
  connections: number;
}

export interface FleetRow {
  name: string;
  targets: number;
  samples: FleetSample[];
  /** Why the row stopped (a peer's failure; the bench goes on). */
  failure?: string;
  /** Why the row was not run at all (no fleet command in this strata, dbmate not chosen). */
  missing?: string;
}

export interface FleetOptions {
  tools: Tool[];
  runs: number;
  gnuTime: boolean;
  /** The fleet sizes, in order (10 and 100; 10 alone with --quick). */
  sizes: number[];
}

/** A string as one bash word. */
export function shellWord(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

const PLACEHOLDER = "strata_fleet_target";

/**
 * `bash -c 'for db in …; do <one command>; done'`: `command` builds the
 * command for one target; it is built once, for a placeholder database name,
 * which becomes `"$db"` in the loop, so every pass runs the very argv the
 * bench runs for a single database. `set -e`: the first failure ends the loop.
 */
export function shellLoop(
  names: string[],
  command: (target: Target) => string[],
  templateUrl: string,
): string[] {
  const url = new URL(templateUrl);
  url.pathname = `/${PLACEHOLDER}`;
  const argv = command({ engine: "server", url: url.toString() });
  if (!argv.some((arg) => arg.includes(PLACEHOLDER))) {
    throw new Error(`the loop's command does not name its database: ${argv.join(" ")}`);
  }
  const line = argv.map((arg) => shellWord(arg).replaceAll(PLACEHOLDER, `'"$db"'`)).join(" ");
  const script = `set -e\nfor db in ${names.map(shellWord).join(" ")}; do\n  ${line}\ndone\n`;
  return ["bash", "-c", script];
}

/**
 * `printf '%s\n' NAMES | xargs -P parallel -I{} <one command>`: the same
 * command as `shellLoop`, `parallel` databases at a time (a floor for
 * `fleet --parallel`). xargs exits non-zero when any command failed.
 */
export function shellParallel(
  names: string[],
  command: (target: Target) => string[],
  templateUrl: string,
  parallel: number,
): string[] {
  const url = new URL(templateUrl);
  url.pathname = `/${PLACEHOLDER}`;
  const argv = command({ engine: "server", url: url.toString() });
  const line = argv.map((arg) => shellWord(arg).replaceAll(PLACEHOLDER, "{}")).join(" ");
  const script = `printf '%s\\n' ${names.map(shellWord).join(" ")} | ` +
    `xargs -P ${parallel} -I{} ${line}\n`;
  return ["bash", "-c", script];
}

/** The targets file `strata fleet --targets` reads: `NAME URL`, one a line. */
export function targetsFile(targets: Target[]): string {
  return targets.map((t) => `${nameOf(t)} ${t.url}\n`).join("");
}

function nameOf(target: Target): string {
  return new URL(target.url).pathname.slice(1);
}

/**
 * The most backends on `names` seen at once, sampled every `everyMs` on a
 * connection of its own (to the admin database, and excluded by pid anyway)
 * until `stop` is called.
 */
export async function connectionPoller(adminUrl: string, names: string[], everyMs = 20) {
  const sql = postgres(adminUrl, { max: 1, onnotice: () => {}, connect_timeout: 5 });
  await sql`select 1`;
  let peak = 0;
  let samples = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      const [row] = await sql`select count(*)::int as n from pg_stat_activity
        where datname = any(${names}::text[]) and pid <> pg_backend_pid()`;
      peak = Math.max(peak, row.n as number);
      samples++;
      await new Promise((resolve) => setTimeout(resolve, everyMs));
    }
  })();
  return {
    async stop(): Promise<{ peak: number; samples: number }> {
      running = false;
      try {
        await loop;
      } finally {
        await sql.end({ timeout: 1 });
      }
      return { peak, samples };
    },
  };
}

/** Every target empty again: dropped and created, then one checkpoint and sync for all. */
async function resetAll(places: Places, targets: Target[]): Promise<void> {
  for (const target of targets) {
    if (stop.requested) throw new Error("interrupted");
    const name = nameOf(target);
    places.databases.add(name);
    await places.admin.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await places.admin.unsafe(`CREATE DATABASE "${name}"`);
  }
  await settle(places, targets[0]);
}

async function verifyAll(targets: Target[], who: string): Promise<void> {
  for (const target of targets) {
    const got = await countTables(target);
    if (got !== FLEET_REVISIONS) {
      throw new Error(
        `${who}: expected ${FLEET_REVISIONS} bench_ tables in ${target.url}, found ${got}`,
      );
    }
  }
}

/** Whether the strata being measured has `fleet apply` (it came after the rest of the bench). */
async function fleetMissing(): Promise<string | undefined> {
  const probe = await capture(strataRun("fleet", "apply", "--help"));
  return probe.ok
    ? undefined
    : "this strata has no `fleet apply` command (awaits the fleet branch)";
}

interface FleetEntry {
  name: string;
  cmd: string[];
  cwd: string;
  fatal: boolean;
}

/** Measure the three ways at each size, alternating within a size, `runs` rounds. */
export async function measureFleet(
  places: Places,
  options: FleetOptions,
  log: (text: string) => void,
): Promise<FleetRow[]> {
  const fixture = smallRevisions(FLEET_REVISIONS);
  const strata = options.tools.find((t) => t.kind === "strata")!;
  const dbmate = options.tools.find((t) => t.name === "dbmate");
  const base = join(places.scratch, "fleet");
  const strataDir = join(base, "strata");
  await Deno.mkdir(strataDir, { recursive: true });
  await strata.setup(strataDir, fixture);
  let dbmateDir: string | null = null;
  if (dbmate) {
    dbmateDir = join(base, "dbmate");
    await Deno.mkdir(dbmateDir, { recursive: true });
    await dbmate.setup(dbmateDir, fixture);
  }
  // The server's own cost of the same work, one psql per database (a floor).
  const psql = options.tools.find((t) => t.name === "floor: psql, one query per revision")!;
  const psqlDir = join(base, "psql");
  await Deno.mkdir(psqlDir, { recursive: true });
  await psql.setup(psqlDir, fixture);
  const noFleet = await fleetMissing();
  if (noFleet) log(`  ${noFleet}`);
  const context = (dir: string, target: Target): ToolContext => ({ dir, target, fixture });

  const rows: FleetRow[] = [];
  for (const size of options.sizes) {
    const targets = Array.from({ length: size }, () => newTarget(places, "server"));
    const names = targets.map(nameOf);
    const file = join(base, `targets_${size}.txt`);
    await Deno.writeTextFile(file, targetsFile(targets));
    const entries: FleetEntry[] = [];
    const row = (name: string, missing?: string): FleetRow => {
      const r: FleetRow = { name, targets: size, samples: [], missing };
      rows.push(r);
      return r;
    };
    row(FLEET, noFleet);
    if (!noFleet) {
      entries.push({
        name: FLEET,
        cmd: strataRun(
          "fleet",
          "apply",
          "--targets",
          file,
          "--parallel",
          String(FLEET_PARALLEL),
          "--dir",
          strataDir,
          "--no-color",
        ),
        cwd: strataDir,
        fatal: true,
      });
    }
    row(STRATA_LOOP);
    entries.push({
      name: STRATA_LOOP,
      cmd: shellLoop(
        names,
        (t) => strata.commands.apply!(context(strataDir, t)),
        places.adminUrl,
      ),
      cwd: strataDir,
      fatal: true,
    });
    row(DBMATE_LOOP, dbmate ? undefined : "dbmate not chosen (--tools) or not installed");
    if (dbmate && dbmateDir) {
      entries.push({
        name: DBMATE_LOOP,
        cmd: shellLoop(
          names,
          (t) => dbmate.commands.apply!(context(dbmateDir!, t)),
          places.adminUrl,
        ),
        cwd: dbmateDir,
        fatal: false,
      });
    }
    const floor = (t: Target) => psql.commands.apply!(context(psqlDir, t));
    row(PSQL_LOOP);
    entries.push({
      name: PSQL_LOOP,
      cmd: shellLoop(names, floor, places.adminUrl),
      cwd: psqlDir,
      fatal: true,
    });
    row(PSQL_PARALLEL);
    entries.push({
      name: PSQL_PARALLEL,
      cmd: shellParallel(names, floor, places.adminUrl, FLEET_PARALLEL),
      cwd: psqlDir,
      fatal: true,
    });
    const rowOf = (name: string) => rows.find((r) => r.name === name && r.targets === size)!;
    try {
      for (let round = 0; round < options.runs; round++) {
        for (const entry of entries) {
          const r = rowOf(entry.name);
          if (r.failure) continue;
          try {
            await resetAll(places, targets);
            const poller = await connectionPoller(places.adminUrl, names);
            let sample: Sample;
            let seen: { peak: number; samples: number };
            try {
              sample = await timed(entry, options.gnuTime, places.scratch);
            } finally {
              seen = await poller.stop();
            }
            await verifyAll(targets, entry.name);
            r.samples.push({ ...sample, connections: seen.peak });
            const cpu = sample.cpuMs === null ? "" : `, CPU ${(sample.cpuMs / 1000).toFixed(2)} s`;
            // The machine is shared: the load beside each run says how far to trust it.
            const load = (await Deno.readTextFile("/proc/loadavg").catch(() => "?")).split(" ")[0];
            log(
              `    ${entry.name}, ${size} targets: ${(sample.ms / 1000).toFixed(3)} s${cpu}, ` +
                `${seen.peak} connections at most (${seen.samples} samples), load ${load}`,
            );
          } catch (error) {
            if (entry.fatal || stop.requested) throw error;
            r.failure = (error as Error).message;
            log(`    ${entry.name}: FAILED, left out of W6:\n${r.failure}`);
          }
        }
      }
    } finally {
      for (const target of targets) await release(places, target);
    }
  }
  return rows;
}

function medianOf(row: FleetRow): number | null {
  return row.failure || row.missing || row.samples.length === 0
    ? null
    : median(row.samples.map((s) => s.ms));
}

function peakKiB(row: FleetRow): number | null {
  const rss = row.samples.map((s) => s.rssKiB).filter((v): v is number => v !== null);
  return rss.length ? Math.max(...rss) : null;
}

function medianCpu(row: FleetRow): number | null {
  const cpu = row.samples.map((s) => s.cpuMs).filter((v): v is number => v !== null);
  return cpu.length ? median(cpu) : null;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(3)} s`;
}

/** The target lines: under the dbmate loop's wall time, and memory flat from the fewest targets to the most. */
export function fleetTargets(rows: FleetRow[]): string[] {
  const sizes = [...new Set(rows.map((r) => r.targets))].sort((a, b) => a - b);
  const most = sizes.at(-1);
  const find = (name: string, size: number | undefined) =>
    rows.find((r) => r.name === name && r.targets === size);
  const fleet = find(FLEET, most);
  const loop = find(DBMATE_LOOP, most);
  const a = fleet ? medianOf(fleet) : null;
  const b = loop ? medianOf(loop) : null;
  const lines: string[] = [];
  if (a === null || b === null) {
    const why = fleet?.missing ?? fleet?.failure?.split("\n")[0] ?? loop?.missing ??
      loop?.failure?.split("\n")[0] ?? "no runs";
    lines.push(`- Under the dbmate loop's wall time: **not measured** (${why}).`);
  } else {
    lines.push(
      `- Under the dbmate loop's wall time, at ${most} targets: strata fleet ${seconds(a)}, ` +
        `dbmate loop ${seconds(b)} (${(a / b).toFixed(2)}×): **${a < b ? "met" : "not met"}**.`,
    );
  }
  const few = find(FLEET, sizes[0]);
  const small = few ? peakKiB(few) : null;
  const large = fleet ? peakKiB(fleet) : null;
  if (sizes.length < 2 || small === null || large === null || medianOf(fleet!) === null) {
    const why = sizes.length < 2
      ? "one fleet size only (--quick)"
      : fleet?.missing ?? "no peak memory (GNU time missing, or no runs)";
    lines.push(`- Memory flat from 10 to 100 targets: **not measured** (${why}).`);
  } else {
    const ratio = large / small;
    lines.push(
      `- Memory flat from ${sizes[0]} to ${most} targets: strata fleet's peak RSS ` +
        `${(small / 1024).toFixed(0)} MiB at ${sizes[0]}, ${(large / 1024).toFixed(0)} MiB at ` +
        `${most} (${ratio.toFixed(2)}×; flat means at most ${FLAT_LIMIT.toFixed(2)}×): ` +
        `**${ratio <= FLAT_LIMIT ? "met" : "not met"}**.`,
    );
  }
  return lines;
}

/** The report's W6 section: the table, what its columns mean, and the two targets. */
export function fleetReport(rows: FleetRow[]): string {
  const notes: string[] = [];
  const body = rows.map((r) => {
    const reference = rows.find((x) => x.name === DBMATE_LOOP && x.targets === r.targets);
    const mid = medianOf(r);
    const base = reference ? medianOf(reference) : null;
    const peak = peakKiB(r);
    const cpu = medianCpu(r);
    let shown = mid === null ? "n/a" : (mid / 1000).toFixed(3);
    if (r.missing || r.failure) {
      notes.push(`${r.name}, ${r.targets} targets: ${(r.missing ?? r.failure!).split("\n")[0]}`);
      shown = `${r.missing ? "not run" : "failed"} [${notes.length}]`;
    }
    const done = mid !== null;
    return [
      r.name,
      String(r.targets),
      shown,
      done && cpu !== null ? (cpu / 1000).toFixed(2) : "",
      done && peak !== null ? (peak / 1024).toFixed(0) : "",
      done ? String(Math.max(...r.samples.map((s) => s.connections))) : "",
      done && base !== null ? (mid / base).toFixed(2) : "",
      String(r.samples.length),
    ];
  });
  const head = [
    "tool",
    "targets",
    "median s",
    "CPU s",
    "peak MiB",
    "peak connections",
    "ratio to dbmate loop",
    "runs",
  ];
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  return [
    `## W6: a fleet, ${FLEET_REVISIONS} revisions on each of N empty databases`,
    "",
    line(head),
    `|---|---:|---:|---:|---:|---:|---:|---:|`,
    ...body.map(line),
    ...(notes.length ? ["", ...notes.map((text, i) => `${i + 1}. ${text}`)] : []),
    "",
    "- median s: wall time of the whole fleet run, spawn to exit; CPU s: median user + system " +
    "time of the process and every process it waited for (the loop: bash and each client)",
    "- peak MiB: the largest peak RSS over the runs. strata fleet is one process; for a loop it " +
    "is the largest single process of the loop (one `strata apply` or one `dbmate` at a time), " +
    "not their sum",
    "- peak connections: the most backends on the fleet's databases seen at once by a poller " +
    "(every 20 ms, on its own connection, not counted)",
    "",
    ...fleetTargets(rows),
    "",
  ].join("\n");
}
