/**
 * Parses one migration file: header directives, `-- up` / `-- down` sections
 * and the checksum. Every error names the file and the line.
 */
import { createHash } from "node:crypto";
import { StrataError } from "./errors.ts";

export type TransactionMode = "each" | "none";

export interface Section {
  /** The section's text, lines as in the file (LF). */
  sql: string;
  /** 1-based line in the file of the section's first line. */
  line: number;
}

export interface MigrationFile {
  id: string;
  /** Path as the user names it, e.g. `migrations/01_foundation/x.sql`. */
  path: string;
  /** Category folder, or null when the file sits directly in the folder. */
  category: string | null;
  message: string;
  /** Explicit parents, or null when the header has no `parents` line. */
  parents: string[] | null;
  /** Line of the `parents` directive, for graph errors that point at it. */
  parentsLine?: number;
  transaction: TransactionMode;
  replaces: string[];
  /**
   * `-- placeholders: on` / `off`: whether `${name}` is filled in this file;
   * undefined: the project's default (config `placeholdersEverywhere`).
   */
  placeholders?: boolean;
  up: Section;
  /** Null when there is no down section or it holds no SQL: irreversible. */
  down: Section | null;
  checksum: string;
}

export const REVISION_ID_REGEXP = /^\d{8}_\d{4}(?:\d{2})?_[\p{L}\p{M}\p{N}_]+$/u;
// A whole line (lines end at "\n" only, as the checksum's text does).
const MARKERS_REGEXP = /(?<=^|\n)[^\S\n]*--[^\S\n]*(up|down)[^\S\n]*(?=\n|$)/gi;
const DIRECTIVE_REGEXP = /^\s*--\s*([A-Za-z_]+)\s*:(.*)$/;
const KNOWN_KEYS = new Set(["message", "parents", "transaction", "replaces", "placeholders"]);
const ONLY_COMMENTS_REGEXP = /^(?:\s|--[^\n]*|\/\*[\s\S]*?\*\/)*$/;
/** Whether a section holds nothing but whitespace and comments. */
export function onlyComments(sql: string): boolean {
  return ONLY_COMMENTS_REGEXP.test(sql);
}

/** A down section that is only the line `-- noop`: a deliberate, reversible no-op. */
export const NOOP_DOWN_REGEXP = /^\s*--[^\S\n]*noop[^\S\n]*\s*$/i;

/** Drop a UTF-8 BOM and turn CRLF into LF: the text the checksum covers. */
export function normalize(text: string): string {
  return (text.charCodeAt(0) === 0xfeff ? text.slice(1) : text).replace(/\r\n/g, "\n");
}

export function checksumOf(normalized: string): string {
  return "sha256:" + createHash("sha256").update(normalized, "utf8").digest("hex");
}

/** Index of the first byte that is not valid UTF-8, or -1. */
function firstInvalidUtf8(bytes: Uint8Array): number {
  for (let i = 0; i < bytes.length;) {
    const b = bytes[i];
    const need = b < 0x80
      ? 0
      : b >= 0xc2 && b < 0xe0
      ? 1
      : b >= 0xe0 && b < 0xf0
      ? 2
      : b >= 0xf0 && b < 0xf5
      ? 3
      : -1;
    if (need < 0 || i + need >= bytes.length) return i;
    // The second byte's range is narrower after these leads: no overlongs, surrogates or > U+10FFFF.
    const second = bytes[i + 1];
    const [low, high] = b === 0xe0
      ? [0xa0, 0xbf]
      : b === 0xed
      ? [0x80, 0x9f]
      : b === 0xf0
      ? [0x90, 0xbf]
      : b === 0xf4
      ? [0x80, 0x8f]
      : [0x80, 0xbf];
    if (need > 0 && (second < low || second > high)) return i;
    for (let k = 2; k <= need; k++) if ((bytes[i + k] & 0xc0) !== 0x80) return i;
    i += need + 1;
  }
  return -1;
}

const UTF8 = new TextDecoder("utf-8", { fatal: true });

/** Decode bytes as UTF-8, naming the line of the first invalid byte. */
export function decodeUtf8(bytes: Uint8Array, path: string): string {
  try {
    return UTF8.decode(bytes);
  } catch {
    const at = firstInvalidUtf8(bytes);
    const line = bytes.subarray(0, Math.max(at, 0)).filter((b) => b === 0x0a).length + 1;
    throw new StrataError("FILE", "File is not valid UTF-8", {
      file: path,
      line,
      hint: "Save the file as UTF-8",
    });
  }
}

/**
 * Whether a header line holds anything but comments; `comment.depth` carries
 * an open (nestable, as in PostgreSQL) block comment over to the next line.
 */
function hasCode(line: string, comment: { depth: number }): boolean {
  for (let i = 0; i < line.length;) {
    if (comment.depth > 0) {
      if (line.startsWith("*/", i)) {
        comment.depth--;
        i += 2;
      } else if (line.startsWith("/*", i)) {
        comment.depth++;
        i += 2;
      } else i++;
    } else if (line[i] === " " || line[i] === "\t") i++;
    else if (line.startsWith("--", i)) return false;
    else if (line.startsWith("/*", i)) {
      comment.depth++;
      i += 2;
    } else return true;
  }
  return false;
}

