/**
 * Reversibility proof: on one scratch database, each revision in graph order
 * goes up, down and up again; the schema after its down must be exactly the
 * one before its up. One database for the whole run, two snapshots a step,
 * and a fresh one after a revision that failed its proof.
 */
import type { Engine } from "./db/engine.ts";
import type { ScratchDatabases } from "./schema/scratch.ts";
import { StrataError } from "./errors.ts";
import type { Graph } from "./graph.ts";
import { runSection } from "./schema/build.ts";
import { classifyDiff, type FindingClass } from "./schema/classify.ts";
import { diffSnapshots, isEmpty, type SchemaDiff } from "./schema/diff.ts";
import { type Snapshot, snapshot } from "./schema/snapshot.ts";

export type VerifyOutcome =
  | { kind: "ok" }
  | { kind: "irreversible" }
  /** The down left the schema different; `class` says how much that matters. */
  | { kind: "not-restored"; diff: SchemaDiff; class: FindingClass }
  | { kind: "failed"; error: StrataError; phase: "up" | "down" | "up again" };

export interface VerifyStep {
  revision: string;
  path: string;
  ms: number;
  outcome: VerifyOutcome;
}

// Both snapshots of a step come from one database, so grants compare too.
const NO_EXCLUDE = { exclude: [], privileges: true };

async function attempt(work: () => Promise<void>): Promise<StrataError | null> {
  try {
    await work();
    return null;
  } catch (error) {
    if (error instanceof StrataError) return error;
    throw error;
  }
}

/** What ended the walk early, and the revisions it left unchecked. */
export interface VerifyHalt {
  /** The revision that could not be built, whose failure stops everything after it. */
  revision: string;
  reason: "up failed" | "rebuild failed";
  error: StrataError;
  unchecked: string[];
}

/**
 * Walk `graph` on databases from `scratch`; `each` hears every step as it
 * finishes. A down that fails, or leaves the schema wrong, and an up that
 * fails the second time are reported and the walk goes on from a fresh
 * database built up to that revision. Only an up that fails the first time
 * ends it, since nothing after it can be built.
 */
export async function verifyGraph(
  scratch: ScratchDatabases,
  graph: Graph,
  started: (label: string) => void,
  each: (step: VerifyStep, index: number) => void,
  atHead?: (engine: Engine) => Promise<void>,
): Promise<{ steps: VerifyStep[]; label: string; halt: VerifyHalt | null }> {
  const steps: VerifyStep[] = [];
  let engine: Engine = await scratch.open();
  const label = engine.label;
  started(label);
  let before: Snapshot = await snapshot(engine, NO_EXCLUDE);
  const halt = (
    index: number,
    reason: VerifyHalt["reason"],
    error: StrataError,
  ): VerifyHalt => ({
    revision: graph.order[index],
    reason,
    error,
    unchecked: graph.order.slice(index + 1),
  });
  // What a broken down left behind would taint the rest: start over clean,
  // with every up through `index` run once.
  const rebuild = async (index: number): Promise<StrataError | null> => {
    await engine.close();
    engine = await scratch.open();
    const error = await attempt(async () => {
      for (const done of graph.order.slice(0, index + 1)) {
        await runSection(engine, graph.files.get(done)!, "up");
      }
    });
    if (!error) before = await snapshot(engine, NO_EXCLUDE);
    return error;
  };
  for (const [index, id] of graph.order.entries()) {
    const file = graph.files.get(id)!;
    const started = performance.now();
    const finish = (outcome: VerifyOutcome) => {
      const step = {
        revision: id,
        path: file.path,
        ms: Math.round(performance.now() - started),
        outcome,
      };
      steps.push(step);
      each(step, index);
      return step;
    };
    const upError = await attempt(() => runSection(engine, file, "up"));
    if (upError) {
      finish({ kind: "failed", error: upError, phase: "up" });
      return { steps, label, halt: halt(index, "up failed", upError) };
    }
    if (!file.down) {
      before = await snapshot(engine, NO_EXCLUDE);
      finish({ kind: "irreversible" });
      continue;
    }
    const downError = await attempt(() => runSection(engine, file, "down"));
    if (downError) {
      finish({ kind: "failed", error: downError, phase: "down" });
      const rebuilt = await rebuild(index);
      if (rebuilt) return { steps, label, halt: halt(index, "rebuild failed", rebuilt) };
      continue;
    }
    const diff = diffSnapshots(before, await snapshot(engine, NO_EXCLUDE));
    if (!isEmpty(diff)) {
      finish({ kind: "not-restored", diff, class: classifyDiff(diff) });
      const rebuilt = await rebuild(index);
      if (rebuilt) return { steps, label, halt: halt(index, "rebuild failed", rebuilt) };
      continue;
    }
    // Up again, so the next revision starts where it would in real life.
    const againError = await attempt(() => runSection(engine, file, "up"));
    if (againError) {
      finish({ kind: "failed", error: againError, phase: "up again" });
      const rebuilt = await rebuild(index);
      if (rebuilt) return { steps, label, halt: halt(index, "rebuild failed", rebuilt) };
      continue;
    }
    before = await snapshot(engine, NO_EXCLUDE);
    finish({ kind: "ok" });
  }
  // Built up to head: what runs on top of it (repeatables) runs here.
  await atHead?.(engine);
  return { steps, label, halt: null };
}
