/**
 * `clean`'s squash: every revision older than the newest N in graph order
 * (merges included) becomes one baseline file, whose header lists them under
 * `replaces:`. Planning refuses what cannot be squashed safely; the proof
 * (proveBaseline) builds both on scratch databases and compares the schemas
 * before anything is written.
 */
import { StrataError } from "./errors.ts";
import { buildGraph, type Graph } from "./graph.ts";
import type { Engine } from "./db/engine.ts";
import type { LedgerNames } from "./ledger.ts";
import { allowFindings } from "./lint/annotate.ts";
import { joinableSection, type MappedText } from "./squash_sql.ts";
import { type MigrationFile, onlyComments, parseMigration } from "./migration_file.ts";
import { runSection } from "./schema/build.ts";
import { diffSnapshots, isEmpty, type SchemaDiff } from "./schema/diff.ts";
import type { ScratchDatabases } from "./schema/scratch.ts";
import { snapshot } from "./schema/snapshot.ts";

export interface SquashPlan {
  replaced: MigrationFile[];
  kept: MigrationFile[];
  baseline: MigrationFile;
  /** The baseline's text, as it will be written. */
  text: string;
  /** Where it will be written, relative to the migrations folder. */
  relativePath: string;
  /** Replaced revisions without a down section: the baseline is then irreversible. */
  irreversible: string[];
  /** For each line of `text` (0-based), the revision line it came from, or null (strata's own). */
  origins: Array<Origin | null>;
}

/** Where a line of the baseline came from: the revision's file and line. */
export interface Origin {
  revision: string;
  file: string;
  line: number;
}

const refuse = (message: string, file: MigrationFile, hint: string, line?: number) =>
  new StrataError("USAGE", message, { file: file.path, line, hint });

/** A section joined after another must end its last statement. */
function terminated(mapped: MappedText): MappedText {
  const body = mapped.text.replace(/\s+$/, "");
  const lines = mapped.lines.slice(0, body.split("\n").length);
  const code = body.split("\n").filter((line) => line.trim() && !line.trim().startsWith("--"));
  if (code.length === 0) return { text: body, lines };
  // A trailing "-- comment;" must not pass for a semicolon: an extra empty statement is harmless.
  const last = code[code.length - 1].trim();
  return last.endsWith(";") && !last.includes("--")
    ? { text: body, lines }
    : { text: `${body}\n;`, lines: [...lines, lines[lines.length - 1]] };
}

interface RangeProblem {
  message: string;
  file: MigrationFile;
  line?: number;
}

/**
 * Whether the oldest `size` revisions in graph order can become one root
 * baseline. A prefix of a topological order is closed under ancestry; what
 * must also hold is that every kept revision depends on all of the range or
 * none of it: one that descends from part of it would, after the squash,
 * follow the baseline and so depend on revisions it does not follow now.
 * Where the range ends in several heads, a kept revision that merges them
 * all is sound; heads that nothing kept merges are refused.
 */
function rangeProblem(graph: Graph, size: number): RangeProblem | null {
  const range = new Set(graph.order.slice(0, size));
  const heads = graph.order.slice(0, size)
    .filter((id) => !graph.children.get(id)!.some((child) => range.has(child)));
  const list = (ids: string[]) => ids.map((id) => `"${id}"`).join(", ");
  // Whether a kept revision descends from the whole range (else from none of it).
  const whole = new Map<string, boolean>();
  for (const id of graph.order.slice(size)) {
    const parents = graph.parents.get(id)!;
    const inRange = parents.filter((parent) => range.has(parent));
    const viaKept = parents.some((parent) => whole.get(parent));
    const missing = heads.filter((head) => !inRange.includes(head));
    if (inRange.length > 0 && !viaKept && missing.length > 0) {
      const file = graph.files.get(id)!;
      return {
        message:
          `Cannot squash the oldest ${size} revisions: "${id}" (kept) follows ${
            list(inRange)
          } but not ${list(missing)}, so after the squash it would depend on revisions it does ` +
          "not depend on now",
        file,
        line: file.parentsLine,
      };
    }
    whole.set(id, viaKept || inRange.length > 0);
  }
  if (heads.length > 1 && ![...whole.values()].some(Boolean)) {
    return {
      message: `Cannot squash the oldest ${size} revisions: they end in ${heads.length} heads (${
        list(heads)
      }) that no kept revision merges, and one baseline would merge them`,
      file: graph.files.get(heads[0])!,
    };
  }
  return null;
}

