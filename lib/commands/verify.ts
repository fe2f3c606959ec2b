/**
 * verify: prove every down undoes its up, on the embedded engine in memory
 * (or a scratch server database with --scratch URL), never on the configured
 * database. Findings are sorted: a structural difference fails, a lost
 * comment or a reformatted function body is listed and fails only --strict.
 */
import { formatMs } from "../duration.ts";
import { type Output, plural } from "../output.ts";
import { classifyChange, type FindingClass } from "../schema/classify.ts";
import { diffJson, formatDiff } from "../schema/diff.ts";
import { scratchDatabases } from "../schema/scratch.ts";
import { verifyGraph, type VerifyHalt, type VerifyStep } from "../verify.ts";
import { StrataError } from "../errors.ts";
import { buildUp, sectionSources } from "../schema/build.ts";
import { loadRepeatables, prepareRepeatables, type Repeatable } from "../repeatable.ts";
import type { Engine } from "../db/engine.ts";
import { announceEngine, type Context, loadGraph, positionals } from "./context.ts";

const CLASS_LABEL: Record<FindingClass, string> = {
  structural: "structural",
  comment: "comment only",
  "function-text": "function text only",
};

function errorJson(error: VerifyHalt["error"]) {
  return {
    code: error.code,
    message: error.message,
    file: error.file ?? null,
    line: error.line ?? null,
    ...error.details,
  };
}

function stepJson(step: VerifyStep) {
  const { outcome } = step;
  const base = { revision: step.revision, file: step.path, ms: step.ms, result: outcome.kind };
  if (outcome.kind === "not-restored") {
    const diff = diffJson(outcome.diff);
    return {
      ...base,
      class: outcome.class,
      diff: {
        ...diff,
        changed: diff.changed.map((c, i) => ({
          ...c,
          class: classifyChange(outcome.diff.changed[i]),
        })),
      },
    };
  }
  if (outcome.kind === "failed") {
    return { ...base, phase: outcome.phase, error: errorJson(outcome.error) };
  }
  return base;
}

function printStep(out: Output, strict: boolean, step: VerifyStep): void {
  const time = out.dim(`(${formatMs(step.ms)})`);
  const { outcome } = step;
  // A warning unless --strict makes it an error.
  const soft = strict ? out.red("✗") : out.yellow("!");
  if (outcome.kind === "ok") out.line(`${out.green("✓")} ${step.revision} ${time}`);
  else if (outcome.kind === "irreversible") {
    out.line(`${soft} ${step.revision} ${time}: irreversible (no down section)`);
  } else if (outcome.kind === "not-restored") {
    const mark = outcome.class === "structural" ? out.red("✗") : soft;
    const what = outcome.class === "structural" ? "" : ` (${CLASS_LABEL[outcome.class]})`;
    out.line(`${mark} ${step.revision} ${time}: down does not restore the schema${what}`);
    for (const line of formatDiff(outcome.diff, "    ")) out.line(line);
  } else {
    out.line(
      `${out.red("✗")} ${step.revision} ${time}: ${outcome.phase} failed: ${outcome.error.located}`,
    );
  }
}

/**
 * Run every repeatable on head, then all again (a repeatable re-runs on top of
 * its previous version, so `CREATE VIEW` without `OR REPLACE` fails there):
 * null when both runs pass.
 */
async function checkRepeatables(
  engine: Engine,
  repeatables: Repeatable[],
): Promise<StrataError | null> {
  let round = 0;
  try {
    for (; round < 2; round++) await buildUp(engine, repeatables);
    return null;
  } catch (error) {
    if (!(error instanceof StrataError)) throw error;
    error.details.rerun = round === 1;
    return error;
  }
}

