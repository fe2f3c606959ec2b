/**
 * strata from code: PostgreSQL schema migrations in plain SQL files, run from
 * a Deno or Node program — at boot, in tests, in serverless functions.
 *
 * Each function runs the same code as the command of the same name and
 * returns the document that command prints with `--json`. Failures are thrown
 * as {@link StrataError} with a stable {@link ErrorCode}; a result the
 * command line reports with exit 3 (check, drift, lint) or 1 (verify) is a
 * returned object with `ok: false`. Nothing is printed, nothing exits, and no
 * environment variable or strata.json is read unless the options ask for it.
 *
 * @example Migrate at boot
 * ```ts ignore
 * import { apply, StrataError } from "@strata/strata";
 *
 * try {
 *   const { steps } = await apply({ database: "postgres://app@127.0.0.1/app", dir: "migrations" });
 *   console.log(`applied ${steps.length} revisions`);
 * } catch (error) {
 *   if (error instanceof StrataError && error.code === "LOCK_TIMEOUT") console.error(error.hint);
 *   throw error;
 * }
 * ```
 *
 * @module
 */
export { apply, check, downgrade, drift, fleet, lint, status, upgrade, verify } from "./lib/api.ts";
export type {
  DowngradeOptions,
  Duration,
  FleetOptions,
  LintOptions,
  LogEvent,
  MigrateOptions,
  Options,
  ProofOptions,
  UpgradeOptions,
  VerifyOptions,
} from "./lib/api.ts";
export type {
  CheckResult,
  DriftResult,
  DryRunResult,
  ErrorJson,
  FindingClass,
  FleetResult,
  FleetTargetResult,
  LintFinding,
  LintResult,
  MigrateResult,
  SchemaChangeJson,
  SchemaDiffJson,
  SchemaObjectJson,
  StatusFields,
  StatusResult,
  StepResult,
  VerifyResult,
  VerifyStepJson,
} from "./lib/api_types.ts";
export { EXIT_CODES, StrataError } from "./lib/errors.ts";
export type { ErrorCode, StrataErrorOptions } from "./lib/errors.ts";
export { VERSION } from "./lib/version.ts";
