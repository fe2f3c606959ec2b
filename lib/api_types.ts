/**
 * The shapes of the JSON documents the library returns: exactly what
 * `strata COMMAND --json` prints. The commands build these documents; the
 * assertions at the bottom fail `deno check` when a command's own report type
 * and the type here part ways.
 */
import type { StatusReport } from "./commands/status.ts";
import type { LintReport } from "./commands/lint.ts";
import type { Finding } from "./lint/lint.ts";
import type { StepResult as RunnerStep } from "./runner.ts";
import type { ErrorCode } from "./errors.ts";
import type { FleetReport } from "./fleet/report.ts";

/** What `status` reports (the fields `status --json` and `check --json` share). */
export interface StatusFields {
  /** The database, password masked. */
  database: string;
  /** False for a `pglite:` folder that holds no database yet: nothing applied, nothing created. */
  created: boolean;
  /** Where the database URL came from (`--database`, `DATABASE_URL`, an option), or null. */
  source: string | null;
  /** The migrations folder. */
  dir: string;
  /** How many migration files there are. */
  files: number;
  /** Files per category folder; `.` counts the files at the folder's root. */
  categories: Record<string, number>;
  /** The applied revisions that have no applied child. */
  current: string[];
  /** The heads of the file graph. */
  heads: string[];
  /** Whether several heads are normal here (`multipleHeads`). */
  multipleHeads: boolean;
  /** How many revisions the ledger records. */
  applied: number;
  /** Revisions not applied, in graph order. */
  pending: string[];
  /** Applied revisions whose file changed since. */
  edited: string[];
  /** Applied revisions whose file is gone. */
  missing: string[];
  /** Missing revisions whose content now sits under another id. */
  renamed: Array<{ from: string; to: string }>;
  /** Pending revisions older than applied ones. */
  outOfOrder: string[];
  /** Pending revisions whose last run failed or was interrupted. */
  interrupted: Array<{ revision: string; action: string; at: string; detail: string | null }>;
  /** Tries the latest run of each applied revision took, from the journal (1 for most). */
  tries: Record<string, number>;
  /** Indexes left INVALID (a failed `CREATE INDEX CONCURRENTLY`). */
  invalidIndexes: string[];
  /** Pending revisions whose up section is still `create`'s untouched template. */
  unwritten: string[];
  /** Baselines the next apply records without running them. */
  adopt: string[];
  /** Baselines whose replaced revisions this database applied only in part. */
  partial: Array<{ baseline: string; applied: string[]; notApplied: string[] }>;
  /** Repeatable files (`repeatable/NAME.sql`) in the migrations folder. */
  repeatables: number;
  /** Repeatables (`repeatable/NAME`) never run or changed since their last run: apply re-runs them. */
  repeatablesPending: string[];
  /** Nothing pending (repeatables included), edited, missing or branched, and no invalid index. */
  upToDate: boolean;
}

/** The document of `status --json`. */
export interface StatusResult extends StatusFields {
  /** Always true: status reports, it does not judge. */
  ok: true;
  /** The command. */
  command: "status";
}

/**
 * The document of `check --json`. Where the command line exits 3, `ok` is
 * false: a database that needs attention is a result, not an error.
 */
export interface CheckResult extends StatusFields {
  /** False when anything is pending, edited, missing, branched, out of order or interrupted. */
  ok: boolean;
  /** The command. */
  command: "check";
}

/** One revision run by `apply`, `upgrade` or `downgrade`. */
export interface StepResult {
  /** The revision id. */
  revision: string;
  /** Which section ran. */
  direction: "up" | "down";
  /** How long it took, in milliseconds. */
  ms: number;
  /** Tries it took: more than 1 after lock timeouts with `--lock-retries`. */
  tries: number;
}

/** The document of `apply --json`, `upgrade --json` and `downgrade --json`. */
export interface MigrateResult {
  /** Always true: a failure is thrown as a StrataError. */
  ok: true;
  /** `apply` reports itself as an upgrade. */
  command: "upgrade" | "downgrade";
  /** The database, password masked. */
  database: string;
  /** The revisions run, in order; empty when there was nothing to do. */
  steps: StepResult[];
  /** Baselines recorded without running, because everything they replace was applied. */
  adopted: string[];
  /** The whole run, in milliseconds. */
  ms: number;
}