export async function verify(ctx: Context): Promise<number> {
  positionals(ctx, 0, 0, "verify [--strict] [--scratch URL]");
  const { out } = ctx;
  const strict = !!ctx.flags.strict;
  const graph = await loadGraph(ctx);
  const started = performance.now();
  const scratch = scratchDatabases(ctx.flags.scratch);
  let result: Awaited<ReturnType<typeof verifyGraph>>;
  const repeatables = loadRepeatables(ctx.config.dir);
  await prepareRepeatables(repeatables);
  let repeatableError: StrataError | null = null;
  scratch.admit(sectionSources(graph.order.map((id) => graph.files.get(id)!)));
  scratch.admit(sectionSources(repeatables, ["up"]));
  announceEngine(ctx, `verify ${plural(graph.order.length, "revision")}`);
  try {
    const started = (where: string) =>
      out.line(`Verifying ${plural(graph.order.length, "revision")} on ${where}: up, down, up`);
    result = await verifyGraph(scratch, graph, started, (step, index) => {
      printStep(out, strict, step);
      out.progress(index + 1, graph.order.length);
    }, async (engine) => {
      // Twice: a repeatable re-runs on top of its previous version.
      repeatableError = await checkRepeatables(engine, repeatables);
    });
  } finally {
    await scratch.dispose();
  }
  const { steps, label, halt } = result;
  const having = (test: (s: VerifyStep) => boolean) => steps.filter(test).map((s) => s.revision);
  const ofClass = (c: FindingClass) =>
    having((s) => s.outcome.kind === "not-restored" && s.outcome.class === c);
  const structural = ofClass("structural");
  const commentOnly = ofClass("comment");
  const functionTextOnly = ofClass("function-text");
  const notRestored = having((s) => s.outcome.kind === "not-restored");
  const failed = having((s) => s.outcome.kind === "failed");
  const irreversible = having((s) => s.outcome.kind === "irreversible");
  const verified = having((s) => s.outcome.kind === "ok").length;
  const unchecked = halt?.unchecked ?? [];
  const soft = commentOnly.length + functionTextOnly.length + irreversible.length;
  const repeatableFailure = repeatableError as StrataError | null;
  const ok = structural.length === 0 && failed.length === 0 && unchecked.length === 0 &&
    repeatableFailure === null && (!strict || soft === 0);
  const total = Math.round(performance.now() - started);
  out.document({
    ok,
    command: "verify",
    database: label,
    strict,
    revisions: steps.map(stepJson),
    counts: {
      revisions: graph.order.length,
      verified,
      structural: structural.length,
      comment: commentOnly.length,
      functionText: functionTextOnly.length,
      irreversible: irreversible.length,
      failed: failed.length,
      unchecked: unchecked.length,
    },
    notRestored,
    structural,
    commentOnly,
    functionTextOnly,
    failed,
    irreversible,
    unchecked,
    halted: halt
      ? { revision: halt.revision, reason: halt.reason, error: errorJson(halt.error) }
      : null,
    repeatables: {
      count: repeatables.length,
      error: repeatableFailure ? errorJson(repeatableFailure) : null,
    },
    ms: total,
  });
  if (repeatableFailure) {
    const when = repeatableFailure.details.rerun ? "when re-run on itself" : "on head";
    out.line(out.red(`Repeatable failed ${when}: ${repeatableFailure.located}`));
  } else if (repeatables.length > 0 && !halt) {
    out.line(
      `${out.green("✓")} ${
        plural(repeatables.length, "repeatable")
      } ran on head, and again on top of themselves`,
    );
  }
  if (halt?.reason === "rebuild failed") {
    out.line(
      out.red(`Stopped: rebuilding up to ${halt.revision} failed: ${halt.error.located}`),
    );
  }
  const summary =
    `${verified} of ${plural(graph.order.length, "revision")} verified in ${formatMs(total)}: ` +
    `${structural.length} structural, ${commentOnly.length} comment only, ` +
    `${functionTextOnly.length} function text only, ${irreversible.length} irreversible` +
    (failed.length ? `, ${failed.length} failed (${failed.join(", ")})` : "") +
    (unchecked.length ? `; ${unchecked.length} not checked after ${halt!.revision}` : "");
  out.line(ok ? out.green(summary) : out.red(summary));
  if (!strict && soft > 0 && ok) {
    out.line(
      out.dim("Comment-only, function-text-only and irreversible findings fail with --strict"),
    );
  }
  return ok ? 0 : 1;
}
