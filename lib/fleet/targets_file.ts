/**
 * `--targets FILE`: one database a line, `URL` or `NAME URL`; blank lines and
 * `#` comments (a whole line, or after a space) are skipped. A line that is
 * neither is a CONFIG error naming the file and line, before anything runs.
 *
 * ```
 * # tenants on the primary cluster
 * acme    postgres://app@db1:5432/acme
 * globex  postgres://app@db1:5432/globex   # moved 2026-11
 * postgres://app@db2:5432/initech
 * ```
 */
import { StrataError } from "../errors.ts";
import { redactUrl } from "../redact.ts";
import {
  defaultName,
  duplicateName,
  isDatabaseUrl,
  type Target,
  type TargetSource,
} from "./targets.ts";

const COMMENT_REGEXP = /(^|\s)#.*$/;

function badLine(path: string, line: number, message: string): StrataError {
  return new StrataError("CONFIG", message, {
    file: path,
    line,
    hint: "A targets line is URL or NAME URL (postgres://…, postgresql://… or pglite:PATH); " +
      "# starts a comment",
  });
}

/** The targets of a file's text; `path` names it in errors and sources. */
export function parseTargetsFile(path: string, text: string): Target[] {
  const targets: Target[] = [];
  const byName = new Map<string, Target>();
  text.replace(/^\uFEFF/, "").split("\n").forEach((raw, index) => {
    const line = index + 1;
    const content = raw.replace(COMMENT_REGEXP, "").trim();
    if (content === "") return;
    const words = content.split(/\s+/);
    if (words.length > 2) {
      throw badLine(
        path,
        line,
        `Expected URL or NAME URL, found ${words.length} words: "${redactUrl(content)}"`,
      );
    }
    const [name, url] = words.length === 2 ? words : [null, words[0]];
    if (!isDatabaseUrl(url)) {
      throw badLine(path, line, `Not a database URL: "${redactUrl(url)}"`);
    }
    if (name !== null && isDatabaseUrl(name)) {
      throw badLine(path, line, `Two URLs on one line: "${redactUrl(content)}"`);
    }
    const target = { name: name ?? defaultName(url), url, source: `${path}:${line}` };
    const first = byName.get(target.name);
    if (first) throw duplicateName(target, first);
    byName.set(target.name, target);
    targets.push(target);
  });
  return targets;
}

/** The targets file at `path` (relative to the working folder). */
export function fileTargets(path: string): TargetSource {
  return {
    label: path,
    async list() {
      let text: string;
      try {
        text = await Deno.readTextFile(path);
      } catch (error) {
        throw new StrataError(
          "CONFIG",
          `Cannot read the targets file ${path}: ${(error as Error).message}`,
          { file: path, hint: "--targets FILE names a file of database URLs, one a line" },
        );
      }
      return parseTargetsFile(path, text);
    },
  };
}
