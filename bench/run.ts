/**
 * `deno task bench`: time strata beside the peer tools (dbmate,
 * node-pg-migrate, postgrator, Alembic, Sqitch) and the floors on the local
 * server, and strata alone on the embedded engine; print a Markdown table and
 * where strata stands against its targets. Never part of the tests, never
 * asserts a time. Progress goes to stderr, the report to stdout.
 *
 *   deno run -A bench/run.ts [--runs N] [--quick] [--only W1,W6] [--tools LIST]
 *                            [--no-install] [--strata-rev REV] [--server URL]
 */
import { parseArgs } from "node:util";
import { fleetReport, type FleetRow, measureFleet } from "./fleet.ts";
import { smallRevisions } from "./fixtures.ts";
import { goals } from "./goals.ts";
import { hasGnuTime, stop } from "./measure.ts";
import { header, table } from "./report.ts";
import { closePlaces, openPlaces, serverVersion } from "./targets.ts";
import { type Tool, TOOLS } from "./tools.ts";
import {
  measureWorkload,
  type Result,
  type Workload,
  WORKLOAD_IDS,
  type WorkloadId,
  workloads,
} from "./workloads.ts";

const USAGE = `usage: deno task bench [--runs N] [--quick] [--only W1,W2,W3,W4,W5,W6] [--tools LIST]
                        [--no-install] [--strata-rev REV] [--server URL]
  --runs N      runs per entry (default 5, and 3 for the 1000-revision applies
                and rollbacks and for W6; 1 with --quick)
  --quick       one run, no W3, no 1000-revision apply, W6 with 10 databases
                only: a smoke run
  --only LIST   the workloads to run (default all)
  --tools LIST  the peers to run, comma separated (default all; "" for none);
                strata and the floors always run
  --no-install  leave out a peer that is not installed instead of installing it
  --strata-rev REV  measure strata as committed at REV (git archive), not the working tree
  --server URL  admin URL of the server; bench_* databases are created there
                (default postgres://postgres@127.0.0.1:5432/postgres)
`;

interface Options {
  runs: number;
  /** Whether --runs was given (a workload's own default run count then does not apply). */
  runsGiven: boolean;
  quick: boolean;
  only: Set<WorkloadId>;
  tools: Tool[];
  install: boolean;
  strataRev?: string;
  server: string;
}

/** strata and the floors always; of the peers, those named (all by default). */
function chooseTools(list: string | undefined): Tool[] {
  if (list === undefined) return TOOLS;
  const peers = TOOLS.filter((t) => t.kind === "peer");
  const names = list.split(",").map((name) => name.trim().toLowerCase()).filter(Boolean);
  for (const name of names) {
    if (!peers.some((t) => t.name.toLowerCase() === name)) {
      throw new Error(`--tools: unknown peer "${name}" (peers: ${peers.map((t) => t.name)})`);
    }
  }
  return TOOLS.filter((t) => t.kind !== "peer" || names.includes(t.name.toLowerCase()));
}

