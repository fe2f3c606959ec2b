/**
 * Everything strata prints goes through here: human lines (colour only on a
 * terminal, never with NO_COLOR or --no-color), one JSON document with --json,
 * and the redaction of secrets on the way out.
 */
import { redact, redactSecrets } from "./redact.ts";

export interface OutputOptions {
  json: boolean;
  verbose: boolean;
  color: boolean;
  /** Keep everything off stdout and stderr: the library's calls (lib/api.ts) read it here. */
  capture?: OutputCapture;
}

/** What a library call keeps instead of printing: the JSON document, and lines for a logger. */
export interface OutputCapture {
  /** The command's JSON document, as `--json` would print it (before redaction). */
  document?: unknown;
  /** Human lines ("info"), warnings, errors and `--verbose` lines, uncoloured and redacted. */
  log?: (level: "info" | "warn" | "error" | "debug", text: string) => void;
  /** Revisions done out of the total, where the CLI would draw a progress bar. */
  progress?: (done: number, total: number) => void;
}

const encoder = new TextEncoder();

let pipeClosed = false;

function write(
  stream: { writeSync(p: Uint8Array): number },
  text: string,
  mask: (text: string) => string = redact,
): void {
  if (pipeClosed) return;
  const bytes = encoder.encode(mask(text));
  try {
    for (let done = 0; done < bytes.length;) done += stream.writeSync(bytes.subarray(done));
  } catch (error) {
    // `strata history | head` closes the pipe early: not strata's failure.
    if (error instanceof Deno.errors.BrokenPipe) pipeClosed = true;
    else throw error;
  }
}

export type Paint = (text: string) => string;

export class Output {
  readonly json: boolean;
  readonly verbose: boolean;
  readonly color: boolean;
  #progressShown = false;
  readonly #capture?: OutputCapture;
  /** Asked once: a system call per revision line otherwise (stderr does not change mid-run). */
  #stderrTerminal?: boolean;

  constructor(options: OutputOptions) {
    this.json = options.json;
    this.verbose = options.verbose;
    this.color = options.color;
    this.#capture = options.capture;
  }

  /** Captured output goes to the logger, if any; true when it did not go to a stream. */
  #captured(level: "info" | "warn" | "error" | "debug", text: string): boolean {
    if (!this.#capture) return false;
    this.#capture.log?.(level, redact(text));
    return true;
  }

  static detect(flags: { json?: boolean; verbose?: boolean; "no-color"?: boolean }): Output {
    const color = !flags["no-color"] && !Deno.env.get("NO_COLOR") && Deno.stdout.isTerminal();
    return new Output({ json: !!flags.json, verbose: !!flags.verbose, color });
  }

  #paint(code: number): Paint {
    return (text) => (this.color ? `\x1b[${code}m${text}\x1b[0m` : text);
  }
  get green(): Paint {
    return this.#paint(32);
  }
  get red(): Paint {
    return this.#paint(31);
  }
  get yellow(): Paint {
    return this.#paint(33);
  }
  get dim(): Paint {
    return this.#paint(2);
  }
  get bold(): Paint {
    return this.#paint(1);
  }

  /** A human line on stdout; silent with --json. */
  line(text = ""): void {
    if (this.#captured("info", text) || this.json) return;
    this.#clearProgress();
    write(Deno.stdout, text + "\n");
  }

  /** Human lines on stdout in one write (one system call, one wake-up of a reader of the pipe). */
  lines(texts: string[]): void {
    if (this.#capture) {
      for (const text of texts) this.#captured("info", text);
      return;
    }
    if (this.json) return;
    this.#clearProgress();
    write(Deno.stdout, texts.map((text) => text + "\n").join(""));
  }

  /** A SQL script or help text on stdout, also with --json: only configured secrets are masked. */
  raw(text: string): void {
    if (this.#captured("info", text)) return;
    write(Deno.stdout, text, redactSecrets);
  }

  /**
   * A line said before a long wait (the embedded engine starting): on stdout
   * with the other human lines, on stderr with --json so stdout stays one document.
   */
  notice(text: string): void {
    // A library caller's logger gets it as the information it is, not as an error.
    if (this.#captured("info", text)) return;
    if (this.json) this.error(this.dim(text));
    else this.line(text);
  }

  /** A warning on stderr, in both modes. */
  warn(text: string): void {
    if (this.#captured("warn", text)) return;
    this.#clearProgress();
    write(Deno.stderr, this.yellow("warning: ") + text + "\n");
  }

  /** A line on stderr (errors). */
  error(text: string): void {
    if (this.#captured("error", text)) return;
    this.#clearProgress();
    write(Deno.stderr, text + "\n");
  }

  /** Only with --verbose, on stderr so stdout stays parseable. */
  debug(text: string): void {
    if (this.verbose && !this.#captured("debug", text)) this.error(this.dim(text));
  }

  /**
   * The one JSON document of a command (only with --json). `raw`: it carries a
   * SQL script or help text, where only configured secrets are masked (as `raw`).
   */
  document(doc: unknown, options: { raw?: boolean } = {}): void {
    if (this.#capture) this.#capture.document = doc;
    else if (this.json) {
      write(Deno.stdout, JSON.stringify(doc, null, 2) + "\n", options.raw ? redactSecrets : redact);
    }
  }

  /** A progress bar on a terminal for long runs; nothing otherwise. */
  progress(done: number, total: number): void {
    if (this.#capture) return this.#capture.progress?.(done, total);
    if (this.json || total < 20 || !this.#stderrIsTerminal()) return;
    const width = 30;
    const filled = Math.round((done / total) * width);
    write(Deno.stderr, `\r[${"#".repeat(filled)}${".".repeat(width - filled)}] ${done}/${total}`);
    this.#progressShown = done < total;
    if (done >= total) write(Deno.stderr, "\r\x1b[K");
  }

  /** Whether a line rewritten in place (`status`) is shown: a terminal, not --json, not captured. */
  get live(): boolean {
    return !this.#capture && !this.json && this.#stderrIsTerminal();
  }

  #stderrIsTerminal(): boolean {
    return this.#stderrTerminal ??= Deno.stderr.isTerminal();
  }

  /** A status line on stderr, rewritten in place; the next line printed clears it. */
  status(text: string): void {
    if (!this.live) return;
    write(Deno.stderr, `\r\x1b[K${text}`);
    this.#progressShown = true;
  }

  #clearProgress(): void {
    if (this.#progressShown) {
      write(Deno.stderr, "\r\x1b[K");
      this.#progressShown = false;
    }
  }
}

/** "1 revision", "2 revisions": a count with its noun, never "revision(s)". */
export function plural(n: number, word: string, many = `${word}s`): string {
  return `${n} ${n === 1 ? word : many}`;
}
