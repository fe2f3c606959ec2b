/**
 * The revision graph: parents resolved (explicit, or the previous id when the
 * header names none), a deterministic topological order, heads and roots.
 */
import { cutList, StrataError } from "./errors.ts";
import type { MigrationFile } from "./migration_file.ts";

export interface Graph {
  files: Map<string, MigrationFile>;
  /** Topological order; among revisions that are ready together, the smaller id first. */
  order: string[];
  /** Index of each revision in `order`. */
  position: Map<string, number>;
  parents: Map<string, string[]>;
  children: Map<string, string[]>;
  heads: string[];
  /** Revisions squashed away by `clean`: replaced id → the baseline that stands for it. */
  replacedBy: Map<string, string>;
}

/** A tiny min-heap of indexes: the ready set of Kahn's algorithm. */
function pushHeap(heap: number[], value: number): void {
  heap.push(value);
  for (let i = heap.length - 1; i > 0;) {
    const up = (i - 1) >> 1;
    if (heap[up] <= heap[i]) break;
    [heap[up], heap[i]] = [heap[i], heap[up]];
    i = up;
  }
}

function popHeap(heap: number[]): number {
  const top = heap[0];
  const last = heap.pop()!;
  if (heap.length > 0) {
    heap[0] = last;
    for (let i = 0;;) {
      const l = 2 * i + 1, r = l + 1;
      let m = i;
      if (l < heap.length && heap[l] < heap[m]) m = l;
      if (r < heap.length && heap[r] < heap[m]) m = r;
      if (m === i) break;
      [heap[m], heap[i]] = [heap[i], heap[m]];
      i = m;
    }
  }
  return top;
}

/** Build the graph from files sorted by id (as `loadMigrations` returns them). */
export function buildGraph(sorted: MigrationFile[]): Graph {
  const files = new Map<string, MigrationFile>();
  const index = new Map<string, number>();
  const parents = new Map<string, string[]>();
  const children = new Map<string, string[]>();
  sorted.forEach((file, i) => {
    if (files.has(file.id)) {
      throw new StrataError("GRAPH", `Duplicate revision id "${file.id}"`, {
        file: file.path,
        hint: `Also in ${files.get(file.id)!.path}`,
      });
    }
    files.set(file.id, file);
    index.set(file.id, i);
    children.set(file.id, []);
  });
  const replacedBy = new Map<string, string>();
  for (const file of sorted) {
    for (const id of file.replaces) {
      if (files.has(id)) {
        throw new StrataError(
          "GRAPH",
          `Revision "${id}" still has a file but baseline "${file.id}" replaces it`,
          {
            file: files.get(id)!.path,
            hint:
              `Remove ${id}.sql (clean left it behind), or restore the backup made before clean`,
          },
        );
      }
      replacedBy.set(id, file.id);
    }
  }
  sorted.forEach((file, i) => {
    // A parent squashed into a baseline is that baseline (once, when it stands for several).
    const own = [
      ...new Set(
        (file.parents ?? (i > 0 ? [sorted[i - 1].id] : []))
          .map((parent) => replacedBy.get(parent) ?? parent),
      ),
    ];
    for (const parent of own) {
      if (!files.has(parent)) {
        const extended = [...files.keys()].filter((id) => id.startsWith(parent));
        throw new StrataError("GRAPH", `Unknown parent revision "${parent}"`, {
          file: file.path,
          line: file.parentsLine,
          hint: extended.length > 0
            ? `A parents line names full revision ids, not prefixes ("${parent}" begins ${
              extended.slice(0, 3).join(", ")
            }${extended.length > 3 ? ", …" : ""})`
            : "Fix the parents line: it must name existing revision ids",
        });
      }
      if (parent === file.id) {
        throw new StrataError("GRAPH", `Revision "${file.id}" names itself as its parent`, {
          file: file.path,
          line: file.parentsLine,
        });
      }
      children.get(parent)!.push(file.id);
    }
    parents.set(file.id, own);
  });

  const waiting = new Map<string, number>();
  const heap: number[] = [];
  for (const file of sorted) {
    waiting.set(file.id, parents.get(file.id)!.length);
    if (parents.get(file.id)!.length === 0) pushHeap(heap, index.get(file.id)!);
  }
  const order: string[] = [];
  while (heap.length > 0) {
    const id = sorted[popHeap(heap)].id;
    order.push(id);
    for (const child of children.get(id)!) {
      const left = waiting.get(child)! - 1;
      waiting.set(child, left);
      if (left === 0) pushHeap(heap, index.get(child)!);
    }
  }
  if (order.length < sorted.length) throw cycleError(files, parents, new Set(order));

  const position = new Map(order.map((id, i) => [id, i]));
  const heads = order.filter((id) => children.get(id)!.length === 0);
  return { files, order, position, parents, children, heads, replacedBy };
}

function cycleError(
  files: Map<string, MigrationFile>,
  parents: Map<string, string[]>,
  done: Set<string>,
): StrataError {
  // Follow unfinished parents from any unfinished revision until one repeats.
  let id = [...files.keys()].find((key) => !done.has(key))!;
  const seen: string[] = [];
  while (!seen.includes(id)) {
    seen.push(id);
    id = parents.get(id)!.find((parent) => !done.has(parent))!;
  }
  const cycle = seen.slice(seen.indexOf(id));
  // Point at a member whose parents line can be fixed, when one has it.
  const file = files.get(cycle.find((member) => files.get(member)!.parentsLine) ?? id)!;
  return new StrataError("GRAPH", `Cycle in revision parents: ${[...cycle, id].join(" -> ")}`, {
    file: file.path,
    line: file.parentsLine,
    hint: "A revision cannot descend from itself; fix one of the parents lines",
  });
}

/** The revision and all it descends from. */
export function ancestors(graph: Graph, id: string): Set<string> {
  return walk(id, graph.parents);
}

/** The revision and all that descends from it. */
export function descendants(graph: Graph, id: string): Set<string> {
  return walk(id, graph.children);
}

function walk(start: string, edges: Map<string, string[]>): Set<string> {
  const seen = new Set<string>([start]);
  const stack = [start];
  while (stack.length > 0) {
    for (const next of edges.get(stack.pop()!) ?? []) {
      if (!seen.has(next)) {
        seen.add(next);
        stack.push(next);
      }
    }
  }
  return seen;
}

/** A revision id, or a unique prefix of one. */
export function resolveRevision(graph: Graph, spec: string): string {
  if (graph.files.has(spec)) return spec;
  const matches = graph.order.filter((id) => id.startsWith(spec));
  if (matches.length === 1) return matches[0];
  if (matches.length === 0) {
    throw new StrataError("USAGE", `Unknown revision "${spec}"`, {
      hint: "List revisions with: strata history",
    });
  }
  throw new StrataError(
    "USAGE",
    `Ambiguous revision prefix "${spec}" matches ${matches.length} revisions`,
    {
      hint: "Candidates: " + cutList(matches.map((id) => graph.files.get(id)!.path)),
    },
  );
}

/** Revisions in topological order restricted to `set`. */
export function inOrder(graph: Graph, set: Set<string>): string[] {
  return [...set].sort((a, b) => graph.position.get(a)! - graph.position.get(b)!);
}