/** The document of `apply --dry-run --json` (and upgrade and downgrade): nothing changed. */
export interface DryRunResult {
  /** Always true. */
  ok: true;
  /** `apply` reports itself as an upgrade. */
  command: "upgrade" | "downgrade";
  /** Always true. */
  dryRun: true;
  /** The database, password masked. */
  database: string;
  /** The revisions that would run, in order. */
  steps: string[];
}

/** A schema object as the JSON of `drift`, `verify` and `diff` shows it. */
export interface SchemaObjectJson {
  /** `table`, `column`, `index`, `function`, … */
  kind: string;
  /** Qualified name, quoted where PostgreSQL would quote: `public.users.email`. */
  name: string;
  /** The definition as PostgreSQL prints it. */
  definition: string;
  /** Its COMMENT, or null. */
  comment: string | null;
}

/** An object that exists on both sides but differs. */
export interface SchemaChangeJson {
  /** The object's kind. */
  kind: string;
  /** Its qualified name. */
  name: string;
  /** Definition and comment before. */
  before: { definition: string; comment: string | null };
  /** Definition and comment after. */
  after: { definition: string; comment: string | null };
}

/** A difference between two schemas. */
export interface SchemaDiffJson {
  /** Objects only on the second side (for drift: only in the database). */
  added: SchemaObjectJson[];
  /** Objects only on the first side (for drift: missing from the database). */
  removed: SchemaObjectJson[];
  /** Objects on both sides that differ. */
  changed: SchemaChangeJson[];
}

/** The document of `drift --json`. Where the command line exits 3, `ok` is false. */
export interface DriftResult extends SchemaDiffJson {
  /** False when the database drifted. */
  ok: boolean;
  /** The command. */
  command: "drift";
  /** The database, password masked. */
  database: string;
  /** How many applied revisions the model was built from. */
  applied: number;
  /** Whether anything differs. */
  drifted: boolean;
}

/** An error as a JSON document shows it. */
export interface ErrorJson {
  /** The stable error code. */
  code: ErrorCode;
  /** What went wrong. */
  message: string;
  /** The file it points into, or null. */
  file: string | null;
  /** The line in that file, or null. */
  line: number | null;
  /** Further facts: `sqlstate`, `detail`, `statement`, … */
  [detail: string]: unknown;
}

/** Whether a down section restored the schema: how a finding is classed. */
export type FindingClass = "structural" | "comment" | "function-text";

/** One revision's outcome in `verify`. */
export interface VerifyStepJson {
  /** The revision id. */
  revision: string;
  /** Its file. */
  file: string;
  /** Up, down and up again, in milliseconds. */
  ms: number;
  /** `ok`, `irreversible` (no down section), `not-restored` or `failed`. */
  result: "ok" | "irreversible" | "not-restored" | "failed";
  /** For `not-restored`: the worst class among the differences. */
  class?: FindingClass;
  /** For `not-restored`: the schema before the up against the schema after the down. */
  diff?: {
    added: SchemaObjectJson[];
    removed: SchemaObjectJson[];
    changed: Array<SchemaChangeJson & { class: FindingClass }>;
  };
  /** For `failed`: which run failed. */
  phase?: "up" | "down" | "up again";
  /** For `failed`: the error. */
  error?: ErrorJson;
}

/**
 * The document of `verify --json`. Where the command line exits 1 (a
 * structural finding, a revision that fails to run), `ok` is false.
 */
export interface VerifyResult {
  /** False on a structural finding, a failure, or (strict) any finding. */
  ok: boolean;
  /** The command. */
  command: "verify";
  /** The scratch database used (embedded in memory, or a server's), password masked. */
  database: string;
  /** Whether comment-only, function-text-only and irreversible findings fail. */
  strict: boolean;
  /** Every revision checked, in graph order. */
  revisions: VerifyStepJson[];
  /** How many of each outcome. */
  counts: {
    revisions: number;
    verified: number;
    structural: number;
    comment: number;
    functionText: number;
    irreversible: number;
    failed: number;
    unchecked: number;
  };
  /** Revisions whose down did not restore the schema. */
  notRestored: string[];
  /** Of those, the ones with a structural difference. */
  structural: string[];
  /** Of those, the ones that only lost a comment. */
  commentOnly: string[];
  /** Of those, the ones whose function bodies differ only in text. */
  functionTextOnly: string[];
  /** Revisions that failed to run. */
  failed: string[];
  /** Revisions without a down section. */
  irreversible: string[];
  /** Revisions not checked because one before them could not be built. */
  unchecked: string[];
  /** Why verification stopped early, or null. */
  halted: { revision: string; reason: "up failed" | "rebuild failed"; error: ErrorJson } | null;
  /** The whole proof, in milliseconds. */
  ms: number;
}

