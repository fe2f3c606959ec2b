/**
 * backup, backups and restore: snapshots of the migrations folder in
 * `versions_backup/`. None of them needs a database.
 */
import {
  type BackupInfo,
  createBackup,
  DEFAULT_BACKUP_ROOT,
  listBackups,
  restoreBackup,
} from "../backup.ts";
import { type Context, positionals } from "./context.ts";

const ROOT = DEFAULT_BACKUP_ROOT;

/** 1536 → "1.5 KiB". */
function size(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

const count = (n: number, what: string) => `${n} ${what}${n === 1 ? "" : "s"}`;

const fields = (b: BackupInfo) => ({
  id: b.id,
  path: b.path,
  files: b.files,
  bytes: b.bytes,
  createdAt: b.createdAt,
});

export async function backup(ctx: Context): Promise<number> {
  positionals(ctx, 0, 0, "backup");
  const info = await createBackup(ctx.config.dir, ROOT);
  ctx.out.document({ ok: true, command: "backup", backup: fields(info) });
  ctx.out.line(
    `Backed up ${count(info.files, "file")} (${size(info.bytes)}) of ${ctx.config.dir} to ${
      ctx.out.bold(info.path)
    }`,
  );
  return 0;
}

export async function backups(ctx: Context): Promise<number> {
  positionals(ctx, 0, 0, "backups");
  const list = await listBackups(ROOT);
  ctx.out.document({
    ok: true,
    command: "backups",
    root: ROOT,
    backups: list.map((b) => ({ ...fields(b), partial: b.partial, problem: b.problem })),
  });
  if (list.length === 0) ctx.out.line(`No backups in ${ROOT} (make one with: strata backup)`);
  const width = Math.max(0, ...list.map((b) => b.id.length));
  for (const b of list) {
    const facts = `${b.createdAt}  ${count(b.files, "file").padStart(10)}  ${size(b.bytes)}`;
    ctx.out.line(
      `${b.id.padEnd(width)}  ${facts}${
        b.partial ? ctx.out.yellow(`  partial: ${b.problem}`) : ""
      }`,
    );
  }
  return 0;
}

export async function restore(ctx: Context): Promise<number> {
  const [ref] = positionals(ctx, 1, 1, "restore ID|PREFIX|latest");
  const result = await restoreBackup(ctx.config.dir, ROOT, ref);
  const safety = result.safetyBackup;
  ctx.out.document({
    ok: true,
    command: "restore",
    restored: result.restored,
    safetyBackup: safety?.id ?? null,
    written: result.written.length,
    removed: result.removed,
    unchanged: result.unchanged,
  });
  const { out } = ctx;
  if (safety) out.line(`Backed up the current files to ${safety.path}`);
  out.line(
    `Restored ${out.bold(result.restored)} to ${ctx.config.dir}: ${
      count(result.written.length, "file")
    } written, ${result.removed.length} removed, ${result.unchanged} unchanged`,
  );
  for (const path of result.written) out.line(out.green(`  wrote   ${path}`));
  for (const path of result.removed) out.line(out.yellow(`  removed ${path}`));
  if (safety) out.line(out.dim(`Undo with: strata restore ${safety.id}`));
  return 0;
}
