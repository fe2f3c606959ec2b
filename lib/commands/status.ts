/**
 * status and check: the database against the files, read-only and without
 * the lock. `check` exits 3 when anything needs attention (for CI and cron).
 */
import type { Engine } from "../db/engine.ts";
import type { Graph } from "../graph.ts";
import { type JournalRow, readJournal } from "../ledger.ts";
import { plural } from "../output.ts";
import { compareState, type State } from "../state.ts";
import {
  type Context,
  loadGraph,
  names,
  NOT_CREATED,
  notCreatedYet,
  readState,
  withGraphAndEngine,
} from "./context.ts";
import {
  loadRepeatables,
  pendingRepeatables,
  recordedRepeatables,
  type Repeatable,
} from "../repeatable.ts";
import { triesFromJournal } from "../lock_retry.ts";
import { untouchedTemplateLine } from "../template.ts";
import type { CheckResult, StatusResult } from "../api_types.ts";

export interface StatusReport {
  database: string;
  /** False for a `pglite:` folder that holds no database yet: nothing applied, nothing created. */
  created: boolean;
  source: string | null;
  dir: string;
  files: number;
  categories: Record<string, number>;
  current: string[];
  heads: string[];
  /** Several heads are normal here (config multipleHeads, --heads): not a branch to merge. */
  multipleHeads: boolean;
  applied: number;
  pending: string[];
  edited: string[];
  missing: string[];
  renamed: Array<{ from: string; to: string }>;
  outOfOrder: string[];
  /** Pending revisions whose last journal entry is a failure or an unfinished start. */
  interrupted: Array<{ revision: string; action: string; at: string; detail: string | null }>;
  /** Tries the latest run of each applied revision took (journal): more than 1 after lock waits. */
  tries: Record<string, number>;
  invalidIndexes: string[];
  /** Pending revisions whose up section is still create's template: apply refuses them. */
  unwritten: string[];
  /** Baselines the next apply records without running (all they replace is applied). */
  adopt: string[];
  /** Baselines that replace revisions this database has only partly applied. */
  partial: State["partial"];
  repeatables: number;
  repeatablesPending: string[];
  upToDate: boolean;
}

const INVALID_INDEXES_SQL = `SELECT n.nspname || '.' || c.relname AS name FROM pg_index i
  JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE NOT i.indisvalid ORDER BY 1`;

async function gather(ctx: Context, graph: Graph, engine: Engine): Promise<StatusReport> {
  // Sent together: the client pipelines them on the one connection.
  const repeatables = loadRepeatables(ctx.config.dir);
  const [{ state }, journal, invalid, recorded] = await Promise.all([
    readState(engine, ctx, graph),
    readJournal(engine, names(ctx), { limit: 200 }),
    engine.query<{ name: string }>(INVALID_INDEXES_SQL),
    repeatables.length > 0 ? recordedRepeatables(engine, names(ctx)) : new Map(),
  ]);
  return build(
    ctx,
    graph,
    engine.label,
    state,
    journal,
    invalid.map((row) => row.name),
    true,
    { files: repeatables.length, pending: pendingRepeatables(repeatables, recorded) },
  );
}

/** The report from what was read: the ledger's state, the journal, invalid index names. */
function build(
  ctx: Context,
  graph: Graph,
  label: string,
  state: State,
  journal: JournalRow[],
  invalidIndexes: string[],
  created = true,
  repeatables: { files: number; pending: Repeatable[] } = { files: 0, pending: [] },
): StatusReport {
  const pendingSet = new Set([...state.pending, ...repeatables.pending.map((file) => file.id)]);
  const lastByRevision = new Map<string, (typeof journal)[number]>();
  for (const row of journal) {
    if (row.revision && !lastByRevision.has(row.revision)) lastByRevision.set(row.revision, row);
  }
  const interrupted = [...lastByRevision.values()]
    .filter((row) =>
      pendingSet.has(row.revision!) && (row.action === "failure" || row.action === "start")
    )
    .map((row) => ({
      revision: row.revision!,
      action: row.action === "start" ? "interrupted" : "failed",
      at: new Date(row.at).toISOString(),
      detail: row.detail,
    }));
  const counts: Record<string, number> = {};
  for (const file of graph.files.values()) {
    const key = file.category ?? ".";
    counts[key] = (counts[key] ?? 0) + 1;
  }
  // In folder order, the files at the top level (".") first.
  const categories: Record<string, number> = {};
  for (const key of Object.keys(counts).sort()) categories[key] = counts[key];
  return {
    database: label,
    created,
    source: ctx.config.databaseSource ?? null,
    dir: ctx.config.dir,
    files: graph.files.size,
    categories,
    current: state.current,
    heads: graph.heads,
    multipleHeads: ctx.config.multipleHeads,
    // Rows of revisions a baseline replaced count too, while that baseline is not yet adopted.
    applied: state.applied.length + state.missing.length +
      state.partial.reduce((n, p) => n + p.applied.length, 0),
    pending: state.pending,
    edited: state.edited,
    missing: state.missing,
    renamed: state.renamed,
    outOfOrder: state.outOfOrder,
    interrupted,
    tries: triesFromJournal(journal),
    invalidIndexes,
    unwritten: state.pending.filter((id) => untouchedTemplateLine(graph.files.get(id)!) !== null),
    adopt: state.adopt,
    partial: state.partial,
    repeatables: repeatables.files,
    repeatablesPending: repeatables.pending.map((file) => file.id),
    upToDate: isClean(state, graph, ctx.config.multipleHeads) && invalidIndexes.length === 0 &&
      repeatables.pending.length === 0,
  };
}

