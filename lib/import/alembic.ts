/**
 * Alembic: the team's own Alembic reads the graph and writes the SQL. PATH is
 * the project folder that holds `alembic.ini`. A short Python program (below,
 * run with `python3 -c`) loads the project's configuration and
 * `ScriptDirectory`, prints every revision (`revision`, `down_revision`,
 * `branch_labels`, `depends_on`, docstring, file), and runs each revision's
 * upgrade and downgrade alone in offline mode through the project's `env.py`:
 * the step `alembic upgrade PARENTS:REV --sql` runs for that revision, with
 * the parents as the starting heads. strata then strips Alembic's own
 * statements (its version table, the BEGIN/COMMIT env.py wraps around the
 * script, the `-- Running upgrade` comments). A revision whose Python cannot
 * run offline (it reads data through `op.get_bind()`, env.py fails) is
 * reported, not imported.
 *
 * The interpreter: `STRATA_PYTHON` when set, else `/usr/bin/python3` (Debian's,
 * where `python3-alembic` installs) when it imports alembic, else `python3` on
 * PATH. A `downgrade()` that raises NotImplementedError makes the revision
 * irreversible (no down section).
 */
import { join, relative } from "node:path";
import { StrataError, usage } from "../errors.ts";
import { splitStatements, SqlSyntaxError } from "../sql_split.ts";
import type { Finding, ImportedRevision, SourceTool } from "./source.ts";

const PROGRAM = String.raw`
import inspect, io, json, os, sys, traceback
try:
    import alembic
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from alembic.runtime.environment import EnvironmentContext
    from alembic.runtime.migration import MigrationStep
except Exception as error:
    print("no alembic: %s" % error, file=sys.stderr)
    sys.exit(3)

ini, out = sys.argv[1], sys.argv[2]
result = {"alembic": alembic.__version__, "python": sys.executable, "revisions": [], "error": None}
try:
    config = Config(ini)
    script = ScriptDirectory.from_config(config)
    revisions = list(script.walk_revisions())
except Exception as error:
    result["error"] = "%s: %s" % (type(error).__name__, error)
    json.dump(result, open(out, "w"))
    sys.exit(0)

def tolist(value):
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]

def run(rev, upgrade):
    buffer = io.StringIO()
    cfg = Config(ini, output_buffer=buffer)
    seen = {}
    def fn(heads, context):
        seen["table"] = context.version_table
        seen["schema"] = context.version_table_schema
        seen["dialect"] = context.dialect.name
        step = MigrationStep.upgrade_from_script if upgrade else MigrationStep.downgrade_from_script
        return [step(script.revision_map, rev)]
    parents = tolist(rev.down_revision) + list(getattr(rev, "_resolved_dependencies", ()) or ())
    start = tuple(parents) if upgrade else (rev.revision,)
    with EnvironmentContext(cfg, script, fn=fn, as_sql=True, starting_rev=start or None,
                            destination_rev=rev.revision, tag=None):
        script.run_env()
    return buffer.getvalue(), seen

for rev in revisions:
    module_doc = getattr(rev.module, "__doc__", None) or ""
    entry = {
        "revision": rev.revision,
        "down_revision": tolist(rev.down_revision),
        "branch_labels": sorted(getattr(rev, "_orig_branch_labels", rev.branch_labels) or []),
        "depends_on": tolist(rev.dependencies),
        "resolved_dependencies": list(getattr(rev, "_resolved_dependencies", ()) or ()),
        "path": rev.path,
        "doc": rev.doc or "",
        "module_doc": module_doc,
    }
    for label, upgrade in (("up", True), ("down", False)):
        try:
            sql, seen = run(rev, upgrade)
            entry[label] = sql
            entry.update(seen)
        except BaseException as error:
            frames = traceback.extract_tb(error.__traceback__)
            where = ""
            for frame in reversed(frames):
                if os.path.abspath(frame.filename) == os.path.abspath(rev.path):
                    where = "line %d (%s)" % (frame.lineno, (frame.line or "").strip())
                    break
            try:
                source = inspect.getsource(getattr(rev.module, "upgrade" if upgrade else "downgrade"))
            except Exception:
                source = ""
            entry[label + "_error"] = {"type": type(error).__name__, "message": str(error), "where": where,
                                       "get_bind": "get_bind(" in source}
    result["revisions"].append(entry)
json.dump(result, open(out, "w"))
`;

