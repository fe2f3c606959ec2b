/**
 * dump: the desired-schema file (config "schema", default schema.sql) that
 * `create --autogenerate` and `diff` read, written from the database or, with
 * `--from-migrations`, from every revision built on a scratch database.
 * strata's ledger and journal are left out. The SQL is proven the way
 * baseline's is: run on a scratch database, it gives the same snapshot.
 *
 * `-o FILE` writes elsewhere (`-o -`: standard output). The file must lie in
 * the working folder (the project); one that exists with other contents is
 * first copied to `FILE.YYYYMMDD_HHMMSS.bak` beside it.
 */
import { dirname, isAbsolute, relative, resolve } from "node:path";
import { ledgerExclusions, reproduce } from "../baseline.ts";
import { StrataError, usage } from "../errors.ts";
import { buildUp, sectionSources } from "../schema/build.ts";
import { scratchDatabases } from "../schema/scratch.ts";
import { type Snapshot, snapshot } from "../schema/snapshot.ts";
import {
  assertChangeable,
  Containment,
  ensureFolder,
  replaceFile,
  writeNewFile,
} from "../safe_fs.ts";
import { type Context, loadGraph, names, positionals, withEngine } from "./context.ts";

const HINT = "Nothing was written. Remove or recreate the objects named, or prove it on a " +
  "server with --scratch URL";

const SET_LOCAL_REGEXP = /^SET LOCAL check_function_bodies = off;\n/gm;

function stamp(now: Date): string {
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${now.getUTCFullYear()}${pad(now.getUTCMonth() + 1)}${pad(now.getUTCDate())}_${
    pad(now.getUTCHours())
  }${pad(now.getUTCMinutes())}${pad(now.getUTCSeconds())}`;
}

/** Refuse, before any work, a file outside the working folder (the project) or among the revisions. */
function assertInProject(file: string, dir: string): void {
  const cwd = Deno.cwd();
  const inside = (folder: string) => {
    const rel = relative(resolve(cwd, folder), resolve(cwd, file));
    return rel !== "" && !rel.startsWith("..") && !isAbsolute(rel);
  };
  if (!inside(cwd)) {
    throw usage(
      `Cannot write "${file}": it is not a file inside the project folder ${cwd}`,
      "dump writes only inside the working folder; use -o - to print the schema",
    );
  }
  if (inside(dir) || resolve(cwd, file) === resolve(cwd, dir)) {
    throw usage(
      `Cannot write "${file}": it lies in the migrations folder ${dir}`,
      "The desired schema is not a revision: write it beside the folder (default schema.sql)",
    );
  }
}

/** Write `text` to `file` inside the working folder; returns the backup made, if any. */
function writeDump(file: string, text: string): string | null {
  const cwd = Deno.cwd();
  const root = new Containment(cwd);
  ensureFolder(root, dirname(resolve(cwd, file)));
  assertChangeable(root, file, "write");
  let old: string | null = null;
  try {
    old = Deno.readTextFileSync(file);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  if (old === text) return null;
  let backup: string | null = null;
  if (old !== null) {
    const base = `${file}.${stamp(new Date())}`;
    for (let i = 0; backup === null; i++) {
      const candidate = i === 0 ? `${base}.bak` : `${base}_${i}.bak`;
      assertChangeable(root, candidate, "write");
      try {
        writeNewFile(candidate, old);
        backup = candidate;
      } catch (error) {
        if (!(error instanceof Deno.errors.AlreadyExists) || i > 100) throw error;
      }
    }
  }
  replaceFile(file, text);
  return backup;
}

export async function dump(ctx: Context): Promise<number> {
  positionals(ctx, 0, 0, "dump [--from-migrations] [-o FILE] [--scratch URL] [--json]");
  const { out, config } = ctx;
  const file = ctx.flags.output ?? config.schemaFile;
  if (file !== "-") assertInProject(file, config.dir);
  const exclude = ledgerExclusions(names(ctx));
  const scratch = scratchDatabases(ctx.flags.scratch);
  let source: string;
  let result;
  try {
    let target: Snapshot;
    if (ctx.flags["from-migrations"]) {
      const graph = await loadGraph(ctx);
      if (graph.heads.length > 1) {
        throw usage(
          `Several heads: ${graph.heads.join(", ")}`,
          'Join them first with: strata merge -m "merge branches"',
        );
      }
      const files = graph.order.map((id) => graph.files.get(id)!);
      scratch.admit(sectionSources(files, ["up"]));
      const model = await scratch.open();
      await buildUp(model, files);
      target = await snapshot(model, { exclude });
      source = `the ${files.length} revision(s) in ${config.dir}`;
    } else {
      const read = await withEngine(
        ctx,
        async (engine) => ({
          label: engine.label,
          snap: await snapshot(engine, { exclude }),
        }),
        { readOnly: true },
      );
      target = read.snap;
      source = read.label;
    }
    result = await reproduce(target, scratch, { exclude, hint: HINT });
  } finally {
    await scratch.dispose();
  }
  // The file is read statement by statement, outside a transaction, where SET LOCAL does nothing.
  const body = result.up.replace(SET_LOCAL_REGEXP, "");
  const text = `-- desired schema, written by strata dump from ${source}\n` +
    `-- (strata's ledger and journal left out)\n` +
    (body === result.up ? "" : "SET check_function_bodies = off;\n") + `${body}\n`;
  if (file === "-") {
    out.document({ ok: true, command: "dump", objects: result.objects, sql: text });
    if (!out.json) out.raw(text);
    return 0;
  }
  let backup: string | null;
  try {
    backup = writeDump(file, text);
  } catch (error) {
    if (error instanceof StrataError) throw error;
    throw new StrataError("FILE", `Cannot write ${file}: ${(error as Error).message}`, {
      file,
      hint: "Check the folder's permissions, or choose another file with -o FILE",
    });
  }
  out.document({ ok: true, command: "dump", path: file, objects: result.objects, backup });
  if (backup) out.line(`Kept the previous ${file} as ${backup}`);
  out.line(`Wrote ${file}: ${result.objects} object(s) from ${source}`);
  return 0;
}
