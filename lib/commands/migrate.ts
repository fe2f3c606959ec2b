/**
 * apply, upgrade and downgrade: validate everything first, then run the plan
 * under the lock. `--sql` prints the script without connecting; `--dry-run`
 * reads the real state and prints the plan and its SQL, changing nothing.
 */
import { plural } from "../output.ts";
import { StrataError, usage } from "../errors.ts";
import type { Graph } from "../graph.ts";
import { ancestors, resolveRevision } from "../graph.ts";
import { planSql } from "../offline_sql.ts";
import { type Direction, type Plan, planDowngrade, planUpgrade } from "../plan.ts";
import { assertSingleTransaction, prepareSteps, runSteps, withLock } from "../runner.ts";
import { announceDatabase } from "../announce.ts";
import { adoptBaselines } from "../adopt.ts";
import { assertIntact, compareState, type State } from "../state.ts";
import { readLedger } from "../ledger.ts";
import { formatMs } from "../duration.ts";
import { type Hook, loadHooks, runHook } from "../hooks.ts";
import {
  forgetRepeatablesSql,
  loadRepeatables,
  pendingRepeatables,
  prepareRepeatables,
  recordedRepeatables,
  type Repeatable,
  repeatablesScript,
  runRepeatables,
} from "../repeatable.ts";
import { type Context, loadGraph, names, readState, withGraphAndEngine } from "./context.ts";

function plan(graph: Graph, state: State, direction: Direction, target: string): Plan {
  return direction === "up"
    ? planUpgrade(graph, state, target)
    : planDowngrade(graph, state, target);
}

/** Refuse (exit 5) to apply a revision that is older than applied ones, unless allowed. */
function checkOutOfOrder(ctx: Context, graph: Graph, state: State, steps: string[]): void {
  const late = steps.filter((id) => state.outOfOrder.includes(id));
  if (late.length === 0) return;
  if (!ctx.config.allowOutOfOrder) {
    throw new StrataError(
      "INTEGRITY",
      `Out of order: ${late.join(", ")} ${
        late.length > 1 ? "are" : "is"
      } not applied but older than applied revisions`,
      {
        file: graph.files.get(late[0])!.path,
        hint:
          "Apply it anyway with --allow-out-of-order (config allowOutOfOrder), or give it a newer id",
        details: { outOfOrder: late },
      },
    );
  }
  for (const id of late) ctx.out.warn(`applying ${id} out of order`);
}

/** Repeatables run after an upgrade to head (or heads), never otherwise. */
function repeatablesFor(ctx: Context, direction: Direction, target: string): Repeatable[] {
  return direction === "up" && (target === "head" || target === "heads")
    ? loadRepeatables(ctx.config.dir)
    : [];
}

/** `--sql [from:]to`: the state is assumed, not read. */
async function offline(
  ctx: Context,
  graph: Graph,
  direction: Direction,
  target: string,
): Promise<number> {
  const [from, to] = target.includes(":") ? target.split(":", 2) : [undefined, target];
  let assumed: string[] = [];
  if (from !== undefined && from !== "base") {
    assumed = [...ancestors(graph, resolveRevision(graph, from))];
  } else if (from === undefined && direction === "down") {
    assumed = graph.order;
  }
  const state = compareState(
    graph,
    assumed.map((revision) => ({
      revision,
      parents: "",
      checksum: graph.files.get(revision)!.checksum,
      applied_at: "",
      applied_by: "",
      duration_ms: null,
      strata_version: "",
    })),
  );
  const result = plan(graph, state, direction, to);
  // The script shows what apply would run, so it refuses what apply would refuse.
  await prepareSteps(graph, direction, result.steps);
  const repeatables = repeatablesFor(ctx, direction, to);
  await prepareRepeatables(repeatables);
  const label = direction === "up" ? "upgrade" : "downgrade";
  const sql = planSql(
    graph,
    names(ctx),
    result,
    `strata ${label} ${target} (offline: the state is assumed, not read)`,
  ) + (repeatables.length > 0 ? "\n" + repeatablesScript(names(ctx), repeatables) : "") +
    (direction === "down" && result.steps.length > 0
      ? `-- repeatables are not reverted: forgotten, re-run by the next apply\n${
        forgetRepeatablesSql(names(ctx))
      }\n`
      : "");
  // With --json the script travels inside the one document.
  if (ctx.out.json) {
    ctx.out.document({
      ok: true,
      command: label,
      offline: true,
      steps: result.steps,
      repeatables: repeatables.map((file) => file.id),
      sql,
    }, {
      raw: true,
    });
  } else ctx.out.raw(sql);
  return 0;
}

