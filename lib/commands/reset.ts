/**
 * reset: the dangerous one. It says what it will do, asks for the database's
 * name (or `--yes`), backs up the files, and then either downgrades to base
 * or, with `--hard`, drops and recreates the managed schemas and clears the
 * ledger, all in one transaction; `--reapply` then applies to head.
 */
import { plural } from "../output.ts";
import { createBackup } from "../backup.ts";
import type { Engine } from "../db/engine.ts";
import { StrataError, usage } from "../errors.ts";
import type { Graph } from "../graph.ts";
import { adoptBaselines } from "../adopt.ts";
import { createLedgerSql, journalSql, type LedgerNames, readLedger } from "../ledger.ts";
import { planDowngrade, planUpgrade } from "../plan.ts";
import { runSteps, withLock } from "../runner.ts";
import { forgetRepeatablesSql, loadRepeatables, runRepeatables } from "../repeatable.ts";
import { announceDatabase } from "../announce.ts";
import { ident } from "../schema/ident.ts";
import { quoteLiteral } from "../sql_literal.ts";
import { assertIntact, compareState } from "../state.ts";
import { type Context, names, positionals, readState, withGraphAndEngine } from "./context.ts";

const HOLD_SCHEMA = "strata_reset_hold";

/** The schema's owner, grants and comment, so the recreated one matches the old one. */
async function schemaSetup(engine: Engine, schema: string): Promise<string> {
  const [info] = await engine.query<{ owner: string; comment: string | null }>(
    `SELECT nspowner::regrole::text AS owner, obj_description(oid, 'pg_namespace') AS comment
       FROM pg_namespace WHERE nspname = $1`,
    [schema],
  );
  if (!info) return `CREATE SCHEMA ${ident(schema)};`;
  const grants = await engine.query<{ grantee: string; privilege: string }>(
    `SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END AS grantee,
            a.privilege_type AS privilege
       FROM pg_namespace n, aclexplode(n.nspacl) a
      WHERE n.nspname = $1 AND a.grantee <> n.nspowner`,
    [schema],
  );
  return [
    `CREATE SCHEMA ${ident(schema)} AUTHORIZATION ${info.owner};`,
    ...grants.map((g) => `GRANT ${g.privilege} ON SCHEMA ${ident(schema)} TO ${g.grantee};`),
    info.comment === null
      ? ""
      : `COMMENT ON SCHEMA ${ident(schema)} IS ${quoteLiteral(info.comment)};`,
  ].join("\n");
}

/**
 * One script: the journal is parked in a holding schema while the managed
 * schemas are dropped, so the history of what was done survives the reset.
 */
async function hardResetSql(engine: Engine, names: LedgerNames, schemas: string[]) {
  const [{ current }] = await engine.query<{ current: string | null }>(
    "SELECT current_schema() AS current",
  );
  const ledgerSchema = names.schema ?? current ?? "public";
  const parked = schemas.includes(ledgerSchema);
  const journal = `${ident(ledgerSchema)}.${ident(names.journal)}`;
  const ledger = `${ident(ledgerSchema)}.${ident(names.ledger)}`;
  const steps = ["BEGIN;"];
  if (parked) {
    steps.push(
      `CREATE SCHEMA ${HOLD_SCHEMA};`,
      `ALTER TABLE ${journal} SET SCHEMA ${HOLD_SCHEMA};`,
    );
  }
  for (const schema of schemas) {
    const setup = await schemaSetup(engine, schema);
    steps.push(`DROP SCHEMA IF EXISTS ${ident(schema)} CASCADE;`, setup);
  }
  if (parked) {
    steps.push(
      `ALTER TABLE ${HOLD_SCHEMA}.${ident(names.journal)} SET SCHEMA ${ident(ledgerSchema)};`,
      `DROP SCHEMA ${HOLD_SCHEMA};`,
    );
  } else {
    steps.push(`DELETE FROM ${ledger};`);
  }
  steps.push(
    createLedgerSql(names),
    journalSql(names, { action: "reset", detail: `hard: dropped schemas ${schemas.join(", ")}` }),
    "COMMIT;",
  );
  return steps.join("\n");
}

