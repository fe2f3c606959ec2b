/**
 * Read-only views: current, heads, history and show.
 */
import { formatMs } from "../duration.ts";
import { usage } from "../errors.ts";
import { type Graph, resolveRevision } from "../graph.ts";
import { type LedgerRow, readJournal } from "../ledger.ts";
import {
  type Context,
  loadGraph,
  names,
  NOT_CREATED,
  notCreatedYet,
  positionals,
  readState,
  withEngine,
} from "./context.ts";

const READ_ONLY = { readOnly: true };
const iso = (value: Date | string) => new Date(value).toISOString();

export async function current(ctx: Context): Promise<number> {
  positionals(ctx, 0, 0, "current");
  const graph = await loadGraph(ctx);
  const notCreated = await notCreatedYet(ctx);
  const { state } = notCreated === null
    ? await withEngine(ctx, (engine) => readState(engine, ctx, graph), READ_ONLY)
    : { state: { current: [] as string[], missing: [] as string[] } };
  ctx.out.document({
    ok: true,
    command: "current",
    created: notCreated === null,
    current: state.current,
    missing: state.missing,
  });
  if (notCreated !== null) {
    ctx.out.line(`(base: nothing applied; ${notCreated} ${NOT_CREATED})`);
  } else if (state.current.length === 0 && state.missing.length === 0) {
    ctx.out.line("(base: nothing applied)");
  }
  for (const id of state.current) ctx.out.line(id);
  for (const id of state.missing) ctx.out.line(`${id} ${ctx.out.red("(file missing)")}`);
  return 0;
}

export async function heads(ctx: Context): Promise<number> {
  positionals(ctx, 0, 0, "heads");
  const graph = await loadGraph(ctx);
  ctx.out.document({ ok: true, command: "heads", heads: graph.heads });
  for (const id of graph.heads) ctx.out.line(`${id} ${ctx.out.dim(graph.files.get(id)!.path)}`);
  if (graph.heads.length > 1) {
    ctx.out.line(
      ctx.out.yellow(`${graph.heads.length} heads: join them with strata merge -m "..."`),
    );
  }
  return 0;
}

/** `a:b` (either side may be empty) as positions in graph order. */
function range(graph: Graph, spec: string | undefined): [number, number] {
  if (!spec) return [0, graph.order.length - 1];
  if (!spec.includes(":")) {
    throw usage(`Invalid range "${spec}"`, "Use -r from:to, e.g. -r base:head or -r 2024:");
  }
  const [from, to] = spec.split(":", 2);
  const at = (side: string, fallback: number) =>
    side === "" || side === "base"
      ? 0
      : side === "head" || side === "heads"
      ? fallback
      : graph.position.get(resolveRevision(graph, side))!;
  return [
    from === "" ? 0 : at(from, 0),
    to === "" ? graph.order.length - 1 : at(to, graph.order.length - 1),
  ];
}

export async function history(ctx: Context): Promise<number> {
  positionals(ctx, 0, 0, "history [--verbose] [-r from:to]");
  const graph = await loadGraph(ctx);
  let rows: Map<string, LedgerRow> | null = null;
  const notCreated = ctx.config.database ? await notCreatedYet(ctx) : null;
  if (ctx.config.database && notCreated === null) {
    rows = await withEngine(
      ctx,
      async (engine) => (await readState(engine, ctx, graph)).state.rows,
      READ_ONLY,
    );
  }
  const [from, to] = range(graph, ctx.flags.range);
  const ids = graph.order.slice(from, to + 1).reverse();
  const entries = ids.map((id) => {
    const file = graph.files.get(id)!;
    const row = rows?.get(id);
    return {
      revision: id,
      parents: graph.parents.get(id)!,
      message: file.message,
      path: file.path,
      transaction: file.transaction,
      reversible: file.down !== null,
      head: graph.heads.includes(id),
      applied: rows ? (row ? iso(row.applied_at) : null) : notCreated === null ? undefined : null,
    };
  });
  ctx.out.document({
    ok: true,
    command: "history",
    ...(ctx.config.database ? { created: notCreated === null } : {}),
    revisions: entries,
  });
  if (notCreated !== null) ctx.out.line(`(nothing applied: ${notCreated} ${NOT_CREATED})`);
  for (const e of entries) {
    const mark = rows === null ? " " : e.applied ? ctx.out.green("✔") : ctx.out.yellow("·");
    const tags = [
      e.head ? "head" : "",
      e.parents.length > 1 ? "merge" : "",
      e.parents.length === 0 ? "root" : "",
      e.reversible ? "" : "irreversible",
    ].filter(Boolean);
    ctx.out.line(
      `${mark} ${e.revision}${
        tags.length ? ctx.out.dim(` (${tags.join(", ")})`) : ""
      }  ${e.message}`,
    );
    if (ctx.flags.verbose) {
      ctx.out.line(
        ctx.out.dim(
          `    file: ${e.path}   parents: ${
            e.parents.join(" ") || "(base)"
          }   transaction: ${e.transaction}${e.applied ? `   applied: ${e.applied}` : ""}`,
        ),
      );
    }
  }
  return 0;
}

