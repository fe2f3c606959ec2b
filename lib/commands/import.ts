/**
 * import FORMAT PATH: another tool's migrations as strata files in the
 * migrations folder. Reads everything and plans every file first; then backs
 * up a folder that already holds files, and writes, never over a file.
 */
import { resolve } from "node:path";
import { createBackup } from "../backup.ts";
import { StrataError, usage } from "../errors.ts";
import type { SourceTool } from "../import/source.ts";
import { planImport, writePlanned } from "../import/write.ts";
import { loadMigrations } from "../migration_dir.ts";
import { planRepeatables, writeRepeatables } from "../import/repeatables.ts";
import { type Context, positionals } from "./context.ts";

const FORMATS: Record<string, () => Promise<SourceTool>> = {
  dbmate: async () => (await import("../import/dbmate.ts")).dbmate,
  "golang-migrate": async () => (await import("../import/golang_migrate.ts")).golangMigrate,
  goose: async () => (await import("../import/goose.ts")).goose,
  flyway: async () => (await import("../import/flyway.ts")).flyway,
  sqitch: async () => (await import("../import/sqitch.ts")).sqitch,
  "node-pg-migrate": async () => (await import("../import/node_pg_migrate.ts")).nodePgMigrate,
  alembic: async () => (await import("../import/alembic.ts")).alembic,
};

export const IMPORT_FORMATS = Object.keys(FORMATS);
const USAGE_LINE = `import FORMAT PATH [--dir PATH] [--dry-run] [--partial] [--json]`;

/** Existing revision ids, and whether the folder holds any file at all. */
async function existingIn(dir: string): Promise<{ ids: Set<string>; files: number } | null> {
  try {
    if (!Deno.statSync(dir).isDirectory) return null;
  } catch {
    return null;
  }
  let files = 0;
  const count = (folder: string, depth: number) => {
    for (const entry of Deno.readDirSync(folder)) {
      if (entry.name.startsWith(".")) continue;
      if (entry.isFile && entry.name.endsWith(".sql")) files++;
      else if (entry.isDirectory && depth === 0) count(`${folder}/${entry.name}`, 1);
    }
  };
  count(dir, 0);
  const ids = new Set(files > 0 ? (await loadMigrations(dir)).map((file) => file.id) : []);
  return { ids, files };
}

function sameFolder(a: string, b: string): boolean {
  try {
    return Deno.realPathSync(a) === Deno.realPathSync(b);
  } catch {
    return resolve(a) === resolve(b);
  }
}

export async function importCommand(ctx: Context): Promise<number> {
  const [format, source] = positionals(ctx, 2, 2, USAGE_LINE);
  const load = FORMATS[format];
  if (!load) {
    throw usage(
      `Unknown import format "${format}"`,
      `Formats: ${IMPORT_FORMATS.join(", ")}`,
    );
  }
  const tool = await load();
  const dir = ctx.config.dir;
  const dryRun = !!ctx.flags["dry-run"];
  if (sameFolder(source, dir)) {
    throw usage(
      `The source folder "${source}" is the migrations folder`,
      "Import into another folder: --dir PATH",
    );
  }
  const result = await tool.read(source);
  const planned = await planImport(tool.name, result, source);
  const skipped = result.findings.filter((f) => f.status === "skipped");
  const ignored = result.findings.filter((f) => f.status === "ignored");
  const out = ctx.out;

  out.line(`${dryRun ? "Would import" : "Importing"} ${tool.name} from ${source} into ${dir}:`);
  for (const p of planned) {
    const flags = [
      p.transaction === "none" ? "transaction: none" : null,
      p.down === "noop" ? "down: noop" : p.down === "missing" ? "no down: irreversible" : null,
    ].filter(Boolean);
    out.line(
      `  ${p.id}  ← ${p.source.files.join(", ")}${flags.length ? `  [${flags.join("; ")}]` : ""}`,
    );
    for (const note of p.notes) out.line(out.dim(`      ${note}`));
  }
  const repeatables = planRepeatables(dir, result.repeatables ?? []);
  for (const r of repeatables) out.line(`  ${r.path}  ← ${r.file}  [repeatable]`);
  for (const f of skipped) out.line(`${out.yellow("  not imported")} ${f.file}: ${f.reason}`);
  for (const f of ignored) out.line(out.dim(`  ignored ${f.file}: ${f.reason}`));
  const report = {
    format: tool.name,
    source,
    dir,
    dryRun,
    revisions: planned.map((p) => ({
      id: p.id,
      path: `${dir}/${p.file}`,
      source: p.source,
      parents: p.parents,
      transaction: p.transaction,
      down: p.down,
      notes: p.notes,
    })),
    repeatables: repeatables.map((r) => ({ name: r.name, path: r.path, source: r.file })),
    notImported: skipped.map(({ file, reason }) => ({ file, reason })),
    ignored: ignored.map(({ file, reason }) => ({ file, reason })),
  };
  if (planned.length === 0) {
    throw new StrataError("USAGE", `No ${tool.name} migrations in "${source}"`, {
      hint: `Name the folder that holds them (${tool.layout})`,
      details: report,
    });
  }
  if (skipped.length > 0 && !ctx.flags.partial) {
    throw new StrataError(
      "FILE",
      `${skipped.length} file${
        skipped.length > 1 ? "s" : ""
      } cannot be imported, so nothing is written`,
      {
        file: `${source}/${skipped[0].file}`,
        hint: "--partial writes the revisions that can be imported and leaves these out",
        details: report,
      },
    );
  }
  const existing = await existingIn(dir);
  const clash = planned.find((p) => existing?.ids.has(p.id));
  if (clash) {
    throw usage(
      `Revision ${clash.id} already exists in "${dir}"`,
      "import never overwrites: import into an empty folder with --dir",
    );
  }
  if (dryRun) {
    out.document({ ok: true, command: "import", ...report, backup: null });
    out.line(`Dry run: nothing written (${planned.length} revisions)`);
    return 0;
  }
  let backup: string | null = null;
  if (existing && existing.files > 0) {
    backup = (await createBackup(dir)).id;
    out.line(
      `Backed up the ${existing.files} files already in ${dir} to versions_backup/${backup}`,
    );
  }
  writePlanned(dir, planned, existing?.ids ?? new Set());
  writeRepeatables(dir, repeatables);
  out.document({ ok: true, command: "import", ...report, backup });
  out.line(
    `Wrote ${planned.length} revisions${
      repeatables.length ? ` and ${repeatables.length} repeatables` : ""
    } into ${dir}`,
  );
  if (existing && existing.ids.size > 0) {
    out.warn(
      `${dir} already held ${existing.ids.size} revisions: the imported history is a second root ` +
        "(strata merge joins the heads)",
    );
  }
  out.line("Next: strata verify, then strata stamp or apply");
  return 0;
}
