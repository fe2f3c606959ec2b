/**
 * clean [N]: squash every revision older than the newest N into one proven
 * baseline. Order matters: plan (refusals), check the configured database,
 * prove on scratch databases, and only then back up and change files.
 */
import { dirname, join } from "node:path";
import { createBackup } from "../backup.ts";
import {
  assertChangeable,
  Containment,
  ensureFolder,
  replaceFile,
  sweepTemporaries,
} from "../safe_fs.ts";
import { StrataError, usage } from "../errors.ts";
import type { Graph } from "../graph.ts";
import { diffCount, diffJson, formatDiff } from "../schema/diff.ts";
import { scratchDatabases } from "../schema/scratch.ts";
import { sectionSources } from "../schema/build.ts";
import { planSquash, proveBaseline, type SquashPlan } from "../squash.ts";
import { type Context, loadGraph, names, positionals, readState, withEngine } from "./context.ts";

function keepCount(ctx: Context): number {
  const [text = "10"] = positionals(ctx, 0, 1, "clean [N]");
  if (!/^\d+$/.test(text)) {
    throw usage(`clean takes the number of revisions to keep, not "${text}"`, "strata clean 10");
  }
  return Number(text);
}

/** A database that ran only part of the range could never reach the baseline: refuse. */
async function checkDatabase(ctx: Context, graph: Graph, plan: SquashPlan): Promise<string> {
  try {
    return await withEngine(ctx, async (engine) => {
      const { state } = await readState(engine, ctx, graph);
      const applied = plan.replaced.filter((f) => state.rows.has(f.id)).map((f) => f.id);
      if (applied.length > 0 && applied.length < plan.replaced.length) {
        throw new StrataError(
          "INTEGRITY",
          `${engine.label} has applied ${applied.length} of the ${plan.replaced.length} revisions ` +
            `to squash; after clean it could not go on`,
          {
            hint: "Run strata apply first (or squash fewer: a larger N), then clean",
            details: {
              applied,
              notApplied: plan.replaced.filter((f) => !state.rows.has(f.id)).map((f) => f.id),
            },
          },
        );
      }
      return `${engine.label}: ${applied.length === 0 ? "none" : "all"} of them applied`;
    }, { readOnly: true });
  } catch (error) {
    // An embedded database that was never created has applied nothing.
    if (
      error instanceof StrataError && error.code === "CONNECT" &&
      ctx.config.database?.startsWith("pglite:") && /does not exist/.test(error.message)
    ) {
      return `${ctx.config.database}: not created yet`;
    }
    throw error;
  }
}

export async function clean(ctx: Context): Promise<number> {
  const keep = keepCount(ctx);
  const { out } = ctx;
  const graph = await loadGraph(ctx);
  const plan = await planSquash(graph, keep, ctx.config.dir);
  if (!plan) {
    out.document({ ok: true, command: "clean", squashed: [], kept: graph.order.length });
    out.line(`Nothing to squash: ${graph.order.length} revision(s), keeping ${keep}`);
    return 0;
  }
  const database = ctx.config.database ? await checkDatabase(ctx, graph, plan) : null;

  const started = performance.now();
  const scratch = scratchDatabases(ctx.flags.scratch);
  scratch.admit(sectionSources([...plan.replaced, plan.baseline]));
  let proof;
  try {
    proof = await proveBaseline(plan.replaced, plan.baseline, scratch, names(ctx), plan.origins);
  } finally {
    await scratch.dispose();
  }
  if (!proof.ok) {
    const lines = [...formatDiff(proof.up), ...formatDiff(proof.down)];
    throw new StrataError(
      "PROOF_FAILED",
      `The baseline does not build the same schema as the ${plan.replaced.length} revisions it ` +
        `would replace (${diffCount(proof.up) + diffCount(proof.down)} difference(s)):\n${
          lines.join("\n")
        }`,
      {
        hint: "Nothing was written. Check the revisions named above for SQL that depends on " +
          "running separately",
        details: { up: diffJson(proof.up), down: diffJson(proof.down) },
      },
    );
  }
  const proofMs = Math.round(performance.now() - started);
  const replaced = plan.replaced.map((f) => f.id);
  const summary = {
    ok: true,
    command: "clean",
    dryRun: !!ctx.flags["dry-run"],
    baseline: plan.baseline.id,
    path: join(ctx.config.dir, plan.relativePath),
    squashed: replaced,
    kept: plan.kept.map((f) => f.id),
    irreversible: plan.irreversible,
    proofMs,
    database,
  };
  const describe = () => {
    out.line(`Squash ${replaced.length} revision(s) into ${summary.path}:`);
    for (const f of plan.replaced) out.line(`  - ${f.path}`);
    out.line(`Keep ${plan.kept.length}: ${plan.kept.map((f) => f.id).join(", ") || "(none)"}`);
    out.line(`Proof: the baseline builds the same schema, up and down (${proofMs} ms)`);
    if (plan.irreversible.length > 0) {
      out.warn(
        `the baseline is irreversible: ${plan.irreversible.join(", ")} had no down section`,
      );
    }
    if (database) out.line(`Database ${database}`);
  };
  if (ctx.flags["dry-run"]) {
    out.document(summary);
    describe();
    out.line("Dry run: nothing written");
    return 0;
  }

  const root = new Containment(ctx.config.dir);
  const target = join(ctx.config.dir, plan.relativePath);
  // Checked before anything changes: no write or delete through a link or outside the folder.
  assertChangeable(root, target, "write");
  for (const file of plan.replaced) assertChangeable(root, file.path, "delete");
  sweepTemporaries(root);
  const backup = await createBackup(ctx.config.dir);
  ensureFolder(root, dirname(target));
  replaceFile(target, plan.text);
  for (const file of plan.replaced) await Deno.remove(file.path);
  out.document({ ...summary, backup: backup.id });
  describe();
  out.line(`Backed up to ${backup.path}; wrote ${target}; removed ${replaced.length} file(s)`);
  return 0;
}
