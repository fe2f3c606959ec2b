/**
 * Reversibility proof: on one scratch database, each revision in graph order
 * goes up, down and up again; the schema after its down must be exactly the
 * one before its up. One database for the whole run, two snapshots a step.
 */
import type { Engine } from "./db/engine.ts";
import type { ScratchDatabases } from "./schema/scratch.ts";
import { StrataError } from "./errors.ts";
import type { Graph } from "./graph.ts";
import { runSection } from "./schema/build.ts";
import { diffSnapshots, isEmpty, type SchemaDiff } from "./schema/diff.ts";
import { type Snapshot, snapshot } from "./schema/snapshot.ts";

export type VerifyOutcome =
  | { kind: "ok" }
  | { kind: "irreversible" }
  | { kind: "not-restored"; diff: SchemaDiff }
  | { kind: "failed"; error: StrataError; phase: "up" | "down" | "up again" };

export interface VerifyStep {
  revision: string;
  path: string;
  ms: number;
  outcome: VerifyOutcome;
}

const NO_EXCLUDE = { exclude: [] };

async function attempt(work: () => Promise<void>): Promise<StrataError | null> {
  try {
    await work();
    return null;
  } catch (error) {
    if (error instanceof StrataError) return error;
    throw error;
  }
}

/**
 * Walk `graph` on databases from `scratch`; `each` hears every step as it
 * finishes. A down that leaves the schema wrong is reported and the walk goes
 * on from a fresh database built up to that revision; a revision whose SQL
 * fails ends it, since nothing after it can run.
 */
export async function verifyGraph(
  scratch: ScratchDatabases,
  graph: Graph,
  started: (label: string) => void,
  each: (step: VerifyStep, index: number) => void,
): Promise<{ steps: VerifyStep[]; label: string }> {
  const steps: VerifyStep[] = [];
  let engine: Engine = await scratch.open();
  const label = engine.label;
  started(label);
  let before: Snapshot = await snapshot(engine, NO_EXCLUDE);
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
      break;
    }
    if (!file.down) {
      before = await snapshot(engine, NO_EXCLUDE);
      finish({ kind: "irreversible" });
      continue;
    }
    const downError = await attempt(() => runSection(engine, file, "down"));
    if (downError) {
      finish({ kind: "failed", error: downError, phase: "down" });
      break;
    }
    const diff = diffSnapshots(before, await snapshot(engine, NO_EXCLUDE));
    if (!isEmpty(diff)) {
      finish({ kind: "not-restored", diff });
      // What the broken down left behind would taint the rest: start over clean.
      await engine.close();
      engine = await scratch.open();
      const rebuilt = await attempt(async () => {
        for (const done of graph.order.slice(0, index + 1)) {
          await runSection(engine, graph.files.get(done)!, "up");
        }
      });
      if (rebuilt) break;
      before = await snapshot(engine, NO_EXCLUDE);
      continue;
    }
    // Up again, so the next revision starts where it would in real life.
    const againError = await attempt(() => runSection(engine, file, "up"));
    before = await snapshot(engine, NO_EXCLUDE);
    if (againError) {
      finish({ kind: "failed", error: againError, phase: "up again" });
      break;
    }
    finish({ kind: "ok" });
  }
  return { steps, label };
}