/** The nearest smaller range that can be squashed, as the N to keep. */
function soundKeep(graph: Graph, size: number): number | null {
  for (let smaller = size - 1; smaller >= 2; smaller--) {
    if (!rangeProblem(graph, smaller)) return graph.order.length - smaller;
  }
  return null;
}

interface Composed {
  text: string;
  origins: Array<Origin | null>;
}

async function baselineText(
  replaced: MigrationFile[],
  replaces: string[],
  irreversible: string[],
): Promise<Composed> {
  const lines: string[] = [];
  const origins: Array<Origin | null> = [];
  const add = (text: string, origin: (i: number) => Origin | null = () => null) =>
    text.split("\n").forEach((line, i) => (lines.push(line), origins.push(origin(i))));
  const section = async (file: MigrationFile, which: "up" | "down") => {
    const mapped = terminated(await joinableSection(file, which));
    add(mapped.text, (i) => ({ revision: file.id, file: file.path, line: mapped.lines[i] }));
  };
  add(`-- message: Baseline of ${replaced.length} revisions (strata clean)`);
  add(`-- parents:\n-- replaces: ${replaces.join(" ")}`);
  if (irreversible.length > 0) {
    add(`-- Irreversible: ${irreversible.join(", ")} had no down section.`);
    add(`-- strata:allow missing-down ${irreversible[0]} had none, so the baseline has none`);
  }
  add("-- up");
  for (const [i, file] of replaced.entries()) {
    if (i > 0) add("");
    add(`-- from ${file.id}${file.message ? `: ${file.message}` : ""}`);
    await section(file, "up");
  }
  // Downs that are all "-- noop" (or empty) compose to comments only, which would read as
  // irreversible: the baseline's down is then "-- noop" too.
  const nothingToUndo = replaced.every((file) => file.down && onlyComments(file.down.sql));
  if (irreversible.length === 0 && nothingToUndo) add("-- down\n-- noop");
  else if (irreversible.length === 0) {
    add("-- down");
    for (const [i, file] of [...replaced].reverse().entries()) {
      if (i > 0) add("");
      add(`-- from ${file.id}`);
      await section(file, "down");
    }
  }
  return { text: `${lines.join("\n")}\n`, origins };
}

/** Allow comments where lint would flag the baseline: it never runs where there is traffic. */
function allowLintFindings(composed: Composed, path: string, id: string): Promise<Composed> {
  return allowFindings(composed, path, id, (_rules, line) => {
    const origin = composed.origins[line - 1];
    const from = origin ? `${origin.revision} line ${origin.line}, ` : "";
    return `${from}in a baseline: it only runs on a new, empty database`;
  });
}

/** What `clean keep` would do to the folder the graph was read from; throws when it must not. */
export async function planSquash(
  graph: Graph,
  keep: number,
  dir: string,
): Promise<SquashPlan | null> {
  const order = graph.order.map((id) => graph.files.get(id)!);
  const size = order.length - keep;
  if (size < 2) return null;
  const problem = rangeProblem(graph, size);
  if (problem) {
    const other = soundKeep(graph, size);
    throw refuse(
      problem.message,
      problem.file,
      (other === null
        ? "No smaller range squashes either: merge the heads first (strata merge)"
        : `strata clean ${other} squashes the oldest ${order.length - other} instead`) +
        "; the range is the oldest revisions in graph order (strata history)",
      problem.line,
    );
  }
  const replaced = order.slice(0, size);
  const kept = order.slice(size);
  // It sorts where the newest id of the range did, so kept files keep their implicit parents.
  const newest = replaced.map((file) => file.id).reduce((a, b) => (a > b ? a : b));
  const id = `${newest}_baseline`;
  // A baseline stands for everything it replaces, including earlier baselines' revisions.
  const replaces = replaced.flatMap((file) => [...file.replaces, file.id]);
  const irreversible = replaced.filter((file) => file.down === null).map((file) => file.id);
  const composed = await baselineText(replaced, replaces, irreversible);
  const category = replaced[0].category;
  const relativePath = category ? `${category}/${id}.sql` : `${id}.sql`;
  const path = `${dir}/${relativePath}`;
  const { text, origins } = await allowLintFindings(composed, path, id);
  const baseline = parseMigration(text, path, id, category);

  // The squashed folder must give the kept revisions the same parents (the baseline for
  // replaced ones), or a kept file's implicit parent would silently change.
  const inRange = new Set(replaced.map((file) => file.id));
  const after = buildGraph([baseline, ...kept].sort((a, b) => (a.id < b.id ? -1 : 1)));
  for (const file of kept) {
    const expected = [
      ...new Set(graph.parents.get(file.id)!.map((p) => (inRange.has(p) ? id : p))),
    ];
    const got = after.parents.get(file.id)!;
    if (expected.join(" ") !== got.join(" ")) {
      throw refuse(
        `Cannot squash: "${file.id}" would follow ${got.join(", ") || "nothing"} instead of ${
          expected.join(", ")
        }`,
        file,
        `Give ${file.id} an explicit "-- parents:" line first`,
      );
    }
  }
  return { replaced, kept, baseline, text, origins, relativePath, irreversible };
}

