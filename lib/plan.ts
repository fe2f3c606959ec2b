/**
 * What to run for a target: the revisions to apply or to roll back, in order.
 * Targets as in Alembic: head, heads, base, an id or unique prefix, +N, -N, rev+N.
 */
import { plural } from "./output.ts";
import { StrataError, usage } from "./errors.ts";
import { ancestors, descendants, type Graph, inOrder, resolveRevision } from "./graph.ts";
import type { State } from "./state.ts";

export type Direction = "up" | "down";

export interface Plan {
  direction: Direction;
  /** Revisions to run, in the order they run. */
  steps: string[];
}

const RELATIVE_REGEXP = /^([+-])(\d+)$/;
const REV_PLUS_REGEXP = /^(.+)\+(\d+)$/;

/** The one head, or null when there are no revisions (nothing to do is not an error). */
function singleHead(graph: Graph): string | null {
  if (graph.heads.length <= 1) return graph.heads[0] ?? null;
  throw new StrataError("USAGE", `Several heads: ${graph.heads.join(", ")}`, {
    hint: 'Join them with: strata merge -m "merge", or upgrade to "heads" or to one of them; ' +
      'where several heads are normal, set "multipleHeads": true in strata.json (or --heads) ' +
      "and apply upgrades to all of them",
    details: { heads: graph.heads },
  });
}

/** Walk `n` steps down the line from `id`; a fork on the way is ambiguous. */
function stepsAfter(graph: Graph, id: string, n: number): string {
  let at = id;
  for (let i = 0; i < n; i++) {
    const next = graph.children.get(at)!;
    if (next.length === 0) throw usage(`"${id}+${n}" goes past the head ${at}`);
    if (next.length > 1) {
      throw usage(
        `"${id}+${n}" is ambiguous: ${at} has children ${next.join(", ")}`,
        "Name the revision instead",
      );
    }
    at = next[0];
  }
  return at;
}

export function planUpgrade(graph: Graph, state: State, target: string): Plan {
  const applied = new Set(state.applied);
  const pendingIn = (set: Set<string>) =>
    inOrder(graph, new Set([...set].filter((id) => !applied.has(id))));
  const relative = RELATIVE_REGEXP.exec(target);
  if (relative) {
    if (relative[1] === "-") {
      throw usage(`Cannot upgrade to "${target}"`, `Use: strata downgrade ${target}`);
    }
    const all = new Set<string>();
    for (const head of graph.heads) for (const id of ancestors(graph, head)) all.add(id);
    const steps = pendingIn(all);
    const n = Number(relative[2]);
    if (n > steps.length) {
      throw usage(
        `Cannot upgrade ${target}: only ${plural(steps.length, "revision")} pending`,
        "Use: strata upgrade heads",
      );
    }
    return { direction: "up", steps: steps.slice(0, n) };
  }
  let wanted: Set<string>;
  if (target === "head") {
    const head = singleHead(graph);
    wanted = head ? ancestors(graph, head) : new Set();
  } else if (target === "heads") {
    wanted = new Set();
    for (const head of graph.heads) for (const id of ancestors(graph, head)) wanted.add(id);
  } else if (target === "base") wanted = new Set();
  else {
    const plus = REV_PLUS_REGEXP.exec(target);
    const id = plus
      ? stepsAfter(graph, resolveRevision(graph, plus[1]), Number(plus[2]))
      : resolveRevision(graph, target);
    wanted = ancestors(graph, id);
  }
  return { direction: "up", steps: pendingIn(wanted) };
}

export function planDowngrade(graph: Graph, state: State, target: string): Plan {
  const appliedNewestFirst = [...state.applied].reverse();
  const relative = RELATIVE_REGEXP.exec(target);
  let steps: string[];
  if (relative) {
    if (relative[1] === "+") {
      throw usage(`Cannot downgrade to "${target}"`, `Use: strata upgrade ${target}`);
    }
    const n = Number(relative[2]);
    if (n > appliedNewestFirst.length) {
      throw usage(
        `Cannot downgrade ${target}: only ${plural(appliedNewestFirst.length, "revision")} applied`,
        "Use: strata downgrade base",
      );
    }
    steps = appliedNewestFirst.slice(0, n);
  } else if (target === "base") {
    steps = appliedNewestFirst;
  } else if (target === "head" || target === "heads") {
    throw usage(`Cannot downgrade to "${target}"`, "Name a revision, -N or base");
  } else {
    const id = resolveRevision(graph, target);
    const after = descendants(graph, id);
    after.delete(id);
    steps = appliedNewestFirst.filter((rev) => after.has(rev));
  }
  const irreversible = steps.find((id) => graph.files.get(id)!.down === null);
  if (irreversible) {
    const file = graph.files.get(irreversible)!;
    throw new StrataError(
      "USAGE",
      `Cannot downgrade past "${irreversible}": it has no down section`,
      {
        file: file.path,
        hint: "The revision is irreversible; add a -- down section or choose a later target",
      },
    );
  }
  return { direction: "down", steps };
}
