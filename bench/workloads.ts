/**
 * The workloads, as data: which fixture, which engine, which step, and the
 * state a timed run starts from. `measureWorkload` turns one into an entry
 * per tool that has a command for the step, and measures them together.
 */
import { join } from "node:path";
import {
  bigRevision,
  bulkRevision,
  EMPTY,
  type Fixture,
  historyRevisions,
  smallRevisions,
} from "./fixtures.ts";
import { type Command, type Entry, measureGroup, stop, timed } from "./measure.ts";
import {
  copyTarget,
  countTables,
  makeAbsent,
  makeEmpty,
  newTarget,
  type Places,
  release,
} from "./targets.ts";
import type { Engine, Step, Target, Tool, ToolContext } from "./tools.ts";

export type WorkloadId = "W1" | "W2" | "W3" | "W4" | "W5" | "W6";
/** W6 (a fleet of databases, `fleet.ts`) has a shape of its own and no entries in `workloads`. */
export const WORKLOAD_IDS: WorkloadId[] = ["W1", "W2", "W3", "W4", "W5", "W6"];

export interface Workload {
  id: WorkloadId;
  label: string;
  engine: Engine;
  fixture: Fixture;
  step: Step;
  /** The state a timed run starts from: all revisions applied, an empty database, or none at all. */
  before: "applied" | "empty" | "absent";
  /** Whether the step changes that state, so it is rebuilt before every run (untimed). */
  resetEachRun: boolean;
  /** `bench_%` tables a run must leave behind (checked untimed, on both engines). */
  tablesAfter?: number;
  /** Runs per entry when --runs is not given (default: the bench's default). */
  runs?: number;
}

