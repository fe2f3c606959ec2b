/**
 * dbmate: `db/migrations/VERSION_name.sql`, one file per revision, with
 * `-- migrate:up` and `-- migrate:down` blocks; `transaction:false` on a
 * block line runs it outside a transaction. Order: the version, as a number.
 */
import { join } from "node:path";
import {
  compareNumeric,
  type Finding,
  humanize,
  type ImportedRevision,
  listFiles,
  malformed,
  onlyComments,
  readSource,
  type SourceTool,
  timeOfVersion,
} from "./source.ts";

const FILE_REGEXP = /^(\d+)_(.*)\.sql$/;
const BLOCK_REGEXP = /^--\s*migrate:(up|down)\b(.*)$/;

export function readDbmateFile(
  path: string,
  text: string,
): { up: string; down: string | null; noTransaction: boolean; notes: string[] } {
  const lines = text.split("\n");
  const blocks: Array<{ kind: string; line: number; options: string }> = [];
  lines.forEach((line, i) => {
    const match = BLOCK_REGEXP.exec(line.trim());
    if (match) blocks.push({ kind: match[1], line: i + 1, options: match[2].trim() });
  });
  const up = blocks.filter((b) => b.kind === "up");
  const down = blocks.filter((b) => b.kind === "down");
  if (up.length === 0) {
    throw malformed(
      path,
      1,
      'No "-- migrate:up" block',
      "dbmate needs one: the file cannot have run",
    );
  }
  if (up.length > 1) throw malformed(path, up[1].line, 'Second "-- migrate:up" block');
  if (down.length > 1) throw malformed(path, down[1].line, 'Second "-- migrate:down" block');
  const before = lines.slice(0, blocks[0].line - 1).join("\n");
  if (!onlyComments(before)) {
    const at = lines.findIndex((line) => !onlyComments(line));
    throw malformed(path, at + 1, 'SQL before the "-- migrate:up" block', "dbmate refuses it too");
  }
  if (down.length === 0) {
    // dbmate 2.x refuses such a file: it cannot have run.
    throw malformed(
      path,
      lines.length > 1 ? lines.length - 1 : 1,
      'No "-- migrate:down" block',
      "dbmate needs one (an empty block is a no-op down): the file cannot have run",
    );
  }
  const notes: string[] = [];
  let noTransaction = false;
  for (const block of blocks) {
    for (const option of block.options.split(/\s+/).filter(Boolean)) {
      const [key, value] = option.split(":");
      if (key === "transaction" && (value === "false" || value === "true")) {
        if (value === "false") noTransaction = true;
      } else {
        throw malformed(path, block.line, `Unknown dbmate option "${option}"`);
      }
    }
  }
  const upFalse = /transaction:false/.test(up[0].options);
  const downFalse = down.length > 0 && /transaction:false/.test(down[0].options);
  if (down.length > 0 && upFalse !== downFalse) {
    notes.push(
      `only the ${upFalse ? "up" : "down"} block had transaction:false; ` +
        "strata runs both sections outside a transaction",
    );
  }
  const section = (start: number, end: number) => lines.slice(start, end).join("\n");
  const upBlock = up[0], downBlock = down[0];
  const upSql = downBlock && downBlock.line > upBlock.line
    ? section(upBlock.line, downBlock.line - 1)
    : section(upBlock.line, lines.length);
  let downSql: string | null = null;
  if (downBlock) {
    downSql = downBlock.line > upBlock.line
      ? section(downBlock.line, lines.length)
      : section(downBlock.line, upBlock.line - 1);
  }
  return { up: upSql, down: downSql, noTransaction, notes };
}

export const dbmate: SourceTool = {
  name: "dbmate",
  layout: "db/migrations",
  async read(dir) {
    const findings: Finding[] = [];
    const found: Array<{ version: string; name: string; file: string }> = [];
    for (const file of await listFiles(dir)) {
      const match = FILE_REGEXP.exec(file);
      if (!match) {
        findings.push({
          file,
          status: "ignored",
          reason: "not a dbmate migration (VERSION_name.sql)",
        });
        continue;
      }
      found.push({ version: match[1], name: match[2], file });
    }
    found.sort((a, b) => compareNumeric(a.version, b.version) || a.file.localeCompare(b.file));
    const revisions: ImportedRevision[] = [];
    for (const [i, { version, name, file }] of found.entries()) {
      if (i > 0 && compareNumeric(found[i - 1].version, version) === 0) {
        throw malformed(join(dir, file), 1, `Version ${version} also in ${found[i - 1].file}`);
      }
      const parsed = readDbmateFile(join(dir, file), await readSource(dir, file));
      revisions.push({
        key: version,
        version,
        name,
        message: humanize(name),
        files: [file],
        time: timeOfVersion(version),
        up: parsed.up,
        down: parsed.down,
        noTransaction: parsed.noTransaction,
        notes: parsed.notes,
      });
    }
    return { revisions, findings };
  },
};
