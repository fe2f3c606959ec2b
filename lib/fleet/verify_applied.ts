/**
 * `fleet verify-applied`: the ledger against the files and nothing else.
 * Each applied revision's file must exist and its checksum match, as every
 * apply validates before it runs; read-only, no lock, no scratch database,
 * no connection but the target's. Exit 3 when an applied file is edited,
 * missing or renamed (as `check`).
 */
import { plural } from "../output.ts";
import {
  type Context,
  NOT_CREATED,
  notCreatedYet,
  readState,
  withGraphAndEngine,
} from "../commands/context.ts";

/** The document of one target's verify-applied. */
export interface VerifyAppliedResult {
  ok: boolean;
  command: "verify-applied";
  database: string;
  /** Revisions the ledger records. */
  applied: number;
  /** Of those, the ones whose file is present with the recorded checksum. */
  verified: number;
  edited: string[];
  missing: string[];
  renamed: Array<{ from: string; to: string }>;
  current: string[];
}

export async function verifyApplied(ctx: Context): Promise<number> {
  const label = await notCreatedYet(ctx);
  const doc: VerifyAppliedResult = label !== null
    ? {
      ok: true,
      command: "verify-applied",
      database: label,
      applied: 0,
      verified: 0,
      edited: [],
      missing: [],
      renamed: [],
      current: [],
    }
    : await withGraphAndEngine(ctx, async (graph, engine) => {
      const { state } = await readState(engine, ctx, graph);
      const bad = state.edited.length + state.missing.length;
      return {
        ok: bad === 0,
        command: "verify-applied",
        database: engine.label,
        applied: state.applied.length + state.missing.length,
        verified: state.applied.length - state.edited.length,
        edited: state.edited,
        missing: state.missing,
        renamed: state.renamed,
        current: state.current,
      };
    }, { readOnly: true });
  ctx.out.document(doc);
  const { out } = ctx;
  if (label !== null) out.line(`${label}: ${NOT_CREATED}; nothing applied to verify`);
  else out.line(`${doc.database}: ${plural(doc.verified, "applied revision")} verified`);
  for (const id of doc.edited) out.line(out.red(`Edited since applied: ${id}`));
  for (const id of doc.missing) out.line(out.red(`Applied but missing file: ${id}`));
  return doc.ok ? 0 : 3;
}
