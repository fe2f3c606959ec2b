/**
 * strata's entry: parse the command line, run one command, exit. The only
 * place that turns errors into exit codes and touches Deno.exit.
 */
import { parseArgs } from "node:util";
import { resolveConfig } from "./lib/config.ts";
import { EXIT_CODES, StrataError, usage } from "./lib/errors.ts";
import { Output } from "./lib/output.ts";
import { redact } from "./lib/redact.ts";
import { interruption } from "./lib/runner.ts";
import { VERSION } from "./lib/version.ts";
import { commandHelp, COMMANDS, mainHelp } from "./lib/commands/catalog.ts";
import { parseArgsFailure, unknownCommand } from "./lib/cli_usage.ts";
import { sqlFrame } from "./lib/failure.ts";
import type { Flags } from "./lib/commands/context.ts";

const OPTIONS = {
  database: { type: "string", short: "d" },
  dir: { type: "string" },
  table: { type: "string" },
  "lock-timeout": { type: "string" },
  "connect-timeout": { type: "string" },
  "statement-timeout": { type: "string" },
  "lock-wait": { type: "string" },
  "lock-retries": { type: "string" },
  "allow-out-of-order": { type: "boolean" },
  heads: { type: "boolean" },
  "single-transaction": { type: "boolean" },
  "require-no-drift": { type: "boolean" },
  json: { type: "boolean" },
  verbose: { type: "boolean", short: "v" },
  "no-color": { type: "boolean" },
  help: { type: "boolean", short: "h" },
  version: { type: "boolean", short: "V" },
  sql: { type: "boolean" },
  "dry-run": { type: "boolean" },
  message: { type: "string", short: "m" },
  category: { type: "string" },
  empty: { type: "boolean" },
  unstamp: { type: "boolean" },
  range: { type: "string", short: "r" },
  yes: { type: "boolean", short: "y" },
  hard: { type: "boolean" },
  reapply: { type: "boolean" },
  strict: { type: "boolean" },
  scratch: { type: "string" },
  schema: { type: "string" },
  autogenerate: { type: "boolean" },
  "fail-on": { type: "string" },
  partial: { type: "boolean" },
  format: { type: "string" },
  stamp: { type: "boolean" },
  "from-migrations": { type: "boolean" },
  output: { type: "string", short: "o" },
  measured: { type: "boolean" },
  targets: { type: "string" },
  "targets-query": { type: "string" },
  parallel: { type: "string" },
  canary: { type: "string" },
  "on-error": { type: "string" },
  "lock-strategy": { type: "string" },
  "lock-lease": { type: "string" },
} as const;

const RELATIVE_TARGET_REGEXP = /^-\d+$/;

function fail(out: Output, error: unknown): number {
  if (error instanceof StrataError) {
    if (out.json) {
      out.document({
        ok: false,
        error: {
          code: error.code,
          message: error.message,
          file: error.file ?? null,
          line: error.line ?? null,
          hint: error.hint ?? null,
          ...error.details,
        },
      });
    }
    out.error(`${out.red("error:")} ${error.located}`);
    const details = error.details;
    if (typeof details.statement === "string" && error.line) {
      // psql's frame: the statement's line and, when the server gave a position, a caret under it.
      const position = typeof details.position === "number" ? details.position : null;
      const frame = sqlFrame(details.statement, position ?? 1, error.line);
      for (const line of position === null ? frame.slice(0, 1) : frame) out.error(`  ${line}`);
    }
    if (details.sqlstate) out.error(`  SQLSTATE ${details.sqlstate}`);
    if (details.detail) out.error(`  detail: ${details.detail}`);
    if (details.statement && out.verbose) out.error(`  statement: ${details.statement}`);
    if (error.hint) out.error(`  hint: ${error.hint}`);
    return EXIT_CODES[error.code];
  }
  // The last guard: every failure a user can cause is a StrataError, so this is a defect.
  const message = redact(String((error as Error)?.stack ?? error));
  const hint = `This is a bug in strata ${VERSION}: please report it with this output`;
  if (out.json) out.document({ ok: false, error: { code: "INTERNAL", message, hint } });
  out.error(`${out.red("internal error:")} ${message}`);
  out.error(`  hint: ${hint}`);
  return 1;
}

/** Whatever happens, one exit code: an error that escapes everything else is a defect. */
async function guarded(argv: string[]): Promise<number> {
  const plain = () => Output.detect({ "no-color": true, json: argv.includes("--json") });
  // A rejection no one awaited (a client's background socket, a timer) would end the process
  // with Deno's own report and exit code; it goes through the same guard.
  globalThis.addEventListener("unhandledrejection", (event) => {
    event.preventDefault();
    Deno.exit(fail(plain(), event.reason));
  });
  globalThis.addEventListener("error", (event) => {
    event.preventDefault();
    Deno.exit(fail(plain(), event.error ?? event.message));
  });
  try {
    return await main(argv);
  } catch (error) {
    try {
      return fail(plain(), error);
    } catch {
      return 1;
    }
  }
}

async function main(argv: string[]): Promise<number> {
  // "-2" is a relative target, not an option: hand it over as a positional.
  const relative = argv.filter((arg) => RELATIVE_TARGET_REGEXP.test(arg));
  const rest = argv.filter((arg) => !RELATIVE_TARGET_REGEXP.test(arg));
  const argList = relative.length
    ? [...rest, ...(rest.includes("--") ? [] : ["--"]), ...relative]
    : rest;
  let parsed;
  try {
    parsed = parseArgs({ args: argList, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    const out = Output.detect({ "no-color": true, json: argv.includes("--json") });
    return fail(out, parseArgsFailure(error, OPTIONS));
  }
  const { values, positionals } = parsed;
  // lint --format json is --json.
  if (values.format === "json") values.json = true;
  const out = Output.detect(values);
  if (values.version) {
    out.document({ ok: true, version: VERSION });
    out.line(`strata ${VERSION}`);
    return 0;
  }
  const [name, ...args] = positionals;
  // With --json, stdout is one JSON document: help text travels inside it.
  const help = (text: string, command?: string) => {
    if (out.json) {
      out.document({ ok: true, ...(command ? { command } : {}), help: text }, { raw: true });
    } else out.raw(text);
    return 0;
  };
  if (!name || name === "help") {
    const topic = args[0];
    if (topic && !Object.hasOwn(COMMANDS, topic)) {
      return fail(out, unknownCommand(topic, Object.keys(COMMANDS)));
    }
    if (topic) return help(commandHelp(topic)!, topic);
    if (name || values.help) return help(mainHelp());
    if (out.json) {
      return fail(out, usage("No command given", "strata --help lists the commands"));
    }
    out.raw(mainHelp());
    return 2;
  }
  // Own keys only: "constructor" or "__proto__" is no command.
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!command) return fail(out, unknownCommand(name, Object.keys(COMMANDS)));
  if (values.help) return help(commandHelp(name)!, name);
  Deno.addSignalListener("SIGINT", () => {
    if (interruption.requested) Deno.exit(130);
    interruption.requested = true;
    out.error("Interrupted: stopping after the current revision (Ctrl-C again to abort now)");
  });
  try {
    const config = await resolveConfig(values);
    return await command.run({ config, out, args, flags: values as Flags });
  } catch (error) {
    return fail(out, error);
  }
}

Deno.exit(await guarded(Deno.args));
