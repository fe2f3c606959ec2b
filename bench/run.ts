/**
 * `deno task bench`: time strata against the floors on the local server and
 * the embedded engine, and print a Markdown table. Never part of the tests,
 * never asserts a time. Progress goes to stderr, the report to stdout.
 *
 *   deno run -A bench/run.ts [--runs N] [--quick] [--only W1,W2] [--server URL]
 */
import { parseArgs } from "node:util";
import { EMPTY } from "./fixtures.ts";
import { hasGnuTime, stop } from "./measure.ts";
import { header, table } from "./report.ts";
import { closePlaces, openPlaces, serverVersion } from "./targets.ts";
import {
  measureWorkload,
  type Result,
  type Workload,
  WORKLOAD_IDS,
  type WorkloadId,
  workloads,
} from "./workloads.ts";

const USAGE = `usage: deno task bench [--runs N] [--quick] [--only W1,W2,W3,W4] [--server URL]
  --runs N      runs per entry (default 5; 1 with --quick)
  --quick       one run, no W3, no 1000-revision apply: a smoke run
  --only LIST   the workloads to run (default all)
  --server URL  admin URL of the server; bench_* databases are created there
                (default postgres://postgres@127.0.0.1:5432/postgres)
`;

interface Options {
  runs: number;
  quick: boolean;
  only: Set<WorkloadId>;
  server: string;
}

function options(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      runs: { type: "string" },
      quick: { type: "boolean" },
      only: { type: "string" },
      server: { type: "string" },
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
    quick: !!values.quick,
    only,
    server: values.server ?? "postgres://postgres@127.0.0.1:5432/postgres",
  };
}

function log(text: string): void {
  console.error(text);
}

/** Run every tool's status once per engine, untimed: module and npm caches warm before timing. */
function warmUps(list: Workload[]): Workload[] {
  const engines = [...new Set(list.map((w) => w.engine))];
  return engines.map((engine) => ({
    id: "W1",
    label: `warm-up (${engine})`,
    engine,
    fixture: EMPTY,
    step: "status",
    before: "empty",
    resetEachRun: false,
  }));
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
    places = await openPlaces(opts.server, scratch);
    const version = await serverVersion(places);
    const written = new Set<string>();
    for (const w of warmUps(list)) {
      log(`${w.label}`);
      await measureWorkload(places, w, 1, gnuTime, written, () => {});
    }
    const results: Result[] = [];
    for (const w of list) {
      log(`${w.id} ${w.label}`);
      const started = performance.now();
      results.push(...await measureWorkload(places, w, opts.runs, gnuTime, written, log));
      log(`  (${((performance.now() - started) / 1000).toFixed(1)} s with setup)`);
    }
    console.log(
      await header({
        serverVersion: version,
        runs: opts.runs,
        gnuTime,
        quick: opts.quick,
        workloads: [...opts.only].sort(),
      }),
    );
    console.log(table(results));
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
