/**
 * The measured lock report: run revisions on a scratch database, a few rows
 * in every table, and ask PostgreSQL what each statement did — the relation
 * locks its transaction holds (`pg_locks` of this backend, before COMMIT),
 * the tables and indexes it rewrote (`pg_class.relfilenode` changed) and the
 * tables it read whole (`pg_stat_xact_user_tables.seq_scan` grew). Only the
 * words for what a lock blocks come from a table here: PostgreSQL's lock
 * conflict table, which no query returns.
 */
import type { Engine } from "./db/engine.ts";
import { StrataError } from "./errors.ts";
import { revisionFailure } from "./failure.ts";
import type { Graph } from "./graph.ts";
import type { MigrationFile } from "./migration_file.ts";
import { maskPasswordLiterals } from "./redact.ts";
import { prepareSteps, sectionStatements } from "./runner.ts";
import { runSection } from "./schema/build.ts";
import { seed, USER_RELATIONS } from "./schema/seed.ts";
import type { ScratchDatabases } from "./schema/scratch.ts";
import type { Statement } from "./sql_split.ts";

export type Blocks = "nothing" | "writes" | "reads and writes";

/** PostgreSQL's conflict table in words: what a lock mode held on a table makes others wait for. */
const BLOCKS: Record<string, { blocks: Blocks; words: string }> = {
  AccessShareLock: {
    blocks: "nothing",
    words: "reads and writes go on; only ACCESS EXCLUSIVE (DROP, most ALTER TABLE) waits",
  },
  RowShareLock: {
    blocks: "nothing",
    words: "reads and writes go on; EXCLUSIVE and ACCESS EXCLUSIVE wait",
  },
  RowExclusiveLock: {
    blocks: "nothing",
    words: "reads and writes go on; CREATE INDEX and stronger locks wait",
  },
  ShareUpdateExclusiveLock: {
    blocks: "nothing",
    words: "reads and writes go on; VACUUM, other schema changes and CREATE INDEX wait",
  },
  ShareLock: {
    blocks: "writes",
    words: "blocks writes (INSERT, UPDATE, DELETE); reads go on",
  },
  ShareRowExclusiveLock: {
    blocks: "writes",
    words: "blocks writes (INSERT, UPDATE, DELETE); reads go on",
  },
  ExclusiveLock: {
    blocks: "writes",
    words: "blocks writes and SELECT FOR UPDATE/SHARE; plain reads go on",
  },
  AccessExclusiveLock: {
    blocks: "reads and writes",
    words: "blocks reads and writes (every query on it waits)",
  },
};

export function blocksOf(mode: string): { blocks: Blocks; words: string } {
  return BLOCKS[mode] ?? { blocks: "nothing", words: "not a table lock mode strata knows" };
}

export interface MeasuredLock {
  relation: string;
  kind: string;
  mode: string;
  blocks: Blocks;
  words: string;
  /** The statement made this relation: no one else can see it yet, so the lock blocks no one. */
  created: boolean;
}

export interface MeasuredScan {
  table: string;
  /** Why the statement read the table whole, from what else it did. */
  why: "rewrite" | "index build" | "validation";
}

export interface StatementReport {
  line: number;
  sql: string;
  /** Null when the statement ran outside a transaction: its locks ended with it. */
  locks: MeasuredLock[] | null;
  rewrites: Array<{ relation: string; kind: string }>;
  /** Null when not measurable (outside a transaction). */
  scans: MeasuredScan[] | null;
  /** The strongest thing any of its locks blocks. */
  blocks: Blocks | null;
}

export interface RevisionReport {
  revision: string;
  path: string;
  transaction: "each" | "none";
  /** Tables given rows before it ran, and tables that would not take any. */
  seeded: string[];
  unseeded: Array<{ table: string; reason: string }>;
  statements: StatementReport[];
}

interface Rel {
  name: string;
  kind: string;
  node: string;
  /** For an index, the oid of its table. */
  table: string;
}

const RELATIONS_SQL =
  `SELECT c.oid::text AS oid, c.relfilenode::text AS node, c.relkind::text AS kind,
  CASE WHEN n.nspname = 'public' THEN quote_ident(c.relname)
       ELSE quote_ident(n.nspname) || '.' || quote_ident(c.relname) END AS name,
  coalesce(i.indrelid::text, '') AS "table"
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_index i ON i.indexrelid = c.oid
WHERE c.relkind IN ('r', 'p', 'm', 'i', 'I', 'S') AND ${USER_RELATIONS}`;

