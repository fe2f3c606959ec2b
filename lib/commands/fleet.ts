/**
 * `strata fleet COMMAND`: one command over many databases, each target run
 * exactly as `strata COMMAND` would run it alone (its own connection, lock
 * and ledger), in-process, at most `--parallel` at once, with a canary,
 * a policy after a failure, a live view and one report at the end.
 */
import { usage } from "../errors.ts";
import { interruption } from "../runner.ts";
import { collectTargets, type TargetSource } from "../fleet/targets.ts";
import { fileTargets } from "../fleet/targets_file.ts";
import { queryTargets } from "../fleet/targets_query.ts";
import { FLEET_ACTIONS, type FleetAction, runTarget } from "../fleet/run_target.ts";
import { type OnError, schedule } from "../fleet/schedule.ts";
import { fleetView } from "../fleet/view.ts";
import { fleetExitCode, type FleetReport, printReport, summarize } from "../fleet/report.ts";
import { type Context, loadGraph } from "./context.ts";

/** How many targets run at once unless --parallel says otherwise. */
export const DEFAULT_PARALLEL = 4;
const MAX_PARALLEL = 1000;

const USAGE_LINE = "fleet apply|upgrade [TARGET]|status|check|drift|verify-applied " +
  "--targets FILE | --targets-query SQL";

function count(value: string | undefined, option: string, min: number, fallback: number): number {
  if (value === undefined) return fallback;
  const n = /^\d+$/.test(value.trim()) ? Number(value.trim()) : NaN;
  if (!Number.isInteger(n) || n < min || n > MAX_PARALLEL) {
    throw usage(
      `${option} must be a whole number from ${min} to ${MAX_PARALLEL}, not "${value}"`,
      option === "--parallel"
        ? "How many targets run at once, e.g. --parallel 4"
        : "How many targets run first, alone, e.g. --canary 1",
    );
  }
  return n;
}

function onError(value: string | undefined): OnError {
  if (value === undefined || value === "stop" || value === "continue") return value ?? "stop";
  throw usage(
    `--on-error must be stop or continue, not "${value}"`,
    "stop (default): no new " +
      "target starts after a failure; continue: every target runs",
  );
}

function action(ctx: Context): FleetAction {
  const [name, ...rest] = ctx.args;
  if (!name || !FLEET_ACTIONS.includes(name)) {
    throw usage(
      name ? `strata fleet cannot run "${name}"` : "strata fleet needs a command",
      `Commands: ${FLEET_ACTIONS.join(", ")}. Usage: strata ${USAGE_LINE}`,
    );
  }
  if (rest.length > (name === "upgrade" ? 1 : 0)) {
    throw usage(`Wrong arguments: "${ctx.args.join(" ")}"`, `Usage: strata ${USAGE_LINE}`);
  }
  return name as FleetAction;
}

export async function fleet(ctx: Context): Promise<number> {
  const { out, flags } = ctx;
  const name = action(ctx);
  if (flags.sql || flags["dry-run"]) {
    throw usage(
      `strata fleet does not take --${flags.sql ? "sql" : "dry-run"}`,
      "strata fleet status lists what each target has pending",
    );
  }
  const parallel = count(flags.parallel, "--parallel", 1, DEFAULT_PARALLEL);
  const canary = count(flags.canary, "--canary", 0, 0);
  const policy = onError(flags["on-error"]);
  const sources: TargetSource[] = [];
  if (flags.targets !== undefined) sources.push(fileTargets(flags.targets));
  if (flags["targets-query"] !== undefined) {
    sources.push(queryTargets(flags["targets-query"], ctx.config));
  }
  if (sources.length === 0) {
    throw usage(
      "strata fleet needs --targets FILE or --targets-query SQL",
      "A targets file lists one database URL (or NAME URL) a line; a targets query runs on " +
        "--database and returns a row per database",
    );
  }
  // A broken file stops the fleet before any target is touched, and every target runs the
  // same files, read once.
  const graph = await loadGraph(ctx);
  const targets = await collectTargets(sources);

  const label = `fleet ${name}`;
  const view = fleetView(out, label, targets.length);
  const started = performance.now();
  let rows;
  try {
    rows = await schedule(
      targets,
      (target, signal) =>
        runTarget({
          action: name,
          config: ctx.config,
          args: ctx.args.slice(1),
          flags: { scratch: flags.scratch, verbose: flags.verbose },
          graph,
          signal,
          log: flags.verbose
            ? (target, _level, text) => out.error(out.dim(`[${target.name}] ${text}`))
            : undefined,
        }, target),
      {
        parallel,
        canary,
        onError: policy,
        stopRequested: () => interruption.requested,
        onStart: (target) => view.start(target),
        onFinish: (target, row) => view.finish(target, row),
      },
    );
  } finally {
    view.close();
  }
  const exitCode = fleetExitCode(rows, interruption.requested);
  const report: FleetReport = {
    ok: exitCode === 0,
    command: "fleet",
    action: name,
    parallel,
    canary,
    onError: policy,
    targets: rows,
    summary: summarize(rows, performance.now() - started),
    exitCode,
  };
  out.document(report);
  if (!out.json) printReport(out, report);
  return exitCode;
}