export async function migrate(ctx: Context, direction: Direction, target: string): Promise<number> {
  if (ctx.flags.sql) return offline(ctx, await loadGraph(ctx), direction, target);
  if (target.includes(":")) {
    throw usage(`A range "${target}" needs --sql`, "Online, name one target");
  }
  const label = direction === "up" ? "upgrade" : "downgrade";
  const repeatables = repeatablesFor(ctx, direction, target);
  // Checked before anything runs, like the revisions.
  await prepareRepeatables(repeatables);

  // A dry run only reads: it must not create an embedded database either.
  const readOnly = { readOnly: !!ctx.flags["dry-run"] };
  return await withGraphAndEngine(ctx, async (graph, engine) => {
    // Read and checked before anything runs, as the revisions are.
    const hooks = await loadHooks(ctx.config.dir);
    if (ctx.flags["dry-run"]) {
      const { state } = await readState(engine, ctx, graph);
      assertIntact(graph, state, ctx.config.dir);
      const result = plan(graph, state, direction, target);
      checkOutOfOrder(ctx, graph, state, result.steps);
      if (ctx.config.singleTransaction) assertSingleTransaction(graph, result.steps);
      await prepareSteps(graph, direction, result.steps);
      const rerun = repeatables.length > 0
        ? pendingRepeatables(repeatables, await recordedRepeatables(engine, names(ctx)))
        : [];
      await prepareRepeatables(rerun);
      ctx.out.document({
        ok: true,
        command: label,
        dryRun: true,
        database: engine.label,
        steps: result.steps,
        repeatables: rerun.map((file) => file.id),
      });
      if (!ctx.out.json) {
        ctx.out.line(
          `Dry run on ${engine.label}: ${
            plural(result.steps.length, "revision")
          } to ${label}, nothing changed`,
        );
        for (const id of result.steps) ctx.out.line(`  ${id}`);
        for (const file of rerun) ctx.out.line(`  ${file.id} (re-run)`);
        if (result.steps.length > 0) {
          ctx.out.raw(
            "\n" + planSql(graph, names(ctx), result, `strata ${label} ${target} --dry-run`),
          );
        }
        if (rerun.length > 0) ctx.out.raw("\n" + repeatablesScript(names(ctx), rerun));
      }
      return 0;
    }

    announceDatabase(ctx.out, ctx.config);
    const started = performance.now();
    let adopted: string[] = [];
    // Nothing to do is the common case (every container start, every cron
    // tick), and one read without the lock proves it; anything else is decided
    // again under the lock.
    const peek = await readLedger(engine, names(ctx));
    const idle = peek !== null && (() => {
      const state = compareState(graph, peek);
      assertIntact(graph, state, ctx.config.dir);
      return state.adopt.length === 0 && plan(graph, state, direction, target).steps.length === 0;
    })() &&
      (repeatables.length === 0 ||
        pendingRepeatables(repeatables, await recordedRepeatables(engine, names(ctx))).length ===
          0);
    let rerun: string[] = [];
    const done = idle ? [] : await withLock(engine, names(ctx), async (rows) => {
      // Re-read under the lock: a runner that waited finds the work done.
      const state = compareState(graph, rows);
      assertIntact(graph, state, ctx.config.dir);
      const result = plan(graph, state, direction, target);
      checkOutOfOrder(ctx, graph, state, result.steps);
      const single = ctx.config.singleTransaction;
      if (single) assertSingleTransaction(graph, result.steps);
      const pending = repeatables.length > 0
        ? pendingRepeatables(repeatables, await recordedRepeatables(engine, names(ctx)))
        : [];
      const work = result.steps.length > 0 || pending.length > 0;
      // The gate runs under the lock, so nobody changes the schema between it and the run.
      if (ctx.config.driftGate && (work || state.adopt.length > 0)) {
        // Loaded only here: the drift proof's modules (schema snapshot, diff, scratch builder)
        // are 11 modules an apply without the gate never needs.
        const { requireNoDrift } = await import("./drift.ts");
        await requireNoDrift(ctx, engine, state.applied.map((id) => graph.files.get(id)!), label);
      }
      adopted = await adoptBaselines(engine, names(ctx), graph, state, ctx.out);
      const hook = (which: Hook | undefined, revision?: string) =>
        which
          ? runHook(engine, names(ctx), which, { revision, direction, single })
          : Promise.resolve();
      if (work && hooks.before) {
        // The revisions are checked before the first hook commits anything.
        await prepareSteps(graph, direction, result.steps);
        await runHook(engine, names(ctx), hooks.before, { direction });
      }
      const steps = await runSteps(engine, names(ctx), graph, direction, result.steps, ctx.out, {
        single,
        retry: { retries: ctx.config.lockRetries },
        signal: ctx.signal,
        afterEach: hooks.after_each ? (step) => hook(hooks.after_each, step.revision) : undefined,
      });
      rerun = await runRepeatables(engine, names(ctx), repeatables, ctx.out);
      if (direction === "down" && steps.length > 0) {
        await engine.exec(forgetRepeatablesSql(names(ctx)));
      }
      // After the repeatables, so grants and ANALYZE cover their views too.
      if ((steps.length > 0 || rerun.length > 0) && hooks.after) {
        await runHook(engine, names(ctx), hooks.after, { direction });
      }
      return steps;
    });
    const total = performance.now() - started;
    ctx.out.document({
      ok: true,
      command: label,
      database: engine.label,
      steps: done,
      repeatables: rerun,
      adopted,
      ms: Math.round(total),
      databaseSource: ctx.config.databaseSource,
      singleTransaction: ctx.config.singleTransaction,
    });
    if (done.length === 0 && rerun.length === 0) {
      ctx.out.line(
        `Nothing to ${label}: ${engine.label} is up to date${
          direction === "down" ? " for that target" : ""
        }`,
      );
    } else if (done.length > 0) {
      ctx.out.line(
        `${direction === "up" ? "Applied" : "Rolled back"} ${plural(done.length, "revision")} in ${
          formatMs(total)
        }`,
      );
    }
    return 0;
  }, readOnly);
}
