/**
 * Flyway (SQL migrations): `V<version>__<description>.sql` anywhere under the
 * location, `U<version>__…` undo scripts (the down), `R__<name>.sql`
 * repeatables (as strata's `repeatable/<name>.sql`). A `V….sql.conf` beside a
 * script with `executeInTransaction=false` runs it outside a transaction.
 * Order: the version, part by part as numbers (`1.10` after `1.9`).
 */
import { basename, join } from "node:path";
import {
  type Finding,
  type ImportedRepeatable,
  type ImportedRevision,
  listFiles,
  malformed,
  readSource,
  type SourceTool,
  timeOfVersion,
} from "./source.ts";

const FILE_REGEXP = /^([VUBvub])(\d+(?:[._]\d+)*)__(.+)\.sql$/;
const REPEATABLE_REGEXP = /^[Rr]__(.+)\.sql$/;

/** The version's parts as numbers, trailing zeros dropped (Flyway: 1.0 = 1). */
function parts(version: string): bigint[] {
  const out = version.split(/[._]/).map((part) => BigInt(part));
  while (out.length > 1 && out[out.length - 1] === 0n) out.pop();
  return out;
}

function compareVersions(a: bigint[], b: bigint[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i] ?? 0n, y = b[i] ?? 0n;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

interface Script {
  file: string;
  version: string;
  parts: bigint[];
  description: string;
}

export const flyway: SourceTool = {
  name: "flyway",
  layout: "sql (the Flyway location)",
  async read(dir) {
    const findings: Finding[] = [];
    const versioned = new Map<string, Script>();
    const undo = new Map<string, Script>();
    const repeatables: ImportedRepeatable[] = [];
    const files = await listFiles(dir, true);
    const present = new Set(files);
    for (const file of files) {
      const name = basename(file);
      if (name.endsWith(".sql.conf") && present.has(file.slice(0, -".conf".length))) continue;
      const repeatable = REPEATABLE_REGEXP.exec(name);
      if (repeatable) {
        repeatables.push({ name: repeatable[1], file, sql: await readSource(dir, file) });
        continue;
      }
      const match = FILE_REGEXP.exec(name);
      if (!match) {
        findings.push({
          file,
          status: "ignored",
          reason: "not a Flyway SQL migration (V…__, U…__, R__)",
        });
        continue;
      }
      const [, prefix, version, description] = match;
      if (prefix.toUpperCase() === "B") {
        findings.push({
          file,
          status: "skipped",
          reason: "a baseline migration (B…__): not imported",
        });
        continue;
      }
      const script = {
        file,
        version,
        parts: parts(version),
        description: description.replace(/_/g, " "),
      };
      const key = script.parts.join(".");
      const into = prefix.toUpperCase() === "V" ? versioned : undo;
      const other = into.get(key);
      if (other) {
        throw malformed(
          join(dir, file),
          1,
          `Version ${version} also in ${other.file}`,
          "Flyway refuses it too",
        );
      }
      into.set(key, script);
    }
    for (const [key, script] of undo) {
      if (!versioned.has(key)) {
        throw malformed(
          join(dir, script.file),
          1,
          `Undo script for version ${script.version} has no V script`,
        );
      }
    }
    const ordered = [...versioned.entries()].sort((a, b) =>
      compareVersions(a[1].parts, b[1].parts)
    );
    const revisions: ImportedRevision[] = [];
    for (const [key, script] of ordered) {
      const notes: string[] = [];
      const undoScript = undo.get(key);
      let noTransaction = false;
      const conf = `${script.file}.conf`;
      if (present.has(conf)) {
        const text = await readSource(dir, conf);
        for (const [i, line] of text.split("\n").entries()) {
          const setting = /^\s*executeInTransaction\s*=\s*(\S*)\s*$/.exec(line);
          if (!setting) continue;
          if (setting[1] !== "true" && setting[1] !== "false") {
            throw malformed(join(dir, conf), i + 1, `executeInTransaction must be true or false`);
          }
          noTransaction = setting[1] === "false";
        }
      }
      const up = await readSource(dir, script.file);
      const down = undoScript ? await readSource(dir, undoScript.file) : null;
      if (/\$\{[\w.:]+\}/.test(up + (down ?? ""))) {
        notes.push("holds ${…} placeholders, which Flyway replaces and strata keeps as written");
      }
      revisions.push({
        key,
        version: script.version,
        name: script.description,
        message: script.description,
        files: [
          script.file,
          ...(undoScript ? [undoScript.file] : []),
          ...(present.has(conf) ? [conf] : []),
        ],
        time: script.parts.length === 1 ? timeOfVersion(script.version) : null,
        up,
        down,
        noTransaction,
        notes,
      });
    }
    return { revisions, findings, repeatables };
  },
};
