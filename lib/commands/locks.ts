/**
 * locks: each statement's measured locks, rewrites and whole-table scans,
 * from a scratch database (embedded by default, --scratch URL for a server),
 * never the configured one. REV… picks revisions (ids or unique prefixes);
 * without any, every revision in the graph is measured.
 */
import { resolveRevision } from "../graph.ts";
import { measureGraph, type RevisionReport, type StatementReport } from "../locks.ts";
import { SEED_ROWS } from "../schema/seed.ts";
import { type Output, plural } from "../output.ts";
import { sectionSources } from "../schema/build.ts";
import { scratchDatabases } from "../schema/scratch.ts";
import { announceEngine, type Context, loadGraph } from "./context.ts";

function firstLine(sql: string): string {
  const line = sql.trim().split("\n", 1)[0];
  const more = line.length > 72 || sql.trim().includes("\n");
  return (line.length > 72 ? line.slice(0, 71) : line) + (more ? " …" : "");
}

function printStatement(out: Output, s: StatementReport): void {
  out.line(`  line ${s.line}: ${firstLine(s.sql)}`);
  if (s.locks === null) {
    out.line(out.dim("    locks: not measured (outside a transaction, its locks end with it)"));
  } else if (s.locks.every((l) => l.created)) {
    out.line("    no lock on an existing table or index");
  } else {
    for (const lock of s.locks.filter((l) => !l.created)) {
      const paint = lock.blocks === "reads and writes"
        ? out.red
        : lock.blocks === "writes"
        ? out.yellow
        : (t: string) => t;
      out.line(`    ${paint(lock.mode)} on ${lock.relation} (${lock.kind}): ${lock.words}`);
    }
  }
  const made = [...new Set(s.locks?.filter((l) => l.created).map((l) => l.relation))];
  if (made.length) out.line(out.dim(`    also locks what it creates: ${made.join(", ")}`));
  const rewrote = s.rewrites.length
    ? `rewrote ${s.rewrites.map((r) => `${r.relation} (${r.kind})`).join(", ")}`
    : "no rewrite";
  const scanned = s.scans === null
    ? "scans not measured"
    : s.scans.length
    ? `scanned ${s.scans.map((r) => `${r.table} (${r.why})`).join(", ")}`
    : "no table scan";
  out.line(`    ${rewrote}; ${scanned}`);
}

function printRevision(out: Output, report: RevisionReport): void {
  out.line(`${out.bold(report.revision)} ${out.dim(`(transaction: ${report.transaction})`)}`);
  if (report.seeded.length) out.line(out.dim(`  rows given to: ${report.seeded.join(", ")}`));
  if (report.unseeded.length) {
    for (const t of report.unseeded) {
      out.line(out.yellow(`  ! no rows in ${t.table}: ${t.reason}`));
    }
  }
  if (report.transaction === "none") {
    out.line(out.dim("  runs outside a transaction: only rewrites can be measured"));
  }
  if (report.statements.length === 0) out.line("  (no statements)");
  for (const s of report.statements) printStatement(out, s);
}

export async function locks(ctx: Context): Promise<number> {
  const { out } = ctx;
  const graph = await loadGraph(ctx);
  const wanted = new Set(
    ctx.args.length ? ctx.args.map((spec) => resolveRevision(graph, spec)) : graph.order,
  );
  if (wanted.size === 0) {
    out.document({
      ok: true,
      command: "locks",
      database: null,
      seedRows: SEED_ROWS,
      revisions: [],
    });
    out.line("No revisions to measure");
    return 0;
  }
  const upTo = Math.max(...[...wanted].map((id) => graph.position.get(id)!));
  const needed = graph.order.slice(0, upTo + 1).map((id) => graph.files.get(id)!);
  const scratch = scratchDatabases(ctx.flags.scratch);
  scratch.admit(sectionSources(needed, ["up"]));
  announceEngine(ctx, `measure ${plural(wanted.size, "revision")}`);
  let reports: RevisionReport[];
  let label: string;
  try {
    const engine = await scratch.open();
    label = engine.label;
    out.line(
      `Measuring ${plural(wanted.size, "revision")} on ${label} ` +
        out.dim(`(${SEED_ROWS} rows in every empty table; each statement in its own transaction)`),
    );
    reports = await measureGraph(engine, graph, wanted, (report) => printRevision(out, report));
  } finally {
    await scratch.dispose();
  }
  out.document({
    ok: true,
    command: "locks",
    database: label,
    seedRows: SEED_ROWS,
    revisions: reports.map((r) => ({
      revision: r.revision,
      file: r.path,
      transaction: r.transaction,
      seeded: r.seeded,
      unseeded: r.unseeded,
      statements: r.statements,
    })),
  });
  return 0;
}
