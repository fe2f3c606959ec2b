/**
 * One replaced revision's section as it goes into `clean`'s baseline. A
 * baseline runs in one transaction and only ever on a new, empty database
 * (a database that applied the range adopts it without running it), so a
 * `transaction: none` section joins it rewritten: CONCURRENTLY is dropped
 * (there is no traffic to protect), VACUUM and REINDEX SCHEMA/DATABASE/SYSTEM
 * (maintenance, no schema of their own) and the file's own BEGIN/COMMIT are
 * left out as comments. Each change is a comment naming the revision and
 * line. What has no in-transaction equivalent is refused with file and line.
 */
import type { Node } from "libpg-query";
import { StrataError } from "./errors.ts";
import { alterTable, nodeOf, nodesOf } from "./lint/ast.ts";
import { isSyntaxError, type ParsedStatement, parseSection } from "./lint/parse.ts";
import { outsideTransactionOnly } from "./lint/rules_run.ts";
import type { MigrationFile } from "./migration_file.ts";
import { loadPgQuery } from "./sql_split.ts";

/** Text and, for each of its lines, the line of the revision's file it came from. */
export interface MappedText {
  text: string;
  lines: number[];
}

interface Edit {
  /** JS string indexes in the section. */
  from: number;
  to: number;
  text: string;
}

type Action =
  | { kind: "keep" }
  | { kind: "rewrite"; what: string; token: number }
  | { kind: "drop"; what: string; why: string }
  | { kind: "refuse"; what: string; why: string };

const KEEP: Action = { kind: "keep" };
const NO_SCHEMA = "it changes no schema, and a new database has nothing to maintain";

function concurrentlyToken(what: string, at = -1): Action {
  return { kind: "rewrite", what, token: at };
}

/** What the baseline does with one statement of a `transaction: none` section. */
function actionFor(stmt: Node): Action {
  if (nodeOf(stmt, "IndexStmt")?.concurrent) return concurrentlyToken("CREATE INDEX CONCURRENTLY");
  if (nodeOf(stmt, "DropStmt")?.concurrent) return concurrentlyToken("DROP INDEX CONCURRENTLY");
  const detach = alterTable(stmt)?.cmds.some((cmd) =>
    cmd.subtype === "AT_DetachPartition" && nodeOf(cmd.def, "PartitionCmd")?.concurrent
  );
  if (detach) return concurrentlyToken("DETACH PARTITION CONCURRENTLY");
  const reindex = nodeOf(stmt, "ReindexStmt");
  if (reindex) {
    const kind = (reindex.kind ?? "").replace("REINDEX_OBJECT_", "");
    if (kind === "SCHEMA" || kind === "DATABASE" || kind === "SYSTEM") {
      return { kind: "drop", what: `REINDEX ${kind}`, why: NO_SCHEMA };
    }
    const option = nodesOf(reindex.params, "DefElem").find((o) => o.defname === "concurrently");
    return option ? concurrentlyToken("REINDEX CONCURRENTLY", option.location) : KEEP;
  }
  if (nodeOf(stmt, "VacuumStmt")?.is_vacuumcmd) {
    return { kind: "drop", what: "VACUUM", why: NO_SCHEMA };
  }
  const control = nodeOf(stmt, "TransactionStmt");
  if (control) {
    const kind = (control.kind ?? "").replace("TRANS_STMT_", "");
    if (kind === "BEGIN" || kind === "START" || kind === "COMMIT") {
      const what = kind === "COMMIT" && control.chain ? "COMMIT AND CHAIN" : kind;
      return { kind: "drop", what, why: "the baseline runs as one transaction" };
    }
    if (kind === "SAVEPOINT" || kind === "RELEASE" || kind === "ROLLBACK_TO") return KEEP;
    return {
      kind: "refuse",
      what: kind.replace("_", " "),
      why: "it undoes or hands off work, which the baseline's single transaction cannot replay",
    };
  }
  const what = outsideTransactionOnly(stmt);
  return what
    ? { kind: "refuse", what, why: "it has no equivalent inside the baseline's transaction" }
    : KEEP;
}