interface Failure {
  type: string;
  message: string;
  where: string;
  /** The failing function calls op.get_bind(). */
  get_bind: boolean;
}

interface AlembicRevision {
  revision: string;
  down_revision: string[];
  branch_labels: string[];
  depends_on: string[];
  resolved_dependencies: string[];
  path: string;
  doc: string;
  module_doc: string;
  up?: string;
  down?: string;
  up_error?: Failure;
  down_error?: Failure;
  table?: string;
  schema?: string | null;
  dialect?: string;
}

interface AlembicReport {
  alembic: string;
  python: string;
  revisions: AlembicRevision[];
  error: string | null;
}

/**
 * Interpreters tried in turn: `STRATA_PYTHON` alone when set (a virtualenv's python), else
 * Debian's first, where `apt-get install python3-alembic` puts it, then `python3` on PATH.
 */
function interpreters(): string[] {
  const chosen = Deno.env.get("STRATA_PYTHON");
  return chosen ? [chosen] : ["/usr/bin/python3", "python3"];
}

async function runAlembic(dir: string, ini: string): Promise<AlembicReport> {
  const out = await Deno.makeTempFile({ prefix: "strata-alembic-", suffix: ".json" });
  const problems: string[] = [];
  try {
    for (const python of interpreters()) {
      let run: Deno.CommandOutput;
      try {
        run = await new Deno.Command(python, {
          args: ["-c", PROGRAM, ini, out],
          cwd: dir,
          stdout: "piped",
          stderr: "piped",
          stdin: "null",
        }).output();
      } catch (error) {
        problems.push(`${python}: ${(error as Error).message}`);
        continue;
      }
      const stderr = new TextDecoder().decode(run.stderr).trim();
      if (run.code === 3) {
        problems.push(`${python}: ${stderr.split("\n").at(-1)}`);
        continue;
      }
      if (run.code !== 0) {
        throw new StrataError("FILE", `Alembic failed under ${python}`, {
          file: join(dir, ini),
          hint: stderr.split("\n").slice(-3).join(" ") || "Run alembic history in that folder",
        });
      }
      return JSON.parse(await Deno.readTextFile(out)) as AlembicReport;
    }
  } finally {
    await Deno.remove(out).catch(() => {});
  }
  throw new StrataError("CONFIG", "Alembic cannot run here: no python3 with the alembic module", {
    hint: `Tried ${problems.join("; ")}. Install it (Debian: apt-get install python3-alembic ` +
      "python3-psycopg2), or name the project's interpreter in STRATA_PYTHON, and import again",
  });
}

/**
 * The statements strata keeps: without Alembic's version-table statements and the
 * `-- Running` comments. The BEGIN/COMMIT env.py wraps around the script goes too when it
 * is only a wrapper; a script that commits inside (an `autocommit_block()`) keeps its
 * transaction control, and the import runs it as `transaction: none`, as psql would run
 * Alembic's --sql output.
 */
async function strip(sql: string, table: string): Promise<string> {
  const name = table.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const own = new RegExp(
    `^(CREATE TABLE|DROP TABLE|INSERT INTO|UPDATE|DELETE FROM)\\s+(?:"?\\w+"?\\.)?"?${name}"?(\\s|\\(|;|$)`,
    "i",
  );
  const text = sql.split("\n").filter((l) => !/^-- Running (upgrade|downgrade) /.test(l))
    .join("\n");
  let chunks: Array<{ sql: string; control: string | null }>;
  try {
    chunks = (await splitStatements(text)).map((s) => ({
      sql: s.sql.trim().replace(/;$/, ""),
      control: s.control?.kind ?? null,
    }));
  } catch (error) {
    if (!(error instanceof SqlSyntaxError)) throw error;
    // Alembic writes each statement as its own block ending in ";" and a blank line.
    chunks = text.split(/;\n\s*\n/).map((b) => b.trim()).filter(Boolean).map((b) => ({
      sql: b.replace(/;$/, ""),
      control: /^(BEGIN|COMMIT)$/i.test(b.replace(/;$/, ""))
        ? b.replace(/;$/, "").toUpperCase()
        : null,
    }));
  }
  chunks = chunks.filter((c) => !own.test(c.sql));
  // An empty BEGIN; COMMIT; pair left where the version-table statements were.
  for (let i = chunks.length - 2; i >= 0; i--) {
    if (chunks[i].control === "BEGIN" && chunks[i + 1]?.control === "COMMIT") chunks.splice(i, 2);
  }
  const control = chunks.filter((c) => c.control);
  if (
    control.length === 2 && chunks[0].control === "BEGIN" && chunks.at(-1)!.control === "COMMIT"
  ) {
    chunks = chunks.slice(1, -1);
  }
  return chunks.map((c) => `${c.sql};\n`).join("\n");
}

