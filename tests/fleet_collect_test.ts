import assert from "node:assert/strict";
import { collectIfGrown } from "../lib/fleet/collect.ts";

Deno.test("fleet collect: a heap grown by garbage is collected, a quiet heap is left alone", () => {
  collectIfGrown();
  // Promoted garbage: arrays that survive a few scavenges, then are dropped.
  let keep: number[][] = [];
  for (let i = 0; i < 40; i++) keep.push(new Array(100_000).fill(i));
  const grown = Deno.memoryUsage().heapUsed;
  keep = [];
  assert.equal(keep.length, 0);
  assert.equal(collectIfGrown(), true);
  const after = Deno.memoryUsage().heapUsed;
  assert.ok(after < grown - 16 * 1024 * 1024, `heap ${grown} → ${after}`);
  assert.equal(collectIfGrown(), false);
});
