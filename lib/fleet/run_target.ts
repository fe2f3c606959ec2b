/**
 * One target of a fleet: the very command `strata COMMAND` runs, in-process
 * on that target's database (its own connection, lock and ledger), its JSON
 * document captured and cut down to one small result row. Nothing else of a
 * finished target is kept.
 */
import type { Config } from "../config.ts";
import { type ErrorCode, StrataError } from "../errors.ts";
import type { Graph } from "../graph.ts";
import { redact, redactUrl } from "../redact.ts";
import { runCaptured } from "../captured.ts";
import type { Command, Flags } from "../commands/context.ts";
import { COMMANDS } from "../commands/catalog.ts";
import type { CheckResult, DriftResult, MigrateResult, StatusFields } from "../api_types.ts";
import type { Target } from "./targets.ts";
import { verifyApplied, type VerifyAppliedResult } from "./verify_applied.ts";

/** The commands a fleet runs. */
export const FLEET_ACTIONS = ["apply", "upgrade", "status", "check", "drift", "verify-applied"];
export type FleetAction = "apply" | "upgrade" | "status" | "check" | "drift" | "verify-applied";

/**
 * How a target ended: `ok`; `found` (check, drift, verify-applied found
 * something to look at); `failed`; `interrupted` (stopped after a revision,
 * by Ctrl-C or another target's failure); `skipped` (never started).
 */
export type TargetOutcome = "ok" | "found" | "failed" | "interrupted" | "skipped";

/** The error of a failed or interrupted target, passwords masked. */
export interface TargetError {
  /** The StrataError code, or INTERNAL for a defect. */
  code: ErrorCode | "INTERNAL";
  /** `file:line: message` where the error points into a file. */
  message: string;
  hint: string | null;
}

/** One target's row of the fleet report. */
export interface TargetResult {
  name: string;
  /** The URL, password masked. */
  database: string;
  result: TargetOutcome;
  /** apply/upgrade: the revisions this run applied (also those committed before a failure). */
  applied: string[];
  /** status/check: the revisions not applied. */
  pending: string[];
  /** status/check/verify-applied: the database's current revision(s). */
  current: string[];
  /** What needs a look, one short line each: `2 pending`, `edited X`, `+ table public.t`. */
  findings: string[];
  /** How long it ran, null when skipped. */
  ms: number | null;
  error: TargetError | null;
  /** Why a skipped target never started. */
  reason: string | null;
}

const MAX_FINDINGS = 20;

function command(action: FleetAction): Command {
  return action === "verify-applied" ? verifyApplied : COMMANDS[action].run;
}

/** A row with nothing in it yet. */
export function emptyRow(target: Target, result: TargetOutcome): TargetResult {
  return {
    name: target.name,
    database: redactUrl(target.url),
    result,
    applied: [],
    pending: [],
    current: [],
    findings: [],
    ms: null,
    error: null,
    reason: null,
  };
}

function statusFindings(doc: StatusFields): string[] {
  const findings: string[] = [];
  if (doc.pending.length > 0) findings.push(`${doc.pending.length} pending`);
  for (const id of doc.edited) findings.push(`edited ${id}`);
  for (const id of doc.missing) findings.push(`missing ${id}`);
  for (const id of doc.outOfOrder) findings.push(`out of order ${id}`);
  for (const i of doc.interrupted) findings.push(`last run ${i.action}: ${i.revision}`);
  for (const p of doc.partial) findings.push(`baseline ${p.baseline} partly applied`);
  if (doc.heads.length > 1 && !doc.multipleHeads) findings.push("several heads");
  for (const name of doc.invalidIndexes) findings.push(`invalid index ${name}`);
  if (doc.repeatablesPending.length > 0) {
    findings.push(`${doc.repeatablesPending.length} repeatables to re-run`);
  }
  return findings;
}

/** The row of a command that ran to its end, from its document and exit code. */
function rowOf(action: FleetAction, row: TargetResult, code: number, doc: unknown): void {
  row.result = code === 0 ? "ok" : "found";
  switch (action) {
    case "apply":
    case "upgrade":
      row.applied = (doc as MigrateResult).steps.map((step) => step.revision);
      break;
    case "status":
    case "check": {
      const status = doc as CheckResult;
      row.pending = status.pending;
      row.current = status.current;
      row.findings = statusFindings(status);
      break;
    }
    case "drift": {
      const drift = doc as DriftResult;
      row.findings = [
        ...drift.added.map((o) => `+ ${o.kind} ${o.name}`),
        ...drift.removed.map((o) => `- ${o.kind} ${o.name}`),
        ...drift.changed.map((o) => `~ ${o.kind} ${o.name}`),
      ];
      break;
    }
    case "verify-applied": {
      const verified = doc as VerifyAppliedResult;
      row.current = verified.current;
      row.findings = [
        ...verified.edited.map((id) => `edited ${id}`),
        ...verified.missing.map((id) => `missing ${id}`),
      ];
      break;
    }
  }
  if (row.findings.length > MAX_FINDINGS) {
    const more = row.findings.length - MAX_FINDINGS;
    row.findings = [...row.findings.slice(0, MAX_FINDINGS), `… and ${more} more`];
  }
}

/** What a run of one target shares with the others. */
export interface TargetRun {
  action: FleetAction;
  /** The fleet's resolved configuration; each target gets its own database in it. */
  config: Config;
  args: string[];
  flags: Flags;
  /** The files, loaded and checked once for the whole fleet. */
  graph: Graph;
  /** Aborted: every running target stops after its current revision. */
  signal: AbortSignal;
  /** `--verbose`: each target's lines, to print with its name. */
  log?: (target: Target, level: string, text: string) => void;
}

/** Run `run.action` on `target`; never throws: a failure is the row's error. */
export async function runTarget(run: TargetRun, target: Target): Promise<TargetResult> {
  const row = emptyRow(target, "failed");
  const config: Config = {
    ...run.config,
    database: target.url,
    databaseSource: target.source,
    databaseOverridden: [],
  };
  const started = performance.now();
  try {
    const { code, document } = await runCaptured(
      { name: run.action, run: command(run.action), args: run.args, flags: run.flags },
      config,
      {
        graph: run.graph,
        signal: run.signal,
        verbose: run.flags.verbose,
        log: run.log && ((level, text) => run.log!(target, level, text)),
      },
    );
    rowOf(run.action, row, code, document);
  } catch (error) {
    if (error instanceof StrataError) {
      row.result = error.code === "INTERRUPTED" ? "interrupted" : "failed";
      row.error = { code: error.code, message: redact(error.located), hint: error.hint ?? null };
      const completed = error.details.completed;
      if (Array.isArray(completed)) row.applied = completed.map(String);
    } else {
      // A defect in strata: this target's row says so and the others go on.
      row.error = {
        code: "INTERNAL",
        message: redact(String((error as Error)?.stack ?? error)),
        hint: "This is a bug in strata: please report it with this output",
      };
    }
  }
  row.ms = Math.round(performance.now() - started);
  return row;
}
