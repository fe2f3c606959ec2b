/**
 * golang-migrate: `VERSION_title.up.sql` and `VERSION_title.down.sql`, each
 * file run whole. A missing down file cannot be migrated down; an empty one
 * is a successful no-op. There is no transaction option: the postgres driver
 * sends the file as one query, which PostgreSQL runs as one implicit
 * transaction (a lone `CREATE INDEX CONCURRENTLY` runs outside one, and
 * write.ts sees that). Order: the version, as a number.
 */
import { join } from "node:path";
import {
  compareNumeric,
  type Finding,
  humanize,
  type ImportedRevision,
  listFiles,
  malformed,
  readSource,
  type SourceTool,
  timeOfVersion,
} from "./source.ts";

const FILE_REGEXP = /^(\d+)_(.*)\.(up|down)\.([^.]+)$/;

export const golangMigrate: SourceTool = {
  name: "golang-migrate",
  layout: "migrations",
  async read(dir) {
    const findings: Finding[] = [];
    const byVersion = new Map<string, { name: string; up?: string; down?: string }>();
    for (const file of await listFiles(dir)) {
      const match = FILE_REGEXP.exec(file);
      if (!match) {
        findings.push({
          file,
          status: "ignored",
          reason: "not a golang-migrate migration (VERSION_title.up.sql / .down.sql)",
        });
        continue;
      }
      const [, digits, name, direction, ext] = match;
      if (ext !== "sql") {
        findings.push({ file, status: "skipped", reason: `not SQL (.${ext})` });
        continue;
      }
      const version = BigInt(digits).toString();
      const entry = byVersion.get(version) ?? { name };
      const other = entry[direction as "up" | "down"];
      if (other) {
        throw malformed(
          join(dir, file),
          1,
          `Version ${version} has a second ${direction} file`,
          `Also ${other}`,
        );
      }
      entry[direction as "up" | "down"] = file;
      byVersion.set(version, entry);
    }
    const versions = [...byVersion.keys()].sort(compareNumeric);
    const revisions: ImportedRevision[] = [];
    for (const version of versions) {
      const entry = byVersion.get(version)!;
      if (!entry.up) {
        throw malformed(
          join(dir, entry.down!),
          1,
          `Down file without an up file for version ${version}`,
          "golang-migrate cannot have applied it: add the up file or remove this one",
        );
      }
      const notes: string[] = [];
      const down = entry.down ? await readSource(dir, entry.down) : null;
      revisions.push({
        key: version,
        version,
        name: entry.name,
        message: humanize(entry.name),
        files: entry.down ? [entry.up, entry.down] : [entry.up],
        time: timeOfVersion(version),
        up: await readSource(dir, entry.up),
        down,
        noTransaction: false,
        notes,
      });
    }
    return { revisions, findings };
  },
};