export interface Proof {
  ok: boolean;
  /** Schema from the replaced revisions' ups against the baseline's up. */
  up: SchemaDiff;
  /** Schema after all their downs against after the baseline's down (empty when irreversible). */
  down: SchemaDiff;
}

const PROVING = "While proving the baseline on a scratch database";

/**
 * A revision failing during the proof, said as such: which revision, file
 * and line (a baseline line is traced back to the revision it came from),
 * and that nothing was changed yet.
 */
function proofFailure(
  error: unknown,
  direction: "up" | "down",
  origins: Array<Origin | null>,
  inBaseline: boolean,
): unknown {
  if (!(error instanceof StrataError) || error.code !== "MIGRATION_FAILED") return error;
  const reason = error.message.replace(/^Cannot (apply|roll back) revision "[^"]*": /, "");
  const origin = inBaseline && error.line ? origins[error.line - 1] : null;
  const revision = origin?.revision ?? String(error.details.revision ?? "");
  const where = inBaseline
    ? `the baseline's ${direction} failed in the SQL of revision "${revision}"`
    : `revision "${revision}" failed (${direction})`;
  const why = inBaseline
    ? "The revision runs alone but not joined with the others in one transaction. "
    : "";
  return new StrataError("MIGRATION_FAILED", `${PROVING}, ${where}: ${reason}`, {
    file: origin?.file ?? error.file,
    line: origin?.line ?? error.line,
    hint: `${why}No file was written and no database was changed${
      error.hint ? `. ${error.hint}` : ""
    }`,
    details: { ...error.details, revision, proof: true },
    cause: error,
  });
}

/**
 * Build the replaced revisions on one scratch database and the baseline on
 * another, and compare; then run the downs and compare again. `origins`
 * traces a failing baseline line back to its revision.
 */
export async function proveBaseline(
  replaced: MigrationFile[],
  baseline: MigrationFile,
  scratch: ScratchDatabases,
  names: LedgerNames,
  origins: Array<Origin | null> = [],
): Promise<Proof> {
  const exclude = [{ schema: names.schema, table: names.ledger }, {
    schema: names.schema,
    table: names.journal,
  }];
  const run = async (engine: Engine, files: MigrationFile[], direction: "up" | "down") => {
    for (const file of files) {
      await runSection(engine, file, direction).catch((error) => {
        throw proofFailure(error, direction, origins, file === baseline);
      });
    }
  };
  // One scratch database at a time: the original history builds, is read
  // and walked down on the first, which is closed before the baseline's is
  // opened. A down that fails is held back and reported only where the
  // comparison of the ups would have reached it.
  const withDatabase = async <T>(work: (engine: Engine) => Promise<T>): Promise<T> => {
    const engine = await scratch.open();
    try {
      return await work(engine);
    } finally {
      await engine.close();
    }
  };
  const original = await withDatabase(async (engine) => {
    await run(engine, replaced, "up");
    const up = await snapshot(engine, { exclude });
    if (!baseline.down) return { up, down: null, downError: null };
    try {
      await run(engine, [...replaced].reverse(), "down");
      return { up, down: await snapshot(engine, { exclude }), downError: null };
    } catch (error) {
      return { up, down: null, downError: error };
    }
  });
  let down: SchemaDiff = { added: [], removed: [], changed: [] };
  const up = await withDatabase(async (engine) => {
    await run(engine, [baseline], "up");
    const up = diffSnapshots(original.up, await snapshot(engine, { exclude }));
    if (!baseline.down || !isEmpty(up)) return up;
    if (original.downError) throw original.downError;
    await run(engine, [baseline], "down");
    down = diffSnapshots(original.down!, await snapshot(engine, { exclude }));
    return up;
  });
  return { ok: isEmpty(up) && isEmpty(down), up, down };
}
