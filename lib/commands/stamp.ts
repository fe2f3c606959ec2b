/**
 * stamp / --unstamp and rehash: change the ledger without running SQL, under
 * the lock, each change journaled. `--unstamp` also forgets an applied
 * revision whose file is gone (a branch abandoned after it ran on a shared
 * database), the one way out of that state short of editing the ledger.
 */
import { cutList, StrataError, usage } from "../errors.ts";
import { ancestors, descendants, type Graph, inOrder, resolveRevision } from "../graph.ts";
import {
  deleteLedgerSql,
  insertLedgerSql,
  journalSql,
  type LedgerRow,
  ledgerTable,
  quoteLiteral,
} from "../ledger.ts";
import { withLock } from "../runner.ts";
import { announceDatabase } from "../announce.ts";
import { compareState } from "../state.ts";
import { type Context, loadGraph, names, positionals, withEngine } from "./context.ts";

export async function stamp(ctx: Context): Promise<number> {
  const [target] = positionals(ctx, 1, 1, "stamp TARGET [--unstamp]");
  const graph = await loadGraph(ctx);
  const n = names(ctx);
  announceDatabase(ctx.out, ctx.config);
  return await withEngine(ctx, (engine) =>
    withLock(engine, n, async (rows) => {
      const state = compareState(graph, rows);
      const applied = new Set(state.applied);
      let add: string[] = [];
      let remove: string[] = [];
      const forgotten = new Set<string>();
      const lost = ctx.flags.unstamp ? missingTarget(graph, state.missing, target) : null;
      if (target === "base") {
        if (ctx.flags.unstamp) {
          throw usage("Use stamp base (without --unstamp) to clear the ledger");
        }
        // Every row goes, those without a file (or replaced by a baseline) too.
        const withFile = [...state.applied].reverse().filter((id) => state.rows.has(id));
        const others = rows.map((row) => row.revision).filter((id) => !applied.has(id)).reverse();
        for (const id of state.missing) forgotten.add(id);
        remove = [...withFile, ...others];
      } else if (lost) {
        remove = abandoned(rows, state.missing, lost);
        for (const id of remove) forgotten.add(id);
      } else if (ctx.flags.unstamp) {
        const id = resolveRevision(graph, target);
        remove = [...state.applied].reverse().filter((rev) => descendants(graph, id).has(rev));
        if (!applied.has(id)) throw usage(`Revision "${id}" is not stamped as applied`);
      } else {
        const heads = target === "head" || target === "heads"
          ? graph.heads
          : [resolveRevision(graph, target)];
        if (target === "head" && heads.length > 1) {
          throw new StrataError("USAGE", "Several heads", {
            hint: 'Stamp "heads" or one revision',
          });
        }
        const wanted = new Set<string>();
        for (const head of heads) for (const id of ancestors(graph, head)) wanted.add(id);
        add = inOrder(graph, new Set([...wanted].filter((id) => !applied.has(id))));
      }
      const sql = [
        ...add.flatMap((id) => {
          const file = graph.files.get(id)!;
          return [
            insertLedgerSql(n, {
              revision: id,
              parents: graph.parents.get(id)!,
              checksum: file.checksum,
            }),
            journalSql(n, { action: "stamp", revision: id, checksum: file.checksum }),
          ];
        }),
        ...remove.flatMap((id) => [
          deleteLedgerSql(n, id),
          journalSql(n, {
            action: "unstamp",
            revision: id,
            checksum: graph.files.get(id)?.checksum ?? state.rows.get(id)?.checksum ?? undefined,
            detail: forgotten.has(id) ? "file missing: row forgotten" : undefined,
          }),
        ]),
      ];
      if (sql.length > 0) await engine.exec(sql.join("\n"));
      ctx.out.document({ ok: true, command: "stamp", stamped: add, unstamped: remove });
      for (const id of add) ctx.out.line(`${ctx.out.green("+")} stamped ${id}`);
      for (const id of remove) ctx.out.line(`${ctx.out.yellow("-")} unstamped ${id}`);
      if (sql.length === 0) ctx.out.line("Nothing to stamp: the ledger already says so");
      return 0;
    }));
}

/**
 * The applied-but-missing revision `spec` names (exact id, or a prefix no file
 * shares), or null when it names none. Throws when a prefix is ambiguous.
 */
function missingTarget(graph: Graph, missing: string[], spec: string): string | null {
  if (missing.includes(spec)) return spec;
  const matches = missing.filter((id) => id.startsWith(spec));
  if (matches.length === 0 || graph.order.some((id) => id.startsWith(spec))) return null;
  if (matches.length > 1) {
    throw usage(
      `Ambiguous revision prefix "${spec}" matches ${matches.length} revisions without a file`,
      `Candidates: ${cutList(matches)}`,
    );
  }
  return matches[0];
}

/**
 * `id` and the other missing revisions the ledger records as its descendants
 * (a whole abandoned branch), newest first. A revision with a file cannot
 * descend from a missing one: its graph would not load.
 */
function abandoned(rows: LedgerRow[], missing: string[], id: string): string[] {
  const lost = new Set(missing);
  const branch = new Set([id]);
  for (let grew = true; grew;) {
    grew = false;
    for (const row of rows) {
      if (branch.has(row.revision) || !lost.has(row.revision)) continue;
      if (row.parents.split(" ").some((parent) => branch.has(parent))) {
        branch.add(row.revision);
        grew = true;
      }
    }
  }
  return rows.filter((row) => branch.has(row.revision)).map((row) => row.revision).reverse();
}

export async function rehash(ctx: Context): Promise<number> {
  const [spec] = positionals(ctx, 1, 1, "rehash REV");
  const graph = await loadGraph(ctx);
  const id = resolveRevision(graph, spec);
  const file = graph.files.get(id)!;
  const n = names(ctx);
  return await withEngine(ctx, (engine) =>
    withLock(engine, n, async (rows) => {
      const row = rows.find((r) => r.revision === id);
      if (!row) {
        throw usage(
          `Revision "${id}" is not applied`,
          "rehash accepts an edit to an applied revision",
        );
      }
      if (row.checksum === file.checksum) {
        ctx.out.document({ ok: true, command: "rehash", revision: id, changed: false });
        ctx.out.line(`${id}: checksum unchanged, nothing to do`);
        return 0;
      }
      await engine.exec(
        `UPDATE ${ledgerTable(n)} SET checksum = ${quoteLiteral(file.checksum)} WHERE revision = ${
          quoteLiteral(id)
        };\n` +
          journalSql(n, {
            action: "rehash",
            revision: id,
            checksum: file.checksum,
            detail: `${row.checksum} -> ${file.checksum}`,
          }),
      );
      ctx.out.document({
        ok: true,
        command: "rehash",
        revision: id,
        changed: true,
        from: row.checksum,
        to: file.checksum,
      });
      ctx.out.line(
        `${id}: accepted the edit (${(row.checksum ?? "no checksum").slice(0, 15)}… -> ${
          file.checksum.slice(0, 15)
        }…), journaled`,
      );
      return 0;
    }));
}
