/**
 * lint: flag risky statements (locks, rewrites, data loss, statements that
 * cannot run) with file and line. Reads only the files: no database needed.
 * Exit 3 when a finding at or above `--fail-on` (config `lintFailOn`)
 * remains: by default an error; with `warning`, warnings too.
 */
import { ancestors, type Graph, inOrder, resolveRevision } from "../graph.ts";
import { type Finding, lintRevision } from "../lint/lint.ts";
import { newMemory } from "../lint/state.ts";
import { githubAnnotations, LINT_FORMATS, type LintFormat, sarifLog } from "../lint/report.ts";
import { LINT_FAIL_ON } from "../config.ts";
import { assertFilled } from "../placeholders.ts";
import { usage } from "../errors.ts";
import { plural } from "../output.ts";
import { announceEngine, type Context, loadGraph } from "./context.ts";
import type { LintResult } from "../api_types.ts";

export interface LintReport {
  revisions: number;
  findings: Finding[];
  counts: { error: number; warning: number };
}

/**
 * Lint every revision in graph order, or only `specs` (ids or unique
 * prefixes). The revisions before a selected one are still walked, since a
 * CHECK constraint validated there makes a later SET NOT NULL safe.
 */
export async function lintGraph(graph: Graph, specs: string[]): Promise<LintReport> {
  const selected = new Set(specs.map((spec) => resolveRevision(graph, spec)));
  const walk = selected.size === 0
    ? graph.order
    : inOrder(graph, new Set([...selected].flatMap((id) => [...ancestors(graph, id)])));
  // The filled text is linted: an undefined placeholder stops lint as it stops a run.
  assertFilled(walk.map((id) => graph.files.get(id)!));
  const memory = newMemory();
  const findings: Finding[] = [];
  for (const id of walk) {
    const found = await lintRevision(graph.files.get(id)!, { memory });
    if (selected.size === 0 || selected.has(id)) findings.push(...found);
  }
  const error = findings.filter((f) => f.severity === "error").length;
  return {
    revisions: selected.size || graph.order.length,
    findings,
    counts: { error, warning: findings.length - error },
  };
}

/** `--format`, checked before any file is read: text (default), json (as --json), github, sarif. */
function lintFormat(ctx: Context): LintFormat {
  const given = ctx.flags.format;
  if (given === undefined) return ctx.out.json ? "json" : "text";
  if (!(LINT_FORMATS as readonly string[]).includes(given)) {
    throw usage(
      `Invalid value "${given}" for --format`,
      `Use one of: ${LINT_FORMATS.join(", ")} (github: Actions annotations; sarif: code scanning)`,
    );
  }
  if (ctx.out.json && given !== "json") {
    throw usage(
      `--json and --format ${given} do not go together`,
      `Use --format ${given} alone, or --json (the same as --format json)`,
    );
  }
  return given as LintFormat;
}

export async function lint(ctx: Context): Promise<number> {
  const format = lintFormat(ctx);
  const report = await lintGraph(await loadGraph(ctx), ctx.args);
  const { out } = ctx;
  const failOn = ctx.config.lintFailOn;
  const failing = LINT_FAIL_ON.slice(0, LINT_FAIL_ON.indexOf(failOn) + 1)
    .reduce((n, severity) => n + report.counts[severity], 0);
  const ok = failing === 0;
  if (format === "sarif") {
    out.raw(JSON.stringify(sarifLog(report.findings), null, 2) + "\n");
    return ok ? 0 : 3;
  }
  if (format === "github") {
    out.raw(githubAnnotations(report.findings));
    out.raw(`${summaryOf(report)}\n`);
    return ok ? 0 : 3;
  }
  const measured = ctx.flags.measured ? await measuredNotes(ctx, report) : null;
  out.document(
    {
      ok,
      command: "lint",
      failOn,
      ...report,
      ...(measured && {
        findings: report.findings.map((f, i) => ({ ...f, measured: measured[i] })),
      }),
    } satisfies LintResult,
  );
  for (const [i, f] of report.findings.entries()) {
    const severity = f.severity === "error" ? out.red(f.severity) : out.yellow(f.severity);
    out.line(`${f.file}:${f.line}: ${severity} ${f.rule}: ${f.message}`);
    const note = measured?.[i];
    if (note) out.line(`    measured: ${(await import("../locks.ts")).describeNote(note)}`);
    out.line(out.dim(`    why: ${f.why}`));
    out.line(out.dim(`    instead: ${f.instead}`));
  }
  const { warning } = report.counts;
  const summary = summaryOf(report);
  out.line(ok ? (warning ? out.yellow(summary) : out.green(summary)) : out.red(summary));
  if (!ok && failOn !== "error") out.line(`Failing on ${failOn} and above (--fail-on ${failOn})`);
  return ok ? 0 : 3;
}

function summaryOf(report: LintReport): string {
  const { error, warning } = report.counts;
  return `${plural(report.revisions, "revision")} linted: ${plural(error, "error")}, ${
    plural(warning, "warning")
  }`;
}

/**
 * `--measured`: the lock rules' findings with what `strata locks` measures for
 * their statements, on a scratch database (embedded, or --scratch URL).
 */
async function measuredNotes(ctx: Context, report: LintReport) {
  const [{ measureFindings }, { LOCK_RULES }, { scratchDatabases }, { sectionSources }] =
    await Promise.all([
      import("../locks.ts"),
      import("../lint/rules_locks.ts"),
      import("../schema/scratch.ts"),
      import("../schema/build.ts"),
    ]);
  const graph = await loadGraph(ctx);
  const lockRules = new Set(LOCK_RULES.map((rule) => rule.id));
  const about = report.findings.map((f) => lockRules.has(f.rule) ? f : { ...f, section: null });
  const scratch = scratchDatabases(ctx.flags.scratch);
  scratch.admit(sectionSources(graph.order.map((id) => graph.files.get(id)!), ["up"]));
  announceEngine(ctx, "measure the locks of the findings", { stderr: true });
  try {
    const { notes, stopped } = await measureFindings(scratch, graph, about);
    if (stopped) ctx.out.warn(`Measuring stopped: ${stopped.located}`);
    return notes;
  } finally {
    await scratch.dispose();
  }
}
