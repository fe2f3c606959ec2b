/**
 * One command run in-process as the CLI runs it, with an Output that captures
 * its JSON document instead of printing it: what lib/api.ts returns to code
 * and what `strata fleet` runs on each target. Nothing here prints, exits or
 * listens for signals.
 */
import type { Config } from "./config.ts";
import { StrataError } from "./errors.ts";
import type { Graph } from "./graph.ts";
import { Output, type OutputCapture } from "./output.ts";
import { redact } from "./redact.ts";
import type { Command, Flags } from "./commands/context.ts";

/** What a captured run reports besides its document, and what it may share. */
export interface CaptureOptions {
  /** Each line the CLI would print, uncoloured and masked. */
  log?: OutputCapture["log"];
  /** Revisions done out of the total. */
  progress?: OutputCapture["progress"];
  /** Also log each statement (`--verbose`), at level `debug`. */
  verbose?: boolean;
  /** This run's own stop: after the current revision (see Context.signal). */
  signal?: AbortSignal;
  /** The files, loaded once for many runs. */
  graph?: Graph;
}

/** The command's exit code and its `--json` document, passwords masked. */
export interface Captured<T> {
  code: number;
  document: T;
}

/** Which command to run, with what. */
export interface CapturedCommand {
  /** Its name, for the defect message when it returns no document. */
  name: string;
  run: Command;
  /** Positional arguments after the command name. */
  args?: string[];
  flags?: Flags;
}

/**
 * Run `command` on `config` as the CLI would with --json. A StrataError is
 * rethrown with its message and hint masked, as the CLI masks them on their
 * way to the terminal.
 */
export async function runCaptured<T>(
  command: CapturedCommand,
  config: Config,
  options: CaptureOptions = {},
): Promise<Captured<T>> {
  const capture: OutputCapture = { log: options.log, progress: options.progress };
  const out = new Output({ json: true, verbose: !!options.verbose, color: false, capture });
  let code: number;
  try {
    code = await command.run({
      config,
      out,
      args: command.args ?? [],
      flags: { ...command.flags, verbose: options.verbose },
      signal: options.signal,
      graph: options.graph,
    });
  } catch (error) {
    if (error instanceof StrataError) {
      error.message = redact(error.message);
      if (error.hint) (error as { hint?: string }).hint = redact(error.hint);
    }
    throw error;
  }
  if (capture.document === undefined) {
    throw new Error(`strata ${command.name} returned no document`);
  }
  // The object --json prints: dates as strings, undefined fields gone, passwords masked.
  return { code, document: JSON.parse(redact(JSON.stringify(capture.document))) as T };
}