/** Apply `edits` (sorted, not overlapping) and map every output line to its source line. */
export function applyEdits(sql: string, firstLine: number, edits: Edit[]): MappedText {
  let text = "";
  const lines = [firstLine];
  let line = firstLine;
  const copy = (piece: string, advances: boolean) => {
    for (const ch of piece) {
      text += ch;
      if (ch !== "\n") continue;
      if (advances) line++;
      lines.push(line);
    }
  };
  let at = 0;
  for (const edit of edits) {
    copy(sql.slice(at, edit.from), true);
    copy(edit.text, false);
    for (const ch of sql.slice(edit.from, edit.to)) if (ch === "\n") line++;
    at = edit.to;
  }
  copy(sql.slice(at), true);
  return { text, lines };
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The section's text with its `transaction: none` statements made joinable. */
export async function joinableSection(
  file: MigrationFile,
  which: "up" | "down",
): Promise<MappedText> {
  const section = file[which]!;
  const plain = () => applyEdits(section.sql, section.line, []);
  if (file.transaction !== "none") return plain();
  const parsed = await parseSection(section);
  if (isSyntaxError(parsed)) {
    throw new StrataError("USAGE", `Cannot squash "${file.id}": ${parsed.message}`, {
      file: file.path,
      line: parsed.line,
      hint: "Fix the SQL first",
    });
  }
  const bytes = encoder.encode(section.sql);
  const index = (byte: number) => decoder.decode(bytes.subarray(0, byte)).length;
  const edits: Edit[] = [];
  for (const statement of parsed.statements) {
    const action = actionFor(statement.node);
    if (action.kind === "keep") continue;
    const where = `${file.id} line ${statement.line}`;
    if (action.kind === "refuse") {
      throw new StrataError(
        "USAGE",
        `Cannot squash "${file.id}": it runs ${action.what}, and ${action.why}`,
        {
          file: file.path,
          line: statement.line,
          hint: "Keep it as a file: choose a larger N so the squash stops before it",
        },
      );
    }
    const start = index(statement.start);
    const lineStart = section.sql.lastIndexOf("\n", start - 1) + 1;
    // A comment line goes above the statement's line when nothing else starts there.
    const above = section.sql.slice(lineStart, start).trim() === "" ? lineStart : start;
    const lead = above === lineStart ? "" : "\n";
    if (action.kind === "drop") {
      const end = statementEnd(section.sql, index(statement.end));
      const original = section.sql.slice(start, end);
      // What follows on the same line must not end up inside the comment.
      const rest = /^[^\n]*/.exec(section.sql.slice(end))![0].trim() === "" ? "" : "\n";
      edits.push({
        from: above,
        to: end,
        text: `${lead}-- strata clean: left out ${action.what} (${where}): ${action.why}\n` +
          section.sql.slice(above, start) + original.replace(/^/gm, "-- ") + rest,
      });
      continue;
    }
    const token = await concurrentlyAt(bytes, statement, action.token);
    if (!token) {
      throw new StrataError(
        "USAGE",
        `Cannot squash "${file.id}": cannot find the CONCURRENTLY of its ${action.what} to drop`,
        {
          file: file.path,
          line: statement.line,
          hint: "Keep it as a file: choose a larger N so the squash stops before it",
        },
      );
    }
    edits.push({
      from: above,
      to: above,
      text: `${lead}-- strata clean: ${action.what} (${where}) runs without CONCURRENTLY: ` +
        "a baseline only builds a new, empty database\n",
    });
    edits.push({ from: index(token.from), to: index(token.to), text: token.text });
  }
  edits.sort((a, b) => a.from - b.from || a.to - b.to);
  return applyEdits(section.sql, section.line, edits);
}

/** Past the statement's own `;`, when it has one. */
function statementEnd(sql: string, end: number): number {
  const semicolon = /^\s*;/.exec(sql.slice(end));
  return semicolon ? end + semicolon[0].length : end;
}

/**
 * The byte range to cut for CONCURRENTLY: the keyword and the blanks after
 * it; inside REINDEX's option list, the option with its value and a comma,
 * or the whole list when it was the only option.
 */
async function concurrentlyAt(
  bytes: Uint8Array,
  statement: ParsedStatement,
  location: number,
): Promise<{ from: number; to: number; text: string } | null> {
  const pg = await loadPgQuery();
  const text = decoder.decode(bytes.subarray(statement.start, statement.end));
  const tokens = pg.scanSync(text).tokens.map((t) => ({
    ...t,
    start: t.start + statement.start,
    end: t.end + statement.start,
  }));
  const at = location >= 0
    ? tokens.findIndex((t) => t.start === location)
    : tokens.findIndex((t) => t.text.toUpperCase() === "CONCURRENTLY");
  if (at < 0) return null;
  const blanks = (end: number) =>
    end + (/^[ \t]*/.exec(decoder.decode(bytes.subarray(end)))![0].length);
  const inList = at > 0 && (tokens[at - 1].text === "(" || tokens[at - 1].text === ",");
  if (!inList) return { from: tokens[at].start, to: blanks(tokens[at].end), text: "" };
  // The option runs to the next comma or closing parenthesis at its own depth.
  let depth = 0;
  let next = at + 1;
  for (; next < tokens.length; next++) {
    const t = tokens[next].text;
    if (depth === 0 && (t === "," || t === ")")) break;
    if (t === "(") depth++;
    if (t === ")") depth--;
  }
  if (next >= tokens.length) return null;
  if (tokens[next].text === ",") {
    return { from: tokens[at].start, to: blanks(tokens[next].end), text: "" };
  }
  if (tokens[at - 1].text === ",") {
    return { from: tokens[at - 1].start, to: tokens[next].start, text: "" };
  }
  // The only option: the parentheses go too.
  return { from: tokens[at - 1].start, to: blanks(tokens[next].end), text: "" };
}
