/**
 * node-pg-migrate (SQL migrations): `migrations/PREFIX_name.sql` with a
 * `-- Up Migration` and a `-- Down Migration` comment; without the up comment
 * the whole file is the up, and without the down comment the migration
 * cannot be undone. Every migration runs in a transaction. JavaScript and
 * TypeScript migrations are reported, not imported. Order: the prefix (a
 * timestamp in milliseconds or UTC digits), as a number.
 */
import {
  compareNumeric,
  type Finding,
  humanize,
  type ImportedRevision,
  listFiles,
  readSource,
  type SourceTool,
  timeOfVersion,
} from "./source.ts";

const FILE_REGEXP = /^(\d+)[_-]?(.*)\.(sql|js|cjs|mjs|ts)$/;
// node-pg-migrate's own test: a line comment whose words are "up migration" / "down migration".
const marker = (word: string) => new RegExp(`^\\s*--[\\s-]*${word}\\s+migration`, "im");

export function readNodePgMigrateFile(text: string): { up: string; down: string | null } {
  const upAt = text.search(marker("up"));
  const downAt = text.search(marker("down"));
  const cut = (from: number, to: number | undefined) => {
    const start = text.indexOf("\n", from);
    return start < 0 || (to !== undefined && start >= to) ? "" : text.slice(start + 1, to);
  };
  const up = upAt < 0
    ? (downAt < 0 ? text : text.slice(0, downAt))
    : cut(upAt, downAt > upAt ? downAt : undefined);
  const down = downAt < 0 ? null : cut(downAt, upAt > downAt ? upAt : undefined);
  return { up, down };
}

export const nodePgMigrate: SourceTool = {
  name: "node-pg-migrate",
  layout: "migrations",
  async read(dir) {
    const findings: Finding[] = [];
    const found: Array<{ version: string; name: string; file: string }> = [];
    for (const file of await listFiles(dir)) {
      const match = FILE_REGEXP.exec(file);
      if (!match) {
        findings.push({ file, status: "ignored", reason: "not a node-pg-migrate migration" });
      } else if (match[3] !== "sql") {
        findings.push({
          file,
          status: "skipped",
          reason: "a JavaScript/TypeScript migration: only SQL is imported",
        });
      } else {
        found.push({ version: match[1], name: match[2], file });
      }
    }
    found.sort((a, b) => compareNumeric(a.version, b.version) || a.file.localeCompare(b.file));
    const revisions: ImportedRevision[] = [];
    for (const { version, name, file } of found) {
      const text = await readSource(dir, file);
      const { up, down } = readNodePgMigrateFile(text);
      revisions.push({
        key: file.replace(/\.sql$/, ""),
        version,
        name,
        message: humanize(name),
        files: [file],
        time: timeOfVersion(version),
        up,
        down,
        noTransaction: false,
        notes: [],
      });
    }
    return { revisions, findings };
  },
};
