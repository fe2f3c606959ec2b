/**
 * V8 collects old garbage lazily: a long fleet run leaves each finished
 * target's promoted garbage (its connection's buffers, its revisions' SQL)
 * in the heap, and peak memory then grows with the number of targets though
 * nothing is kept (heap after a full collection: ~9 MB at 100 targets, RSS
 * 79 → 128 MiB from 10 to 100). A full collection between targets, once the
 * heap has grown by a margin since the last one, keeps the peak bounded by
 * `--parallel`. `gc` is not exposed to programs by default; V8's own flag,
 * set at run time, exposes it to a new context (deno run and compiled
 * binaries alike). Where that fails, V8's own pace stays.
 */
import v8 from "node:v8";
import vm from "node:vm";

/** Growth of the used heap since the last collection that makes the next one worth its time. */
const MARGIN_BYTES = 4 * 1024 * 1024;

let gc: (() => void) | null | undefined;
let baseline = 0;

function collector(): (() => void) | null {
  if (gc !== undefined) return gc;
  try {
    v8.setFlagsFromString("--expose-gc");
    const found = vm.runInNewContext("gc");
    gc = typeof found === "function" ? found as () => void : null;
  } catch {
    gc = null;
  }
  return gc;
}

/** Collect when the heap grew by the margin since the last collection; true when it collected. */
export function collectIfGrown(): boolean {
  const used = Deno.memoryUsage().heapUsed;
  if (used < baseline + MARGIN_BYTES) return false;
  const run = collector();
  if (!run) return false;
  run();
  baseline = Deno.memoryUsage().heapUsed;
  return true;
}
