/**
 * clean [N]: squash every revision older than the newest N into one proven
 * baseline. Order matters: plan (refusals), check the configured database,
 * prove on scratch databases, and only then back up and change files.
 */
import { dirname, join } from "node:path";
import { createBackup } from "../backup.ts";
import { formatMs } from "../duration.ts";
import {
  assertChangeable,
  Containment,
  ensureFolder,
  replaceFile,
  sweepTemporaries,
} from "../safe_fs.ts";
import { StrataError, usage } from "../errors.ts";
import type { Graph } from "../graph.ts";
import type { MigrationFile } from "../migration_file.ts";
import { filledOf } from "../placeholders.ts";
import { diffCount, diffJson, formatDiff } from "../schema/diff.ts";
import { scratchDatabases } from "../schema/scratch.ts";
import { sectionSources } from "../schema/build.ts";
import { planSquash, proveBaseline, type SquashPlan } from "../squash.ts";
import { plural } from "../output.ts";
import {
  announceEngine,
  type Context,
  loadGraph,
  names,
  notCreatedYet,
  positionals,
  readState,
  withEngine,
} from "./context.ts";

function keepCount(ctx: Context): number {
  const [text = "10"] = positionals(ctx, 0, 1, "clean [N]");
  if (!/^\d+$/.test(text)) {
    throw usage(`clean takes the number of revisions to keep, not "${text}"`, "strata clean 10");
  }
  return Number(text);
}

/** A database that ran only part of the range could never reach the baseline: refuse. */
async function checkDatabase(ctx: Context, graph: Graph, plan: SquashPlan): Promise<string> {
  // An embedded database that was never created has applied nothing.
  const notCreated = await notCreatedYet(ctx);
  if (notCreated !== null) return `${notCreated}: not created yet`;
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
}

/**
 * A baseline is written from the revisions' text: one that used placeholders
 * would carry this environment's values (and secrets) into a file.
 */
function assertNoPlaceholders(replaced: MigrationFile[]): void {
  const using = replaced.filter((file) => {
    const filled = filledOf(file);
    return filled &&
      (Object.keys({ ...filled.values.up, ...filled.values.down }).length > 0 ||
        filled.missing.length > 0);
  });
  if (using.length === 0) return;
  throw new StrataError(
    "USAGE",
    `Cannot squash revisions that use placeholders: ${using.map((file) => file.id).join(", ")}`,
    {
      file: using[0].path,
      hint: "The baseline would carry this environment's values; keep them out of the squash " +
        "(a larger keep count) or write their values into the files first",
    },
  );
}

export async function clean(ctx: Context): Promise<number> {
  const keep = keepCount(ctx);
  const { out } = ctx;
  const graph = await loadGraph(ctx);
  const plan = await planSquash(graph, keep, ctx.config.dir);
  if (!plan) {
    out.document({ ok: true, command: "clean", squashed: [], kept: graph.order.length });
    out.line(`Nothing to squash: ${plural(graph.order.length, "revision")}, keeping ${keep}`);
    return 0;
  }
  assertNoPlaceholders(plan.replaced);
  const database = ctx.config.database ? await checkDatabase(ctx, graph, plan) : null;
  const replaced = plan.replaced.map((f) => f.id);
  const path = join(ctx.config.dir, plan.relativePath);
  // The plan first: the proof that follows takes seconds.
  out.line(`Squash ${plural(replaced.length, "revision")} into ${path}:`);
  for (const f of plan.replaced) out.line(`  - ${f.path}`);
  out.line(`Keep ${plan.kept.length}: ${plan.kept.map((f) => f.id).join(", ") || "(none)"}`);
  if (plan.irreversible.length > 0) {
    out.warn(`the baseline is irreversible: ${plan.irreversible.join(", ")} had no down section`);
  }
  if (database) out.line(`Database ${database}`);
  announceEngine(
    ctx,
    `prove the baseline builds the same schema as the ${plural(replaced.length, "revision")}`,
  );

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
        `would replace (${plural(diffCount(proof.up) + diffCount(proof.down), "difference")}):\n${
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
  const summary = {
    ok: true,
    command: "clean",
    dryRun: !!ctx.flags["dry-run"],
    baseline: plan.baseline.id,
    path,
    squashed: replaced,
    kept: plan.kept.map((f) => f.id),
    irreversible: plan.irreversible,
    proofMs,
    database,
  };
  const describe = () => {
    out.line(`Proof: the baseline builds the same schema, up and down (${formatMs(proofMs)})`);
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
  out.line(
    `Backed up to ${backup.path}; wrote ${target}; removed ${plural(replaced.length, "file")}`,
  );
  return 0;
}