export async function show(ctx: Context): Promise<number> {
  const [spec] = positionals(ctx, 1, 1, "show REV");
  const graph = await loadGraph(ctx);
  const id = resolveRevision(graph, spec);
  const file = graph.files.get(id)!;
  let applied: LedgerRow | null = null;
  let journal: Awaited<ReturnType<typeof readJournal>> = [];
  const notCreated = ctx.config.database ? await notCreatedYet(ctx) : null;
  if (ctx.config.database && notCreated === null) {
    await withEngine(ctx, async (engine) => {
      applied = (await readState(engine, ctx, graph)).state.rows.get(id) ?? null;
      journal = await readJournal(engine, names(ctx), { revision: id, limit: 20 });
    }, READ_ONLY);
  }
  const row = applied as LedgerRow | null;
  const doc = {
    revision: id,
    path: file.path,
    message: file.message,
    parents: graph.parents.get(id)!,
    children: graph.children.get(id)!,
    transaction: file.transaction,
    replaces: file.replaces,
    checksum: file.checksum,
    applied: row
      ? {
        at: iso(row.applied_at),
        by: row.applied_by,
        durationMs: row.duration_ms,
        checksum: row.checksum,
      }
      : null,
    journal: journal.map((j) => ({
      at: iso(j.at),
      action: j.action,
      by: j.actor,
      detail: j.detail,
    })),
    up: file.up.sql,
    down: file.down?.sql ?? null,
  };
  ctx.out.document({
    ok: true,
    command: "show",
    ...(ctx.config.database ? { created: notCreated === null } : {}),
    ...doc,
  });
  const { out } = ctx;
  out.line(out.bold(`Revision:    ${id}`));
  out.line(`File:        ${file.path}`);
  out.line(`Message:     ${file.message}`);
  out.line(`Parents:     ${doc.parents.join(" ") || "(base)"}`);
  out.line(`Children:    ${doc.children.join(" ") || "(none: a head)"}`);
  out.line(`Transaction: ${file.transaction}`);
  if (file.replaces.length) out.line(`Replaces:    ${file.replaces.join(" ")}`);
  out.line(`Checksum:    ${file.checksum}`);
  if (notCreated !== null) {
    out.line(`Applied:     no (${notCreated} ${NOT_CREATED})`);
  } else if (ctx.config.database) {
    out.line(
      row
        ? `Applied:     ${doc.applied!.at} by ${row.applied_by}${
          row.duration_ms !== null ? ` in ${formatMs(row.duration_ms)}` : ""
        }`
        : "Applied:     no",
    );
    if (row && row.checksum !== file.checksum) {
      out.line(out.red(`Edited since applied (ledger has ${row.checksum})`));
    }
    for (const j of doc.journal) {
      out.line(
        out.dim(
          `  ${j.at} ${j.action} by ${j.by}${j.detail ? `: ${j.detail.split("\n")[0]}` : ""}`,
        ),
      );
    }
  }
  out.line(out.dim("-- up"));
  out.line(file.up.sql.trimEnd());
  out.line(out.dim("-- down"));
  out.line(file.down ? file.down.sql.trimEnd() : out.yellow("(none: irreversible)"));
  return 0;
}