const LOCKS_SQL = `SELECT relation::text AS oid, mode FROM pg_locks
WHERE pid = pg_backend_pid() AND locktype = 'relation' AND granted`;

const SCANS_SQL = `SELECT relid::text AS oid, seq_scan::text AS n FROM pg_stat_xact_user_tables`;

const KIND: Record<string, string> = {
  r: "table",
  p: "table",
  m: "materialized view",
  i: "index",
  I: "index",
  S: "sequence",
};

const STRENGTH = ["nothing", "writes", "reads and writes"];

async function relations(engine: Engine): Promise<Map<string, Rel>> {
  const rows = await engine.query<Rel & { oid: string }>(RELATIONS_SQL);
  return new Map(rows.map((r) => [r.oid, { ...r, kind: KIND[r.kind] ?? r.kind }]));
}

async function scanCounts(engine: Engine): Promise<Map<string, number>> {
  const rows = await engine.query<{ oid: string; n: string }>(SCANS_SQL);
  return new Map(rows.map((r) => [r.oid, Number(r.n)]));
}

function rewrites(before: Map<string, Rel>, after: Map<string, Rel>) {
  const out: Array<{ relation: string; kind: string; oid: string }> = [];
  for (const [oid, rel] of before) {
    const now = after.get(oid);
    if (now && rel.node !== "0" && now.node !== rel.node && rel.kind !== "sequence") {
      out.push({ relation: now.name, kind: now.kind, oid });
    }
  }
  return out;
}

/** Measure one statement in its own transaction: BEGIN, the statement, what it holds, COMMIT. */
async function measureInTransaction(
  engine: Engine,
  statement: Statement,
): Promise<Omit<StatementReport, "line" | "sql">> {
  const before = await relations(engine);
  await engine.exec("BEGIN");
  try {
    const scansBefore = await scanCounts(engine);
    await engine.exec(statement.sql);
    const held = await engine.query<{ oid: string; mode: string }>(LOCKS_SQL);
    const scansAfter = await scanCounts(engine);
    const after = await relations(engine);
    await engine.exec("COMMIT");
    const named = (oid: string) => after.get(oid) ?? before.get(oid);
    const locks: MeasuredLock[] = [];
    for (const { oid, mode } of held) {
      const rel = named(oid);
      if (!rel) continue; // a catalog, or strata's own queries
      const created = !before.has(oid);
      locks.push({ relation: rel.name, kind: rel.kind, mode, ...blocksOf(mode), created });
    }
    locks.sort((a, b) => a.relation.localeCompare(b.relation) || a.mode.localeCompare(b.mode));
    const rewritten = rewrites(before, after);
    const built = new Set(
      [...after].filter(([oid, r]) => !before.has(oid) && r.kind === "index").map(([, r]) =>
        r.table
      ),
    );
    const scans: MeasuredScan[] = [];
    for (const [oid, n] of scansAfter) {
      if (n <= (scansBefore.get(oid) ?? 0)) continue;
      const rel = before.get(oid);
      if (!rel) continue; // made by the statement: no one else was reading it
      const why = rewritten.some((r) => r.oid === oid || named(r.oid)?.table === oid)
        ? "rewrite"
        : built.has(oid)
        ? "index build"
        : "validation";
      scans.push({ table: rel.name, why });
    }
    const blocks = locks.filter((l) => !l.created).reduce<Blocks>(
      (worst, l) => STRENGTH.indexOf(l.blocks) > STRENGTH.indexOf(worst) ? l.blocks : worst,
      "nothing",
    );
    return {
      locks,
      rewrites: rewritten.map(({ relation, kind }) => ({ relation, kind })),
      scans,
      blocks,
    };
  } catch (error) {
    await engine.exec("ROLLBACK").catch(() => {});
    throw error;
  }
}

/** Outside a transaction only the rewrites can be seen afterwards. */
async function measureAlone(
  engine: Engine,
  statement: Statement,
): Promise<Omit<StatementReport, "line" | "sql">> {
  const before = await relations(engine);
  await engine.exec(statement.sql);
  const after = await relations(engine);
  return {
    locks: null,
    rewrites: rewrites(before, after).map(({ relation, kind }) => ({ relation, kind })),
    scans: null,
    blocks: null,
  };
}

