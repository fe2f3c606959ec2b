/**
 * init: strata.json, the migrations folder and its category folders. Never
 * overwrites an existing strata.json.
 */
import { join } from "node:path";
import { CONFIG_FILE } from "../config.ts";
import { redactUrl } from "../redact.ts";
import { writeNewFile } from "../safe_fs.ts";
import type { Context } from "./context.ts";

export const CATEGORIES = [
  "01_foundation",
  "02_core_features",
  "03_extensions",
  "04_optimizations",
];

export async function init(ctx: Context): Promise<number> {
  const dir = ctx.config.dir;
  const created: string[] = [];
  for (const category of CATEGORIES) {
    const path = join(dir, category);
    // Whatever sits at the name already (a folder, a link, a file) is left as it is.
    if (await Deno.lstat(path).then(() => true, () => false)) continue;
    await Deno.mkdir(path, { recursive: true });
    writeNewFile(join(path, ".gitkeep"), "");
    created.push(path + "/");
  }
  let wroteConfig = false;
  const config: Record<string, string> = { dir };
  // A URL with a password stays out of a file that is usually committed.
  const url = ctx.config.database;
  if (url && ctx.config.databaseSource === "--database" && redactUrl(url) === url) {
    config.database = url;
  }
  try {
    await Deno.writeTextFile(CONFIG_FILE, JSON.stringify(config, null, 2) + "\n", {
      createNew: true,
    });
    wroteConfig = true;
    created.unshift(CONFIG_FILE);
  } catch (error) {
    if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
  }
  ctx.out.document({ ok: true, command: "init", created });
  for (const path of created) ctx.out.line(`Created ${path}`);
  if (!wroteConfig) ctx.out.line(`${CONFIG_FILE} exists: left as it is`);
  if (created.some((path) => path.endsWith("/"))) {
    ctx.out.line(
      `Category folders are optional: files may also sit at the top of ${dir}/; strata create ` +
        "puts a new file in the head's category, --category NAME in another",
    );
  }
  if (!config.database && wroteConfig) {
    ctx.out.line(
      'Next: set "database" in strata.json (or DATABASE_URL), then strata create "first revision"',
    );
  }
  return 0;
}