function options(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      runs: { type: "string" },
      quick: { type: "boolean" },
      only: { type: "string" },
      server: { type: "string" },
      tools: { type: "string" },
      "no-install": { type: "boolean" },
      "strata-rev": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    Deno.exit(0);
  }
  const runs = values.runs === undefined ? (values.quick ? 1 : 5) : Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs wants a positive integer`);
  const only = new Set<WorkloadId>();
  for (const part of (values.only ?? WORKLOAD_IDS.join(",")).split(",")) {
    const id = part.trim().toUpperCase() as WorkloadId;
    if (!WORKLOAD_IDS.includes(id)) throw new Error(`--only: unknown workload "${part}"`);
    only.add(id);
  }
  return {
    runs,
    runsGiven: values.runs !== undefined,
    quick: !!values.quick,
    only,
    tools: chooseTools(values.tools),
    install: !values["no-install"],
    strataRev: values["strata-rev"],
    server: values.server ?? "postgres://postgres@127.0.0.1:5432/postgres",
  };
}

function log(text: string): void {
  console.error(text);
}

/**
 * Run every tool once per engine, untimed, before any timing: its apply of 3
 * revisions (checked), then its status of them, so the file cache and the npm,
 * Deno and Python caches are warm, and a peer that does not work shows up now
 * rather than ten minutes in.
 */
function warmUps(list: Workload[], fleet: boolean): Workload[] {
  const engines = [
    ...new Set([...list.map((w) => w.engine), ...(fleet ? ["server" as const] : [])]),
  ];
  const three = smallRevisions(3);
  return engines.flatMap((engine): Workload[] => [
    {
      id: "W2",
      label: `warm-up (${engine}): apply 3 revisions`,
      engine,
      fixture: three,
      step: "apply",
      before: "empty",
      resetEachRun: true,
      tablesAfter: 3,
    },
    {
      id: "W1",
      label: `warm-up (${engine}): status, 3 revisions applied`,
      engine,
      fixture: three,
      step: "status",
      before: "applied",
      resetEachRun: false,
    },
  ]);
}

/** Make each chosen tool runnable (installing peers); leave out, with the reason, those that are not. */
async function readyTools(opts: Options, scratch: string): Promise<{
  tools: Tool[];
  versions: [string, string][];
  skipped: [string, string][];
}> {
  const tools: Tool[] = [];
  const versions: [string, string][] = [];
  const skipped: [string, string][] = [];
  for (const tool of opts.tools) {
    try {
      versions.push([
        tool.name,
        await tool.ensure({ install: opts.install, log, scratch, strataRev: opts.strataRev }),
      ]);
      tools.push(tool);
    } catch (error) {
      // strata and the floors are the point of the table: without them, stop.
      if (tool.kind !== "peer") throw error;
      const reason = (error as Error).message;
      log(`skipping ${tool.name}: ${reason}`);
      skipped.push([tool.name, reason.split("\n")[0]]);
    }
  }
  return { tools, versions, skipped };
}

async function main(): Promise<number> {
  let opts: Options;
  try {
    opts = options(Deno.args);
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  const list = workloads(opts.quick, opts.only);
  const gnuTime = await hasGnuTime();
  if (!gnuTime) log("note: /usr/bin/time (GNU time) not found: peak memory is reported as n/a");
  // Ctrl-C (or a kill) stops the bench at the next run instead of killing it,
  // so the databases and the scratch folder are still removed.
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, () => {
      if (!stop.requested) log(`${signal}: stopping after the current command, then cleaning up`);
      stop.requested = true;
    });
  }

  const scratch = await Deno.makeTempDir({ prefix: "strata-bench-" });
  let places;
  try {
    const ready = await readyTools(opts, scratch);
    places = await openPlaces(opts.server, scratch);
    const version = await serverVersion(places);
    const written = new Set<string>();
    const started = performance.now();
    const fleet = opts.only.has("W6");
    for (const w of warmUps(list, fleet)) {
      log(`${w.label}`);
      const options = { tools: ready.tools, runs: 1, gnuTime, written };
      await measureWorkload(places, w, options, log);
    }
    const results: Result[] = [];
    const runCounts = new Set<number>();
    for (const w of list) {
      const runs = opts.runsGiven ? opts.runs : (w.runs ?? opts.runs);
      runCounts.add(runs);
      log(`${w.id} ${w.label} (${runs} runs)`);
      const began = performance.now();
      const options = { tools: ready.tools, runs, gnuTime, written };
      results.push(...await measureWorkload(places, w, options, log));
      log(`  (${((performance.now() - began) / 1000).toFixed(1)} s with setup)`);
    }
    let fleetRows: FleetRow[] = [];
    if (fleet) {
      // 3 runs by default: a round at 100 databases is three fleet runs of
      // 5000 revisions each, and 100 databases created again before each.
      const runs = opts.runsGiven ? opts.runs : (opts.quick ? 1 : 3);
      runCounts.add(runs);
      const sizes = opts.quick ? [10] : [10, 100];
      log(`W6 fleet: 50 revisions on each of ${sizes.join(" and ")} databases (${runs} runs)`);
      const began = performance.now();
      const options = { tools: ready.tools, runs, gnuTime, sizes };
      fleetRows = await measureFleet(places, options, log);
      log(`  (${((performance.now() - began) / 1000).toFixed(1)} s with setup)`);
    }
    console.log(
      await header({
        serverVersion: version,
        runs: [...runCounts].sort((a, b) => b - a),
        gnuTime,
        quick: opts.quick,
        workloads: [...new Set(list.map((w) => w.id)), ...(fleet ? ["W6"] : [])],
        versions: ready.versions,
        skipped: ready.skipped,
        minutes: (performance.now() - started) / 60_000,
      }),
    );
    if (results.length) {
      console.log(table(results));
      console.log(goals(results));
    }
    if (fleet) console.log(fleetReport(fleetRows));
    return 0;
  } catch (error) {
    console.error(`bench failed: ${(error as Error).message}`);
    return 1;
  } finally {
    const leftovers = places ? await closePlaces(places) : [];
    for (const text of leftovers) console.error(`warning: could not drop ${text}`);
    await Deno.remove(scratch, { recursive: true }).catch((error) =>
      console.error(`warning: could not remove ${scratch}: ${error.message}`)
    );
  }
}

Deno.exit(await main());