/** Measure every statement of `file`'s up section on `engine`, which holds its parents. */
export async function measureRevision(
  engine: Engine,
  file: MigrationFile,
): Promise<RevisionReport> {
  let rows: Awaited<ReturnType<typeof seed>>;
  try {
    rows = await seed(engine);
  } catch (error) {
    throw revisionFailure(error, file, "up", { text: "", line: file.up.line });
  }
  const { seeded, unseeded } = rows;
  const report: RevisionReport = {
    revision: file.id,
    path: file.path,
    transaction: file.transaction,
    seeded,
    unseeded,
    statements: [],
  };
  if (file.up.sql.trim() === "") return report;
  const statements = await sectionStatements(file, "up");
  for (const statement of statements) {
    const line = file.up.line + statement.line - 1;
    let measured;
    try {
      measured = file.transaction === "each"
        ? await measureInTransaction(engine, statement)
        : await measureAlone(engine, statement);
    } catch (error) {
      throw revisionFailure(error, file, "up", {
        text: statement.sql,
        line,
        statement: statement.sql,
      });
    }
    report.statements.push({ line, sql: maskPasswordLiterals(statement.sql), ...measured });
  }
  return report;
}

/**
 * Walk the graph in order on one scratch database: revisions in `wanted` are
 * measured statement by statement, the others run as usual, so each measured
 * revision runs on what every revision before it in order built. Stops at
 * the first failure (nothing after it can be built) by throwing it.
 */
export async function measureGraph(
  engine: Engine,
  graph: Graph,
  wanted: Set<string>,
  each: (report: RevisionReport) => void,
): Promise<RevisionReport[]> {
  const reports: RevisionReport[] = [];
  const last = Math.max(...[...wanted].map((id) => graph.position.get(id)!));
  const walk = graph.order.slice(0, last + 1);
  // What apply would refuse before running anything, refused here too.
  await prepareSteps(graph, "up", walk);
  for (const id of walk) {
    const file = graph.files.get(id)!;
    if (!wanted.has(id)) {
      await runSection(engine, file, "up");
      continue;
    }
    const report = await measureRevision(engine, file);
    reports.push(report);
    each(report);
  }
  return reports;
}

/** What `lint --measured` adds to a finding: what the database said its statement did. */
export interface MeasuredNote {
  locks: Array<{ relation: string; mode: string; blocks: Blocks }> | null;
  rewrites: string[];
  scans: string[] | null;
}

/**
 * The measured statement of `report` that holds file line `line` (a finding
 * may point at a clause below the statement's first line), as a note.
 */
export function measuredAt(report: RevisionReport, line: number): MeasuredNote | null {
  const at = report.statements.filter((s) => s.line <= line).at(-1);
  if (!at) return null;
  return {
    locks: at.locks?.filter((l) => !l.created).map(({ relation, mode, blocks }) => ({
      relation,
      mode,
      blocks,
    })) ?? null,
    rewrites: at.rewrites.map((r) => r.relation),
    scans: at.scans?.map((s) => `${s.table} (${s.why})`) ?? null,
  };
}

/** A note in words, for lint's text output. */
export function describeNote(note: MeasuredNote): string {
  const locks = note.locks === null
    ? "locks not measured (outside a transaction)"
    : note.locks.length
    ? note.locks.map((l) => `${l.mode} on ${l.relation} (blocks ${l.blocks})`).join(", ")
    : "no lock on an existing table";
  const rewrote = note.rewrites.length ? `; rewrote ${note.rewrites.join(", ")}` : "";
  const scanned = note.scans?.length ? `; scanned ${note.scans.join(", ")}` : "";
  return locks + rewrote + scanned;
}

/**
 * Measure the revisions that hold `findings` (the lock rules' ones) and
 * return each finding's note by index. A revision that cannot be built stops
 * the measuring; findings from it on keep no note, and the error is returned.
 */
export async function measureFindings(
  scratch: ScratchDatabases,
  graph: Graph,
  findings: Array<{ revision: string; line: number; section: string | null }>,
): Promise<{ notes: Array<MeasuredNote | null>; stopped: StrataError | null }> {
  const wanted = new Set(findings.filter((f) => f.section === "up").map((f) => f.revision));
  const reports = new Map<string, RevisionReport>();
  let stopped: StrataError | null = null;
  if (wanted.size > 0) {
    const engine = await scratch.open();
    try {
      await measureGraph(engine, graph, wanted, (r) => reports.set(r.revision, r));
    } catch (error) {
      if (!(error instanceof StrataError)) throw error;
      stopped = error;
    }
  }
  const notes = findings.map((f) => {
    const report = f.section === "up" ? reports.get(f.revision) : undefined;
    return report ? measuredAt(report, f.line) : null;
  });
  return { notes, stopped };
}