/** The workloads to run, in order. `quick` skips W3 and the 1000-revision apply. */
export function workloads(quick: boolean, only: Set<WorkloadId>): Workload[] {
  const r10 = smallRevisions(10);
  const r100 = smallRevisions(100);
  const r1000 = smallRevisions(1000);
  const rollback = quick ? r100 : r1000;
  const history = historyRevisions(160);
  const all: Workload[] = [
    ...[r10, r1000].flatMap((fixture): Workload[] => [
      {
        id: "W1",
        label: `status, ${fixture.tables} revisions, all applied`,
        engine: "server",
        fixture,
        step: "status",
        before: "applied",
        resetEachRun: false,
      },
      {
        id: "W1",
        label: `apply, ${fixture.tables} revisions, all applied (no-op)`,
        engine: "server",
        fixture,
        step: "noop",
        before: "applied",
        resetEachRun: false,
      },
    ]),
    // 3 runs by default for the 1000-revision rows: Sqitch alone takes 35 s
    // (a minute or two on a busy machine) per run, one psql per change.
    ...(quick ? [r100] : [r100, r1000]).map((fixture): Workload => ({
      id: "W2",
      label: `apply ${fixture.tables} revisions from empty`,
      engine: "server",
      fixture,
      step: "apply",
      before: "empty",
      resetEachRun: true,
      tablesAfter: fixture.tables,
      runs: fixture === r1000 ? 3 : undefined,
    })),
    {
      id: "W2",
      label: `rollback of all ${rollback.tables} revisions`,
      engine: "server",
      fixture: rollback,
      step: "downgrade",
      before: "applied",
      resetEachRun: true,
      tablesAfter: 0,
      runs: rollback === r1000 ? 3 : undefined,
    },
    {
      id: "W3",
      label: "apply 1 revision of 20,000 inserts",
      engine: "server",
      fixture: bigRevision(20_000),
      step: "apply",
      before: "empty",
      resetEachRun: true,
      tablesAfter: 1,
    },
    {
      id: "W3",
      label: "apply 1 revision of 50 MB (500 inserts of 100 rows)",
      engine: "server",
      fixture: bulkRevision(50),
      step: "apply",
      before: "empty",
      resetEachRun: true,
      tablesAfter: 1,
    },
    {
      id: "W4",
      label: "PGlite start-up: status, no revisions, existing folder",
      engine: "pglite",
      fixture: EMPTY,
      step: "status",
      before: "empty",
      resetEachRun: false,
    },
    {
      id: "W4",
      // apply, not status: read-only commands never create an embedded database.
      label: "PGlite start-up: apply, no revisions, new folder (created)",
      engine: "pglite",
      fixture: EMPTY,
      step: "noop",
      before: "absent",
      resetEachRun: true,
    },
    // W1 and W2 again on the embedded engine, strata and the PGlite floor only.
    ...(quick ? [r10] : [r10, r1000]).flatMap((fixture): Workload[] => [
      {
        id: "W4",
        label: `PGlite: status, ${fixture.tables} revisions, all applied`,
        engine: "pglite",
        fixture,
        step: "status",
        before: "applied",
        resetEachRun: false,
      },
      {
        id: "W4",
        label: `PGlite: apply, ${fixture.tables} revisions, all applied (no-op)`,
        engine: "pglite",
        fixture,
        step: "noop",
        before: "applied",
        resetEachRun: false,
      },
    ]),
    ...(quick ? [r100] : [r100, r1000]).map((fixture): Workload => ({
      id: "W4",
      label: `PGlite: apply ${fixture.tables} revisions from empty`,
      engine: "pglite",
      fixture,
      step: "apply",
      before: "empty",
      resetEachRun: true,
      tablesAfter: fixture.tables,
      runs: fixture === r1000 ? 3 : undefined,
    })),
    {
      id: "W4",
      label: `PGlite: rollback of all ${rollback.tables} revisions`,
      engine: "pglite",
      fixture: rollback,
      step: "downgrade",
      before: "applied",
      resetEachRun: true,
      tablesAfter: 0,
      runs: rollback === r1000 ? 3 : undefined,
    },
    {
      id: "W5",
      label: "apply a 160-revision history (PL/pgSQL, DO blocks, FKs, 5 CONCURRENTLY) from empty",
      engine: "server",
      fixture: history,
      step: "apply",
      before: "empty",
      resetEachRun: true,
      tablesAfter: history.tables,
    },
  ];
  return all.filter((w) => only.has(w.id) && !(quick && w.id === "W3"));
}

export interface Result {
  workload: string;
  tool: Tool;
  ms: number[];
  rssKiB: (number | null)[];
  /** Why the tool stopped in this workload (peers only; the bench goes on). */
  failure?: string;
  /** The tool has no command for this step: what it lacks (a row with no times). */
  unsupported?: string;
}

function slug(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, "_").replace(/^_|_$/g, "");
}

/** Where a tool's files for a fixture live; written once per run of the bench. */
async function filesFor(scratch: string, tool: Tool, fixture: Fixture, done: Set<string>) {
  const dir = join(scratch, "files", slug(tool.name), fixture.name);
  if (!done.has(dir)) {
    // Also for tools that write nothing: the folder is the command's working directory.
    await Deno.mkdir(dir, { recursive: true });
    await tool.setup(dir, fixture);
    done.add(dir);
  }
  return dir;
}

function command(tool: Tool, step: Step, ctx: ToolContext): Command {
  return { cmd: tool.commands[step]!(ctx), cwd: ctx.dir, env: tool.env?.(ctx) };
}

/**
 * A target with every revision of the fixture applied by the tool's own apply,
 * made once per tool and fixture and kept until the end: the runs that start
 * from "all applied" get a copy of it.
 */
async function appliedSource(
  places: Places,
  w: Workload,
  tool: Tool,
  ctx: ToolContext,
  gnuTime: boolean,
): Promise<Target | null> {
  const key = `${w.engine} ${tool.name} ${w.fixture.name}`;
  const known = places.applied.get(key);
  if (known) return known;
  if (!tool.commands.apply) return null;
  const source: ToolContext = { ...ctx, target: newTarget(places, w.engine) };
  await makeEmpty(places, source.target);
  await timed(command(tool, "apply", source), gnuTime, places.scratch);
  await expectTables(source.target, w.fixture.tables, `${tool.name} setup`);
  places.applied.set(key, source.target);
  return source.target;
}

