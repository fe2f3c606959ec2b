/**
 * create (alias revision) and merge: write a new revision file whose parents
 * are the current head (create) or the heads being joined (merge).
 */
import { join } from "node:path";
import { StrataError, usage } from "../errors.ts";
import { buildGraph, resolveRevision } from "../graph.ts";
import { loadMigrations } from "../migration_dir.ts";
import { type Context, positionals } from "./context.ts";

function pad(n: number, width = 2): string {
  return String(n).padStart(width, "0");
}

/** Letters and digits of any script survive, so a Chinese description stays readable. */
export function slugify(description: string): string {
  const slug = description
    .normalize("NFC")
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}]+/gu, "_")
    .replace(/^_+|_+$/g, "");
  // Cut by code points, never inside a surrogate pair.
  return Array.from(slug).slice(0, 60).join("").replace(/_+$/, "");
}

/** A new id `YYYYMMDD_HHMM_slug` (UTC), with seconds when the minute is taken. */
export function newRevisionId(description: string, taken: Set<string>, now = new Date()): string {
  const slug = slugify(description);
  if (!slug) {
    throw usage(
      `The description "${description}" has no letters or digits`,
      'Example: strata create "add user avatar"',
    );
  }
  const day = `${now.getUTCFullYear()}${pad(now.getUTCMonth() + 1)}${pad(now.getUTCDate())}`;
  const minute = `${pad(now.getUTCHours())}${pad(now.getUTCMinutes())}`;
  const plain = `${day}_${minute}_${slug}`;
  if (!taken.has(plain)) return plain;
  for (let s = now.getUTCSeconds(); s < 60; s++) {
    const withSeconds = `${day}_${minute}${pad(s)}_${slug}`;
    if (!taken.has(withSeconds)) return withSeconds;
  }
  throw usage(`Revision "${plain}" already exists`, "Use another description");
}

export function renderRevision(
  message: string,
  parents: string[],
  body: { up: string; down: string },
): string {
  return `-- message: ${message.replace(/\s*\n\s*/g, " ")}\n-- parents: ${
    parents.join(" ")
  }\n-- up\n${body.up}\n-- down\n${body.down}\n`;
}

async function writeNew(
  ctx: Context,
  id: string,
  category: string | null,
  text: string,
): Promise<string> {
  const folder = category ? join(ctx.config.dir, category) : ctx.config.dir;
  if (category && (category.includes("/") || category.includes("\\") || category.startsWith("."))) {
    throw usage(
      `Invalid --category "${category}"`,
      "A category is one folder name, like 02_core_features",
    );
  }
  await Deno.mkdir(folder, { recursive: true });
  const path = join(folder, `${id}.sql`);
  try {
    await Deno.writeTextFile(path, text, { createNew: true });
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists) throw usage(`File ${path} already exists`);
    throw error;
  }
  return path;
}

function report(ctx: Context, command: string, id: string, path: string, parents: string[]): void {
  ctx.out.document({ ok: true, command, revision: id, path, parents });
  ctx.out.line(`Created ${path}`);
}

export async function create(ctx: Context): Promise<number> {
  const description = ctx.flags.message ??
    positionals(ctx, 1, 1, 'create "description" [--category NAME] [--empty]')[0];
  if (ctx.flags.message !== undefined) positionals(ctx, 0, 0, 'revision -m "description"');
  const graph = buildGraph(await loadMigrations(ctx.config.dir));
  if (graph.heads.length > 1) {
    throw new StrataError("USAGE", `Several heads: ${graph.heads.join(", ")}`, {
      hint: 'Join them first with: strata merge -m "merge branches"',
    });
  }
  const parents = graph.heads;
  const id = newRevisionId(description, new Set(graph.files.keys()));
  const category = ctx.flags.category ??
    (parents[0] ? graph.files.get(parents[0])!.category : null);
  const body = ctx.flags.empty ? { up: "", down: "" } : {
    up: "-- SQL that applies this revision\n",
    down: "-- SQL that undoes the up section exactly\n",
  };
  const path = await writeNew(ctx, id, category, renderRevision(description, parents, body));
  report(ctx, "create", id, path, parents);
  return 0;
}

export async function merge(ctx: Context): Promise<number> {
  const description = ctx.flags.message;
  if (!description) {
    throw usage("merge needs a description", 'Usage: strata merge -m "merge branches" [rev ...]');
  }
  const graph = buildGraph(await loadMigrations(ctx.config.dir));
  const parents = ctx.args.length > 0
    ? ctx.args.map((spec) => resolveRevision(graph, spec))
    : graph.heads;
  if (new Set(parents).size < 2) {
    throw usage(
      `Nothing to merge: ${parents.length === 1 ? `one head (${parents[0]})` : "no revisions"}`,
      "merge joins two or more heads",
    );
  }
  const notHeads = parents.filter((id) => !graph.heads.includes(id));
  if (notHeads.length > 0) {
    throw usage(`Not a head: ${notHeads.join(", ")}`, `Heads: ${graph.heads.join(", ")}`);
  }
  const id = newRevisionId(description, new Set(graph.files.keys()));
  const category = graph.files.get(parents[parents.length - 1])!.category;
  // An empty up is undone by an empty down: a merge point stays reversible.
  const path = await writeNew(
    ctx,
    id,
    category,
    renderRevision(description, parents, { up: "", down: "" }),
  );
  report(ctx, "merge", id, path, parents);
  return 0;
}