/** `Create Date: 2024-01-01 12:00:00.123456[+00:00]` of the docstring, as a moment. */
function createDate(doc: string): { time: Date | null; local: boolean } {
  const m = /^Create Date:\s*(\d{4})-(\d\d)-(\d\d)[ T](\d\d):(\d\d):(\d\d)(?:\.\d+)?\s*(\S*)/m
    .exec(doc);
  if (!m) return { time: null, local: false };
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number);
  let time = Date.UTC(y, mo - 1, d, h, mi, s);
  const zone = /^([+-])(\d\d):?(\d\d)$/.exec(m[7]);
  if (zone) time -= (zone[1] === "-" ? -1 : 1) * (Number(zone[2]) * 60 + Number(zone[3])) * 60000;
  const date = new Date(time);
  return { time: Number.isNaN(date.getTime()) ? null : date, local: !zone };
}

/** The moment a `YYYYMMDD_HHMM[SS]_slug.py` file name stands for. */
function fileDate(file: string): Date | null {
  const m = /^(\d{4})(\d\d)(\d\d)_(\d\d)(\d\d)(\d\d)?_/.exec(file.split("/").at(-1) ?? "");
  if (!m) return null;
  const date = new Date(
    Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], m[6] ? +m[6] : 0),
  );
  return Number.isNaN(date.getTime()) ? null : date;
}

function reasonOf(label: "up" | "down", failure: Failure): string {
  const where = failure.where ? ` at ${failure.where}` : "";
  const source = label === "up" ? "upgrade()" : "downgrade()";
  const error = `${failure.type}: ${failure.message}`;
  if (failure.get_bind) {
    return `its ${source} reads the database through op.get_bind(), which Alembic's offline ` +
      `mode cannot run${where} (${error})`;
  }
  return `Alembic's offline mode (--sql) cannot run its ${source}${where}: ${error}`;
}