/** Several heads count as branched (to be merged) unless the project keeps them on purpose. */
function isClean(state: State, graph: Graph, multipleHeads: boolean): boolean {
  return state.pending.length === 0 && state.edited.length === 0 && state.missing.length === 0 &&
    state.partial.length === 0 && (multipleHeads || graph.heads.length <= 1);
}

function print(ctx: Context, r: StatusReport): void {
  const { out } = ctx;
  const list = (items: string[]) => (items.length ? items.join(", ") : "(none)");
  out.line(
    `Database:    ${r.database}${r.source ? out.dim(` (from ${r.source})`) : ""}${
      r.created ? "" : out.yellow(` — ${NOT_CREATED}`)
    }`,
  );
  const cats = Object.entries(r.categories)
    .map(([name, n]) => `${name === "." ? "(root)" : name} ${n}`).join(", ");
  out.line(`Migrations:  ${r.dir} — ${plural(r.files, "file")}${cats ? ` (${cats})` : ""}`);
  out.line(`Current:     ${list(r.current)}`);
  const several = r.heads.length > 1
    ? r.multipleHeads
      ? out.dim(`  ${r.heads.length} heads (multipleHeads: apply upgrades to all)`)
      : out.yellow("  several heads: strata merge, or set multipleHeads if they are normal here")
    : "";
  out.line(`Heads:       ${list(r.heads)}${several}`);
  out.line(`Applied:     ${r.applied}`);
  out.line(`Pending:     ${r.pending.length}`);
  for (const id of r.pending) out.line(`  ${out.yellow("•")} ${id}`);
  if (r.repeatables > 0) {
    out.line(`Repeatables: ${r.repeatables}, ${r.repeatablesPending.length} to re-run`);
    for (const id of r.repeatablesPending) out.line(`  ${out.yellow("↻")} ${id}`);
  }
  for (const id of r.edited) {
    out.line(out.red(`Edited since applied: ${id}  (strata rehash ${id} accepts it)`));
  }
  for (const id of r.missing) {
    out.line(
      out.red(
        `Applied but missing file: ${id}  (restore it, or forget it: strata stamp --unstamp ${id})`,
      ),
    );
  }
  for (const { from, to } of r.renamed) out.line(out.red(`Renamed: ${from} -> ${to}`));
  for (const id of r.outOfOrder) {
    out.line(out.yellow(`Out of order (older than applied revisions): ${id}`));
  }
  for (const i of r.interrupted) {
    out.line(
      out.red(
        `Last run ${i.action}: ${i.revision} at ${i.at}${
          i.detail ? ` — ${i.detail.split("\n")[0]}` : ""
        }`,
      ),
    );
  }
  for (const [id, n] of Object.entries(r.tries)) {
    if (n > 1) out.line(`Took ${n} tries (lock not available): ${id}`);
  }
  for (const id of r.unwritten) {
    out.line(out.red(`Still the template (write its SQL; apply refuses it): ${id}`));
  }
  for (const id of r.adopt) {
    out.line(`Baseline ${id}: everything it replaces is applied; the next apply records it`);
  }
  for (const p of r.partial) {
    out.line(
      out.red(
        `Baseline ${p.baseline} replaces revisions only partly applied here (not applied: ${
          p.notApplied.join(", ")
        }): restore the backup from before clean, apply, clean again`,
      ),
    );
  }
  for (const name of r.invalidIndexes) {
    out.line(out.red(`Invalid index: ${name} (drop and rebuild it)`));
  }
  out.line(r.upToDate ? out.green("Up to date") : out.yellow("Not up to date"));
}

const READ_ONLY = { readOnly: true };

async function report(ctx: Context): Promise<StatusReport> {
  const label = await notCreatedYet(ctx);
  if (label !== null) {
    // Nothing to read and nothing to create: every revision is pending.
    const graph = await loadGraph(ctx);
    const repeatables = loadRepeatables(ctx.config.dir);
    return build(ctx, graph, label, compareState(graph, []), [], [], false, {
      files: repeatables.length,
      pending: repeatables,
    });
  }
  return withGraphAndEngine(ctx, (graph, engine) => gather(ctx, graph, engine), READ_ONLY);
}

export async function status(ctx: Context): Promise<number> {
  const r = await report(ctx);
  ctx.out.document({ ok: true, command: "status", ...r } satisfies StatusResult);
  print(ctx, r);
  return 0;
}

export async function check(ctx: Context): Promise<number> {
  const r = await report(ctx);
  const attention = !r.upToDate || r.outOfOrder.length > 0 || r.interrupted.length > 0;
  ctx.out.document({ ok: !attention, command: "check", ...r } satisfies CheckResult);
  print(ctx, r);
  return attention ? 3 : 0;
}
