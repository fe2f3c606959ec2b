/**
 * The seam every ledger reader plugs into, as `lib/import/source.ts` is for
 * files: a reader reads another tool's bookkeeping table in the database and
 * says which imported revisions it records as applied. One file per tool
 * (`dbmate.ts`, `goose.ts`, …); `commands/adopt.ts` checks the answer and
 * records strata's rows. Nothing here writes.
 */
import type { Engine } from "../db/engine.ts";
import { StrataError, usage } from "../errors.ts";
import type { Graph } from "../graph.ts";

/** A revision file whose first line is `-- imported from TOOL VERSION: files`. */
export interface ImportedFile {
  id: string;
  version: string;
  files: string[];
}

/** What the other tool's table says, mapped onto the imported revisions. */
export interface ForeignState {
  /** The table read, as named to the user (`schema_migrations`). */
  table: string;
  /** Imported revision id → the entry of the other tool that records it as applied. */
  applied: Map<string, string>;
  /** Applied entries (as the tool spells them) that no imported revision carries. */
  unknown: string[];
  /** Rows read but not taken as applied revisions, and why. */
  notes: string[];
}

export interface LedgerReader {
  /** The format name, as `import` writes it into the header line. */
  name: string;
  /** The table, for help and errors. */
  table: string;
  /** Extra positional arguments (Sqitch's project), for the usage line. */
  extra?: string;
  read(
    engine: Engine,
    imported: ImportedFile[],
    graph: Graph,
    args: string[],
  ): Promise<ForeignState>;
}

const HEADER_REGEXP = /^-- imported from (\S+) (\S+): (.*)$/;

/** The tool, version and files of an imported file's first line, or null. */
export function importedHeader(
  text: string,
): { tool: string; version: string; files: string[] } | null {
  const match = HEADER_REGEXP.exec(text.slice(0, text.indexOf("\n") >>> 0));
  return match ? { tool: match[1], version: match[2], files: match[3].split(", ") } : null;
}

/** Whether `relation` (maybe schema-qualified) exists. */
export async function relationExists(engine: Engine, relation: string): Promise<boolean> {
  const [row] = await engine.query<{ present: boolean }>(
    "SELECT to_regclass($1) IS NOT NULL AS present",
    [relation],
  );
  return row.present;
}

/** The other tool's table must be there: without it there is nothing to adopt (exit 2). */
export async function requireTable(engine: Engine, tool: string, relation: string) {
  if (!(await relationExists(engine, relation))) {
    throw usage(
      `No ${tool} table ${relation} in this database`,
      `adopt reads ${tool}'s own bookkeeping; point --database at the database ${tool} migrated`,
    );
  }
}

/** The names of `relation`'s columns. */
export async function columnsOf(engine: Engine, relation: string): Promise<Set<string>> {
  const rows = await engine.query<{ name: string }>(
    "SELECT attname AS name FROM pg_attribute WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped",
    [relation],
  );
  return new Set(rows.map((row) => row.name));
}

/** A table of that name that lacks the tool's columns is not the tool's (exit 5). */
export async function requireColumns(
  engine: Engine,
  tool: string,
  relation: string,
  needed: string[],
) {
  const have = await columnsOf(engine, relation);
  const missing = needed.filter((column) => !have.has(column));
  if (missing.length > 0) {
    throw new StrataError(
      "LEDGER",
      `Table ${relation} is not ${tool}'s: it has no column ${missing.join(", ")}`,
      { hint: `Is this the table of another tool? ${tool}'s has ${needed.join(", ")}` },
    );
  }
}

/** The other tool's state forbids adopting it (dirty, failed): exit 5, nothing changed. */
export function refuse(message: string, hint: string, details?: Record<string, unknown>) {
  return new StrataError("INTEGRITY", message, { hint, details });
}

/** A digit string without leading zeros (`00042` → `42`); anything else unchanged. */
export function numeric(version: string): string {
  return /^\d+$/.test(version) ? BigInt(version).toString() : version;
}

/** Match entries to imported revisions by a key both sides reduce to. */
export function matchByKey(
  table: string,
  imported: ImportedFile[],
  entries: string[],
  keyOfFile: (file: ImportedFile) => string,
  keyOfEntry: (entry: string) => string = (entry) => entry,
): ForeignState {
  const byKey = new Map(imported.map((file) => [keyOfFile(file), file.id]));
  const applied = new Map<string, string>();
  const unknown: string[] = [];
  for (const entry of entries) {
    const id = byKey.get(keyOfEntry(entry));
    if (id === undefined) unknown.push(entry);
    else applied.set(id, entry);
  }
  return { table, applied, unknown, notes: [] };
}
