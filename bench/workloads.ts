/**
 * The workloads, as data: which fixture, which engine, which step, and the
 * state a timed run starts from. `measureWorkload` turns one into an entry
 * per tool that has a command for the step, and measures them together.
 */
import { join } from "node:path";
import { bigRevision, EMPTY, type Fixture, smallRevisions } from "./fixtures.ts";
import { type Entry, measureGroup, timed } from "./measure.ts";
import {
  countTables,
  makeAbsent,
  makeEmpty,
  newTarget,
  type Places,
  release,
  settle,
} from "./targets.ts";
import {
  type Engine,
  type Step,
  type Target,
  type Tool,
  type ToolContext,
  TOOLS,
} from "./tools.ts";

export type WorkloadId = "W1" | "W2" | "W3" | "W4";
export const WORKLOAD_IDS: WorkloadId[] = ["W1", "W2", "W3", "W4"];

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
  /** `bench_%` tables a run must leave behind (server only; checked untimed). */
  tablesAfter?: number;
}

/** The workloads to run, in order. `quick` skips W3 and the 1000-revision apply. */
export function workloads(quick: boolean, only: Set<WorkloadId>): Workload[] {
  const r10 = smallRevisions(10);
  const r100 = smallRevisions(100);
  const r1000 = smallRevisions(1000);
  const rollback = quick ? r100 : r1000;
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
    ...(quick ? [r100] : [r100, r1000]).map((fixture): Workload => ({
      id: "W2",
      label: `apply ${fixture.tables} revisions from empty`,
      engine: "server",
      fixture,
      step: "apply",
      before: "empty",
      resetEachRun: true,
      tablesAfter: fixture.tables,
    })),
    {
      id: "W2",
      label: `downgrade base, ${rollback.tables} revisions applied`,
      engine: "server",
      fixture: rollback,
      step: "downgrade",
      before: "applied",
      resetEachRun: true,
      tablesAfter: 0,
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
      label: "PGlite start-up: status, no revisions, new folder",
      engine: "pglite",
      fixture: EMPTY,
      step: "status",
      before: "absent",
      resetEachRun: true,
    },
    {
      id: "W4",
      label: "PGlite: status, 10 revisions, all applied",
      engine: "pglite",
      fixture: r10,
      step: "status",
      before: "applied",
      resetEachRun: false,
    },
    {
      id: "W4",
      label: "PGlite: apply, 10 revisions, all applied (no-op)",
      engine: "pglite",
      fixture: r10,
      step: "noop",
      before: "applied",
      resetEachRun: false,
    },
    {
      id: "W4",
      label: "PGlite: apply 100 revisions from empty",
      engine: "pglite",
      fixture: r100,
      step: "apply",
      before: "empty",
      resetEachRun: true,
    },
  ];
  return all.filter((w) => only.has(w.id) && !(quick && w.id === "W3"));
}

export interface Result {
  workload: string;
  tool: Tool;
  ms: number[];
  rssKiB: (number | null)[];
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

/** Bring `target` to the workload's starting state for `tool`; never timed. */
async function prepare(
  places: Places,
  w: Workload,
  tool: Tool,
  ctx: ToolContext,
  gnuTime: boolean,
): Promise<void> {
  if (w.before === "absent") return makeAbsent(places, ctx.target);
  await makeEmpty(places, ctx.target);
  if (w.before === "empty") return;
  // "applied": by the tool's own apply, so its bookkeeping matches its files.
  const apply = tool.commands.apply;
  if (!apply) return;
  await timed(apply(ctx), ctx.dir, gnuTime, places.scratch);
  await expectTables(ctx.target, w.fixture.tables, `${tool.name} setup`);
  await settle(places, ctx.target);
}

async function expectTables(target: Target, want: number, who: string): Promise<void> {
  const got = await countTables(target);
  if (got !== null && got !== want) {
    throw new Error(`${who}: expected ${want} bench_ tables in ${target.url}, found ${got}`);
  }
}

/** Measure every tool that has a command for the workload's step, alternating between them. */
export async function measureWorkload(
  places: Places,
  w: Workload,
  runs: number,
  gnuTime: boolean,
  written: Set<string>,
  log: (text: string) => void,
): Promise<Result[]> {
  const tools = TOOLS.filter((t) => t.engines.includes(w.engine) && t.commands[w.step]);
  const entries: Entry[] = [];
  const targets: Target[] = [];
  for (const tool of tools) {
    const ctx: ToolContext = {
      dir: await filesFor(places.scratch, tool, w.fixture, written),
      target: newTarget(places, w.engine),
    };
    targets.push(ctx.target);
    const reset = () => prepare(places, w, tool, ctx, gnuTime);
    if (!w.resetEachRun) await reset();
    entries.push({
      tool: tool.name,
      cmd: tool.commands[w.step]!(ctx),
      cwd: ctx.dir,
      reset: w.resetEachRun ? reset : undefined,
      verify: w.tablesAfter === undefined
        ? undefined
        : () => expectTables(ctx.target, w.tablesAfter!, tool.name),
    });
  }
  const samples = await measureGroup(entries, runs, gnuTime, places.scratch, log);
  // Free the space now (1000-table databases add up); on failure closePlaces drops them.
  for (const target of targets) await release(places, target);
  return tools.map((tool) => ({
    workload: `${w.id} ${w.label}`,
    tool,
    ms: samples.get(tool.name)!.map((s) => s.ms),
    rssKiB: samples.get(tool.name)!.map((s) => s.rssKiB),
  }));
}