/** One lint finding. */
export interface LintFinding {
  /** The rule's name. */
  rule: string;
  /** `error` or `warning`. */
  severity: "error" | "warning";
  /** The file. */
  file: string;
  /** The line in the file. */
  line: number;
  /** 1-based column of the statement or clause on that line (1 for file-level findings). */
  column: number;
  /** The revision id. */
  revision: string;
  /** The section the finding is in; null for the file as a whole. */
  section: "up" | "down" | null;
  /** What was found. */
  message: string;
  /** Why it is risky. */
  why: string;
  /** What to do instead. */
  instead: string;
}

/** The document of `lint --json`. Where the command line exits 3, `ok` is false. */
export interface LintResult {
  /** False when a finding at or above `failOn` remains. */
  ok: boolean;
  /** The command. */
  command: "lint";
  /** The least severity that fails. */
  failOn: "error" | "warning";
  /** How many revisions were linted. */
  revisions: number;
  /** The findings, in graph order. */
  findings: LintFinding[];
  /** How many of each severity. */
  counts: { error: number; warning: number };
}

/** One target's row in the report of `fleet`. */
export interface FleetTargetResult {
  /** Its name: from the targets file or query, else derived from the URL. */
  name: string;
  /** The URL, password masked. */
  database: string;
  /**
   * `ok`; `found` (check, drift, verify-applied found something: pending,
   * drift, an edited file); `failed`; `interrupted` (stopped after a revision
   * by Ctrl-C, an aborted signal, or another target's failure with onError
   * stop); `skipped` (never started).
   */
  result: "ok" | "found" | "failed" | "interrupted" | "skipped";
  /** apply/upgrade: revisions this run applied (also those committed before a failure). */
  applied: string[];
  /** status/check: revisions not applied. */
  pending: string[];
  /** status/check/verify-applied: the current revision(s). */
  current: string[];
  /** What needs a look, a short line each (`2 pending`, `edited X`, `+ table public.t`). */
  findings: string[];
  /** How long it ran, in milliseconds; null when skipped. */
  ms: number | null;
  /** Why it failed or stopped, passwords masked. */
  error: { code: ErrorCode | "INTERNAL"; message: string; hint: string | null } | null;
  /** Why a skipped target never started. */
  reason: string | null;
}

/**
 * The document of `fleet COMMAND --json`. `ok` is true only when every
 * target succeeded and found nothing; `exitCode` is what the command line
 * exits with (0, 3 found, 6 some failed, the failures' code when all did,
 * 130 interrupted).
 */
export interface FleetResult {
  /** True when exitCode is 0. */
  ok: boolean;
  /** The command. */
  command: "fleet";
  /** What each target ran. */
  action: "apply" | "upgrade" | "status" | "check" | "drift" | "verify-applied";
  /** At most this many targets at once. */
  parallel: number;
  /** The first this many targets ran before the others. */
  canary: number;
  /** What a failure did to the rest. */
  onError: "stop" | "continue";
  /** One row per target, in the order of the targets file and query. */
  targets: FleetTargetResult[];
  /** Counts of each result, revisions applied, and the whole run in milliseconds. */
  summary: {
    targets: number;
    ok: number;
    found: number;
    failed: number;
    interrupted: number;
    skipped: number;
    applied: number;
    ms: number;
  };
  /** The command line's exit code for this report. */
  exitCode: number;
}

// Compile-time checks that these shapes are the commands' own.
type Same<A, B> = [A] extends [B] ? [B] extends [A] ? true : false : false;
const _statusSame: Same<StatusFields, StatusReport> = true;
const _lintSame: Same<Omit<LintResult, "ok" | "command" | "failOn">, LintReport> = true;
const _findingSame: Same<LintFinding, Finding> = true;
const _stepSame: Same<StepResult, RunnerStep> = true;
const _fleetSame: Same<FleetResult, FleetReport> = true;
void [_statusSame, _lintSame, _findingSame, _stepSame, _fleetSame];