export const alembic: SourceTool = {
  name: "alembic",
  layout: "the project folder with alembic.ini",
  async read(dir) {
    const ini = "alembic.ini";
    try {
      await Deno.stat(join(dir, ini));
    } catch {
      throw usage(
        `No ${ini} in "${dir}"`,
        "Name the Alembic project folder (the one with alembic.ini)",
      );
    }
    const report = await runAlembic(dir, ini);
    if (report.error) {
      throw new StrataError("FILE", `Alembic cannot read the revisions: ${report.error}`, {
        file: join(dir, ini),
        hint: "Run `alembic history` in that folder to see the same error",
      });
    }
    const root = Deno.realPathSync(dir);
    const rel = (path: string) => relative(root, Deno.realPathSync(path));
    const byId = new Map(report.revisions.map((r) => [r.revision, r]));
    const findings: Finding[] = [];
    const failed = new Set<string>();
    // A downgrade() that raises NotImplementedError is Alembic's way to say irreversible.
    const irreversible = (rev: AlembicRevision) => rev.down_error?.type === "NotImplementedError";
    for (const rev of report.revisions) {
      for (const label of ["up", "down"] as const) {
        const step = label === "up" ? "upgrade" : "downgrade";
        if (rev[`${label}_error`] || rev[label]?.includes(`-- Running ${step} `)) continue;
        rev[`${label}_error`] = {
          type: "env.py",
          message: `its offline ${step} wrote no "-- Running ${step}" line where Alembic's ` +
            "--sql output goes: does env.py send it elsewhere (output_buffer)?",
          where: "",
          get_bind: false,
        };
      }
      const failures = (["up", "down"] as const).filter((l) =>
        rev[`${l}_error`] && !(l === "down" && irreversible(rev))
      );
      if (failures.length === 0) continue;
      failed.add(rev.revision);
      findings.push({
        file: rel(rev.path),
        status: "skipped",
        reason: `revision ${rev.revision}: ` +
          failures.map((l) => reasonOf(l, rev[`${l}_error`]!)).join("; "),
      });
    }

    // Parents: down_revision, then depends_on. A parent left out by --partial is replaced
    // by its own parents, so the rest of the graph keeps its order.
    const direct = (rev: AlembicRevision) => [
      ...new Set([...rev.down_revision, ...rev.resolved_dependencies]),
    ];
    const ancestors = new Map<string, Set<string>>();
    const ancestorsOf = (id: string): Set<string> => {
      let set = ancestors.get(id);
      if (set) return set;
      set = new Set();
      for (const p of direct(byId.get(id)!)) {
        set.add(p);
        for (const a of ancestorsOf(p)) set.add(a);
      }
      ancestors.set(id, set);
      return set;
    };
    const parentsOf = (rev: AlembicRevision): string[] => {
      const out: string[] = [];
      for (const p of direct(rev)) {
        if (!failed.has(p)) out.push(p);
        else out.push(...parentsOf(byId.get(p)!));
      }
      // A parent that is already an ancestor of another parent adds nothing (Alembic drops it too).
      const unique = [...new Set(out)];
      return unique.filter((p) => !unique.some((q) => q !== p && ancestorsOf(q).has(p)));
    };

    // Source order: parents first, then by Create Date, then by revision id.
    const dated = new Map(report.revisions.map((r) => {
      const { time, local } = createDate(r.module_doc);
      return [r.revision, { time: time ?? fileDate(rel(r.path)), local, fromDoc: time !== null }];
    }));
    const order: AlembicRevision[] = [];
    const done = new Set<string>();
    const pending = [...report.revisions];
    while (pending.length > 0) {
      const ready = pending.filter((r) => direct(r).every((p) => done.has(p)));
      if (ready.length === 0) {
        throw new StrataError("GRAPH", "The Alembic revisions form a cycle", {
          file: join(dir, ini),
        });
      }
      ready.sort((a, b) =>
        (dated.get(a.revision)!.time?.getTime() ?? 0) -
          (dated.get(b.revision)!.time?.getTime() ?? 0) ||
        (a.revision < b.revision ? -1 : a.revision > b.revision ? 1 : 0)
      );
      const next = ready[0];
      order.push(next);
      done.add(next.revision);
      pending.splice(pending.indexOf(next), 1);
    }

    const revisions: ImportedRevision[] = [];
    for (const rev of order) {
      if (failed.has(rev.revision)) continue;
      const file = rel(rev.path);
      const notes: string[] = [];
      const table = rev.table ?? "alembic_version";
      if (rev.dialect && rev.dialect !== "postgresql") {
        notes.push(`Alembic wrote this SQL for the ${rev.dialect} dialect`);
      }
      const parents = parentsOf(rev);
      const deps = rev.resolved_dependencies.filter((d) => !rev.down_revision.includes(d));
      if (deps.length > 0) {
        const kept = deps.filter((d) => parents.includes(d));
        notes.push(
          kept.length > 0
            ? `depends_on ${kept.join(", ")}: kept as ${
              kept.length > 1 ? "extra parents" : "an extra parent"
            }`
            : `depends_on ${deps.join(", ")}: already an ancestor, so no extra parent`,
        );
      }
      if (rev.branch_labels.length > 0) {
        notes.push(
          `branch_labels ${rev.branch_labels.join(", ")}: strata has no branch labels, ` +
            "the revision keeps its place in the graph",
        );
      }
      const lost = direct(rev).filter((p) => failed.has(p));
      if (lost.length > 0) {
        notes.push(`parent ${lost.join(", ")} is not imported: its parents stand in for it`);
      }
      const when = dated.get(rev.revision)!;
      if (!when.fromDoc && when.time) notes.push("no Create Date: the file name's time");
      if (irreversible(rev)) {
        notes.push("its downgrade() raises NotImplementedError: no down, irreversible");
      }
      const message = rev.doc.trim() ||
        rev.module_doc.split("\n").find((l) => l.trim() !== "")?.trim() || rev.revision;
      revisions.push({
        key: rev.revision,
        version: rev.revision,
        name: message,
        message,
        files: [file],
        time: when.time,
        parents,
        up: await strip(rev.up ?? "", table),
        down: irreversible(rev) ? null : await strip(rev.down ?? "", table),
        noTransaction: false,
        notes,
      });
    }
    findings.sort((a, b) => a.file < b.file ? -1 : a.file > b.file ? 1 : 0);
    return { revisions, findings };
  },
};