/** Bring `target` to the workload's starting state for `tool`; never timed. */
async function prepare(
  places: Places,
  w: Workload,
  tool: Tool,
  ctx: ToolContext,
  gnuTime: boolean,
): Promise<void> {
  if (w.before === "absent") return makeAbsent(places, ctx.target);
  const source = w.before === "applied" ? await appliedSource(places, w, tool, ctx, gnuTime) : null;
  // A tool without an apply (a select-1 floor) just gets an empty database.
  if (source) return copyTarget(places, source, ctx.target);
  await makeEmpty(places, ctx.target);
}

async function expectTables(target: Target, want: number, who: string): Promise<void> {
  const got = await countTables(target);
  if (got !== want) {
    throw new Error(`${who}: expected ${want} bench_ tables in ${target.url}, found ${got}`);
  }
}

/**
 * Measure every tool of `tools` that has a command for the workload's step,
 * alternating between them. A peer whose setup or run fails is reported with
 * its failure; anything else failing stops the bench.
 */
export async function measureWorkload(
  places: Places,
  w: Workload,
  options: { tools: Tool[]; runs: number; gnuTime: boolean; written: Set<string> },
  log: (text: string) => void,
): Promise<Result[]> {
  const { runs, gnuTime, written } = options;
  const tools = options.tools.filter((t) => t.engines.includes(w.engine) && t.commands[w.step]);
  const entries: Entry[] = [];
  const targets: Target[] = [];
  const failures = new Map<string, string>();
  for (const tool of tools) {
    const ctx: ToolContext = {
      dir: await filesFor(places.scratch, tool, w.fixture, written),
      target: newTarget(places, w.engine),
      fixture: w.fixture,
    };
    targets.push(ctx.target);
    const reset = () => prepare(places, w, tool, ctx, gnuTime);
    if (!w.resetEachRun) {
      try {
        await reset();
      } catch (error) {
        if (tool.kind !== "peer" || stop.requested) throw error;
        failures.set(tool.name, `setup: ${(error as Error).message}`);
        log(
          `    ${tool.name}: setup FAILED, left out of this workload:\n${(error as Error).message}`,
        );
        continue;
      }
    }
    entries.push({
      tool: tool.name,
      fatal: tool.kind !== "peer",
      ...command(tool, w.step, ctx),
      reset: w.resetEachRun ? reset : undefined,
      verify: w.tablesAfter === undefined
        ? undefined
        : () => expectTables(ctx.target, w.tablesAfter!, tool.name),
    });
  }
  const outcomes = await measureGroup(entries, runs, gnuTime, places.scratch, log);
  // Free the space now (1000-table databases add up); on failure closePlaces drops them.
  for (const target of targets) await release(places, target);
  const measured = tools.map((tool): Result => {
    const outcome = outcomes.get(tool.name);
    return {
      workload: `${w.id} ${w.label}`,
      tool,
      ms: outcome?.samples.map((s) => s.ms) ?? [],
      rssKiB: outcome?.samples.map((s) => s.rssKiB) ?? [],
      failure: failures.get(tool.name) ?? outcome?.failure,
    };
  });
  // Peers that lack the step get a row saying so, so the table shows every peer.
  const lacking = options.tools
    .filter((t) => t.engines.includes(w.engine) && !t.commands[w.step] && t.lacks?.[w.step])
    .map((tool): Result => ({
      workload: `${w.id} ${w.label}`,
      tool,
      ms: [],
      rssKiB: [],
      unsupported: tool.lacks![w.step],
    }));
  return [...measured, ...lacking];
}
