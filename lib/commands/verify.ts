/**
 * verify: prove every down undoes its up, on the embedded engine in memory
 * (or a scratch server database with --scratch URL), never on the configured
 * database.
 */
import { formatMs } from "../duration.ts";
import { diffJson, formatDiff } from "../schema/diff.ts";
import { scratchDatabases } from "../schema/scratch.ts";
import { sectionSources } from "../schema/build.ts";
import { verifyGraph, type VerifyStep } from "../verify.ts";
import { type Context, loadGraph, positionals } from "./context.ts";

function stepJson(step: VerifyStep) {
  const { outcome } = step;
  return {
    revision: step.revision,
    file: step.path,
    ms: step.ms,
    result: outcome.kind,
    ...(outcome.kind === "not-restored" ? { diff: diffJson(outcome.diff) } : {}),
    ...(outcome.kind === "failed"
      ? {
        phase: outcome.phase,
        error: {
          code: outcome.error.code,
          message: outcome.error.message,
          file: outcome.error.file ?? null,
          line: outcome.error.line ?? null,
          ...outcome.error.details,
        },
      }
      : {}),
  };
}

export async function verify(ctx: Context): Promise<number> {
  positionals(ctx, 0, 0, "verify [--strict] [--scratch URL]");
  const { out } = ctx;
  const strict = !!ctx.flags.strict;
  const graph = await loadGraph(ctx);
  const started = performance.now();
  const scratch = scratchDatabases(ctx.flags.scratch);
  scratch.admit(sectionSources(graph.order.map((id) => graph.files.get(id)!)));
  let steps: VerifyStep[];
  let label: string;
  try {
    const started = (where: string) =>
      out.line(`Verifying ${graph.order.length} revision(s) on ${where}: up, down, up`);
    ({ steps, label } = await verifyGraph(scratch, graph, started, (step, index) => {
      const time = out.dim(`(${formatMs(step.ms)})`);
      const { outcome } = step;
      if (outcome.kind === "ok") out.line(`${out.green("✓")} ${step.revision} ${time}`);
      else if (outcome.kind === "irreversible") {
        const mark = strict ? out.red("✗") : out.yellow("!");
        out.line(`${mark} ${step.revision} ${time}: irreversible (no down section)`);
      } else if (outcome.kind === "not-restored") {
        out.line(`${out.red("✗")} ${step.revision} ${time}: down does not restore the schema`);
        for (const line of formatDiff(outcome.diff, "    ")) out.line(line);
      } else {
        out.line(
          `${
            out.red("✗")
          } ${step.revision} ${time}: ${outcome.phase} failed: ${outcome.error.located}`,
        );
      }
      out.progress(index + 1, graph.order.length);
    }));
  } finally {
    await scratch.dispose();
  }
  const notRestored = steps.filter((s) => s.outcome.kind === "not-restored").map((s) => s.revision);
  const failed = steps.filter((s) => s.outcome.kind === "failed").map((s) => s.revision);
  const irreversible = steps.filter((s) => s.outcome.kind === "irreversible").map((s) =>
    s.revision
  );
  const ok = notRestored.length === 0 && failed.length === 0 &&
    (!strict || irreversible.length === 0);
  const total = Math.round(performance.now() - started);
  out.document({
    ok,
    command: "verify",
    database: label,
    strict,
    revisions: steps.map(stepJson),
    notRestored,
    failed,
    irreversible,
    ms: total,
  });
  const verified = steps.filter((s) => s.outcome.kind === "ok").length;
  const summary =
    `${verified} of ${graph.order.length} revision(s) verified in ${formatMs(total)}` +
    (notRestored.length ? `; ${notRestored.length} down(s) do not restore the schema` : "") +
    (failed.length ? `; ${failed[0]} failed to run` : "") +
    (irreversible.length ? `; ${irreversible.length} irreversible` : "");
  out.line(ok ? out.green(summary) : out.red(summary));
  return ok ? 0 : 1;
}