/** 1-based line of a character offset; offsets must be asked for in increasing order. */
function lineCounter(text: string): (offset: number) => number {
  let at = 0;
  let line = 1;
  return (offset) => {
    for (let i = text.indexOf("\n", at); i >= 0 && i < offset; i = text.indexOf("\n", i + 1)) {
      line++;
      at = i + 1;
    }
    return line;
  };
}

function fileError(path: string, line: number, message: string, hint?: string): StrataError {
  return new StrataError("FILE", message, { file: path, line, hint });
}

/** Parse the text of one migration file. */
export function parseMigration(
  text: string,
  path: string,
  id: string,
  category: string | null,
): MigrationFile {
  const normalized = normalize(text);
  const nul = normalized.indexOf("\0");
  if (nul >= 0) {
    // PostgreSQL cannot take a NUL in a query; the protocol breaks on it mid-run.
    throw fileError(
      path,
      lineCounter(normalized)(nul),
      "File holds a NUL byte",
      "Remove it: a binary file or a wrong encoding (UTF-16?) saved as .sql",
    );
  }
  // Markers are found by one native regex pass, and sections cut as
  // substrings: a long file is not split into lines.
  const markers = [...normalized.matchAll(MARKERS_REGEXP)];
  const lineOf = lineCounter(normalized);
  const headerEnd = markers.length > 0 ? markers[0].index : normalized.length;
  const header = normalized.slice(0, headerEnd).split("\n");
  if (markers.length > 0) header.pop();
  const directives = new Map<string, { value: string; line: number }>();
  const comment = { depth: 0 };
  for (const [i, line] of header.entries()) {
    const directive = DIRECTIVE_REGEXP.exec(line);
    if (directive && KNOWN_KEYS.has(directive[1].toLowerCase())) {
      const key = directive[1].toLowerCase();
      const seen = directives.get(key);
      if (seen) {
        throw fileError(path, i + 1, `Directive "${key}" given twice (also on line ${seen.line})`);
      }
      directives.set(key, { value: directive[2].trim(), line: i + 1 });
    } else if (hasCode(line, comment)) {
      throw fileError(
        path,
        i + 1,
        `SQL before the "-- up" marker`,
        `Put a line "-- up" before the statements`,
      );
    }
  }

  let up: { index: number; line: number; start: number } | null = null;
  let down: { index: number; line: number; start: number } | null = null;
  for (const marker of markers) {
    const line = lineOf(marker.index);
    const end = marker.index + marker[0].length;
    const found = { index: marker.index, line, start: end < normalized.length ? end + 1 : end };
    if (marker[1].toLowerCase() === "up") {
      if (up) {
        throw fileError(path, line, `Second "-- up" marker (the first is on line ${up.line})`);
      }
      if (down) throw fileError(path, line, `"-- up" must come before "-- down"`);
      up = found;
    } else {
      if (down) {
        throw fileError(path, line, `Second "-- down" marker (the first is on line ${down.line})`);
      }
      if (!up) throw fileError(path, line, `"-- down" comes before any "-- up"`);
      down = found;
    }
  }
  if (!up) {
    const lines = lineOf(normalized.length) - (normalized.endsWith("\n") ? 1 : 0);
    throw fileError(
      path,
      Math.max(lines, 1),
      `No "-- up" marker`,
      `A migration needs a line "-- up" followed by its SQL (and optionally "-- down")`,
    );
  }

  const upSection = {
    sql: down
      ? normalized.slice(up.start, Math.max(up.start, down.index - 1))
      : normalized.slice(up.start),
    line: up.line + 1,
  };
  const downSql = down ? normalized.slice(down.start) : "";
  // An empty up is undone by an empty down (a merge point), and `-- noop` says
  // "nothing to undo" (an importer writes it): both still reversible.
  const downSection = down &&
      (!ONLY_COMMENTS_REGEXP.test(downSql) || ONLY_COMMENTS_REGEXP.test(upSection.sql) ||
        NOOP_DOWN_REGEXP.test(downSql))
    ? { sql: downSql, line: down.line + 1 }
    : null;

  const mode = directives.get("transaction");
  const transaction = (mode?.value.toLowerCase() || "each") as TransactionMode;
  if (transaction !== "each" && transaction !== "none") {
    throw fileError(
      path,
      mode!.line,
      `Unknown transaction mode "${mode!.value}"`,
      `Use "-- transaction: each" (the default) or "-- transaction: none"`,
    );
  }
  const parentsDirective = directives.get("parents");
  const placeholders = directives.get("placeholders");
  const fill = placeholders?.value.toLowerCase();
  if (placeholders && fill !== "on" && fill !== "off") {
    throw fileError(
      path,
      placeholders.line,
      `Unknown placeholders setting "${placeholders.value}"`,
      `Use "-- placeholders: on" (fill \${name} in this file) or "-- placeholders: off"`,
    );
  }
  return {
    id,
    path,
    category,
    message: directives.get("message")?.value ?? "",
    parents: parentsDirective ? splitIds(parentsDirective.value) : null,
    parentsLine: parentsDirective?.line,
    transaction,
    replaces: splitIds(directives.get("replaces")?.value ?? ""),
    ...(placeholders ? { placeholders: fill === "on" } : {}),
    up: upSection,
    down: downSection,
    checksum: checksumOf(normalized),
  };
}

function splitIds(value: string): string[] {
  return value.split(/[\s,]+/).filter((part) => part.length > 0);
}