async function confirm(ctx: Context, engine: Engine): Promise<void> {
  if (ctx.flags.yes) return;
  const [{ name }] = await engine.query<{ name: string }>("SELECT current_database() AS name");
  const expected = engine.kind === "embedded" ? engine.label.slice("pglite:".length) : name;
  if (!Deno.stdin.isTerminal()) {
    throw usage(
      "reset changes the database and there is no terminal to confirm on: nothing done",
      "Pass --yes to confirm from a script",
    );
  }
  const answer = prompt(`Type the database name (${expected}) to confirm:`);
  if (answer?.trim() !== expected) throw usage("Not confirmed: nothing done");
}

function describe(ctx: Context, graph: Graph, applied: number, downSteps: number): string[] {
  const { hard, reapply } = ctx.flags;
  const lines = [`back up ${plural(graph.files.size, "migration file")} to versions_backup/`];
  if (hard) {
    lines.push(
      `drop and recreate ${ctx.config.schemas.length === 1 ? "schema" : "schemas"} ${
        ctx.config.schemas.join(", ")
      } (everything in them is ` +
        `lost) and clear the ledger (${plural(applied, "row")}); the journal is kept`,
    );
  } else {
    lines.push(`downgrade ${plural(downSteps, "revision")} to base, running their down sections`);
  }
  if (reapply) lines.push(`apply ${plural(graph.order.length, "revision")} to head`);
  return lines;
}

export async function reset(ctx: Context): Promise<number> {
  positionals(ctx, 0, 0, "reset [--hard] [--reapply] [--yes]");
  const { out } = ctx;
  return await withGraphAndEngine(ctx, async (graph, engine) => {
    const { state } = await readState(engine, ctx, graph);
    assertIntact(graph, state, ctx.config.dir);
    let downSteps = 0;
    if (!ctx.flags.hard) {
      try {
        downSteps = planDowngrade(graph, state, "base").steps.length;
      } catch (error) {
        if (!(error instanceof StrataError)) throw error;
        throw new StrataError(error.code, error.message, {
          file: error.file,
          line: error.line,
          details: error.details,
          hint: `${error.hint ? `${error.hint}; ` : ""}or drop everything: strata reset --hard`,
        });
      }
    }
    // What --reapply will refuse (several heads without multipleHeads) is refused before the reset.
    const target = ctx.config.multipleHeads ? "heads" : "head";
    if (ctx.flags.reapply) planUpgrade(graph, compareState(graph, []), target);
    const plan = describe(ctx, graph, state.applied.length, downSteps);
    announceDatabase(out, ctx.config);
    out.line(`Reset ${engine.label}:`);
    plan.forEach((line, i) => out.line(`  ${i + 1}. ${line}`));
    await confirm(ctx, engine);

    const backup = await createBackup(ctx.config.dir);
    out.line(`Backed up to ${backup.path}`);
    const ledger = names(ctx);
    const result = await withLock(engine, ledger, async (rows) => {
      let down: string[] = [];
      if (ctx.flags.hard) {
        await engine.exec(await hardResetSql(engine, ledger, ctx.config.schemas));
        out.line(`Dropped and recreated ${ctx.config.schemas.join(", ")}; ledger cleared`);
      } else {
        const now = compareState(graph, rows);
        await adoptBaselines(engine, ledger, graph, now, out);
        const steps = planDowngrade(graph, now, "base").steps;
        down = (await runSteps(engine, ledger, graph, "down", steps, out)).map((s) => s.revision);
        await engine.exec(forgetRepeatablesSql(ledger));
      }
      let up: string[] = [];
      if (ctx.flags.reapply) {
        const fresh = compareState(graph, (await readLedger(engine, ledger)) ?? []);
        const steps = planUpgrade(graph, fresh, target).steps;
        up = (await runSteps(engine, ledger, graph, "up", steps, out)).map((s) => s.revision);
        if (target === "head" || target === "heads") {
          await runRepeatables(engine, ledger, loadRepeatables(ctx.config.dir), out);
        }
      }
      return { down, up };
    });
    out.document({
      ok: true,
      command: "reset",
      database: engine.label,
      hard: !!ctx.flags.hard,
      plan,
      backup: backup.id,
      rolledBack: result.down,
      applied: result.up,
    });
    out.line(
      `Reset done${ctx.flags.reapply ? `: ${plural(result.up.length, "revision")} applied` : ""}`,
    );
    return 0;
  });
}
