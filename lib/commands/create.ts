/**
 * create (alias revision) and merge: write a new revision file whose parents
 * are the current head (create) or the heads being joined (merge).
 */
import { join } from "node:path";
import { StrataError, usage } from "../errors.ts";
import { buildGraph, resolveRevision } from "../graph.ts";
import { loadMigrations, REPEATABLE_FOLDER } from "../migration_dir.ts";
import { assertChangeable, Containment, ensureFolder, writeNewFile } from "../safe_fs.ts";
import { TEMPLATE_DOWN, TEMPLATE_UP } from "../template.ts";
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

// deno-lint-ignore require-await
export async function writeNew(
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
  if (category === REPEATABLE_FOLDER) {
    throw usage(
      `"${REPEATABLE_FOLDER}" holds repeatable files, not revisions`,
      `Write a repeatable as ${REPEATABLE_FOLDER}/NAME.sql by hand: the whole file is its SQL`,
    );
  }
  const root = new Containment(ctx.config.dir);
  ensureFolder(root, folder);
  const path = join(folder, `${id}.sql`);
  assertChangeable(root, path, "write");
  try {
    writeNewFile(path, text);
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists) throw usage(`File ${path} already exists`);
    throw error;
  }
  return path;
}

/** Which folder a new file goes to, and why: the words create and merge print. */
export interface Placement {
  category: string | null;
  /** `option`: --category; `head`: the category of its parent; `top`: no category to follow. */
  from: "option" | "head" | "top";
  /** The parent whose category it follows (from: head), or the top-level head (from: top). */
  head: string | null;
}

function place(
  ctx: Context,
  graph: ReturnType<typeof buildGraph>,
  parent: string | undefined,
): Placement {
  if (ctx.flags.category !== undefined) {
    return { category: ctx.flags.category, from: "option", head: null };
  }
  const category = parent ? graph.files.get(parent)!.category : null;
  return { category, from: category ? "head" : "top", head: parent ?? null };
}

function where(ctx: Context, p: Placement): string {
  const folder = p.category ? `in ${p.category}/` : `at the top level of ${ctx.config.dir}/`;
  const why = p.from === "option"
    ? "--category"
    : p.from === "head"
    ? `the category of the head, ${p.head}`
    : p.head
    ? `the head, ${p.head}, has no category`
    : "the first revision";
  const choose = p.from === "option"
    ? ""
    : p.category
    ? "; --category NAME chooses another"
    : "; --category NAME puts it in a category folder (optional)";
  return `  ${folder} (${why})${choose}`;
}

function report(
  ctx: Context,
  command: string,
  id: string,
  path: string,
  parents: string[],
  placement: Placement,
): void {
  ctx.out.document({
    ok: true,
    command,
    revision: id,
    path,
    parents,
    category: placement.category,
    categoryFrom: placement.from,
  });
  ctx.out.line(`Created ${path}`);
  ctx.out.line(ctx.out.dim(where(ctx, placement)));
}

export async function create(ctx: Context): Promise<number> {
  const description = ctx.flags.message ??
    positionals(ctx, 1, 1, 'create "description" [--category NAME] [--empty]')[0];
  if (ctx.flags.message !== undefined) positionals(ctx, 0, 0, 'revision -m "description"');
  if (ctx.flags.autogenerate) {
    const { createAutogenerated } = await import("./autogen.ts");
    return createAutogenerated(ctx, description);
  }
  const graph = buildGraph(await loadMigrations(ctx.config.dir));
  if (graph.heads.length > 1) {
    throw new StrataError("USAGE", `Several heads: ${graph.heads.join(", ")}`, {
      hint: 'Join them first with: strata merge -m "merge branches"',
    });
  }
  const parents = graph.heads;
  const id = newRevisionId(description, new Set(graph.files.keys()));
  const placement = place(ctx, graph, parents[0]);
  const body = ctx.flags.empty ? { up: "", down: "" } : { up: TEMPLATE_UP, down: TEMPLATE_DOWN };
  const path = await writeNew(
    ctx,
    id,
    placement.category,
    renderRevision(description, parents, body),
  );
  report(ctx, "create", id, path, parents, placement);
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
  const last = parents[parents.length - 1];
  const category = graph.files.get(last)!.category;
  const placement: Placement = { category, from: category ? "head" : "top", head: last };
  // An empty up is undone by an empty down: a merge point stays reversible.
  const path = await writeNew(
    ctx,
    id,
    category,
    renderRevision(description, parents, { up: "", down: "" }),
  );
  report(ctx, "merge", id, path, parents, placement);
  return 0;
}
